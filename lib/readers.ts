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
import type { Sentence } from "./data.ts";
import { DataError } from "./errors.ts";
import { iob1ToIob2, isTag } from "./labels.ts";
import { whitespaceWords } from "./tokenizer.ts";

/** Options of {@linkcode parseConll}. */
export interface ConllOptions {
  /** Column holding the tag (0-based; negative counts from the end). @default -1 */
  readonly tagColumn?: number;
  /** Tag scheme of the file; `auto` converts IOB1 to IOB2 (a no-op on IOB2). @default "auto" */
  readonly scheme?: "auto" | "iob1" | "iob2";
  /** Allowed tags after conversion (unknown tags are an error). @default any well-formed tag */
  readonly tags?: readonly string[];
}

/**
 * Parses CoNLL-format text into NER-labelled sentences (IOB2 tags).
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
 * assert.deepEqual(sentences.map((s) => s.tags), [["B-ORG", "O"], ["B-PER"]]);
 * ```
 */
export function parseConll(text: string, file: string, options: ConllOptions = {}): Sentence[] {
  const column = options.tagColumn ?? -1;
  const scheme = options.scheme ?? "auto";
  const allowed = options.tags === undefined ? undefined : new Set(options.tags);
  const sentences: Sentence[] = [];
  let words: string[] = [];
  let tags: string[] = [];
  let firstLine = 0;
  const flush = () => {
    if (words.length > 0) {
      const converted = scheme === "iob2" ? tags : iob1ToIob2(tags);
      if (allowed !== undefined) {
        converted.forEach((tag, i) => {
          if (!allowed.has(tag)) {
            throw new DataError(
              `unknown tag "${tag}"; expected one of ${[...allowed].join(", ")}`,
              { file, line: firstLine + i, field: "tag" },
            );
          }
        });
      }
      sentences.push({ words, tags: converted });
    }
    words = [];
    tags = [];
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
    if (!isTag(tag)) {
      throw new DataError(`malformed tag "${tag}" (expected O, B-TYPE or I-TYPE)`, {
        file,
        line: lineNumber,
        field: "tag",
      });
    }
    if (words.length === 0) firstLine = lineNumber;
    words.push(columns[0]!);
    tags.push(tag);
  });
  flush();
  if (sentences.length === 0) throw new DataError("no sentences in the file", { file });
  return sentences;
}

/** Options of {@linkcode parseLabelledSentences}. */
export interface LabelledSentenceOptions {
  /** File layout; `auto` detects JSON lines, then TSV, then `label sentence`. @default "auto" */
  readonly format?: "auto" | "tsv" | "label-space" | "jsonl";
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
 * Parses sentence-level labelled text (sentiment corpora) into sentences with a
 * `sentiment` label and no tags.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseLabelledSentences } from "./readers.ts";
 * const s = parseLabelledSentences("1 a stirring , funny film\n0 dull .\n", "sst2.txt", {
 *   labelMap: { "0": "negative", "1": "positive" },
 * });
 * assert.deepEqual(s[0], { words: ["a", "stirring", ",", "funny", "film"], sentiment: "positive" });
 * assert.equal(s[1]?.sentiment, "negative");
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
    : options.format;
  const allowed = options.labels === undefined ? undefined : new Set(options.labels);
  const split = options.splitWords ?? whitespaceWords;
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
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch (error) {
        throw new DataError(`malformed JSON (${(error as Error).message})`, at);
      }
      if (typeof record !== "object" || record === null) {
        throw new DataError("expected a JSON object", at);
      }
      label = (record as Record<string, unknown>).label;
      sentence = (record as Record<string, unknown>).text;
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
    sentences.push({ words, sentiment: mapped });
  });
  if (sentences.length === 0) throw new DataError("no sentences in the file", { file });
  return sentences;
}

/**
 * Reads a file as UTF-8 text (a byte-order mark is dropped), turning I/O
 * failures and invalid UTF-8 into a {@linkcode DataError}.
 */
export async function readText(path: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new DataError(`cannot read the file (${(error as Error).message})`, { file: path });
  }
  return decodeText(bytes, path);
}

/**
 * Decodes UTF-8 text and drops a leading byte-order mark.
 * @throws {DataError} naming the file, line and byte offset of the first byte that is not UTF-8
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeText } from "./readers.ts";
 * assert.equal(decodeText(Uint8Array.from([0xef, 0xbb, 0xbf, 0x68, 0x69]), "a.txt"), "hi");
 * assert.throws(() => decodeText(Uint8Array.from([0x61, 0x0a, 0x63, 0x61, 0x66, 0xe9]), "b.txt"),
 *   /b.txt: line 2: not UTF-8 text: byte 0xe9 at offset 5/);
 * ```
 */
export function decodeText(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    let line = 1;
    for (let i = 0; i < at; i++) if (bytes[i] === 0x0a) line++;
    throw new DataError(
      `not UTF-8 text: byte 0x${
        bytes[at]?.toString(16).padStart(2, "0")
      } at offset ${at} is invalid; convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)`,
      { file, line },
    );
  }
}

/** Offset of the first byte that does not continue a valid UTF-8 sequence. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const length = b < 0x80
      ? 1
      : b >= 0xc2 && b < 0xe0
      ? 2
      : b >= 0xe0 && b < 0xf0
      ? 3
      : b >= 0xf0 && b < 0xf5
      ? 4
      : 0;
    if (length === 0) return i;
    for (let k = 1; k < length; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
    }
    i += length;
  }
  return bytes.length;
}
