/**
 * Task files: a task set as data. Each entry names a task, its kind, the
 * format of its files and the files (training, and optionally dev and test);
 * {@linkcode loadTaskFiles} reads them into labelled sentences and the task
 * specs the model is built from. Recipes list their tasks this way, and
 * `deno task train` takes the same entries from a recipe, a config's `tasks`
 * or `--task NAME=KIND:FORMAT:FILE` flags ({@linkcode parseTaskFlag}).
 *
 * ```json
 * {
 *   "ner": { "kind": "token", "format": "conll", "column": 3, "train": "…/train.txt", "dev": "…/dev.txt" },
 *   "sentiment": { "kind": "sentence", "labelMap": { "0": "negative", "1": "positive" }, "train": "…" },
 *   "similarity": { "kind": "pair", "format": "stsb", "train": "…/train.csv" }
 * }
 * ```
 * @module
 */
import { z } from "zod";
import { PER_TASK_FIELDS, PoolingSchema } from "../core/config.ts";
import { DataError } from "../core/errors.ts";
import { parseSchema } from "../core/schema.ts";
import { defaultMetric, TASK_METRICS, TASK_NAME, type TaskSpec } from "../core/tasks.ts";
import { parseConll, parseLabelledSentences, parsePairs, readText } from "./readers.ts";
import { inferTasks, type Sentence } from "./sentences.ts";

const files = {
  train: z.string().min(1),
  dev: z.string().min(1).optional(),
  test: z.string().min(1).optional(),
};
const common = {
  ...files,
  /** Label vocabulary in id order (default: the labels of the training file). */
  labels: z.array(z.string()).min(1).optional(),
  metric: z.enum(TASK_METRICS as unknown as [string, ...string[]]).optional(),
  /** Label smoothing of the task's cross-entropy (see `TaskSpec.labelSmoothing`). */
  labelSmoothing: z.number().min(0).max(0.5).optional(),
};

/** A token task read from a CoNLL file. */
export const TokenTaskSchema = z.object({
  kind: z.literal("token"),
  format: z.literal("conll").default("conll"),
  /** 0-based column of the tags (default: the last). */
  column: z.number().int().min(1).optional(),
  /** `auto`, `iob1`, `iob2` (chunk tags, converted to IOB2) or `plain` (e.g. POS). */
  scheme: z.enum(["auto", "iob1", "iob2", "plain"]).default("auto"),
  /** A linear-chain CRF output layer (see `TaskSpec.crf`). */
  crf: z.boolean().default(false),
  ...common,
}).strict();

/** A sentence task read from a label file. */
export const SentenceTaskSchema = z.object({
  kind: z.literal("sentence"),
  /** The head's pooling (default: the model's, the sentence embedding's). */
  pooling: PoolingSchema.optional(),
  format: z.enum(["auto", "label-space", "label-tab", "tsv", "jsonl"]).default("auto"),
  labelMap: z.record(z.string(), z.string()).optional(),
  ...common,
}).strict();

/** A sentence-pair task read from the STS Benchmark or JSON lines. */
export const PairTaskSchema = z.object({
  kind: z.literal("pair"),
  format: z.enum(["stsb", "jsonl"]).default("stsb"),
  /** Scores are divided by this (default 5 for stsb, 1 for jsonl). */
  scale: z.number().positive().optional(),
  ...files,
  metric: z.literal("spearman").optional(),
}).strict();

/** The task files of a task set, by task name. */
export const TaskFilesSchema = z.record(
  z.string(),
  z.discriminatedUnion("kind", [TokenTaskSchema, SentenceTaskSchema, PairTaskSchema]),
).superRefine((tasks, ctx) => {
  if (Object.keys(tasks).length === 0) {
    ctx.addIssue({ code: "custom", message: "a task set needs at least one task" });
  }
  for (const name of Object.keys(tasks)) {
    if (!TASK_NAME.test(name)) {
      ctx.addIssue({
        code: "custom",
        path: [name],
        message: "a task name is lower-case letters, digits and _, starting with a letter",
      });
    }
  }
});

/** One task's entry. */
export type TaskFile =
  | z.infer<typeof TokenTaskSchema>
  | z.infer<typeof SentenceTaskSchema>
  | z.infer<typeof PairTaskSchema>;

/** A task set's entries, by task name. */
export type TaskFiles = Readonly<Record<string, TaskFile>>;

