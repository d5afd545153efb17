/**
 * Label smoothing of a task's cross-entropy: the loss's value, its path from a
 * task entry to the head, and its place in the saved tasks.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { type TaskSpec, validateTasks } from "../lib/core/mod.ts";
import { validateRecipe } from "../lib/experiments/mod.ts";
import { loadModel, maskedCrossEntropy, saveModel, taskLoss } from "../lib/model/mod.ts";
import { Trainer, trainModel } from "../lib/training/mod.ts";
import {
  assertNoTensorLeak,
  disposeAll,
  SENTENCES,
  setup,
  TASKS,
  tinyConfig,
  tinySetup,
} from "./_helpers.ts";

await setup();

const SMOOTHED: readonly TaskSpec[] = TASKS.map((t) =>
  t.name === "sentiment" ? { ...t, labelSmoothing: 0.2 } : t
);

/** −Σ target · log softmax(logits), by hand. */
function crossEntropy(logits: number[], target: number[]): number {
  const z = Math.log(logits.reduce((a, x) => a + Math.exp(x), 0));
  return -logits.reduce((a, x, i) => a + target[i]! * (x - z), 0);
}

Deno.test("maskedCrossEntropy() with smoothing ε targets 1 − ε + ε/K on the label and ε/K elsewhere", () => {
  const logits = [[2, 0, -1], [0.5, 0.5, 3], [9, 9, 9]];
  const labels = [0, 2, -1]; // the third row is unlabelled
  const got = tf.tidy(() =>
    maskedCrossEntropy(tf.tensor2d(logits), tf.tensor1d(labels, "int32"), undefined, 0.3)
      .dataSync()[0]!
  );
  const expected = (crossEntropy(logits[0]!, [0.8, 0.1, 0.1]) +
    crossEntropy(logits[1]!, [0.1, 0.1, 0.8])) / 2;
  assert.ok(Math.abs(got - expected) < 1e-5, `${got} vs ${expected}`);
  // ε = 0 is the plain cross-entropy; with ε > 0 a confident right answer still costs something.
  const plain = tf.tidy(() =>
    maskedCrossEntropy(tf.tensor2d([[20, 0]]), tf.tensor1d([0], "int32")).dataSync()[0]!
  );
  const smoothed = tf.tidy(() =>
    maskedCrossEntropy(tf.tensor2d([[20, 0]]), tf.tensor1d([0], "int32"), undefined, 0.2)
      .dataSync()[0]!
  );
  assert.ok(plain < 1e-6 && Math.abs(smoothed - crossEntropy([20, 0], [0.9, 0.1])) < 1e-4);
});

Deno.test("a task's labelSmoothing reaches its head's loss and leaves the other tasks' alone", () => {
  const { model, batch } = tinySetup(tinyConfig(), SMOOTHED);
  tf.tidy(() => {
    const out = model.forward(batch);
    const sentiment = out.outputs.sentiment!;
    const gold = batch.sentenceLabels.sentiment!;
    const head = model.heads.get("sentiment")!;
    assert.equal(head.spec.labelSmoothing, 0.2);
    const loss = taskLoss(head, sentiment, gold).dataSync()[0]!;
    const expected = maskedCrossEntropy(sentiment, gold, undefined, 0.2).dataSync()[0]!;
    const unsmoothed = maskedCrossEntropy(sentiment, gold).dataSync()[0]!;
    assert.equal(loss, expected);
    assert.notEqual(loss, unsmoothed);
    const ner = model.heads.get("ner")!;
    assert.equal(ner.spec.labelSmoothing, undefined);
    assert.equal(
      taskLoss(ner, out.outputs.ner!, batch.tokenLabels.ner!).dataSync()[0]!,
      maskedCrossEntropy(out.outputs.ner!, batch.tokenLabels.ner!).dataSync()[0]!,
    );
  });
  disposeAll(model, batch);
});

Deno.test("a smoothed task trains (the loss falls, no tensor leaks), saves and loads with its ε", async () => {
  const config = tinyConfig({ train: { learningRate: 0.01 } });
  const { model, batch } = tinySetup(config, SMOOTHED);
  const trainer = new Trainer(model, { train: config.train, seed: 1 });
  const losses = Array.from({ length: 20 }, () => trainer.trainStep(batch).tasks.sentiment!.loss);
  assert.ok(losses[19]! < losses[0]!, `loss ${losses[0]} -> ${losses[19]}`);
  assertNoTensorLeak(() => trainer.trainStep(batch));
  disposeAll(model, batch, trainer);

  const dir = await Deno.makeTempDir({ prefix: "mtt-smooth-" });
  const trained = await trainModel(SENTENCES, tinyConfig({ train: { epochs: 1 } }), {
    tasks: SMOOTHED,
  });
  await saveModel(`${dir}/m`, trained.bundle);
  const loaded = await loadModel(`${dir}/m`);
  assert.equal(loaded.tasks.find((t) => t.name === "sentiment")!.labelSmoothing, 0.2);
  assert.equal(loaded.model.heads.get("sentiment")!.spec.labelSmoothing, 0.2);
  trained.bundle.model.dispose();
  trained.trainer.dispose();
  loaded.model.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("labelSmoothing is refused for pair tasks, CRF heads and out of range", () => {
  const files = { train: "a", dev: "b", test: "c" };
  const recipe = validateRecipe(
    { tasks: { s: { kind: "sentence", labelSmoothing: 0.1, ...files } } },
    "r.json",
  );
  assert.equal((recipe.tasks.s as { labelSmoothing: number }).labelSmoothing, 0.1);
  assert.throws(
    () =>
      validateRecipe(
        { tasks: { s: { kind: "sentence", labelSmoothing: 0.7, ...files } } },
        "r.json",
      ),
    /field "tasks.s.labelSmoothing"/,
  );
  assert.throws(
    () =>
      validateRecipe(
        { tasks: { p: { kind: "pair", labelSmoothing: 0.1, dev: "b", train: "a" } } },
        "r.json",
      ),
    /field "tasks.p": unknown field "labelSmoothing"|tasks.p.labelSmoothing/,
  );
  const ner = TASKS[0]!;
  assert.throws(
    () => validateTasks([{ ...ner, crf: true, labelSmoothing: 0.1 }]),
    /not a pair task or a CRF/,
  );
  assert.throws(
    () => validateTasks([{ ...ner, labelSmoothing: 1 }]),
    /labelSmoothing must be in \[0, 1\)/,
  );
});
