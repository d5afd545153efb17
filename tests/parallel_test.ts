/** Data-parallel training across Deno Workers. */
import assert from "node:assert/strict";
import { encodeSentence, padBatch, WordTokenizer } from "../lib/data/mod.ts";
import { ParallelTrainer, Trainer, trainModel } from "../lib/training/mod.ts";
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
    for (let i = 0; i < steps; i++) losses.push((await runner.trainPadded(paddedBatch())).loss);
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
