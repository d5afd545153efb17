/**
 * The training state of an epoch-end checkpoint — epoch, history, data split,
 * data checksum, worker count, learned loss weights and the optimizer's
 * moments — and its conversion to and from what a model directory stores
 * (`SavedTraining` of `model/checkpoint.ts`).
 * @module
 */
import { CheckpointError } from "../core/errors.ts";
import { loadSavedTraining, type SavedTraining } from "../model/checkpoint.ts";
import type { EpochRecord } from "./fit.ts";
import type { AdamState } from "./optimizer.ts";

/** Training state saved with epoch-end checkpoints. */
export interface TrainingState {
  /** Last completed epoch (1-based). */
  readonly epoch: number;
  readonly history: readonly EpochRecord[];
  /** Indices of the training and validation sentences, so a resumed run uses the same split. */
  readonly split?: { readonly train: readonly number[]; readonly validation: readonly number[] };
  /** Path of the training data. */
  readonly dataPath?: string;
  /** sha256 of the training data file, checked when the run is resumed. */
  readonly dataSha256?: string;
  /** Data-parallel workers of the run (a resumed run must use as many). */
  readonly workers?: number;
  /** Learned loss weights (uncertainty weighting). */
  readonly lossState?: Readonly<Record<string, number>>;
  readonly optimizer: AdamState;
}

/** The state as a model directory stores it. */
export function savedTraining(state: TrainingState): SavedTraining {
  const { optimizer, ...json } = state;
  return { json: { ...json, step: optimizer.step }, arrays: optimizer.moments };
}

/**
 * Loads the training state of a checkpoint, or `undefined` if it has none.
 * @throws {CheckpointError} when it is malformed
 */
export async function loadTrainingState(dir: string): Promise<TrainingState | undefined> {
  const saved = await loadSavedTraining(dir);
  if (saved === undefined) return undefined;
  const { step, ...json } = saved.json as Record<string, unknown>;
  if (!Number.isInteger(step) || !Number.isInteger(json.epoch) || !Array.isArray(json.history)) {
    throw new CheckpointError(
      `Cannot load the training state of ${dir}: expected an epoch, a history and a step`,
    );
  }
  return {
    ...(json as unknown as Omit<TrainingState, "optimizer">),
    optimizer: { step: step as number, moments: saved.arrays },
  };
}
