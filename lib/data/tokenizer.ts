/**
 * Word-level tokenizer: a vocabulary learned from training text, special tokens,
 * optional lower-casing, and a letter-case feature per word so that NER keeps a
 * case signal when the vocabulary is lower-cased.
 * @module
 */
import type { TokenizerConfig } from "../core/config.ts";
import { z } from "zod";
import { CheckpointError } from "../core/errors.ts";
import { parseSchema } from "../core/schema.ts";
import { deriveSeed } from "../core/random.ts";
import { type EncodedPieces, type PieceEntry, SentencePieceTokenizer } from "./sentencepiece.ts";
import { spacesBefore, writtenForm } from "./written_text.ts";

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

/** The `tokenizer.json` format: a serialised {@linkcode WordTokenizer}. */
export const WordTokenizerJsonSchema = z.object({
  type: z.literal("word"),
  lowercase: z.boolean(),
  vocab: z.array(z.string()).min(SPECIAL_TOKENS.length),
  /** Hash buckets of affix features; 0 or absent disables them. */
  affixBuckets: z.number().int().min(0).optional(),
  /** Prefix and suffix lengths of the affix features. @default [3] */
  affixLengths: z.array(z.number().int().min(1).max(16)).min(1).optional(),
  /** Whether a word-shape feature joins the affix features. @default false */
  shapeFeature: z.boolean().optional(),
  /** Character vocabulary (after the 4 special character ids); absent: no character features. */
  chars: z.array(z.string()).optional(),
  /** Character slots per word (0 or absent: no character features). */
  charWidth: z.number().int().min(0).optional(),
  /** Width of the pretrained word vectors the vocabulary was built with (absent: none). */
  vectorDim: z.number().int().min(1).optional(),
  /** The vectors' source (a built-in name or a file), for information. */
  wordVectors: z.string().optional(),
  /** The pretrained backbone's SentencePiece vocabulary: `[piece, score]` in id order. */
  pieces: z.array(z.tuple([z.string(), z.number()])).min(1).optional(),
  /** Pieces per sentence the backbone reads (the rest are dropped). */
  maxPieces: z.number().int().min(1).optional(),
  /** What the backbone reads: the words joined by spaces (absent) or as written (see `written_text.ts`). */
  pieceText: z.enum(["words", "written"]).optional(),
}).strict();

/** Serialised form of a {@linkcode WordTokenizer}. */
export type WordTokenizerJson =
  & Readonly<
    Omit<z.infer<typeof WordTokenizerJsonSchema>, "vocab" | "affixLengths" | "chars" | "pieces">
  >
  & {
    readonly vocab: readonly string[];
    readonly affixLengths?: readonly number[];
    readonly chars?: readonly string[];
    readonly pieces?: readonly PieceEntry[];
  };

