/**
 * Studies: the notebooks' experiments as data. A study is a base recipe, a
 * list of scenarios (overrides of that recipe) and a grid of training-set
 * sizes and seeds to run them on; {@linkcode runStudy} runs the grid, one
 * {@linkcode StudyRun} record per scenario, size and seed. `deno task study`
 * writes the records to `notebooks/results/`, where the notebooks read them,
 * and re-runs a slice to check that it reproduces them.
 *
 * - `freezing` (notebook 02): what each freezing choice on the pretrained
 *   backbone costs and buys, against training from scratch, by training-set size.
 * - `layerwise` (notebook 03): layer-wise rate decay on the fine-tuned backbone,
 *   with its controls (the same mean rate without decay, decay on the embeddings
 *   only) and the schedules (warm-up alone, decay to zero alone, cosine).
 * - `forgetting` (notebook 02): a frozen or training NER head while the shared
 *   layers keep training on sentiment, with and without NER data mixed in, and
 *   with the shared layers frozen ({@linkcode runForgetting}).
 * @module
 */
import type { ModelBundle } from "../model/checkpoint.ts";
import { BackboneFeatureCache } from "../model/feature_cache.ts";
import { scoreCorpora } from "../evaluation/score.ts";
import type { Sentence } from "../data/sentences.ts";
import { meanRateMultiplier } from "../training/param_groups.ts";
import { trainModel } from "../training/train_run.ts";
import {
  type Recipe,
  recipeConfig,
  type RecipeCorpora,
  runRecipe,
  validateRecipe,
} from "./recipe.ts";

/** One scenario of a study: overrides of its base recipe's model and training options. */
export interface StudyScenario {
  readonly name: string;
  readonly model?: Readonly<Record<string, unknown>>;
  readonly train?: Readonly<Record<string, unknown>>;
  /**
   * Scenarios with the same key share one feature cache (their frozen
   * backbone stages are the same pretrained ones all run long).
   */
  readonly cache?: string;
  /**
   * A control of layer-wise decay: no decay, at the base rate times the mean
   * multiplier this decay gives the backbone's parameters (weighted by size).
   */
  readonly meanRateOf?: number;
}

/** Which scenarios run at which training-set sizes, with which seeds. */
export interface StudyCell {
  readonly scenarios: readonly string[];
  readonly sizes: readonly number[];
  readonly seeds: readonly number[];
}

/** A study: its base recipe, its scenarios and its grid. */
export interface Study {
  readonly name: string;
  readonly description: string;
  /** The base recipe (tasks, model, tokenizer, training); `seeds` and `limit` come from the grid. */
  readonly recipe: Recipe;
  readonly scenarios: readonly StudyScenario[];
  readonly grid: readonly StudyCell[];
  /** Training epochs by training-set size (every scenario trains as many at a size). */
  readonly epochs: Readonly<Record<string, number>>;
  /** Dev sentences per task that select the best epoch (the test sets are used whole). */
  readonly devLimit: number;
  /** Linear warm-up over this fraction of a run's steps (for the schedules that warm up). */
  readonly warmupFraction: number;
}

/** The record of one trained model. */
export interface StudyRun {
  readonly scenario: string;
  /** Training sentences per task. */
  readonly size: number;
  readonly seed: number;
  readonly epochs: number;
  /** Base learning rate used (after a `meanRateOf` control's scaling). */
  readonly learningRate: number;
  /** Test score per task (entity F1, accuracy), at the epoch with the best mean dev score. */
  readonly test: Readonly<Record<string, number>>;
  /** Dev score per task at that epoch. */
  readonly dev: Readonly<Record<string, number>>;
  readonly bestEpoch: number;
  /** Dev scores after every epoch. */
  readonly devHistory: readonly { epoch: number; scores: Readonly<Record<string, number>> }[];
  readonly trainableParameters: number;
  readonly parameters: number;
  /** Seconds of training (machine-dependent; not compared by checks). */
  readonly trainSeconds: number;
}

