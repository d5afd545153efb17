/**
 * Reproducible experiments on real corpora: a recipe file names the corpora,
 * the config and the seeds; {@linkcode runRecipe} trains one model per seed on
 * the training sets, selects the epoch with the best dev score, and reports
 * test scores with mean ± standard deviation over seeds.
 *
 * ```json
 * {
 *   "preset": "reference", "model": {}, "train": { "epochs": 10 },
 *   "tasks": ["ner", "sentiment"], "seeds": [1, 2, 3], "workers": 2,
 *   "data": {
 *     "ner": { "format": "conll", "train": "…/train.txt", "dev": "…/dev.txt", "test": "…/test.txt" },
 *     "sentiment": { "format": "label-space", "labelMap": { "0": "negative", "1": "positive" },
 *                    "train": "…", "dev": "…", "test": "…" }
 *   }
 * }
 * ```
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ModelBundle } from "./checkpoint.ts";
import { type Config, type ConfigOverrides, type PresetName, resolveConfig } from "./config.ts";
import type { Sentence } from "./data.ts";
import { DataError } from "./errors.ts";
import type { EpochRecord } from "./fit.ts";
import { DEFAULT_NER_TAGS } from "./labels.ts";
import type { ClassificationScores, EntityScores } from "./metrics.ts";
import { parseConll, parseLabelledSentences, readText } from "./readers.ts";
import { type CorpusScores, scoreCorpora } from "./score.ts";
import { configWordVectors, trainModel, type TrainModelOptions } from "./train_run.ts";

/** The tasks a recipe can train. */
export type Task = "ner" | "sentiment";

/** Files of one task's corpus. */
export interface CorpusFiles {
  readonly train: string;
  readonly dev: string;
  readonly test: string;
}

/** A recipe file, parsed. */
export interface Recipe extends ConfigOverrides {
  readonly description?: string;
  readonly preset?: PresetName;
  readonly tasks: readonly Task[];
  readonly seeds: readonly number[];
  /** Data-parallel workers. @default 1 */
  readonly workers?: number;
  /** Use at most this many training sentences per corpus (smoke tests). */
  readonly limit?: number;
  /** Use at most this many dev and test sentences per corpus (quick experiments). */
  readonly evalLimit?: number;
  readonly data: {
    readonly ner?: CorpusFiles & { readonly format?: "conll"; readonly tagColumn?: number };
    readonly sentiment?: CorpusFiles & {
      readonly format?: "auto" | "tsv" | "label-space" | "jsonl";
      readonly labelMap?: Readonly<Record<string, string>>;
    };
  };
}

/** Loaded corpora of a recipe. */
export interface RecipeCorpora {
  readonly ner?: { train: Sentence[]; dev: Sentence[]; test: Sentence[] };
  readonly sentiment?: { train: Sentence[]; dev: Sentence[]; test: Sentence[]; labels: string[] };
}

/** One seed's outcome. */
export interface SeedResult {
  readonly seed: number;
  /** Epoch (1-based) whose weights were selected on dev. */
  readonly bestEpoch: number;
  readonly dev: CorpusScores;
  readonly test: CorpusScores;
  readonly trainSeconds: number;
  readonly history: readonly EpochRecord[];
  /** Dev scores after every epoch (NER F1, sentiment accuracy), for learning curves. */
  readonly devHistory: readonly { epoch: number; nerF1?: number; sentimentAccuracy?: number }[];
  /** Parameters that trained in the last epoch, and in all. */
  readonly trainableParameters: number;
  readonly parameters: number;
}

/** Mean and sample standard deviation. */
export interface MeanStd {
  readonly mean: number;
  readonly std: number;
}

/** The outcome of a recipe. */
export interface RecipeResult {
  readonly tasks: readonly Task[];
  readonly seeds: readonly SeedResult[];
  readonly summary: {
    readonly nerTestF1?: MeanStd;
    readonly sentimentTestAccuracy?: MeanStd;
    readonly trainSeconds: MeanStd;
  };
}

