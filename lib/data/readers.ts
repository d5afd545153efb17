/**
 * Readers for the corpora the toolkit trains on:
 *
 * - CoNLL-style token files ({@linkcode parseConll}): one token per line, columns
 *   separated by whitespace, blank lines between sentences, `-DOCSTART-` lines
 *   skipped; the tag column is chosen by option (default: last); IOB1 or IOB2
 *   tags are converted to IOB2 on load.
 * - Sentence-label files ({@linkcode parseLabelledSentences}): `label<TAB>sentence`
 *   (TSV), `label sentence` (SST-2 as distributed), or JSON lines
 *   `{"label": ..., "text": ...}`.
 *
 * Every reader validates as it goes and reports the file and line of the first problem.
 * @module
 */
import type { Sentence } from "./sentences.ts";
import { DataError } from "../core/errors.ts";
import { iob1ToIob2, isTag } from "./labels.ts";
import { splitWords, whitespaceWords } from "./tokenizer.ts";

export { decodeText, readText } from "./text.ts";

/** Options of {@linkcode parseConll}. */
export interface ConllOptions {
  /** Task the tags label. @default "ner" */
  readonly task?: string;
  /** Column holding the tag (0-based; negative counts from the end). @default -1 */
  readonly tagColumn?: number;
  /**
   * Tag scheme of the column: `iob1`/`iob2` chunk tags (converted to IOB2; a
   * tag of another form is an error), `plain` labels kept as they are (e.g. POS
   * tags), or `auto`: chunk tags when every tag of the file is `O`, `B-X` or
   * `I-X`, else plain. @default "auto"
   */
  readonly scheme?: "auto" | "iob1" | "iob2" | "plain";
  /** Allowed tags after conversion (unknown tags are an error). @default any */
  readonly tags?: readonly string[];
}

/**
 * Parses CoNLL-format text into sentences labelled for one token task (chunk
 * tags become IOB2).
 *
 * @param text file contents
 * @param file name for error messages
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConll } from "./readers.ts";
 * const text = "-DOCSTART- -X- O O\n\nEU NNP I-NP I-ORG\nrejects VBZ I-VP O\n\nPeter NNP I-NP I-PER\n";
 * const sentences = parseConll(text, "eng.train");
 * assert.deepEqual(sentences.map((s) => s.labels.ner), [["B-ORG", "O"], ["B-PER"]]);
 * const pos = parseConll(text, "eng.train", { task: "pos", tagColumn: 1 });
 * assert.deepEqual(pos[0]!.labels, { pos: ["NNP", "VBZ"] });
 * ```
 */
export function parseConll(text: string, file: string, options: ConllOptions = {}): Sentence[] {
  const task = options.task ?? "ner";
  const column = options.tagColumn ?? -1;
  const allowed = options.tags === undefined ? undefined : new Set(options.tags);
  const rows: { words: string[]; tags: string[]; lines: number[] }[] = [];
  let current = { words: [] as string[], tags: [] as string[], lines: [] as number[] };
  const flush = () => {
    if (current.words.length > 0) rows.push(current);
    current = { words: [], tags: [], lines: [] };
  };
  const lines = text.replace(/^\uFEFF/, "").split("\n");
  lines.forEach((raw, index) => {
    const line = raw.replace(/\r$/, "");
    const lineNumber = index + 1;
    if (line.trim() === "") return flush();
    const columns = whitespaceWords(line);
    if (columns[0] === "-DOCSTART-") return flush();
    if (columns.length < 2) {
      throw new DataError(
        `expected at least 2 columns (token and tag), got ${columns.length}`,
        { file, line: lineNumber },
      );
    }
    const at = column < 0 ? columns.length + column : column;
    const tag = columns[at];
    if (tag === undefined || at === 0) {
      throw new DataError(`no tag column ${column} in ${columns.length} columns`, {
        file,
        line: lineNumber,
      });
    }
    current.words.push(columns[0]!);
    current.tags.push(tag);
    current.lines.push(lineNumber);
  });
  flush();
  if (rows.length === 0) throw new DataError("no sentences in the file", { file });
  const scheme = options.scheme ?? "auto";
  const chunks = scheme === "iob1" || scheme === "iob2" ||
    (scheme === "auto" && rows.every((r) => r.tags.every(isTag)));
  return rows.map(({ words, tags, lines }) => {
    if (chunks) {
      tags.forEach((tag, i) => {
        if (!isTag(tag)) {
          throw new DataError(`malformed tag "${tag}" (expected O, B-TYPE or I-TYPE)`, {
            file,
            line: lines[i]!,
            field: "tag",
          });
        }
      });
    }
    const converted = chunks && scheme !== "iob2" ? iob1ToIob2(tags) : tags;
    if (allowed !== undefined) {
      converted.forEach((tag, i) => {
        if (!allowed.has(tag)) {
          throw new DataError(`unknown tag "${tag}"; expected one of ${[...allowed].join(", ")}`, {
            file,
            line: lines[i]!,
            field: "tag",
          });
        }
      });
    }
    return { words, labels: { [task]: converted } };
  });
}

