/**
 * SentencePiece unigram encoding (Kudo & Richardson, 2018): the most likely
 * segmentation of a text into vocabulary pieces, found by Viterbi over the
 * lattice of all pieces that match at each position. It reproduces the
 * encoder of the pretrained backbone's own package
 * (`@tensorflow-models/universal-sentence-encoder`'s `Tokenizer`, a port of
 * SentencePiece's `EncodeAsIds`) id for id, including its tie-breaking and its
 * merging of consecutive unknown characters, and adds what that one lacks: the
 * span of every piece and the word it belongs to (tested against it in
 * `tests/sentencepiece_test.ts`).
 *
 * Text is NFKC-normalised, spaces become `▁` (U+2581) and a `▁` is prepended,
 * so every word starts with a `▁`. No piece of the vocabulary holds a `▁` other
 * than at its start, so a piece never crosses a word boundary: each piece
 * belongs to the word its first character came from. A character no piece
 * matches becomes the unknown piece (id 0), so nothing is ever dropped.
 * @module
 */

/** The word-boundary symbol that replaces spaces. */
export const WORD_BOUNDARY = "\u2581";
/** Id of the unknown piece. */
export const UNKNOWN_PIECE = 0;
/** Ids below this (`<unk>`, `<s>`, `</s>`, extra ids) never match text. */
export const RESERVED_PIECES = 6;

/** A vocabulary entry: the piece and its log-probability score. */
export type PieceEntry = readonly [piece: string, score: number];

/** One sentence as pieces. Arrays have one entry per piece. */
export interface EncodedPieces {
  readonly ids: Int32Array;
  /** Index of the word each piece belongs to (0 for text encoded as one word). */
  readonly wordOf: Int32Array;
  /** Start and end (exclusive) of each piece, in code points of the normalised text (the leading `▁` is 0). */
  readonly starts: Int32Array;
  readonly ends: Int32Array;
}

interface TrieNode {
  readonly children: Map<string, TrieNode>;
  /** Vocabulary index of the piece ending here, or -1. */
  id: number;
}

/**
 * Encodes text into the pieces of a unigram vocabulary.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SentencePieceTokenizer } from "./sentencepiece.ts";
 * const vocab: [string, number][] = [["<unk>", 0], ["<s>", 0], ["</s>", 0], ["x1", 0], ["x2", 0],
 *   ["x3", 0], ["▁", -2], ["▁Par", -3], ["is", -3], ["▁Paris", -4], ["s", -2],
 *   ["P", -9], ["a", -9], ["r", -9], ["i", -9]];
 * const tok = new SentencePieceTokenizer(vocab);
 * const { ids, wordOf } = tok.encodeWords(["Paris", "is"]);
 * assert.deepEqual([...ids], [9, 6, 8]); // ▁Paris ▁ is
 * assert.deepEqual([...wordOf], [0, 1, 1]);
 * assert.deepEqual([...tok.encode("Paris!").ids], [9, 0]); // "!" is unknown
 * ```
 */
export class SentencePieceTokenizer {
  /** The vocabulary, in id order. */
  readonly vocab: readonly PieceEntry[];
  readonly #root: TrieNode = { children: new Map(), id: -1 };
  readonly #lengths: Int32Array;

  /** @param vocab pieces with scores in id order; the first {@linkcode RESERVED_PIECES} never match */
  constructor(vocab: readonly PieceEntry[]) {
    this.vocab = vocab;
    this.#lengths = new Int32Array(vocab.length);
    vocab.forEach(([piece], id) => {
      const symbols = [...piece];
      this.#lengths[id] = symbols.length;
      if (id < RESERVED_PIECES) return;
      let node = this.#root;
      for (const symbol of symbols) {
        let next = node.children.get(symbol);
        if (next === undefined) {
          next = { children: new Map(), id: -1 };
          node.children.set(symbol, next);
        }
        node = next;
      }
      // A piece listed twice keeps its last id, as the reference trie does.
      if (symbols.length > 0) node.id = id;
    });
  }

  /** Number of pieces. */
  get size(): number {
    return this.vocab.length;
  }

