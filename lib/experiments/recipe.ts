/**
 * Reproducible experiments on real corpora: a recipe file names the tasks and
 * their corpora, the config and the seeds; {@linkcode runRecipe} trains one
 * multi-task model per seed on the training sets, selects the epoch with the
 * best mean dev score over the tasks, and reports each task's test score with
 * mean ± standard deviation over seeds. Adding a task is a recipe entry.
 *
 * ```json
 * {
 *   "preset": "reference", "model": {}, "tokenizer": {}, "train": { "epochs": 4 },
 *   "seeds": [1, 2, 3], "workers": 2,
 *   "tasks": {
 *     "ner": { "kind": "token", "format": "conll", "column": 3,
 *              "train": "…/train.txt", "dev": "…/dev.txt", "test": "…/test.txt" },
 *     "pos": { "kind": "token", "format": "conll", "column": 1, "train": "…", "dev": "…", "test": "…" },
 *     "sentiment": { "kind": "sentence", "format": "auto", "labelMap": { "0": "negative", "1": "positive" },
 *                    "train": "…", "dev": "…", "test": "…" }
 *   }
 * }
 * ```
 *
 * Recipes of earlier versions (`"tasks": ["ner", "sentiment"]` with a `data`
 * object) are read as the two tasks they named.
 * @module
 */
import { z } from "zod";
import {
  type Config,
  type ConfigOverrides,
  type PresetName,
  resolveConfig,
} from "../core/config.ts";
import { DataError } from "../core/errors.ts";
import { parseSchema } from "../core/schema.ts";
import type { TaskSpec } from "../core/tasks.ts";
import { isPairLabel, type Sentence } from "../data/sentences.ts";
import {
  checkTaskNames,
  loadTaskFiles,
  splitSentences,
  TaskFilesSchema,
  type TaskSetCorpora,
} from "../data/task_files.ts";
import type { ModelBundle } from "../model/checkpoint.ts";
import type { NamedArrays } from "../model/parameters.ts";
import { BackboneFeatureCache } from "../model/feature_cache.ts";
import { type CorpusScores, scoreCorpora, scoreCorporaParallel } from "../evaluation/score.ts";
import { InferencePool } from "../inference/inference_pool.ts";
import type { EpochRecord } from "../training/fit.ts";
import { configWordVectors, trainModel, type TrainModelOptions } from "../training/train_run.ts";

/** The recipe file format. */
export const RecipeSchema = z.object({
  description: z.string().optional(),
  preset: z.enum(["default", "tiny", "reference", "pretrained"]).optional(),
  model: z.record(z.string(), z.unknown()).optional(),
  tokenizer: z.record(z.string(), z.unknown()).optional(),
  train: z.record(z.string(), z.unknown()).optional(),
  seed: z.number().optional(),
  seeds: z.array(z.number().int().min(0)).min(1).default([1]),
  /** Data-parallel workers. */
  workers: z.number().int().min(1).default(1),
  /** Use at most this many training sentences per task (smoke tests). */
  limit: z.number().int().min(1).optional(),
  /** Use at most this many dev and test sentences per task (quick experiments). */
  evalLimit: z.number().int().min(1).optional(),
  /**
   * Also score the average of the last N epoch-end weights on dev (checkpoint
   * averaging); it is kept when its mean dev score beats every single epoch's.
   */
  averageEpochs: z.number().int().min(2).optional(),
  /** The tasks and their files; a recipe gives each a dev file, and a test file but for pairs. */
  tasks: TaskFilesSchema.superRefine((tasks, ctx) => {
    for (const [name, task] of Object.entries(tasks)) {
      const required = task.kind === "pair" ? ["dev"] as const : ["dev", "test"] as const;
      for (const split of required) {
        if (task[split] === undefined) {
          ctx.addIssue({
            code: "custom",
            path: [name, split],
            message: `a recipe's task needs a ${split} file`,
          });
        }
      }
    }
  }),
}).strict();

/** A recipe file, parsed. */
export type Recipe = z.infer<typeof RecipeSchema>;

/** Loaded corpora of a recipe, by task. */
export type RecipeCorpora = TaskSetCorpora;

