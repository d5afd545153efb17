/**
 * The sharded optimizer of data-parallel training (ZeRO stage 1 style), as
 * plain functions over shared memory. Parameters, Adam moments and gradient
 * slots live in SharedArrayBuffers that every replica maps; each step:
 *
 * 1. every replica writes its gradients into its own slot (one flat vector in
 *    the step's gradient layout) and waits at a barrier;
 * 2. reduce-scatter: replica r sums segment r of the slots (replicas in order,
 *    so the sum is the same bit for bit for a given replica count) and its
 *    part of the squared norm; barrier;
 * 3. every replica adds the norm parts in order (the same clip factor on all),
 *    and applies Adam/AdamW to the parameters and moments its segment covers,
 *    in shared memory; barrier;
 * 4. all-gather: every replica copies the updated parameters into its own
 *    tensors.
 *
 * Segments split the step's gradient by size (not by parameter count), so the
 * optimizer's work divides evenly; a row-sparse table's gradient covers only
 * the rows the batch reads, and only those rows of the table and its moments
 * change (lazy Adam, as the single-replica optimizer). The main thread takes
 * no part in a step; it reads weights and optimizer state from the shared
 * memory between steps (checkpoints, validation).
 * @module
 */

/** Where each named array sits in a flat float32 vector. */
export interface FlatLayout {
  readonly names: readonly string[];
  readonly shapes: readonly (readonly number[])[];
  readonly offsets: readonly number[];
  readonly sizes: readonly number[];
  readonly total: number;
  readonly index: ReadonlyMap<string, number>;
}

/**
 * Lays named arrays end to end in the given order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { flatLayout } from "./sharded.ts";
 * const layout = flatLayout([["a", [2, 3]], ["b", []], ["c", [4]]]);
 * assert.deepEqual(layout.offsets, [0, 6, 7]);
 * assert.equal(layout.total, 11);
 * ```
 */
export function flatLayout(entries: readonly (readonly [string, readonly number[]])[]): FlatLayout {
  const names: string[] = [], shapes: number[][] = [], offsets: number[] = [], sizes: number[] = [];
  let total = 0;
  for (const [name, shape] of entries) {
    names.push(name);
    shapes.push([...shape]);
    offsets.push(total);
    const size = shape.reduce((a, b) => a * b, 1);
    sizes.push(size);
    total += size;
  }
  return { names, shapes, offsets, sizes, total, index: new Map(names.map((n, i) => [n, i])) };
}

/**
 * Segment `part` of `parts` nearly equal contiguous segments of `[0, total)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shardRange } from "./sharded.ts";
 * assert.deepEqual([0, 1, 2].map((p) => shardRange(10, 3, p)), [[0, 3], [3, 6], [6, 10]]);
 * ```
 */
export function shardRange(total: number, parts: number, part: number): [number, number] {
  return [Math.floor((total * part) / parts), Math.floor((total * (part + 1)) / parts)];
}

/** One array of a step's gradient: which parameter, and which of its rows (row-sparse). */
export interface GradientEntry {
  readonly name: string;
  /** Offset of the parameter in the parameter layout. */
  readonly paramOffset: number;
  /** Values of this gradient (rows × width for a row-sparse one). */
  readonly size: number;
  /** Row-sparse: the parameter rows the gradient's rows update. */
  readonly rows?: Int32Array;
  /** Row width of a row-sparse gradient. */
  readonly width?: number;
  /** Learning rate of this parameter this step. */
  readonly learningRate: number;
  /** Whether AdamW's weight decay applies to it. */
  readonly decay: boolean;
}

/** Adam's constants and this step's bias corrections and clip factor. */
export interface AdamStep {
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  /** AdamW's decoupled weight decay (0: Adam). */
  readonly weightDecay: number;
  /** 1-based update count (bias correction). */
  readonly step: number;
  /** Factor on every gradient (global-norm clipping). */
  readonly gradScale: number;
}

/** Parameters and Adam moments, flat, in the parameter layout. */
export interface FlatState {
  readonly params: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
}

