/**
 * Shared helpers of the command-line entry points: backend selection and
 * input reading. Entry points print; the library does not.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import {
  type BackendName,
  describeBackend,
  InferencePool,
  initBackend,
  type ModelBundle,
  TAG_DECODINGS,
  type TagDecoding,
} from "../lib/mod.ts";

/** Default model directory written by `deno task train`. */
export const DEFAULT_MODEL_DIR = "runs/model";

/** Parses argv with node:util's parseArgs, turning its errors into a usage message. */
export function parse(
  args: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  usage: string,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true });
    if ((values as Record<string, unknown>).help === true) {
      console.log(usage);
      Deno.exit(0);
    }
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (error) {
    fail(`${(error as Error).message}\n\n${usage}`);
  }
}

/** Initialises the backend named by `--backend` and prints what runs, on stderr. */
export async function setupBackend(
  name: string | boolean | undefined,
  threadsFlag?: string | boolean,
): Promise<void> {
  const backend = (typeof name === "string" ? name : "wasm") as BackendName;
  const threads = intFlag(threadsFlag, "threads") ?? 1;
  const info = await initBackend(backend, { threads }).catch((e: Error) => fail(e.message));
  if (info.warning !== undefined) console.error(`warning: ${info.warning}`);
  console.error(describeBackend(info));
}

/** Prints an error and exits with status 1. */
export function fail(message: string): never {
  console.error(`error: ${message}`);
  Deno.exit(1);
}

/** Parses a positive integer flag. */
export function intFlag(value: string | boolean | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== "string" || !Number.isInteger(n) || n < 0) {
    fail(`--${flag} expects a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** `--decoding`, `--tag-prior-weight` and `--workers` of the inference entry points, validated. */
export function inferenceFlags(
  values: Record<string, string | boolean | undefined>,
): { decoding: TagDecoding; workers: number; tagPriorWeight?: number } {
  const decoding = (values.decoding as string | undefined) ?? "transitions";
  if (!(TAG_DECODINGS as readonly string[]).includes(decoding)) {
    fail(`--decoding must be one of ${TAG_DECODINGS.join(", ")}, got "${decoding}"`);
  }
  const workers = intFlag(values.workers, "workers") ?? 1;
  if (workers < 1) fail(`--workers expects an integer >= 1, got ${values.workers}`);
  const raw = values["tag-prior-weight"];
  const tagPriorWeight = raw === undefined ? undefined : Number(raw);
  if (tagPriorWeight !== undefined && !(tagPriorWeight >= 0 && tagPriorWeight <= 4)) {
    fail(`--tag-prior-weight expects a number in [0, 4], got ${raw}`);
  }
  return {
    decoding: decoding as TagDecoding,
    workers,
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

/** Texts from positional arguments, `--file` (one per line) or standard input. */
export async function readTexts(
  positionals: string[],
  file: string | boolean | undefined,
): Promise<string[]> {
  let texts = positionals;
  if (typeof file === "string") {
    texts = (await Deno.readTextFile(file).catch((e: Error) =>
      fail(`Cannot read ${file}: ${e.message}`)
    ))
      .split("\n");
  } else if (texts.length === 0 && !Deno.stdin.isTerminal()) {
    texts = (await new Response(Deno.stdin.readable).text()).split("\n");
  }
  texts = texts.map((t) => t.trim()).filter((t) => t !== "");
  if (texts.length === 0) fail("no input text: pass sentences as arguments, --file FILE, or stdin");
  return texts;
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
  "word-dropout": { type: "string" },
  "embedding-updates": { type: "string" },
  "word-vectors": { type: "string" },
  "pretrained-vocab": { type: "string" },
} as const;

/** Usage lines of {@linkcode STRATEGY_FLAGS}. */
export const STRATEGY_USAGE = `
Training strategies (recorded in the saved config):
  --freeze LIST            none | all | backbone | ner-head | sentiment-head, or selectors:
                           embeddings, encoder, layer:I[-J], final-norm (comma-separated)
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
  --word-dropout P         replace training word ids by [UNK] with probability P
  --embedding-updates M    dense | lazy (only the rows a batch reads; cost independent of
                           the vocabulary size)
  --word-vectors SRC       pretrained word vectors: glove-100d | FILE (word v1 … vN per
                           line: GloVe, word2vec text, fastText .vec, optionally .gz) | none
  --pretrained-vocab N     with word vectors: their N most frequent words join the vocabulary`;

/** Train-config overrides from strategy flags. */
export function strategyOverrides(
  values: Record<string, string | boolean | undefined>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const num = (flag: string) => {
    const v = values[flag];
    if (v === undefined) return undefined;
    const n = Number(v);
    if (typeof v !== "string" || !Number.isFinite(n)) {
      fail(`--${flag} expects a number, got ${JSON.stringify(v)}`);
    }
    return n;
  };
  if (typeof values.freeze === "string") {
    out.freeze = values.freeze.split(",").filter((s) => s !== "");
  }
  if (values["layer-lr-decay"] === "ulmfit") out.layerLrDecay = 1 / 2.6;
  else if (values["layer-lr-decay"] !== undefined) out.layerLrDecay = num("layer-lr-decay");
  if (values["head-lr-multiplier"] !== undefined) out.headLrMultiplier = num("head-lr-multiplier");
  if (typeof values.schedule === "string") out.schedule = values.schedule;
  if (values["warmup-steps"] !== undefined) out.warmupSteps = num("warmup-steps");
  if (typeof values.optimizer === "string") out.optimizer = values.optimizer;
  if (values["weight-decay"] !== undefined) out.weightDecay = num("weight-decay");
  if (typeof values["init-backbone"] === "string") out.initBackbone = values["init-backbone"];
  if (values["unfreeze-after"] !== undefined) out.unfreezeAfter = num("unfreeze-after");
  if (values["gradual-unfreeze"] === true) out.gradualUnfreeze = true;
  if (typeof values["task-weighting"] === "string") out.taskWeighting = values["task-weighting"];
  if (typeof values["task-sampling"] === "string") out.taskSampling = values["task-sampling"];
  if (values["word-dropout"] !== undefined) out.wordDropout = num("word-dropout");
  if (typeof values["embedding-updates"] === "string") {
    out.embeddingUpdates = values["embedding-updates"];
  }
  return out;
}

/** Tokenizer-config overrides from `--word-vectors` and `--pretrained-vocab`. */
export function vectorOverrides(
  values: Record<string, string | boolean | undefined>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const source = values["word-vectors"];
  if (typeof source === "string") out.wordVectors = source === "none" ? null : source;
  const size = intFlag(values["pretrained-vocab"], "pretrained-vocab");
  if (size !== undefined) out.pretrainedVocabSize = size;
  return out;
}