/** Special character ids: padding, unknown character, beginning and end of word. */
export const CHAR_PAD_ID = 0;
export const CHAR_UNK_ID = 1;
export const CHAR_BOW_ID = 2;
export const CHAR_EOW_ID = 3;
/** Number of special character ids. */
export const NUM_SPECIAL_CHARS = 4;
/** Largest character vocabulary learned by {@linkcode WordTokenizer.fit} (special ids excluded). */
export const MAX_CHARS = 250;

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
  /** Prefix and suffix lengths of the affix features. */
  readonly affixLengths: readonly number[];
  /** Whether a word-shape feature joins the affix features. */
  readonly shapeFeature: boolean;
  /** Character vocabulary, case kept; id of `chars[i]` is `i + 4`. Empty: no character features. */
  readonly chars: readonly string[];
  /** Character slots per word, markers included (0: no character features). */
  readonly charWidth: number;
  /** Width of the pretrained word vectors behind the vocabulary (0: none). */
  readonly vectorDim: number;
  /** Source of those vectors (a built-in name or a file); null without vectors. */
  readonly wordVectors: string | null;
  /** With a pretrained backbone: its piece encoder (see {@linkcode withPieces}). */
  readonly pieces: SentencePieceTokenizer | undefined;
  /** Pieces per sentence the backbone reads (0 without a backbone). */
  readonly maxPieces: number;
  /** What the backbone reads (see {@linkcode WordTokenizer.piecesOf}). */
  readonly pieceText: PieceText;
  readonly #options: WordFeatureOptions;
  readonly #ids: Map<string, number>;
  readonly #charIds: Map<string, number>;

  constructor(vocab: readonly string[], lowercase: boolean, options: WordFeatureOptions = {}) {
    const {
      affixBuckets = 0,
      affixLengths = [3],
      shapeFeature = false,
      chars = [],
      charWidth = 0,
      vectorDim = 0,
      wordVectors = null,
      pieces,
      maxPieces = 0,
      pieceText = "words",
    } = options;
    this.#options = options;
    SPECIAL_TOKENS.forEach((token, i) => {
      if (vocab[i] !== token) {
        throw new RangeError(`Cannot build tokenizer: vocab[${i}] must be ${token}`);
      }
    });
    this.vocab = vocab;
    this.lowercase = lowercase;
    this.affixBuckets = affixBuckets;
    if (affixLengths.length === 0 || !affixLengths.every((n) => Number.isInteger(n) && n >= 1)) {
      throw new RangeError(
        `Cannot build tokenizer: affixLengths must be positive integers, got ${
          JSON.stringify(affixLengths)
        }`,
      );
    }
    this.affixLengths = affixLengths;
    this.shapeFeature = shapeFeature;
    if (charWidth !== 0 && (!Number.isInteger(charWidth) || charWidth < 3)) {
      throw new RangeError(
        `Cannot build tokenizer: charWidth must be 0 or an integer ≥ 3, got ${charWidth}`,
      );
    }
    if (charWidth > 0 && chars.length === 0) {
      throw new RangeError("Cannot build tokenizer: charWidth > 0 needs a character vocabulary");
    }
    this.chars = charWidth > 0 ? chars : [];
    this.charWidth = charWidth;
    if (!Number.isInteger(vectorDim) || vectorDim < 0) {
      throw new RangeError(
        `Cannot build tokenizer: vectorDim must be an integer >= 0, got ${vectorDim}`,
      );
    }
    this.vectorDim = vectorDim;
    this.wordVectors = vectorDim > 0 ? wordVectors : null;
    if (pieces !== undefined && !(Number.isInteger(maxPieces) && maxPieces >= 1)) {
      throw new RangeError(`Cannot build tokenizer: maxPieces must be an integer >= 1`);
    }
    this.pieces = pieces === undefined ? undefined : new SentencePieceTokenizer(pieces);
    this.maxPieces = pieces === undefined ? 0 : maxPieces;
    this.pieceText = pieceText;
    this.#ids = new Map(vocab.map((w, i) => [w, i]));
    this.#charIds = new Map(this.chars.map((c, i) => [c, i + NUM_SPECIAL_CHARS]));
  }

  /**
   * Learns a vocabulary from words: most frequent first, ties broken by first
   * appearance, so the result is deterministic; with `charWidth > 0`, also a
   * character vocabulary (case kept, same frequency floor, at most
   * {@linkcode MAX_CHARS} characters).
   *
   * With `pretrained` word vectors, the vocabulary is: the special tokens; the
   * training words seen at least `minFrequency` times **or** having a vector
   * (most frequent first, at most `maxVocabSize` of them); then those of the
   * first `pretrainedVocabSize` words of the vectors (their most frequent) that
   * are not in it yet, so a word the training data never showed still gets its
   * own vector.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { WordTokenizer, UNK_ID } from "./tokenizer.ts";
   * const config = { lowercase: true, minFrequency: 2, maxVocabSize: 100, affixBuckets: 0, pretrainedVocabSize: 2 };
   * const tok = WordTokenizer.fit([["Oslo", "is", "is"]], config, { words: ["the", "oslo", "paris", "rome"], dim: 3, source: "v" });
   * assert.deepEqual(tok.vocab.slice(4), ["is", "oslo", "the"]);
   * assert.equal(tok.tokenId("Rome"), UNK_ID);
   * assert.equal(tok.vectorDim, 3);
   * ```
   */
  static fit(
    sentences: Iterable<readonly string[]>,
    config:
      & Omit<
        TokenizerConfig,
        "charWidth" | "affixLengths" | "shapeFeature" | "wordVectors" | "pretrainedVocabSize"
      >
      & Partial<
        Pick<
          TokenizerConfig,
          "charWidth" | "affixLengths" | "shapeFeature" | "pretrainedVocabSize"
        >
      >,
    pretrained?: PretrainedWords,
  ): WordTokenizer {
    const counts = new Map<string, number>();
    const charCounts = new Map<string, number>();
    const charWidth = config.charWidth ?? 0;
    for (const words of sentences) {
      for (const word of words) {
        const key = config.lowercase ? word.toLowerCase() : word;
        counts.set(key, (counts.get(key) ?? 0) + 1);
        if (charWidth > 0) {
          for (const c of word) charCounts.set(c, (charCounts.get(c) ?? 0) + 1);
        }
      }
    }
    const fold = (w: string) => config.lowercase ? w.toLowerCase() : w;
    const hasVector = new Set(pretrained?.words.map(fold) ?? []);
    const words = frequentFirst(counts, config.minFrequency, hasVector)
      .filter((w) => !SPECIAL_TOKENS.includes(w))
      .slice(0, config.maxVocabSize - SPECIAL_TOKENS.length);
    if (pretrained !== undefined) {
      const seen = new Set([...SPECIAL_TOKENS, ...words]);
      for (const raw of pretrained.words.slice(0, config.pretrainedVocabSize ?? 0)) {
        const word = fold(raw);
        if (seen.has(word)) continue;
        seen.add(word);
        words.push(word);
      }
    }
    const chars = frequentFirst(charCounts, config.minFrequency).slice(0, MAX_CHARS);
    return new WordTokenizer([...SPECIAL_TOKENS, ...words], config.lowercase, {
      affixBuckets: config.affixBuckets,
      ...(config.affixLengths === undefined ? {} : { affixLengths: config.affixLengths }),
      ...(config.shapeFeature === undefined ? {} : { shapeFeature: config.shapeFeature }),
      chars,
      charWidth: chars.length > 0 ? charWidth : 0,
      ...(pretrained !== undefined
        ? { vectorDim: pretrained.dim, wordVectors: pretrained.source }
        : {}),
    });
  }

  /** Rebuilds a tokenizer saved with {@linkcode toJSON}. */
  static fromJSON(json: unknown, source = "tokenizer"): WordTokenizer {
    const j = parseSchema(
      WordTokenizerJsonSchema,
      json,
      (field, detail) => new CheckpointError(`Cannot load ${source}: field "${field}": ${detail}`),
    );
    try {
      return new WordTokenizer(j.vocab, j.lowercase, {
        affixBuckets: j.affixBuckets ?? 0,
        ...(j.affixLengths === undefined ? {} : { affixLengths: j.affixLengths }),
        ...(j.shapeFeature === undefined ? {} : { shapeFeature: j.shapeFeature }),
        chars: j.chars ?? [],
        charWidth: j.charWidth ?? 0,
        ...(j.vectorDim !== undefined
          ? { vectorDim: j.vectorDim, wordVectors: j.wordVectors ?? "unknown" }
          : {}),
        ...(j.pieces !== undefined ? { pieces: j.pieces, maxPieces: j.maxPieces ?? 1 } : {}),
        ...(j.pieceText !== undefined ? { pieceText: j.pieceText } : {}),
      });
    } catch (e) {
      throw new CheckpointError(`Cannot load ${source}: ${(e as Error).message}`);
    }
  }

  /**
   * This tokenizer with a pretrained backbone's piece vocabulary: each
   * sentence is then also encoded into at most `maxPieces` pieces, of the
   * words as `pieceText` says (see {@linkcode WordTokenizer.piecesOf}).
   */
  withPieces(
    pieces: readonly PieceEntry[],
    maxPieces: number,
    pieceText: PieceText = "words",
  ): WordTokenizer {
    return new WordTokenizer(this.vocab, this.lowercase, {
      ...this.#options,
      pieces,
      maxPieces,
      pieceText,
    });
  }

  /**
   * The backbone's pieces of a sentence's words, all of them (the caller cuts
   * at `maxPieces`): of the words joined by spaces (`pieceText` `words`), or of
   * the text they were written as (`written`: `does n't -lrb- sic -rrb- .` reads
   * `doesn't (sic).`, see `written_text.ts`), each piece still owned by the word
   * it starts in.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { SPECIAL_TOKENS, WordTokenizer } from "./tokenizer.ts";
   * const vocab: [string, number][] = [["<unk>", 0], ["<s>", 0], ["</s>", 0], ["x1", 0], ["x2", 0],
   *   ["x3", 0], ["▁", -2], ["▁Paris", -4], [",", -2], ["▁hi", -4],
   *   ...[..."Parish"].map((c): [string, number] => [c, -9])];
   * const words = new WordTokenizer(SPECIAL_TOKENS, true).withPieces(vocab, 8);
   * const written = words.withPieces(vocab, 8, "written");
   * assert.deepEqual([...words.piecesOf(["hi", ",", "Paris"]).ids], [9, 6, 8, 7]); // ▁hi ▁ , ▁Paris
   * assert.deepEqual([...written.piecesOf(["hi", ",", "Paris"]).ids], [9, 8, 7]); // ▁hi , ▁Paris
   * assert.deepEqual([...written.piecesOf(["hi", ",", "Paris"]).wordOf], [0, 1, 2]);
   * ```
   */
  piecesOf(words: readonly string[]): EncodedPieces {
    if (this.pieces === undefined) {
      throw new RangeError("Cannot encode pieces: the tokenizer has no piece vocabulary");
    }
    return this.pieceText === "written"
      ? this.pieces.encodeWords(words.map(writtenForm), spacesBefore(words))
      : this.pieces.encodeWords(words);
  }

  /** Number of ids, special tokens included. */
  get vocabSize(): number {
    return this.vocab.length;
  }

  /** Id of a word, or {@linkcode UNK_ID}. */
  tokenId(word: string): number {
    return this.#ids.get(this.lowercase ? word.toLowerCase() : word) ?? UNK_ID;
  }

  /** Affix feature ids per word: a prefix and a suffix per length, and the shape if enabled. */
  get affixCount(): number {
    return 2 * this.affixLengths.length + (this.shapeFeature ? 1 : 0);
  }

  /**
   * Affix feature ids of a word ({@linkcode affixCount} of them): for each
   * length `n` of `affixLengths`, its first and last `n` letters, lower-cased and
   * hashed into `[1, affixBuckets)` (prefixes) and `[affixBuckets + 1,
   * 2 · affixBuckets)` (suffixes), so all index one table of `2 · affixBuckets`
   * rows. A word shorter than a length above 3 gets id 0 for that length; for
   * lengths up to 3 a short word hashes whole (as earlier versions did for 3,
   * so `[3]` stays compatible). With `shapeFeature`,
   * the {@linkcode wordShape} (case kept) follows, hashed into the suffix range.
   * The default (`[3]`, no shape) gives the two ids of earlier versions.
   */
  affixIds(word: string): number[] {
    const w = word.toLowerCase();
    const chars = Array.from(w);
    const bucket = (s: string) => 1 + (deriveSeed(s) % (this.affixBuckets - 1));
    const ids: number[] = [];
    for (const n of this.affixLengths) {
      const fits = n <= 3 || chars.length >= n;
      ids.push(fits ? bucket(`<${w.slice(0, n)}`) : 0);
      ids.push(fits ? this.affixBuckets + bucket(`${w.slice(-n)}>`) : 0);
    }
    if (this.shapeFeature) ids.push(this.affixBuckets + bucket(`shape:${wordShape(word)}`));
    return ids;
  }

  /** Number of character ids, special ones included (0 without character features). */
  get charVocabSize(): number {
    return this.charWidth > 0 ? this.chars.length + NUM_SPECIAL_CHARS : 0;
  }

  /**
   * Character ids of a word, case kept: beginning-of-word marker, characters,
   * end-of-word marker, then padding, `charWidth` slots in all. A word longer
   * than `charWidth - 2` characters keeps its first and last characters (half
   * the slots each), so both its prefix and its suffix are seen.
   */
  charIdsOf(word: string): Int32Array {
    const ids = new Int32Array(this.charWidth);
    if (this.charWidth === 0) return ids;
    let chars = Array.from(word);
    const room = this.charWidth - 2;
    if (chars.length > room) {
      const head = Math.ceil(room / 2);
      chars = [...chars.slice(0, head), ...chars.slice(chars.length - (room - head))];
    }
    ids[0] = CHAR_BOW_ID;
    chars.forEach((c, i) => ids[i + 1] = this.#charIds.get(c) ?? CHAR_UNK_ID);
    ids[chars.length + 1] = CHAR_EOW_ID;
    return ids;
  }

  toJSON(): WordTokenizerJson {
    return {
      type: "word",
      lowercase: this.lowercase,
      vocab: this.vocab,
      affixBuckets: this.affixBuckets,
      ...(this.affixLengths.length === 1 && this.affixLengths[0] === 3
        ? {}
        : { affixLengths: this.affixLengths }),
      ...(this.shapeFeature ? { shapeFeature: true } : {}),
      ...(this.charWidth > 0 ? { chars: this.chars, charWidth: this.charWidth } : {}),
      ...(this.vectorDim > 0 ? { vectorDim: this.vectorDim, wordVectors: this.wordVectors! } : {}),
      ...(this.pieces !== undefined
        ? {
          pieces: this.pieces.vocab,
          maxPieces: this.maxPieces,
          ...(this.pieceText === "words" ? {} : { pieceText: this.pieceText }),
        }
        : {}),
    };
  }
}

