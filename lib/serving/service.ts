/**
 * The model as an HTTP service, transport-agnostic: {@linkcode ModelService}
 * turns a `Request` into a `Response` (Deno.serve, a test, or any Fetch-API
 * server calls it). Routes:
 *
 * - `POST /v1/predict` `{"texts": [...]}` → `{"predictions": [...]}`, each what
 *   `predict --json` prints for that text;
 * - `POST /v1/embed` `{"texts": [...], "normalize": true}` → `{"embeddings": [[...]]}`;
 * - `POST /v1/similarity` `{"pairs": [["a", "b"], ...]}` → `{"similarities": [...]}`
 *   (cosine of the two embeddings);
 * - `GET /v1/model`: tasks, labels, config, parameter count;
 * - `GET /health`; `GET /openapi.json`, generated from the request schemas.
 *
 * Requests are validated by zod schemas (the same ones the OpenAPI document is
 * made from); every error is one JSON line `{"error": "..."}` with a 4xx
 * status. Texts of concurrent requests are batched together
 * ({@linkcode MicroBatcher}) and run on an inference pool when one is given.
 * The service reads nothing and writes nothing.
 * @module
 */
import { z } from "zod";
import type { ModelBundle } from "../model/checkpoint.ts";
import type { InferencePool } from "../inference/inference_pool.ts";
import {
  cosineSimilarity,
  embed,
  type InferenceOptions,
  predict,
  type Prediction,
} from "../inference/pipeline.ts";
import { parseSchema } from "../core/schema.ts";
import { MicroBatcher } from "./batcher.ts";

/** Request limits. */
export interface ServeLimits {
  /** Largest request body. @default 1 MiB */
  readonly maxBodyBytes: number;
  /** Most texts (or pairs) in one request. @default 256 */
  readonly maxTexts: number;
  /** Longest text, in characters. @default 5000 */
  readonly maxChars: number;
}

/** The default {@linkcode ServeLimits}. */
export const DEFAULT_LIMITS: ServeLimits = {
  maxBodyBytes: 1 << 20,
  maxTexts: 256,
  maxChars: 5000,
};

/** Options of {@linkcode ModelService}. */
export interface ServiceOptions {
  /** Run batches on these workers (else on this thread). */
  readonly pool?: InferencePool;
  readonly limits?: Partial<ServeLimits>;
  /** How long an idle service waits for more requests before it runs a batch. @default 0 */
  readonly batchDelayMs?: number;
  /** Decoding options of predictions (as `predict`'s flags). */
  readonly inference?: InferenceOptions;
  /**
   * Static files for `GET` paths that are not routes (the page, its script,
   * the model's files): the bytes and content type, or undefined (404).
   */
  readonly files?: (path: string) => Promise<StaticFile | undefined>;
}

/** A file served as is. */
export interface StaticFile {
  readonly body: Uint8Array;
  readonly type: string;
}

/** The request schemas under `limits` (they validate requests and make the OpenAPI document). */
export function requestSchemas(limits: ServeLimits) {
  const text = z.string().max(limits.maxChars);
  const texts = z.array(text).min(1).max(limits.maxTexts);
  return {
    predict: z.object({ texts }).strict(),
    embed: z.object({ texts, normalize: z.boolean().default(false) }).strict(),
    similarity: z.object({
      pairs: z.array(z.tuple([text, text])).min(1).max(limits.maxTexts),
    }).strict(),
  };
}

/** An error answered as `{"error": message}` with `status`. */
export class HttpError extends Error {
  override name = "HttpError";
  readonly status: number;
  readonly headers: Record<string, string>;
  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.status = status;
    this.headers = headers;
  }
}

/** The service (see the module documentation). */
export class ModelService {
  readonly bundle: ModelBundle;
  readonly limits: ServeLimits;
  readonly #schemas: ReturnType<typeof requestSchemas>;
  readonly #openApi: unknown;
  readonly #predict: MicroBatcher<string, Prediction>;
  readonly #embed: Record<"raw" | "normalized", MicroBatcher<string, Float32Array>>;
  readonly #files: ServiceOptions["files"];
  #inFlight = 0;