/** The key of a run within its study. */
export function runKey(run: Pick<StudyRun, "scenario" | "size" | "seed">): string {
  return `${run.scenario}@${run.size}#${run.seed}`;
}

const CONLL = "data/corpora/conll2003";
const SST2 = "data/corpora/sst2";

/** The model and word features of the default recipe (`configs/use_conll4_sst2_stsb.json`). */
const BACKBONE_MODEL = {
  maxLength: 64,
  hiddenSize: 128,
  numLayers: 2,
  numHeads: 4,
  ffnSize: 512,
  dropout: 0.1,
  localConvWidth: 3,
  backbone: "use-lite",
  backboneWords: "output",
  sentenceFeatures: "both",
  sentenceHidden: 256,
};
const TOKENIZER = {
  lowercase: true,
  minFrequency: 2,
  maxVocabSize: 20000,
  affixBuckets: 4096,
  affixLengths: [1, 2, 3, 4],
  shapeFeature: true,
  wordVectors: "glove-100d",
  pretrainedVocabSize: 400000,
};
const NER = {
  kind: "token",
  format: "conll",
  train: `${CONLL}/train.txt`,
  dev: `${CONLL}/dev.txt`,
  test: `${CONLL}/test.txt`,
};
const SENTIMENT = {
  kind: "sentence",
  labelMap: { "0": "negative", "1": "positive" },
  train: `${SST2}/train.txt`,
  dev: `${SST2}/dev.txt`,
  test: `${SST2}/test.txt`,
};
const TRAIN = {
  batchSize: 32,
  learningRate: 0.001,
  schedule: "cosine",
  embeddingUpdates: "lazy",
};
/** The default recipe's freezing: the backbone frozen but for its pooler. */
const BACKBONE_FROZEN = ["backbone:embeddings", "backbone:layers:0-1"];

/** Notebook 02: freezing scenarios on the pretrained backbone, by training-set size. */
export const FREEZING_STUDY: Study = {
  name: "freezing",
  description:
    "NER (CoNLL-2003) and sentiment (SST-2 sentences) trained jointly on the first N training sentences of each, over the pretrained Universal Sentence Encoder lite (the default recipe's model and word features), or from scratch; rates decayed 0.2 per backbone depth wherever the backbone trains.",
  recipe: validateRecipe({
    model: BACKBONE_MODEL,
    tokenizer: TOKENIZER,
    train: { ...TRAIN, layerLrDecay: 0.2 },
    workers: 2,
    tasks: { ner: NER, sentiment: SENTIMENT },
  }, "the freezing study"),
  scenarios: [
    {
      name: "heads only (backbone and task encoder frozen)",
      train: { freeze: ["backbone", "encoder", "embeddings"] },
      cache: "pooler-input",
    },
    { name: "backbone frozen", train: { freeze: BACKBONE_FROZEN }, cache: "pooler-input" },
    {
      name: "top layer fine-tuned",
      train: { freeze: ["backbone:embeddings", "backbone:layer:0"] },
      cache: "layer-1-input",
    },
    { name: "everything fine-tuned", train: { freeze: [] } },
    { name: "two-stage (frozen, then everything)", train: { freeze: [], unfreezeAfter: 1 } },
    { name: "gradual unfreezing", train: { freeze: [], gradualUnfreeze: true } },
    { name: "from scratch (no backbone)", model: { backbone: null } },
  ],
  grid: [
    {
      scenarios: [
        "heads only (backbone and task encoder frozen)",
        "backbone frozen",
        "top layer fine-tuned",
        "everything fine-tuned",
        "two-stage (frozen, then everything)",
        "gradual unfreezing",
        "from scratch (no backbone)",
      ],
      sizes: [1000],
      seeds: [1, 2, 3],
    },
    {
      scenarios: [
        "heads only (backbone and task encoder frozen)",
        "backbone frozen",
        "top layer fine-tuned",
        "everything fine-tuned",
        "from scratch (no backbone)",
      ],
      sizes: [100],
      seeds: [1, 2, 3],
    },
  ],
  epochs: { "100": 10, "1000": 3 },
  devLimit: 300,
  warmupFraction: 0.1,
};