/**
 * Keys counted at least `minFrequency` times (or in `always`), most frequent
 * first, ties in first-seen order.
 */
function frequentFirst(
  counts: Map<string, number>,
  minFrequency: number,
  always: ReadonlySet<string> = new Set(),
): string[] {
  return [...counts.entries()]
    .filter(([key, n]) => n >= minFrequency || always.has(key))
    .map(([key, n], order) => ({ key, n, order }))
    .sort((a, b) => b.n - a.n || a.order - b.order)
    .map(({ key }) => key);
}

/** The words of a pretrained vector set, most frequent first (see {@linkcode WordTokenizer.fit}). */
export interface PretrainedWords {
  readonly words: readonly string[];
  /** Components per vector. */
  readonly dim: number;
  /** Where the vectors came from (a built-in name or a file). */
  readonly source: string;
}

/** Word features beyond the vocabulary (see {@linkcode WordTokenizer}). */
export interface WordFeatureOptions {
  /** Width of pretrained vectors behind the vocabulary. @default 0 */
  readonly vectorDim?: number;
  /** Their source. @default null */
  readonly wordVectors?: string | null;
  readonly affixBuckets?: number;
  readonly affixLengths?: readonly number[];
  readonly shapeFeature?: boolean;
  readonly chars?: readonly string[];
  readonly charWidth?: number;
  /** A pretrained backbone's piece vocabulary (see {@linkcode WordTokenizer.withPieces}). */
  readonly pieces?: readonly PieceEntry[];
  /** Pieces per sentence the backbone reads. */
  readonly maxPieces?: number;
  /** What the backbone reads. @default "words" */
  readonly pieceText?: PieceText;
}

