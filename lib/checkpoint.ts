/**
 * Model directories: everything needed to rebuild a model bit for bit, and,
 * for training checkpoints, to resume a run.
 *
 * ```
 * model/
 *   meta.json        format version, parameter count, dims, creation time
 *   config.json      the resolved config
 *   tokenizer.json   vocabulary and lower-casing
 *   labels.json      NER tags and sentiment labels, in id order
 *   weights.json     tfjs weights manifest: [{ paths: ["weights.bin"], weights: [{ name, shape, dtype }] }]
 *   weights.bin      little-endian float32 values, concatenated in manifest order
 *   training/        (checkpoints only) state.json, optimizer.json, optimizer.bin
 * ```
 *
 * A directory is written in full under a temporary name and renamed into place,
 * so a crash never leaves a half-written model at the target path.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { type Config, validateConfig } from "./config.ts";
import type { LabelMaps } from "./encoding.ts";
import { CheckpointError } from "./errors.ts";
import type { EpochRecord } from "./fit.ts";
import { modelDims, MultiTaskModel } from "./model.ts";
import type { AdamState } from "./optimizer.ts";
import { WordTokenizer } from "./tokenizer.ts";

/** Version of the directory layout; loading any other version is refused. */
export const FORMAT_VERSION = 1;

/** A model with everything it needs for inference. */
export interface ModelBundle {
  readonly config: Config;
  readonly tokenizer: WordTokenizer;
  readonly labels: LabelMaps;
  readonly model: MultiTaskModel;
}

/** Training state saved with epoch-end checkpoints. */
export interface TrainingState {
  /** Last completed epoch (1-based). */
  readonly epoch: number;
  readonly history: readonly EpochRecord[];
  /** Indices of the training and validation sentences, so a resumed run uses the same split. */
  readonly split?: { readonly train: readonly number[]; readonly validation: readonly number[] };
  /** Path of the training data. */
  readonly dataPath?: string;
  /** Learned loss weights (uncertainty weighting). */
  readonly lossState?: Readonly<Record<string, number>>;
  readonly optimizer: AdamState;
}

/**
 * Writes `bundle` (and optional training state) to `dir` atomically.
 */
export async function saveModel(
  dir: string,
  bundle: ModelBundle,
  training?: TrainingState,
): Promise<void> {
  const tmp = `${dir}.tmp-${Deno.pid}-${Date.now()}`;
  await Deno.mkdir(tmp, { recursive: true });
  try {
    const { model } = bundle;
    const named = Object.fromEntries(model.parameters.entries()) as tf.NamedTensorMap;
    const weights = await tf.io.encodeWeights(named);
    await writeJson(`${tmp}/meta.json`, {
      formatVersion: FORMAT_VERSION,
      library: "multitask-transformer",
      parameters: model.countParameters(),
      dims: model.dims,
      created: new Date().toISOString(),
    });
    await writeJson(`${tmp}/config.json`, bundle.config);
    await writeJson(`${tmp}/tokenizer.json`, bundle.tokenizer.toJSON());
    await writeJson(`${tmp}/labels.json`, bundle.labels);
    await writeJson(`${tmp}/weights.json`, [{ paths: ["weights.bin"], weights: weights.specs }]);
    await Deno.writeFile(`${tmp}/weights.bin`, new Uint8Array(weights.data));
    if (training !== undefined) {
      await Deno.mkdir(`${tmp}/training`);
      const slots: tf.NamedTensorMap = {};
      for (const [name, { m, v }] of training.optimizer.moments) {
        slots[`${name}/m`] = m;
        slots[`${name}/v`] = v;
      }
      const encoded = await tf.io.encodeWeights(slots);
      await writeJson(`${tmp}/training/optimizer.json`, {
        step: training.optimizer.step,
        weights: encoded.specs,
      });
      await Deno.writeFile(`${tmp}/training/optimizer.bin`, new Uint8Array(encoded.data));
      await writeJson(`${tmp}/training/state.json`, {
        epoch: training.epoch,
        history: training.history,
        split: training.split,
        dataPath: training.dataPath,
        lossState: training.lossState,
      });
    }
    await replaceDir(tmp, dir);
  } catch (error) {
    await Deno.remove(tmp, { recursive: true }).catch(() => {});
    throw error;
  }
}

/**
 * Loads a model directory written by {@linkcode saveModel}.
 * @throws {CheckpointError} when a file is missing, malformed or of another format version
 */
