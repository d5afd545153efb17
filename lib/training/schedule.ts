/**
 * Learning-rate schedules: pure functions of the step.
 * @module
 */
import type { ScheduleName } from "../core/config.ts";

export type { ScheduleName };

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

/** Everything a schedule may need. */
export interface ScheduleOptions {
  /** Peak (or base) learning rate. */
  readonly learningRate: number;
  /** Total optimisation steps of the run (linear, cosine, slanted-triangular). */
  readonly totalSteps: number;
  /** `inverse-time` decay rate. @default 0.01 */
  readonly decayRate?: number;
  /** Warm-up steps of `linear`, `cosine` and `constant`. @default 0 */
  readonly warmupSteps?: number;
  /** Slanted triangular: fraction of steps spent increasing. @default 0.1 */
  readonly cutFraction?: number;
  /** Slanted triangular: peak / lowest rate. @default 32 */
  readonly ratio?: number;
}

/**
 * Learning rate at `step` for a named schedule (pure):
 *
 * 1. `inverse-time`: `lr / (1 + decayRate · step)` (the reference schedule);
 * 2. `linear`: linear warm-up from 0 over `warmupSteps`, then linear decay to 0 at `totalSteps`;
 * 3. `cosine`: the same warm-up, then half a cosine down to 0 at `totalSteps`;
 * 4. `constant`: the same warm-up, then `lr` to the end;
 * 5. `slanted-triangular` (Howard & Ruder, 2018, eq. 3): a short linear rise over
 *    `cutFraction` of the steps, a long linear fall, from `lr / ratio` to `lr` and back.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { learningRateAt } from "./schedule.ts";
 * const o = { learningRate: 1, totalSteps: 100, warmupSteps: 10 };
 * assert.equal(learningRateAt("linear", 5, o), 0.5);
 * assert.equal(learningRateAt("linear", 55, o), 0.5);
 * assert.equal(learningRateAt("cosine", 55, o), 0.5);
 * assert.equal(learningRateAt("constant", 5, o), 0.5);
 * assert.equal(learningRateAt("constant", 99, o), 1);
 * assert.equal(learningRateAt("slanted-triangular", 10, { learningRate: 32, totalSteps: 100 }), 32);
 * assert.equal(learningRateAt("slanted-triangular", 0, { learningRate: 32, totalSteps: 100 }), 1);
 * ```
 */
export function learningRateAt(
  name: ScheduleName,
  step: number,
  options: ScheduleOptions,
): number {
  const lr = options.learningRate;
  const total = Math.max(1, options.totalSteps);
  const warmup = options.warmupSteps ?? 0;
  switch (name) {
    case "inverse-time":
      return inverseTimeDecay(step, { learningRate: lr, decayRate: options.decayRate ?? 0.01 });
    case "linear":
      if (step < warmup) return (lr * step) / warmup;
      return lr * Math.max(0, (total - step) / Math.max(1, total - warmup));
    case "constant":
      return step < warmup ? (lr * step) / warmup : lr;
    case "cosine": {
      if (step < warmup) return (lr * step) / warmup;
      const progress = Math.min(1, (step - warmup) / Math.max(1, total - warmup));
      return lr * 0.5 * (1 + Math.cos(Math.PI * progress));
    }
    case "slanted-triangular": {
      // At least one step of warm-up: a run of under 10 steps would otherwise divide by 0.
      const cut = Math.max(1, Math.floor(total * (options.cutFraction ?? 0.1)));
      const ratio = options.ratio ?? 32;
      const p = step < cut
        ? step / cut
        : 1 - (step - cut) / (cut * (1 / (options.cutFraction ?? 0.1) - 1));
      return (lr * (1 + p * (ratio - 1))) / ratio;
    }
  }
}
