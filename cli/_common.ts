/**
 * Shared helpers of the command-line entry points: one `main()` that turns any
 * error into one line on stderr and an exit code (1 bad input, 2 usage),
 * strict flag parsing, backend selection and input reading. Entry points
 * print; the library does not.
 * @module
 */
import { type BackendName, describeBackend, initBackend } from "../lib/backend/mod.ts";
import { decodeText } from "../lib/data/mod.ts";
import { type ModelBundle, type ModelDirLock, prepareModelDir } from "../lib/model/mod.ts";
import { InferencePool, TAG_DECODINGS, type TagDecoding } from "../lib/inference/mod.ts";

/** Default model directory written by `deno task train`. */
export const DEFAULT_MODEL_DIR = "runs/model";

/** A mistake in the command line itself (exit code 2). */
export class UsageError extends Error {
  override name = "UsageError";
}

/** Parsed flags. */
export type Flags = Record<string, string | boolean | string[] | undefined>;

/**
 * Runs an entry point: any error becomes one line `error: …` on stderr and exit
 * code 2 (usage) or 1 (bad input or a failed run); no stack trace unless the
 * environment variable DEBUG is set.
 */
export async function main(run: (args: string[]) => Promise<void>): Promise<void> {
  try {
    await run(Deno.args);
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    if (Deno.env.get("DEBUG")) console.error(e.stack);
    const message = e.message.split("\n")[0]!.trim() || e.name;
    console.error(`error: ${message}${e instanceof UsageError ? " (see --help)" : ""}`);
    Deno.exitCode = e instanceof UsageError ? 2 : 1;
  } finally {
    for (const lock of locks.splice(0)) await lock.release();
  }
}

const locks: ModelDirLock[] = [];

/**
 * {@linkcode prepareModelDir} for an entry point: the output directory is
 * checked and locked now, and released when the command ends (a killed
 * command's lock is taken over by the next one).
 */
export async function holdModelDir(dir: string): Promise<void> {
  locks.push(await prepareModelDir(dir));
}

/**
 * An integer flag written as plain digits, within [min, max].
 * @throws {UsageError} otherwise
 */
export function intFlag(
  value: Flags[string],
  flag: string,
  min = 0,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (value === undefined) return undefined;
  if (
    typeof value !== "string" || !/^\d+$/.test(value) || Number(value) < min || Number(value) > max
  ) {
    const range = max === Number.MAX_SAFE_INTEGER ? `>= ${min}` : `in [${min}, ${max}]`;
    throw new UsageError(`--${flag} expects an integer ${range}, got ${JSON.stringify(value)}`);
  }
  return Number(value);
}

/**
 * A number flag within [min, max].
 * @throws {UsageError} otherwise
 */
