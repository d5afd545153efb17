/**
 * Diagnostics of training: how far one optimisation step moves each layer
 * group, to check that layer-wise learning rates are applied as configured.
 * @module
 */
import type { BatchTensors } from "../data/encoding.ts";
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
