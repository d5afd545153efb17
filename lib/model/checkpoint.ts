/**
 * Model directories: everything needed to rebuild a model bit for bit, and,
 * for training checkpoints, to resume a run.
 *
 * ```
 * model/
 *   meta.json          the commit record: format version, the current generation,
 *                      sha256 of its binary files, parameter count, dims, time, and
 *                      where a pretrained backbone came from
 *   gen-000007/        the current generation
 *     config.json      the resolved config
 *     tokenizer.json   vocabulary, lower-casing, word features
 *     tasks.json       the tasks: name, kind, labels in id order, metric, and for
 *                      chunk-tag tasks the tag transitions counted in training
 *     weights.json     tfjs weights manifest: [{ paths: ["weights.bin"], weights: [{ name, shape, dtype }] }]
 *     weights.bin      little-endian float32 values, concatenated in manifest order
 *     training/        (checkpoints only) state.json, optimizer.json, optimizer.bin
 * ```
 *
 * Saving writes a new generation folder in full, then commits it by renaming a
 * new `meta.json` over the old one (one atomic rename), then removes older
 * generations. A process killed at any moment therefore leaves a loadable model
 * at the path: the previous one or the new one. Leftovers of a killed save
 * (an uncommitted generation, a temporary `meta.json`) are removed by the next
 * save. A path that holds anything other than a model of this toolkit is never
 * replaced. Loading verifies every file: the manifest's shape, the binary sizes,
 * their sha256 against `meta.json`, and that every weight is finite.
 *
 * One process at a time writes a model directory: {@linkcode prepareModelDir}
 * takes a lock (the operating system's advisory lock on `.lock`, a file that
 * names the writer's pid and host) that lasts until the run releases it or
 * ends, and {@linkcode saveModel} takes one for its own duration when the
 * process holds none. Another live writer is refused; a killed one's lock
 * ended with it.
 *
 * Directories of format version 1 (files at the top level, `labels.json` for
 * the two tasks `ner` and `sentiment`) still load.
 * @module
 */
import { z } from "zod";
import { type Config, PoolingSchema, validateConfig } from "../core/config.ts";
import { parseSchema } from "../core/schema.ts";
import { sha256Hex } from "../core/hash.ts";
import type { TagTransitions } from "../data/tag_transitions.ts";
import { type TaskSpec, validateTasks } from "../core/tasks.ts";
import { CheckpointError } from "../core/errors.ts";
import { modelDims, MultiTaskModel } from "./model.ts";
import type { NamedArrays } from "./parameters.ts";
import type { BackboneFeatureCache } from "./feature_cache.ts";
import { WordTokenizer } from "../data/tokenizer.ts";
import { BACKBONE_SOURCES } from "../data/backbone_sources.ts";

/** Version of the directory layout written now; versions 1 and 2 load. */
export const FORMAT_VERSION = 2;
/** Marks `meta.json` files written by this toolkit. */
export const LIBRARY = "multitask-transformer";

const META = "meta.json";
const LOCK = ".lock";
/** The file that marks a generation folder as this toolkit's, written first in it. */
const MARKER = ".generation";
/** How often a reader starts over when a writer replaced the generation it was reading. */
const READ_ATTEMPTS = 5;
const GENERATION = /^gen-(\d{6,})$/;
/** Files of a format-1 directory, removed when a format-2 save replaces it. */
const V1_ENTRIES = [
  "config.json",
  "tokenizer.json",
  "labels.json",
  "tasks.json",
  "weights.json",
  "weights.bin",
  "training",
];

/** The `meta.json` format (format 1 wrote fewer fields; unknown ones are kept, not refused). */
export const MetaSchema = z.object({
  formatVersion: z.number().int(),
  library: z.string().optional(),
  /** Format 2: the folder of the current generation. */
  current: z.string().regex(GENERATION, "expected gen-NNNNNN").optional(),
  /** Format 2: sha256 of each binary file of the generation, by path inside it. */
  sha256: z.record(z.string(), z.string().regex(/^[0-9a-f]{64}$/, "expected a sha256")).optional(),
}).loose();

const TagTransitionsSchema = z.object({
  scores: z.array(z.number()),
  start: z.array(z.number()),
  prior: z.array(z.number()).optional(),
  priorWeight: z.number().min(0).max(4).optional(),
}).strict();

/** The `tasks.json` format. */
export const TasksFileSchema = z.object({
  tasks: z.array(
    z.object({
      name: z.string(),
      kind: z.enum(["token", "sentence", "pair"]),
      labels: z.array(z.string()),
      metric: z.enum(["entity-f1", "accuracy", "spearman"]),
      pooling: PoolingSchema.optional(),
      crf: z.boolean().optional(),
      labelSmoothing: z.number().min(0).max(0.5).optional(),
      tagTransitions: TagTransitionsSchema.optional(),
    }).strict(),
  ),
}).strict();