/** Notebook 03: layer-wise rates and schedules with the whole backbone fine-tuned. */
export const LAYERWISE_STUDY: Study = {
  name: "layerwise",
  description:
    "Sentiment (SST-2 sentences, the first N for training, 2 epochs) with everything fine-tuned: the pretrained Universal Sentence Encoder lite, the task encoder over the word features and the head (the default recipe's model); base rate 1e-3 at the top.",
  recipe: validateRecipe({
    model: BACKBONE_MODEL,
    tokenizer: TOKENIZER,
    train: { ...TRAIN, freeze: [] },
    workers: 2,
    tasks: { sentiment: SENTIMENT },
  }, "the layer-wise study"),
  scenarios: [
    { name: "no decay (cosine, warm-up)", train: { layerLrDecay: 1 } },
    { name: "decay 0.2", train: { layerLrDecay: 0.2 } },
    { name: "no decay at decay 0.2's mean backbone rate", meanRateOf: 0.2 },
    {
      name: "decay 0.2 on the piece embeddings only",
      train: { layerLrDecay: 0.2, layerLrDecayScope: "embeddings" },
    },
    { name: "warm-up alone", train: { schedule: "constant" } },
    { name: "decay to zero alone", train: { schedule: "linear", warmupSteps: 0 } },
    { name: "no decay, rate 3e-4", train: { learningRate: 3e-4 } },
    { name: "no decay, rate 3e-3", train: { learningRate: 3e-3 } },
  ],
  grid: [
    {
      scenarios: [
        "no decay (cosine, warm-up)",
        "decay 0.2",
        "no decay at decay 0.2's mean backbone rate",
        "decay 0.2 on the piece embeddings only",
        "warm-up alone",
        "decay to zero alone",
      ],
      sizes: [500],
      seeds: [1, 2, 3, 4, 5],
    },
    {
      scenarios: ["no decay, rate 3e-4", "no decay, rate 3e-3"],
      sizes: [500],
      seeds: [1, 2, 3],
    },
  ],
  epochs: { "500": 2 },
  devLimit: 400,
  warmupFraction: 0.1,
};

/** The studies `deno task study` runs, by name. */
export const STUDIES: Readonly<Record<string, Study>> = {
  freezing: FREEZING_STUDY,
  layerwise: LAYERWISE_STUDY,
};

/** Which part of a study's grid to run. */
export interface StudySlice {
  /** Only these scenarios. @default all */
  readonly scenarios?: readonly string[];
  /** Only these sizes. @default all */
  readonly sizes?: readonly number[];
  /** Only these seeds. @default all */
  readonly seeds?: readonly number[];
}

/** The runs of a study's grid, in order (sizes, then scenarios, then seeds), restricted to a slice. */
export function studyPlan(
  study: Study,
  slice: StudySlice = {},
): { scenario: StudyScenario; size: number; seed: number }[] {
  const plan: { scenario: StudyScenario; size: number; seed: number }[] = [];
  for (const cell of study.grid) {
    for (const size of cell.sizes) {
      if (slice.sizes !== undefined && !slice.sizes.includes(size)) continue;
      for (const name of cell.scenarios) {
        if (slice.scenarios !== undefined && !slice.scenarios.includes(name)) continue;
        const scenario = study.scenarios.find((s) => s.name === name);
        if (scenario === undefined) throw new RangeError(`unknown scenario "${name}"`);
        for (const seed of cell.seeds) {
          if (slice.seeds === undefined || slice.seeds.includes(seed)) {
            plan.push({ scenario, size, seed });
          }
        }
      }
    }
  }
  return plan;
}

/** The study's corpora cut to a training-set size (dev sets to `devLimit`, test sets whole). */
export function studyCorpora(study: Study, corpora: RecipeCorpora, size: number): RecipeCorpora {
  return Object.fromEntries(
    Object.entries(corpora).map(([task, c]) => [task, {
      ...c,
      train: c.train.slice(0, size),
      dev: c.dev.slice(0, study.devLimit),
    }]),
  );
}