/**
 * Adam/AdamW (PyTorch's rule, as `Adam.apply`) on the parameter elements that
 * elements `[start, end)` of a step's flat gradient cover. `grad[j - start]`
 * is the (summed) gradient of element j; the gradient's entries lie end to end
 * in `entries` order.
 */
export function adamSegment(
  grad: Float32Array,
  entries: readonly GradientEntry[],
  start: number,
  end: number,
  state: FlatState,
  step: AdamStep,
): void {
  const { beta1, beta2, epsilon, weightDecay, gradScale } = step;
  const bias1 = 1 - beta1 ** step.step;
  const rootBias2 = Math.sqrt(1 - beta2 ** step.step);
  const c1 = Math.fround(gradScale * (1 - beta1));
  const c2 = Math.fround(gradScale * gradScale * (1 - beta2));
  const eps = epsilon * rootBias2;
  const { params, m, v } = state;
  let at = 0;
  for (const e of entries) {
    const from = Math.max(start, at), to = Math.min(end, at + e.size);
    if (from < to) {
      const lr = e.learningRate;
      const shrink = weightDecay > 0 && e.decay ? 1 - lr * weightDecay : 1;
      const factor = (lr * rootBias2) / bias1;
      const run = (j: number, n: number, base: number) => {
        for (let i = 0; i < n; i++) {
          const g = grad[j - start + i]!;
          const p = base + i;
          const mi = (m[p] = m[p]! * beta1 + g * c1)!;
          const vi = (v[p] = v[p]! * beta2 + g * g * c2)!;
          params[p] = params[p]! * shrink - (mi / (Math.sqrt(vi) + eps)) * factor;
        }
      };
      if (e.rows === undefined) {
        run(from, to - from, e.paramOffset + (from - at));
      } else {
        // Row by row: gradient row r updates parameter row rows[r].
        const width = e.width!;
        for (let j = from; j < to;) {
          const row = Math.floor((j - at) / width), col = (j - at) % width;
          const n = Math.min(to - j, width - col);
          run(j, n, e.paramOffset + e.rows[row]! * width + col);
          j += n;
        }
      }
    }
    at += e.size;
  }
}

/**
 * Sense-reversing barrier over `control[0..1]` (`[arrived, generation]`):
 * returns when all `parties` have arrived.
 */
export function barrier(control: Int32Array, parties: number): void {
  const generation = Atomics.load(control, 1);
  if (Atomics.add(control, 0, 1) === parties - 1) {
    Atomics.store(control, 0, 0);
    Atomics.add(control, 1, 1);
    Atomics.notify(control, 1);
  } else {
    while (Atomics.load(control, 1) === generation) Atomics.wait(control, 1, generation);
  }
}

/** The shared memory of a sharded run. */
export interface ShardedBuffers {
  /** Parameters, then the learned loss weights, in the parameter layout. */
  readonly params: SharedArrayBuffer;
  readonly m: SharedArrayBuffer;
  readonly v: SharedArrayBuffer;
  /** Per parameter: 1 once it has Adam moments (it has been updated). */
  readonly hasState: SharedArrayBuffer;
  /** One gradient slot per replica, `slotSize` floats each. */
  readonly slots: SharedArrayBuffer;
  readonly slotSize: number;
  /** Barrier words (Int32 × 2), then the norm parts (Float64 × replicas). */
  readonly control: SharedArrayBuffer;
}

/** Allocates the shared memory for `replicas` replicas over `layout`. */
export function allocateShared(
  layout: FlatLayout,
  replicas: number,
  slotSize: number,
): ShardedBuffers {
  const floats = (n: number) => new SharedArrayBuffer(4 * Math.max(1, n));
  return {
    params: floats(layout.total),
    m: floats(layout.total),
    v: floats(layout.total),
    hasState: new SharedArrayBuffer(4 * Math.max(1, layout.names.length)),
    slots: floats(replicas * slotSize),
    slotSize,
    control: new SharedArrayBuffer(8 + 8 * replicas),
  };
}