/** Options of {@linkcode parseLabelledSentences}. */
export interface LabelledSentenceOptions {
  /** Task the labels are for. @default "sentiment" */
  readonly task?: string;
  /**
   * File layout: `label-tab` (`label<TAB>sentence`; `tsv` is the same),
   * `label-space` (`label sentence`), `jsonl` (`{"label": …, "text": …}` per
   * line), or `auto`: JSON lines, then tab, then space, detected per file. @default "auto"
   */
  readonly format?: "auto" | "label-tab" | "tsv" | "label-space" | "jsonl";
  /** Maps raw labels to label names, e.g. `{ "0": "negative", "1": "positive" }`. @default identity */
  readonly labelMap?: Readonly<Record<string, string>>;
  /** Allowed label names (after mapping). @default any */
  readonly labels?: readonly string[];
  /** Lower-case nothing, split words on whitespace (the files are pre-tokenised). */
  readonly splitWords?: (text: string) => string[];
  /**
   * Whether the first line names the columns (TSV): `auto` takes a first line
   * made of the words `label` and `sentence` (or `text`) as a header, whose order
   * then says which column holds the label (GLUE's SST-2 file has
   * `sentence<TAB>label`). @default "auto"
   */
  readonly header?: boolean | "auto";
}

/** Column names a TSV header may use for the text. */
const TEXT_COLUMNS = ["sentence", "text"];

/**
 * Parses sentence-level labelled text (sentiment corpora) into sentences
 * labelled for one sentence task.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseLabelledSentences } from "./readers.ts";
 * const s = parseLabelledSentences("1 a stirring , funny film\n0 dull .\n", "sst2.txt", {
 *   labelMap: { "0": "negative", "1": "positive" },
 * });
 * assert.deepEqual(s[0], { words: ["a", "stirring", ",", "funny", "film"], labels: { sentiment: "positive" } });
 * assert.equal(s[1]?.labels.sentiment, "negative");
 * ```
 */
export function parseLabelledSentences(
  text: string,
  file: string,
  options: LabelledSentenceOptions = {},
): Sentence[] {
  const lines = text.replace(/^\uFEFF/, "").split("\n");
  const firstContent = lines.find((l) => l.trim() !== "") ?? "";
  const format = options.format === undefined || options.format === "auto"
    ? firstContent.trimStart().startsWith("{")
      ? "jsonl"
      : firstContent.includes("\t")
      ? "tsv"
      : "label-space"
    : options.format === "label-tab"
    ? "tsv"
    : options.format;
  const allowed = options.labels === undefined ? undefined : new Set(options.labels);
  const split = options.splitWords ?? whitespaceWords;
  const task = options.task ?? "sentiment";
  const headerFields = firstContent.replace(/\r$/, "").trim().toLowerCase().split("\t");
  const looksLikeHeader = format === "tsv" && headerFields.length === 2 &&
    headerFields.includes("label") && headerFields.some((f) => TEXT_COLUMNS.includes(f));
  const header = options.header === undefined || options.header === "auto"
    ? looksLikeHeader
    : options.header;
  const labelLast = header && TEXT_COLUMNS.includes(headerFields[0]!);
  const headerLine = header ? lines.indexOf(lines.find((l) => l.trim() !== "")!) : -1;
  const sentences: Sentence[] = [];
  lines.forEach((raw, index) => {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "" || index === headerLine) return;
    const at = { file, line: index + 1 };
    let label: unknown;
    let sentence: unknown;
    if (format === "jsonl") {
      const record = jsonRecord(line, at);
      label = record.label;
      sentence = record.text;
      if (label === undefined) throw new DataError("missing", { ...at, field: "label" });
      if (typeof sentence !== "string") {
        throw new DataError("expected a string", { ...at, field: "text" });
      }
      label = String(label);
    } else {
      const cut = format !== "tsv"
        ? line.indexOf(" ")
        : labelLast
        ? line.lastIndexOf("\t")
        : line.indexOf("\t");
      if (cut <= 0) {
        throw new DataError(
          format !== "tsv"
            ? "expected `label sentence`"
            : labelLast
            ? "expected sentence<TAB>label"
            : "expected label<TAB>sentence",
          at,
        );
      }
      label = labelLast ? line.slice(cut + 1) : line.slice(0, cut);
      sentence = labelLast ? line.slice(0, cut) : line.slice(cut + 1);
    }
    const mapped = options.labelMap === undefined
      ? label as string
      : options.labelMap[label as string];
    if (mapped === undefined || (allowed !== undefined && !allowed.has(mapped))) {
      throw new DataError(`unknown label ${JSON.stringify(label)}`, { ...at, field: "label" });
    }
    const words = split(sentence as string);
    if (words.length === 0) throw new DataError("empty text", { ...at, field: "text" });
    sentences.push({ words, labels: { [task]: mapped } });
  });
  if (sentences.length === 0) throw new DataError("no sentences in the file", { file });
  return sentences;
}

