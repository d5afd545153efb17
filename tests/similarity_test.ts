/** The sentence-pair similarity task: readers, metrics, loss, heads, training, scoring. */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { TaskSpec } from "../lib/core/mod.ts";
import { DataError } from "../lib/core/mod.ts";
import {
  encodeSentence,
  padBatch,
  type PairLabel,
  parsePairs,
  type Sentence,
  splitBatch,
  WordTokenizer,
} from "../lib/data/mod.ts";
import { pearson, scoreCorpora, spearman } from "../lib/evaluation/mod.ts";
import { cosineSimilarity, embedWords } from "../lib/inference/mod.ts";
import { PairSimilarity, similarityLoss } from "../lib/model/mod.ts";
import { ParallelTrainer, Trainer, trainModel } from "../lib/training/mod.ts";
import { disposeAll, maxAbsDiff, SENTENCES, setup, TASKS, tinyConfig } from "./_helpers.ts";

await setup();

const STSB = [
  "main-captions\tMSRvid\t2012test\t0001\t5.000\tA plane is taking off.\tAn air plane is taking off.",
  "main-news\theadlines\t2016\t0281\t2.5\tUS court limits power\tHigh court checks power\tEurope Media Monitor\tEurope Media Monitor",
  "main-forums\tdeft-forum\t2014\t0001\t0.000\tI like cats.\tThe stock fell!",
  "",
].join("\n");

Deno.test("parsePairs() reads the STS Benchmark (extra columns too) and JSON lines, scaling scores", () => {
  const pairs = parsePairs(STSB, "sts-train.csv", { task: "sts" });
  assert.equal(pairs.length, 3);
  assert.deepEqual(pairs[1]!.labels.sts, {
    other: ["High", "court", "checks", "power"],
    score: 0.5,
  });
  assert.deepEqual(pairs[2]!.words, ["I", "like", "cats", "."]);
  const jsonl = parsePairs(
    '{"a": "A dog runs.", "b": "A dog is running.", "score": 0.9}\n',
    "p.jsonl",
    {
      format: "jsonl",
    },
  );
  assert.deepEqual(jsonl[0]!.labels.similarity, {
    other: ["A", "dog", "is", "running", "."],
    score: 0.9,
  });
});

Deno.test("parsePairs() names the line and field of a bad score or a missing sentence", () => {
  const bad = (text: string, pattern: RegExp, format: "stsb" | "jsonl" = "stsb") =>
    assert.throws(() => parsePairs(text, "f.csv", { format }), (e: Error) => {
      assert.ok(e instanceof DataError);
      assert.match(e.message, pattern);
      return true;
    });
  bad(
    "g\tf\ty\t1\t7\ta b\tc d\n",
    /^Cannot load f.csv: line 1, field "score": expected a score in \[0, 5\], got 7$/,
  );
  bad("g\tf\ty\t1\tx\ta b\tc d\n", /line 1, field "score": expected a score in \[0, 5\], got null/);
  bad(
    "ok\tf\ty\t1\t1\ta\tb\ng\tf\ty\t1\t2\ta b\t\n",
    /line 2, field "sentence 2": missing sentence/,
  );
  bad("g\tf\ty\t1\t2\n", /line 1: expected at least 7 TAB-separated columns/);
  bad('{"a": "x", "score": 0.5}\n', /line 1, field "b": missing sentence/, "jsonl");
});

/** Spearman computed the long way: each value's rank counts the smaller ones and half the ties. */
function referenceSpearman(x: number[], y: number[]): number {
  const rank = (v: number[]) =>
    v.map((a) => 1 + v.filter((b) => b < a).length + (v.filter((b) => b === a).length - 1) / 2);
  const [rx, ry] = [rank(x), rank(y)];
  const mean = (v: number[]) => v.reduce((s, a) => s + a, 0) / v.length;
  const [mx, my] = [mean(rx), mean(ry)];
  const cov = rx.reduce((s, a, i) => s + (a - mx) * (ry[i]! - my), 0);
  const sd = (v: number[], m: number) => Math.sqrt(v.reduce((s, a) => s + (a - m) ** 2, 0));
  return cov / (sd(rx, mx) * sd(ry, my));
}

Deno.test("spearman() equals a hand-computed reference, ties included", () => {
  const gold = [0.2, 0.8, 0.8, 0.4, 1, 0, 0.4, 0.8];
  const predicted = [0.1, 0.7, 0.9, 0.9, 0.95, -0.2, 0.3, 0.5];
  assert.ok(Math.abs(spearman(predicted, gold) - referenceSpearman(predicted, gold)) < 1e-12);
  assert.ok(Math.abs(spearman([1, 2, 2, 3], [1, 3, 2, 4]) - 4.5 / Math.sqrt(22.5)) < 1e-12);
  assert.ok(Math.abs(pearson([1, 2, 3, 4], [2, 1, 4, 3]) - 0.6) < 1e-12);
});