export function numberFlag(
  value: Flags[string],
  flag: string,
  min = -Infinity,
  max = Infinity,
): number | undefined {
  if (value === undefined) return undefined;
  const n = typeof value === "string" && value.trim() !== "" ? Number(value) : NaN;
  if (!Number.isFinite(n) || n < min || n > max) {
    throw new UsageError(
      `--${flag} expects a number in [${min}, ${max}], got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** A string flag (undefined when absent). */
export function stringFlag(value: Flags[string]): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** Logical cores of this machine. */
export const CORES = navigator.hardwareConcurrency || 1;

/**
 * `--workers N`: at least 1; above the number of cores it is capped, with a
 * warning (more replicas than cores only compete for them).
 */
export function workersFlag(value: Flags[string], fallback = 1): number {
  const workers = intFlag(value, "workers", 1, 1024) ?? fallback;
  if (workers > CORES) {
    console.error(`warning: --workers ${workers} exceeds the ${CORES} cores; using ${CORES}`);
    return CORES;
  }
  return workers;
}

/** Initialises the backend named by `--backend` and prints what runs, on stderr. */
export async function setupBackend(
  name: Flags[string],
  threadsFlag?: Flags[string],
): Promise<void> {
  const backend = stringFlag(name) ?? "wasm";
  if (backend !== "wasm" && backend !== "cpu") {
    throw new UsageError(`--backend must be wasm or cpu, got ${JSON.stringify(backend)}`);
  }
  const threads = intFlag(threadsFlag, "threads", 1, 256) ?? 1;
  if (threads > CORES) {
    console.error(
      `warning: --threads ${threads} exceeds the ${CORES} cores; extra threads only compete for them`,
    );
  }
  const info = await initBackend(backend as BackendName, { threads });
  if (info.warning !== undefined) console.error(`warning: ${info.warning}`);
  if (info.threads < threads && info.warning === undefined) {
    console.error(`warning: tfjs-wasm started ${info.threads} threads, not ${threads}`);
  }
  console.error(describeBackend(info));
}

/**
 * Reads a JSON file that must hold an object (a config or recipe).
 * @throws {Error} naming the file: unreadable, malformed, or not an object
 */
export async function readJsonObject(path: string): Promise<Record<string, unknown>> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new Error(`Cannot read ${path}: ${(error as Error).message}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(decodeText(bytes, path));
  } catch (error) {
    throw new Error(`Cannot load ${path}: malformed JSON (${(error as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    const what = value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
    throw new Error(`Cannot load ${path}: expected a JSON object, got ${what}`);
  }
  return value as Record<string, unknown>;
}

/** `--decoding`, `--tag-prior-weight` and `--workers` of the inference entry points, validated. */
export function inferenceFlags(
  values: Flags,
): { decoding: TagDecoding; workers: number; tagPriorWeight?: number } {
  const decoding = stringFlag(values.decoding) ?? "transitions";
  if (!(TAG_DECODINGS as readonly string[]).includes(decoding)) {
    throw new UsageError(
      `--decoding must be one of ${TAG_DECODINGS.join(", ")}, got "${decoding}"`,
    );
  }
  const tagPriorWeight = numberFlag(values["tag-prior-weight"], "tag-prior-weight", 0, 4);
  return {
    decoding: decoding as TagDecoding,
    workers: workersFlag(values.workers),
    ...(tagPriorWeight === undefined ? {} : { tagPriorWeight }),
  };
}

/** Runs `single` on this thread, or `parallel` on a pool of `workers` workers (closed after). */
export async function onWorkers<T>(
  bundle: ModelBundle,
  workers: number,
  single: () => T,
  parallel: (pool: InferencePool) => Promise<T>,
): Promise<T> {
  if (workers <= 1) return single();
  const pool = await InferencePool.create(bundle, workers);
  try {
    return await parallel(pool);
  } finally {
    pool.close();
  }
}

/**
 * Texts from positional arguments, `--file` (one per line) or standard input.
 * Every argument or line is one input and gets one output, an empty one too, so
 * outputs line up with inputs (a final newline adds no input).
 */
export async function readTexts(positionals: string[], file: Flags[string]): Promise<string[]> {
  let texts = positionals;
  if (typeof file === "string") {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(file);
    } catch (error) {
      throw new Error(`Cannot read ${file}: ${(error as Error).message}`);
    }
    texts = lines(decodeText(bytes, file));
  } else if (texts.length === 0 && !Deno.stdin.isTerminal()) {
    texts = lines(
      decodeText(
        new Uint8Array(await new Response(Deno.stdin.readable).arrayBuffer()),
        "standard input",
      ),
    );
  }
  if (texts.length === 0) {
    throw new UsageError("no input text: pass sentences as arguments, --file FILE, or stdin");
  }
  return texts.map((t) => t.trim());
}

function lines(text: string): string[] {
  const all = text.split("\n").map((l) => l.replace(/\r$/, ""));
  if (all.at(-1) === "") all.pop();
  return all;
}

/** Prints a loader's note (e.g. a model directory saved by an earlier version). */
export function onNote(message: string): void {
  console.error(`note: ${message}`);
}

/** Whether something (a file, folder or link) is at `path`. */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}