/** A tfjs weights manifest (`weights.json`), float32 weights only. */
export const ManifestSchema = z.array(
  z.object({
    paths: z.array(z.string()).optional(),
    weights: z.array(
      z.object({
        name: z.string(),
        shape: z.array(z.number().int().min(0)),
        dtype: z.literal("float32"),
      }).loose(),
    ),
  }).loose(),
);

/** A task of a trained model: its spec and what training counted for decoding. */
export interface TrainedTask extends TaskSpec {
  /** Tag-bigram statistics of the training tags (chunk-tag token tasks), for `transitions` decoding. */
  readonly tagTransitions?: TagTransitions;
}

/** A model with everything it needs for inference. */
export interface ModelBundle {
  readonly config: Config;
  readonly tokenizer: WordTokenizer;
  readonly tasks: readonly TrainedTask[];
  readonly model: MultiTaskModel;
  /**
   * During training with a frozen backbone: the frozen stages' outputs by
   * sentence, which prediction and evaluation use and fill (never saved).
   */
  readonly featureCache?: BackboneFeatureCache;
}

/**
 * What a training checkpoint adds to a model: JSON state (epoch, history, …)
 * and named arrays (optimizer moments). Its meaning belongs to the training
 * layer (`training/training_state.ts`).
 */
export interface SavedTraining {
  readonly json: Readonly<Record<string, unknown>>;
  readonly arrays: NamedArrays;
}

/** The commit record of a model directory. */
type Meta = z.infer<typeof MetaSchema>;

/** What a path holds, for {@linkcode inspectModelDir}. */
export type OutputKind = "absent" | "empty" | "model" | "other";

/**
 * What `dir` holds: nothing, an empty folder, a model directory of this toolkit
 * (or the leftovers of one whose first save was killed), or something else
 * (a file, or a folder with other files), which is never replaced.
 */
export async function inspectModelDir(dir: string): Promise<{ kind: OutputKind; why?: string }> {
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return { kind: "absent" };
    if (error instanceof Deno.errors.NotADirectory) {
      return { kind: "other", why: "a part of the path is a file" };
    }
    throw new CheckpointError(`Cannot use ${dir}: ${(error as Error).message}`);
  }
  if (!stat.isDirectory) return { kind: "other", why: "it is a file, not a folder" };
  const entries: string[] = [];
  for await (const e of Deno.readDir(dir)) entries.push(e.name);
  if (entries.length === 0) return { kind: "empty" };
  if (entries.includes(META)) {
    const meta = await readJson(dir, META).catch(() => undefined) as Meta | undefined;
    if (
      meta !== undefined && typeof meta === "object" && meta !== null &&
      (meta.library === LIBRARY || (meta.formatVersion === 1 && entries.includes("weights.bin")))
    ) {
      return { kind: "model" };
    }
    return { kind: "other", why: "its meta.json is not a model of this toolkit" };
  }
  const foreign = entries.filter((e) =>
    !GENERATION.test(e) && !e.startsWith(`${META}.tmp-`) && e !== LOCK
  );
  if (foreign.length === 0) return { kind: "model" }; // a first save that was killed
  return { kind: "other", why: `it holds other files (${foreign.slice(0, 3).join(", ")})` };
}

/** This process's hold on a model directory, from {@linkcode prepareModelDir}. */
export interface ModelDirLock {
  /** Removes the lock (and the folder, when the run created it and saved nothing). */
  release(): Promise<void>;
}

/** Model directories this process holds the lock of. */
const held = new Set<string>();

/**
 * Checks before a run that `dir` can take a model, and locks it for this
 * process: it must be absent, an empty folder or a model directory, writable,
 * and not locked by another live process. The folder and its parents are
 * created, and leftovers of killed saves in a model directory are removed
 * (after the lock is taken, so never another writer's save in progress).
 * @throws {CheckpointError} saying why and what to do
 */
