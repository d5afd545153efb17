/**
 * Kernel fixes for `@tensorflow/tfjs-backend-wasm` 4.22.0, in one place.
 *
 * The stock WASM backend cannot train a transformer well:
 *
 * 1. `UnsortedSegmentSum` (the gradient of `tf.gather`, i.e. of every embedding
 *    lookup) is not registered, so the first training step throws.
 * 2. `BatchMatMul` reaches XNNPACK only for batch 1 without transposes; every
 *    backward product of a dense layer (which transposes one operand) and every
 *    4-D attention product runs a scalar loop at ≈ 1.7 GFLOP/s.
 *
 * {@linkcode registerWasmKernels} registers a heap-level `UnsortedSegmentSum`
 * and a `BatchMatMul` that materialises transposes with the native `Transpose`
 * kernel and runs one XNNPACK call per batch slice, pointing temporary tensor
 * ids at slices of the operands (no copies). Both are checked against the `cpu`
 * backend in `tests/wasm_kernels_test.ts`.
 *
 * (`tf.oneHot(..., "float32")` is also wrong on WASM; {@link ./losses.ts} builds
 * one-hots as int32 and casts, which is correct on every backend.)
 *
 * This module touches backend internals, which is why tfjs is pinned exactly.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** The parts of tfjs-backend-wasm's `BackendWasm` these kernels use. */
interface WasmBackend {
  wasm: {
    HEAPF32: Float32Array;
    HEAP32: Int32Array;
    cwrap(name: string, ret: null, args: string[]): (...args: unknown[]) => void;
    tfjs: {
      registerTensor(id: number, size: number, memoryOffset: number): void;
      disposeData(id: number): void;
    };
  };
  dataIdNextNumber: number;
  dataIdMap: { get(dataId: unknown): { id: number; memoryOffset: number } };
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  incRef(dataId: unknown): void;
  disposeData(dataId: unknown): boolean;
}

type NativeMatMul = (
  aId: number,
  aShape: Uint8Array,
  aRank: number,
  bId: number,
  bShape: Uint8Array,
  bRank: number,
  transposeA: boolean,
  transposeB: boolean,
  outId: number,
) => void;

const BYTES_PER_FLOAT = 4;
const nativeMatMuls = new WeakMap<object, NativeMatMul>();
/** The stock kernels we replaced, for the cases our kernels hand back. */
const stockKernels = new Map<string, tf.KernelFunc>();

/**
 * Registers the fixed `UnsortedSegmentSum`, `GatherV2`, `BatchMatMul` and `Identity` kernels for the
 * `wasm` backend. Idempotent; call it before or after `tf.setBackend("wasm")`.
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs";
 * import { registerWasmKernels } from "./wasm_kernels.ts";
 * registerWasmKernels();
 * import assert from "node:assert/strict";
 * assert.ok(tf.getKernel("UnsortedSegmentSum", "wasm") !== undefined);
 * ```
 */
export function registerWasmKernels(): void {
  replaceKernel("UnsortedSegmentSum", unsortedSegmentSum as unknown as tf.KernelFunc);
  replaceKernel("GatherV2", gatherV2 as unknown as tf.KernelFunc);
  replaceKernel("BatchMatMul", batchMatMul as unknown as tf.KernelFunc);
  replaceKernel("Identity", identity as unknown as tf.KernelFunc);
}

/**
 * `Identity` (what `tf.clone` runs) sharing the input's memory by reference
 * count, as the cpu backend does and wasm's own `Reshape` does, instead of
 * copying it. tfjs clones every tensor a kernel saves for its gradient, so the
 * stock copy costs a training step ≈ 280 copies (≈ 300 MB of memory traffic
 * on the reference model). Tensors are immutable (a variable's `assign`
 * swaps its data), so sharing is safe.
 */
function identity(args: KernelArgs<{ x: tf.TensorInfo }, Record<string, never>>): tf.TensorInfo {
  const { inputs: { x }, backend } = args;
  if (x.dtype === "string") return stockKernels.get("Identity")!(args as never) as tf.TensorInfo;
  backend.incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}

/** Registers `kernelFunc` for `name` on wasm, keeping the stock kernel (and its set-up) for fallbacks. */
function replaceKernel(name: string, kernelFunc: tf.KernelFunc): void {
  const current = tf.getKernel(name, "wasm");
  if (current?.kernelFunc === kernelFunc) return;
  if (current !== undefined) {
    stockKernels.set(name, current.kernelFunc);
    tf.unregisterKernel(name, "wasm");
  }
  // The stock kernel's set-up binds its native function; our fallbacks to it need that.
  tf.registerKernel({
    kernelName: name,
    backendName: "wasm",
    kernelFunc,
    ...(current?.setupFunc !== undefined ? { setupFunc: current.setupFunc } : {}),
  });
}

