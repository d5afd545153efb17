/**
 * Tasks as data (as spaCy's registered components and keras-hub's task
 * classes): a task names its kind, its labels and its metric; heads, losses,
 * metrics, predictions, checkpoints and reports are keyed by its name. Adding
 * a task is a recipe entry, not a code change.
 * @module
 */
import type { Pooling } from "./config.ts";

/**
 * What a task predicts: `token` one label per word (NER, POS, chunking),
 * `sentence` one label per sentence (sentiment, topic), `pair` a similarity
 * score for a pair of sentences (read from the pooled sentence embeddings).
 */
export type TaskKind = "token" | "sentence" | "pair";

/**
 * How a task is scored on dev and test: `entity-f1` (conlleval's exact-span F1
 * over IOB tags), `accuracy` (per token or per sentence), `spearman` (rank
 * correlation of predicted and gold similarity).
 */
export type TaskMetric = "entity-f1" | "accuracy" | "spearman";

/** One task of a multi-task model. */
export interface TaskSpec {
  /** Identifier: lower-case letters, digits and `_`, starting with a letter (`ner`, `pos`). */
  readonly name: string;
  readonly kind: TaskKind;
  /** Label vocabulary in id order (tags, or classes); empty for `pair` tasks. */
  readonly labels: readonly string[];
  readonly metric: TaskMetric;
  /**
   * Sentence and pair tasks: how the head pools the token vectors (`mean`,
   * `cls`, `max`); default the model's `pooling`, which is also the sentence
   * embedding's. A sentence task pooling its own way (e.g. `cls`) leaves the
   * embedding's pooling to the others.
   */
  readonly pooling?: Pooling;
  /**
   * Token tasks: a linear-chain CRF output layer, trained with the sequence
   * likelihood and decoded by Viterbi over its learned tag transitions
   * (instead of per-token cross-entropy and the counted transitions).
   */
  readonly crf?: boolean;
  /**
   * Token and sentence tasks: label smoothing ε of the cross-entropy (the
   * gold label's target is 1 − ε, and ε is spread evenly over all labels;
   * Szegedy et al., 2016). Training only. @default 0
   */
  readonly labelSmoothing?: number;
}

/** The grammar of task names. */
export const TASK_NAME = /^[a-z][a-z0-9_]*$/;

/** Every task kind, for validation. */
export const TASK_KINDS: readonly TaskKind[] = ["token", "sentence", "pair"];

/** Every metric, for validation. */
export const TASK_METRICS: readonly TaskMetric[] = ["entity-f1", "accuracy", "spearman"];

/**
 * Whether tags are IOB chunk tags (`O`, `B-X`, `I-X`): such token tasks are
 * decoded into spans and scored by entity F1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isChunkTagSet } from "./tasks.ts";
 * assert.equal(isChunkTagSet(["O", "B-PER", "I-PER"]), true);
 * assert.equal(isChunkTagSet(["NN", "VBZ", "O"]), false);
 * ```
 */
export function isChunkTagSet(labels: readonly string[]): boolean {
  return labels.length > 0 && labels.every((l) => l === "O" || /^[BI]-\S+$/.test(l));
}

/**
 * The metric a task gets when none is named: entity F1 for token tasks over
 * IOB tags, Spearman for pairs, accuracy otherwise.
 */
export function defaultMetric(kind: TaskKind, labels: readonly string[]): TaskMetric {
  if (kind === "pair") return "spearman";
  return kind === "token" && isChunkTagSet(labels) ? "entity-f1" : "accuracy";
}

/**
 * Checks a task list: valid unique names, known kinds and metrics that fit
 * them, labels for token and sentence tasks.
 * @throws {RangeError} naming the task and what is wrong
 */
export function validateTasks(tasks: readonly TaskSpec[]): void {
  const seen = new Set<string>();
  for (const task of tasks) {
    const at = `task "${task.name}"`;
    if (!TASK_NAME.test(task.name)) {
      throw new RangeError(
        `Invalid ${at}: a task name is lower-case letters, digits and _, starting with a letter`,
      );
    }
    if (seen.has(task.name)) throw new RangeError(`Invalid ${at}: the name is used twice`);
    seen.add(task.name);
    if (!TASK_KINDS.includes(task.kind)) {
      throw new RangeError(`Invalid ${at}: kind must be token, sentence or pair`);
    }
    if (task.kind !== "pair" && task.labels.length < 2) {
      throw new RangeError(
        `Invalid ${at}: a ${task.kind} task needs at least two labels, got ${
          task.labels.length === 0 ? "none" : task.labels.join(", ")
        } (from its label list or its training data)`,
      );
    }
    if (new Set(task.labels).size !== task.labels.length) {
      throw new RangeError(`Invalid ${at}: a label appears twice`);
    }
    if (task.pooling !== undefined && task.kind === "token") {
      throw new RangeError(`Invalid ${at}: a token task does not pool`);
    }
    const smoothing = task.labelSmoothing ?? 0;
    if (!(smoothing >= 0 && smoothing < 1)) {
      throw new RangeError(`Invalid ${at}: labelSmoothing must be in [0, 1), got ${smoothing}`);
    }
    if (smoothing > 0 && (task.kind === "pair" || task.crf === true)) {
      throw new RangeError(
        `Invalid ${at}: label smoothing applies to a cross-entropy (not a pair task or a CRF)`,
      );
    }
    if (task.crf === true && task.kind !== "token") {
      throw new RangeError(`Invalid ${at}: only a token task has a CRF output layer`);
    }
    const fits = task.kind === "pair"
      ? task.metric === "spearman"
      : task.metric === "accuracy" || (task.kind === "token" && task.metric === "entity-f1");
    if (!fits) {
      throw new RangeError(`Invalid ${at}: metric ${task.metric} does not fit a ${task.kind} task`);
    }
  }
}