Deno.test("the similarity loss's gradient through cosine similarity is the hand-computed one", () => {
  const head = new PairSimilarity({ name: "sts", kind: "pair", numLabels: 0 }, {
    hiddenSize: 2,
    dropout: 0,
    initializerRange: 0.02,
    pooling: "mean",
  });
  // One pair: a = [1, 0], b = [1, 1], gold 1. cos = 1/√2; loss = (cos − 1)²;
  // ∂loss/∂a = 2(cos − 1)·(b/(|a||b|) − cos·a/|a|²) = 2(cos − 1)·[0, 1/√2].
  const mask = tf.ones([2, 1]) as tf.Tensor2D;
  const grad = tf.grad((x: tf.Tensor) => {
    const cos = head.apply({ sequenceOutput: x as tf.Tensor3D, mask });
    return similarityLoss(cos, tf.tensor1d([1]));
  })(tf.tensor3d([[[1, 0]], [[1, 1]]]));
  const cos = 1 / Math.SQRT2;
  const expected = [0, 2 * (cos - 1) * cos];
  assert.ok(maxAbsDiff(grad.dataSync().slice(0, 2), expected) < 1e-6, `${grad.dataSync()}`);
});

const PAIRS: Sentence[] = [
  ["a man plays a guitar", "a man is playing a guitar", 1],
  ["a woman slices an onion", "a woman is cutting an onion", 0.9],
  ["a cat sleeps", "the stock market fell", 0],
  ["Anna loves Rome", "Rome loves Anna", 0.6],
  ["a dog runs in the park", "a man plays a guitar", 0.05],
  ["Tim Cook hates rain", "rain is hated by Tim Cook", 0.8],
].map(([a, b, score]) => ({
  words: (a as string).split(" "),
  labels: { sts: { other: (b as string).split(" "), score: score as number } },
}));

const ALL_TASKS: TaskSpec[] = [...TASKS, {
  name: "sts",
  kind: "pair",
  labels: [],
  metric: "spearman",
}];

Deno.test("pair batches hold both halves; splitting keeps each pair's halves together", () => {
  const tok = WordTokenizer.fit(PAIRS.map((p) => p.words), tinyConfig().tokenizer);
  const encoded = PAIRS.map((p) => encodeSentence(p, tok, ALL_TASKS, 16));
  const batch = padBatch(encoded.slice(0, 3));
  assert.equal(batch.batch, 6);
  assert.deepEqual([...batch.pairScores!.sts!], [1, 0.9, 0].map(Math.fround));
  const [a, b] = splitBatch(batch, 2);
  assert.equal(a!.batch, 4); // pairs 0 and 1: rows 0, 1 and their second halves
  assert.equal(b!.batch, 2);
  assert.deepEqual([...b!.pairScores!.sts!], [0]);
  assert.deepEqual([...b!.tokenIds.subarray(0, b!.seqLen)], [
    ...batch.tokenIds.subarray(2 * batch.seqLen, 2 * batch.seqLen + b!.seqLen),
  ]);
  assert.throws(
    () => padBatch([encoded[0]!, encodeSentence(SENTENCES[0]!, tok, ALL_TASKS, 16)]),
    /mixes sentence pairs/,
  );
});

Deno.test("training a similarity task beside NER and sentiment fits its pairs", async () => {
  const config = tinyConfig({
    model: { hiddenSize: 16 },
    train: { epochs: 30, batchSize: 3, learningRate: 0.01, taskSampling: "round-robin" },
  });
  const data = { train: [...SENTENCES, ...PAIRS], validation: [] };
  const before = await trainModel(data, { ...config, train: { ...config.train, epochs: 0 } }, {
    tasks: ALL_TASKS,
  });
  const after = await trainModel(data, config, { tasks: ALL_TASKS });
  const score = (bundle: typeof after.bundle) => scoreCorpora(bundle, { sts: PAIRS }).sts!;
  const s0 = score(before.bundle), s1 = score(after.bundle);
  assert.equal(s1.metric, "spearman");
  assert.ok(s1.score > s0.score && s1.score > 0.8, `Spearman ${s0.score} -> ${s1.score}`);
  // The score is Spearman of the embeddings' cosine against the gold scores.
  const [first, second] = [
    PAIRS.map((p) => p.words),
    PAIRS.map((p) => [...(p.labels.sts as PairLabel).other]),
  ];
  const a = embedWords(after.bundle, first), b = embedWords(after.bundle, second);
  const cos = a.map((v, i) => cosineSimilarity(v, b[i]!));
  const gold = PAIRS.map((p) => (p.labels.sts as PairLabel).score);
  assert.ok(Math.abs(s1.similarity!.spearman - referenceSpearman(cos, gold)) < 1e-12);
  assert.ok(after.history.at(-1)!.tasks.sts!.loss < after.history[0]!.tasks.sts!.loss);
  disposeAll(before.bundle.model, before.trainer, after.bundle.model, after.trainer);
});

