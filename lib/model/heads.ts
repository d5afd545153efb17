/**
 * Task heads, one per task kind, created from the task's spec; each reads only
 * the encoder's output (token vectors + mask) and never another head:
 *
 * - {@linkcode TokenClassifier}: a per-token linear classifier (NER, POS,
 *   chunking): logits `[batch, seqLen, numLabels]`;
 * - {@linkcode SentenceClassifier}: pools the token vectors (the sentence
 *   embedding's pooling, or the task's own) and classifies, optionally through
 *   a hidden layer (`model.sentenceHidden`): logits `[batch, numLabels]`;
 * - {@linkcode PairSimilarity}: no parameters; the cosine similarity of the
 *   pooled embeddings of the two halves of a pair batch: `[batch / 2]`.
 *
 * With a pretrained backbone, sentence and pair heads read its pooled output
 * (sentence heads beside the pooled token vectors, by default) instead of
 * pooling the token vectors alone.
 *
 * A head's parameters live under `TASK_head/` (`ner_head/kernel`, …).
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Pooling } from "../core/config.ts";
import type { TaskKind } from "../core/tasks.ts";
import { type EncoderOutput, tokenVectors } from "./encoder.ts";
import {
  accuracyCounts,
  crfNegativeLogLikelihood,
  maskedCrossEntropy,
  similarityLoss,
} from "./losses.ts";
import { dense, dropout, gelu } from "./ops.ts";
import type { ParameterStore } from "./parameters.ts";
import { deriveSeed } from "../core/random.ts";
import { l2Normalize, pool } from "./pooling.ts";

/** Parameter-name prefix of a task's head. */
export function headPrefix(task: string): string {
  return `${task}_head/`;
}

/** What a head needs to know of its task. */
export interface HeadSpec {
  readonly name: string;
  readonly kind: TaskKind;
  /** Size of the label vocabulary (0 for pairs). */
  readonly numLabels: number;
  /** Sentence and pair heads: their pooling; default `HeadArgs.pooling`. */
  readonly pooling?: Pooling;
  /** Token heads: a linear-chain CRF output layer (learned tag transitions). */
  readonly crf?: boolean;
  /** Classifiers: label smoothing ε of their cross-entropy. @default 0 */
  readonly labelSmoothing?: number;
}

/** Sizes shared by every head. */
export interface HeadArgs {
  readonly hiddenSize: number;
  readonly dropout: number;
  readonly initializerRange: number;
  readonly pooling: Pooling;
  /**
   * Width of a pretrained backbone's pooled output, which sentence and pair
   * heads then read (0: no backbone; they pool the token vectors). @default 0
   */
  readonly backboneSize?: number;
  /**
   * With a backbone: sentence heads classify its pooled output (`backbone`) or
   * that beside the pooled token vectors (`both`). @default "both"
   */
  readonly sentenceFeatures?: "backbone" | "both";
  /** Sentence heads: a hidden GELU layer of this width before the classifier (0: none). @default 0 */
  readonly sentenceHidden?: number;
}

/**
 * Whether the heads of these tasks read the task encoder's token vectors
 * (token heads always; sentence heads without a backbone or with `both`;
 * pair heads only without a backbone).
 */
export function readsTokens(kinds: readonly TaskKind[], args: HeadArgs): boolean {
  const backbone = (args.backboneSize ?? 0) > 0;
  return kinds.some((kind) =>
    kind === "token" || !backbone ||
    (kind === "sentence" && (args.sentenceFeatures ?? "both") === "both")
  );
}

/**
 * The sentence vector a sentence or pair head starts from: the backbone's
 * pooled output when there is one (beside the pooled token vectors when
 * `withTokens`), else the pooled token vectors.
 */
function sentenceVector(
  output: EncoderOutput,
  pooling: Pooling,
  withTokens: boolean,
  reader: string,
): tf.Tensor2D {
  if (output.pooledOutput === undefined) return pool(tokenVectors(output, reader), pooling);
  if (!withTokens) return output.pooledOutput;
  return tf.concat([output.pooledOutput, pool(tokenVectors(output, reader), pooling)], 1);
}

/** A task head. */
export interface Head {
  readonly spec: HeadSpec;
  /**
   * @param output encoder output
   * @param seed dropout seed; undefined at inference
   * @returns the task's scores (see the module documentation)
   */
  apply(output: EncoderOutput, seed?: number): tf.Tensor;
  /**
   * The head's own training loss, where it is not the cross-entropy of its
   * scores (a CRF head's sequence likelihood); see {@linkcode taskLoss}.
   */
  loss?(scores: tf.Tensor, labels: tf.Tensor, denominator?: number): tf.Scalar;
}