export async function prepareModelDir(dir: string): Promise<ModelDirLock> {
  const path = normalizeDir(dir);
  const { kind, why } = await inspectModelDir(path);
  if (kind === "other") {
    throw new CheckpointError(
      `Cannot write a model to ${path}: ${why}; it is not a model directory of this toolkit and is never replaced. Choose another path (a new folder, or an earlier model directory)`,
    );
  }
  const created = await missingFolders(path);
  try {
    await Deno.mkdir(path, { recursive: true });
  } catch (error) {
    throw new CheckpointError(`Cannot write a model to ${path}: ${(error as Error).message}`);
  }
  // The folders this run created go when it ends without a model in them.
  const removeCreated = async () => {
    for (const folder of created) {
      if (!(await Deno.remove(folder).then(() => true, () => false))) break;
    }
  };
  let release: () => Promise<void>;
  try {
    release = await acquireLock(path, "write a model to");
  } catch (error) {
    await removeCreated();
    throw error;
  }
  if (kind === "model") await removeLeftovers(path);
  return {
    release: async () => {
      await release();
      // Only while empty (remove without `recursive` refuses any other folder).
      await removeCreated();
    },
  };
}

/** `path` and those of its parents that do not exist, deepest first. */
async function missingFolders(path: string): Promise<string[]> {
  const out: string[] = [];
  for (let p = path; p !== "" && p !== "." && p !== "/";) {
    const exists = await Deno.lstat(p).then(() => true, () => false);
    if (exists) break;
    out.push(p);
    const cut = p.lastIndexOf("/");
    p = cut <= 0 ? (cut === 0 ? "/" : "") : p.slice(0, cut);
  }
  return out;
}

/**
 * Takes `path/.lock` for this process: an exclusive advisory lock of the
 * operating system on that file, which ends with the process however it ends,
 * so a killed run's lock file is simply taken over. The file names the holder
 * (pid, host) for the message another process gets. Returns the release.
 */
async function acquireLock(path: string, doing: string): Promise<() => Promise<void>> {
  const file = `${path}/${LOCK}`;
  for (let attempt = 0; attempt < 3; attempt++) {
    const existing = await Deno.lstat(file).catch(() => undefined);
    if (existing !== undefined && !existing.isFile) {
      throw new CheckpointError(
        `Cannot ${doing} ${path}: ${file} is ${
          existing.isSymlink ? "a symbolic link" : "not a file"
        }, not a lock of this toolkit; it is never followed or replaced (remove it if it is yours)`,
      );
    }
    let handle: Deno.FsFile;
    try {
      handle = await Deno.open(file, { read: true, write: true, create: true });
    } catch (error) {
      throw new CheckpointError(`Cannot ${doing} ${path}: ${(error as Error).message}`);
    }
    if (!(await handle.tryLock(true))) {
      handle.close();
      const owner = await Deno.readTextFile(file).then((t) => JSON.parse(t), () => undefined) as
        | { pid?: unknown; host?: unknown }
        | undefined;
      const who = typeof owner?.pid === "number"
        ? `process ${owner.pid} on ${String(owner.host)}`
        : "another process";
      throw new CheckpointError(
        `Cannot ${doing} ${path}: ${who} is writing it (${file}); wait for it to end, or choose another path`,
      );
    }
    // A holder that was releasing may have removed the file meanwhile, or a link
    // may have taken its place: the lock counts only on the file at the path now.
    const mine = await handle.stat();
    const there = await Deno.lstat(file).catch(() => undefined);
    if (there === undefined || there.ino !== mine.ino || there.dev !== mine.dev) {
      handle.close();
      continue;
    }
    const owner = { pid: Deno.pid, host: hostname(), since: new Date().toISOString() };
    try {
      await handle.truncate(0);
      await handle.write(new TextEncoder().encode(JSON.stringify(owner) + "\n"));
    } catch (error) {
      await Deno.remove(file).catch(() => {});
      handle.close();
      throw new CheckpointError(
        `Cannot ${doing} ${path}: writing ${file} failed (${(error as Error).message})`,
      );
    }
    held.add(path);
    return async () => {
      held.delete(path);
      await Deno.remove(file).catch(() => {});
      handle.close();
    };
  }
  throw new CheckpointError(`Cannot ${doing} ${path}: its lock (${file}) keeps changing hands`);
}

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown";
  }
}

/**
 * Writes `bundle` (and optional training state) to `dir` as a new generation,
 * committed atomically (see the module documentation).
 * @throws {CheckpointError} when `dir` holds something else, or a weight is not finite
 */
export async function saveModel(
  dir: string,
  bundle: ModelBundle,
  training?: SavedTraining,
): Promise<void> {
  const path = normalizeDir(dir);
  const { kind, why } = await inspectModelDir(path);
  if (kind === "other") {
    throw new CheckpointError(
      `Cannot save the model to ${path}: ${why}; it is not a model directory of this toolkit and is never replaced`,
    );
  }
  const { model } = bundle;
  const weights = packWeights(model.parameters.read(), `the model for ${path}`);
  const arrays = training === undefined
    ? undefined
    : packWeights(training.arrays, `the training state for ${path}`);
  await Deno.mkdir(path, { recursive: true });
  const release = held.has(path) ? undefined : await acquireLock(path, "save the model to");
  try {
    await commitGeneration(path, kind, bundle, weights, training, arrays);
  } finally {
    await release?.();
  }
}