/** One seed's outcome. */
export interface SeedResult {
  readonly seed: number;
  /** Epoch (1-based) whose weights were selected on dev (the last one averaged, for an average). */
  readonly bestEpoch: number;
  /** When the average of epoch-end weights was selected: the epochs averaged. */
  readonly averaged?: { readonly from: number; readonly to: number };
  /** With `averageEpochs`: the dev scores of the averaged weights, kept or not. */
  readonly averageDev?: CorpusScores;
  readonly dev: CorpusScores;
  readonly test: CorpusScores;
  readonly trainSeconds: number;
  readonly history: readonly EpochRecord[];
  /** Each task's dev score after every epoch, for learning curves. */
  readonly devHistory: readonly { epoch: number; scores: Readonly<Record<string, number>> }[];
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
  readonly tasks: readonly TaskSpec[];
  readonly seeds: readonly SeedResult[];
  readonly summary: {
    /**
     * Per task: its metric and the mean and standard deviation over seeds of its
     * test score (of the selected epoch's dev score for a task without a test file).
     */
    readonly tasks: Readonly<
      Record<string, { readonly metric: string; readonly split: "test" | "dev" } & MeanStd>
    >;
    readonly trainSeconds: MeanStd;
  };
}

/** Options of {@linkcode runRecipe}. */
export interface RunRecipeOptions {
  /** Called after every epoch of every seed, with the dev scores. */
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
  /**
   * The frozen backbone features to use and fill, shared with other runs whose
   * frozen stages are the same pretrained ones (see `TrainModelOptions.featureCache`).
   * @default one for this recipe's seeds
   */
  readonly featureCache?: BackboneFeatureCache;
  /**
   * Score the test sets on the recipe's workers when no feature cache serves
   * them (a backbone that trained below its pooler, or none). @default false
   */
  readonly parallelTest?: boolean;
}

/**
 * Validates a parsed recipe file (one of an earlier version is converted first).
 * @throws {DataError} naming the file and the field path
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateRecipe } from "./recipe.ts";
 * const r = validateRecipe({ tasks: { pos: { kind: "token", column: 1, train: "t", dev: "d", test: "e" } } }, "r.json");
 * assert.deepEqual(r.seeds, [1]);
 * assert.throws(() => validateRecipe({ tasks: { pos: { kind: "token", train: "t", dev: "d" } } }, "r.json"),
 *   /Cannot load r.json: field "tasks.pos.test": /);
 * assert.throws(() => validateRecipe({ ...r, train: { taskWeights: { PoS: 2 } } }, "r.json"),
 *   /Cannot load r.json: field "train.taskWeights.PoS": no such task here \(tasks: pos\)/);
 * ```
 */
export function validateRecipe(value: unknown, file: string): Recipe {
  const recipe = parseSchema(
    RecipeSchema,
    upgradeRecipe(value),
    (field, detail) => new DataError(detail, { file, field }),
  );
  checkTaskNames(recipe.train, recipe.tasks, file);
  return recipe;
}

/** A recipe of the two-task era (`tasks` a list, files under `data`) in today's form. */
function upgradeRecipe(value: unknown): unknown {
  if (typeof value !== "object" || value === null) return value;
  const r = value as Record<string, unknown>;
  if (!Array.isArray(r.tasks) && r.tasks !== undefined) return value;
  const { data, tasks, ...rest } = r as {
    data?: Record<string, Record<string, unknown>>;
    tasks?: unknown[];
  };
  const names = (tasks ?? ["ner", "sentiment"]) as string[];
  const converted: Record<string, unknown> = {};
  for (const name of names) {
    const entry = data?.[name] ?? {};
    if (name === "ner") {
      const { format: _f, tagColumn, ...files } = entry;
      converted.ner = {
        kind: "token",
        ...files,
        ...(tagColumn !== undefined ? { column: tagColumn } : {}),
        labels: undefined,
      };
    } else {
      const { format, ...files } = entry;
      converted[name] = { kind: "sentence", ...(format !== undefined ? { format } : {}), ...files };
    }
    for (const key of Object.keys(converted[name] as object)) {
      if ((converted[name] as Record<string, unknown>)[key] === undefined) {
        delete (converted[name] as Record<string, unknown>)[key];
      }
    }
  }
  return { ...rest, tasks: converted };
}

/**
 * Reads the corpora of a recipe's tasks ({@linkcode loadTaskFiles}: tasks over
 * the same file share one sentence list labelled for all of them).
 */
export function loadRecipeCorpora(recipe: Recipe): Promise<RecipeCorpora> {
  return loadTaskFiles(recipe.tasks, {
    ...(recipe.limit !== undefined ? { limit: recipe.limit } : {}),
    ...(recipe.evalLimit !== undefined ? { evalLimit: recipe.evalLimit } : {}),
  });
}

