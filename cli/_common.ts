/**
 * Shared helpers of the command-line entry points: one `main()` that turns any
 * error into one line on stderr and an exit code (1 bad input, 2 usage),
 * strict flag parsing, backend selection and input reading. Entry points
 * print; the library does not.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
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
 * Parses argv with node:util's parseArgs; a parse error is a {@linkcode UsageError}.
 * `--help` prints `usage` and returns undefined.
 */
export function parse(
  args: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  usage: string,
  allowPositionals = true,
): { values: Flags; positionals: string[] } | undefined {
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify a positional.*$/, ""));
  }
  if ((parsed.values as Flags).help === true) {
    console.log(usage);
    return undefined;
  }
  return { values: parsed.values as Flags, positionals: parsed.positionals };
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

/** Flags of the training strategies, shared by `train` and `recipe`. */
export const STRATEGY_FLAGS = {
  freeze: { type: "string" },
  "layer-lr-decay": { type: "string" },
  "head-lr-multiplier": { type: "string" },
  schedule: { type: "string" },
  "warmup-steps": { type: "string" },
  optimizer: { type: "string" },
  "weight-decay": { type: "string" },
  "init-backbone": { type: "string" },
  "unfreeze-after": { type: "string" },
  "gradual-unfreeze": { type: "boolean" },
  "task-weighting": { type: "string" },
  "task-sampling": { type: "string" },
  "balanced-steps": { type: "string" },
  "word-dropout": { type: "string" },
  "embedding-updates": { type: "string" },
  "word-vectors": { type: "string" },
  "pretrained-vocab": { type: "string" },
  backbone: { type: "string" },
} as const;

/** Usage lines of {@linkcode STRATEGY_FLAGS}. */
export const STRATEGY_USAGE = `
Training strategies (recorded in the saved config):
  --backbone NAME          a pretrained transformer under the task encoder: use-lite (the
                           Universal Sentence Encoder lite) | none
  --freeze LIST            none | all | backbone | heads | TASK-head (e.g. ner-head), or
                           selectors: embeddings, word-vectors, encoder, layer:I[-J],
                           final-norm, backbone:embeddings, backbone:layer:I[-J],
                           backbone:pooler (comma-separated)
  --layer-lr-decay X       layer-wise rate decay (1 = off; "ulmfit" = 1/2.6)
  --head-lr-multiplier X   extra rate multiplier of the heads
  --schedule NAME          inverse-time (reference) | linear | cosine | slanted-triangular
  --warmup-steps N         warm-up of linear and cosine
  --optimizer NAME         adam | adamw        --weight-decay X   (AdamW)
  --init-backbone DIR      start embeddings and encoder from a (pretrained) model directory
  --unfreeze-after N       freeze the backbone for N epochs, then train everything
  --gradual-unfreeze       ULMFiT: epoch e trains the top e layer groups
  --task-weighting NAME    static | uncertainty (Kendall et al. 2018)
  --task-sampling NAME     proportional | temperature | round-robin | balanced
  --balanced-steps NAME    balanced sampling: batches per task per epoch as the smallest,
                           median or largest task has (default smallest)
  --word-dropout P         replace training word ids by [UNK] with probability P
  --embedding-updates M    dense | lazy (only the rows a batch reads; cost independent of
                           the vocabulary size)
  --word-vectors SRC       pretrained word vectors: glove-100d | FILE (word v1 … vN per
                           line: GloVe, word2vec text, fastText .vec, optionally .gz) | none
  --pretrained-vocab N     with word vectors: their N most frequent words join the vocabulary`;

/** Names of the strategy flags a user set (for refusing them where they would not apply). */
export function strategyFlagsSet(values: Flags): string[] {
  return Object.keys(STRATEGY_FLAGS).filter((f) => values[f] !== undefined);
}

/** Train-config overrides from strategy flags. */
export function strategyOverrides(values: Flags): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const num = (flag: string) => numberFlag(values[flag], flag);
  if (typeof values.freeze === "string") {
    out.freeze = values.freeze.split(",").filter((s) => s !== "");
  }
  if (values["layer-lr-decay"] === "ulmfit") out.layerLrDecay = 1 / 2.6;
  else if (values["layer-lr-decay"] !== undefined) out.layerLrDecay = num("layer-lr-decay");
  if (values["head-lr-multiplier"] !== undefined) out.headLrMultiplier = num("head-lr-multiplier");
  if (typeof values.schedule === "string") out.schedule = values.schedule;
  if (values["warmup-steps"] !== undefined) {
    out.warmupSteps = intFlag(values["warmup-steps"], "warmup-steps");
  }
  if (typeof values.optimizer === "string") out.optimizer = values.optimizer;
  if (values["weight-decay"] !== undefined) out.weightDecay = num("weight-decay");
  if (typeof values["init-backbone"] === "string") out.initBackbone = values["init-backbone"];
  if (values["unfreeze-after"] !== undefined) {
    out.unfreezeAfter = intFlag(values["unfreeze-after"], "unfreeze-after");
  }
  if (values["gradual-unfreeze"] === true) out.gradualUnfreeze = true;
  if (typeof values["task-weighting"] === "string") out.taskWeighting = values["task-weighting"];
  if (typeof values["task-sampling"] === "string") out.taskSampling = values["task-sampling"];
  if (typeof values["balanced-steps"] === "string") out.balancedSteps = values["balanced-steps"];
  if (values["word-dropout"] !== undefined) out.wordDropout = num("word-dropout");
  if (typeof values["embedding-updates"] === "string") {
    out.embeddingUpdates = values["embedding-updates"];
  }
  return out;
}

/** Model-config overrides from `--backbone`. */
export function modelOverrides(values: Flags): Record<string, unknown> {
  const name = values.backbone;
  if (typeof name !== "string") return {};
  if (name !== "use-lite" && name !== "none") {
    throw new UsageError(`--backbone must be use-lite or none, got "${name}"`);
  }
  return { backbone: name === "none" ? null : name };
}

/** Tokenizer-config overrides from `--word-vectors` and `--pretrained-vocab`. */
export function vectorOverrides(values: Flags): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const source = values["word-vectors"];
  if (typeof source === "string") out.wordVectors = source === "none" ? null : source;
  const size = intFlag(values["pretrained-vocab"], "pretrained-vocab");
  if (size !== undefined) out.pretrainedVocabSize = size;
  return out;
}
