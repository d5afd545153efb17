/**
 * Flags as data: each flag is declared once, with its help and, for a flag that
 * overrides the config, the config field it sets and how its text is read.
 * Parsing (node:util's parseArgs), the usage text and the config overrides all
 * come from these tables. Flags that several commands take are declared once
 * in {@linkcode COMMON}; the training strategies in {@linkcode STRATEGY}.
 * @module
 */
import { parseArgs } from "node:util";
import { DEFAULT_MODEL_DIR, type Flags, intFlag, numberFlag, UsageError } from "./_common.ts";

/** One flag. */
export interface Flag {
  readonly type: "string" | "boolean";
  /** Repeatable (its values form a list). */
  readonly multiple?: boolean;
  readonly short?: string;
  /** The value's placeholder in the usage text, e.g. `N` or `FILE`. */
  readonly value?: string;
  /** Usage text; lines after the first are indented under it. */
  readonly help: string;
  /** The config field the flag overrides, e.g. `train.layerLrDecay`. */
  readonly config?: `${"model" | "tokenizer" | "train"}.${string}`;
  /** Reads the flag's text into the config value. @default the text */
  readonly read?: (text: string, flag: string) => unknown;
}

/** Flags by name (without the leading dashes). */
export type FlagTable = Readonly<Record<string, Flag>>;

/** A command: its usage line, its flags in sections, and a closing note. */
export interface Command {
  /** e.g. `deno task predict [options] [SENTENCE ...]` */
  readonly usage: string;
  readonly sections: readonly { readonly title?: string; readonly flags: FlagTable }[];
  /** Text after the flags. */
  readonly note?: string;
}

/** An integer in [min, max]. */
export const int = (min = 0, max = Number.MAX_SAFE_INTEGER) => (text: string, flag: string) =>
  intFlag(text, flag, min, max)!;

/** A number in [min, max]. */
export const num = (min = -Infinity, max = Infinity) => (text: string, flag: string) =>
  numberFlag(text, flag, min, max)!;

/** A comma-separated list. */
export const list = (text: string) => text.split(",").filter((s) => s !== "");

/** `none` is null, anything else the text. */
const orNone = (text: string) => text === "none" ? null : text;

/** Flags that several commands take. */
export const COMMON = {
  help: { type: "boolean", short: "h", help: "this text" },
  backend: { type: "string", value: "NAME", help: "wasm (default) | cpu" },
  threads: {
    type: "string",
    value: "N",
    help: "tfjs-wasm threads (default 1; falls back to 1 with a warning)",
  },
  workers: {
    type: "string",
    value: "N",
    help: "work on N workers (cores) in parallel (default 1)",
  },
  json: { type: "boolean", help: "one JSON object" },
  quiet: { type: "boolean", help: "no per-step progress" },
  file: {
    type: "string",
    value: "FILE",
    help: "read sentences from FILE, one per line (else arguments, else stdin)",
  },
  model: { type: "string", value: "DIR", help: `model directory (default ${DEFAULT_MODEL_DIR})` },
  decoding: {
    type: "string",
    value: "MODE",
    help: "NER tag decoding: transitions (default: well-formed IOB2 plus the\n" +
      "training tag-bigram scores, Viterbi) | constrained | argmax",
  },
  "tag-prior-weight": {
    type: "string",
    value: "X",
    help: "λ of the tag-prior division of transitions decoding (default:\n" +
      "the model's, 0.5 when trained by this version; 0 turns it off)",
  },
} as const satisfies FlagTable;

/** The backend flags of every command that runs a model. */
export const BACKEND_FLAGS = { backend: COMMON.backend, threads: COMMON.threads } as const;

