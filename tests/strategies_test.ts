/** Freezing, layer-wise learning rates, schedules, unfreezing, task weighting, transfer. */
import assert from "node:assert/strict";
import { type Config } from "../lib/core/mod.ts";
import { saveModel } from "../lib/model/mod.ts";
import {
  depthOf,
  FREEZE_SCENARIOS,
  isFrozen,
  learningRateAt,
  Trainer,
  trainModel,
  ULMFIT_LAYER_DECAY,
} from "../lib/training/mod.ts";
import { measureUpdateSizes } from "../lib/experiments/mod.ts";
import {
  assertUnchanged,
  bitEqual,
  disposeAll,
  SENTENCES,
  setup,
  snapshot,
  TASKS,
  tinyConfig,
  tinySetup,
} from "./_helpers.ts";

await setup();

function withTrain(overrides: Partial<Config["train"]>, base = tinyConfig()): Config {
  return tinyConfig({ model: base.model, train: { ...base.train, ...overrides } });
}

for (const scenario of Object.keys(FREEZE_SCENARIOS)) {
  Deno.test(`freeze scenario "${scenario}" leaves exactly its parameters unchanged`, () => {
    const config = withTrain({ freeze: [scenario], learningRate: 0.01 });
    const { model, batch } = tinySetup(config);
    const names = model.parameters.names();
    const frozen = names.filter((n) => isFrozen([scenario], n));
    const trained = names.filter((n) => !frozen.includes(n));
    const before = snapshot(model);
    const trainer = new Trainer(model, { train: config.train, seed: 1 });
    for (let i = 0; i < 3; i++) trainer.trainStep(batch);
    assertUnchanged(model, new Map(frozen.map((n) => [n, before.get(n)!])));
    for (const name of trained) {
      if (name === "embeddings/position" || name === "embeddings/affix") continue; // rows may be unused
      assert.ok(
        !bitEqual(before.get(name)!, model.parameters.get(name).dataSync() as Float32Array),
        `${name} did not train`,
      );
    }
    assert.deepEqual(trainer.optimizer.stateNames().filter((n) => frozen.includes(n)), []);
    assert.equal(trainer.step, scenario === "all" ? 0 : 3);
    disposeAll(model, batch, trainer);
  });
}

Deno.test("freezing everything still reports the loss, with no gradient", () => {
  const config = withTrain({ freeze: ["all"] });
  const { model, batch } = tinySetup(config);
  const trainer = new Trainer(model, { train: config.train, seed: 1 });
  const m = trainer.trainStep(batch);
  assert.ok(m.loss > 0);
  assert.equal(m.gradNorm, 0);
  disposeAll(model, batch, trainer);
});

Deno.test("the first Adam step moves each layer group by its configured rate", () => {
  const decay = 0.5;
  const config = withTrain({ layerLrDecay: decay, learningRate: 0.01, clipNorm: 0 });
  const { model, batch } = tinySetup(config);
  const before = snapshot(model);
  const trainer = new Trainer(model, { train: config.train, seed: 1 });
  trainer.trainStep(batch);
  const top = config.model.numLayers + 1;
  for (const [name, v] of model.parameters.entries()) {
    const after = v.dataSync();
    const old = before.get(name)!;
    // Adam's first update is lr·g/(|g| + ε): ±lr wherever the gradient is not ~0.
    const moves = Array.from(after, (x, i) => Math.abs(x - old[i]!)).filter((d) => d > 1e-6);
    if (moves.length === 0) continue;
    const expected = 0.01 * decay ** (top - depthOf(name, config.model.numLayers));
    const median = moves.sort((a, b) => a - b)[Math.floor(moves.length / 2)]!;
    assert.ok(
      Math.abs(median - expected) / expected < 0.05,
      `${name}: moved ${median}, expected ${expected}`,
    );
  }
  disposeAll(model, batch, trainer);
});

Deno.test("ULMFIT_LAYER_DECAY is 1/2.6", () => {
  assert.equal(ULMFIT_LAYER_DECAY, 1 / 2.6);
});

