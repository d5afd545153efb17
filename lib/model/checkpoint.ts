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
import { BACKBONE_SOURCES } from "../data/backbone_files.ts";

/** Version of the directory layout written now; versions 1 and 2 load. */
export const FORMAT_VERSION = 2;
/** Marks `meta.json` files written by this toolkit. */
export const LIBRARY = "multitask-transformer";

const META = "meta.json";
const LOCK = ".lock";
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
  try {
    await Deno.mkdir(path, { recursive: true });
  } catch (error) {
    throw new CheckpointError(`Cannot write a model to ${path}: ${(error as Error).message}`);
  }
  const release = await acquireLock(path, "write a model to");
  if (kind === "model") await removeLeftovers(path);
  return {
    release: async () => {
      await release();
      if (kind === "absent" || kind === "empty") {
        // Only an empty folder goes (remove without `recursive` refuses any other).
        await Deno.remove(path).catch(() => {});
      }
    },
  };
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
    // A holder that was releasing may have removed the file meanwhile: the lock
    // counts only on the file that is at the path now.
    const mine = await handle.stat();
    const there = await Deno.stat(file).catch(() => undefined);
    if (there === undefined || there.ino !== mine.ino || there.dev !== mine.dev) {
      handle.close();
      continue;
    }
    const owner = { pid: Deno.pid, host: hostname(), since: new Date().toISOString() };
    await handle.truncate(0);
    await handle.write(new TextEncoder().encode(JSON.stringify(owner) + "\n"));
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
  await Deno.mkdir(gen);
  await writeJson(`${gen}/config.json`, bundle.config);
  await writeJson(`${gen}/tokenizer.json`, bundle.tokenizer.toJSON());
  await writeJson(`${gen}/tasks.json`, { tasks: bundle.tasks });
  await writeJson(`${gen}/weights.json`, [{ paths: ["weights.bin"], weights: weights.specs }]);
  await writeSynced(`${gen}/weights.bin`, weights.data);
  const sha256: Record<string, string> = { "weights.bin": await sha256Hex(weights.data) };
  if (training !== undefined && arrays !== undefined) {
    await Deno.mkdir(`${gen}/training`);
    await writeJson(`${gen}/training/state.json`, training.json);
    await writeJson(`${gen}/training/arrays.json`, arrays.specs);
    await writeSynced(`${gen}/training/arrays.bin`, arrays.data);
    sha256["training/arrays.bin"] = await sha256Hex(arrays.data);
  }
  // The commit: one atomic rename of the new meta.json over the old one.
  const tmp = `${path}/${META}.tmp-${Deno.pid}`;
  await writeJson(tmp, {
    formatVersion: FORMAT_VERSION,
    library: LIBRARY,
    current: generation,
    sha256,
    parameters: model.countParameters(),
    dims: model.dims,
    ...(bundle.config.model.backbone === null ? {} : { backbone: backboneRecord(bundle.config) }),
    created: new Date().toISOString(),
  });
  await Deno.rename(tmp, `${path}/${META}`);
  // Older generations, uncommitted leftovers and a replaced format-1 layout go.
  for (const entry of entries) {
    const old = GENERATION.test(entry) || entry.startsWith(`${META}.tmp-`) ||
      (previous?.formatVersion === 1 && V1_ENTRIES.includes(entry));
    if (old) await Deno.remove(`${path}/${entry}`, { recursive: true }).catch(() => {});
  }
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

/**
 * Loads a model directory written by {@linkcode saveModel}.
 * @throws {CheckpointError} naming the file (and weight) when anything is missing,
 *   malformed, of another format version, corrupted or not finite
 */