/** The recipe of one run: the base, the scenario's overrides, the size's epochs and warm-up. */
export function scenarioRecipe(
  study: Study,
  scenario: StudyScenario,
  size: number,
  seed: number,
  corpora: RecipeCorpora,
): Recipe {
  const epochs = study.epochs[String(size)];
  if (epochs === undefined) throw new RangeError(`no epochs set for size ${size}`);
  const batch = study.recipe.train?.batchSize as number ?? 32;
  const steps = epochs *
    Object.values(corpora).reduce(
      (n, c) => n + Math.ceil(Math.min(size, c.train.length) / batch),
      0,
    );
  return {
    ...study.recipe,
    model: { ...study.recipe.model, ...scenario.model },
    train: {
      ...study.recipe.train,
      warmupSteps: Math.round(study.warmupFraction * steps),
      ...scenario.train,
      epochs,
    },
    seeds: [seed],
  } as Recipe;
}

/** Options of {@linkcode runStudy}. */
export interface RunStudyOptions {
  readonly slice?: StudySlice;
  /** Keys ({@linkcode runKey}) of runs already done: skipped. */
  readonly done?: ReadonlySet<string>;
  /** Receives each run's record as it finishes. */
  readonly onRun: (run: StudyRun) => Promise<void> | void;
  /** Called before each run, with its place in the plan. */
  readonly onStart?: (key: string, index: number, total: number) => void;
  readonly onWarning?: (message: string) => void;
  readonly vectorCacheDir?: string;
}

/** Runs a study's grid (or a slice of it); see the module documentation. */
export async function runStudy(
  study: Study,
  corpora: RecipeCorpora,
  options: RunStudyOptions,
): Promise<void> {
  const caches = new Map<string, BackboneFeatureCache>();
  const plan = studyPlan(study, options.slice).filter((p) =>
    !(options.done?.has(runKey({ scenario: p.scenario.name, size: p.size, seed: p.seed })) ?? false)
  );
  const common = {
    ...(options.onWarning !== undefined ? { onWarning: options.onWarning } : {}),
    ...(options.vectorCacheDir !== undefined ? { vectorCacheDir: options.vectorCacheDir } : {}),
  };
  for (const [index, { scenario, size, seed }] of plan.entries()) {
    options.onStart?.(runKey({ scenario: scenario.name, size, seed }), index, plan.length);
    const sized = studyCorpora(study, corpora, size);
    let recipe = scenarioRecipe(study, scenario, size, seed, sized);
    if (scenario.meanRateOf !== undefined) {
      const base = recipe.train?.learningRate as number ?? 0.001;
      const factor = await backboneMeanRate(recipe, sized, scenario.meanRateOf, common);
      recipe = { ...recipe, train: { ...recipe.train, learningRate: base * factor } } as Recipe;
    }
    let cache: BackboneFeatureCache | undefined;
    if (scenario.cache !== undefined) {
      cache = caches.get(scenario.cache) ?? new BackboneFeatureCache(0);
      caches.set(scenario.cache, cache);
    }
    const result = await runRecipe(recipe, sized, {
      ...common,
      ...(cache !== undefined ? { featureCache: cache } : {}),
      parallelTest: true,
    });
    const s = result.seeds[0]!;
    const scores = (c: Readonly<Record<string, { score: number }>>) =>
      Object.fromEntries(Object.entries(c).map(([t, v]) => [t, v.score]));
    await options.onRun({
      scenario: scenario.name,
      size,
      seed,
      epochs: recipe.train?.epochs as number,
      learningRate: recipe.train?.learningRate as number,
      test: scores(s.test),
      dev: scores(s.dev),
      bestEpoch: s.bestEpoch,
      devHistory: s.devHistory,
      trainableParameters: s.trainableParameters,
      parameters: s.parameters,
      trainSeconds: s.trainSeconds,
    });
  }
}

/**
 * The size-weighted mean of the rate multipliers `decay` gives the backbone's
 * parameters (see {@linkcode meanRateMultiplier}), from a model built by the recipe.
 */
