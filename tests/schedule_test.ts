import assert from "node:assert/strict";
import { inverseTimeDecay } from "../lib/training/mod.ts";

Deno.test("inverseTimeDecay() starts at the base rate", () => {
  assert.equal(inverseTimeDecay(0), 0.001);
  assert.equal(inverseTimeDecay(0, { learningRate: 0.5 }), 0.5);
});

Deno.test("inverseTimeDecay() halves the rate after 1/decay steps", () => {
  assert.equal(inverseTimeDecay(100, { learningRate: 0.001, decayRate: 0.01 }), 0.0005);
  assert.equal(inverseTimeDecay(50, { learningRate: 0.002, decayRate: 0.02 }), 0.001);
});

Deno.test("inverseTimeDecay() follows base / (1 + decay * step) exactly", () => {
  assert.equal(inverseTimeDecay(1), 0.001 / 1.01);
  assert.equal(inverseTimeDecay(300), 0.00025);
  assert.equal(inverseTimeDecay(7, { decayRate: 0 }), 0.001);
});

Deno.test("inverseTimeDecay() rejects a negative step", () => {
  assert.throws(() => inverseTimeDecay(-1), RangeError);
});
