import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { tagsToSpans } from "../lib/data/mod.ts";
import {
  cosineSimilarity,
  embed,
  InferencePool,
  iob2Allows,
  predict,
} from "../lib/inference/mod.ts";
import { trainModel } from "../lib/training/mod.ts";
import { maxAbsDiff, SENTENCES, setup, TASKS, tinyConfig } from "./_helpers.ts";

await setup();

const { bundle, trainer } = await trainModel(
  SENTENCES,
  tinyConfig({
    model: { hiddenSize: 16 },
    train: { epochs: 40, batchSize: 6, learningRate: 0.01 },
  }),
  { tasks: TASKS },
);
trainer.dispose();

Deno.test("predict() runs every task: tags and entities of ner, the label of sentiment", () => {
  const [p] = predict(bundle, ["Anna loves Rome"]);
  assert.deepEqual(p!.words, ["Anna", "loves", "Rome"]);
  assert.deepEqual(p!.tags, { ner: ["B-PER", "O", "B-LOC"] });
  assert.deepEqual(p!.entities.ner!.map((e) => [e.type, e.text]), [["PER", "Anna"], [
    "LOC",
    "Rome",
  ]]);
  assert.equal(p!.labels.sentiment!.label, "positive");
  const total = Object.values(p!.labels.sentiment!.probabilities).reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(total - 1) < 1e-5);
});

Deno.test("predict() entities always agree with the predicted tags", () => {
  for (const p of predict(bundle, ["Tim Cook hates rain in Oslo", "New York , Paris and Bob"])) {
    assert.equal(p.tags.ner!.length, p.words.length);
    assert.deepEqual(
      p.entities.ner!.map(({ type, start, end }) => ({ type, start, end })),
      tagsToSpans(p.tags.ner!),
    );
  }
});

Deno.test("predict() marks and handles text longer than maxLength", () => {
  const long = Array.from({ length: 30 }, (_, i) => `w${i}`).join(" ");
  const [p] = predict(bundle, [long]);
  assert.equal(p!.truncated, true);
  assert.equal(p!.tags.ner!.length, 30);
  assert.deepEqual(p!.tags.ner!.slice(15), new Array(15).fill("O"));
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

Deno.test("InferencePool on 2 workers predicts and embeds like one thread", async () => {
  const texts = [
    "Anna loves Rome",
    "Tim Cook hates rain in Oslo",
    "New York , Paris and Bob",
    "Bob",
    "rain in Paris makes Anna sad and Tim happy",
  ];
  const pool = await InferencePool.create(bundle, 2);
  try {
    assert.equal(pool.size, 2);
    for (const batchSize of [64, 3]) {
      const single = predict(bundle, texts, { batchSize });
      const parallel = await pool.predict(texts, { batchSize });
      assert.deepEqual(parallel.map((p) => p.tags), single.map((p) => p.tags));
      parallel.forEach((p, i) => {
        assert.equal(p.labels.sentiment!.label, single[i]!.labels.sentiment!.label);
        for (const [label, prob] of Object.entries(p.labels.sentiment!.probabilities)) {
          assert.ok(Math.abs(prob - single[i]!.labels.sentiment!.probabilities[label]!) < 1e-5);
        }
        p.entities.ner!.forEach((e, j) =>
          assert.ok(Math.abs(e.score - single[i]!.entities.ner![j]!.score) < 1e-5)
        );
      });
    }
    const vectors = await pool.embed(texts, { normalize: true, batchSize: 3 });
    const reference = embed(bundle, texts, { normalize: true });
    assert.equal(vectors.length, texts.length);
    vectors.forEach((v, i) => assert.ok(maxAbsDiff(v, reference[i]!) < 1e-5));
  } finally {
    pool.close();
  }
  await assert.rejects(InferencePool.create(bundle, 0), /workers must be an integer >= 1, got 0/);
});

Deno.test("predict() decodings: argmax may be ill-formed, constrained and transitions are valid IOB2", () => {
  const ner = bundle.tasks.find((t) => t.name === "ner")!;
  assert.ok(ner.tagTransitions !== undefined, "training stores tag transitions");
  assert.equal(bundle.tasks.find((t) => t.name === "sentiment")!.tagTransitions, undefined);
  const texts = ["Tim Cook New York Bob Rome Anna", "in Oslo Paris rain Cook"];
  for (const decoding of ["constrained", "transitions"] as const) {
    for (const p of predict(bundle, texts, { decoding })) {
      const tags = p.tags.ner!;
      tags.forEach((t, i) =>
        assert.ok(iob2Allows(i === 0 ? null : tags[i - 1]!, t), `${decoding}: ${tags}`)
      );
    }
  }
  const argmax = predict(bundle, texts, { decoding: "argmax" });
  assert.equal(argmax.length, 2);
});
