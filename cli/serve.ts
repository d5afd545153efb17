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
import { DEFAULT_LIMITS, ModelService } from "../lib/serving/mod.ts";
import {
  DEFAULT_MODEL_DIR,
  inferenceFlags,
  intFlag,
  main,
  onNote,
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
  const service = new ModelService(bundle, {
    ...(pool !== undefined ? { pool } : {}),
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

if (import.meta.main) await main(run);
