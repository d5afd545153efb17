/**
 * Kernel profile of one training step of a recipe's model, built as the recipe builds it (its
 * word vectors in the vocabulary, its pretrained backbone with its frozen stages cached, its
 * optimiser settings), on a real CoNLL-2003 batch (one worker, one thread): step time, time per
 * kernel, and the element-wise time spent on the embedding tables. Usage:
 *
 *   deno task profile-step [--recipe FILE] [--sentences N]
 *
 * The vocabulary is fitted on the recipe's first token task's training file (plus the word
 * vectors' words, as the recipe adds them).
 *
 * A measurement tool, not a benchmark of record: run it several times, the host's speed varies.
 * @module
 */
import { intFlag, main, readJsonObject, stringFlag, UsageError } from "./_common.ts";
import { type Command, COMMON, type FlagTable, parseCommand } from "./_flags.ts";
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/backend/mod.ts";
import { encodeSentence, inferTasks, padBatch, parseConll, readText } from "../lib/data/mod.ts";
import { cacheBackboneFeatures, modelDims, MultiTaskModel } from "../lib/model/mod.ts";
import { USE_LITE, useLiteWeights } from "../lib/model/use_lite.ts";
import {
  configBackboneFiles,
  configWordVectors,
  initWordVectors,
  newTokenizer,
  Trainer,
} from "../lib/training/mod.ts";
import { type Recipe, recipeConfig, validateRecipe } from "../lib/experiments/mod.ts";

const FLAGS = {
  recipe: {
    type: "string",
    value: "FILE",
    help: "recipe whose model is profiled (default configs/use_conll4_sst2_stsb.json,\n" +
      "the default recipe)",
  },
  sentences: { type: "string", value: "N", help: "sentences in the profiled batch (default 32)" },
  help: COMMON.help,
} as const satisfies FlagTable;

const COMMAND: Command = {
  usage: "deno task profile-step [--recipe FILE] [--sentences N]",
  sections: [{ flags: FLAGS }],
};

export async function run(args: string[]): Promise<void> {
  const parsed = parseCommand(args, COMMAND, false);
  if (parsed === undefined) return;
  const { values } = parsed;
  const n = intFlag(values.sentences, "sentences", 1, 4096) ?? 32;
  await initBackend("wasm");
  const recipeFile = stringFlag(values.recipe) ?? "configs/use_conll4_sst2_stsb.json";
  const recipe: Recipe = validateRecipe(await readJsonObject(recipeFile), recipeFile);
  const config = recipeConfig(recipe, 1);
  // The recipe's first token task (its CoNLL training file) gives the batch.
  const [name, entry] = Object.entries(recipe.tasks).find(([, t]) => t.kind === "token") ?? [];
  if (name === undefined || entry === undefined || entry.kind !== "token") {
    throw new UsageError(`${recipeFile}: profiling needs a token task (a CoNLL training file)`);
  }
  const sentences = parseConll(await readText(entry.train), entry.train, {
    task: name,
    ...(entry.column !== undefined ? { tagColumn: entry.column } : {}),
  });
  const vectors = await configWordVectors(config, {
    onWarning: (message) => console.error(`note: ${message}`),
  });
  const backbone = await configBackboneFiles(config);
  let tokenizer = newTokenizer(sentences.map((s) => s.words), config, vectors);
  if (backbone !== undefined) tokenizer = tokenizer.withPieces(backbone.vocab, USE_LITE.maxPieces);
  const labels = inferTasks(sentences);
  const model = new MultiTaskModel(config.model, modelDims(tokenizer, labels), config.seed);
  if (vectors !== undefined) initWordVectors(model, tokenizer, vectors, config.seed);
  if (backbone !== undefined) model.parameters.assign(useLiteWeights(backbone), backbone.dir);
  // The schedule's length does not change a step's work: one epoch's worth of steps.
  const trainer = new Trainer(model, { train: config.train, seed: 1, totalSteps: 1000 });
  // A typical batch: the middle of 20 length-sorted batches, as the length bucketing makes them.
  const from = Math.max(0, Math.min(2000, sentences.length - n * 20));
  const pool = sentences.slice(from, from + n * 20).sort((a, b) => a.words.length - b.words.length);
  const middle = Math.floor(pool.length / 2 / n) * n;
  const encoded = pool.slice(middle, middle + n)
    .map((s) => encodeSentence(s, tokenizer, labels, config.model.maxLength));
  // A frozen backbone's stages run once per sentence, before training, as the recipe runs them.
  const batch = padBatch(
    backbone === undefined ? encoded : cacheBackboneFeatures(model, encoded, trainer.backboneStage),
  );
  console.log(
    `parameters ${model.parameters.count()} (${
      trainer.trainableNames.reduce((k, name) => k + model.parameters.get(name).size, 0)
    } train), vocabulary ${tokenizer.vocabSize}, ${config.train.embeddingUpdates} embedding updates, batch ${batch.batch}×${batch.seqLen}${
      backbone === undefined ? "" : `, backbone entered at stage ${trainer.backboneStage}`
    }`,
  );
  for (let i = 0; i < 3; i++) trainer.trainPadded(batch);
  const info = await tf.profile(() => {
    trainer.trainPadded(batch);
  });
  const byKernel = new Map<string, { ms: number; calls: number }>();
  let total = 0, embeddingElementwise = 0;
  const elementwise = new Set([
    "Multiply",
    "Add",
    "Square",
    "Sqrt",
    "RealDiv",
    "Sub",
    "Maximum",
    "AddN",
  ]);
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
    total += ms;
    const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
    e.ms += ms;
    e.calls++;
    byKernel.set(k.name, e);
    const size = (k.outputShapes[0] ?? []).reduce((a, b) => a * b, 1);
    if (elementwise.has(k.name) && size >= 1_000_000) embeddingElementwise += ms;
  }
  console.log(`profiled step: ${info.kernels.length} kernels, ${total.toFixed(1)} ms`);
  for (const [name, e] of [...byKernel].sort((a, b) => b[1].ms - a[1].ms).slice(0, 12)) {
    console.log(
      `  ${name.padEnd(24)} ${e.ms.toFixed(1).padStart(7)} ms  ${
        String(e.calls).padStart(4)
      } calls`,
    );
  }
  console.log(
    `  element-wise on tensors of ≥ 1M elements (embedding tables): ${
      embeddingElementwise.toFixed(1)
    } ms`,
  );
  const steps = 10, t0 = performance.now();
  for (let i = 0; i < steps; i++) trainer.trainPadded(batch);
  console.log(`unprofiled step: ${((performance.now() - t0) / steps).toFixed(1)} ms`);
  trainer.dispose();
  model.dispose();
}

if (import.meta.main) await main(run);