interface KernelArgs<I, A> {
  inputs: I;
  backend: WasmBackend;
  attrs: A;
}

/** `out[s] = Σ x[i] over i with segmentIds[i] = s`; ids outside [0, numSegments) are dropped. */
function unsortedSegmentSum(
  args: KernelArgs<{ x: tf.TensorInfo; segmentIds: tf.TensorInfo }, { numSegments: number }>,
): tf.TensorInfo {
  const { inputs: { x, segmentIds }, backend, attrs: { numSegments } } = args;
  if (x.dtype !== "float32" || segmentIds.dtype !== "int32") {
    throw new TypeError(
      `Cannot run UnsortedSegmentSum on wasm: expected float32 values and int32 ids, got ${x.dtype} and ${segmentIds.dtype}`,
    );
  }
  const count = tf.util.sizeFromShape(segmentIds.shape);
  const inner = count === 0 ? 0 : tf.util.sizeFromShape(x.shape) / count;
  const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
  const out = backend.makeOutput(outShape, "float32");
  // Views are taken after makeOutput: an allocation may grow (and replace) the heap.
  const f32 = backend.wasm.HEAPF32;
  const i32 = backend.wasm.HEAP32;
  const xAt = backend.dataIdMap.get(x.dataId).memoryOffset / BYTES_PER_FLOAT;
  const idsAt = backend.dataIdMap.get(segmentIds.dataId).memoryOffset / BYTES_PER_FLOAT;
  const outAt = backend.dataIdMap.get(out.dataId).memoryOffset / BYTES_PER_FLOAT;
  f32.fill(0, outAt, outAt + numSegments * inner);
  for (let i = 0; i < count; i++) {
    const segment = i32[idsAt + i]!;
    if (segment < 0 || segment >= numSegments) continue;
    const dst = outAt + segment * inner;
    const src = xAt + i * inner;
    for (let j = 0; j < inner; j++) f32[dst + j]! += f32[src + j]!;
  }
  return out;
}

/**
 * Row gather `out[i] = x[indices[i]]` (axis 0, no batch dims, float32): one
 * `copyWithin` per row. The stock kernel walks element by element (≈ 20 ms for
 * 2,048 rows of 128); other cases go to the stock kernel.
 */
function gatherV2(
  args: KernelArgs<
    { x: tf.TensorInfo; indices: tf.TensorInfo },
    { axis: number; batchDims: number }
  >,
): tf.TensorInfo {
  const { inputs: { x, indices }, backend, attrs } = args;
  const axis = attrs.axis < 0 ? attrs.axis + x.shape.length : attrs.axis;
  if (axis !== 0 || attrs.batchDims !== 0 || x.dtype !== "float32" || indices.dtype !== "int32") {
    return stockKernels.get("GatherV2")!(
      args as unknown as Parameters<tf.KernelFunc>[0],
    ) as tf.TensorInfo;
  }
  const rows = x.shape[0]!;
  const rowSize = tf.util.sizeFromShape(x.shape.slice(1));
  const count = tf.util.sizeFromShape(indices.shape);
  const out = backend.makeOutput([...indices.shape, ...x.shape.slice(1)], "float32");
  const f32 = backend.wasm.HEAPF32;
  const i32 = backend.wasm.HEAP32;
  const xAt = backend.dataIdMap.get(x.dataId).memoryOffset / BYTES_PER_FLOAT;
  const idsAt = backend.dataIdMap.get(indices.dataId).memoryOffset / BYTES_PER_FLOAT;
  const outAt = backend.dataIdMap.get(out.dataId).memoryOffset / BYTES_PER_FLOAT;
  for (let i = 0; i < count; i++) {
    const row = i32[idsAt + i]!;
    if (row < 0 || row >= rows) {
      backend.disposeData(out.dataId);
      throw new RangeError(`Cannot gather: index ${row} is outside [0, ${rows})`);
    }
    f32.copyWithin(outAt + i * rowSize, xAt + row * rowSize, xAt + (row + 1) * rowSize);
  }
  return out;
}

