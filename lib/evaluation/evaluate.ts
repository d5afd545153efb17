/**
 * Evaluation of a model on encoded sentences during training: per task, the
 * mean loss and the accuracy of its labels, computed in batches without dropout.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  batchGold,
  batchTasks,
  type EncodedSentence,
  padBatch,
  type PaddedBatch,
} from "../data/encoding.ts";
import { taskTerms } from "../model/heads.ts";
import type { MultiTaskModel } from "../model/model.ts";
import { forwardPadded } from "../model/forward.ts";
import { taskPool } from "../data/encoding.ts";

/** Figures of one task. */
export interface TaskEval {
  /** Mean loss per label (token, sentence or scored pair). */
  readonly loss: number;
  /** Fraction of labels predicted right (NaN for pair tasks). */
  readonly accuracy: number;
  /** Labels counted. */
  readonly count: number;
}

/** Figures of one evaluation, per task labelled in the data. */
export type EvalMetrics = Readonly<Record<string, TaskEval>>;

/**
 * Evaluates `model` on `data`: the tasks labelled in it, with the heads the
 * model has for them.
 * @param batchSize sentences per forward pass @default 64
 * @param batchOf builds a batch from examples (pairs need their own) @default padBatch
 */
export function evaluate(
  model: MultiTaskModel,
  data: readonly EncodedSentence[],
  batchSize = 64,
  batchOf: (examples: readonly EncodedSentence[]) => PaddedBatch = padBatch,
): EvalMetrics {
  const sums = new Map<string, { loss: number; correct: number; count: number }>();
  // Batches within one task pool: pairs and single sentences never share a batch.
  const pools = new Map<string, EncodedSentence[]>();
  for (const e of data) {
    const key = taskPool(e);
    pools.set(key, [...(pools.get(key) ?? []), e]);
  }
  const batches = [...pools.values()].flatMap((pool) =>
    Array.from(
      { length: Math.ceil(pool.length / batchSize) },
      (_, i) => pool.slice(i * batchSize, (i + 1) * batchSize),
    )
  );
  for (const examples of batches) {
    const padded = batchOf(examples);
    const tasks = batchTasks(padded).filter((t) => model.heads.has(t));
    if (tasks.length === 0) continue;
    const numbers = forwardPadded(
      model,
      padded,
      { tasks },
      (out, batch) =>
        tf.stack(tasks.flatMap((task) => {
          const { loss, examples, accuracy } = taskTerms(
            model.heads.get(task)!,
            out.outputs[task]!,
            batchGold(batch, task)!,
          );
          return [loss.mul(examples), accuracy?.[0] ?? tf.scalar(0), examples];
        })),
    );
    tasks.forEach((task, i) => {
      const s = sums.get(task) ?? { loss: 0, correct: 0, count: 0 };
      s.loss += numbers[3 * i]!;
      s.correct += numbers[3 * i + 1]!;
      s.count += numbers[3 * i + 2]!;
      sums.set(task, s);
    });
  }
  return Object.fromEntries([...sums].map(([task, s]) => {
    const pair = data.length > 0 && model.heads.get(task)?.spec.kind === "pair";
    return [task, {
      loss: s.loss / s.count,
      accuracy: pair ? NaN : s.correct / s.count,
      count: s.count,
    }];
  }));
}