/** Options of {@linkcode runRecipe}. */
export interface RunRecipeOptions {
  /** Called after every epoch of every seed. */
  readonly onEpoch?: (seed: number, record: EpochRecord, dev: CorpusScores) => void;
  /** Forwarded to training: per-step progress. */
  readonly onStep?: TrainModelOptions["onStep"];
  /** Called with each seed's best model before it is disposed (e.g. to save it). */
  readonly onModel?: (seed: number, bundle: ModelBundle) => Promise<void> | void;
  /** Start every seed from all weights of this model (see `TrainModelOptions.initFrom`). */
  readonly initFrom?: ModelBundle;
  /** Folder of the word-vector caches. @default ".cache/word-vectors" */
  readonly vectorCacheDir?: string;
  /** Receives warnings and notices (e.g. a word-vector cache being built). */
  readonly onWarning?: (message: string) => void;
}

/**
 * Validates a parsed recipe file.
 * @throws {DataError} naming the field
 */
export function validateRecipe(value: unknown, file: string): Recipe {
  const fail = (field: string, detail: string): never => {
    throw new DataError(detail, { file, field });
  };
  if (typeof value !== "object" || value === null) return fail("(root)", "expected an object");
  const r = value as Record<string, unknown>;
  const tasks = r.tasks ?? ["ner", "sentiment"];
  if (
    !Array.isArray(tasks) || tasks.length === 0 ||
    !tasks.every((t) => t === "ner" || t === "sentiment")
  ) {
    fail("tasks", 'expected a non-empty list of "ner" and "sentiment"');
  }
  const seeds = r.seeds ?? [1];
  if (!Array.isArray(seeds) || seeds.length === 0 || !seeds.every(Number.isInteger)) {
    fail("seeds", "expected a non-empty list of integers");
  }
  const data = r.data as Record<string, Record<string, unknown>> | undefined;
  for (const task of tasks as Task[]) {
    const files = data?.[task];
    for (const split of ["train", "dev", "test"]) {
      if (typeof files?.[split] !== "string") fail(`data.${task}.${split}`, "expected a file path");
    }
  }
  return { ...r, tasks, seeds } as unknown as Recipe;
}

/** Reads the corpora a recipe's tasks need. */
export async function loadRecipeCorpora(recipe: Recipe): Promise<RecipeCorpora> {
  const out: { -readonly [K in keyof RecipeCorpora]: RecipeCorpora[K] } = {};
  const limit = (s: Sentence[]) => recipe.limit === undefined ? s : s.slice(0, recipe.limit);
  const evalLimit = (s: Sentence[]) =>
    recipe.evalLimit === undefined ? s : s.slice(0, recipe.evalLimit);
  if (recipe.tasks.includes("ner")) {
    const files = recipe.data.ner!;
    const read = async (path: string) =>
      parseConll(await readText(path), path, {
        ...(files.tagColumn !== undefined ? { tagColumn: files.tagColumn } : {}),
        tags: DEFAULT_NER_TAGS,
      });
    out.ner = {
      train: limit(await read(files.train)),
      dev: evalLimit(await read(files.dev)),
      test: evalLimit(await read(files.test)),
    };
  }
  if (recipe.tasks.includes("sentiment")) {
    const files = recipe.data.sentiment!;
    const read = async (path: string) =>
      parseLabelledSentences(await readText(path), path, {
        format: files.format ?? "auto",
        ...(files.labelMap !== undefined ? { labelMap: files.labelMap } : {}),
      });
    const train = limit(await read(files.train));
    const labels = files.labelMap !== undefined
      ? [...new Set(Object.values(files.labelMap))]
      : [...new Set(train.map((s) => s.sentiment!))].sort();
    out.sentiment = {
      train,
      dev: evalLimit(await read(files.dev)),
      test: evalLimit(await read(files.test)),
      labels,
    };
  }
  return out;
}

