/**
 * `deno task embed "a sentence" "another one"`: fixed-length sentence
 * embeddings; cosine similarities when asked (or for a few sentences). Input
 * is read and embedded in chunks, so `--jsonl` and `--out` stream inputs of
 * any size in bounded memory.
 * @module
 */
import {
  createMatrixFile,
  type MatrixFile,
  type MatrixFormat,
  readLines,
  splitWords,
} from "../lib/data/mod.ts";
import { loadModel } from "../lib/model/mod.ts";
import {
  cosineSimilarity,
  embedWords,
  encodeWordLists,
  InferencePool,
} from "../lib/inference/mod.ts";
import {
  DEFAULT_MODEL_DIR,
  intFlag,
  main,
  onNote,
  pathExists,
  setupBackend,
  stringFlag,
  UsageError,
  workersFlag,
} from "./_common.ts";
import { BACKEND_FLAGS, type Command, COMMON, type FlagTable, parseCommand } from "./_flags.ts";

/** Up to this many sentences, the text output includes their similarity matrix. */
const FEW = 12;

const FLAGS = {
  model: COMMON.model,
  file: { ...COMMON.file, help: COMMON.file.help + ";\nread and embedded a chunk at a time" },
  normalize: { type: "boolean", help: "L2-normalise the embeddings" },
  similarities: {
    type: "boolean",
    help: "the cosine-similarity matrix of all inputs (default: shown for up to\n" +
      `${FEW} sentences in the text output; holds every embedding in memory)`,
  },
  jsonl: {
    type: "boolean",
    help: 'one JSON object per sentence, streamed: {"text", "embedding"}',
  },
  json: {
    ...COMMON.json,
    help: "one JSON object: {texts, embeddings[, similarities]} (all in memory)",
  },
  out: {
    type: "string",
    value: "FILE",
    help: "write the embeddings to FILE, a new file: FILE.npy (NumPy float32\n" +
      "[sentences, size]) or FILE.f32 (raw little-endian float32, row-major);\n" +
      "a summary goes to stdout",
  },
  chunk: {
    type: "string",
    value: "N",
    help: "sentences read and embedded at a time (default 1024)",
  },
  workers: { ...COMMON.workers, help: "embed on N workers (cores) in parallel (default 1)" },
  ...BACKEND_FLAGS,
  help: COMMON.help,
} as const satisfies FlagTable;

const COMMAND: Command = {
  usage: "deno task embed [options] [SENTENCE ...]",
  sections: [{ flags: FLAGS }],
};

