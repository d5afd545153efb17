/**
 * `deno task serve --model DIR`: the model behind HTTP (`lib/serving/`), on
 * Deno.serve. Concurrent requests are batched onto an inference pool of
 * `--workers` workers. On SIGINT or SIGTERM it stops accepting, finishes the
 * requests in flight and exits 0. It reads the model and writes nothing (the
 * task runs without --allow-write).
 * @module
 */
import { loadModel } from "../lib/model/mod.ts";
import { InferencePool } from "../lib/inference/mod.ts";
import { DEFAULT_LIMITS, ModelService, type StaticFile } from "../lib/serving/mod.ts";
import {
  DEFAULT_MODEL_DIR,
  inferenceFlags,
  intFlag,
  main,
  onNote,
  pathExists,
  setupBackend,
  stringFlag,
} from "./_common.ts";
import { BACKEND_FLAGS, type Command, COMMON, type FlagTable, parseCommand } from "./_flags.ts";

const FLAGS = {
  model: COMMON.model,
  port: {
    type: "string",
    value: "N",
    help: "port to listen on (default 8000; 0 picks a free one)",
  },
  host: { type: "string", value: "ADDR", help: "address to listen on (default 127.0.0.1)" },
  workers: {
    ...COMMON.workers,
    help: "inference workers; concurrent requests are batched onto them (default 1:\n" +
      "this thread)",
  },
  "max-body": {
    type: "string",
    value: "BYTES",
    help: `largest request body (default ${DEFAULT_LIMITS.maxBodyBytes}; larger: 413)`,
  },
  "max-texts": {
    type: "string",
    value: "N",
    help: `most texts or pairs per request (default ${DEFAULT_LIMITS.maxTexts}; more: 413)`,
  },
  "max-chars": {
    type: "string",
    value: "N",
    help: `longest text in characters (default ${DEFAULT_LIMITS.maxChars}; longer: 413)`,
  },
  "batch-delay": {
    type: "string",
    value: "MS",
    help: "how long an idle server waits for more requests before it runs a batch\n" +
      "(default 0: at once; under load, requests that come while a batch runs\n" +
      "form the next one)",
  },
  app: {
    type: "string",
    value: "FILE",
    help: "the page's script, bundled from web/app.ts (default web/dist/app.js, which\n" +
      "deno task serve builds first)",
  },
  decoding: COMMON.decoding,
  "tag-prior-weight": COMMON["tag-prior-weight"],
  ...BACKEND_FLAGS,
  help: COMMON.help,
} as const satisfies FlagTable;

const COMMAND: Command = {
  usage: "deno task serve [options]",
  sections: [{ flags: FLAGS }],
  note: "Routes: POST /v1/predict, /v1/embed, /v1/similarity; GET /v1/model, /health,\n" +
    "/openapi.json (docs/serving.md).",
};

export async function run(args: string[]): Promise<void> {
  const parsed = parseCommand(args, COMMAND, false);
  if (parsed === undefined) return;
  const { values } = parsed;
  const port = intFlag(values.port, "port", 0, 65535) ?? 8000;
  const hostname = stringFlag(values.host) ?? "127.0.0.1";
  const limits = {
    ...(values["max-body"] !== undefined
      ? { maxBodyBytes: intFlag(values["max-body"], "max-body", 1)! }
      : {}),
    ...(values["max-texts"] !== undefined
      ? { maxTexts: intFlag(values["max-texts"], "max-texts", 1)! }
      : {}),
    ...(values["max-chars"] !== undefined
      ? { maxChars: intFlag(values["max-chars"], "max-chars", 1)! }
      : {}),
  };
  const batchDelayMs = intFlag(values["batch-delay"], "batch-delay", 0, 10000) ?? 0;
  const { workers, ...inference } = inferenceFlags(values);
  await setupBackend(values.backend, values.threads);
  const dir = stringFlag(values.model) ?? DEFAULT_MODEL_DIR;
  const bundle = await loadModel(dir, { onNote });
  const pool = workers > 1 ? await InferencePool.create(bundle, workers) : undefined;
  const app = stringFlag(values.app) ?? "web/dist/app.js";
  if (!(await pathExists(app))) {
    console.error(`warning: no ${app}: the page at / needs it (deno task web builds it)`);
  }
  const service = new ModelService(bundle, {
    ...(pool !== undefined ? { pool } : {}),
    files: await staticFiles(dir, app),
    limits,
    batchDelayMs,
    inference,
  });
  const server = Deno.serve({
    port,
    hostname,
    onListen: ({ hostname, port }) =>
      console.error(
        `serving ${dir} on http://${hostname}:${port}/ (${workers} worker${
          workers === 1 ? "" : "s"
        }); SIGINT or SIGTERM stops it`,
      ),
  }, (request) => service.handle(request));
  // Stop accepting, finish what is in flight, then exit 0.
  const stop = async (signal: Deno.Signal) => {
    console.error(`${signal}: finishing ${service.inFlight} request(s) in flight`);
    await server.shutdown();
    await service.drain();
    pool?.close();
    bundle.model.dispose();
    Deno.exit(0);
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    Deno.addSignalListener(signal, () => void stop(signal));
  }
  await server.finished;
}

/** The wasm builds tfjs-backend-wasm may ask for. */
const WASM_FILES = /^tfjs-backend-wasm(-simd|-threaded-simd)?\.wasm$/;

/**
 * What the page fetches: itself, its script, tfjs's wasm files, and the model
 * directory's committed files (meta.json and the files it records, of the
 * generation loaded now). Nothing else is reachable.
 */
async function staticFiles(
  dir: string,
  app: string,
): Promise<(path: string) => Promise<StaticFile | undefined>> {
  const meta = JSON.parse(await Deno.readTextFile(`${dir}/meta.json`));
  const modelFiles = new Set<string>([
    "meta.json",
    ...Object.keys(meta.sha256 ?? {}).map((f) => `${meta.current}/${f}`),
  ]);
  const wasmDir = new URL(
    "../node_modules/@tensorflow/tfjs-backend-wasm/dist/",
    import.meta.url,
  );
  const web = new URL("../web/", import.meta.url);
  const file = async (path: string | URL, type: string) => {
    try {
      return { body: await Deno.readFile(path), type };
    } catch {
      return undefined;
    }
  };
  return (path) => {
    if (path === "/" || path === "/index.html") {
      return file(new URL("index.html", web), "text/html; charset=utf-8");
    }
    if (path === "/app.js") return file(app, "text/javascript; charset=utf-8");
    const wasm = /^\/tfjs\/([^/]+)$/.exec(path)?.[1];
    if (wasm !== undefined && WASM_FILES.test(wasm)) {
      return file(new URL(wasm, wasmDir), "application/wasm");
    }
    const model = /^\/model\/(.+)$/.exec(path)?.[1];
    if (model !== undefined && modelFiles.has(model)) {
      return file(`${dir}/${model}`, "application/octet-stream");
    }
    return Promise.resolve(undefined);
  };
}

if (import.meta.main) await main(run);