/** The training strategies, shared by `train` and `recipe`; each overrides a config field. */
export const STRATEGY = {
  backbone: {
    type: "string",
    value: "NAME",
    help: "a pretrained transformer under the task encoder: use-lite (the\n" +
      "Universal Sentence Encoder lite) | none",
    config: "model.backbone",
    read: (text, flag) => {
      if (text !== "use-lite" && text !== "none") {
        throw new UsageError(`--${flag} must be use-lite or none, got "${text}"`);
      }
      return orNone(text);
    },
  },
  freeze: {
    type: "string",
    value: "LIST",
    help: "none | all | backbone | heads | TASK-head (e.g. ner-head), or\n" +
      "selectors: embeddings, word-vectors, encoder, layer:I[-J],\n" +
      "final-norm, backbone:embeddings, backbone:layer:I[-J],\n" +
      "backbone:pooler (comma-separated)",
    config: "train.freeze",
    read: list,
  },
  "layer-lr-decay": {
    type: "string",
    value: "X",
    help: 'layer-wise rate decay (1 = off; "ulmfit" = 1/2.6)',
    config: "train.layerLrDecay",
    read: (text, flag) => text === "ulmfit" ? 1 / 2.6 : num()(text, flag),
  },
  "layer-lr-decay-scope": {
    type: "string",
    value: "NAME",
    help: "all (every depth) | embeddings (only the lowest depth)",
    config: "train.layerLrDecayScope",
  },
  "head-lr-multiplier": {
    type: "string",
    value: "X",
    help: "extra rate multiplier of the heads",
    config: "train.headLrMultiplier",
    read: num(),
  },
  schedule: {
    type: "string",
    value: "NAME",
    help: "inverse-time (reference) | linear | cosine | constant |\nslanted-triangular",
    config: "train.schedule",
  },
  "warmup-steps": {
    type: "string",
    value: "N",
    help: "warm-up of linear, cosine and constant",
    config: "train.warmupSteps",
    read: int(),
  },
  optimizer: { type: "string", value: "NAME", help: "adam | adamw", config: "train.optimizer" },
  "weight-decay": {
    type: "string",
    value: "X",
    help: "AdamW's decoupled weight decay",
    config: "train.weightDecay",
    read: num(),
  },
  "init-backbone": {
    type: "string",
    value: "DIR",
    help: "start embeddings and encoder from a (pretrained) model directory",
    config: "train.initBackbone",
  },
  "unfreeze-after": {
    type: "string",
    value: "N",
    help: "freeze the backbone for N epochs, then train everything",
    config: "train.unfreezeAfter",
    read: int(),
  },
  "gradual-unfreeze": {
    type: "boolean",
    help: "ULMFiT: epoch e trains the top e layer groups",
    config: "train.gradualUnfreeze",
  },
  "task-weighting": {
    type: "string",
    value: "NAME",
    help: "static | uncertainty (Kendall et al. 2018)",
    config: "train.taskWeighting",
  },
  "task-sampling": {
    type: "string",
    value: "NAME",
    help: "proportional | temperature | round-robin | balanced",
    config: "train.taskSampling",
  },
  "balanced-steps": {
    type: "string",
    value: "NAME",
    help: "balanced sampling: batches per task per epoch as the smallest,\n" +
      "median or largest task has (default smallest)",
    config: "train.balancedSteps",
  },
  "word-dropout": {
    type: "string",
    value: "P",
    help: "replace training word ids by [UNK] with probability P",
    config: "train.wordDropout",
    read: num(),
  },
  "embedding-updates": {
    type: "string",
    value: "M",
    help: "dense | lazy (only the rows a batch reads; cost independent of\n" +
      "the vocabulary size)",
    config: "train.embeddingUpdates",
  },
  "word-vectors": {
    type: "string",
    value: "SRC",
    help: "pretrained word vectors: glove-100d | FILE (word v1 … vN per\n" +
      "line: GloVe, word2vec text, fastText .vec, optionally .gz) | none",
    config: "tokenizer.wordVectors",
    read: orNone,
  },
  "pretrained-vocab": {
    type: "string",
    value: "N",
    help: "with word vectors: their N most frequent words join the vocabulary",
    config: "tokenizer.pretrainedVocabSize",
    read: int(),
  },
} as const satisfies FlagTable;

/** The strategy section of a command's usage. */
export const STRATEGY_SECTION = {
  title: "Training strategies (recorded in the saved config):",
  flags: STRATEGY,
} as const;