/** Scores test sets on this thread, or on `workers` workers. */
async function scoreTest(
  bundle: ModelBundle,
  test: Record<string, readonly Sentence[]>,
  workers: number,
): Promise<CorpusScores> {
  if (workers <= 1) return scoreCorpora(bundle, test);
  const pool = await InferencePool.create(bundle, workers);
  try {
    return await scoreCorporaParallel(pool, test);
  } finally {
    pool.close();
  }
}

/** Every sentence of the corpora, and the second sentences of pairs, once each. */
function wordLists(corpora: readonly (readonly Sentence[])[]): (readonly string[])[] {
  const out = new Set<readonly string[]>();
  for (const sentence of new Set(corpora.flat())) {
    out.add(sentence.words);
    for (const label of Object.values(sentence.labels)) {
      if (isPairLabel(label)) out.add(label.other);
    }
  }
  return [...out];
}

/** The model and training config a recipe gives for one seed (its preset plus its overrides). */
export function recipeConfig(recipe: Recipe, seed: number): Config {
  const overrides = {
    ...(recipe.model !== undefined ? { model: recipe.model } : {}),
    ...(recipe.tokenizer !== undefined ? { tokenizer: recipe.tokenizer } : {}),
    ...(recipe.train !== undefined ? { train: recipe.train } : {}),
    seed,
  } as ConfigOverrides;
  return resolveConfig(overrides, (recipe.preset ?? "default") as PresetName);
}

/**
 * Runs a recipe: per seed, train one model on every task's training set, select
 * the best epoch on the mean dev score, score every task's test set.
 */