async function commitGeneration(
  path: string,
  kind: OutputKind,
  bundle: ModelBundle,
  weights: ReturnType<typeof packWeights>,
  training: SavedTraining | undefined,
  arrays: ReturnType<typeof packWeights> | undefined,
): Promise<void> {
  const { model } = bundle;
  const entries: string[] = [];
  for await (const e of Deno.readDir(path)) entries.push(e.name);
  const previous = kind === "model"
    ? await readJson(path, META).catch(() => undefined) as Meta | undefined
    : undefined;
  const numbers = entries.map((e) => GENERATION.exec(e)?.[1]).filter((n) => n !== undefined)
    .map(Number);
  const generation = `gen-${String(Math.max(0, ...numbers) + 1).padStart(6, "0")}`;
  const gen = `${path}/${generation}`;
  const tmp = `${path}/${META}.tmp-${Deno.pid}`;
  const sha256: Record<string, string> = {};
  let created = false;
  // Every file of the generation is new (never a link followed) and in the checksums.
  const write = async (name: string, data: Uint8Array) => {
    try {
      await writeSynced(`${gen}/${name}`, data);
    } catch (error) {
      throw new CheckpointError(
        `Cannot save the model to ${path}: writing ${generation}/${name} failed (${
          (error as Error).message
        }); the previous model stays current`,
      );
    }
    sha256[name] = await sha256Hex(data);
  };
  try {
    try {
      await Deno.mkdir(gen);
    } catch (error) {
      throw new CheckpointError(
        `Cannot save the model to ${path}: creating ${generation}/ failed (${
          (error as Error).message
        }); the previous model stays current`,
      );
    }
    created = true;
    await writeSynced(`${gen}/${MARKER}`, jsonBytes({ library: LIBRARY, pid: Deno.pid }));
    await write("config.json", jsonBytes(bundle.config));
    await write("tokenizer.json", jsonBytes(bundle.tokenizer.toJSON()));
    await write("tasks.json", jsonBytes({ tasks: bundle.tasks }));
    await write("weights.json", jsonBytes([{ paths: ["weights.bin"], weights: weights.specs }]));
    await write("weights.bin", weights.data);
    if (training !== undefined && arrays !== undefined) {
      await Deno.mkdir(`${gen}/training`);
      await write("training/state.json", jsonBytes(training.json));
      await write("training/arrays.json", jsonBytes(arrays.specs));
      await write("training/arrays.bin", arrays.data);
    }
    // The commit: one atomic rename of the new meta.json over the old one.
    try {
      await writeSynced(
        tmp,
        jsonBytes({
          formatVersion: FORMAT_VERSION,
          library: LIBRARY,
          current: generation,
          sha256,
          parameters: model.countParameters(),
          dims: model.dims,
          ...(bundle.config.model.backbone === null
            ? {}
            : { backbone: backboneRecord(bundle.config) }),
          created: new Date().toISOString(),
        }),
      );
    } catch (error) {
      throw new CheckpointError(
        `Cannot save the model to ${path}: writing ${META}.tmp-${Deno.pid} failed (${
          (error as Error).message
        }); the previous model stays current`,
      );
    }
    await Deno.rename(tmp, `${path}/${META}`);
  } catch (error) {
    // Nothing half-written stays: the new generation and the temporary meta.json go.
    if (created) await Deno.remove(gen, { recursive: true }).catch(() => {});
    await Deno.remove(tmp).catch(() => {});
    if (error instanceof CheckpointError) throw error;
    throw new CheckpointError(`Cannot save the model to ${path}: ${(error as Error).message}`);
  }
  // Older generations of ours go, but the one just replaced: a reader may still be reading it.
  for (const entry of entries) {
    const at = `${path}/${entry}`;
    const old = (GENERATION.test(entry) && entry !== previous?.current &&
      await isOurGeneration(at, previous)) ||
      (entry.startsWith(`${META}.tmp-`) && await isPlainFile(at)) ||
      (previous?.formatVersion === 1 && V1_ENTRIES.includes(entry));
    if (old) await Deno.remove(at, { recursive: true }).catch(() => {});
  }
}

/**
 * Whether `dir` is a generation folder this toolkit wrote: a folder (not a
 * link) holding its marker, or the one `meta` names (saved before markers).
 */
