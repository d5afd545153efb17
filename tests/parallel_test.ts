/** Data-parallel training across Deno Workers. */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { Config } from "../lib/core/mod.ts";
import type { NamedArrays } from "../lib/model/mod.ts";
import { encodeSentence, padBatch, type PaddedBatch, WordTokenizer } from "../lib/data/mod.ts";
import { timeInterleavedTrainSteps } from "../lib/experiments/mod.ts";
import {
  Adam,
  adamSegment,
  type AdamState,
  flatLayout,
  ParallelTrainer,
  shardRange,
  type StepRunner,
  type StepTiming,
  Trainer,
  trainModel,
} from "../lib/training/mod.ts";
import {
  bitEqual,
  disposeAll,
  maxAbsDiff,
  SENTENCES,
  setup,
  snapshot,
  TASKS,
  tinyConfig,
  tinySetup,
} from "./_helpers.ts";

await setup();

const config = tinyConfig({ model: { dropout: 0 }, train: { learningRate: 0.01 } });

function paddedBatch() {
  const tokenizer = WordTokenizer.fit(SENTENCES.map((s) => s.words), config.tokenizer);
  return padBatch(
    SENTENCES.map((s) => encodeSentence(s, tokenizer, TASKS, config.model.maxLength)),
  );
}

async function parallelLosses(
  steps: number,
): Promise<{ losses: number[]; weights: Map<string, Float32Array> }> {
  const { model, batch } = tinySetup(config);
  const runner = await ParallelTrainer.create(model, config, { replicas: 2 });
  const losses: number[] = [];
  try {
    for (let i = 0; i < steps; i++) {
      const metrics = await runner.trainPadded(paddedBatch());
      losses.push(metrics.loss);
      assert.equal(metrics.replicaComputeMs?.length, 2);
      assert.ok(metrics.replicaComputeMs.every((ms) => ms > 0), `${metrics.replicaComputeMs}`);
    }
    await runner.syncModel();
    return { losses, weights: snapshot(model) };
  } finally {
    runner.close();
    model.dispose();
    disposeAll(batch);
  }
}

Deno.test("two replicas follow the single-thread loss trajectory", async () => {
  const { model, batch } = tinySetup(config);
  const single = new Trainer(model, { train: config.train, seed: config.seed });
  const expected = Array.from({ length: 5 }, () => single.trainPadded(paddedBatch()).loss);
  const { losses } = await parallelLosses(5);
  // Same maths; only the order of float additions differs.
  assert.ok(maxAbsDiff(losses, expected) < 1e-4, `${losses} vs ${expected}`);
  disposeAll(single, model, batch);
});

Deno.test("data-parallel training is deterministic for a seed and replica count", async () => {
  const a = await parallelLosses(4);
  const b = await parallelLosses(4);
  assert.deepEqual(a.losses, b.losses);
  for (const [name, values] of a.weights) assert.ok(bitEqual(values, b.weights.get(name)!), name);
});

Deno.test("trainModel() with two workers trains and returns the trained weights", async () => {
  const { bundle, history, trainer } = await trainModel(
    SENTENCES,
    tinyConfig({ train: { epochs: 3, batchSize: 6, learningRate: 0.01 } }),
    { tasks: TASKS, workers: 2 },
  );
  assert.equal(history.length, 3);
  assert.ok(history[2]!.loss < history[0]!.loss);
  assert.equal(trainer.step, 3); // optimizer state handed back from the workers
  bundle.model.dispose();
  trainer.dispose();
});