async function backboneMeanRate(
  recipe: Recipe,
  corpora: RecipeCorpora,
  decay: number,
  options: { onWarning?: (message: string) => void; vectorCacheDir?: string },
): Promise<number> {
  const config = recipeConfig(recipe, recipe.seeds[0] ?? 1);
  const tasks = Object.values(corpora).map((c) => c.spec);
  const train = Object.values(corpora).flatMap((c) => c.train.slice(0, 8));
  const { bundle, trainer } = await trainModel(
    { train, validation: [] },
    { ...config, train: { ...config.train, epochs: 0 } },
    { tasks, ...options },
  );
  const parameters = bundle.model.parameters.names().filter((n) => n.startsWith("backbone/"))
    .map((name) => ({ name, size: bundle.model.parameters.get(name).size }));
  const factor = meanRateMultiplier(parameters, config.model.numLayers, {
    layerDecay: decay,
    backboneLayers: bundle.model.backbone?.spec.layers.length ?? 0,
  });
  trainer.dispose();
  bundle.model.dispose();
  return factor;
}

/**
 * Differences between the scores of runs and those recorded for them: one line
 * per run whose test or dev scores differ (runs are deterministic for a seed
 * and a worker count), or that has no record.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareRuns } from "./studies.ts";
 * const run = { scenario: "a", size: 10, seed: 1, test: { ner: 0.5 }, dev: { ner: 0.4 } };
 * assert.deepEqual(compareRuns([run], [run]), []);
 * assert.match(compareRuns([{ ...run, test: { ner: 0.6 } }], [run])[0]!, /a@10#1: test ner 0.6 against 0.5/);
 * ```
 */
export function compareRuns(
  runs: readonly Pick<StudyRun, "scenario" | "size" | "seed" | "test" | "dev">[],
  recorded: readonly Pick<StudyRun, "scenario" | "size" | "seed" | "test" | "dev">[],
): string[] {
  const byKey = new Map(recorded.map((r) => [runKey(r), r]));
  const out: string[] = [];
  for (const run of runs) {
    const key = runKey(run);
    const old = byKey.get(key);
    if (old === undefined) {
      out.push(`${key}: no recorded run`);
      continue;
    }
    for (const split of ["test", "dev"] as const) {
      for (const [task, score] of Object.entries(run[split])) {
        if (old[split][task] !== score) {
          out.push(`${key}: ${split} ${task} ${score} against ${old[split][task]}`);
        }
      }
    }
  }
  return out;
}

/** One way of continuing training on sentiment after NER and sentiment trained jointly. */
export interface ForgettingVariant {
  readonly name: string;
  /** Frozen in the second stage. */
  readonly freeze: readonly string[];
  /** Fraction of the first stage's NER training sentences mixed into the second. */
  readonly mix: number;
}

/** The forgetting experiment (notebook 02), as data. */
export const FORGETTING_STUDY = {
  name: "forgetting",
  description:
    "Stage 1: NER and sentiment trained jointly on the first 1,000 training sentences of each (the backbone frozen but for its pooler, as in the default recipe). Stage 2: as many epochs on the sentiment sentences only, so that the shared layers (the task encoder, the pooler) move for sentiment; the NER head frozen or training, NER's stage-1 sentences mixed in (10 %) or not, or the shared layers frozen. NER test F1 and sentiment test accuracy after each stage.",
  size: 1000,
  epochs: 3,
  seeds: [1, 2, 3],
  variants: [
    { name: "NER head trains", freeze: [], mix: 0 },
    { name: "NER head frozen", freeze: ["ner-head"], mix: 0 },
    { name: "NER head trains, NER data mixed in", freeze: [], mix: 0.1 },
    { name: "NER head frozen, NER data mixed in", freeze: ["ner-head"], mix: 0.1 },
    { name: "shared layers frozen", freeze: ["encoder", "embeddings", "backbone:pooler"], mix: 0 },
  ] as readonly ForgettingVariant[],
} as const;