export async function run(args: string[]): Promise<void> {
  const parsed = parseCommand(args, COMMAND);
  if (parsed === undefined) return;
  const { values, positionals } = parsed;
  const out = stringFlag(values.out);
  const format: MatrixFormat | undefined = out === undefined
    ? undefined
    : out.endsWith(".npy")
    ? "npy"
    : out.endsWith(".f32")
    ? "f32"
    : undefined;
  if (out !== undefined && format === undefined) {
    throw new UsageError(`--out must name a .npy or .f32 file, got "${out}"`);
  }
  const modes = [values.json === true, values.jsonl === true, out !== undefined];
  if (modes.filter(Boolean).length > 1) {
    throw new UsageError("give at most one of --json, --jsonl and --out");
  }
  const chunkSize = intFlag(values.chunk, "chunk", 1) ?? 1024;
  const workers = workersFlag(values.workers);
  const file = stringFlag(values.file);
  if (file !== undefined && positionals.length > 0) {
    throw new UsageError("give sentences as arguments or --file FILE, not both");
  }
  if (out !== undefined && await pathExists(out)) {
    throw new Error(`${out} exists; not replacing it`);
  }
  const source = inputs(positionals, file);
  await setupBackend(values.backend, values.threads);
  const bundle = await loadModel(stringFlag(values.model) ?? DEFAULT_MODEL_DIR, { onNote });
  const pool = workers > 1 ? await InferencePool.create(bundle, workers) : undefined;
  const normalize = values.normalize === true;
  const size = bundle.model.embeddingSize;
  let matrix: MatrixFile | undefined;
  // Kept only when the whole input is needed at the end.
  const kept: { texts: string[]; vectors: Float32Array[] } = { texts: [], vectors: [] };
  const keepAll = values.json === true || values.similarities === true ||
    (out === undefined && values.jsonl !== true);
  let count = 0, truncated = 0;
  try {
    if (out !== undefined) matrix = await createMatrixFile(out, format!, size);
    for await (const texts of chunks(source, chunkSize)) {
      const words = texts.map((t) => splitWords(t));
      encodeWordLists(bundle, words).forEach((e, i) => {
        if (e.truncated && ++truncated <= 5) {
          console.error(
            `warning: input ${count + i + 1} ("${
              texts[i]!.slice(0, 40)
            }...") is longer than the model's maxLength; only its first words are embedded`,
          );
        }
      });
      const vectors = pool === undefined
        ? embedWords(bundle, words, { normalize })
        : await pool.embedWords(words, { normalize });
      if (matrix !== undefined) await matrix.write(vectors);
      if (values.jsonl === true) {
        const lines = texts.map((text, i) =>
          JSON.stringify({ text, embedding: Array.from(vectors[i]!) })
        );
        await write(lines.join("\n") + "\n");
      }
      if (keepAll) {
        kept.texts.push(...texts);
        kept.vectors.push(...vectors);
      }
      count += texts.length;
    }
    if (count === 0) {
      throw new UsageError("no input text: pass sentences as arguments, --file FILE, or stdin");
    }
    await matrix?.close();
  } catch (error) {
    await matrix?.abort();
    throw error;
  } finally {
    pool?.close();
    bundle.model.dispose();
  }
  if (truncated > 5) {
    console.error(`warning: ${truncated} inputs in all were longer than the model's maxLength`);
  }
  const { texts, vectors } = kept;
  const showSimilarities = values.similarities === true ||
    (keepAll && count <= FEW);
  const similarities = showSimilarities
    ? vectors.map((a) => vectors.map((b) => cosineSimilarity(a, b)))
    : undefined;
  if (matrix !== undefined) {
    console.log(`${count} embedding(s) of size ${size} written to ${matrix.path} (${format})`);
  } else if (values.json === true) {
    console.log(JSON.stringify({
      texts,
      embeddings: vectors.map((v) => Array.from(v)),
      ...(similarities === undefined ? {} : { similarities }),
    }));
    return;
  } else if (values.jsonl !== true) {
    console.log(`${count} embedding(s) of size ${size}`);
    texts.forEach((t, i) => {
      const head = Array.from(vectors[i]!.slice(0, 6), (x) => x.toFixed(3)).join(", ");
      console.log(`[${i}] ${t}\n    [${head}, ...]`);
    });
  }
  if (similarities !== undefined && values.jsonl !== true && count >= 2) {
    console.log("cosine similarity:");
    console.log("      " + texts.map((_, j) => `[${j}]`.padStart(7)).join(""));
    similarities.forEach((row, i) =>
      console.log(`  [${i}] ` + row.map((s) => s.toFixed(3).padStart(7)).join(""))
    );
  }
}

/** Input sentences: arguments, else the lines of --file, else the lines of stdin. */
async function* inputs(positionals: readonly string[], file: string | undefined) {
  if (file !== undefined) {
    let handle: Deno.FsFile;
    try {
      handle = await Deno.open(file);
    } catch (error) {
      throw new Error(`Cannot read ${file}: ${(error as Error).message}`);
    }
    yield* readLines(handle.readable, file);
  } else if (positionals.length > 0) {
    yield* positionals;
  } else if (!Deno.stdin.isTerminal()) {
    yield* readLines(Deno.stdin.readable, "standard input");
  }
}

/** Groups a stream of lines into arrays of `size` trimmed lines. */
async function* chunks(lines: AsyncIterable<string>, size: number): AsyncGenerator<string[]> {
  let chunk: string[] = [];
  for await (const line of lines) {
    chunk.push(line.trim());
    if (chunk.length === size) {
      yield chunk;
      chunk = [];
    }
  }
  if (chunk.length > 0) yield chunk;
}

const encoder = new TextEncoder();

/** Writes to stdout, waiting for the pipe (so a slow reader bounds memory). */
async function write(text: string): Promise<void> {
  const bytes = encoder.encode(text);
  for (let at = 0; at < bytes.length;) at += await Deno.stdout.write(bytes.subarray(at));
}

if (import.meta.main) await main(run);