/** One task's corpora, read. */
export interface TaskCorpora {
  readonly spec: TaskSpec;
  readonly train: readonly Sentence[];
  /** Empty when the entry gives no dev file. */
  readonly dev: readonly Sentence[];
  /** Empty when the entry gives no test file. */
  readonly test: readonly Sentence[];
}

/** Loaded corpora of a task set, by task. */
export type TaskSetCorpora = Readonly<Record<string, TaskCorpora>>;

/** Options of {@linkcode loadTaskFiles}. */
export interface LoadTaskFilesOptions {
  /** Use at most this many training sentences per task. */
  readonly limit?: number;
  /** Use at most this many dev and test sentences per task. */
  readonly evalLimit?: number;
}

/**
 * Validates a task set's entries.
 * @throws {DataError} naming the file and the field path
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateTaskFiles } from "./task_files.ts";
 * const t = validateTaskFiles({ pos: { kind: "token", column: 1, train: "t" } }, "c.json");
 * assert.equal(t.pos?.format, "conll");
 * assert.throws(() => validateTaskFiles({ pos: { kind: "tokens", train: "t" } }, "c.json"),
 *   /Cannot load c.json: field "tasks.pos.kind"/);
 * ```
 */
export function validateTaskFiles(value: unknown, file: string): TaskFiles {
  return parseSchema(
    z.object({ tasks: TaskFilesSchema }),
    { tasks: value },
    (field, detail) => new DataError(detail, { file, field }),
  ).tasks;
}

/**
 * The per-task entries of a file's `train` section (`taskWeights`,
 * `taskSteps`) that name none of its tasks: a typo there would otherwise
 * leave the task at 1 without a word. Each is given as its field path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unknownTaskNames } from "./task_files.ts";
 * const tasks = { ner: {}, sentiment: {} };
 * assert.deepEqual(unknownTaskNames({ taskWeights: { ner: 2, sentimnet: 2 } }, tasks),
 *   ["train.taskWeights.sentimnet"]);
 * assert.deepEqual(unknownTaskNames({ taskSteps: { sentiment: 2 } }, tasks), []);
 * ```
 */
export function unknownTaskNames(
  train: unknown,
  tasks: Readonly<Record<string, unknown>>,
): string[] {
  if (typeof train !== "object" || train === null) return [];
  return PER_TASK_FIELDS.flatMap((field) => {
    const record = (train as Record<string, unknown>)[field];
    if (typeof record !== "object" || record === null) return [];
    return Object.keys(record).filter((name) => !Object.hasOwn(tasks, name)).map((name) =>
      `train.${field}.${name}`
    );
  });
}

/**
 * Refuses a file whose per-task `train` entries name a task it lacks
 * (see {@linkcode unknownTaskNames}).
 * @throws {DataError} naming the file and the first such field, and the tasks there are
 */
export function checkTaskNames(
  train: unknown,
  tasks: Readonly<Record<string, unknown>>,
  file: string,
): void {
  const [field] = unknownTaskNames(train, tasks);
  if (field === undefined) return;
  throw new DataError(`no such task here (tasks: ${Object.keys(tasks).join(", ")})`, {
    file,
    field,
  });
}

/**
 * Parses a `--task NAME=KIND:FORMAT:FILE` flag into a task entry (the file is
 * everything after the second colon, so it may contain colons; tags of a CoNLL
 * file are read from its last column).
 * @throws {DataError} naming the flag
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseTaskFlag } from "./task_files.ts";
 * const [name, entry] = parseTaskFlag("topic=sentence:tsv:data/topics.tsv");
 * assert.equal(name, "topic");
 * assert.equal(entry.kind, "sentence");
 * assert.equal(entry.format, "tsv");
 * assert.equal(entry.train, "data/topics.tsv");
 * assert.equal(parseTaskFlag("ner=token:conll:c:/x.txt")[1].train, "c:/x.txt");
 * assert.throws(() => parseTaskFlag("ner=token:iob:x.txt"), /--task ner=token:iob:x.txt: field "tasks.ner.format"/);
 * assert.throws(() => parseTaskFlag("ner"), /expects NAME=KIND:FORMAT:FILE/);
 * ```
 */
export function parseTaskFlag(flag: string): [string, TaskFile] {
  const match = /^([^=]+)=([^:]+):([^:]+):(.+)$/.exec(flag);
  if (match === null) {
    throw new DataError(
      "expects NAME=KIND:FORMAT:FILE, e.g. topic=sentence:tsv:data/topics.tsv",
      { file: `--task ${flag}` },
    );
  }
  const [, name, kind, format, file] = match as unknown as [string, string, string, string, string];
  const tasks = validateTaskFiles({ [name]: { kind, format, train: file } }, `--task ${flag}`);
  return [name, tasks[name]!];
}

