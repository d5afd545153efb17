/**
 * The WASM kernel fixes against the `cpu` backend: matmul in every transpose
 * and batch layout, segment sums, and a whole training step's loss and gradients.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/backend/mod.ts";
import { maskedCrossEntropy, modelDims, MultiTaskModel } from "../lib/model/mod.ts";
import { maxAbsDiff, TASKS, tinyConfig, tinySetup } from "./_helpers.ts";

async function onBoth<T>(fn: () => T): Promise<{ wasm: T; cpu: T }> {
  await initBackend("wasm");
  const wasm = fn();
  await initBackend("cpu");
  const cpu = fn();
  await initBackend("wasm");
  return { wasm, cpu };
}

const CASES: [number[], number[], boolean, boolean][] = [
  [[5, 7], [7, 3], false, false],
  [[7, 5], [7, 3], true, false],
  [[5, 7], [3, 7], false, true],
  [[7, 5], [3, 7], true, true],
  [[2, 5, 7], [2, 7, 3], false, false],
  [[2, 7, 5], [2, 3, 7], true, true],
  [[2, 3, 5, 4], [2, 3, 5, 4], false, true],
  [[2, 3, 4, 5], [2, 3, 4, 6], true, false],
  [[2, 5, 7], [7, 3], false, false],
  [[5, 7], [4, 7, 3], false, false],
];

Deno.test("BatchMatMul on wasm matches cpu for every transpose and batch layout", async () => {
  const { wasm, cpu } = await onBoth(() =>
    CASES.map(([sa, sb, ta, tb], i) =>
      tf.tidy(() => {
        const a = tf.randomNormal(sa, 0, 1, "float32", 10 + i);
        const b = tf.randomNormal(sb, 0, 1, "float32", 50 + i);
        return tf.matMul(a, b, ta, tb).dataSync();
      })
    )
  );
  CASES.forEach((c, i) => {
    assert.ok(maxAbsDiff(wasm[i]!, cpu[i]!) < 1e-4, `case ${JSON.stringify(c)}`);
  });
});

Deno.test("UnsortedSegmentSum on wasm sums rows per segment and drops out-of-range ids", async () => {
  const { wasm, cpu } = await onBoth(() =>
    tf.unsortedSegmentSum(
      tf.tensor2d([[1, 2], [3, 4], [5, 6], [7, 8]]),
      tf.tensor1d([2, 0, 2, 1], "int32"),
      4,
    ).arraySync()
  );
  assert.deepEqual(wasm, [[3, 4], [7, 8], [6, 8], [0, 0]]);
  assert.deepEqual(wasm, cpu);
});

Deno.test("a training step's loss and gradients on wasm match cpu", async () => {
  const config = tinyConfig({ model: { dropout: 0 } });
  const step = () => {
    const { model, batch } = tinySetup(config);
    const vars = model.parameters.entries();
    const { value, grads } = tf.variableGrads(() => {
      const out = model.forward(batch);
      return maskedCrossEntropy(out.outputs.ner!, batch.tokenLabels.ner!)
        .add(
          maskedCrossEntropy(out.outputs.sentiment!, batch.sentenceLabels.sentiment!),
        ) as tf.Scalar;
    }, vars.map(([, v]) => v));
    const result = {
      loss: value.dataSync()[0]!,
      grads: Object.fromEntries(vars.map(([name, v]) => [name, grads[v.name]!.dataSync()])),
    };
    model.dispose();
    return result;
  };
  const { wasm, cpu } = await onBoth(step);
  assert.ok(Math.abs(wasm.loss - cpu.loss) < 1e-5, `loss ${wasm.loss} vs ${cpu.loss}`);
  for (const name of Object.keys(cpu.grads)) {
    const g = cpu.grads[name]!;
    const scale = Math.max(1e-3, ...Array.from(g, Math.abs));
    assert.ok(maxAbsDiff(wasm.grads[name]!, g) / scale < 1e-3, `gradient of ${name}`);
  }
  // The embedding gradient really flows through the segment-sum kernel.
  assert.ok(Array.from(wasm.grads["embeddings/token"]!).some((x) => x !== 0));
});

Deno.test("float32 one-hot targets via int32 are correct on wasm", async () => {
  await initBackend("wasm");
  const loss = maskedCrossEntropy(tf.tensor2d([[10, 0, 0]]), tf.tensor1d([1], "int32"));
  assert.ok(Math.abs(loss.dataSync()[0]! - 10) < 1e-3);
  new MultiTaskModel(tinyConfig().model, modelDims({ vocabSize: 4, affixBuckets: 0 }, TASKS), 0)
    .dispose();
});

Deno.test("Identity on wasm shares memory: a clone outlives its source and frees once", async () => {
  await initBackend("wasm");
  const before = tf.memory();
  const x = tf.tensor2d([[1, 2], [3, 4]]);
  const y = tf.clone(x);
  assert.equal(
    (y as unknown as { dataId: object }).dataId,
    (x as unknown as { dataId: object }).dataId,
  );
  x.dispose();
  assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3, 4]);
  const v = tf.variable(y);
  const nines = tf.tensor2d([[9, 9], [9, 9]]);
  v.assign(nines);
  nines.dispose();
  assert.deepEqual(Array.from(y.dataSync()), [1, 2, 3, 4], "assign does not write through");
  y.dispose();
  v.dispose();
  assert.equal(tf.memory().numTensors, before.numTensors);
  assert.equal(tf.memory().numDataBuffers, before.numDataBuffers);
});
