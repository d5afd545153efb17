/**
 * Learning-rate schedules: pure functions of the step.
 * @module
 */

/** Options of {@linkcode inverseTimeDecay}. */
export interface InverseTimeDecayOptions {
  /** Rate at step 0. @default 0.001 */
  readonly learningRate?: number;
  /** Decay per step. @default 0.01 */
  readonly decayRate?: number;
}

/**
 * The reference schedule: `lr(step) = base / (1 + decayRate * step)`.
 * The rate halves after `1 / decayRate` steps.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inverseTimeDecay } from "./schedule.ts";
 * assert.equal(inverseTimeDecay(0), 0.001);
 * assert.equal(inverseTimeDecay(100), 0.0005);
 * assert.equal(inverseTimeDecay(300, { learningRate: 0.02, decayRate: 0.01 }), 0.005);
 * ```
 */
export function inverseTimeDecay(step: number, options: InverseTimeDecayOptions = {}): number {
  const base = options.learningRate ?? 0.001;
  const decayRate = options.decayRate ?? 0.01;
  if (!(step >= 0)) throw new RangeError(`Cannot compute learning rate: step ${step} is negative`);
  return base / (1 + decayRate * step);
}
