/** Data-parallel training across Deno Workers. */
import assert from "node:assert/strict";
import {
  encodeSentence,
  padBatch,
  ParallelTrainer,
  Trainer,
  trainModel,
  WordTokenizer,
} from "../lib/mod.ts";
import {
  bitEqual,
  LABELS,
  maxAbsDiff,
  SENTENCES,
  setup,
  snapshot,
  tinyConfig,
  tinySetup,
} from "./_helpers.ts";

await setup();

const config = tinyConfig({ model: { dropout: 0 }, train: { learningRate: 0.01 } });

function paddedBatch() {
  const tokenizer = WordTokenizer.fit(SENTENCES.map((s) => s.words), config.tokenizer);
  return padBatch(
    SENTENCES.map((s) => encodeSentence(s, tokenizer, LABELS, config.model.maxLength)),
  );
}

async function parallelLosses(
  steps: number,
): Promise<{ losses: number[]; weights: Map<string, Float32Array> }> {
  const { model, batch } = tinySetup(config);
  const runner = await ParallelTrainer.create(model, config, { replicas: 2 });
  const losses: number[] = [];
  try {
    for (let i = 0; i < steps; i++) losses.push((await runner.trainPadded(paddedBatch())).loss);
    await runner.syncModel();
    return { losses, weights: snapshot(model) };
  } finally {
    runner.close();
    model.dispose();
    Object.values(batch).forEach((t) => t.dispose());
  }
}

Deno.test("two replicas follow the single-thread loss trajectory", async () => {
  const { model, batch } = tinySetup(config);
  const single = new Trainer(model, { train: config.train, seed: config.seed });
  const expected = Array.from({ length: 5 }, () => single.trainPadded(paddedBatch()).loss);
  const { losses } = await parallelLosses(5);
  // Same maths; only the order of float additions differs.
  assert.ok(maxAbsDiff(losses, expected) < 1e-4, `${losses} vs ${expected}`);
  single.dispose();
  model.dispose();
  Object.values(batch).forEach((t) => t.dispose());
});

Deno.test("data-parallel training is deterministic for a seed and replica count", async () => {
  const a = await parallelLosses(4);
  const b = await parallelLosses(4);
  assert.deepEqual(a.losses, b.losses);
  for (const [name, values] of a.weights) assert.ok(bitEqual(values, b.weights.get(name)!), name);
});

Deno.test("trainModel() with two workers trains and returns the trained weights", async () => {
  const { bundle, history, trainer } = await trainModel(
    SENTENCES,
    tinyConfig({ train: { epochs: 3, batchSize: 6, learningRate: 0.01 } }),
    { labels: LABELS, workers: 2 },
  );
  assert.equal(history.length, 3);
  assert.ok(history[2]!.loss < history[0]!.loss);
  assert.equal(trainer.step, 3); // optimizer state handed back from the workers
  bundle.model.dispose();
  trainer.dispose();
});