async function isOurGeneration(dir: string, meta: Meta | undefined): Promise<boolean> {
  const stat = await Deno.lstat(dir).catch(() => undefined);
  if (stat === undefined || !stat.isDirectory) return false;
  if (await isPlainFile(`${dir}/${MARKER}`)) return true;
  return meta !== undefined && dir.endsWith(`/${meta.current}`);
}

async function isPlainFile(path: string): Promise<boolean> {
  return (await Deno.lstat(path).catch(() => undefined))?.isFile === true;
}

/**
 * Where a model's pretrained backbone came from, for `meta.json`: its weights
 * are in `weights.bin` like every other weight (copied, fine-tuned or not), so
 * the directory loads offline and is verified as a whole.
 */
function backboneRecord(config: Config): Record<string, string> {
  const source = BACKBONE_SOURCES[config.model.backbone!];
  return {
    name: source.name,
    source: `npm:${source.npmPackage}@${source.version}`,
    licence: source.licence,
    weights: "copied into weights.bin (backbone/…)",
  };
}

/** Options of {@linkcode loadModel} and {@linkcode loadSavedTraining}. */
export interface LoadOptions {
  /** Told of what loads but deserves a word (a directory saved by an earlier version). */
  readonly onNote?: (message: string) => void;
}

/**
 * Loads a model directory written by {@linkcode saveModel}. A writer may save
 * meanwhile: a reader whose generation is replaced under it reads the new one.
 * @throws {CheckpointError} naming the file (and weight) when anything is missing,
 *   malformed, of another format version, corrupted or not finite
 */
export async function loadModel(dir: string, options: LoadOptions = {}): Promise<ModelBundle> {
  return await readConsistently(normalizeDir(dir), options, bundleOf);
}

/**
 * Loads a model directory through `read`, which returns a file's bytes by its
 * path inside the directory (`meta.json`, `gen-000003/weights.bin`): e.g. from
 * a web server, in a browser. Every file is checked as {@linkcode loadModel}
 * checks it; `label` names the directory in messages.
 * @throws {CheckpointError} when a file is missing, corrupt or of another format
 */
export async function loadModelFrom(
  read: (file: string) => Promise<Uint8Array>,
  label: string,
  options: LoadOptions = {},
): Promise<ModelBundle> {
  const reader = async (path: string) => {
    try {
      return await read(path.slice(label.length + 1));
    } catch (error) {
      throw new CheckpointError(
        `Cannot load model directory ${label}: ${path.slice(label.length + 1)} is unreadable (${
          (error as Error).message
        })`,
      );
    }
  };
  let metaJson: unknown;
  try {
    metaJson = JSON.parse(new TextDecoder().decode(await reader(`${label}/${META}`)));
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    throw new CheckpointError(`Cannot load ${label}/${META}: malformed JSON`);
  }
  const { base, meta } = checkedMeta(label, metaJson);
  if (meta.formatVersion === 1) {
    throw new CheckpointError(`Cannot load ${label}: format 1 directories load from disk only`);
  }
  return await bundleOf(new Generation(label, base, meta, options.onNote, reader));
}

/** The model of one generation. */
async function bundleOf(gen: Generation): Promise<ModelBundle> {
  let config: Config;
  try {
    config = validateConfig(await gen.json("config.json"), `${gen.base}/config.json`);
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    throw new CheckpointError(
      `Cannot load model directory ${gen.path}: ${(error as Error).message}`,
    );
  }
  const tokenizer = WordTokenizer.fromJSON(
    await gen.json("tokenizer.json"),
    `${gen.base}/tokenizer.json`,
  );
  const tasks = await readTasks(gen);
  const model = new MultiTaskModel(config.model, modelDims(tokenizer, tasks), config.seed);
  try {
    const specs = validateManifest(
      await gen.json("weights.json"),
      `${gen.base}/weights.json`,
    );
    const values = await readWeights(gen, "weights.bin", specs);
    try {
      model.parameters.assign(named(specs, values), `${gen.base}/weights.bin`, true);
    } catch (error) {
      throw new CheckpointError((error as Error).message);
    }
  } catch (error) {
    model.dispose();
    throw error;
  }
  return { config, tokenizer, tasks, model };
}

/**
 * The training extras of a checkpoint ({@linkcode SavedTraining}), or
 * `undefined` if it has none. Format-1 directories stored the optimizer as
 * `training/optimizer.json` (`{ step, weights }`) and `optimizer.bin`; their
 * step is returned in `json.step`.
 */