  constructor(bundle: ModelBundle, options: ServiceOptions = {}) {
    this.bundle = bundle;
    this.limits = { ...DEFAULT_LIMITS, ...options.limits };
    this.#schemas = requestSchemas(this.limits);
    this.#openApi = openApi(this.#schemas);
    this.#files = options.files;
    const pool = options.pool;
    const inference = options.inference ?? {};
    const batching = { delayMs: options.batchDelayMs ?? 0, maxItems: 64 * (pool?.size ?? 1) };
    this.#predict = new MicroBatcher(
      (texts, callers) =>
        pool !== undefined
          ? pool.predict(texts, { ...inference, batchSize: batchSize(texts.length, callers, pool) })
          : Promise.resolve(predict(bundle, texts, inference)),
      batching,
    );
    const embedder = (normalize: boolean) =>
      new MicroBatcher<string, Float32Array>(
        (texts, callers) =>
          pool !== undefined
            ? pool.embed(texts, { normalize, batchSize: batchSize(texts.length, callers, pool) })
            : Promise.resolve(embed(bundle, texts, { normalize })),
        batching,
      );
    this.#embed = { raw: embedder(false), normalized: embedder(true) };
  }

  /** Requests being answered now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** Answers one request; never throws. */
  async handle(request: Request): Promise<Response> {
    this.#inFlight++;
    try {
      const path = new URL(request.url).pathname;
      if (ROUTES[path] === undefined && this.#files !== undefined && request.method === "GET") {
        const file = await this.#files(path);
        if (file === undefined) throw new HttpError(404, `no route or file ${path}`);
        return new Response(file.body as Uint8Array<ArrayBuffer>, {
          headers: { "content-type": file.type },
        });
      }
      return json(200, await this.#route(request, path));
    } catch (error) {
      if (error instanceof HttpError) {
        return json(error.status, { error: error.message }, error.headers);
      }
      // Anything else is the service's fault; the message stays one line.
      const message = error instanceof Error ? error.message : String(error);
      return json(500, { error: message.split("\n")[0] });
    } finally {
      this.#inFlight--;
    }
  }

  /** Resolves when every batch submitted so far has run. */
  async drain(): Promise<void> {
    await Promise.all([
      this.#predict.drain(),
      this.#embed.raw.drain(),
      this.#embed.normalized.drain(),
    ]);
  }

  async #route(request: Request, path: string): Promise<unknown> {
    const route = ROUTES[path];
    if (route === undefined) throw new HttpError(404, `no route ${path}`);
    if (request.method !== route) {
      throw new HttpError(405, `${path} takes ${route}, not ${request.method}`, { Allow: route });
    }
    switch (path) {
      case "/health":
        return { status: "ok" };
      case "/openapi.json":
        return this.#openApi;
      case "/v1/model":
        return this.#describe();
      case "/v1/predict": {
        const { texts } = await this.#body(request, this.#schemas.predict);
        return { predictions: await this.#predict.submit(texts) };
      }
      case "/v1/embed": {
        const { texts, normalize } = await this.#body(request, this.#schemas.embed);
        const vectors = await this.#embed[normalize ? "normalized" : "raw"].submit(texts);
        return { embeddings: vectors.map((v) => Array.from(v)) };
      }
      case "/v1/similarity": {
        const { pairs } = await this.#body(request, this.#schemas.similarity);
        const vectors = await this.#embed.normalized.submit(pairs.flat());
        return {
          similarities: pairs.map((_, i) => cosineSimilarity(vectors[2 * i]!, vectors[2 * i + 1]!)),
        };
      }
    }
    throw new HttpError(404, `no route ${path}`);
  }

  #describe(): unknown {
    const { bundle } = this;
    return {
      tasks: bundle.tasks.map((t) => ({
        name: t.name,
        kind: t.kind,
        labels: t.labels,
        metric: t.metric,
      })),
      config: bundle.config,
      parameters: bundle.model.countParameters(),
      embeddingSize: bundle.model.embeddingSize,
      limits: this.limits,
    };
  }

  /** The request's JSON body, within the size limit, validated by `schema`. */
  async #body<S extends z.ZodType>(request: Request, schema: S): Promise<z.infer<S>> {
    const max = this.limits.maxBodyBytes;
    const declared = Number(request.headers.get("content-length") ?? NaN);
    if (declared > max) throw tooLarge(max);
    const bytes = await readAtMost(request, max);
    let value: unknown;
    try {
      value = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
    } catch (error) {
      throw new HttpError(400, `malformed JSON body (${(error as Error).message})`);
    }
    const result = schema.safeParse(value);
    if (result.success) return result.data;
    // Over a limit: 413; anything else: 400; the message as every reader words it.
    const status = result.error.issues[0]!.code === "too_big" ? 413 : 400;
    return parseSchema(
      schema,
      value,
      (field, detail) => new HttpError(status, `field "${field}": ${detail}`),
    );
  }
}

/**
 * The pool's batch size for a micro-batch: one request's texts are batched as
 * `predict` batches them (64), so its answers are those of `predict --json` to
 * the bit; texts of several requests are cut so that every worker gets a share.
 */
function batchSize(texts: number, callers: number, pool: InferencePool): number {
  if (callers === 1) return 64;
  return Math.min(64, Math.max(1, Math.ceil(texts / pool.size)));
}

/** Method of each route. */
const ROUTES: Readonly<Record<string, "GET" | "POST">> = {
  "/health": "GET",
  "/openapi.json": "GET",
  "/v1/model": "GET",
  "/v1/predict": "POST",
  "/v1/embed": "POST",
  "/v1/similarity": "POST",
};

function json(status: number, body: unknown, headers: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body) + "\n", {
    status,
    headers: { "content-type": "application/json; charset=utf-8", ...headers },
  });
}

function tooLarge(max: number): HttpError {
  return new HttpError(413, `request body over ${max} bytes`);
}

/** The body's bytes, refusing more than `max` without reading further. */
async function readAtMost(request: Request, max: number): Promise<Uint8Array> {
  if (request.body === null) return new Uint8Array();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.length;
    if (size > max) throw tooLarge(max);
    chunks.push(chunk);
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

/** The OpenAPI 3.1 document of the routes, its request bodies from the zod schemas. */
export function openApi(schemas: ReturnType<typeof requestSchemas>): unknown {
  const body = (schema: z.ZodType) => ({
    required: true,
    content: { "application/json": { schema: z.toJSONSchema(schema, { io: "input" }) } },
  });
  const error = { description: 'one JSON line {"error": "..."}' };
  const post = (summary: string, schema: z.ZodType) => ({
    post: {
      summary,
      requestBody: body(schema),
      responses: { "200": { description: "the result" }, "400": error, "413": error },
    },
  });
  const get = (summary: string) => ({
    get: { summary, responses: { "200": { description: "the result" } } },
  });
  return {
    openapi: "3.1.0",
    info: { title: "multi-task transformer toolkit", version: "1" },
    paths: {
      "/v1/predict": post("every task of the model per text (as predict --json)", schemas.predict),
      "/v1/embed": post("sentence embeddings", schemas.embed),
      "/v1/similarity": post("cosine similarity of each pair's embeddings", schemas.similarity),
      "/v1/model": get("tasks, labels, config and parameter count"),
      "/health": get("liveness"),
      "/openapi.json": get("this document"),
    },
  };
}