/** The model and training config a recipe gives for one seed (its preset plus its overrides). */
export function recipeConfig(recipe: Recipe, seed: number): Config {
  const {
    description: _d,
    preset,
    tasks: _t,
    seeds: _s,
    workers: _w,
    limit: _l,
    evalLimit: _e,
    data: _data,
    ...overrides
  } = recipe;
  return resolveConfig({ ...overrides, seed }, preset ?? "default");
}

/**
 * Runs a recipe: per seed, train, select the best epoch on dev, score test.
 */
export async function runRecipe(
  recipe: Recipe,
  corpora: RecipeCorpora,
  options: RunRecipeOptions = {},
): Promise<RecipeResult> {
  const results: SeedResult[] = [];
  const { tasks, seeds, workers } = recipe;
  const labels = {
    nerTags: DEFAULT_NER_TAGS,
    sentimentLabels: corpora.sentiment?.labels ?? ["negative", "positive"],
  };
  const wordVectors = options.initFrom !== undefined
    ? undefined
    : await configWordVectors(recipeConfig(recipe, seeds[0] ?? 1), options);
  for (const seed of seeds) {
    const config = recipeConfig(recipe, seed);
    const dev = { ner: corpora.ner?.dev, sentiment: corpora.sentiment?.dev };
    const devCorpora = Object.fromEntries(Object.entries(dev).filter(([, v]) => v !== undefined));
    let best: {
      score: number;
      epoch: number;
      dev: CorpusScores;
      weights: Map<string, Float32Array>;
    } | undefined;
    const started = performance.now();
    const devHistory: { epoch: number; nerF1?: number; sentimentAccuracy?: number }[] = [];
    const { bundle, history, trainer } = await trainModel(
      {
        train: [...(corpora.ner?.train ?? []), ...(corpora.sentiment?.train ?? [])],
        validation: [],
      },
      config,
      {
        labels,
        workers: workers ?? 1,
        ...(wordVectors !== undefined ? { wordVectors } : {}),
        ...(options.initFrom !== undefined ? { initFrom: options.initFrom } : {}),
        ...(options.onStep !== undefined ? { onStep: options.onStep } : {}),
        onEpochEnd: (record, current) => {
          const scores = scoreCorpora(current, devCorpora);
          devHistory.push({
            epoch: record.epoch,
            ...(scores.ner !== undefined ? { nerF1: scores.ner.f1 } : {}),
            ...(scores.sentiment !== undefined
              ? { sentimentAccuracy: scores.sentiment.accuracy }
              : {}),
          });
          options.onEpoch?.(seed, record, scores);
          const score = selectionScore(scores, tasks);
          if (best === undefined || score > best.score) {
            best = { score, epoch: record.epoch, dev: scores, weights: snapshotWeights(current) };
          }
        },
      },
    );
    const trainSeconds = (performance.now() - started) / 1000;
    if (best !== undefined) restoreWeights(bundle, best.weights);
    const test = scoreCorpora(bundle, {
      ...(corpora.ner !== undefined ? { ner: corpora.ner.test } : {}),
      ...(corpora.sentiment !== undefined ? { sentiment: corpora.sentiment.test } : {}),
    });
    await options.onModel?.(seed, bundle);
    results.push({
      seed,
      bestEpoch: best?.epoch ?? 0,
      dev: best?.dev ?? {},
      test,
      trainSeconds,
      history,
      devHistory,
      trainableParameters: trainer.trainableNames.reduce(
        (n, name) => n + bundle.model.parameters.get(name).size,
        0,
      ),
      parameters: bundle.model.countParameters(),
    });
    trainer.dispose();
    bundle.model.dispose();
  }
  const f1 = results.map((r) => r.test.ner?.f1).filter((x): x is number => x !== undefined);
  const acc = results.map((r) => r.test.sentiment?.accuracy).filter((x): x is number =>
    x !== undefined
  );
  return {
    tasks,
    seeds: results,
    summary: {
      ...(f1.length > 0 ? { nerTestF1: meanStd(f1) } : {}),
      ...(acc.length > 0 ? { sentimentTestAccuracy: meanStd(acc) } : {}),
      trainSeconds: meanStd(results.map((r) => r.trainSeconds)),
    },
  };
}