export async function loadModel(dir: string): Promise<ModelBundle> {
  const meta = await readJson(dir, "meta.json") as { formatVersion?: unknown; dims?: unknown };
  if (meta.formatVersion !== FORMAT_VERSION) {
    throw new CheckpointError(
      `Cannot load model directory ${dir}: format version ${
        JSON.stringify(meta.formatVersion)
      } is not supported (expected ${FORMAT_VERSION})`,
    );
  }
  let config: Config;
  try {
    config = validateConfig(await readJson(dir, "config.json"), `${dir}/config.json`);
  } catch (error) {
    throw new CheckpointError(`Cannot load model directory ${dir}: ${(error as Error).message}`);
  }
  const tokenizer = WordTokenizer.fromJSON(
    await readJson(dir, "tokenizer.json"),
    `${dir}/tokenizer.json`,
  );
  const labels = await readJson(dir, "labels.json") as LabelMaps;
  if (!Array.isArray(labels.nerTags) || !Array.isArray(labels.sentimentLabels)) {
    throw new CheckpointError(
      `Cannot load ${dir}/labels.json: expected nerTags and sentimentLabels`,
    );
  }
  const transitions = labels.tagTransitions;
  if (transitions !== undefined) {
    const n = labels.nerTags.length;
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
        `Cannot load ${dir}/labels.json: field tagTransitions must hold ${n}×${n} scores, ${n} start scores, optionally ${n} prior scores and a priorWeight in [0, 4]`,
      );
    }
  }
  const model = new MultiTaskModel(config.model, modelDims(tokenizer, labels), config.seed);
  try {
    const manifest = await readJson(dir, "weights.json") as tf.io.WeightsManifestConfig;
    const specs = manifest.flatMap((group) => group.weights);
    const data = await readBinary(dir, "weights.bin");
    const tensors = tf.io.decodeWeights(data, specs);
    assignAll(model, tensors, `${dir}/weights.bin`);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return { config, tokenizer, labels, model };
}

/**
 * Loads the training state of a checkpoint, or `undefined` if it has none.
 * The caller owns the optimizer tensors.
 */
export async function loadTrainingState(dir: string): Promise<TrainingState | undefined> {
  try {
    await Deno.stat(`${dir}/training/state.json`);
  } catch {
    return undefined;
  }
  const state = await readJson(dir, "training/state.json") as Omit<TrainingState, "optimizer">;
  const opt = await readJson(dir, "training/optimizer.json") as {
    step: number;
    weights: tf.io.WeightsManifestEntry[];
  };
  const tensors = tf.io.decodeWeights(await readBinary(dir, "training/optimizer.bin"), opt.weights);
  const moments = new Map<string, { m: tf.Tensor; v: tf.Tensor }>();
  for (const key of Object.keys(tensors)) {
    if (!key.endsWith("/m")) continue;
    const name = key.slice(0, -2);
    moments.set(name, { m: tensors[key]!, v: tensors[`${name}/v`]! });
  }
  return { ...state, optimizer: { step: opt.step, moments } };
}

function assignAll(model: MultiTaskModel, tensors: tf.NamedTensorMap, source: string): void {
  const names = model.parameters.names();
  for (const name of names) {
    const t = tensors[name];
    const v = model.parameters.get(name);
    if (t === undefined) {
      throw new CheckpointError(`Cannot load ${source}: weight ${name} is missing`);
    }
    if (!tf.util.arraysEqual(t.shape, v.shape)) {
      throw new CheckpointError(
        `Cannot load ${source}: weight ${name} has shape [${t.shape}], expected [${v.shape}]`,
      );
    }
    v.assign(t);
  }
  const extra = Object.keys(tensors).filter((k) => !names.includes(k));
  tf.dispose(Object.values(tensors));
  if (extra.length > 0) {
    throw new CheckpointError(`Cannot load ${source}: unexpected weights ${extra.join(", ")}`);
  }
}

async function replaceDir(tmp: string, dir: string): Promise<void> {
  let old: string | undefined;
  try {
    await Deno.stat(dir);
    old = `${dir}.old-${Deno.pid}-${Date.now()}`;
    await Deno.rename(dir, old);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  await Deno.rename(tmp, dir);
  if (old !== undefined) await Deno.remove(old, { recursive: true });
}

async function writeJson(path: string, value: unknown): Promise<void> {
  await Deno.writeTextFile(path, JSON.stringify(value, null, 1) + "\n");
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

async function readBinary(dir: string, file: string): Promise<ArrayBuffer> {
  try {
    const bytes = await Deno.readFile(`${dir}/${file}`);
    return bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  } catch (error) {
    throw new CheckpointError(
      `Cannot load model directory ${dir}: ${file} is unreadable (${(error as Error).message})`,
    );
  }
}
