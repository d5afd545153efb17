import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { mulberry32, type TaskSpec } from "../lib/core/mod.ts";
import { validateRecipe } from "../lib/experiments/mod.ts";
import { predictWords } from "../lib/inference/mod.ts";
import {
  crfNegativeLogLikelihood,
  loadModel,
  saveModel,
  TokenClassifier,
} from "../lib/model/mod.ts";
import { Trainer, trainModel } from "../lib/training/mod.ts";
import {
  assertNoTensorLeak,
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

/** log Σ exp(score) over every tag sequence of `words` words, and the gold sequence's score. */
function bruteForce(
  emissions: number[][],
  gold: number[],
  trans: number[][],
  start: number[],
): { logZ: number; goldScore: number } {
  const n = start.length, words = emissions.length;
  const score = (seq: number[]) =>
    seq.reduce(
      (s, t, w) => s + emissions[w]![t]! + (w === 0 ? start[t]! : trans[seq[w - 1]!]![t]!),
      0,
    );
  let sum = 0;
  for (let code = 0; code < n ** words; code++) {
    const seq: number[] = [];
    for (let w = 0, c = code; w < words; w++, c = Math.floor(c / n)) seq.push(c % n);
    sum += Math.exp(score(seq));
  }
  return { logZ: Math.log(sum), goldScore: score(gold) };
}

Deno.test("crfNegativeLogLikelihood() equals log Z − gold score by enumeration, skipping [CLS] and padding", () => {
  const random = mulberry32(7);
  const n = 3, seqLen = 6;
  const r = () => (random() - 0.5) * 4;
  const trans = Array.from({ length: n }, () => Array.from({ length: n }, r));
  const start = Array.from({ length: n }, r);
  // rows: 5 words, 2 words, 1 word, no labelled word; position 0 is [CLS]
  const lengths = [5, 2, 1, 0];
  const emissions = lengths.map(() =>
    Array.from({ length: seqLen }, () => Array.from({ length: n }, r))
  );
  const labels = lengths.map((len) =>
    Array.from({ length: seqLen }, (_, t) => t >= 1 && t <= len ? Math.floor(random() * n) : -1)
  );
  let expected = 0;
  lengths.forEach((len, b) => {
    if (len === 0) return;
    const { logZ, goldScore } = bruteForce(
      emissions[b]!.slice(1, len + 1),
      labels[b]!.slice(1, len + 1),
      trans,
      start,
    );
    expected += logZ - goldScore;
  });
  const words = lengths.reduce((a, b) => a + b, 0);
  const args = [
    tf.tensor3d(emissions),
    tf.tensor2d(labels, undefined, "int32"),
    tf.tensor2d(trans),
    tf.tensor1d(start),
  ] as const;
  const loss = crfNegativeLogLikelihood(...args);
  assert.ok(Math.abs(loss.dataSync()[0]! - expected / words) < 1e-4, `${loss.dataSync()[0]}`);
  const summed = crfNegativeLogLikelihood(...args, 1);
  assert.ok(Math.abs(summed.dataSync()[0]! - expected) < 1e-3);
  tf.dispose([...args, loss, summed]);
});

Deno.test("the CRF loss's gradient w.r.t. the emissions is the tag marginals minus the gold tags", () => {
  // One word: the CRF is a softmax over start + emission, so d loss / d emission = p − onehot.
  const emissions = tf.tensor3d([[[0, 0, 0], [1, 2, 0.5]]]);
  const labels = tf.tensor2d([[-1, 2]], undefined, "int32");
  const start = tf.tensor1d([0.5, 0, -1]);
  const trans = tf.zeros([3, 3]);
  const grad = tf.grad((e: tf.Tensor) => crfNegativeLogLikelihood(e, labels, trans, start))(
    emissions,
  );
  const logits = [1.5, 2, -0.5];
  const z = logits.reduce((a, x) => a + Math.exp(x), 0);
  const expected = [0, 0, 0, ...logits.map((x, c) => Math.exp(x) / z - (c === 2 ? 1 : 0))];
  const got = Array.from(grad.dataSync());
  expected.forEach((e, i) => assert.ok(Math.abs(got[i]! - e) < 1e-5, `${i}: ${got[i]} vs ${e}`));
  tf.dispose([emissions, labels, start, trans, grad]);
});

const CRF_TASKS: readonly TaskSpec[] = [{ ...TASKS[0]!, crf: true }, TASKS[1]!];

Deno.test("a CRF head trains: the loss falls, its transitions learn, no tensor leaks", () => {
  const config = tinyConfig({ train: { learningRate: 0.01 } });
  const { model, batch } = tinySetup(config, CRF_TASKS);
  assert.deepEqual(model.parameters.get("ner_head/transitions").shape, [5, 5]);
  const before = snapshot(model, ["ner_head/transitions", "ner_head/start"]);
  assert.ok(before.get("ner_head/transitions")!.every((x) => x === 0), "zero at initialisation");
  const trainer = new Trainer(model, { train: config.train, seed: 1 });
  const losses = Array.from({ length: 30 }, () => trainer.trainStep(batch).tasks.ner!.loss);
  assert.ok(losses[29]! < losses[0]! * 0.5, `loss ${losses[0]} -> ${losses[29]}`);
  const after = snapshot(model, ["ner_head/transitions", "ner_head/start"]);
  for (const [name, values] of before) assert.ok(!bitEqual(values, after.get(name)!), name);
  // O → I-PER never occurs in training: its score falls below O → O's.
  const t = after.get("ner_head/transitions")!;
  assert.ok(t[0 * 5 + 2]! < t[0 * 5 + 0]!, "O → I-PER below O → O");
  assertNoTensorLeak(() => trainer.trainStep(batch));
  disposeAll(model, batch, trainer);
});

Deno.test("predictions of a CRF task are decoded with its learned transitions", async () => {
  const config = tinyConfig({ train: { epochs: 1 } });
  const { bundle, trainer } = await trainModel(SENTENCES, config, { tasks: CRF_TASKS });
  const head = bundle.model.heads.get("ner") as TokenClassifier;
  assert.equal(head.crfTransitions()!.scores.length, 25);
  const words = [["Anna", "loves", "Rome"], ["Bob", "smiled"]];
  // Make B-LOC (index 3) the only sensible tag: a large start and transition score into it.
  const n = 5;
  bundle.model.parameters.get("ner_head/transitions").assign(
    tf.tensor2d(Array.from({ length: n * n }, (_, i) => i % n === 3 ? 100 : 0), [n, n]),
  );
  bundle.model.parameters.get("ner_head/start").assign(tf.tensor1d([0, 0, 0, 100, 0]));
  const tags = predictWords(bundle, words).map((p) => p.tags.ner);
  assert.deepEqual(tags, [["B-LOC", "B-LOC", "B-LOC"], ["B-LOC", "B-LOC"]]);
  // argmax decoding ignores the transitions
  const argmax = predictWords(bundle, words, { decoding: "argmax" }).map((p) => p.tags.ner);
  assert.notDeepEqual(argmax, tags);
  bundle.model.dispose();
  trainer.dispose();
});

Deno.test("a CRF model saves and loads: the flag, the transitions and the predictions", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mtt-crf-" });
  const config = tinyConfig({ train: { epochs: 2, learningRate: 0.01 } });
  const { bundle, trainer } = await trainModel(SENTENCES, config, { tasks: CRF_TASKS });
  await saveModel(`${dir}/m`, bundle);
  const loaded = await loadModel(`${dir}/m`);
  assert.equal(loaded.tasks[0]!.crf, true);
  const a = snapshot(bundle.model, ["ner_head/transitions", "ner_head/start"]);
  const b = snapshot(loaded.model, ["ner_head/transitions", "ner_head/start"]);
  for (const [name, values] of a) assert.ok(bitEqual(values, b.get(name)!), name);
  const words = SENTENCES.map((s) => s.words);
  assert.deepEqual(predictWords(loaded, words), predictWords(bundle, words));
  bundle.model.dispose();
  loaded.model.dispose();
  trainer.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a recipe's token task takes crf: true; a sentence task refuses it", () => {
  const files = { train: "a", dev: "b", test: "c" };
  const recipe = validateRecipe(
    { tasks: { ner: { kind: "token", crf: true, ...files } } },
    "r.json",
  );
  assert.equal((recipe.tasks.ner as { crf: boolean }).crf, true);
  assert.throws(
    () => validateRecipe({ tasks: { s: { kind: "sentence", crf: true, ...files } } }, "r.json"),
    /crf/,
  );
});