/**
 * What the pretrained backbone reads of a sentence: its words joined by
 * spaces, or the text they were written as (Treebank escapes and the spaces
 * before punctuation and clitics undone; see `written_text.ts`).
 */
export type PieceText = "words" | "written";

/**
 * The shape of a word, as in spaCy: upper-case letters become `X`, lower-case
 * `x`, digits `d`, other characters stay; runs longer than 4 are cut to 4.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wordShape } from "./tokenizer.ts";
 * assert.equal(wordShape("Washington"), "Xxxxx");
 * assert.equal(wordShape("U.S."), "X.X.");
 * assert.equal(wordShape("1996-08-22"), "dddd-dd-dd");
 * assert.equal(wordShape("McDonald's"), "XxXxxxx'x");
 * ```
 */
export function wordShape(word: string): string {
  let shape = "";
  let last = "";
  let run = 0;
  for (const c of word) {
    const s = /\p{Lu}/u.test(c) ? "X" : /\p{Ll}/u.test(c) ? "x" : /\p{Nd}/u.test(c) ? "d" : c;
    run = s === last ? run + 1 : 1;
    last = s;
    if (run <= 4) shape += s;
  }
  return shape;
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
 * Splits pre-tokenised text into words at whitespace — the one rule every
 * reader uses (JavaScript's `\s`: space, tab, no-break space and the other
 * Unicode spaces); empty words are dropped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { whitespaceWords } from "./tokenizer.ts";
 * assert.deepEqual(whitespaceWords(" does n't\tfly\u00a0! "), ["does", "n't", "fly", "!"]);
 * ```
 */
export function whitespaceWords(text: string): string[] {
  return text.split(/\s+/).filter((w) => w !== "");
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
