/**
 * Label sets and tag ⇄ span conversion for IOB2 (BIO) and IOB1 tagging.
 *
 * Pure functions: no tensors. Span decoding follows the conlleval script:
 * an entity starts at `B-X`, or at `I-X` after `O` or after a tag of another
 * type; it ends before `O`, `B-*`, or a tag of another type.
 * @module
 */

/** The CoNLL entity types. */
export const ENTITY_TYPES = ["PER", "ORG", "LOC", "MISC"] as const;

/** IOB2 tags over {@linkcode ENTITY_TYPES}, `O` first. */
export const DEFAULT_NER_TAGS: readonly string[] = [
  "O",
  ...ENTITY_TYPES.flatMap((t) => [`B-${t}`, `I-${t}`]),
];

/** Sentence sentiment labels of the reference data. */
export const DEFAULT_SENTIMENT_LABELS: readonly string[] = ["negative", "neutral", "positive"];

/** A labelled span of words: `[start, end)` in word indices. */
export interface Span {
  readonly type: string;
  readonly start: number;
  readonly end: number;
}

/**
 * Decodes tags into entity spans with the chunk rules of the conlleval script,
 * so ill-formed sequences are read exactly as conlleval reads them: a chunk
 * starts at `B-X`, at `I-X`/`E-X` after `O`, at `I-X` after `E-`, or wherever
 * the type changes; it ends before `B-` (after `B-`/`I-`), before `O`, after
 * `E-` when `E-`/`I-` follows, or where the type changes. Works for IOB1, IOB2
 * and IOE tags.
 *
 * @param tags One tag per word (`O`, `B-TYPE`, `I-TYPE`, `E-TYPE`).
 * @returns Spans in order of their start.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tagsToSpans } from "./labels.ts";
 * assert.deepEqual(tagsToSpans(["B-PER", "I-PER", "O", "B-LOC"]), [
 *   { type: "PER", start: 0, end: 2 },
 *   { type: "LOC", start: 3, end: 4 },
 * ]);
 * ```
 */
export function tagsToSpans(tags: readonly string[]): Span[] {
  const spans: Span[] = [];
  let open: { type: string; start: number } | undefined;
  let prevTag = "O";
  let prevType = "";
  for (let i = 0; i <= tags.length; i++) {
    // Past the end acts as conlleval's sentence boundary: tag O, no type.
    const [tag, type] = i < tags.length ? chunkTag(tags[i]!) : ["O", ""];
    const ends = chunkEnds(prevTag, tag, prevType, type);
    const starts = i < tags.length && chunkStarts(prevTag, tag, prevType, type);
    if (open !== undefined && (ends || starts)) {
      spans.push({ type: open.type, start: open.start, end: i });
      open = undefined;
    }
    if (starts) open = { type, start: i };
    prevTag = tag;
    prevType = type;
  }
  return spans;
}

/** Splits a tag at its first hyphen, as conlleval does: `B-ORG` → `["B", "ORG"]`. */
function chunkTag(tag: string): [string, string] {
  const cut = tag.indexOf("-");
  return cut < 0 ? [tag, ""] : [tag.slice(0, cut), tag.slice(cut + 1)];
}

function chunkEnds(prevTag: string, tag: string, prevType: string, type: string): boolean {
  if ((prevTag === "B" || prevTag === "I") && (tag === "B" || tag === "O")) return true;
  if (prevTag === "E" && (tag === "E" || tag === "I" || tag === "O")) return true;
  if (prevTag !== "O" && prevTag !== "." && prevType !== type) return true;
  return prevTag === "[" || prevTag === "]";
}

function chunkStarts(prevTag: string, tag: string, prevType: string, type: string): boolean {
  if (tag === "B" && (prevTag === "B" || prevTag === "I" || prevTag === "O")) return true;
  if (prevTag === "O" && (tag === "I" || tag === "E")) return true;
  if (prevTag === "E" && (tag === "E" || tag === "I")) return true;
  if (tag !== "O" && tag !== "." && prevType !== type) return true;
  return tag === "[" || tag === "]";
}

/**
 * Converts IOB1 tags (CoNLL-2003's scheme) to IOB2: an `I-X` that does not
 * continue an `X` entity becomes `B-X`. IOB2 input is returned unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { iob1ToIob2 } from "./labels.ts";
 * assert.deepEqual(iob1ToIob2(["I-ORG", "O", "I-PER", "I-PER", "B-PER"]),
 *   ["B-ORG", "O", "B-PER", "I-PER", "B-PER"]);
 * ```
 */
export function iob1ToIob2(tags: readonly string[]): string[] {
  let previousType: string | undefined;
  return tags.map((tag) => {
    const [prefix, type] = splitTag(tag);
    const out = prefix === "I" && type !== previousType ? `B-${type}` : tag;
    previousType = prefix === "O" ? undefined : type;
    return out;
  });
}

/**
 * Builds IOB2 tags from spans over `length` words (inverse of {@linkcode tagsToSpans}
 * for well-formed IOB2).
 */
export function spansToTags(spans: readonly Span[], length: number): string[] {
  const tags = new Array<string>(length).fill("O");
  for (const { type, start, end } of spans) {
    for (let i = start; i < end; i++) tags[i] = `${i === start ? "B" : "I"}-${type}`;
  }
  return tags;
}

/** Whether `tag` has the form `O`, `B-TYPE` or `I-TYPE`. */
export function isTag(tag: string): boolean {
  return tag === "O" || /^[BI]-\S+$/.test(tag);
}

function splitTag(tag: string): ["O" | "B" | "I", string | undefined] {
  if (tag === "O" || tag.length < 3 || tag[1] !== "-") return ["O", undefined];
  const prefix = tag[0];
  if (prefix !== "B" && prefix !== "I") return ["O", undefined];
  return [prefix, tag.slice(2)];
}