/** The record of one forgetting run: scores after stage 1 and after stage 2. */
export interface ForgettingRun {
  readonly variant: string;
  readonly seed: number;
  readonly before: Readonly<Record<string, number>>;
  readonly after: Readonly<Record<string, number>>;
  /** Whether the NER head's weights after stage 2 equal those after stage 1, bit for bit. */
  readonly nerHeadUnchanged: boolean;
}

/**
 * Runs the forgetting experiment (see {@linkcode FORGETTING_STUDY}) for the
 * given seeds and variants, on the freezing study's tasks and model.
 */
export async function runForgetting(
  corpora: RecipeCorpora,
  options: {
    readonly seeds?: readonly number[];
    readonly variants?: readonly string[];
    readonly done?: ReadonlySet<string>;
    readonly onRun: (run: ForgettingRun) => Promise<void> | void;
    readonly onStart?: (key: string) => void;
    readonly onWarning?: (message: string) => void;
  },
): Promise<void> {
  const f = FORGETTING_STUDY;
  const study = FREEZING_STUDY;
  const sized = studyCorpora(study, corpora, f.size);
  const tasks = Object.values(sized).map((c) => c.spec);
  const test: Record<string, readonly Sentence[]> = Object.fromEntries(
    Object.entries(sized).map(([t, c]) => [t, c.test]),
  );
  const cache = new BackboneFeatureCache(0);
  const precache = Object.values(sized).flatMap((c) => c.test.map((s) => s.words));
  const score = (bundle: ModelBundle) =>
    Object.fromEntries(
      Object.entries(scoreCorpora({ ...bundle, featureCache: cache }, test)).map((
        [t, s],
      ) => [t, s.score]),
    );
  const warn = options.onWarning !== undefined ? { onWarning: options.onWarning } : {};
  const variants = f.variants.filter((v) =>
    options.variants === undefined || options.variants.includes(v.name)
  );
  for (const seed of options.seeds ?? f.seeds) {
    const todo = variants.filter((v) => !(options.done?.has(`${v.name}#${seed}`) ?? false));
    if (todo.length === 0) continue;
    const recipe = scenarioRecipe(
      study,
      { name: "stage 1", train: { freeze: BACKBONE_FROZEN } },
      f.size,
      seed,
      sized,
    );
    const config = recipeConfig(
      { ...recipe, train: { ...recipe.train, epochs: f.epochs } } as Recipe,
      seed,
    );
    options.onStart?.(`stage 1#${seed}`);
    const first = await trainModel(
      { train: [...sized.ner!.train, ...sized.sentiment!.train], validation: [] },
      config,
      { tasks, workers: study.recipe.workers, featureCache: cache, precache, ...warn },
    );
    const before = score(first.bundle);
    const headNames = first.bundle.model.parameters.names().filter((n) =>
      n.startsWith("ner_head/")
    );
    const headBefore = headNames.map((n) =>
      first.bundle.model.parameters.get(n).dataSync().slice()
    );
    for (const variant of todo) {
      options.onStart?.(`${variant.name}#${seed}`);
      const mixed = sized.ner!.train.slice(0, Math.round(variant.mix * sized.ner!.train.length));
      const second = await trainModel(
        { train: [...sized.sentiment!.train, ...mixed], validation: [] },
        { ...config, train: { ...config.train, freeze: [...BACKBONE_FROZEN, ...variant.freeze] } },
        {
          tasks,
          initFrom: first.bundle,
          workers: study.recipe.workers,
          featureCache: cache,
          ...warn,
        },
      );
      const after = score(second.bundle);
      const unchanged = headNames.every((n, i) => {
        const now = second.bundle.model.parameters.get(n).dataSync();
        return now.every((x, j) => x === headBefore[i]![j]);
      });
      await options.onRun({
        variant: variant.name,
        seed,
        before,
        after,
        nerHeadUnchanged: unchanged,
      });
      second.trainer.dispose();
      second.bundle.model.dispose();
    }
    first.trainer.dispose();
    first.bundle.model.dispose();
  }
}
