import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { CheckpointError } from "../lib/core/mod.ts";
import {
  batchToTensors,
  CHAR_BOW_ID,
  CHAR_EOW_ID,
  CHAR_UNK_ID,
  encodeSentence,
  padBatch,
  splitBatch,
  WordTokenizer,
} from "../lib/data/mod.ts";
import { CharCnn, loadModel, ParameterStore, saveModel } from "../lib/model/mod.ts";
import { predict } from "../lib/inference/mod.ts";
import { Trainer, trainModel } from "../lib/training/mod.ts";
import {
  assertNoTensorLeak,
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

const FIT = { lowercase: true, minFrequency: 1, maxVocabSize: 100, affixBuckets: 0, charWidth: 8 };

Deno.test("fit() learns characters most frequent first, case kept, above the frequency floor", () => {
  const tok = WordTokenizer.fit([["aab", "Ab"], ["c"]], { ...FIT, minFrequency: 2 });
  assert.deepEqual(tok.chars, ["a", "b"]); // a ×2, b ×2 (a first seen); A and c once
  assert.equal(tok.charVocabSize, 2 + 4);
  assert.deepEqual(WordTokenizer.fit([["ab"]], { ...FIT, charWidth: 0 }).chars, []);
});

Deno.test("charIdsOf() frames the word with markers, pads, and maps unseen characters to UNK", () => {
  const tok = WordTokenizer.fit([["ab"]], FIT); // a → 4, b → 5
  assert.deepEqual([...tok.charIdsOf("ba")], [CHAR_BOW_ID, 5, 4, CHAR_EOW_ID, 0, 0, 0, 0]);
  assert.deepEqual([...tok.charIdsOf("aZ")], [
    CHAR_BOW_ID,
    4,
    CHAR_UNK_ID,
    CHAR_EOW_ID,
    0,
    0,
    0,
    0,
  ]);
  assert.deepEqual([...tok.charIdsOf("")], [CHAR_BOW_ID, CHAR_EOW_ID, 0, 0, 0, 0, 0, 0]);
});

Deno.test("charIdsOf() keeps the first and last characters of a word that is too long", () => {
  const tok = WordTokenizer.fit([["abcdefghij"]], FIT); // a..j → 4..13, 6 slots for characters
  assert.deepEqual([...tok.charIdsOf("abcdefghij")], [
    CHAR_BOW_ID,
    4,
    5,
    6,
    11,
    12,
    13,
    CHAR_EOW_ID,
  ]);
  const odd = WordTokenizer.fit([["abcdefghij"]], { ...FIT, charWidth: 7 }); // 5 slots: 3 + 2
  assert.deepEqual([...odd.charIdsOf("abcdefghij")], [CHAR_BOW_ID, 4, 5, 6, 12, 13, CHAR_EOW_ID]);
});

Deno.test("the character vocabulary survives a JSON round trip; malformed ones are refused", () => {
  const tok = WordTokenizer.fit([["Zürich", "Oslo"]], FIT);
  const back = WordTokenizer.fromJSON(JSON.parse(JSON.stringify(tok)));
  assert.deepEqual(back.chars, tok.chars);
  assert.equal(back.charWidth, 8);
  assert.deepEqual(back.charIdsOf("Zoo"), tok.charIdsOf("Zoo"));
  const json = tok.toJSON();
  assert.throws(() => WordTokenizer.fromJSON({ ...json, chars: [1, 2] }), CheckpointError);
  assert.throws(() => WordTokenizer.fromJSON({ ...json, charWidth: 2 }), CheckpointError);
  assert.throws(() => WordTokenizer.fromJSON({ ...json, chars: [] }), CheckpointError);
  // A tokenizer saved before character features loads without them.
  const old = WordTokenizer.fromJSON({ type: "word", lowercase: true, vocab: tok.vocab });
  assert.equal(old.charWidth, 0);
  assert.equal(old.charVocabSize, 0);
});

Deno.test("encoded sentences, padded batches and split batches carry character ids per token", () => {
  const tok = WordTokenizer.fit(SENTENCES.map((s) => s.words), FIT);
  const encoded = SENTENCES.map((s) => encodeSentence(s, tok, TASKS, 16));
  const first = encoded[0]!; // [CLS] Anna loves Rome
  assert.equal(first.charIds!.length, 8 * 4);
  assert.deepEqual(first.charIds!.subarray(0, 8), new Int32Array(8)); // [CLS] has none
  assert.deepEqual(first.charIds!.subarray(8, 16), tok.charIdsOf("Anna"));
  const padded = padBatch(encoded);
  assert.equal(padded.charWidth, 8);
  assert.equal(padded.charIds!.length, padded.batch * padded.seqLen * 8);
  const row = 2 * padded.seqLen + 3; // "hates" in sentence 2
  assert.deepEqual(padded.charIds!.subarray(8 * row, 8 * row + 8), tok.charIdsOf("hates"));
  const parts = splitBatch(padded, 2);
  const back = parts.flatMap((p) =>
    Array.from({ length: p.batch }, (_, b) =>
      Array.from(
        { length: p.seqLen },
        (_, t) => [...p.charIds!.subarray(8 * (b * p.seqLen + t), 8 * (b * p.seqLen + t + 1))],
      ))
  );
  encoded.forEach((s, b) =>
    assert.deepEqual(back[b]!.flat().slice(0, s.charIds!.length), [...s.charIds!], `sentence ${b}`)
  );
  const t = batchToTensors(padded);
  assert.deepEqual(t.charIds!.shape, [padded.batch, padded.seqLen, 8]);
  disposeAll(t);
});

Deno.test("CharCnn: shape, zero for tokens without characters, blind to trailing empty slots", () => {
  const cnn = new CharCnn(new ParameterStore(3), "char", {
    charVocabSize: 12,
    embeddingSize: 4,
    filters: 6,
    hiddenSize: 5,
    initializerRange: 0.5,
  });
  const narrow = tf.tensor3d([[[2, 7, 8, 9, 3], [0, 0, 0, 0, 0]]], undefined, "int32");
  const wide = tf.tensor3d(
    [[[2, 7, 8, 9, 3, 0, 0, 0], [0, 0, 0, 0, 0, 0, 0, 0]]],
    undefined,
    "int32",
  );
  const a = cnn.apply(narrow);
  const b = cnn.apply(wide);
  assert.deepEqual(a.shape, [1, 2, 5]);
  assert.ok(maxAbsDiff(a.dataSync(), b.dataSync()) < 1e-6);
  assert.deepEqual(a.slice([0, 1, 0], [1, 1, 5]).dataSync(), new Float32Array(5));
  assert.ok(maxAbsDiff(a.slice([0, 0, 0], [1, 1, 5]).dataSync(), new Float32Array(5)) > 1e-3);
  // Order matters (a convolution, not a bag of characters).
  const reversed = cnn.apply(tf.tensor3d([[[2, 9, 8, 7, 3]]], undefined, "int32"));
  assert.ok(maxAbsDiff(reversed.dataSync(), a.slice([0, 0, 0], [1, 1, 5]).dataSync()) > 1e-4);
  tf.dispose([narrow, wide, a, b, reversed]);
});

const CHAR_CONFIG = tinyConfig({ tokenizer: { charWidth: 10 }, train: { learningRate: 0.01 } });

Deno.test("character features tell apart unknown words with the same affixes", () => {
  const { model, tokenizer, batch } = tinySetup(CHAR_CONFIG);
  const encode = (words: string[]) =>
    batchToTensors(padBatch([encodeSentence({ words, labels: {} }, tokenizer, TASKS, 16)]));
  const a = encode(["Annlotes"]);
  const b = encode(["Annoltes"]); // same first and last three letters, same case
  assert.deepEqual(a.affixIds.arraySync(), b.affixIds.arraySync());
  assert.deepEqual(a.tokenIds.arraySync(), b.tokenIds.arraySync());
  const va = model.forward(a).sequenceOutput!.dataSync();
  const vb = model.forward(b).sequenceOutput!.dataSync();
  assert.ok(
    maxAbsDiff(va, vb) > 1e-4,
    `${maxAbsDiff(va, vb)} ${[...a.charIds!.dataSync()]} ${[...b.charIds!.dataSync()]}`,
  );
  disposeAll(model, batch, a, b);
});

Deno.test("training with character features lowers the loss, updates the CNN and leaks nothing", () => {
  const { model, batch } = tinySetup(CHAR_CONFIG);
  const names = [...model.parameters.entries()].map(([n]) => n).filter((n) =>
    n.startsWith("embeddings/char/")
  );
  assert.deepEqual(names.sort(), [
    "embeddings/char/conv/bias",
    "embeddings/char/conv/kernel",
    "embeddings/char/embedding",
    "embeddings/char/projection",
  ]);
  const before = snapshot(model, names);
  const trainer = new Trainer(model, { train: CHAR_CONFIG.train, seed: 1 });
  const losses = Array.from({ length: 30 }, () => trainer.trainStep(batch).loss);
  assert.ok(losses[29]! < losses[0]! * 0.5, `loss ${losses[0]} -> ${losses[29]}`);
  const after = snapshot(model, names);
  for (const n of names) assert.ok(!bitEqual(before.get(n)!, after.get(n)!), `${n} did not change`);
  assertNoTensorLeak(() => trainer.trainStep(batch));
  disposeAll(model, batch, trainer);
});

Deno.test("a model with character features saves and loads to the same predictions", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mtt-test-" });
  const config = tinyConfig({ tokenizer: { charWidth: 8 }, train: { epochs: 2 } });
  const { bundle, trainer } = await trainModel(SENTENCES, config, { tasks: TASKS });
  assert.equal(bundle.tokenizer.charWidth, 8);
  await saveModel(`${dir}/m`, bundle);
  const loaded = await loadModel(`${dir}/m`);
  const texts = ["Anna loves Zürich", "Quorbel hates rain"];
  assert.deepEqual(predict(loaded, texts), predict(bundle, texts));
  assert.deepEqual(loaded.tokenizer.chars, bundle.tokenizer.chars);
  bundle.model.dispose();
  loaded.model.dispose();
  trainer.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("several affix features per word flow through batches, splits and training", () => {
  const config = tinyConfig({
    tokenizer: { affixLengths: [1, 2, 3, 4], shapeFeature: true },
    train: { learningRate: 0.01 },
  });
  const { model, tokenizer, batch } = tinySetup(config);
  assert.equal(tokenizer.affixCount, 9);
  assert.deepEqual(batch.affixIds.shape, [...batch.tokenIds.shape, 9]);
  const padded = padBatch(SENTENCES.map((s) => encodeSentence(s, tokenizer, TASKS, 16)));
  assert.equal(padded.affixCount, 9);
  const [part] = splitBatch(padded, 2);
  assert.equal(part!.affixCount, 9);
  assert.deepEqual(part!.affixIds.subarray(9, 18), Int32Array.from(tokenizer.affixIds("Anna")));
  const trainer = new Trainer(model, { train: config.train, seed: 1 });
  const losses = Array.from({ length: 30 }, () => trainer.trainStep(batch).loss);
  assert.ok(losses[29]! < losses[0]! * 0.5, `loss ${losses[0]} -> ${losses[29]}`);
  disposeAll(model, batch, trainer);
});

Deno.test("embeddingDropout sets the rate on the input embeddings alone; null leaves it to dropout", () => {
  // No encoder layers: the only dropout in training mode is the one on the summed embeddings.
  const out = (model: { dropout: number; embeddingDropout: number | null }) => {
    const config = tinyConfig({ model: { numLayers: 0, ...model } });
    const { model: m, batch } = tinySetup(config);
    const train = m.forward(batch, { dropoutSeed: 7 }).sequenceOutput!.dataSync();
    const infer = m.forward(batch).sequenceOutput!.dataSync();
    disposeAll(m, batch);
    return maxAbsDiff(train, infer);
  };
  assert.equal(out({ dropout: 0.5, embeddingDropout: 0 }), 0);
  assert.ok(out({ dropout: 0, embeddingDropout: 0.5 }) > 0.1);
  assert.ok(out({ dropout: 0.5, embeddingDropout: null }) > 0.1);
  assert.equal(out({ dropout: 0, embeddingDropout: null }), 0);
  assert.throws(() => tinyConfig({ model: { embeddingDropout: 1 } }), /model.embeddingDropout/);
});

Deno.test("the local convolution sees exactly one neighbour each side, never padding", () => {
  // No encoder layers: a token's output depends on the embeddings of its window only.
  const config = tinyConfig({ model: { numLayers: 0, localConvWidth: 3, dropout: 0 } });
  const { model, batch } = tinySetup(config);
  assert.ok(model.parameters.names().includes("embeddings/local_conv/kernel"));
  const ids = batch.tokenIds.arraySync();
  const changed = ids.map((row) => row.slice());
  changed[2]![3] = 7; // sentence 2 ("Tim Cook hates rain in Oslo"), token 3
  const other = { ...batch, tokenIds: tf.tensor2d(changed, undefined, "int32") };
  const a = model.forward(batch).sequenceOutput!.arraySync()[2]!;
  const b = model.forward(other).sequenceOutput!.arraySync()[2]!;
  const moved = a.map((v, t) => maxAbsDiff(v, b[t]!) > 1e-6);
  assert.deepEqual(moved, [false, false, true, true, true, false, false]);
  // Padding content never reaches real tokens.
  const mask = batch.mask.arraySync();
  const padded = ids.map((row, s) => row.map((id, t) => mask[s]![t] === 1 ? id : 9));
  const c = model.forward({ ...batch, tokenIds: tf.tensor2d(padded, undefined, "int32") })
    .sequenceOutput!.mul(batch.mask.expandDims(2)).dataSync();
  const d = model.forward(batch).sequenceOutput!.mul(batch.mask.expandDims(2)).dataSync();
  assert.equal(maxAbsDiff(c, d), 0);
  assert.throws(() => tinyConfig({ model: { localConvWidth: 2 } }), /model.localConvWidth/);
  disposeAll(model, batch);
  other.tokenIds.dispose();
});
