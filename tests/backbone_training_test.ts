/**
 * Transfer learning on the pretrained backbone: freeze selectors, frozen parts
 * bit-for-bit unchanged, layer-wise rates by depth, the feature cache against
 * recomputation, unfreezing, and a save/load round trip of a fine-tuned backbone.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { type Config } from "../lib/core/mod.ts";
import { batchToTensors, disposeBatch, encodeSentence, padBatch } from "../lib/data/mod.ts";
import { loadModel, predict, saveModel } from "../lib/mod.ts";
import { cacheBackboneFeatures } from "../lib/model/feature_cache.ts";
import { useLiteWeights } from "../lib/model/use_lite.ts";
import {
  backboneEntryStage,
  depthOf,
  frozenForEpoch,
  isFrozen,
  type SelectorContext,
  selects,
  Trainer,
  trainModel,
} from "../lib/training/mod.ts";
import {
  assertNoTensorLeak,
  assertUnchanged,
  backboneSetup,
  bitEqual,
  disposeAll,
  maxAbsDiff,
  SENTENCES,
  setup,
  snapshot,
  TASKS,
  testBackboneFiles,
  tinyConfig,
} from "./_helpers.ts";

await setup();

function backboneConfig(train: Partial<Config["train"]> = {}, model = {}): Config {
  const base = tinyConfig();
  return tinyConfig({
    model: { backbone: "use-lite", dropout: 0.1, ...model },
    train: { ...base.train, learningRate: 0.01, ...train },
  });
}

const context: SelectorContext = { backboneLayers: 2 };

Deno.test("backbone selectors pick the pretrained parts; the task encoder's do not reach them", () => {
  const names = [
    "backbone/embeddings/pieces",
    "backbone/layer_0/attention/query/kernel",
    "backbone/layer_1/ffn/out/bias",
    "backbone/pooler/kernel",
    "embeddings/token",
    "encoder/layer_0/ffn/in/kernel",
    "encoder/backbone_words/kernel",
    "ner_head/kernel",
  ];
  const chosen = (selector: string, c = context) => names.filter((n) => selects(selector, n, c));
  assert.deepEqual(chosen("backbone"), names.slice(0, 4));
  assert.deepEqual(chosen("backbone:embeddings"), ["backbone/embeddings/pieces"]);
  assert.deepEqual(chosen("backbone:layer:0"), ["backbone/layer_0/attention/query/kernel"]);
  assert.deepEqual(chosen("backbone:layers:0-1"), names.slice(1, 3));
  assert.deepEqual(chosen("backbone:pooler"), ["backbone/pooler/kernel"]);
  assert.deepEqual(chosen("encoder"), names.slice(5, 7));
  assert.deepEqual(chosen("layer:0"), ["encoder/layer_0/ffn/in/kernel"]);
  assert.deepEqual(chosen("embeddings"), ["embeddings/token"]);
  // Without a pretrained backbone, "backbone" is the shared part: embeddings and encoder.
  assert.deepEqual(chosen("backbone", {}), names.slice(4, 7));
});

Deno.test("frozen backbone parts stay bit-for-bit unchanged while the rest trains", async () => {
  const config = backboneConfig({ freeze: ["backbone:embeddings", "backbone:layer:0"] });
  const { model, batch } = await backboneSetup(config);
  const names = model.parameters.names();
  const frozen = names.filter((n) => isFrozen(config.train.freeze, n, context));
  assert.ok(frozen.includes("backbone/embeddings/pieces") && frozen.length > 10);
  const before = snapshot(model);
  const trainer = new Trainer(model, { train: config.train, seed: 1 });
  assert.equal(trainer.backboneStage, 2);
  for (let i = 0; i < 2; i++) trainer.trainStep(batch);
  assertUnchanged(model, new Map(frozen.map((n) => [n, before.get(n)!])));
  for (
    const name of ["backbone/layer_1/ffn/in/kernel", "backbone/pooler/kernel", "ner_head/kernel"]
  ) {
    assert.ok(
      !bitEqual(before.get(name)!, model.parameters.get(name).dataSync() as Float32Array),
      name,
    );
  }
  assert.deepEqual(trainer.optimizer.stateNames().filter((n) => frozen.includes(n)), []);
  disposeAll(model, batch, trainer);
});

async function measuredRatesMatch(scope: "all" | "embeddings") {
  const decay = 0.5;
  const config = backboneConfig({
    layerLrDecay: decay,
    layerLrDecayScope: scope,
    learningRate: 0.001,
    clipNorm: 0,
  }, { dropout: 0 });
  const { model, batch } = await backboneSetup(config);
  const before = snapshot(model);
  const trainer = new Trainer(model, { train: config.train, seed: 1 });
  trainer.trainStep(batch);
  const top = 4; // pieces 0, layer_0 1, layer_1 2, pooler 3, everything new 4
  const byDepth = new Map<number, number[]>();
  for (const [name, v] of model.parameters.entries()) {
    const after = v.dataSync(), old = before.get(name)!;
    // Adam's first update is ±lr wherever the gradient is not ~0.
    const moves = Array.from(after, (x, i) => Math.abs(x - old[i]!)).filter((d) => d > 1e-7);
    const depth = depthOf(name, config.model.numLayers, context);
    byDepth.set(depth, [...(byDepth.get(depth) ?? []), ...moves]);
  }
  assert.deepEqual([...byDepth.keys()].sort(), [0, 1, 2, 3, 4]);
  for (const [depth, moves] of byDepth) {
    const median = moves.sort((a, b) => a - b)[Math.floor(moves.length / 2)]!;
    const expected = scope === "embeddings" && depth > 0 ? 0.001 : 0.001 * decay ** (top - depth);
    assert.ok(
      Math.abs(median - expected) / expected < 0.05,
      `depth ${depth}: ${median} vs ${expected}`,
    );
  }
  disposeAll(model, batch, trainer);
}

Deno.test("layer-wise rates reach the backbone's depths as configured (measured first Adam step)", () =>
  measuredRatesMatch("all"));

Deno.test("decay on the embeddings only lowers the piece embeddings' rate alone (measured)", () =>
  measuredRatesMatch("embeddings"));

Deno.test("the feature cache equals recomputation, at the pooler and at a layer", async () => {
  for (
    const [freeze, stage] of [[["backbone"], 3], [
      ["backbone:embeddings", "backbone:layer:0"],
      2,
    ]] as const
  ) {
    // Adam's ε = 1 makes its first update ≈ lr·g: comparable where g is near 0 (ε = 1e-8 is ±lr there).
    const config = backboneConfig({ freeze: [...freeze], epsilon: 1 });
    const { model, tokenizer, batch } = await backboneSetup(config);
    const encoded = SENTENCES.map((s) => encodeSentence(s, tokenizer, TASKS, 16));
    const cached = cacheBackboneFeatures(model, encoded, stage, { batchSize: 4 });
    assert.equal(cached[0]!.features!.stage, stage);
    const cachedBatch = batchToTensors(padBatch(cached));
    assert.equal(cachedBatch.backbone!.stage, stage);
    // Inference: the same outputs from cached features as from the pieces.
    const tasks = ["ner", "sentiment"];
    const full = model.forward(batch, { tasks });
    const fromCache = model.forward(cachedBatch, { tasks });
    for (const task of tasks) {
      const d = maxAbsDiff(full.outputs[task]!.dataSync(), fromCache.outputs[task]!.dataSync());
      assert.ok(d < 1e-4, `stage ${stage}, ${task}: ${d}`);
    }
    for (const out of [full, fromCache]) {
      tf.dispose([...Object.values(out.outputs), out.sequenceOutput!, out.pooledOutput!]);
    }
    // Training, dropout on: a cached batch trains as the full batch does.
    const trainers = [0, 1].map(() => new Trainer(model, { train: config.train, seed: 3 }));
    const start = snapshot(model);
    const a = trainers[0]!.trainStep(batch);
    const afterFull = snapshot(model);
    model.parameters.assign(
      Object.fromEntries(
        [...start].map(([n, v]) => [n, { shape: [...model.parameters.get(n).shape], values: v }]),
      ),
      "snapshot",
    );
    const b = trainers[1]!.trainStep(cachedBatch);
    assert.ok(Math.abs(a.loss - b.loss) < 1e-4, `stage ${stage}: loss ${a.loss} vs ${b.loss}`);
    for (const [name, values] of afterFull) {
      const d = maxAbsDiff(values, model.parameters.get(name).dataSync());
      assert.ok(d < 1e-6, `stage ${stage}: ${name} differs by ${d}`);
    }
    disposeBatch(cachedBatch);
    disposeAll(model, batch, ...trainers);
  }
});

Deno.test("a training step on the backbone model leaks no tensors, cached or not", async () => {
  for (const freeze of [[], ["backbone"]]) {
    const config = backboneConfig({ freeze });
    const { model, batch } = await backboneSetup(config);
    const trainer = new Trainer(model, { train: config.train, seed: 1 });
    assertNoTensorLeak(() => trainer.trainStep(batch), 1, 2);
    disposeAll(model, batch, trainer);
  }
});

Deno.test("two-stage and gradual unfreezing thaw the backbone from the top", () => {
  const two = { freeze: [], unfreezeAfter: 1, gradualUnfreeze: false };
  assert.deepEqual(frozenForEpoch(1, two, 2, context), ["backbone"]);
  assert.deepEqual(frozenForEpoch(2, two, 2, context), []);
  const gradual = { freeze: [], unfreezeAfter: 0, gradualUnfreeze: true };
  const names = [
    "backbone/embeddings/pieces",
    "backbone/layer_0/ffn/in/kernel",
    "backbone/layer_1/ffn/in/kernel",
    "backbone/pooler/kernel",
  ];
  const stages = [1, 2, 3, 4, 5].map((epoch) => {
    const frozen = frozenForEpoch(epoch, gradual, 2, context);
    return backboneEntryStage(names, (n) => !isFrozen(frozen, n, context), 2);
  });
  // Epoch 1 trains the new parts only; then the pooler, layer 1, layer 0, the embeddings.
  assert.deepEqual(stages, [3, 3, 2, 1, 0]);
  const frozen2 = frozenForEpoch(2, gradual, 2, context);
  assert.ok(!isFrozen(frozen2, "backbone/pooler/kernel", context));
  assert.ok(isFrozen(frozen2, "backbone/layer_1/ffn/in/kernel", context));
  assert.ok(
    !isFrozen(frozenForEpoch(1, gradual, 2, context), "encoder/layer_0/ffn/in/kernel", context),
  );
});

Deno.test("two-stage training keeps the backbone bit-for-bit fixed in stage one, then trains it", async () => {
  const config = backboneConfig({ unfreezeAfter: 1, epochs: 2, batchSize: 6, validationSplit: 0 });
  const seen: Map<string, Float32Array>[] = [];
  const watched = [
    "backbone/layer_1/ffn/in/kernel",
    "backbone/embeddings/pieces",
    "ner_head/kernel",
  ];
  const files = await testBackboneFiles();
  const { bundle, trainer } = await trainModel(SENTENCES, config, {
    tasks: TASKS,
    backboneFiles: files,
    onEpochEnd: (_r, b) => void seen.push(snapshot(b.model, watched)),
  });
  const pretrained = useLiteWeights(files);
  for (const name of watched.slice(0, 2)) {
    assert.ok(
      bitEqual(seen[0]!.get(name)!, pretrained[name]!.values),
      `${name} moved in stage one`,
    );
    assert.ok(
      !bitEqual(seen[1]!.get(name)!, pretrained[name]!.values),
      `${name} did not train after`,
    );
  }
  disposeAll(bundle.model, trainer);
});

Deno.test("a fine-tuned backbone survives save and load: identical predictions", async () => {
  const config = backboneConfig({ epochs: 1, batchSize: 3, validationSplit: 0 });
  const { bundle, trainer } = await trainModel(SENTENCES, config, {
    tasks: TASKS,
    backboneFiles: await testBackboneFiles(),
  });
  const dir = await Deno.makeTempDir();
  try {
    await saveModel(`${dir}/m`, bundle);
    const loaded = await loadModel(`${dir}/m`);
    const texts = ["Anna flew to Zürich", "The film was dull"];
    assert.deepEqual(predict(loaded, texts), predict(bundle, texts));
    const name = "backbone/layer_1/ffn/in/kernel";
    assert.ok(bitEqual(
      loaded.model.parameters.get(name).dataSync() as Float32Array,
      bundle.model.parameters.get(name).dataSync() as Float32Array,
    ));
    loaded.model.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
    disposeAll(bundle.model, trainer);
  }
});
