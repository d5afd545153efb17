/**
 * Adam (Kingma & Ba, 2015) and AdamW (Loshchilov & Hutter, 2019), following
 * PyTorch's update rule, with moment slots keyed by parameter name.
 *
 * Why not `tf.train.adam`: it keeps moments by position in the variable list
 * (a changed list after unfreezing silently rebinds them), has no way to set
 * the learning rate per step or per parameter, and no decoupled weight decay.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { writeRows } from "../backend/inplace.ts";
import { type NamedArrays, readArrays } from "../model/parameters.ts";

/** Options of {@linkcode Adam}. */
export interface AdamOptions {
  /** @default 0.9 */
  readonly beta1?: number;
  /** @default 0.999 */
  readonly beta2?: number;
  /** @default 1e-8 */
  readonly epsilon?: number;
  /** Decoupled weight decay (AdamW) for names passing `decayFilter`; 0 is plain Adam. @default 0 */
  readonly weightDecay?: number;
  /** Which parameters get weight decay. @default all */
  readonly decayFilter?: (name: string) => boolean;
}

/**
 * Saved optimizer state: the step and, for each parameter name `p` with state,
 * its two moments as arrays `p/m` and `p/v`.
 */
export interface AdamState {
  readonly step: number;
  readonly moments: NamedArrays;
}

/**
 * Adam/AdamW over named variables. A parameter's slots are created on its first
 * update, so frozen parameters never get optimizer state.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "../backend/backend.ts";
 * await initBackend("wasm");
 * import { Adam } from "./optimizer.ts";
 * const w = tf.variable(tf.tensor1d([1, 1]));
 * const adam = new Adam();
 * adam.apply([["w", w]], { w: tf.tensor1d([3, -0.5]) }, () => 0.1);
 * // Adam's first update is lr * g / (|g| + eps): ±0.1 per element.
 * const [a, b] = w.dataSync();
 * assert.ok(Math.abs(a! - 0.9) < 1e-6 && Math.abs(b! - 1.1) < 1e-6);
 * ```
 */
export class Adam {
  readonly #beta1: number;
  readonly #beta2: number;
  readonly #epsilon: number;
  readonly #weightDecay: number;
  readonly #decayFilter: (name: string) => boolean;
  readonly #moments = new Map<string, { m: tf.Variable; v: tf.Variable }>();
  #step = 0;

  constructor(options: AdamOptions = {}) {
    this.#beta1 = options.beta1 ?? 0.9;
    this.#beta2 = options.beta2 ?? 0.999;
    this.#epsilon = options.epsilon ?? 1e-8;
    this.#weightDecay = options.weightDecay ?? 0;
    this.#decayFilter = options.decayFilter ?? (() => true);
  }

  /** Number of updates applied so far. */
  get step(): number {
    return this.#step;
  }

