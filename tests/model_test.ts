import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { batchToTensors, encodeSentence, PAD_ID, padBatch } from "../lib/data/mod.ts";
import { l2Normalize, pool } from "../lib/model/mod.ts";
import { assertNoTensorLeak, maxAbsDiff, setup, TASKS, tinyConfig, tinySetup } from "./_helpers.ts";

await setup();

Deno.test("each task's head returns its outputs: token logits, sentence logits", () => {
  const { model, batch } = tinySetup();
  const [b, t] = batch.tokenIds.shape;
  const out = model.forward(batch);
  assert.deepEqual(out.sequenceOutput!.shape, [b, t, 8]);
  assert.deepEqual(out.outputs.ner!.shape, [b, t, 5]);
  assert.deepEqual(out.outputs.sentiment!.shape, [b, 2]);
  assert.deepEqual(model.embed(batch).shape, [b, 8]);
  model.dispose();
});

Deno.test("encoder output at real tokens ignores padding", () => {
  const { model, batch } = tinySetup();
  const mask = batch.mask.arraySync();
  // Replace every padding position's token and case ids with other values.
  const ids = batch.tokenIds.arraySync().map((row, b) =>
    row.map((id, i) => mask[b]![i] === 1 ? id : 5)
  );
  const cases = batch.caseIds.arraySync().map((row, b) =>
    row.map((c, i) => mask[b]![i] === 1 ? c : 3)
  );
  const affixes = batch.affixIds.arraySync().map((row, b) =>
    row.map((pair, i) => mask[b]![i] === 1 ? pair : [7, 20])
  );
  const other = {
    tokenIds: tf.tensor2d(ids, undefined, "int32"),
    caseIds: tf.tensor2d(cases, undefined, "int32"),
    affixIds: tf.tensor3d(affixes, undefined, "int32"),
    mask: batch.mask,
  };
  assert.ok(ids.flat().some((id) => id !== PAD_ID) && mask.flat().includes(0));
  const a = model.forward(batch).sequenceOutput!.mul(batch.mask.expandDims(2)).dataSync();
  const b = model.forward(other).sequenceOutput!.mul(batch.mask.expandDims(2)).dataSync();
  assert.equal(maxAbsDiff(a, b), 0);
  model.dispose();
});

Deno.test("a sentence's outputs do not depend on the padding added for its batch", () => {
  const { model, batch } = tinySetup();
  const shortRow = 4; // "Bob smiled": 3 tokens, padded to 7
  const alone = {
    tokenIds: batch.tokenIds.slice([shortRow, 0], [1, 3]) as tf.Tensor2D,
    caseIds: batch.caseIds.slice([shortRow, 0], [1, 3]) as tf.Tensor2D,
    affixIds: batch.affixIds.slice([shortRow, 0, 0], [1, 3, 2]) as tf.Tensor3D,
    mask: batch.mask.slice([shortRow, 0], [1, 3]) as tf.Tensor2D,
  };
  const inBatch = model.forward(batch);
  const single = model.forward(alone);
  const d1 = maxAbsDiff(
    inBatch.outputs.sentiment!.slice([shortRow, 0], [1, 2]).dataSync(),
    single.outputs.sentiment!.dataSync(),
  );
  const d2 = maxAbsDiff(
    inBatch.outputs.ner!.slice([shortRow, 0, 0], [1, 3, 5]).dataSync(),
    single.outputs.ner!.dataSync(),
  );
  assert.ok(d1 < 1e-5 && d2 < 1e-5, `differences ${d1} ${d2}`);
  model.dispose();
});

Deno.test("pool() ignores padded positions for mean, max and cls", () => {
  const x = tf.tensor3d([[[1, -1], [3, 5], [100, 100]], [[2, 2], [-50, -50], [-50, -50]]]);
  const mask = tf.tensor2d([[1, 1, 0], [1, 0, 0]]);
  assert.deepEqual(pool({ sequenceOutput: x, mask }, "mean").arraySync(), [[2, 2], [2, 2]]);
  assert.deepEqual(pool({ sequenceOutput: x, mask }, "max").arraySync(), [[3, 5], [2, 2]]);
  assert.deepEqual(pool({ sequenceOutput: x, mask }, "cls").arraySync(), [[1, -1], [2, 2]]);
});

Deno.test("l2Normalize() gives unit-length rows", () => {
  const n = l2Normalize(tf.tensor2d([[3, 4], [0, 2]])).dataSync();
  assert.ok(maxAbsDiff(n, [0.6, 0.8, 0, 1]) < 1e-7);
});

Deno.test("embed() with normalize returns unit vectors", () => {
  const { model, batch } = tinySetup();
  const norms = model.embed(batch, { normalize: true }).square().sum(1).dataSync();
  for (const n of norms) assert.ok(Math.abs(n - 1) < 1e-5);
  model.dispose();
});

Deno.test("the same seed gives the same weights; dropout is seeded", () => {
  const config = tinyConfig({ model: { dropout: 0.3 } });
  const a = tinySetup(config);
  const b = tinySetup(config);
  const wa = a.model.parameters.get("encoder/layer_0/attention/query/kernel").dataSync();
  const wb = b.model.parameters.get("encoder/layer_0/attention/query/kernel").dataSync();
  assert.deepEqual(wa, wb);
  const run = (seed: number) =>
    a.model.forward(a.batch, { dropoutSeed: seed }).outputs.ner!.dataSync();
  assert.deepEqual(run(1), run(1));
  assert.notDeepEqual(run(1), run(2));
  assert.notDeepEqual(run(1), a.model.forward(a.batch).outputs.ner!.dataSync());
  a.model.dispose();
  b.model.dispose();
});

