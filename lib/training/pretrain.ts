/**
 * Masked-language-model pretraining of the backbone (Devlin et al., 2019, §3.1):
 * 15 % of word tokens are chosen; of those 80 % become `[MASK]`, 10 % a random
 * word, 10 % stay; the encoder predicts the original word through a decoder tied
 * to the token embeddings (plus a bias). The result is a model directory whose
 * embeddings and encoder initialise fine-tuning (`train.initBackbone`).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ModelBundle } from "../model/checkpoint.ts";
import type { Config } from "../core/config.ts";
import {
  batchToTensors,
  disposeBatch,
  encodeSentence,
  padBatch,
  type PaddedBatch,
} from "../data/encoding.ts";
import { epochBatches } from "./fit.ts";
import { maskedCrossEntropy } from "../model/losses.ts";
import { modelDims, MultiTaskModel } from "../model/model.ts";
import { Adam } from "./optimizer.ts";
import { selects } from "./param_groups.ts";
import { deriveSeed, mulberry32 } from "../core/random.ts";
import { inverseTimeDecay } from "./schedule.ts";
import { MASK_ID, SPECIAL_TOKENS } from "../data/tokenizer.ts";
import { TOKEN_EMBEDDING, TOKEN_PROJECTION } from "../model/encoder.ts";
import { configWordVectors, initWordVectors, newTokenizer } from "./train_run.ts";
import type { WordVectors } from "../data/vectors.ts";

/** Fraction of word tokens chosen for prediction. */
export const MASK_PROBABILITY = 0.15;

/** One pretraining epoch's figures. */
export interface PretrainRecord {
  readonly epoch: number;
  /** Mean masked-token cross-entropy. */
  readonly loss: number;
  /** Fraction of chosen tokens predicted right (training batches). */
  readonly maskedAccuracy: number;
  readonly seconds: number;
  readonly tokensPerSecond: number;
}

/** Options of {@linkcode pretrainBackbone}. */
export interface PretrainOptions {
  /** Called after every epoch. */
  readonly onEpochEnd?: (record: PretrainRecord) => void;
  /** The word vectors `config.tokenizer.wordVectors` names, already loaded. */
  readonly wordVectors?: WordVectors;
  /** Folder of the word-vector caches. @default ".cache/word-vectors" */
  readonly vectorCacheDir?: string;
  /** Receives notices (e.g. a word-vector cache being built). */
  readonly onWarning?: (message: string) => void;
}

/**
 * Pretrains embeddings and encoder on unlabelled sentences with `config`
 * (`train.epochs`, `batchSize`, `learningRate`, `decayRate` and `seed` apply).
 * @returns the model bundle (heads untrained) and per-epoch records
 */
export async function pretrainBackbone(
  sentences: readonly (readonly string[])[],
  config: Config,
  options: PretrainOptions = {},
): Promise<{ bundle: ModelBundle; history: PretrainRecord[] }> {
  const vectors = await configWordVectors(config, options);
  const tokenizer = newTokenizer(sentences, config, vectors);
  // A backbone has no task heads; fine-tuning adds them.
  const model = new MultiTaskModel(config.model, modelDims(tokenizer, []), config.seed);
  if (vectors !== undefined) initWordVectors(model, tokenizer, vectors, config.seed);
  const data = sentences.map((words) =>
    encodeSentence({ words, labels: {} }, tokenizer, [], config.model.maxLength)
  );
  const params = model.parameters.entries().filter(([name]) => selects("backbone", name));
  const decoderBias = tf.variable(tf.zeros([tokenizer.vocabSize]));
  const all: [string, tf.Variable][] = [...params, ["mlm/bias", decoderBias]];
  const adam = new Adam({
    beta1: config.train.beta1,
    beta2: config.train.beta2,
    epsilon: config.train.epsilon,
  });
  const embeddings = model.parameters.get(TOKEN_EMBEDDING);
  const projection = model.parameters.names().includes(TOKEN_PROJECTION)
    ? model.parameters.get(TOKEN_PROJECTION)
    : undefined;
  const history: PretrainRecord[] = [];
  const lengths = data.map((s) => s.tokenIds.length);
  try {
    for (let epoch = 1; epoch <= config.train.epochs; epoch++) {
      const started = performance.now();
      let loss = 0, correct = 0, chosen = 0, tokens = 0;
      const batches = epochBatches(
        lengths,
        config.train.batchSize,
        deriveSeed(config.seed, "mlm", epoch),
      );
      for (const indices of batches) {
        const step = adam.step;
        const { batch, targets } = maskBatch(
          padBatch(indices.map((i) => data[i]!)),
          tokenizer.vocabSize,
          deriveSeed(config.seed, "mask", step),
        );
        const tensors = batchToTensors(batch);
        const positions = tf.tensor1d(targets.positions, "int32");
        const gold = tf.tensor1d(targets.labels, "int32");
        const lr = inverseTimeDecay(step, {
          learningRate: config.train.learningRate,
          decayRate: config.train.decayRate,
        });
        const summary = tf.tidy(() => {
          let hits: tf.Scalar = tf.scalar(0);
          const { value, grads } = tf.variableGrads(() => {
            const encoded = model.encoder.apply(tensors, deriveSeed(config.seed, "dropout", step));
            const [b, t, h] = encoded.sequenceOutput.shape;
            const chosenVectors = tf.gather(encoded.sequenceOutput.reshape([b * t, h]), positions);
            // Decoder tied to the word embeddings (through their projection, when they have one).
            const queries = projection === undefined
              ? chosenVectors
              : tf.matMul(chosenVectors, projection, false, true);
            const logits = tf.matMul(queries, embeddings, false, true).add(decoderBias);
            hits = tf.keep(logits.argMax(-1).cast("int32").equal(gold).cast("float32").sum());
            return maskedCrossEntropy(logits, gold);
          }, all.map(([, v]) => v));
          const byName: Record<string, tf.Tensor> = {};
          for (const [name, v] of all) {
            if (grads[v.name] !== undefined) byName[name] = grads[v.name]!;
          }
          adam.apply(all, byName, () => lr);
          return tf.stack([value, hits]);
        });
        const [l, h] = summary.dataSync();
        tf.dispose([summary, positions, gold]);
        disposeBatch(tensors);
        loss += l!;
        correct += h!;
        chosen += targets.labels.length;
        tokens += indices.reduce((n, i) => n + lengths[i]!, 0);
      }
      const seconds = (performance.now() - started) / 1000;
      const record = {
        epoch,
        loss: loss / Math.max(1, batches.length),
        maskedAccuracy: correct / Math.max(1, chosen),
        seconds,
        tokensPerSecond: tokens / seconds,
      };
      history.push(record);
      options.onEpochEnd?.(record);
      await Promise.resolve();
    }
  } finally {
    adam.dispose();
    decoderBias.dispose();
  }
  return { bundle: { config, tokenizer, tasks: [], model }, history };
}

