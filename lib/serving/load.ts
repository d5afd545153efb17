/**
 * Load on a running service: `clients` concurrent clients, each sending one
 * text per request, one request after another, for `seconds`; throughput,
 * latency percentiles, errors (a non-200 answer) and lost requests (no answer
 * at all). `deno task bench --serve` runs it against an in-process server.
 * @module
 */
import { percentile } from "../experiments/benchmark.ts";
import { InferencePool } from "../inference/inference_pool.ts";
import type { ModelBundle } from "../model/checkpoint.ts";
import { ModelService } from "./service.ts";

/** Options of {@linkcode loadTest}. */
export interface LoadOptions {
  /** Concurrent clients. */
  readonly clients: number;
  /** How long the clients send. */
  readonly seconds: number;
  /** Texts sent round-robin, one per request. */
  readonly texts: readonly string[];
  /** @default "v1/predict" */
  readonly route?: string;
}

/** What {@linkcode loadTest} measured. */
export interface LoadResult {
  readonly clients: number;
  readonly seconds: number;
  readonly requests: number;
  /** Answered requests per second. */
  readonly requestsPerSecond: number;
  readonly latencyMsP50: number;
  readonly latencyMsP99: number;
  /** Answers other than 200. */
  readonly errors: number;
  /** Requests that got no answer (the connection failed or closed). */
  readonly lost: number;
}

/** Runs the load (see the module documentation) against `baseUrl` (ending in `/`). */
export async function loadTest(baseUrl: string, options: LoadOptions): Promise<LoadResult> {
  const url = `${baseUrl}${options.route ?? "v1/predict"}`;
  const latencies: number[] = [];
  let errors = 0, lost = 0, next = 0;
  const started = performance.now();
  const end = started + options.seconds * 1000;
  await Promise.all(Array.from({ length: options.clients }, async () => {
    while (performance.now() < end) {
      const text = options.texts[next++ % options.texts.length]!;
      const sent = performance.now();
      try {
        const response = await fetch(url, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ texts: [text] }),
        });
        await response.arrayBuffer();
        if (response.status !== 200) errors++;
        else latencies.push(performance.now() - sent);
      } catch {
        lost++;
      }
    }
  }));
  const seconds = (performance.now() - started) / 1000;
  return {
    clients: options.clients,
    seconds,
    requests: latencies.length + errors + lost,
    requestsPerSecond: latencies.length / seconds,
    latencyMsP50: percentile(latencies, 50),
    latencyMsP99: percentile(latencies, 99),
    errors,
    lost,
  };
}

/** Options of {@linkcode benchServe}. */
export interface ServeBenchOptions {
  /** Inference workers of the server (and of the in-process pool it is compared with). */
  readonly workers: number;
  /** Seconds per client count. */
  readonly seconds: number;
  /** Client counts, run in turn. */
  readonly clients: readonly number[];
  readonly texts: readonly string[];
}

/** What {@linkcode benchServe} measured. */
export interface ServeBenchResult {
  readonly workers: number;
  /** Texts per second of the in-process pool on the same texts, an equal share per worker. */
  readonly poolTextsPerSecond: number;
  readonly runs: readonly LoadResult[];
}

/**
 * Serves `bundle` on 127.0.0.1 (a free port) with `workers` inference workers,
 * runs {@linkcode loadTest} at each client count, and times the in-process
 * pool on the same texts for comparison; stops the server and the pool.
 */
export async function benchServe(
  bundle: ModelBundle,
  options: ServeBenchOptions,
): Promise<ServeBenchResult> {
  const pool = await InferencePool.create(bundle, options.workers);
  const service = new ModelService(bundle, { pool });
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen: () => {} },
    (request) => service.handle(request),
  );
  try {
    const base = `http://127.0.0.1:${server.addr.port}/`;
    // The same texts through the pool directly, cut so that every worker gets an equal share:
    // the ceiling the server is held to.
    const batchSize = Math.min(64, Math.ceil(options.texts.length / pool.size));
    await pool.predict(options.texts, { batchSize });
    const started = performance.now();
    let done = 0;
    while (performance.now() - started < options.seconds * 1000) {
      await pool.predict(options.texts, { batchSize });
      done += options.texts.length;
    }
    const poolTextsPerSecond = done / ((performance.now() - started) / 1000);
    const runs: LoadResult[] = [];
    for (const clients of options.clients) {
      runs.push(await loadTest(base, { clients, seconds: options.seconds, texts: options.texts }));
    }
    return { workers: options.workers, poolTextsPerSecond, runs };
  } finally {
    await server.shutdown();
    await service.drain();
    pool.close();
  }
}
