/**
 * Sentences with labels keyed by task, and the reference data format: a JSON
 * file of sentences, each with per-word NER tags (IOB2) and a sentence
 * sentiment — the tasks `ner` and `sentiment` ({@linkcode REFERENCE_TASKS}).
 *
 * ```json
 * { "sentences": [
 *   { "text": "Tim Cook visited Paris .", "tags": ["B-PER", "I-PER", "O", "B-LOC", "O"],
 *     "sentiment": "positive" }
 * ] }
 * ```
 *
 * `text` is split on whitespace into words; `tags` has one tag per word. A bare
 * top-level array of records is accepted too. Every record is validated; the
 * first problem raises a {@linkcode DataError} naming the file, record and field.
 * @module
 */
import { z } from "zod";
import { DataError } from "../core/errors.ts";
import { parseSchema } from "../core/schema.ts";
import { defaultMetric, isChunkTagSet, type TaskSpec } from "../core/tasks.ts";
import { DEFAULT_NER_TAGS, DEFAULT_SENTIMENT_LABELS } from "./labels.ts";
import { readText } from "./text.ts";
import { whitespaceWords } from "./tokenizer.ts";

/**
 * The label of a sentence-pair task: the pair's second sentence and their
 * similarity, scaled to [0, 1] by the reader.
 */
export interface PairLabel {
  readonly other: readonly string[];
  readonly score: number;
}

/** What a sentence may carry for one task. */
export type Label = readonly string[] | string | PairLabel;

/**
 * One sentence with the labels it has, by task name: a label per word for a
 * token task, one label for a sentence task, the second sentence and a score
 * for a pair task. A corpus usually labels one task; a sentence without a
 * task's label contributes nothing to that task's loss.
 */
export interface Sentence {
  /** Words, in order. */
  readonly words: readonly string[];
  readonly labels: Readonly<Record<string, Label>>;
}

/** Whether a label is a pair task's (second sentence and score). */
export function isPairLabel(label: Label | undefined): label is PairLabel {
  return typeof label === "object" && label !== null && !Array.isArray(label);
}

/** The tasks of the reference data: NER over IOB2 tags, and 3-class sentiment. */
export const REFERENCE_TASKS: readonly TaskSpec[] = [
  { name: "ner", kind: "token", labels: DEFAULT_NER_TAGS, metric: "entity-f1" },
  { name: "sentiment", kind: "sentence", labels: DEFAULT_SENTIMENT_LABELS, metric: "accuracy" },
];

/**
 * The tasks labelled in `sentences`, with the labels seen (sorted; for IOB
 * tags `O` first and `B-X` beside every `I-X`), and their default metrics.
 * Token tasks are those labelled with one label per word.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { inferTasks } from "./sentences.ts";
 * const tasks = inferTasks([{ words: ["Rome", "is"], labels: { ner: ["I-LOC", "O"], topic: "travel" } }]);
 * assert.deepEqual(tasks, [
 *   { name: "ner", kind: "token", labels: ["O", "B-LOC", "I-LOC"], metric: "entity-f1" },
 *   { name: "topic", kind: "sentence", labels: ["travel"], metric: "accuracy" },
 * ]);
 * ```
 */
export function inferTasks(sentences: readonly Sentence[]): TaskSpec[] {
  const seen = new Map<string, { kind: "token" | "sentence" | "pair"; labels: Set<string> }>();
  for (const s of sentences) {
    for (const [name, value] of Object.entries(s.labels)) {
      if (isPairLabel(value)) {
        seen.set(name, seen.get(name) ?? { kind: "pair", labels: new Set() });
        if (seen.get(name)!.kind !== "pair") {
          throw new RangeError(`Cannot infer task "${name}": labelled both as pairs and otherwise`);
        }
        continue;
      }
      const kind = typeof value === "string" ? "sentence" : "token";
      const entry = seen.get(name) ?? { kind, labels: new Set<string>() };
      if (entry.kind !== kind) {
        throw new RangeError(
          `Cannot infer task "${name}": labelled both per word and per sentence`,
        );
      }
      for (const label of typeof value === "string" ? [value] : value) entry.labels.add(label);
      seen.set(name, entry);
    }
  }
  return [...seen.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([name, e]) => {
    let labels = [...e.labels].sort();
    if (e.kind === "token" && isChunkTagSet(labels)) {
      const types = [...new Set(labels.filter((l) => l !== "O").map((l) => l.slice(2)))].sort();
      labels = ["O", ...types.flatMap((t) => [`B-${t}`, `I-${t}`])];
    }
    return { name, kind: e.kind, labels, metric: defaultMetric(e.kind, labels) };
  });
}