Deno.test("adamSegment() on any split of the gradient equals Adam on the whole, lazy rows and AdamW included", () => {
  // A dense 2×3 parameter and 3 rows of a 5×2 table, of which rows 4 and 1 train.
  const dense = Float32Array.from([0.5, -1, 2, 0.25, 3, -0.75]);
  const table = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  const gDense = Float32Array.from([0.1, -0.2, 0.3, 0.05, -0.4, 0.6]);
  const rows = Int32Array.from([1, 4]);
  const gRows = Float32Array.from([0.5, -0.5, 1, 2]);
  const layout = flatLayout([["w", [2, 3]], ["table", [5, 2]]]);
  const entries = [
    { name: "w", paramOffset: 0, size: 6, learningRate: 0.1, decay: true },
    { name: "table", paramOffset: 6, size: 4, rows, width: 2, learningRate: 0.05, decay: false },
  ];
  const grad = Float32Array.from([...gDense, ...gRows]);
  const hyper = { beta1: 0.9, beta2: 0.999, epsilon: 1e-8, weightDecay: 0.01 };
  // The tfjs optimizer, two steps with a clip factor of 0.5.
  const w = tf.variable(tf.tensor2d(dense, [2, 3])), t = tf.variable(tf.tensor2d(table, [5, 2]));
  const adam = new Adam({ ...hyper, decayFilter: (n) => n === "w" });
  for (let step = 0; step < 2; step++) {
    adam.apply(
      [["w", w], ["table", t]],
      { w: tf.tensor2d(gDense, [2, 3]), table: tf.tensor2d(gRows, [2, 2]) },
      (n) => (n === "w" ? 0.1 : 0.05),
      tf.scalar(0.5),
      { table: rows },
    );
  }
  const expected = [...w.dataSync(), ...t.dataSync()];
  for (const parts of [1, 2, 3, 4]) {
    const state = {
      params: Float32Array.from([...dense, ...table]),
      m: new Float32Array(layout.total),
      v: new Float32Array(layout.total),
    };
    for (let step = 1; step <= 2; step++) {
      for (let part = 0; part < parts; part++) {
        const [start, end] = shardRange(grad.length, parts, part);
        adamSegment(grad.slice(start, end), entries, start, end, state, {
          ...hyper,
          step,
          gradScale: 0.5,
        });
      }
    }
    assert.ok(
      maxAbsDiff(state.params, expected) < 1e-6,
      `${parts} parts: ${state.params} vs ${expected}`,
    );
    // Rows 0, 2, 3 of the table and their moments are untouched.
    assert.deepEqual([...state.params.subarray(6, 8)], [1, 2]);
    assert.deepEqual([...state.m.subarray(10, 14)], [0, 0, 0, 0]);
  }
  disposeAll(w, t, adam);
});

/** A config that exercises every branch of the update: lazy rows, AdamW, learned loss weights. */
const richConfig: Config = tinyConfig({
  model: { dropout: 0.1 },
  train: {
    learningRate: 0.01,
    embeddingUpdates: "lazy",
    optimizer: "adamw",
    taskWeighting: "uncertainty",
    layerLrDecay: 0.8,
  },
});

interface RunState {
  losses: number[];
  weights: NamedArrays;
  optimizer: AdamState;
  loss: Record<string, number>;
}

async function run(replicas: number, steps: number, from?: RunState): Promise<RunState> {
  const { model, batch } = tinySetup(richConfig);
  if (from !== undefined) model.parameters.assign(from.weights, "test");
  const runner = await ParallelTrainer.create(model, richConfig, {
    replicas,
    ...(from !== undefined ? { optimizerState: from.optimizer, lossState: from.loss } : {}),
  });
  try {
    const losses: number[] = [];
    for (let i = 0; i < steps; i++) losses.push((await runner.trainPadded(paddedBatch())).loss);
    await runner.syncModel();
    return {
      losses,
      weights: model.parameters.read(),
      optimizer: await runner.optimizerState(),
      loss: await runner.lossState(),
    };
  } finally {
    runner.close();
    disposeAll(model, batch);
  }
}