/**
 * The training loss of a head's scores: the head's own ({@linkcode Head.loss}),
 * else the masked cross-entropy of its labels (smoothed by the head's
 * `labelSmoothing`).
 * @param denominator see {@linkcode maskedCrossEntropy}
 */
export function taskLoss(
  head: Head,
  scores: tf.Tensor,
  labels: tf.Tensor,
  denominator?: number,
): tf.Scalar {
  return head.loss !== undefined
    ? head.loss(scores, labels, denominator)
    : maskedCrossEntropy(scores, labels, denominator, head.spec.labelSmoothing ?? 0);
}

/** What one task contributes to a step or an evaluation batch. */
export interface TaskTerms {
  /** The head's loss ({@linkcode taskLoss}). */
  readonly loss: tf.Scalar;
  /** Labelled examples scored: tokens, sentences, or pairs with a score. */
  readonly examples: tf.Scalar;
  /** Correct argmax predictions and how many were counted; none for a pair task. */
  readonly accuracy?: readonly [tf.Scalar, tf.Scalar];
}

/**
 * A task's loss and counts on a batch, the one dispatch the trainer and
 * evaluation share: every head's loss through {@linkcode taskLoss}, argmax
 * accuracy counts for classifiers, the scored pairs of a pair task.
 * @param gold the task's labels in the batch (label ids, -1 unlabelled; or pair scores, NaN unscored)
 */
export function taskTerms(
  head: Head,
  scores: tf.Tensor,
  gold: tf.Tensor,
  denominator?: number,
): TaskTerms {
  const loss = taskLoss(head, scores, gold, denominator);
  if (head.spec.kind === "pair") {
    return { loss, examples: gold.equal(gold).cast("float32").sum() };
  }
  const [correct, count] = accuracyCounts(scores, gold);
  return { loss, examples: count, accuracy: [correct, count] };
}

/** The head of a task, by its kind. */
export function createHead(params: ParameterStore, spec: HeadSpec, args: HeadArgs): Head {
  switch (spec.kind) {
    case "token":
      return new TokenClassifier(params, spec, args);
    case "sentence":
      return new SentenceClassifier(params, spec, args);
    case "pair":
      return new PairSimilarity(spec, args);
  }
}

/**
 * Per-token label logits; with `spec.crf`, also the CRF's tag transitions
 * (`TASK_head/transitions`, `[previous, next]`) and start scores
 * (`TASK_head/start`), zero at initialisation and trained with the
 * sequence likelihood ({@linkcode crfNegativeLogLikelihood}); the logits are
 * then the CRF's emission scores and decoding is Viterbi over both.
 */
export class TokenClassifier implements Head {
  readonly spec: HeadSpec;
  readonly #kernel: tf.Variable;
  readonly #bias: tf.Variable;
  readonly #dropout: number;
  readonly #transitions?: tf.Variable;
  readonly #start?: tf.Variable;
  /** With a CRF: its sequence negative log-likelihood. */
  readonly loss?: (scores: tf.Tensor, labels: tf.Tensor, denominator?: number) => tf.Scalar;

