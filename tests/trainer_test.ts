import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Adam, Trainer } from "../lib/training/mod.ts";
import {
  assertNoTensorLeak,
  assertUnchanged,
  disposeAll,
  setup,
  snapshot,
  tinyConfig,
  tinySetup,
} from "./_helpers.ts";

await setup();

Deno.test("a few training steps lower the loss on a tiny config", () => {
  const config = tinyConfig({ train: { learningRate: 0.01 } });
  const { model, batch } = tinySetup(config);
  const trainer = new Trainer(model, { train: config.train, seed: 1 });
  const losses = Array.from({ length: 30 }, () => trainer.trainStep(batch).loss);
  assert.ok(losses[29]! < losses[0]! * 0.5, `loss ${losses[0]} -> ${losses[29]}`);
  disposeAll(model, batch, trainer);
});

Deno.test("trainStep() reports losses, accuracy counts and the scheduled rate", () => {
  const config = tinyConfig();
  const { model, batch } = tinySetup(config);
  const trainer = new Trainer(model, { train: config.train, seed: 1 });
  const m = trainer.trainStep(batch);
  assert.deepEqual(Object.keys(m.tasks), ["ner", "sentiment"]);
  assert.equal(m.tasks.ner!.total, 22); // words in SENTENCES
  assert.equal(m.tasks.sentiment!.total, 6);
  assert.ok(m.tasks.ner!.correct >= 0 && m.tasks.ner!.correct <= 22);
  assert.ok(Math.abs(m.loss - (m.tasks.ner!.loss + m.tasks.sentiment!.loss)) < 1e-5);
  assert.equal(m.tasks.ner!.weight, 1);
  assert.equal(m.learningRate, 0.001);
  assert.equal(trainer.trainStep(batch).learningRate, 0.001 / 1.01);
  assert.equal(trainer.step, 2);
  disposeAll(model, batch, trainer);
});

Deno.test("trainStep() does not leak tensors after a warm-up", () => {
  const config = tinyConfig({ model: { dropout: 0.1 } });
  const { model, batch } = tinySetup(config);
  const trainer = new Trainer(model, { train: config.train, seed: 1 });
  assertNoTensorLeak(() => trainer.trainStep(batch));
  disposeAll(model, batch, trainer);
});

Deno.test("training is deterministic for a seed, dropout included", () => {
  const config = tinyConfig({ model: { dropout: 0.2 } });
  const run = (seed: number) => {
    const { model, batch } = tinySetup(config);
    const trainer = new Trainer(model, { train: config.train, seed });
    const losses = Array.from({ length: 4 }, () => trainer.trainStep(batch).loss);
    disposeAll(model, batch, trainer);
    return losses;
  };
  assert.deepEqual(run(1), run(1));
  assert.notDeepEqual(run(1), run(2));
});

Deno.test("parameters left out of `trainable` stay bit-for-bit unchanged", () => {
  const config = tinyConfig();
  const { model, batch } = tinySetup(config);
  const frozen = model.parameters.names().filter((n) => n.startsWith("embeddings/"));
  const before = snapshot(model, frozen);
  const others = snapshot(model, model.parameters.names().filter((n) => !frozen.includes(n)));
  const trainer = new Trainer(model, {
    train: config.train,
    seed: 1,
    trainable: (n) => !n.startsWith("embeddings/"),
  });
  for (let i = 0; i < 3; i++) trainer.trainStep(batch);
  assertUnchanged(model, before);
  assert.throws(() => assertUnchanged(model, others));
  assert.ok(trainer.optimizer.stateNames().every((n) => !frozen.includes(n)));
  disposeAll(model, batch, trainer);
});

Deno.test("Adam's first update moves each weight by the learning rate", () => {
  const w = tf.variable(tf.tensor1d([0, 0, 0]));
  const adam = new Adam();
  adam.apply([["w", w]], { w: tf.tensor1d([2, -3, 0.5]) }, () => 0.01);
  const moved = Array.from(w.dataSync());
  moved.forEach((x, i) => assert.ok(Math.abs(Math.abs(x) - 0.01) < 1e-7, `weight ${i}: ${x}`));
  assert.ok(moved[0]! < 0 && moved[1]! > 0);
  adam.dispose();
});

Deno.test("Adam with a gradient scale equals Adam on the scaled gradients (PyTorch's rule)", () => {
  const grads = [[0.3, -2, 0.01], [1.5, 0.2, -0.7], [-0.4, 0.9, 3]];
  const scales = [0.5, 1, 0.25];
  const a = tf.variable(tf.tensor1d([0.1, -0.2, 0.3]));
  const b = tf.variable(tf.tensor1d([0.1, -0.2, 0.3]));
  const folded = new Adam(), plain = new Adam();
  // PyTorch reference: m = β1·m + (1−β1)·g; v = β2·v + (1−β2)·g²;
  // w −= lr · (m / (1−β1^t)) / (√(v / (1−β2^t)) + ε), with g the scaled gradient.
  const w = [0.1, -0.2, 0.3], m = [0, 0, 0], v = [0, 0, 0];
  grads.forEach((g, t) => {
    folded.apply([["w", a]], { w: tf.tensor1d(g) }, () => 0.01, tf.scalar(scales[t]!));
    plain.apply([["w", b]], { w: tf.tensor1d(g.map((x) => x * scales[t]!)) }, () => 0.01);
    g.forEach((x, i) => {
      const sg = x * scales[t]!;
      m[i] = 0.9 * m[i]! + 0.1 * sg;
      v[i] = 0.999 * v[i]! + 0.001 * sg * sg;
      w[i]! -= 0.01 * (m[i]! / (1 - 0.9 ** (t + 1))) /
        (Math.sqrt(v[i]! / (1 - 0.999 ** (t + 1))) + 1e-8);
    });
  });
  const [fa, pa] = [Array.from(a.dataSync()), Array.from(b.dataSync())];
  fa.forEach((x, i) => {
    assert.ok(Math.abs(x - pa[i]!) < 1e-6, `folded ${x} vs scaled ${pa[i]}`);
    assert.ok(Math.abs(x - w[i]!) < 1e-6, `folded ${x} vs reference ${w[i]}`);
  });
  folded.dispose();
  plain.dispose();
});

Deno.test("AdamW decays weights by lr * weightDecay on top of the Adam step", () => {
  const w = tf.variable(tf.tensor1d([1, 1]));
  const adam = new Adam({ weightDecay: 0.1, decayFilter: (n) => n === "w" });
  adam.apply([["w", w]], { w: tf.tensor1d([0, 0]) }, () => 0.5);
  // Zero gradient: only the decoupled decay acts, w *= 1 - 0.5 * 0.1.
  assert.deepEqual(Array.from(w.dataSync()), [0.949999988079071, 0.949999988079071]);
  adam.dispose();
});