/** Options of {@linkcode parsePairs}. */
export interface PairOptions {
  /** Task the pairs are for. @default "similarity" */
  readonly task?: string;
  /**
   * `stsb` (the STS Benchmark's TAB-separated lines: score in column 5,
   * sentences in 6 and 7, extra columns allowed) or `jsonl` (`{"a": …, "b": …,
   * "score": …}` per line). @default "stsb"
   */
  readonly format?: "stsb" | "jsonl";
  /** Scores are divided by this to lie in [0, 1] (the STS Benchmark's are 0–5). @default 5 for stsb, 1 for jsonl */
  readonly scale?: number;
  /** Splits raw text into words. @default splitWords (punctuation split off) */
  readonly splitWords?: (text: string) => string[];
}

/**
 * Parses sentence pairs with a similarity score into sentences labelled for a
 * pair task (the first sentence's words, with the second and the score scaled
 * to [0, 1] as the label). Raw text is split into words with punctuation split
 * off, as the CoNLL and SST-2 files are.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parsePairs } from "./readers.ts";
 * const line = "main-captions\tMSRvid\t2012test\t0001\t5.000\tA plane is taking off.\tAn air plane is taking off.";
 * const [s] = parsePairs(line + "\n", "sts-dev.csv");
 * assert.deepEqual(s!.words, ["A", "plane", "is", "taking", "off", "."]);
 * assert.deepEqual(s!.labels.similarity, { other: ["An", "air", "plane", "is", "taking", "off", "."], score: 1 });
 * ```
 */
export function parsePairs(text: string, file: string, options: PairOptions = {}): Sentence[] {
  const task = options.task ?? "similarity";
  const format = options.format ?? "stsb";
  const scale = options.scale ?? (format === "stsb" ? 5 : 1);
  const split = options.splitWords ?? splitWords;
  const out: Sentence[] = [];
  text.replace(/^\uFEFF/, "").split("\n").forEach((raw, index) => {
    const line = raw.replace(/\r$/, "");
    if (line.trim() === "") return;
    const at = { file, line: index + 1 };
    let a: unknown, b: unknown, score: unknown;
    if (format === "jsonl") {
      ({ a, b, score } = jsonRecord(line, at));
    } else {
      const columns = line.split("\t");
      if (columns.length < 7) {
        throw new DataError(
          `expected at least 7 TAB-separated columns (score in 5, sentences in 6 and 7), got ${columns.length}`,
          at,
        );
      }
      [score, a, b] = [Number(columns[4]), columns[5], columns[6]];
    }
    if (typeof score !== "number" || !Number.isFinite(score) || score < 0 || score > scale) {
      throw new DataError(`expected a score in [0, ${scale}], got ${JSON.stringify(score)}`, {
        ...at,
        field: "score",
      });
    }
    for (const [field, sentence] of [["a", a], ["b", b]] as const) {
      if (typeof sentence !== "string" || split(sentence).length === 0) {
        throw new DataError("missing sentence", {
          ...at,
          field: format === "stsb" ? `sentence ${field === "a" ? 1 : 2}` : field,
        });
      }
    }
    out.push({
      words: split(a as string),
      labels: { [task]: { other: split(b as string), score: (score as number) / scale } },
    });
  });
  if (out.length === 0) throw new DataError("no sentence pairs in the file", { file });
  return out;
}

/** One line of a JSON-lines file: an object, else one error naming the line. */
function jsonRecord(line: string, at: { file: string; line: number }): Record<string, unknown> {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch (error) {
    throw new DataError(`malformed JSON (${(error as Error).message})`, at);
  }
  if (typeof record !== "object" || record === null || Array.isArray(record)) {
    throw new DataError("expected a JSON object", at);
  }
  return record as Record<string, unknown>;
}