Deno.test("learningRateAt() gives exact values for every schedule", () => {
  const o = { learningRate: 0.1, totalSteps: 1000, warmupSteps: 100, decayRate: 0.01 };
  assert.equal(learningRateAt("inverse-time", 100, o), 0.05);
  assert.equal(learningRateAt("linear", 0, o), 0);
  assert.equal(learningRateAt("linear", 50, o), 0.05);
  assert.equal(learningRateAt("linear", 100, o), 0.1);
  assert.equal(learningRateAt("linear", 1000, o), 0);
  assert.equal(learningRateAt("cosine", 100, o), 0.1);
  assert.ok(Math.abs(learningRateAt("cosine", 1000, o)) < 1e-17);
  // Slanted triangular: cut = 100 steps; lowest lr/32 at 0 and at the end, peak at the cut.
  const stlr = { learningRate: 0.32, totalSteps: 1000 };
  assert.equal(learningRateAt("slanted-triangular", 0, stlr), 0.01);
  assert.equal(learningRateAt("slanted-triangular", 100, stlr), 0.32);
  assert.equal(learningRateAt("slanted-triangular", 1000, stlr), 0.01);
  assert.equal(learningRateAt("slanted-triangular", 50, stlr), 0.01 * (1 + 0.5 * 31));
});

Deno.test("slanted triangular stays finite on a run of fewer than 10 steps", () => {
  const rates = [0, 1, 2, 3, 4].map((step) =>
    learningRateAt("slanted-triangular", step, { learningRate: 0.32, totalSteps: 4 })
  );
  assert.ok(rates.every(Number.isFinite), `${rates}`);
  assert.equal(rates[0], 0.01);
  assert.equal(rates[1], 0.32);
});

Deno.test("a trainer follows its schedule step by step", () => {
  const config = withTrain({ schedule: "linear", warmupSteps: 2, learningRate: 0.02 });
  const { model, batch } = tinySetup(config);
  const trainer = new Trainer(model, { train: config.train, seed: 1, totalSteps: 4 });
  const rates = Array.from({ length: 4 }, () => trainer.trainStep(batch).learningRate);
  assert.deepEqual(rates, [0, 0.01, 0.02, 0.01]);
  assert.throws(() => new Trainer(model, { train: config.train, seed: 1 }), /needs totalSteps/);
  disposeAll(model, batch, trainer);
});

Deno.test("unfreeze-after keeps the backbone fixed for N epochs, then trains it", async () => {
  const config = withTrain({ unfreezeAfter: 1, epochs: 2, batchSize: 6, learningRate: 0.01 });
  const seen: Map<string, Float32Array>[] = [];
  const { bundle, trainer } = await trainModel(SENTENCES, config, {
    tasks: TASKS,
    onEpochEnd: (_r, b) =>
      void seen.push(snapshot(b.model, ["encoder/layer_0/ffn/in/kernel", "ner_head/kernel"])),
  });
  const initial = await trainModel(SENTENCES, withTrain({ epochs: 0 }, config), { tasks: TASKS });
  const start = snapshot(initial.bundle.model, ["encoder/layer_0/ffn/in/kernel"]).get(
    "encoder/layer_0/ffn/in/kernel",
  )!;
  assert.ok(
    bitEqual(seen[0]!.get("encoder/layer_0/ffn/in/kernel")!, start),
    "backbone trained in epoch 1",
  );
  assert.ok(
    !bitEqual(seen[1]!.get("encoder/layer_0/ffn/in/kernel")!, start),
    "backbone frozen in epoch 2",
  );
  disposeAll(bundle.model, trainer, initial.bundle.model, initial.trainer);
});