export async function loadSavedTraining(
  dir: string,
  options: LoadOptions = {},
): Promise<SavedTraining | undefined> {
  return await readConsistently(normalizeDir(dir), options, async (gen) => {
    const { base, meta } = gen;
    if (!(await isPlainFile(`${base}/training/state.json`))) {
      // Gone with its generation (a writer replaced it): read the new one.
      await Deno.lstat(base);
      return undefined;
    }
    const json = await gen.json("training/state.json");
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      throw new CheckpointError(`Cannot load ${base}/training/state.json: expected an object`);
    }
    if (meta.formatVersion === 1) {
      const opt = await gen.json("training/optimizer.json") as {
        step?: unknown;
        weights?: unknown;
      };
      const specs = validateManifest(
        [{ weights: opt?.weights }],
        `${base}/training/optimizer.json`,
      );
      const values = await readWeights(gen, "training/optimizer.bin", specs);
      return { json: { ...json, step: opt.step }, arrays: named(specs, values) };
    }
    const specs = validateManifest(
      [{ weights: await gen.json("training/arrays.json") }],
      `${base}/training/arrays.json`,
    );
    const values = await readWeights(gen, "training/arrays.bin", specs);
    return { json: json as Record<string, unknown>, arrays: named(specs, values) };
  });
}

/** The files of one generation, read and checked against its `meta.json`. */
class Generation {
  readonly #notes: (message: string) => void;
  #noted = false;

  constructor(
    readonly path: string,
    readonly base: string,
    readonly meta: Meta,
    onNote: ((message: string) => void) | undefined,
    readonly read: (path: string) => Promise<Uint8Array> = Deno.readFile,
  ) {
    this.#notes = onNote ?? (() => {});
  }

  /** Whether the generation has `file` (its checksum is recorded, or it is on disk). */
  async has(file: string): Promise<boolean> {
    if (this.meta.sha256?.[file] !== undefined) return true;
    try {
      await Deno.stat(`${this.base}/${file}`);
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  }

  /**
   * A file's bytes, checked against the sha256 recorded for it (format 2;
   * directories saved before every file had one load with a note).
   */
  async bytes(file: string, verify = true): Promise<Uint8Array> {
    let data: Uint8Array;
    try {
      data = await this.read(`${this.base}/${file}`);
    } catch (error) {
      if (error instanceof CheckpointError) throw error;
      throw new CheckpointError(
        `Cannot load model directory ${this.base}: ${file} is unreadable (${
          (error as Error).message
        })`,
      );
    }
    if (verify) await this.verify(file, data);
    return data;
  }

  /** Checks `data` against the sha256 recorded for `file`. */
  async verify(file: string, data: Uint8Array): Promise<void> {
    if (this.meta.formatVersion < 2) return;
    const recorded = this.meta.sha256?.[file];
    if (recorded === undefined) {
      if (file.endsWith(".bin")) {
        throw new CheckpointError(
          `Cannot load ${this.base}/${file}: meta.json records no sha256 for it`,
        );
      }
      if (!this.#noted) {
        this.#notes(
          `${this.path} was saved by an earlier version: its JSON files have no checksums (the weights do)`,
        );
        this.#noted = true;
      }
      return;
    }
    const actual = await sha256Hex(data);
    if (actual !== recorded) {
      throw new CheckpointError(
        `Cannot load ${this.base}/${file}: its sha256 ${actual} differs from the ${recorded} recorded when it was saved (the file is corrupted)`,
      );
    }
  }

  /** A JSON file, checked. */
  async json(file: string): Promise<unknown> {
    const data = await this.bytes(file);
    try {
      return JSON.parse(new TextDecoder().decode(data));
    } catch (error) {
      throw new CheckpointError(
        `Cannot load ${this.base}/${file}: malformed JSON (${(error as Error).message})`,
      );
    }
  }
}

/**
 * Runs `read` on the current generation of `path`. When it fails and
 * `meta.json` names another generation by then (a writer committed one and
 * removed the one being read), it reads that one instead, a few times over;
 * a failure on a generation that is still current is a real one.
 */
async function readConsistently<T>(
  path: string,
  options: LoadOptions,
  read: (generation: Generation) => Promise<T>,
): Promise<T> {
  for (let attempt = 1;; attempt++) {
    const { base, meta } = await generationOf(path);
    try {
      return await read(new Generation(path, base, meta, options.onNote));
    } catch (error) {
      if (attempt >= READ_ATTEMPTS || meta.formatVersion === 1) throw error;
      const now = await readJson(path, META).catch(() => undefined) as Meta | undefined;
      if (now?.current === undefined || now.current === meta.current) {
        if (error instanceof CheckpointError) throw error;
        throw new CheckpointError(`Cannot load ${base}: ${(error as Error).message}`);
      }
    }
  }
}

function named(specs: readonly Spec[], values: Map<string, Float32Array>): NamedArrays {
  return Object.fromEntries(
    specs.map((s) => [s.name, { shape: [...s.shape], values: values.get(s.name)! }]),
  );
}

