/**
 * Multi-threaded tfjs-wasm under Deno. tfjs-backend-wasm treats Deno as Node
 * and switches threads off; forcing them on fails because Emscripten hands
 * `node:worker_threads` a `blob:` URL. This module makes the threaded SIMD
 * build start: it writes the pthread worker source to a temporary `.cjs` file
 * (patched to load the Emscripten glue from its file path and to tolerate
 * Deno's getter-only worker globals) and returns that path where tfjs asks for
 * a Blob URL. Entry points call it through `initBackend(…, { threads })`.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { setThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import os from "node:os";

interface NodeWorker {
  ref(): void;
  unref(): void;
}

/** Worker-source patches; each must apply, or the build changed under us. */
const WORKER_PATCHES: readonly [string, (glue: string) => string][] = [
  // Deno's worker globals (self, location, postMessage, performance) are getter-only.
  [
    "Object.assign(global,{",
    () =>
      "((t,s)=>{for(const k of Object.keys(s)){try{t[k]=s[k]}catch(_){}" +
      "if(t[k]!==s[k]){try{Object.defineProperty(t,k,{value:s[k],writable:true,configurable:true})}catch(_){}}}})(global,{",
  ],
  // Load the Emscripten glue from its file, not from a Blob.
  [
    'if(typeof e.data.urlOrBlob=="string"){importScripts(e.data.urlOrBlob)}else{var objectUrl=URL.createObjectURL(e.data.urlOrBlob);importScripts(objectUrl);URL.revokeObjectURL(objectUrl)}',
    (glue) => `importScripts(${JSON.stringify(glue)});`,
  ],
];

/**
 * Prepares the threaded build: call before the wasm backend initialises.
 * @returns a function that undoes the global patches once the backend is up
 */
export function prepareWasmThreads(threads: number): () => void {
  if (!Number.isInteger(threads) || threads < 2) {
    throw new RangeError(`WASM threads must be an integer >= 2, got ${threads}`);
  }
  const require = createRequire(import.meta.url);
  const entry = require.resolve("@tensorflow/tfjs-backend-wasm");
  const glue = entry.replace(/dist[\\/][^\\/]+$/, "wasm-out/tfjs-backend-wasm-threaded-simd.js");
  try {
    Deno.statSync(glue);
  } catch {
    throw new Error(`Cannot start WASM threads: ${glue} is missing`);
  }
  const dir = Deno.makeTempDirSync({ prefix: "tfjs-wasm-threads-" });
  const workerPath = `${dir}/pthread-worker.cjs`;
  // Emscripten may start more pthread workers later, so the file stays until the process ends.
  globalThis.addEventListener("unload", () => {
    try {
      Deno.removeSync(dir, { recursive: true });
    } catch {
      // already gone
    }
  });
  const sources = new WeakMap<Blob, string>();
  const OriginalBlob = globalThis.Blob;
  const originalCreate = URL.createObjectURL;
  const originalCpus = os.cpus;
  class RecordingBlob extends OriginalBlob {
    constructor(parts?: BlobPart[], options?: BlobPropertyBag) {
      super(parts, options);
      if (parts !== undefined && parts.every((p) => typeof p === "string")) {
        sources.set(this, (parts as string[]).join(""));
      }
    }
  }
  let written = false;
  globalThis.Blob = RecordingBlob;
  URL.createObjectURL = (object: Blob) => {
    const source = object instanceof OriginalBlob ? sources.get(object) : undefined;
    if (source === undefined || !source.includes("ENVIRONMENT_IS_PTHREAD")) {
      return originalCreate(object);
    }
    if (!written) {
      let patched = source;
      for (const [find, replace] of WORKER_PATCHES) {
        if (!patched.includes(find)) {
          throw new Error(`Cannot start WASM threads: the pthread worker source has changed`);
        }
        patched = patched.replace(find, replace(glue));
      }
      Deno.writeTextFileSync(workerPath, patched);
      written = true;
    }
    return workerPath;
  };
  // tfjs caps its thread pool at half the logical cores; report enough cores for `threads`.
  // Emscripten replaces the global Worker with node's and keeps its pthread
  // workers referenced, which would keep the process alive after the program
  // ends: hand it workers that never hold the event loop, and restore Worker.
  const workerThreads = require("node:worker_threads") as {
    Worker: new (...args: never[]) => NodeWorker;
  };
  const OriginalNodeWorker = workerThreads.Worker;
  const originalGlobalWorker = globalThis.Worker;
  workerThreads.Worker = class extends OriginalNodeWorker {
    constructor(...args: never[]) {
      super(...args);
      super.unref();
    }
    override ref(): void {}
  };
  const cpus = originalCpus();
  os.cpus = () => Array.from({ length: 2 * threads }, (_, i) => cpus[i % cpus.length]!);
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
  setThreadsCount(threads);
  return () => {
    globalThis.Blob = OriginalBlob;
    URL.createObjectURL = originalCreate;
    os.cpus = originalCpus;
    workerThreads.Worker = OriginalNodeWorker;
    globalThis.Worker = originalGlobalWorker;
  };
}