Deno.test("gradual unfreezing trains one more layer group each epoch, from the top", async () => {
  const config = withTrain({ gradualUnfreeze: true, epochs: 3, batchSize: 6, learningRate: 0.01 });
  const watched = [
    "ner_head/kernel",
    "encoder/layer_1/ffn/in/kernel",
    "encoder/layer_0/ffn/in/kernel",
  ];
  const seen: Map<string, Float32Array>[] = [];
  const initial = await trainModel(SENTENCES, withTrain({ epochs: 0 }, config), { tasks: TASKS });
  seen.push(snapshot(initial.bundle.model, watched));
  const { bundle, trainer } = await trainModel(SENTENCES, config, {
    tasks: TASKS,
    onEpochEnd: (_r, b) => void seen.push(snapshot(b.model, watched)),
  });
  const changed = (epoch: number, name: string) =>
    !bitEqual(seen[epoch]!.get(name)!, seen[epoch - 1]!.get(name)!);
  assert.deepEqual(watched.map((n) => changed(1, n)), [true, false, false]);
  assert.deepEqual(watched.map((n) => changed(2, n)), [true, true, false]);
  assert.deepEqual(watched.map((n) => changed(3, n)), [true, true, true]);
  disposeAll(bundle.model, trainer, initial.bundle.model, initial.trainer);
});

Deno.test("uncertainty weighting learns the task weights", () => {
  const config = withTrain({ taskWeighting: "uncertainty", learningRate: 0.05 });
  const { model, batch } = tinySetup(config);
  const trainer = new Trainer(model, { train: config.train, seed: 1 });
  assert.deepEqual(trainer.taskWeights(), { ner: 1, sentiment: 1 });
  let last;
  for (let i = 0; i < 10; i++) last = trainer.trainStep(batch);
  assert.notEqual(last!.tasks.ner!.weight, 1);
  assert.notEqual(last!.tasks.ner!.weight, last!.tasks.sentiment!.weight);
  assert.equal(Object.keys(trainer.getLossState()).length, 2);
  disposeAll(model, batch, trainer);
});

Deno.test("initBackbone starts the embeddings and encoder from another model directory", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mtt-init-" });
  const config = withTrain({ epochs: 2, batchSize: 6, learningRate: 0.01 });
  const { bundle, trainer } = await trainModel(SENTENCES, config, { tasks: TASKS });
  await saveModel(`${dir}/backbone`, bundle);
  const fine = await trainModel(
    SENTENCES,
    withTrain({ epochs: 0, initBackbone: `${dir}/backbone` }, config),
    { tasks: TASKS },
  );
  for (
    const name of [
      "embeddings/token",
      "encoder/layer_1/attention/key/kernel",
      "encoder/final_norm/gamma",
    ]
  ) {
    assert.ok(
      bitEqual(
        bundle.model.parameters.get(name).dataSync() as Float32Array,
        fine.bundle.model.parameters.get(name).dataSync() as Float32Array,
      ),
      name,
    );
  }
  assert.deepEqual(fine.bundle.tokenizer.vocab, bundle.tokenizer.vocab);
  const wider = tinyConfig({
    model: { hiddenSize: 16 },
    train: { epochs: 0, initBackbone: `${dir}/backbone` },
  });
  await assert.rejects(
    trainModel(SENTENCES, wider, { tasks: TASKS }),
    /model.hiddenSize is 8 there but 16/,
  );
  disposeAll(bundle.model, trainer, fine.bundle.model, fine.trainer);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("measureUpdateSizes() shows the layer-wise rates on Adam's first step", () => {
  const config = withTrain({ layerLrDecay: 0.5, learningRate: 0.01, clipNorm: 0 });
  const { model, batch } = tinySetup(config);
  const trainer = new Trainer(model, { train: config.train, seed: 1 });
  const sizes = measureUpdateSizes(trainer, batch);
  assert.deepEqual(sizes.map((s) => s.group), [
    "embeddings",
    "layer 0",
    "layer 1",
    "heads + final norm",
  ]);
  assert.deepEqual(sizes.map((s) => s.learningRate), [0.00125, 0.0025, 0.005, 0.01]);
  for (const s of sizes) {
    assert.ok(Math.abs(s.meanAbsUpdate - s.learningRate) / s.learningRate < 0.1, JSON.stringify(s));
  }
  disposeAll(model, batch, trainer);
});
