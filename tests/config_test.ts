import assert from "node:assert/strict";
import { ConfigError, PRESETS, resolveConfig, validateConfig } from "../lib/core/mod.ts";

Deno.test("resolveConfig() returns the default preset unchanged with no overrides", () => {
  assert.deepEqual(resolveConfig(), PRESETS.default);
  assert.equal(resolveConfig().train.learningRate, 0.001);
  assert.equal(resolveConfig().train.decayRate, 0.01);
});

Deno.test("resolveConfig() merges nested overrides into a preset", () => {
  const c = resolveConfig({ model: { numLayers: 3 }, train: { epochs: 1 } }, "reference");
  assert.equal(c.model.numLayers, 3);
  assert.equal(c.model.hiddenSize, 128);
  assert.equal(c.train.epochs, 1);
  assert.ok(Object.isFrozen(c.model));
});

Deno.test("resolveConfig() rejects hidden sizes not divisible by the head count", () => {
  assert.throws(
    () => resolveConfig({ model: { hiddenSize: 30, numHeads: 4 } }),
    (e: Error) =>
      e instanceof ConfigError &&
      /model.hiddenSize: hiddenSize must be divisible by numHeads \(got 30\)/.test(e.message),
  );
});

Deno.test("resolveConfig() names unknown and out-of-range fields", () => {
  assert.throws(
    () => resolveConfig({ model: { hiddenSise: 3 } as never }),
    /model.hiddenSise: unknown field/,
  );
  assert.throws(
    () => resolveConfig({ train: { epochs: -1 } }),
    /Invalid config field train.epochs: Too small: expected number to be >=0 \(got -1\)/,
  );
  assert.throws(() => resolveConfig({ model: { dropout: 1.5 } }), /model.dropout/);
  assert.throws(() => resolveConfig({ model: { pooling: "sum" as never } }), /model.pooling/);
});

Deno.test("validateConfig() requires every field and accepts a resolved config", () => {
  const c = resolveConfig();
  assert.deepEqual(validateConfig(JSON.parse(JSON.stringify(c))), c);
  const { seed: _, ...noSeed } = c;
  assert.throws(() => validateConfig(noSeed), /Invalid config field seed: missing/);
  assert.throws(
    () => validateConfig(noSeed, "m/config.json"),
    /^ConfigError: m\/config.json: Invalid config field seed: missing$/,
  );
});

Deno.test("per-task records (taskWeights, taskSteps) are replaced whole by an override, and default to empty", () => {
  assert.deepEqual(resolveConfig().train.taskSteps, {});
  const base = resolveConfig({ train: { taskSteps: { sentiment: 2 }, taskWeights: { ner: 2 } } });
  const over = resolveConfig({
    train: { ...base.train, taskSteps: { ner: 3 }, taskWeights: { similarity: 5 } },
  });
  assert.deepEqual(over.train.taskSteps, { ner: 3 });
  assert.deepEqual(over.train.taskWeights, { similarity: 5 });
  assert.throws(
    () => resolveConfig({ train: { taskSteps: { sentiment: 0 } } }),
    /train\.taskSteps\.sentiment/,
  );
});

Deno.test("a config saved before tasks were data weighs its two tasks by name", () => {
  const c = JSON.parse(JSON.stringify(resolveConfig()));
  delete c.train.taskWeights;
  delete c.train.embeddingUpdates;
  c.train.nerLossWeight = 2;
  c.train.sentimentLossWeight = 0.5;
  const loaded = validateConfig(c);
  assert.deepEqual(loaded.train.taskWeights, { ner: 2, sentiment: 0.5 });
  assert.equal(loaded.train.embeddingUpdates, "dense");
});

Deno.test("character features: charWidth must be 0 or at least 3; older configs load without them", () => {
  assert.equal(resolveConfig({ tokenizer: { charWidth: 16 } }).tokenizer.charWidth, 16);
  assert.throws(() => resolveConfig({ tokenizer: { charWidth: 2 } }), /tokenizer.charWidth/);
  assert.throws(() => resolveConfig({ model: { charFilters: 0 } }), /model.charFilters/);
  const c = JSON.parse(JSON.stringify(resolveConfig()));
  delete c.tokenizer.charWidth;
  delete c.model.charFilters;
  delete c.model.charEmbeddingSize;
  delete c.model.embeddingDropout;
  const loaded = validateConfig(c);
  assert.equal(loaded.tokenizer.charWidth, 0);
  assert.equal(loaded.model.charFilters, 64);
  assert.equal(loaded.model.charEmbeddingSize, 16);
  assert.equal(loaded.model.embeddingDropout, null);
});
