/**
 * In-place row writes into a variable's storage, so a row-sparse update of a
 * large embedding table costs O(rows touched) instead of a copy of the table.
 * tfjs has no public in-place update (`assign` swaps in a whole new tensor):
 * on the `wasm` backend the variable's buffer on the WASM heap is written
 * directly (copied first if another tensor shares it; reads from JS are copies
 * there, so nobody else sees the change). Other backends (the `cpu` backend hands
 * its own arrays to `dataSync` callers) fall back to `tensorScatterUpdate` +
 * `assign`, which copies the table.
 *
 * Only for tables read by `gather`: tfjs-wasm caches the weights of a matmul
 * packed for XNNPACK per tensor, so a matmul weight written in place keeps
 * computing with its old values (replace it with `assign` instead).
 *
 * This touches backend internals, which is why tfjs is pinned exactly.
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Storage record of a tensor on the wasm backend. */
interface WasmData {
  memoryOffset: number;
  refCount: number;
}

/**
 * Writes `values` (`[ids.length, rowSize]`, row-major) into rows `ids` of the
 * 2-D float32 variable `variable`, in place where the backend allows it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { initBackend } from "./backend.ts";
 * import { writeRows } from "./inplace.ts";
 * await initBackend("wasm");
 * const v = tf.variable(tf.zeros([3, 2]));
 * writeRows(v, Int32Array.from([2, 0]), Float32Array.from([5, 6, 7, 8]));
 * assert.deepEqual([...v.dataSync()], [7, 8, 0, 0, 5, 6]);
 * ```
 */
export function writeRows(variable: tf.Variable, ids: Int32Array, values: Float32Array): void {
  const [rows, rowSize] = variable.shape as [number, number];
  if (variable.dtype !== "float32" || variable.rank !== 2) {
    throw new TypeError(
      `Cannot write rows: expected a 2-D float32 variable, got ${variable.shape}`,
    );
  }
  if (values.length !== ids.length * rowSize) {
    throw new RangeError(
      `Cannot write rows: ${values.length} values for ${ids.length} rows of ${rowSize}`,
    );
  }
  for (const id of ids) {
    if (id < 0 || id >= rows) {
      throw new RangeError(`Cannot write rows: row ${id} outside [0, ${rows})`);
    }
  }
  const target = storage(variable);
  if (target === undefined) {
    tf.tidy(() => {
      const updated = tf.tensorScatterUpdate(
        variable,
        tf.tensor2d(ids, [ids.length, 1], "int32"),
        tf.tensor2d(values, [ids.length, rowSize]),
      );
      variable.assign(updated);
    });
    return;
  }
  ids.forEach((id, i) => target.set(values.subarray(i * rowSize, (i + 1) * rowSize), id * rowSize));
}

/**
 * A writable view of the variable's own buffer, after making it private to the
 * variable when another tensor shares it; undefined where the backend has none.
 */
function storage(variable: tf.Variable): Float32Array | undefined {
  if (tf.getBackend() !== "wasm") return undefined;
  const backend = tf.backend() as unknown as {
    wasm: { HEAPF32: Float32Array };
    dataIdMap: { get(id: unknown): WasmData | undefined };
  };
  const record = () => backend.dataIdMap.get(variable.dataId);
  let data = record();
  if (data === undefined) return undefined;
  if (data.refCount > 1) {
    // Shared (e.g. by a clone, which shares memory): give the variable its own copy.
    const copy = tf.tensor(variable.dataSync().slice(), variable.shape, "float32");
    variable.assign(copy);
    copy.dispose();
    data = record();
    if (data === undefined || data.refCount > 1) return undefined;
  }
  const offset = data.memoryOffset / 4;
  return backend.wasm.HEAPF32.subarray(offset, offset + variable.size);
}
