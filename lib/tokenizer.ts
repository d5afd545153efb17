/**
 * Word-level tokenizer: a vocabulary learned from training text, special tokens,
 * optional lower-casing, and a letter-case feature per word so that NER keeps a
 * case signal when the vocabulary is lower-cased.
 * @module
 */
import type { TokenizerConfig } from "./config.ts";
import { CheckpointError } from "./errors.ts";
import { deriveSeed } from "./random.ts";

/** Special tokens and their fixed ids. */
export const PAD_TOKEN = "[PAD]";
export const UNK_TOKEN = "[UNK]";
export const CLS_TOKEN = "[CLS]";
export const MASK_TOKEN = "[MASK]";
export const SPECIAL_TOKENS: readonly string[] = [PAD_TOKEN, UNK_TOKEN, CLS_TOKEN, MASK_TOKEN];
export const PAD_ID = 0;
export const UNK_ID = 1;
export const CLS_ID = 2;
export const MASK_ID = 3;

/** Letter-case classes of a word, used as a feature id. `PAD` is 0. */
export const CaseFeature = {
  PAD: 0,
  LOWER: 1,
  TITLE: 2,
  UPPER: 3,
  MIXED: 4,
  DIGIT: 5,
  OTHER: 6,
  SPECIAL: 7,
} as const;
/** Number of case-feature ids. */
export const NUM_CASE_FEATURES = 8;

/** Serialised form of a {@linkcode WordTokenizer}. */
export interface WordTokenizerJson {
  readonly type: "word";
  readonly lowercase: boolean;
  readonly vocab: readonly string[];
  /** Hash buckets of affix features; 0 or absent disables them. */
  readonly affixBuckets?: number;
}

/**
 * Maps words to ids with a fixed vocabulary.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WordTokenizer, UNK_ID } from "./tokenizer.ts";
 * const tok = WordTokenizer.fit([["Paris", "is", "nice"], ["paris"]], {
 *   lowercase: true, minFrequency: 1, maxVocabSize: 100, affixBuckets: 0,
 * });
 * assert.equal(tok.tokenId("PARIS"), tok.tokenId("paris"));
 * assert.equal(tok.tokenId("London"), UNK_ID);
 * ```
 */
export class WordTokenizer {
  readonly lowercase: boolean;
  readonly vocab: readonly string[];
  /** Hash buckets per affix feature (0: none). Id 0 is padding. */
  readonly affixBuckets: number;
  readonly #ids: Map<string, number>;

  constructor(vocab: readonly string[], lowercase: boolean, affixBuckets = 0) {
    SPECIAL_TOKENS.forEach((token, i) => {
      if (vocab[i] !== token) {
        throw new RangeError(`Cannot build tokenizer: vocab[${i}] must be ${token}`);
      }
    });
    this.vocab = vocab;
    this.lowercase = lowercase;
    this.affixBuckets = affixBuckets;
    this.#ids = new Map(vocab.map((w, i) => [w, i]));
  }

  /**
   * Learns a vocabulary from words: most frequent first, ties broken by first
   * appearance, so the result is deterministic.
   */
  static fit(sentences: Iterable<readonly string[]>, config: TokenizerConfig): WordTokenizer {
    const counts = new Map<string, number>();
    for (const words of sentences) {
      for (const word of words) {
        const key = config.lowercase ? word.toLowerCase() : word;
        counts.set(key, (counts.get(key) ?? 0) + 1);
      }
    }
    const words = [...counts.entries()]
      .filter(([w, n]) => n >= config.minFrequency && !SPECIAL_TOKENS.includes(w))
      .map(([w, n], order) => ({ w, n, order }))
      .sort((a, b) => b.n - a.n || a.order - b.order)
      .slice(0, config.maxVocabSize - SPECIAL_TOKENS.length)
      .map(({ w }) => w);
    return new WordTokenizer([...SPECIAL_TOKENS, ...words], config.lowercase, config.affixBuckets);
  }

  /** Rebuilds a tokenizer saved with {@linkcode toJSON}. */
  static fromJSON(json: unknown, source = "tokenizer"): WordTokenizer {
    const j = json as Partial<WordTokenizerJson> | null;
    if (
      j === null || typeof j !== "object" || j.type !== "word" ||
      typeof j.lowercase !== "boolean" || !Array.isArray(j.vocab) ||
      !j.vocab.every((w) => typeof w === "string")
    ) {
      throw new CheckpointError(`Cannot load ${source}: not a word tokenizer`);
    }
    return new WordTokenizer(j.vocab, j.lowercase, j.affixBuckets ?? 0);
  }

  /** Number of ids, special tokens included. */
  get vocabSize(): number {
    return this.vocab.length;
  }

  /** Id of a word, or {@linkcode UNK_ID}. */
  tokenId(word: string): number {
    return this.#ids.get(this.lowercase ? word.toLowerCase() : word) ?? UNK_ID;
  }

  /**
   * Prefix and suffix feature ids of a word: its first and last 3 letters,
   * lower-cased and hashed into `[1, affixBuckets)`; the suffix id is offset by
   * `affixBuckets`, so both index one table of `2 · affixBuckets` rows.
   */
  affixIds(word: string): [number, number] {
    const w = word.toLowerCase();
    const bucket = (s: string) => 1 + (deriveSeed(s) % (this.affixBuckets - 1));
    return [bucket(`<${w.slice(0, 3)}`), this.affixBuckets + bucket(`${w.slice(-3)}>`)];
  }

  toJSON(): WordTokenizerJson {
    return {
      type: "word",
      lowercase: this.lowercase,
      vocab: this.vocab,
      affixBuckets: this.affixBuckets,
    };
  }
}

/**
 * The letter-case class of a word.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { caseFeature, CaseFeature } from "./tokenizer.ts";
 * assert.equal(caseFeature("Paris"), CaseFeature.TITLE);
 * assert.equal(caseFeature("NASA"), CaseFeature.UPPER);
 * assert.equal(caseFeature("iPhone"), CaseFeature.MIXED);
 * assert.equal(caseFeature("1996"), CaseFeature.DIGIT);
 * assert.equal(caseFeature("."), CaseFeature.OTHER);
 * ```
 */
export function caseFeature(word: string): number {
  if (/\d/.test(word)) return CaseFeature.DIGIT;
  const hasLower = word !== word.toUpperCase();
  const hasUpper = word !== word.toLowerCase();
  if (!hasLower && !hasUpper) return CaseFeature.OTHER;
  if (!hasUpper) return CaseFeature.LOWER;
  if (!hasLower) return word.length === 1 ? CaseFeature.TITLE : CaseFeature.UPPER;
  const first = word[0]!;
  const rest = word.slice(1);
  if (
    first === first.toUpperCase() && first !== first.toLowerCase() && rest === rest.toLowerCase()
  ) {
    return CaseFeature.TITLE;
  }
  return CaseFeature.MIXED;
}

/**
 * Splits raw text into words: whitespace separates words, and punctuation is
 * split off (keeping apostrophes and hyphens inside words).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitWords } from "./tokenizer.ts";
 * assert.deepEqual(splitWords("Tim Cook visited Paris, and loved it!"),
 *   ["Tim", "Cook", "visited", "Paris", ",", "and", "loved", "it", "!"]);
 * assert.deepEqual(splitWords("O'Neill's well-known U.S. trip"),
 *   ["O'Neill's", "well-known", "U.S.", "trip"]);
 * ```
 */
export function splitWords(text: string): string[] {
  return text.match(/(?:\p{L}\.){2,}|[\p{L}\p{N}]+(?:['’\-.][\p{L}\p{N}]+)*|\S/gu) ?? [];
}
