import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { cosineSimilarity, embed, predict, tagsToSpans, trainModel } from "../lib/mod.ts";
import { LABELS, SENTENCES, setup, tinyConfig } from "./_helpers.ts";

await setup();

const { bundle, trainer } = await trainModel(
  SENTENCES,
  tinyConfig({
    model: { hiddenSize: 16 },
    train: { epochs: 40, batchSize: 6, learningRate: 0.01 },
  }),
  { labels: LABELS },
);
trainer.dispose();

Deno.test("predict() tags words, decodes entities and classifies sentiment", () => {
  const [p] = predict(bundle, ["Anna loves Rome"]);
  assert.deepEqual(p!.words, ["Anna", "loves", "Rome"]);
  assert.deepEqual(p!.tags, ["B-PER", "O", "B-LOC"]);
  assert.deepEqual(p!.entities.map((e) => [e.type, e.text]), [["PER", "Anna"], ["LOC", "Rome"]]);
  assert.equal(p!.sentiment.label, "positive");
  const total = Object.values(p!.sentiment.probabilities).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(total - 1) < 1e-5);
});

Deno.test("predict() entities always agree with the predicted tags", () => {
  for (const p of predict(bundle, ["Tim Cook hates rain in Oslo", "New York , Paris and Bob"])) {
    assert.equal(p.tags.length, p.words.length);
    assert.deepEqual(
      p.entities.map(({ type, start, end }) => ({ type, start, end })),
      tagsToSpans(p.tags),
    );
  }
});

Deno.test("predict() marks and handles text longer than maxLength", () => {
  const long = Array.from({ length: 30 }, (_, i) => `w${i}`).join(" ");
  const [p] = predict(bundle, [long]);
  assert.equal(p!.truncated, true);
  assert.equal(p!.tags.length, 30);
  assert.deepEqual(p!.tags.slice(15), new Array(15).fill("O"));
});

Deno.test("predict() gives the same answer alone and in a batch", () => {
  const texts = ["Anna loves Rome", "Paris was grim today and Bob smiled"];
  const together = predict(bundle, texts);
  const alone = texts.map((t) => predict(bundle, [t])[0]);
  assert.deepEqual(together.map((p) => p.tags), alone.map((p) => p!.tags));
});

Deno.test("embed() returns one fixed-length vector per sentence without leaking", () => {
  const before = tf.memory().numTensors;
  const vectors = embed(bundle, ["Anna loves Rome", "Rome is awful", "x"], { normalize: true });
  assert.equal(tf.memory().numTensors, before);
  assert.equal(vectors.length, 3);
  for (const v of vectors) {
    assert.equal(v.length, 16);
    assert.ok(Math.abs(cosineSimilarity(v, v) - 1) < 1e-6);
  }
});