  constructor(params: ParameterStore, spec: HeadSpec, args: HeadArgs) {
    this.spec = spec;
    const prefix = headPrefix(spec.name);
    this.#kernel = params.create(`${prefix}kernel`, [args.hiddenSize, spec.numLabels], {
      kind: "normal",
      stddev: args.initializerRange,
    });
    this.#bias = params.create(`${prefix}bias`, [spec.numLabels], { kind: "zeros" });
    this.#dropout = args.dropout;
    if (spec.crf === true) {
      const n = spec.numLabels;
      this.#transitions = params.create(`${prefix}transitions`, [n, n], { kind: "zeros" });
      this.#start = params.create(`${prefix}start`, [n], { kind: "zeros" });
      this.loss = (scores, labels, denominator) =>
        crfNegativeLogLikelihood(scores, labels, this.#transitions!, this.#start!, denominator);
    }
  }

  /**
   * A CRF head's learned scores, as numbers: `scores` row-major `[previous,
   * next]` and `start`; undefined without a CRF.
   */
  crfTransitions(): { scores: number[]; start: number[] } | undefined {
    if (this.#transitions === undefined || this.#start === undefined) return undefined;
    return {
      scores: Array.from(this.#transitions.dataSync()),
      start: Array.from(this.#start.dataSync()),
    };
  }

  /** @returns logits `[batch, seqLen, numLabels]` */
  apply(output: EncoderOutput, seed?: number): tf.Tensor3D {
    const { sequenceOutput } = tokenVectors(output, `the ${this.spec.name} head`);
    const x = dropout(sequenceOutput, this.#dropout, seed);
    return dense(x, this.#kernel as tf.Tensor2D, this.#bias as tf.Tensor1D) as tf.Tensor3D;
  }
}

/** Per-sentence label logits over the pooled token vectors. */
export class SentenceClassifier implements Head {
  readonly spec: HeadSpec;
  readonly #kernel: tf.Variable;
  readonly #bias: tf.Variable;
  readonly #dropout: number;
  readonly #pooling: Pooling;
  readonly #withTokens: boolean;
  readonly #hidden: [tf.Variable, tf.Variable] | undefined;

  constructor(params: ParameterStore, spec: HeadSpec, args: HeadArgs) {
    this.spec = spec;
    const prefix = headPrefix(spec.name);
    const backbone = args.backboneSize ?? 0;
    this.#withTokens = backbone === 0 || (args.sentenceFeatures ?? "both") === "both";
    const normal = { kind: "normal", stddev: args.initializerRange } as const;
    let inputSize = backbone + (this.#withTokens ? args.hiddenSize : 0);
    const hidden = args.sentenceHidden ?? 0;
    this.#hidden = hidden > 0
      ? [
        params.create(`${prefix}hidden/kernel`, [inputSize, hidden], normal),
        params.create(`${prefix}hidden/bias`, [hidden], { kind: "zeros" }),
      ]
      : undefined;
    if (hidden > 0) inputSize = hidden;
    this.#kernel = params.create(`${prefix}kernel`, [inputSize, spec.numLabels], normal);
    this.#bias = params.create(`${prefix}bias`, [spec.numLabels], { kind: "zeros" });
    this.#dropout = args.dropout;
    this.#pooling = spec.pooling ?? args.pooling;
  }

  /** @returns logits `[batch, numLabels]` */
  apply(output: EncoderOutput, seed?: number): tf.Tensor2D {
    let features = sentenceVector(
      output,
      this.#pooling,
      this.#withTokens,
      `the ${this.spec.name} head`,
    );
    if (this.#hidden !== undefined) {
      const [kernel, bias] = this.#hidden;
      const dropped = dropout(
        features,
        this.#dropout,
        seed === undefined ? seed : deriveSeed(seed, "hidden"),
      );
      features = gelu(dense(dropped, kernel as tf.Tensor2D, bias as tf.Tensor1D)) as tf.Tensor2D;
    }
    const pooled = dropout(features, this.#dropout, seed);
    return dense(pooled, this.#kernel as tf.Tensor2D, this.#bias as tf.Tensor1D) as tf.Tensor2D;
  }
}

/**
 * Sentence-pair similarity (Sentence-BERT's bi-encoder): the batch holds the
 * first sentences of its pairs, then the second ones; the score of pair `i` is
 * the cosine similarity of the pooled embeddings of rows `i` and `i + batch/2`.
 */
export class PairSimilarity implements Head {
  readonly spec: HeadSpec;
  readonly #pooling: Pooling;

  constructor(spec: HeadSpec, args: HeadArgs) {
    this.spec = spec;
    this.#pooling = spec.pooling ?? args.pooling;
  }

  /** The squared error of the cosines against the gold scores (NaN: unscored; {@linkcode similarityLoss}). */
  loss(scores: tf.Tensor, labels: tf.Tensor, denominator?: number): tf.Scalar {
    return similarityLoss(scores as tf.Tensor1D, labels as tf.Tensor1D, denominator);
  }

  /** @returns cosine similarities `[batch / 2]` */
  apply(output: EncoderOutput): tf.Tensor1D {
    const embeddings = l2Normalize(
      sentenceVector(output, this.#pooling, false, `the ${this.spec.name} head`),
    );
    const half = embeddings.shape[0] / 2;
    const [a, b] = tf.split(embeddings, [half, half], 0) as [tf.Tensor2D, tf.Tensor2D];
    return a.mul(b).sum(1) as tf.Tensor1D;
  }
}