/** Positions (flat `b · seqLen + t`) chosen for prediction and their original ids. */
export interface MaskTargets {
  readonly positions: Int32Array;
  readonly labels: Int32Array;
}

/**
 * Chooses and corrupts tokens for masked-language modelling (pure, seeded):
 * each real word token (not `[CLS]`, not padding) is chosen with probability
 * {@linkcode MASK_PROBABILITY} (at least one per batch); a chosen token becomes
 * `[MASK]` (80 %), a random word (10 %) or stays (10 %), and its affix and
 * character features are cleared so they do not give the word away.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { padBatch } from "../data/encoding.ts";
 * import { maskBatch } from "./pretrain.ts";
 * const s = { tokenIds: Int32Array.from([2, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]),
 *   caseIds: new Int32Array(11), affixIds: new Int32Array(22).fill(5), wordIds: new Int32Array(11),
 *   tokenLabels: {}, sentenceLabels: {}, truncated: false };
 * const { batch, targets } = maskBatch(padBatch([s]), 100, 1);
 * assert.ok(targets.positions.length >= 1);
 * for (const [i, p] of targets.positions.entries()) {
 *   assert.equal(targets.labels[i], s.tokenIds[p]);
 *   assert.ok(p > 0);
 *   assert.equal(batch.affixIds[2 * p], 0);
 * }
 * assert.equal(batch.tokenIds[0], 2); // [CLS] is never chosen
 * ```
 */
export function maskBatch(
  batch: PaddedBatch,
  vocabSize: number,
  seed: number,
): { batch: PaddedBatch; targets: MaskTargets } {
  const random = mulberry32(seed);
  const tokenIds = batch.tokenIds.slice();
  const affixIds = batch.affixIds.slice();
  const charWidth = batch.charWidth ?? 0;
  const affixCount = batch.affixCount ?? 2;
  const charIds = batch.charIds?.slice();
  const positions: number[] = [];
  const candidates: number[] = [];
  for (let b = 0; b < batch.batch; b++) {
    for (let t = 1; t < batch.seqLen; t++) {
      const at = b * batch.seqLen + t;
      if (batch.mask[at] === 0) continue;
      candidates.push(at);
      if (random() < MASK_PROBABILITY) positions.push(at);
    }
  }
  if (positions.length === 0 && candidates.length > 0) {
    positions.push(candidates[Math.floor(random() * candidates.length)]!);
  }
  const labels = Int32Array.from(positions, (p) => batch.tokenIds[p]!);
  for (const p of positions) {
    const r = random();
    if (r < 0.8) tokenIds[p] = MASK_ID;
    else if (r < 0.9) {
      tokenIds[p] = SPECIAL_TOKENS.length +
        Math.floor(random() * (vocabSize - SPECIAL_TOKENS.length));
    }
    affixIds.fill(0, affixCount * p, affixCount * (p + 1));
    charIds?.fill(0, charWidth * p, charWidth * (p + 1));
  }
  return {
    batch: { ...batch, tokenIds, affixIds, ...(charIds === undefined ? {} : { charIds }) },
    targets: { positions: Int32Array.from(positions), labels },
  };
}