Deno.test("forward() does not leak tensors", () => {
  const { model, batch } = tinySetup();
  assertNoTensorLeak(() => {
    const out = model.forward(batch, { dropoutSeed: 3 });
    // `out.mask` is the caller's input mask, not a new tensor.
    assert.equal(out.mask, batch.mask);
    tf.dispose([out.sequenceOutput, ...Object.values(out.outputs)]);
  });
  assertNoTensorLeak(() => model.embed(batch).dispose());
  model.dispose();
});

Deno.test("countParameters() matches the architecture", () => {
  const { model, tokenizer } = tinySetup();
  const h = 8, ffn = 16, layers = 2, maxLen = 16;
  const perLayer = 2 * h + 3 * (h * h + h) + (h * h + h) + 2 * h + (h * ffn + ffn) +
    (ffn * h + h);
  const embeddings = tokenizer.vocabSize * h + maxLen * h + 8 * h + 2 * 16 * h; // + affix table
  const heads = (h * 5 + 5) + (h * 2 + 2);
  assert.equal(model.countParameters(), embeddings + layers * perLayer + 2 * h + heads);
  model.dispose();
});

Deno.test("affix features tell unknown words apart", () => {
  const { model, tokenizer } = tinySetup();
  const encode = (words: string[]) =>
    batchToTensors(padBatch([encodeSentence({ words, labels: {} }, tokenizer, TASKS, 16)]));
  // Both words are out of vocabulary: only their affixes differ.
  const a = encode(["Zorbington"]);
  const b = encode(["Quixlandia"]);
  assert.deepEqual(a.tokenIds.arraySync(), b.tokenIds.arraySync());
  const va = model.forward(a).sequenceOutput!.dataSync();
  const vb = model.forward(b).sequenceOutput!.dataSync();
  assert.ok(maxAbsDiff(va, vb) > 1e-4);
  model.dispose();
});

Deno.test("a sentence task may pool its own way; the embedding keeps the model's pooling", async () => {
  const { MultiTaskModel, modelDims, saveModel, loadModel } = await import("../lib/model/mod.ts");
  const { WordTokenizer } = await import("../lib/data/mod.ts");
  const { SENTENCES } = await import("./_helpers.ts");
  const config = tinyConfig();
  const tasks = TASKS.map((t) => (t.kind === "sentence" ? { ...t, pooling: "cls" as const } : t));
  const tokenizer = WordTokenizer.fit(SENTENCES.map((s) => s.words), config.tokenizer);
  const model = new MultiTaskModel(config.model, modelDims(tokenizer, tasks), 3);
  const batch = batchToTensors(
    padBatch(SENTENCES.map((s) => encodeSentence(s, tokenizer, tasks, 16))),
  );
  const out = model.forward(batch);
  // CLS pooling: the logits are the head's dense layer on position 0's vector.
  const cls = out.sequenceOutput!.slice([0, 0, 0], [-1, 1, -1]).squeeze([1]);
  const expected = cls.matMul(model.parameters.get("sentiment_head/kernel")).add(
    model.parameters.get("sentiment_head/bias"),
  );
  assert.ok(maxAbsDiff(out.outputs.sentiment!.dataSync(), expected.dataSync()) < 1e-5);
  // The sentence embedding is still the model's (mean) pooling.
  assert.ok(
    maxAbsDiff(
      model.embed(batch).dataSync(),
      pool({ sequenceOutput: out.sequenceOutput!, mask: out.mask }, "mean").dataSync(),
    ) < 1e-6,
  );
  const dir = await Deno.makeTempDir();
  await saveModel(`${dir}/m`, { config, tokenizer, tasks, model });
  const loaded = await loadModel(`${dir}/m`);
  assert.equal(loaded.tasks.find((t) => t.kind === "sentence")!.pooling, "cls");
  assert.ok(
    maxAbsDiff(loaded.model.forward(batch).outputs.sentiment!.dataSync(), expected.dataSync()) <
      1e-6,
  );
  model.dispose();
  loaded.model.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("sentenceHidden puts a hidden layer in sentence heads, and it trains", async () => {
  const { Trainer } = await import("../lib/training/mod.ts");
  const config = tinyConfig({ model: { sentenceHidden: 6 }, train: { learningRate: 0.01 } });
  const { model, batch } = tinySetup(config);
  assert.deepEqual(model.parameters.get("sentiment_head/hidden/kernel").shape, [8, 6]);
  assert.deepEqual(model.parameters.get("sentiment_head/kernel").shape, [6, 2]);
  assert.deepEqual(model.forward(batch).outputs.sentiment!.shape, [batch.tokenIds.shape[0], 2]);
  const trainer = new Trainer(model, { train: config.train, seed: 1 });
  const first = trainer.trainStep(batch).tasks.sentiment!.loss;
  for (let i = 0; i < 15; i++) trainer.trainStep(batch);
  assert.ok(trainer.trainStep(batch).tasks.sentiment!.loss < first);
  trainer.dispose();
  model.dispose();
});