/**
 * Removes what killed saves left in a model directory: generations of this
 * toolkit that are not the committed one (with their marker), temporary
 * `meta.json` files. A folder or link that is not ours stays.
 */
async function removeLeftovers(path: string): Promise<void> {
  const meta = await readJson(path, META).catch(() => undefined) as Meta | undefined;
  for await (const e of Deno.readDir(path)) {
    const at = `${path}/${e.name}`;
    const stale = (GENERATION.test(e.name) && e.name !== meta?.current &&
      await isOurGeneration(at, undefined)) ||
      (e.name.startsWith(`${META}.tmp-`) && await isPlainFile(at));
    if (stale) await Deno.remove(at, { recursive: true }).catch(() => {});
  }
}

/** Strips trailing slashes (what tab completion gives); refuses an empty path. */
function normalizeDir(dir: string): string {
  const path = dir.replace(/(.)\/+$/, "$1");
  if (path === "") throw new CheckpointError("Cannot use an empty path as a model directory");
  return path;
}

/** The folder holding the current files: the directory itself (format 1) or its generation. */
async function generationOf(path: string): Promise<{ base: string; meta: Meta }> {
  return checkedMeta(path, await readJson(path, META));
}

/** A parsed `meta.json` of the directory `path`, and the folder of its current files. */
function checkedMeta(path: string, json: unknown): { base: string; meta: Meta } {
  const meta = parseSchema(
    MetaSchema,
    json,
    (field, detail) =>
      new CheckpointError(`Cannot load ${path}/${META}: field "${field}": ${detail}`),
  );
  if (meta.formatVersion === 1) return { base: path, meta };
  if (meta.formatVersion !== FORMAT_VERSION) {
    throw new CheckpointError(
      `Cannot load model directory ${path}: format version ${
        JSON.stringify(meta.formatVersion)
      } is not supported (expected 1 or ${FORMAT_VERSION})`,
    );
  }
  if (meta.current === undefined) {
    throw new CheckpointError(`Cannot load ${path}/${META}: field "current" names no generation`);
  }
  return { base: `${path}/${meta.current}`, meta };
}

/** Named arrays as one little-endian float32 buffer and its manifest entries; all must be finite. */
function packWeights(
  arrays: NamedArrays,
  what: string,
): { data: Uint8Array; specs: { name: string; shape: number[]; dtype: "float32" }[] } {
  const entries = Object.entries(arrays);
  const floats = new Float32Array(entries.reduce((n, [, a]) => n + a.values.length, 0));
  const specs = [];
  let at = 0;
  for (const [name, { shape, values }] of entries) {
    const bad = countNonFinite(values);
    if (bad.nan + bad.inf > 0) {
      throw new CheckpointError(
        `Cannot save ${what}: weight ${name} has ${bad.nan} NaN and ${bad.inf} infinite values (training diverged?)`,
      );
    }
    floats.set(values, at);
    at += values.length;
    specs.push({ name, shape: [...shape], dtype: "float32" as const });
  }
  return { data: new Uint8Array(floats.buffer), specs };
}

interface Spec {
  readonly name: string;
  readonly shape: readonly number[];
}

/** Validates a tfjs weights manifest and lists its weights. */
function validateManifest(value: unknown, file: string): Spec[] {
  const groups = parseSchema(ManifestSchema, value, (field, detail) =>
    new CheckpointError(
      field === "(root)"
        ? `Cannot load ${file}: expected a list of weight groups`
        : `Cannot load ${file}: field "${field}": ${detail}`,
    ));
  return groups.flatMap((g) => g.weights.map((w) => ({ name: w.name, shape: w.shape })));
}

/**
 * Reads a binary file of weights described by `specs`, checking in turn its
 * size against the manifest (naming the weight cut short), its sha256 against
 * `meta.json` (format 2), and that every value is finite (naming the weight).
 */
