/**
 * lib/backend: The runtime: backend selection, the WASM kernel fixes and threads, in-place writes, worker round trips.
 * @module
 */
export {
  type BackendInfo,
  backendInfo,
  type BackendName,
  type BackendOptions,
  describeBackend,
  initBackend,
} from "./backend.ts";
export { registerWasmKernels } from "./wasm_kernels.ts";
export { writeRows } from "./inplace.ts";
export { askWorker } from "./ask_worker.ts";
