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
 * Decodes IOB2 or IOB1 tags into entity spans, conlleval-style (ill-formed
 * sequences such as `O I-PER` still yield an entity).
 *
 * @param tags One tag per word (`O`, `B-TYPE`, `I-TYPE`).
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
  let type: string | undefined;
  let start = 0;
  for (let i = 0; i <= tags.length; i++) {
    const tag = i < tags.length ? tags[i]! : "O";
    const [prefix, tagType] = splitTag(tag);
    const begins = prefix === "B" || (prefix === "I" && tagType !== type);
    if (type !== undefined && (prefix === "O" || begins)) {
      spans.push({ type, start, end: i });
      type = undefined;
    }
    if (begins) {
      type = tagType;
      start = i;
    }
  }
  return spans;
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