async function readWeights(
  gen: Generation,
  name: string,
  specs: readonly Spec[],
): Promise<Map<string, Float32Array>> {
  const file = `${gen.base}/${name}`;
  const data = await gen.bytes(name, false);
  const sizes = specs.map((s) => s.shape.reduce((a, b) => a * b, 1));
  const expected = 4 * sizes.reduce((a, b) => a + b, 0);
  if (data.length !== expected) {
    let at = 0, short = specs.length;
    for (let i = 0; i < specs.length; i++) {
      at += 4 * sizes[i]!;
      if (at > data.length) {
        short = i;
        break;
      }
    }
    throw new CheckpointError(
      `Cannot load ${file}: it has ${data.length} bytes but the manifest describes ${expected}${
        short < specs.length
          ? ` (weight ${specs[short]!.name} is cut short)`
          : " (extra bytes at the end)"
      }`,
    );
  }
  await gen.verify(name, data);
  const floats = data.byteOffset % 4 === 0
    ? new Float32Array(data.buffer, data.byteOffset, data.length / 4)
    : new Float32Array(data.slice().buffer);
  const out = new Map<string, Float32Array>();
  let at = 0;
  specs.forEach((spec, i) => {
    const values = floats.subarray(at, at + sizes[i]!);
    at += sizes[i]!;
    const bad = countNonFinite(values);
    if (bad.nan + bad.inf > 0) {
      throw new CheckpointError(
        `Cannot load ${file}: weight ${spec.name} has ${bad.nan} NaN and ${bad.inf} infinite values`,
      );
    }
    out.set(spec.name, values);
  });
  return out;
}

function countNonFinite(values: Float32Array): { nan: number; inf: number } {
  let nan = 0, inf = 0;
  for (let i = 0; i < values.length; i++) {
    const x = values[i]!;
    if (x !== x) nan++;
    else if (x === Infinity || x === -Infinity) inf++;
  }
  return { nan, inf };
}

/**
 * The tasks of a generation: `tasks.json`, or the `labels.json` of models saved
 * before tasks were data (NER tags and sentiment labels: the tasks `ner` and
 * `sentiment`).
 */
async function readTasks(gen: Generation): Promise<TrainedTask[]> {
  const base = gen.base;
  let tasks: TrainedTask[];
  let file = `${base}/tasks.json`;
  if (await gen.has("tasks.json")) {
    tasks = parseSchema(
      TasksFileSchema,
      await gen.json("tasks.json"),
      (field, detail) => new CheckpointError(`Cannot load ${file}: field "${field}": ${detail}`),
    ).tasks as TrainedTask[];
  } else {
    file = `${base}/labels.json`;
    const labels = await gen.json("labels.json") as {
      nerTags?: unknown;
      sentimentLabels?: unknown;
      tagTransitions?: TagTransitions;
    };
    const strings = (a: unknown): a is string[] =>
      Array.isArray(a) && a.length > 0 && a.every((x) => typeof x === "string");
    if (!strings(labels?.nerTags) || !strings(labels.sentimentLabels)) {
      throw new CheckpointError(`Cannot load ${file}: expected lists nerTags and sentimentLabels`);
    }
    tasks = [
      {
        name: "ner",
        kind: "token",
        labels: labels.nerTags,
        metric: "entity-f1",
        ...(labels.tagTransitions !== undefined ? { tagTransitions: labels.tagTransitions } : {}),
      },
      { name: "sentiment", kind: "sentence", labels: labels.sentimentLabels, metric: "accuracy" },
    ];
  }
  try {
    validateTasks(tasks);
  } catch (error) {
    throw new CheckpointError(`Cannot load ${file}: ${(error as Error).message}`);
  }
  for (const task of tasks) {
    const transitions = task.tagTransitions;
    if (transitions === undefined) continue;
    const n = task.labels.length;
    const ok = (a: unknown, len: number) =>
      Array.isArray(a) && a.length === len && a.every((x) => typeof x === "number");
    if (
      !ok(transitions.scores, n * n) || !ok(transitions.start, n) ||
      (transitions.prior !== undefined && !ok(transitions.prior, n)) ||
      (transitions.priorWeight !== undefined &&
        !(typeof transitions.priorWeight === "number" && transitions.priorWeight >= 0 &&
          transitions.priorWeight <= 4))
    ) {
      throw new CheckpointError(
        `Cannot load ${file}: task "${task.name}": field tagTransitions must hold ${n}×${n} scores, ${n} start scores, optionally ${n} prior scores and a priorWeight in [0, 4]`,
      );
    }
  }
  return tasks;
}

function jsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value, null, 1) + "\n");
}

/** Writes a file and flushes it to disk before the commit can name it. */
async function writeSynced(path: string, data: Uint8Array): Promise<void> {
  const file = await Deno.open(path, { write: true, createNew: true });
  try {
    let written = 0;
    while (written < data.length) written += await file.write(data.subarray(written));
    await file.sync();
  } finally {
    file.close();
  }
}

async function readJson(dir: string, file: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${dir}/${file}`);
  } catch (error) {
    throw new CheckpointError(
      `Cannot load model directory ${dir}: ${file} is unreadable (${(error as Error).message})`,
    );
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new CheckpointError(
      `Cannot load ${dir}/${file}: malformed JSON (${(error as Error).message})`,
    );
  }
}
