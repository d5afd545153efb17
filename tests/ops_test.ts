import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { LAYER_NORM_EPSILON, layerNorm, maxOverAxis1 } from "../lib/model/mod.ts";
import { maxAbsDiff, setup } from "./_helpers.ts";

await setup();

/** Layer normalisation by its definition, differentiated automatically. */
function reference(x: tf.Tensor, gamma: tf.Tensor1D, beta: tf.Tensor1D): tf.Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  return x.sub(mean).div(variance.add(LAYER_NORM_EPSILON).sqrt()).mul(gamma).add(beta);
}

Deno.test("layerNorm() value and gradients match the definition (hand-written backward pass)", () => {
  const x = tf.randomNormal([3, 5, 16], 0.5, 2, "float32", 1);
  const gamma = tf.randomNormal([16], 1, 0.3, "float32", 2) as tf.Tensor1D;
  const beta = tf.randomNormal([16], 0, 0.3, "float32", 3) as tf.Tensor1D;
  const upstream = tf.randomNormal([3, 5, 16], 0, 1, "float32", 4);
  const loss = (f: typeof reference) => (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
    f(a, g as tf.Tensor1D, b as tf.Tensor1D).mul(upstream).sum() as tf.Scalar;
  assert.ok(
    maxAbsDiff(layerNorm(x, gamma, beta).dataSync(), reference(x, gamma, beta).dataSync()) < 1e-5,
  );
  const ours = tf.grads(loss(layerNorm))([x, gamma, beta]);
  const theirs = tf.grads(loss(reference))([x, gamma, beta]);
  ours.forEach((g, i) => {
    assert.deepEqual(g.shape, theirs[i]!.shape);
    assert.ok(maxAbsDiff(g.dataSync(), theirs[i]!.dataSync()) < 1e-4, `gradient ${i}`);
  });
  const normalised = layerNorm(x, tf.ones([16]) as tf.Tensor1D, tf.zeros([16]) as tf.Tensor1D);
  const { mean, variance } = tf.moments(normalised, -1);
  assert.ok(maxAbsDiff(mean.dataSync(), new Float32Array(15)) < 1e-5);
  assert.ok(maxAbsDiff(variance.dataSync(), new Float32Array(15).fill(1)) < 1e-3);
});

Deno.test("maxOverAxis1() value and gradient equal tf.max's, ties and tiny gaps included", () => {
  // Rounded values give ties; 1e-6 gaps check that "smaller by a little" is not a maximum.
  const x = tf.tidy(() => {
    const r = tf.randomNormal([4, 7, 6], 0, 1, "float32", 5).mul(2).round();
    return r.add(
      tf.randomUniform([4, 7, 6], 0, 1, "float32", 6).less(0.3).cast("float32").mul(1e-6),
    );
  }) as tf.Tensor3D;
  const upstream = tf.randomNormal([4, 6], 0, 1, "float32", 7);
  assert.deepEqual(maxOverAxis1(x).dataSync(), x.max(1).dataSync());
  const ours = tf.grad((v: tf.Tensor) => maxOverAxis1(v as tf.Tensor3D).mul(upstream).sum())(x);
  const theirs = tf.grad((v: tf.Tensor) => v.max(1).mul(upstream).sum())(x);
  assert.deepEqual(ours.dataSync(), theirs.dataSync());
  tf.dispose([x, upstream, ours, theirs]);
});