Deno.test("sharded training over 3 replicas is deterministic and resumes bit for bit", async () => {
  const whole = await run(3, 6);
  const again = await run(3, 6);
  assert.deepEqual(whole.losses, again.losses);
  const resumed = await run(3, 3, await run(3, 3));
  assert.deepEqual(resumed.losses, whole.losses.slice(3));
  for (const [name, { values }] of Object.entries(whole.weights)) {
    assert.ok(bitEqual(values, resumed.weights[name]!.values), name);
  }
  assert.deepEqual(resumed.loss, whole.loss);
  assert.equal(resumed.optimizer.step, 6);
  assert.deepEqual(
    Object.keys(resumed.optimizer.moments).sort(),
    Object.keys(whole.optimizer.moments).sort(),
  );
  for (const [key, { values }] of Object.entries(whole.optimizer.moments)) {
    assert.ok(bitEqual(values, resumed.optimizer.moments[key]!.values), key);
  }
  // Learned loss weights train and have Adam state, like the model's parameters.
  assert.ok(Object.values(whole.loss).some((s) => s !== 0));
  assert.ok("loss/ner_log_variance/m" in whole.optimizer.moments);
});

Deno.test("1, 2 and 3 replicas train like one thread (lazy rows, AdamW, learned loss weights)", async () => {
  const noDropout: Config = { ...richConfig, model: { ...richConfig.model, dropout: 0 } };
  const { model, batch } = tinySetup(noDropout);
  const single = new Trainer(model, { train: noDropout.train, seed: noDropout.seed });
  const expected = Array.from({ length: 4 }, () => single.trainPadded(paddedBatch()).loss);
  const weights = snapshot(model);
  for (const replicas of [1, 2, 3]) {
    const other = tinySetup(noDropout);
    const runner = await ParallelTrainer.create(other.model, noDropout, { replicas });
    try {
      const losses = [];
      for (let i = 0; i < 4; i++) losses.push((await runner.trainPadded(paddedBatch())).loss);
      assert.ok(maxAbsDiff(losses, expected) < 1e-4, `${replicas}: ${losses} vs ${expected}`);
      await runner.syncModel();
      const got = snapshot(other.model);
      for (const [name, values] of weights) {
        assert.ok(maxAbsDiff(values, got.get(name)!) < 1e-4, `${replicas} replicas: ${name}`);
      }
      assert.equal((await runner.optimizerState()).step, 4);
      const moments = single.getOptimizerState().moments;
      assert.deepEqual(
        Object.keys((await runner.optimizerState()).moments).sort(),
        Object.keys(moments).sort(),
      );
    } finally {
      runner.close();
      disposeAll(other.model, other.batch);
    }
  }
  disposeAll(single, model, batch);
});

Deno.test("interleaved bench timing takes one step of each trainer in turn, warm-up excluded", async () => {
  const calls: string[] = [];
  const runner = (name: string, timing?: StepTiming): Pick<StepRunner, "trainPadded"> => ({
    trainPadded: (batch) => {
      calls.push(`${name}${batch.batch}`);
      const replicas = timing ? { timing, replicaComputeMs: [1, 2] } : {};
      return { loss: 0, tasks: {}, gradNorm: 0, learningRate: 0, ...replicas };
    },
  });
  const timing: StepTiming = {
    computeMs: 1,
    reduceMs: 2,
    optimizerMs: 3,
    gatherMs: 4,
    waitMs: 5,
    coordinationMs: 6,
  };
  const batches = [1, 2].map((n) => ({ batch: n }) as PaddedBatch);
  const [a, b] = await timeInterleavedTrainSteps([runner("a"), runner("b", timing)], batches, 3, 1);
  assert.deepEqual(calls, ["a1", "b1", "a2", "b2", "a1", "b1", "a2", "b2"]);
  assert.equal(a!.times.length, 3);
  assert.equal(a!.timings.length, 0);
  assert.equal(b!.times.length, 3);
  assert.deepEqual(b!.timings, [timing, timing, timing]);
  assert.deepEqual(b!.replicaComputeMs, [[1, 2], [1, 2], [1, 2]]);
  assert.deepEqual(a!.replicaComputeMs, []);
});
