/** Row-sparse ("lazy") updates of the embedding tables. */
import assert from "node:assert/strict";
import { type Config } from "../lib/core/mod.ts";
import {
  batchToTensors,
  distinctRows,
  encodeSentence,
  padBatch,
  WordTokenizer,
} from "../lib/data/mod.ts";
import { AFFIX_EMBEDDING, TOKEN_EMBEDDING } from "../lib/model/mod.ts";
import { ParallelTrainer, Trainer } from "../lib/training/mod.ts";
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

const config = (embeddingUpdates: "dense" | "lazy"): Config =>
  tinyConfig({ model: { dropout: 0 }, train: { learningRate: 0.01, embeddingUpdates } });

function batchOf(indices: number[], c: Config) {
  const tokenizer = WordTokenizer.fit(SENTENCES.map((s) => s.words), c.tokenizer);
  return padBatch(
    indices.map((i) => encodeSentence(SENTENCES[i]!, tokenizer, TASKS, c.model.maxLength)),
  );
}

function moments(trainer: Trainer, name: string): { m: Float32Array; v: Float32Array } {
  const { moments } = trainer.optimizer.getState();
  return { m: moments[`${name}/m`]!.values, v: moments[`${name}/v`]!.values };
}

Deno.test("lazy updates equal dense ones when every step reads the same rows", () => {
  const dense = tinySetup(config("dense"));
  const lazy = tinySetup(config("lazy"));
  const a = new Trainer(dense.model, { train: config("dense").train, seed: 1 });
  const b = new Trainer(lazy.model, { train: config("lazy").train, seed: 1 });
  for (let i = 0; i < 3; i++) {
    const x = a.trainStep(dense.batch).loss;
    const y = b.trainStep(lazy.batch).loss;
    assert.ok(Math.abs(x - y) < 1e-6, `step ${i}: ${x} vs ${y}`);
  }
  const wa = snapshot(dense.model);
  const wb = snapshot(lazy.model);
  for (const [name, values] of wa) {
    assert.ok(maxAbsDiff(values, wb.get(name)!) < 1e-6, name);
  }
  for (const name of [TOKEN_EMBEDDING, AFFIX_EMBEDDING]) {
    assert.ok(maxAbsDiff(moments(a, name).m, moments(b, name).m) < 1e-7, `${name} m`);
    assert.ok(maxAbsDiff(moments(a, name).v, moments(b, name).v) < 1e-9, `${name} v`);
  }
  disposeAll(dense.model, dense.batch, lazy.model, lazy.batch, a, b);
});

Deno.test("a lazy step leaves the rows a batch does not read, and their moments, untouched", () => {
  const c = config("lazy");
  const { model, batch } = tinySetup(c);
  const trainer = new Trainer(model, { train: c.train, seed: 1 });
  trainer.trainStep(batch); // every row of the tiny vocabulary gets moments
  const second = batchOf([0], c);
  const read = new Set(distinctRows(second.tokenIds));
  const unread = [...Array(model.parameters.get(TOKEN_EMBEDDING).shape[0]).keys()]
    .filter((r) => !read.has(r));
  assert.ok(unread.length > 3);
  const width = model.parameters.get(TOKEN_EMBEDDING).shape[1]!;
  const rowsOf = (values: Float32Array) =>
    Float32Array.from(unread.flatMap((r) => [...values.subarray(r * width, (r + 1) * width)]));
  const before = rowsOf(snapshot(model).get(TOKEN_EMBEDDING)!);
  const momentsBefore = moments(trainer, TOKEN_EMBEDDING);
  const tableBefore = snapshot(model).get(TOKEN_EMBEDDING)!;
  const tensors = batchToTensors(second);
  trainer.trainStep(tensors);
  const after = snapshot(model).get(TOKEN_EMBEDDING)!;
  assert.ok(bitEqual(rowsOf(after), before), "unread rows unchanged");
  const momentsAfter = moments(trainer, TOKEN_EMBEDDING);
  assert.ok(bitEqual(rowsOf(momentsAfter.m), rowsOf(momentsBefore.m)), "their m not decayed");
  assert.ok(bitEqual(rowsOf(momentsAfter.v), rowsOf(momentsBefore.v)), "their v not decayed");
  assert.ok(!bitEqual(after, tableBefore), "read rows moved");
  disposeAll(model, batch, tensors, trainer);
});

Deno.test("a lazy training step leaks no tensors", () => {
  const c = config("lazy");
  const { model, batch } = tinySetup(c);
  const trainer = new Trainer(model, { train: c.train, seed: 1 });
  assertNoTensorLeak(() => trainer.trainStep(batch));
  disposeAll(model, batch, trainer);
});

Deno.test("two replicas with lazy updates follow the single-thread trajectory", async () => {
  const c = config("lazy");
  const single = tinySetup(c);
  const trainer = new Trainer(single.model, { train: c.train, seed: c.seed });
  const parallel = tinySetup(c);
  const runner = await ParallelTrainer.create(parallel.model, c, { replicas: 2 });
  try {
    for (const indices of [[0, 1, 2], [3, 4, 5], [1, 4]]) {
      const padded = batchOf(indices, c);
      const x = trainer.trainPadded(padded).loss;
      const y = (await runner.trainPadded(padded)).loss;
      assert.ok(Math.abs(x - y) < 1e-4, `${indices}: ${x} vs ${y}`);
    }
    await runner.syncModel();
    const a = snapshot(single.model).get(TOKEN_EMBEDDING)!;
    const b = snapshot(parallel.model).get(TOKEN_EMBEDDING)!;
    assert.ok(maxAbsDiff(a, b) < 1e-5);
  } finally {
    runner.close();
    disposeAll(single.model, single.batch, parallel.model, parallel.batch, trainer);
  }
});
