/**
 * Diagnostics: how far one optimisation step moves each layer group, to check
 * that layer-wise learning rates are applied as configured; and the shapes a
 * batch takes at every stage of the model, measured on its tensors.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackboneTensors, BatchTensors } from "../data/encoding.ts";
import type { MultiTaskModel } from "../model/model.ts";
import { depthOf } from "../training/param_groups.ts";
import type { Trainer } from "../training/trainer.ts";

/** Mean absolute change of the parameters at one depth. */
export interface DepthUpdate {
  /**
   * 0 embeddings, i + 1 encoder layer i, L + 1 final norm and heads; with a
   * pretrained backbone its depths (see `depthOf`), everything new at the top.
   */
  readonly depth: number;
  readonly group: string;
  readonly meanAbsUpdate: number;
  /** The rate the trainer applied at this depth. */
  readonly learningRate: number;
}

/**
 * Takes one training step and measures, per depth, the mean |Δw| over the
 * parameters that changed. On Adam's first step |Δw| ≈ the group's rate.
 */
export function measureUpdateSizes(trainer: Trainer, batch: BatchTensors): DepthUpdate[] {
  const model = trainer.model;
  const numLayers = model.config.numLayers;
  const backboneLayers = model.backbone?.spec.layers.length ?? 0;
  const before = new Map(model.parameters.entries().map(([n, v]) => [n, v.dataSync().slice()]));
  const base = trainer.learningRate();
  trainer.trainStep(batch);
  const sums = new Map<number, { total: number; count: number; name: string }>();
  for (const [name, v] of model.parameters.entries()) {
    const after = v.dataSync();
    const old = before.get(name)!;
    const depth = depthOf(name, numLayers, { backboneLayers });
    const entry = sums.get(depth) ?? { total: 0, count: 0, name };
    for (let i = 0; i < after.length; i++) {
      const d = Math.abs(after[i]! - old[i]!);
      if (d > 0) {
        entry.total += d;
        entry.count++;
      }
    }
    sums.set(depth, entry);
  }
  return [...sums.entries()].sort((a, b) => a[0] - b[0]).map(([depth, { total, count, name }]) => ({
    depth,
    group: backboneLayers > 0
      ? depth === 0
        ? "backbone embeddings"
        : depth <= backboneLayers
        ? `backbone layer ${depth - 1}`
        : depth === backboneLayers + 1
        ? "backbone pooler"
        : "task encoder + heads"
      : depth === 0
      ? "embeddings"
      : depth <= numLayers
      ? `layer ${depth - 1}`
      : "heads + final norm",
    meanAbsUpdate: count === 0 ? 0 : total / count,
    // The final norm trains at the top rate, as the heads do.
    learningRate: name.startsWith("encoder/final_norm") ? base : trainer.rateFor(name, base),
  }));
}

/** A stage of the model and the shape of what it gave, measured. */
export interface StageShape {
  readonly stage: string;
  readonly shape: readonly number[];
}

/**
 * Runs a batch through the model stage by stage (inference, no dropout) and
 * returns the shape of every tensor on the way: the inputs, each stage of the
 * pretrained backbone (if any), the task encoder's token vectors, each head's
 * output and the sentence embedding. Leaves no tensor behind.
 */
export function measureShapes(model: MultiTaskModel, batch: BatchTensors): StageShape[] {
  const rows: StageShape[] = [];
  const add = (stage: string, t: tf.Tensor | undefined) => {
    if (t !== undefined) rows.push({ stage, shape: t.shape });
  };
  tf.tidy(() => {
    add("input: word ids", batch.tokenIds);
    add("input: letter-case ids", batch.caseIds);
    add("input: affix (and shape) ids", batch.affixIds);
    add("input: mask", batch.mask);
    const backbone = model.backbone;
    if (backbone !== undefined && batch.backbone !== undefined && batch.backbone.stage === 0) {
      const input = batch.backbone as Extract<BackboneTensors, { pieceIds: tf.Tensor2D }>;
      add("backbone input: piece ids", input.pieceIds);
      add("backbone input: word-to-piece alignment", input.alignment);
      const layers = backbone.spec.layers.length;
      let current: BackboneTensors = input;
      for (let stage = 1; stage <= layers + 1; stage++) {
        current = model.advanceBackbone(current, stage);
        if ("states" in current) {
          add(
            stage === 1 ? "backbone: piece embeddings + timing" : `backbone: layer ${stage - 2}`,
            current.states,
          );
        } else if ("mean" in current) {
          add(
            `backbone: layer ${layers - 1}, each word's state (pieces pooled)`,
            current.wordStates,
          );
          add(`backbone: layer ${layers - 1}, mean over pieces`, current.mean);
        }
      }
    }
    const out = model.forward(batch);
    add("backbone: pooler output (sentence vector)", out.pooledOutput);
    add("task encoder: token vectors", out.sequenceOutput);
    for (const [task, t] of Object.entries(out.outputs)) add(`${task} head: logits`, t);
    add("sentence embedding", model.embed(batch));
  });
  return rows;
}