export async function runRecipe(
  recipe: Recipe,
  corpora: RecipeCorpora,
  options: RunRecipeOptions = {},
): Promise<RecipeResult> {
  const results: SeedResult[] = [];
  const tasks = Object.values(corpora).map((c) => c.spec);
  const wordVectors = options.initFrom !== undefined
    ? undefined
    : await configWordVectors(recipeConfig(recipe, recipe.seeds[0] ?? 1), options);
  // Each distinct sentence list once (tasks over the same file share theirs).
  const train = splitSentences(corpora, "train");
  const dev = Object.fromEntries(Object.entries(corpora).map(([name, c]) => [name, c.dev]));
  const test = Object.fromEntries(
    Object.entries(corpora).filter(([, c]) => c.test.length > 0).map(([name, c]) => [name, c.test]),
  );
  // A frozen pretrained backbone gives every seed the same features: computed once.
  const featureCache = recipeConfig(recipe, recipe.seeds[0] ?? 1).model.backbone === null
    ? undefined
    : options.featureCache ?? new BackboneFeatureCache(0);
  for (const seed of recipe.seeds) {
    const config = recipeConfig(recipe, seed);
    let best:
      | {
        score: number;
        epoch: number;
        dev: CorpusScores;
        weights: NamedArrays;
        averaged?: { from: number; to: number };
      }
      | undefined;
    const averaging = new WeightAverage(config.train.epochs - (recipe.averageEpochs ?? 0));
    const started = performance.now();
    const devHistory: { epoch: number; scores: Record<string, number> }[] = [];
    const { bundle, history, trainer } = await trainModel({ train, validation: [] }, config, {
      tasks,
      workers: recipe.workers,
      ...(options.onWarning !== undefined ? { onWarning: options.onWarning } : {}),
      ...(featureCache !== undefined && options.initFrom === undefined
        ? { featureCache, precache: wordLists([...Object.values(dev), ...Object.values(test)]) }
        : {}),
      ...(wordVectors !== undefined ? { wordVectors } : {}),
      ...(options.initFrom !== undefined ? { initFrom: options.initFrom } : {}),
      ...(options.onStep !== undefined ? { onStep: options.onStep } : {}),
      onEpochEnd: (record, current) => {
        const scores = scoreCorpora(current, dev);
        devHistory.push({
          epoch: record.epoch,
          scores: Object.fromEntries(Object.entries(scores).map(([t, s]) => [t, s.score])),
        });
        options.onEpoch?.(seed, record, scores);
        const score = selectionScore(scores);
        const better = best === undefined || score > best.score;
        const averaged = averaging.takes(record.epoch); // none without averageEpochs (after = epochs)
        if (!better && !averaged) return;
        const weights = current.model.parameters.read();
        if (averaged) averaging.add(record.epoch, weights);
        if (better) best = { score, epoch: record.epoch, dev: scores, weights };
      },
    });
    const averaged = averaging.mean();
    let averageDev: CorpusScores | undefined;
    if (averaged !== undefined && best !== undefined) {
      bundle.model.parameters.assign(averaged.weights, "the averaged epochs");
      const scores = scoreCorpora(bundle, dev);
      averageDev = scores;
      const score = selectionScore(scores);
      if (score > best.score) {
        best = {
          score,
          epoch: averaged.to,
          dev: scores,
          weights: averaged.weights,
          averaged: { from: averaged.from, to: averaged.to },
        };
      }
    }
    const trainSeconds = (performance.now() - started) / 1000;
    if (best !== undefined) bundle.model.parameters.assign(best.weights, "the best epoch");
    // The cache's stages stayed frozen all run: it serves the selected weights too.
    const cached = featureCache !== undefined && options.initFrom === undefined &&
      featureCache.stage > 0;
    const testScores = cached
      ? scoreCorpora({ ...bundle, featureCache }, test)
      : await scoreTest(bundle, test, options.parallelTest === true ? recipe.workers ?? 1 : 1);
    await options.onModel?.(seed, bundle);
    results.push({
      seed,
      bestEpoch: best?.epoch ?? 0,
      ...(best?.averaged !== undefined ? { averaged: best.averaged } : {}),
      ...(averageDev !== undefined ? { averageDev } : {}),
      dev: best?.dev ?? {},
      test: testScores,
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
  return {
    tasks,
    seeds: results,
    summary: {
      tasks: Object.fromEntries(tasks.map((t) => {
        const split = test[t.name] === undefined ? "dev" : "test";
        return [t.name, {
          metric: t.metric,
          split,
          ...meanStd(results.map((r) => r[split][t.name]?.score ?? NaN)),
        }];
      })),
      trainSeconds: meanStd(results.map((r) => r.trainSeconds)),
    },
  };
}

/**
 * The dev score epochs are selected on: the mean of the tasks' scores.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { selectionScore } from "./recipe.ts";
 * assert.equal(selectionScore({ ner: { metric: "entity-f1", score: 0.8 }, sentiment: { metric: "accuracy", score: 0.6 } }), 0.7);
 * ```
 */
export function selectionScore(scores: CorpusScores): number {
  const values = Object.values(scores).map((s) => s.score);
  return values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
}

/**
 * The running mean of the epoch-end weights of the epochs after `after`
 * (checkpoint averaging), summed in float64.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WeightAverage } from "./recipe.ts";
 * const avg = new WeightAverage(1);
 * for (const [epoch, w] of [[1, 9], [2, 1], [3, 2]] as const) {
 *   avg.add(epoch, { w: { shape: [2], values: Float32Array.of(w, -w) } });
 * }
 * const mean = avg.mean()!;
 * assert.deepEqual([mean.from, mean.to], [2, 3]);
 * assert.deepEqual([...mean.weights.w!.values], [1.5, -1.5]);
 * ```
 */
export class WeightAverage {
  readonly #after: number;
  #sums = new Map<string, { shape: readonly number[]; values: Float64Array }>();
  #from = 0;
  #to = 0;
  #count = 0;

  constructor(after: number) {
    this.#after = after;
  }

  /** Whether an epoch is one to average (past `after`). */
  takes(epoch: number): boolean {
    return epoch > this.#after;
  }

  /** Adds an epoch's weights when the epoch is past `after`. */
  add(epoch: number, weights: NamedArrays): void {
    if (!this.takes(epoch)) return;
    for (const [name, { shape, values }] of Object.entries(weights)) {
      let sum = this.#sums.get(name);
      if (sum === undefined) {
        sum = { shape, values: new Float64Array(values.length) };
        this.#sums.set(name, sum);
      }
      for (let i = 0; i < values.length; i++) sum.values[i]! += values[i]!;
    }
    if (this.#count === 0) this.#from = epoch;
    this.#to = epoch;
    this.#count++;
  }

  /** The mean weights, or undefined with fewer than two epochs added. */
  mean(): { from: number; to: number; weights: NamedArrays } | undefined {
    if (this.#count < 2) return undefined;
    const weights: Record<string, { shape: readonly number[]; values: Float32Array }> = {};
    for (const [name, { shape, values }] of this.#sums) {
      weights[name] = { shape, values: Float32Array.from(values, (v) => v / this.#count) };
    }
    return { from: this.#from, to: this.#to, weights };
  }
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