  /**
   * Applies one update. Parameters without a gradient are left alone.
   *
   * Row-sparse ("lazy") updates: for a name in `rows`, `grads[name]` holds the
   * gradient of those rows only (`[rows.length, ...]`), and only those rows of
   * the parameter and of its two moments change, with the same arithmetic as the
   * dense update (so a row's update equals the dense one whenever its moments
   * are the same); the other rows and their moments are untouched — not decayed,
   * as in TF's LazyAdam and PyTorch's SparseAdam. Bias correction uses the
   * global step. Weight decay (AdamW) applies to the touched rows only.
   *
   * @param params `[name, variable]` pairs to update
   * @param grads gradient per name (not disposed here)
   * @param learningRate rate per parameter name for this step
   * @param gradScale a factor applied to every gradient (global-norm clipping), folded into the moments
   * @param rows sorted, distinct row ids per row-sparse parameter
   */
  apply(
    params: readonly [string, tf.Variable][],
    grads: Readonly<Record<string, tf.Tensor>>,
    learningRate: (name: string) => number,
    gradScale?: tf.Scalar,
    rows: Readonly<Record<string, Int32Array>> = {},
  ): void {
    this.#step++;
    const t = this.#step;
    const bias1 = 1 - this.#beta1 ** t;
    const rootBias2 = Math.sqrt(1 - this.#beta2 ** t);
    tf.tidy(() => {
      // With a gradient scale s (clipping), the moments see s·g: fold s into the
      // moment coefficients instead of scaling every gradient first.
      const c1 = gradScale === undefined
        ? tf.scalar(1 - this.#beta1)
        : gradScale.mul(1 - this.#beta1);
      const c2 = gradScale === undefined
        ? tf.scalar(1 - this.#beta2)
        : gradScale.square().mul(1 - this.#beta2);
      for (const [name, variable] of params) {
        const g = grads[name];
        if (g === undefined) continue;
        const lr = learningRate(name);
        const slot = this.#slot(name, variable);
        const ids = rows[name];
        const index = ids === undefined ? undefined : tf.tensor1d(ids, "int32");
        const pick = (x: tf.Tensor) => index === undefined ? x : tf.gather(x, index);
        const m = pick(slot.m).mul(this.#beta1).add(g.mul(c1));
        const v = pick(slot.v).mul(this.#beta2).add(g.square().mul(c2));
        let updated: tf.Tensor = pick(variable);
        if (this.#weightDecay > 0 && this.#decayFilter(name)) {
          updated = updated.mul(1 - lr * this.#weightDecay);
        }
        // lr/bias1 · m / (√v/√bias2 + ε), rearranged to save two passes:
        // (lr·√bias2/bias1) · m / (√v + ε·√bias2)
        const step = m.div(v.sqrt().add(this.#epsilon * rootBias2)).mul(lr * rootBias2 / bias1);
        const next = updated.sub(step);
        if (ids === undefined) {
          slot.m.assign(m);
          slot.v.assign(v);
          variable.assign(next);
        } else {
          writeRows(slot.m, ids, m.dataSync() as Float32Array);
          writeRows(slot.v, ids, v.dataSync() as Float32Array);
          writeRows(variable, ids, next.dataSync() as Float32Array);
        }
      }
    });
  }

  /**
   * Counts an update applied elsewhere (the sharded optimizer keeps the moments
   * in shared memory); returns the new 1-based update count.
   */
  countStep(): number {
    return ++this.#step;
  }

  /** A copy of the state. */
  getState(): AdamState {
    return {
      step: this.#step,
      moments: readArrays(
        [...this.#moments].flatMap(([name, { m, v }]) =>
          [[`${name}/m`, m], [`${name}/v`, v]] as const
        ),
      ),
    };
  }

  /** Replaces the state with a copy of `state`. */
  setState(state: AdamState): void {
    this.dispose();
    this.#step = state.step;
    for (const [key, { shape, values }] of Object.entries(state.moments)) {
      if (!key.endsWith("/m")) continue;
      const name = key.slice(0, -2);
      const v = state.moments[`${name}/v`];
      if (v === undefined) throw new RangeError(`Cannot restore Adam: ${name} has m but no v`);
      this.#moments.set(name, {
        m: ownVariable(values, shape),
        v: ownVariable(v.values, shape),
      });
    }
  }

  /** Names that have optimizer state. */
  stateNames(): string[] {
    return [...this.#moments.keys()];
  }

  /** Frees the moment tensors. */
  dispose(): void {
    for (const { m, v } of this.#moments.values()) {
      m.dispose();
      v.dispose();
    }
    this.#moments.clear();
  }

  #slot(name: string, variable: tf.Variable): { m: tf.Variable; v: tf.Variable } {
    let slot = this.#moments.get(name);
    if (slot === undefined) {
      slot = {
        m: tf.variable(tf.zerosLike(variable), false),
        v: tf.variable(tf.zerosLike(variable), false),
      };
      this.#moments.set(name, slot);
    }
    return slot;
  }
}

/** A non-trainable variable holding its own copy of `values` (nothing else shares its memory). */
function ownVariable(values: Float32Array, shape: readonly number[]): tf.Variable {
  const t = tf.tensor(values.slice(), [...shape]);
  const variable = tf.variable(t, false);
  t.dispose();
  return variable;
}