/** Batched matmul on XNNPACK's fast path: transposes materialised, one call per slice. */
function batchMatMul(
  args: KernelArgs<
    { a: tf.TensorInfo; b: tf.TensorInfo },
    { transposeA: boolean; transposeB: boolean }
  >,
): tf.TensorInfo {
  const { inputs, backend, attrs } = args;
  if (inputs.a.dtype !== "float32" || inputs.b.dtype !== "float32") {
    throw new TypeError(
      `Cannot run BatchMatMul on wasm: expected float32 operands, got ${inputs.a.dtype} and ${inputs.b.dtype}`,
    );
  }
  const a = attrs.transposeA ? transposeLastTwo(inputs.a, backend) : inputs.a;
  const b = attrs.transposeB ? transposeLastTwo(inputs.b, backend) : inputs.b;
  const aRank = a.shape.length;
  const bRank = b.shape.length;
  const rows = a.shape[aRank - 2]!;
  const inner = a.shape[aRank - 1]!;
  const cols = b.shape[bRank - 1]!;
  if (b.shape[bRank - 2] !== inner) {
    throw new RangeError(
      `Cannot multiply matrices: inner sizes differ (${inputs.a.shape} x ${inputs.b.shape}, transposeA=${attrs.transposeA}, transposeB=${attrs.transposeB})`,
    );
  }
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  const outerDims = tf.broadcast_util.assertAndGetBroadcastShape(
    a.shape.slice(0, -2),
    b.shape.slice(0, -2),
  );
  const batch = Math.max(batchA, batchB);
  if (batchA !== batchB && batchA !== 1 && batchB !== 1) {
    throw new RangeError(
      `Cannot multiply matrices: batch shapes ${a.shape.slice(0, -2)} and ${
        b.shape.slice(0, -2)
      } do not broadcast`,
    );
  }
  const out = backend.makeOutput([batch, rows, cols], "float32");
  const native = nativeMatMul(backend);
  const aInfo = backend.dataIdMap.get(a.dataId);
  const bInfo = backend.dataIdMap.get(b.dataId);
  const outInfo = backend.dataIdMap.get(out.dataId);
  if (batchB === 1) {
    // One shared right operand: fold every batch of `a` into the rows of one product.
    native(
      aInfo.id,
      shapeBytes([1, batchA * rows, inner]),
      3,
      bInfo.id,
      shapeBytes([1, inner, cols]),
      3,
      false,
      false,
      outInfo.id,
    );
  } else {
    const aShape = shapeBytes([1, rows, inner]);
    const bShape = shapeBytes([1, inner, cols]);
    const temporary: number[] = [];
    const view = (memoryOffset: number, size: number): number => {
      const id = backend.dataIdNextNumber++;
      backend.wasm.tfjs.registerTensor(id, size, memoryOffset);
      temporary.push(id);
      return id;
    };
    for (let i = 0; i < batch; i++) {
      const aId = batchA === 1
        ? aInfo.id
        : view(aInfo.memoryOffset + i * rows * inner * BYTES_PER_FLOAT, rows * inner);
      const bId = view(bInfo.memoryOffset + i * inner * cols * BYTES_PER_FLOAT, inner * cols);
      const outId = view(outInfo.memoryOffset + i * rows * cols * BYTES_PER_FLOAT, rows * cols);
      native(aId, aShape, 3, bId, bShape, 3, false, false, outId);
    }
    // Disposing the ids drops their cached XNNPACK operators; the memory belongs to a, b, out.
    for (const id of temporary) backend.wasm.tfjs.disposeData(id);
  }
  if (a !== inputs.a) backend.disposeData(a.dataId);
  if (b !== inputs.b) backend.disposeData(b.dataId);
  return { dataId: out.dataId, shape: [...outerDims, rows, cols], dtype: "float32" };
}

function transposeLastTwo(x: tf.TensorInfo, backend: WasmBackend): tf.TensorInfo {
  const rank = x.shape.length;
  const perm = [...Array(rank).keys()];
  perm[rank - 2] = rank - 1;
  perm[rank - 1] = rank - 2;
  const transpose = tf.getKernel("Transpose", "wasm")!.kernelFunc;
  return transpose({
    inputs: { x },
    backend: backend as unknown as tf.KernelBackend,
    attrs: { perm },
  }) as tf.TensorInfo;
}

function nativeMatMul(backend: WasmBackend): NativeMatMul {
  let fn = nativeMatMuls.get(backend.wasm);
  if (fn === undefined) {
    fn = backend.wasm.cwrap("BatchMatMul", null, [
      "number",
      "array",
      "number",
      "number",
      "array",
      "number",
      "number",
      "number",
      "number",
    ]) as unknown as NativeMatMul;
    nativeMatMuls.set(backend.wasm, fn);
  }
  return fn;
}

function shapeBytes(shape: number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}