/**
 * The dev score epochs are selected on: the mean of NER F1 and sentiment
 * accuracy over the recipe's tasks.
 */
export function selectionScore(scores: CorpusScores, tasks: readonly Task[]): number {
  const parts: number[] = [];
  if (tasks.includes("ner")) parts.push((scores.ner as EntityScores | undefined)?.f1 ?? 0);
  if (tasks.includes("sentiment")) {
    parts.push((scores.sentiment as ClassificationScores | undefined)?.accuracy ?? 0);
  }
  return parts.reduce((a, b) => a + b, 0) / Math.max(1, parts.length);
}

/**
 * Mean and sample standard deviation (0 for one value).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { meanStd } from "./recipe.ts";
 * assert.deepEqual(meanStd([1, 2, 3]), { mean: 2, std: 1 });
 * assert.deepEqual(meanStd([5]), { mean: 5, std: 0 });
 * ```
 */
export function meanStd(values: readonly number[]): MeanStd {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.length < 2
    ? 0
    : values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1);
  return { mean, std: Math.sqrt(variance) };
}

function snapshotWeights(bundle: ModelBundle): Map<string, Float32Array> {
  return new Map(
    bundle.model.parameters.entries().map(([name, v]) => [name, v.dataSync() as Float32Array]),
  );
}

function restoreWeights(bundle: ModelBundle, weights: Map<string, Float32Array>): void {
  for (const [name, values] of weights) {
    const v = bundle.model.parameters.get(name);
    tf.tidy(() => v.assign(tf.tensor(values, v.shape)));
  }
}

/**
 * `mean ± std` as percentages with two decimals ("–" for no values).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatPercent } from "./recipe.ts";
 * assert.equal(formatPercent([0.8, 0.9]), "85.00 ± 7.07");
 * assert.equal(formatPercent([]), "–");
 * ```
 */
export function formatPercent(values: readonly number[]): string {
  if (values.length === 0) return "–";
  const { mean, std } = meanStd(values);
  return `${(100 * mean).toFixed(2)} ± ${(100 * std).toFixed(2)}`;
}

/**
 * One sentence comparing settings by their per-seed scores: the best and worst
 * mean, and whether the gap between them exceeds the typical seed standard
 * deviation (once, twice, or not at all).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareSettings } from "./recipe.ts";
 * const text = compareSettings("F1", [{ name: "a", values: [0.5, 0.52] }, { name: "b", values: [0.6, 0.62] }]);
 * assert.equal(text, "**F1:** best b (61.00), worst a (51.00); the gap of 10.00 points is more than twice the typical seed standard deviation (1.41).");
 * ```
 */
export function compareSettings(
  what: string,
  rows: readonly { readonly name: string; readonly values: readonly number[] }[],
): string {
  const means = rows.map((r) => ({ name: r.name, ...meanStd(r.values) }));
  const best = means.reduce((a, b) => (b.mean > a.mean ? b : a));
  const worst = means.reduce((a, b) => (b.mean < a.mean ? b : a));
  const noise = means.reduce((n, m) => n + m.std, 0) / means.length;
  const gap = best.mean - worst.mean;
  const size = gap > 2 * noise
    ? "more than twice"
    : gap > noise
    ? "between one and two times"
    : "within";
  return `**${what}:** best ${best.name} (${(100 * best.mean).toFixed(2)}), worst ${worst.name} (${
    (100 * worst.mean).toFixed(2)
  }); the gap of ${(100 * gap).toFixed(2)} points is ${size} the typical seed standard deviation (${
    (100 * noise).toFixed(2)
  }).`;
}