/**
 * Reads the corpora of a task set. A file is read once; tasks whose sentences
 * come from the same file (CoNLL's NER, POS and chunk columns) are merged into
 * one sentence list labelled for all of them, so one forward pass trains them
 * together. Label vocabularies come from the entry, its label map, or the
 * training file.
 * @throws {DataError} naming the file, line and field of bad data
 */
export async function loadTaskFiles(
  tasks: TaskFiles,
  options: LoadTaskFilesOptions = {},
): Promise<TaskSetCorpora> {
  const texts = new Map<string, Promise<string>>();
  const read = (path: string) => {
    if (!texts.has(path)) texts.set(path, readText(path));
    return texts.get(path)!;
  };
  const load = async (name: string, task: TaskFile, path: string): Promise<Sentence[]> =>
    task.kind === "token"
      ? parseConll(await read(path), path, {
        task: name,
        ...(task.column !== undefined ? { tagColumn: task.column } : {}),
        scheme: task.scheme,
        ...(task.labels !== undefined ? { tags: task.labels } : {}),
      })
      : task.kind === "sentence"
      ? parseLabelledSentences(await read(path), path, {
        task: name,
        format: task.format,
        ...(task.labelMap !== undefined ? { labelMap: task.labelMap } : {}),
        ...(task.labels !== undefined ? { labels: task.labels } : {}),
      })
      : parsePairs(await read(path), path, {
        task: name,
        format: task.format,
        ...(task.scale !== undefined ? { scale: task.scale } : {}),
      });
  const limit = (s: Sentence[], n: number | undefined) => n === undefined ? s : s.slice(0, n);
  const optional = async (name: string, task: TaskFile, path: string | undefined) =>
    path === undefined ? [] : limit(await load(name, task, path), options.evalLimit);
  const loaded: Record<
    string,
    { spec: TaskSpec; train: Sentence[]; dev: Sentence[]; test: Sentence[] }
  > = {};
  for (const [name, task] of Object.entries(tasks)) {
    const train = limit(await load(name, task, task.train), options.limit);
    const inferred = inferTasks(train)[0]!;
    const labels = task.kind === "pair" ? [] : task.labels ??
      (task.kind === "sentence" && task.labelMap !== undefined
        ? [...new Set(Object.values(task.labelMap))]
        : inferred.labels);
    loaded[name] = {
      spec: {
        name,
        kind: task.kind,
        labels,
        metric: (task.metric ?? defaultMetric(task.kind, labels)) as TaskSpec["metric"],
        ...(task.kind === "sentence" && task.pooling !== undefined
          ? { pooling: task.pooling }
          : {}),
        ...(task.kind === "token" && task.crf ? { crf: true } : {}),
        ...(task.kind !== "pair" && task.labelSmoothing !== undefined && task.labelSmoothing > 0
          ? { labelSmoothing: task.labelSmoothing }
          : {}),
      },
      train,
      dev: await optional(name, task, task.dev),
      test: await optional(name, task, task.test),
    };
  }
  // Tasks over the same files share their sentences (labelled for all of them).
  for (const split of ["train", "dev", "test"] as const) {
    const byFile = new Map<string, string[]>();
    for (const [name, task] of Object.entries(tasks)) {
      const file = task[split];
      if (file !== undefined) byFile.set(file, [...(byFile.get(file) ?? []), name]);
    }
    for (const names of byFile.values()) {
      if (names.length < 2) continue;
      const lists = names.map((n) => loaded[n]![split]);
      const same = lists.every((l) =>
        l.length === lists[0]!.length &&
        l.every((s, i) => s.words.join(" ") === lists[0]![i]!.words.join(" "))
      );
      if (!same) continue;
      const merged = lists[0]!.map((s, i) => ({
        words: s.words,
        labels: Object.assign({}, ...lists.map((l) => l[i]!.labels)),
      }));
      for (const n of names) loaded[n]![split] = merged;
    }
  }
  return loaded;
}

/**
 * The sentences of one split of a task set, each distinct list once (tasks
 * over the same file share theirs).
 */
export function splitSentences(
  corpora: TaskSetCorpora,
  split: "train" | "dev" | "test",
): Sentence[] {
  return [...new Set(Object.values(corpora).map((c) => c[split]))].flat();
}