export async function loadModel(dir: string): Promise<ModelBundle> {
  const path = normalizeDir(dir);
  const { base, meta } = await generationOf(path);
  let config: Config;
  try {
    config = validateConfig(await readJson(base, "config.json"), `${base}/config.json`);
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    throw new CheckpointError(`Cannot load model directory ${path}: ${(error as Error).message}`);
  }
  const tokenizer = WordTokenizer.fromJSON(
    await readJson(base, "tokenizer.json"),
    `${base}/tokenizer.json`,
  );
  const tasks = await readTasks(base);
  const model = new MultiTaskModel(config.model, modelDims(tokenizer, tasks), config.seed);
  try {
    const specs = validateManifest(await readJson(base, "weights.json"), `${base}/weights.json`);
    const values = await readWeights(base, "weights.bin", specs, meta);
    try {
      model.parameters.assign(named(specs, values), `${base}/weights.bin`, true);
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
export async function loadSavedTraining(dir: string): Promise<SavedTraining | undefined> {
  const { base, meta } = await generationOf(normalizeDir(dir));
  try {
    await Deno.stat(`${base}/training/state.json`);
  } catch {
    return undefined;
  }
  const json = await readJson(base, "training/state.json");
  if (typeof json !== "object" || json === null || Array.isArray(json)) {
    throw new CheckpointError(`Cannot load ${base}/training/state.json: expected an object`);
  }
  if (meta.formatVersion === 1) {
    const opt = await readJson(base, "training/optimizer.json") as {
      step?: unknown;
      weights?: unknown;
    };
    const specs = validateManifest([{ weights: opt?.weights }], `${base}/training/optimizer.json`);
    const values = await readWeights(base, "training/optimizer.bin", specs, meta);
    return { json: { ...json, step: opt.step }, arrays: named(specs, values) };
  }
  const specs = validateManifest(
    [{ weights: await readJson(base, "training/arrays.json") }],
    `${base}/training/arrays.json`,
  );
  const values = await readWeights(base, "training/arrays.bin", specs, meta);
  return { json: json as Record<string, unknown>, arrays: named(specs, values) };
}

function named(specs: readonly Spec[], values: Map<string, Float32Array>): NamedArrays {
  return Object.fromEntries(
    specs.map((s) => [s.name, { shape: [...s.shape], values: values.get(s.name)! }]),
  );
}

/**
 * Removes what killed saves left in a model directory: generations that are
 * not the committed one, temporary `meta.json` files.
 */
async function removeLeftovers(path: string): Promise<void> {
  const meta = await readJson(path, META).catch(() => undefined) as Meta | undefined;
  for await (const e of Deno.readDir(path)) {
    const stale = (GENERATION.test(e.name) && e.name !== meta?.current) ||
      e.name.startsWith(`${META}.tmp-`);
    if (stale) await Deno.remove(`${path}/${e.name}`, { recursive: true }).catch(() => {});
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
  const meta = parseSchema(
    MetaSchema,
    await readJson(path, META),
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
  dir: string,
  name: string,
  specs: readonly Spec[],
  meta: Meta,
): Promise<Map<string, Float32Array>> {
  const file = `${dir}/${name}`;
  let data: Uint8Array;
  try {
    data = await Deno.readFile(file);
  } catch (error) {
    throw new CheckpointError(
      `Cannot load model directory ${dir}: ${name} is unreadable (${(error as Error).message})`,
    );
  }
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
  if (meta.formatVersion >= 2) {
    const recorded = meta.sha256?.[name];
    if (recorded === undefined) {
      throw new CheckpointError(`Cannot load ${file}: meta.json records no sha256 for it`);
    }
    const actual = await sha256Hex(data);
    if (actual !== recorded) {
      throw new CheckpointError(
        `Cannot load ${file}: its sha256 ${actual} differs from the ${recorded} recorded when it was saved (the file is corrupted)`,
      );
    }
  }
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
async function readTasks(base: string): Promise<TrainedTask[]> {
  let tasks: TrainedTask[];
  let file = `${base}/tasks.json`;
  try {
    await Deno.stat(file);
    tasks = parseSchema(
      TasksFileSchema,
      await readJson(base, "tasks.json"),
      (field, detail) => new CheckpointError(`Cannot load ${file}: field "${field}": ${detail}`),
    ).tasks as TrainedTask[];
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    file = `${base}/labels.json`;
    const labels = await readJson(base, "labels.json") as {
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

async function writeJson(path: string, value: unknown): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(value, null, 1) + "\n");
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