  /** Encodes one text (its words are not tracked: `wordOf` is all 0). */
  encode(text: string): EncodedPieces {
    const normalised = text.normalize("NFKC");
    if (normalised.length === 0) return emptyPieces();
    const symbols = [...(WORD_BOUNDARY + normalised.replaceAll(" ", WORD_BOUNDARY))];
    return this.#viterbi(symbols, new Int32Array(symbols.length));
  }

  /**
   * Encodes words as the text they form when joined by spaces, and tells the
   * word of every piece. Every word gets at least one piece (its `▁` or more).
   *
   * With `spaces`, word i follows a space only where `spaces[i]` (the first
   * word always does, as SentencePiece prepends one): `["does", "n't"]` with
   * `[true, false]` reads "doesn't". A piece then may run on from one word into
   * the next (`▁doesn` in `▁doesn ' t`); it belongs to the word it starts in,
   * and a word left without a piece of its own gets none.
   */
  encodeWords(words: readonly string[], spaces?: readonly boolean[]): EncodedPieces {
    const symbols: string[] = [];
    const owners: number[] = [];
    words.forEach((word, w) => {
      const text = word.normalize("NFKC").replaceAll(" ", WORD_BOUNDARY);
      for (const symbol of (w === 0 || (spaces?.[w] ?? true) ? WORD_BOUNDARY : "") + text) {
        symbols.push(symbol);
        owners.push(w);
      }
    });
    if (symbols.length === 0 || (words.length === 1 && words[0]!.length === 0)) {
      return emptyPieces();
    }
    return this.#viterbi(symbols, Int32Array.from(owners));
  }

  /** Best segmentation of `symbols`; `owners[i]` is the word of symbol i. */
  #viterbi(symbols: readonly string[], owners: Int32Array): EncodedPieces {
    const n = symbols.length;
    // best[e]: score of the best segmentation of symbols[0, e); last[e]: its last piece.
    const best = new Float64Array(n + 1);
    const last = new Int32Array(n + 1);
    // Pieces ending at e, by start, as the reference builds its lattice.
    const ending: { start: number; id: number; score: number }[][] = Array.from(
      { length: n + 1 },
      () => [],
    );
    for (let start = 0; start < n; start++) {
      let node: TrieNode | undefined = this.#root.children.get(symbols[start]!);
      let matched = false;
      for (let i = start; i < n && node !== undefined; i++) {
        if (node.id >= 0) {
          ending[i + 1]!.push({ start, id: node.id, score: this.vocab[node.id]![1] });
          matched = true;
        }
        node = node.children.get(symbols[i + 1]!);
      }
      if (!matched) ending[start + 1]!.push({ start, id: UNKNOWN_PIECE, score: 0 });
    }
    for (let end = 1; end <= n; end++) {
      // Ascending starts; a later candidate wins ties (and replaces a best of exactly 0).
      const candidates = ending[end]!.sort((a, b) => a.start - b.start);
      for (const { start, id, score } of candidates) {
        const total = score + best[start]!;
        if (best[end] === 0 || total >= best[end]!) {
          best[end] = total;
          last[end] = id;
        }
      }
    }
    // Backward pass, then consecutive unknown pieces merge into one.
    const pieces: { id: number; start: number; end: number }[] = [];
    for (let end = n; end > 0;) {
      const id = last[end]!;
      const start = end - (id === UNKNOWN_PIECE ? 1 : this.#lengths[id]!);
      const previous = pieces.at(-1);
      if (id === UNKNOWN_PIECE && previous?.id === UNKNOWN_PIECE) previous.start = start;
      else pieces.push({ id, start, end });
      end = start;
    }
    pieces.reverse();
    return {
      ids: Int32Array.from(pieces, (p) => p.id),
      wordOf: Int32Array.from(pieces, (p) => owners[p.start]!),
      starts: Int32Array.from(pieces, (p) => p.start),
      ends: Int32Array.from(pieces, (p) => p.end),
    };
  }
}

function emptyPieces(): EncodedPieces {
  const none = new Int32Array(0);
  return { ids: none, wordOf: none, starts: none, ends: none };
}