/**
 * The usage text of a command, from its flag tables.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { usageText } from "./_flags.ts";
 * const text = usageText({
 *   usage: "deno task x [options]",
 *   sections: [{ flags: { out: { type: "string", value: "DIR", help: "where\nit goes" } } }],
 * });
 * assert.equal(text, "Usage: deno task x [options]\n\n  --out DIR  where\n             it goes");
 * ```
 */
export function usageText(command: Command): string {
  const label = (name: string, flag: Flag) =>
    `${flag.short !== undefined ? `-${flag.short}, ` : ""}--${name}${
      flag.value !== undefined ? ` ${flag.value}` : ""
    }`;
  const all = command.sections.flatMap((s) => Object.entries(s.flags));
  const width = Math.min(24, Math.max(...all.map(([name, flag]) => label(name, flag).length)));
  const lines = [`Usage: ${command.usage}`];
  for (const section of command.sections) {
    lines.push("", ...(section.title !== undefined ? [section.title] : []));
    for (const [name, flag] of Object.entries(section.flags)) {
      const head = label(name, flag);
      const [first, ...rest] = flag.help.split("\n");
      lines.push(
        head.length <= width ? `  ${head.padEnd(width)}  ${first}` : `  ${head}  ${first}`,
        ...rest.map((l) => `${" ".repeat(width + 4)}${l}`),
      );
    }
  }
  if (command.note !== undefined) lines.push("", command.note);
  return lines.join("\n");
}

/**
 * Parses argv against a command's flags; a parse error is a
 * {@linkcode UsageError}. `--help` prints the usage text and returns undefined.
 */
export function parseCommand(
  args: string[],
  command: Command,
  allowPositionals = true,
): { values: Flags; positionals: string[] } | undefined {
  const options = Object.fromEntries(
    command.sections.flatMap((s) => Object.entries(s.flags)).map(([name, flag]) => [name, {
      type: flag.type,
      ...(flag.multiple ? { multiple: true } : {}),
      ...(flag.short !== undefined ? { short: flag.short } : {}),
    }]),
  );
  let parsed;
  try {
    parsed = parseArgs({ args, options, allowPositionals });
  } catch (error) {
    throw new UsageError((error as Error).message.replace(/\. To specify a positional.*$/, ""));
  }
  if ((parsed.values as Flags).help === true) {
    console.log(usageText(command));
    return undefined;
  }
  return { values: parsed.values as Flags, positionals: parsed.positionals };
}

/** Config overrides, by section, of the flags of `table` that were given. */
export interface FlagOverrides {
  readonly model: Record<string, unknown>;
  readonly tokenizer: Record<string, unknown>;
  readonly train: Record<string, unknown>;
}

/**
 * The config overrides of the given flags of `table`, read by each flag's
 * `read` and placed at its `config` path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { configOverrides, STRATEGY } from "./_flags.ts";
 * assert.deepEqual(
 *   configOverrides({ "layer-lr-decay": "0.5", backbone: "none", freeze: "backbone,heads" }, STRATEGY),
 *   { model: { backbone: null }, tokenizer: {}, train: { layerLrDecay: 0.5, freeze: ["backbone", "heads"] } },
 * );
 * ```
 */
export function configOverrides(values: Flags, table: FlagTable): FlagOverrides {
  const out: FlagOverrides = { model: {}, tokenizer: {}, train: {} };
  for (const [name, flag] of Object.entries(table)) {
    const value = values[name];
    if (flag.config === undefined || value === undefined || value === false) continue;
    const [section, field] = flag.config.split(".") as [keyof FlagOverrides, string];
    out[section][field] = typeof value === "string" && flag.read !== undefined
      ? flag.read(value, name)
      : value;
  }
  return out;
}

/** The flags of `table` that were given (for refusing them where they would not apply). */
export function flagsGiven(values: Flags, table: FlagTable): string[] {
  return Object.keys(table).filter((name) => values[name] !== undefined);
}
