/**
 * Backend set-up for entry points (CLI tasks, notebooks, tests). Library code
 * never calls this: the program that runs chooses the backend.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { registerWasmKernels } from "./wasm_kernels.ts";

/** Backends this toolkit supports. */
export type BackendName = "wasm" | "cpu";

/** What backend is running, for entry points to print. */
export interface BackendInfo {
  readonly backend: string;
  readonly simd: boolean;
  readonly threads: number;
  /** Set when the requested set-up could not start and a fallback runs instead. */
  readonly warning?: string;
}

/** Options of {@linkcode initBackend}. */
export interface BackendOptions {
  /**
   * tfjs-wasm threads (XNNPACK's pthread pool). Above 1, the threaded SIMD
   * build is started through `prepareWasmThreads`; where it cannot start, the
   * single-threaded build runs and `warning` says why. @default 1
   */
  readonly threads?: number;
}

/**
 * Selects and initialises a backend; for `wasm`, registers the kernel fixes.
 *
 * @param name `wasm` (SIMD, default) or `cpu` (reference, slow)
 */
export async function initBackend(
  name: BackendName = "wasm",
  options: BackendOptions = {},
): Promise<BackendInfo> {
  if (name !== "wasm" && name !== "cpu") {
    throw new RangeError(`Cannot select backend "${name}": expected "wasm" or "cpu"`);
  }
  const threads = options.threads ?? 1;
  if (!Number.isInteger(threads) || threads < 1) {
    throw new RangeError(
      `Cannot start the backend: threads must be an integer >= 1, got ${threads}`,
    );
  }
  let warning: string | undefined;
  if (name === "wasm") registerWasmKernels();
  if (name === "wasm" && threads > 1) {
    let undo: (() => void) | undefined;
    try {
      // Loaded on demand: it needs Node built-ins, which a browser build does not have.
      // (A computed specifier: bundlers leave it out of a browser build.)
      const threadsModule = new URL("./wasm_threads.ts", import.meta.url).href;
      const { prepareWasmThreads } = await import(
        threadsModule
      ) as typeof import("./wasm_threads.ts");
      undo = prepareWasmThreads(threads);
      if (await tf.setBackend(name)) {
        await tf.ready();
        return backendInfo();
      }
      warning = `the threaded WASM build did not start`;
    } catch (error) {
      warning = (error as Error).message;
    } finally {
      undo?.();
    }
    warning = `${warning}; running tfjs-wasm on 1 thread`;
    tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
  } else if (name === "cpu" && threads > 1) {
    warning = `the cpu backend has no threads; running on 1 thread`;
  }
  const ok = await tf.setBackend(name);
  if (name === "cpu") {
    // The cpu backend prints an advert for tfjs-node on its first write; library code stays silent.
    (tf.backend() as unknown as { firstUse?: boolean }).firstUse = false;
  }
  if (!ok) throw new Error(`Cannot initialise the ${name} backend`);
  await tf.ready();
  return { ...backendInfo(), ...(warning !== undefined ? { warning } : {}) };
}

/** The backend in use, whether WASM SIMD is on and the WASM thread count. */
export function backendInfo(): BackendInfo {
  const backend = tf.getBackend();
  const simd = backend === "wasm" && tf.env().getBool("WASM_HAS_SIMD_SUPPORT");
  let threads = 1;
  if (backend === "wasm") {
    const wasm = tf.backend() as unknown as {
      wasm?: { tfjs?: { getThreadsCount?: () => number } };
    };
    threads = wasm.wasm?.tfjs?.getThreadsCount?.() ?? 1;
  }
  return { backend, simd, threads };
}

/** One line describing the backend, e.g. `backend wasm (SIMD, 1 thread)`. */
export function describeBackend(info: BackendInfo = backendInfo()): string {
  if (info.backend !== "wasm") return `backend ${info.backend}`;
  return `backend wasm (${info.simd ? "SIMD" : "no SIMD"}, ${info.threads} thread${
    info.threads === 1 ? "" : "s"
  })`;
}