Deno.test("two replicas train pair batches like one", async () => {
  const config = tinyConfig({ model: { dropout: 0 }, train: { learningRate: 0.01 } });
  const tok = WordTokenizer.fit(PAIRS.map((p) => p.words), config.tokenizer);
  const encoded = PAIRS.map((p) => encodeSentence(p, tok, ALL_TASKS, 16));
  const { MultiTaskModel, modelDims } = await import("../lib/model/mod.ts");
  const make = () => new MultiTaskModel(config.model, modelDims(tok, ALL_TASKS), config.seed);
  const single = make(), parallel = make();
  const trainer = new Trainer(single, { train: config.train, seed: config.seed });
  const runner = await ParallelTrainer.create(parallel, config, { replicas: 2 });
  try {
    for (const batch of [encoded.slice(0, 3), encoded.slice(3), encoded.slice(0, 1)]) {
      const x = trainer.trainPadded(padBatch(batch)).loss;
      const y = (await runner.trainPadded(padBatch(batch))).loss;
      assert.ok(Math.abs(x - y) < 1e-4, `${x} vs ${y}`);
    }
  } finally {
    runner.close();
    disposeAll(single, parallel, trainer);
  }
});

Deno.test("eval --similarity scores any model's embeddings: Spearman equals the hand-computed reference", async () => {
  const { saveModel } = await import("../lib/model/mod.ts");
  const { runTask } = await import("./_helpers.ts");
  const dir = await Deno.makeTempDir({ prefix: "mtt-sts-" });
  const { bundle, trainer } = await trainModel(SENTENCES, tinyConfig({ train: { epochs: 1 } }), {
    tasks: TASKS,
  });
  await saveModel(`${dir}/m`, bundle);
  // Gold scores with ties (two 4.0s, two 1.0s).
  const rows = [
    ["Anna loves Rome", "Anna loves Oslo", "4.0"],
    ["Tim Cook hates rain", "Tim hates the rain", "4.0"],
    ["Bob is sad", "Rome loves Anna", "1.0"],
    ["the stock fell", "Anna loves Rome", "0.0"],
    ["Bob smiled", "Bob is happy", "3.2"],
    ["rain in Oslo", "Tim Cook visited Paris", "1.0"],
  ];
  await Deno.writeTextFile(
    `${dir}/sts.csv`,
    rows.map((r, i) => `g\tf\ty\t${i}\t${r[2]}\t${r[0]}\t${r[1]}`).join("\n") + "\n",
  );
  const result = await runTask([
    "task",
    "-q",
    "eval",
    "--model",
    `${dir}/m`,
    "--similarity",
    `${dir}/sts.csv`,
    "--json",
  ]);
  assert.equal(result.code, 0, result.stderr);
  const { similarity } = JSON.parse(result.stdout);
  const a = embedWords(bundle, rows.map((r) => r[0]!.split(" "))),
    b = embedWords(bundle, rows.map((r) => r[1]!.split(" ")));
  const cos = a.map((v, i) => cosineSimilarity(v, b[i]!));
  const gold = rows.map((r) => Number(r[2]) / 5);
  assert.equal(similarity.metric, "spearman");
  assert.equal(similarity.similarity.pairs, 6);
  assert.ok(Math.abs(similarity.similarity.spearman - referenceSpearman(cos, gold)) < 1e-6);
  assert.ok(Math.abs(similarity.similarity.pearson - pearson(cos, gold)) < 1e-6);
  const text = await runTask([
    "task",
    "-q",
    "eval",
    "--model",
    `${dir}/m`,
    "--similarity",
    `${dir}/sts.csv`,
  ]);
  assert.match(
    text.stdout,
    /similarity .*sts\.csv: 6 pairs; cosine vs gold: Spearman -?\d+\.\d\d, Pearson -?\d+\.\d\d/,
  );
  bundle.model.dispose();
  trainer.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("scoring on an inference pool equals scoring on this thread, pair tasks included", async () => {
  const { scoreCorporaParallel } = await import("../lib/evaluation/mod.ts");
  const { InferencePool } = await import("../lib/inference/mod.ts");
  const config = tinyConfig({ train: { epochs: 2, batchSize: 3 } });
  const { bundle, trainer } = await trainModel(
    { train: [...SENTENCES, ...PAIRS], validation: [] },
    config,
    { tasks: ALL_TASKS },
  );
  const corpora = { ner: SENTENCES, sentiment: SENTENCES, sts: PAIRS };
  const pool = await InferencePool.create(bundle, 2);
  try {
    const parallel = await scoreCorporaParallel(pool, corpora);
    const single = scoreCorpora(bundle, corpora);
    assert.deepEqual(Object.keys(parallel).sort(), ["ner", "sentiment", "sts"]);
    for (const task of Object.keys(single)) {
      assert.ok(Math.abs(parallel[task]!.score - single[task]!.score) < 1e-9, task);
    }
  } finally {
    pool.close();
    disposeAll(bundle.model, trainer);
  }
});