/** Options of {@linkcode loadSentences} and {@linkcode parseSentences}. */
export interface LoadSentencesOptions {
  /** Keep at most this many words per sentence (tags cut alongside); warns when cutting. @default Infinity */
  readonly maxLength?: number;
  /** Allowed NER tags. @default DEFAULT_NER_TAGS */
  readonly nerTags?: readonly string[];
  /** Allowed sentiment labels. @default DEFAULT_SENTIMENT_LABELS */
  readonly sentimentLabels?: readonly string[];
  /** Receives warnings (e.g. truncation). Library code never prints. @default ignore */
  readonly onWarning?: (message: string) => void;
}

/**
 * The shape of one reference-format record: `text`, one tag per whitespace
 * word and a sentiment (other fields are allowed and ignored).
 */
export const ReferenceRecordSchema = z.object({
  text: z.string(),
  tags: z.array(z.unknown()),
  sentiment: z.unknown().refine((v) => v !== undefined),
});

/**
 * Reads and validates a reference-format JSON file.
 *
 * @param path File to read.
 * @param options Limits, label sets and a warning sink.
 * @returns The sentences, in file order.
 * @throws {DataError} On malformed JSON or any invalid record.
 */
export async function loadSentences(
  path: string,
  options: LoadSentencesOptions = {},
): Promise<Sentence[]> {
  return parseSentences(await readText(path), path, options);
}

/**
 * Parses and validates reference-format JSON text.
 *
 * @param text JSON text.
 * @param file Name used in error messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSentences } from "./sentences.ts";
 * const [s] = parseSentences('[{"text": "Paris !", "tags": ["B-LOC", "O"], "sentiment": "positive"}]', "x.json");
 * assert.deepEqual(s?.words, ["Paris", "!"]);
 * assert.throws(() => parseSentences('[{"text": "", "tags": [], "sentiment": "positive"}]', "x.json"),
 *   /record 0, field "text"/);
 * ```
 */
export function parseSentences(
  text: string,
  file: string,
  options: LoadSentencesOptions = {},
): Sentence[] {
  let json: unknown;
  try {
    json = JSON.parse(text.replace(/^\uFEFF/, ""));
  } catch (error) {
    throw new DataError(`malformed JSON (${(error as Error).message})`, { file });
  }
  const records = Array.isArray(json)
    ? json
    : isRecord(json) && Array.isArray(json.sentences)
    ? json.sentences
    : undefined;
  if (records === undefined) {
    throw new DataError('expected an array of records or an object with a "sentences" array', {
      file,
    });
  }
  const nerTags = new Set(options.nerTags ?? DEFAULT_NER_TAGS);
  const sentimentLabels = new Set(options.sentimentLabels ?? DEFAULT_SENTIMENT_LABELS);
  const maxLength = options.maxLength ?? Infinity;
  let truncated = 0;
  const sentences = records.map((record: unknown, index: number): Sentence => {
    const at = (field?: string) =>
      field === undefined ? { file, record: index } : {
        file,
        record: index,
        field,
      };
    if (!isRecord(record)) throw new DataError("expected an object", at());
    // The record's shape by schema (fields and types); its words, tags and label sets below.
    parseSchema(ReferenceRecordSchema, record, (field, detail) => new DataError(detail, at(field)));
    let words = whitespaceWords(record.text as string);
    if (words.length === 0) throw new DataError("empty text", at("text"));
    let tags = record.tags as unknown[];
    if (tags.length !== words.length) {
      throw new DataError(
        `${tags.length} tags for ${words.length} words (one tag per whitespace-separated word)`,
        at("tags"),
      );
    }
    tags.forEach((tag, i) => {
      if (typeof tag !== "string" || !nerTags.has(tag)) {
        throw new DataError(
          `unknown tag ${JSON.stringify(tag)} at word ${i} ("${words[i]}"); expected one of ${
            [...nerTags].join(", ")
          }`,
          at("tags"),
        );
      }
    });
    if (typeof record.sentiment !== "string" || !sentimentLabels.has(record.sentiment)) {
      throw new DataError(
        `unknown sentiment ${JSON.stringify(record.sentiment)}; expected one of ${
          [...sentimentLabels].join(", ")
        }`,
        at("sentiment"),
      );
    }
    if (words.length > maxLength) {
      truncated++;
      words = words.slice(0, maxLength);
      tags = tags.slice(0, maxLength);
    }
    return { words, labels: { ner: tags as string[], sentiment: record.sentiment } };
  });
  if (sentences.length === 0) throw new DataError("no sentences in the file", { file });
  if (truncated > 0) {
    options.onWarning?.(
      `${file}: ${truncated} sentence(s) longer than ${maxLength} words were truncated`,
    );
  }
  return sentences;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
