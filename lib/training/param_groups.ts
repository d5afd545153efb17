/**
 * Parameter groups: which parameters train (freezing) and at what learning
 * rate (layer-wise decay). Pure functions of parameter names.
 *
 * Depth of a parameter, bottom to top, without a pretrained backbone:
 * embeddings 0, encoder layer i → i + 1, final norm and heads L + 1 (L =
 * number of layers). With one, depth runs through the pretrained part (its
 * embeddings 0, its layer i → i + 1, its pooler B + 1, B = its layers) and
 * everything trained from scratch (task encoder and heads) is on top, at B + 2.
 * @module
 */
import { EMBEDDINGS_PREFIX, layerPrefix, TOKEN_EMBEDDING } from "../model/encoder.ts";
import { headPrefix } from "../model/heads.ts";
import {
  BACKBONE_PREFIX,
  backboneLayerPrefix,
  PIECE_EMBEDDING,
  POOLER_PREFIX,
} from "../model/use_lite.ts";

/** What a selector means depends on whether the model has a pretrained backbone. */
export interface SelectorContext {
  /** Layers of the model's pretrained backbone (0: it has none). @default 0 */
  readonly backboneLayers?: number;
}

/** Named freezing scenarios (besides `TASK-head` for one task's head). */
export type FreezeScenario = "none" | "all" | "backbone" | "heads";

/** The selectors each scenario freezes. */
export const FREEZE_SCENARIOS: Readonly<Record<FreezeScenario, readonly string[]>> = {
  none: [],
  all: ["all"],
  backbone: ["embeddings", "encoder"],
  heads: ["heads"],
};

/** The ULMFiT layer-wise decay, `lr_{l-1} = lr_l / 2.6` (Howard & Ruder, 2018). */
export const ULMFIT_LAYER_DECAY = 1 / 2.6;

/**
 * Whether `selector` covers parameter `name`. Selectors: `all`, `embeddings`,
 * `word-vectors` (the word embedding table, e.g. pretrained vectors; not their
 * projection), `encoder` (all layers and the final norm), `layer:I` or `layer:I-J`,
 * `final-norm`, `heads` (every task head), `TASK-head` (one task's head, e.g.
 * `ner-head`), or a scenario name. `backbone` is the pretrained backbone when
 * the model has one (`context.backboneLayers > 0`), else the task encoder and
 * its embeddings (the shared part of a model trained from scratch); the parts
 * of a pretrained backbone are `backbone:embeddings`, `backbone:layer:I[-J]`
 * and `backbone:pooler`. The task encoder's selectors (`embeddings`,
 * `encoder`, `layer:I`, …) never select the pretrained backbone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { selects } from "./param_groups.ts";
 * assert.ok(selects("layer:0-1", "encoder/layer_1/ffn/in/kernel"));
 * assert.ok(!selects("layer:0", "encoder/layer_1/ffn/in/kernel"));
 * assert.ok(selects("backbone", "embeddings/token"));
 * assert.ok(!selects("backbone", "ner_head/kernel"));
 * assert.ok(selects("pos-head", "pos_head/bias"));
 * assert.ok(selects("heads", "sentiment_head/kernel"));
 * ```
 */
export function selects(selector: string, name: string, context: SelectorContext = {}): boolean {
  switch (selector) {
    case "none":
      return false;
    case "all":
      return true;
    case "backbone:embeddings":
      return name === PIECE_EMBEDDING;
    case "backbone:pooler":
      return name.startsWith(POOLER_PREFIX);
    case "embeddings":
      return name.startsWith(EMBEDDINGS_PREFIX);
    case "word-vectors":
      return name === TOKEN_EMBEDDING;
    case "encoder":
      return name.startsWith("encoder/");
    case "final-norm":
      return name.startsWith("encoder/final_norm/");
    case "heads":
      return /^[a-z][a-z0-9_]*_head\//.test(name);
    case "backbone":
      return (context.backboneLayers ?? 0) > 0
        ? name.startsWith(BACKBONE_PREFIX)
        : selects("embeddings", name) || selects("encoder", name);
  }
  const head = /^([a-z][a-z0-9_]*)-head$/.exec(selector);
  if (head !== null) return name.startsWith(headPrefix(head[1]!));
  const range = /^(backbone:)?layers?:(\d+)(?:-(\d+))?$/.exec(selector);
  if (range !== null) {
    const prefix = range[1] === undefined ? layerPrefix : backboneLayerPrefix;
    const from = Number(range[2]);
    const to = range[3] === undefined ? from : Number(range[3]);
    for (let i = from; i <= to; i++) if (name.startsWith(prefix(i))) return true;
    return false;
  }
  throw new RangeError(
    `Cannot select parameters: unknown selector "${selector}" (expected all, backbone, backbone:embeddings, backbone:layer:I[-J], backbone:pooler, embeddings, word-vectors, encoder, layer:I[-J], final-norm, heads, TASK-head or a scenario)`,
  );
}

/**
 * Whether `name` is frozen under a list of selectors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isFrozen } from "./param_groups.ts";
 * assert.ok(isFrozen(["embeddings", "ner-head"], "ner_head/bias"));
 * assert.ok(!isFrozen([], "ner_head/bias"));
 * ```
 */
export function isFrozen(
  freeze: readonly string[],
  name: string,
  context: SelectorContext = {},
): boolean {
  return freeze.some((selector) => selects(selector, name, context));
}

/**
 * Depth of a parameter: 0 embeddings, i + 1 for encoder layer i, L + 1 for the
 * final norm, heads and anything else on top.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { depthOf } from "./param_groups.ts";
 * assert.equal(depthOf("embeddings/token", 2), 0);
 * assert.equal(depthOf("encoder/layer_1/ln_1/gamma", 2), 2);
 * assert.equal(depthOf("sentiment_head/kernel", 2), 3);
 * ```
 */
export function depthOf(name: string, numLayers: number, context: SelectorContext = {}): number {
  const backboneLayers = context.backboneLayers ?? 0;
  if (backboneLayers > 0) {
    if (name === PIECE_EMBEDDING) return 0;
    const layer = /^backbone\/layer_(\d+)\//.exec(name);
    if (layer !== null) return Number(layer[1]) + 1;
    if (name.startsWith(BACKBONE_PREFIX)) return backboneLayers + 1;
    return backboneLayers + 2;
  }
  if (name.startsWith(EMBEDDINGS_PREFIX)) return 0;
  const layer = /^encoder\/layer_(\d+)\//.exec(name);
  if (layer !== null) return Number(layer[1]) + 1;
  return numLayers + 1;
}

/** The top depth of {@linkcode depthOf}: heads and what else trains at the base rate. */
export function topDepth(numLayers: number, context: SelectorContext = {}): number {
  const backboneLayers = context.backboneLayers ?? 0;
  return backboneLayers > 0 ? backboneLayers + 2 : numLayers + 1;
}

/** Options of {@linkcode learningRateMultiplier}. */
export interface LayerRateOptions {
  /** Rate ratio between adjacent depths; 1 disables layer-wise rates. */
  readonly layerDecay: number;
  /** Extra multiplier for the heads. @default 1 */
  readonly headMultiplier?: number;
  /** Which depths the decay lowers: `all`, or only the `embeddings` (depth 0). @default "all" */
  readonly scope?: "all" | "embeddings";
  /** Layers of the model's pretrained backbone (see {@linkcode depthOf}). @default 0 */
  readonly backboneLayers?: number;
}

/**
 * Multiplier of the base rate for a parameter: `decay^(L + 1 - depth)`, so the
 * top (final norm and heads) trains at the base rate times `headMultiplier`,
 * layer `l` at `decay^(L - l)` and the embeddings lowest, at `decay^(L + 1)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { learningRateMultiplier } from "./param_groups.ts";
 * const o = { layerDecay: 0.5 };
 * assert.equal(learningRateMultiplier("ner_head/kernel", 2, o), 1);
 * assert.equal(learningRateMultiplier("encoder/layer_1/ffn/in/bias", 2, o), 0.5);
 * assert.equal(learningRateMultiplier("encoder/layer_0/ffn/in/bias", 2, o), 0.25);
 * assert.equal(learningRateMultiplier("embeddings/token", 2, o), 0.125);
 * const low = { layerDecay: 0.5, scope: "embeddings" as const };
 * assert.equal(learningRateMultiplier("encoder/layer_0/ffn/in/bias", 2, low), 1);
 * assert.equal(learningRateMultiplier("embeddings/token", 2, low), 0.125);
 * ```
 */
export function learningRateMultiplier(
  name: string,
  numLayers: number,
  options: LayerRateOptions,
): number {
  const depth = depthOf(name, numLayers, options);
  const top = topDepth(numLayers, options);
  const head = /^[a-z][a-z0-9_]*_head\//.test(name) ? options.headMultiplier ?? 1 : 1;
  if (options.scope === "embeddings" && depth > 0) return head;
  return options.layerDecay ** (top - depth) * head;
}

/**
 * The parameter-weighted mean of {@linkcode learningRateMultiplier} over the
 * given parameters: the one rate that, without layer-wise decay, gives the
 * parameters the same mean rate (the control of a layer-wise decay run).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { meanRateMultiplier } from "./param_groups.ts";
 * const p = [{ name: "ner_head/kernel", size: 1 }, { name: "embeddings/token", size: 3 }];
 * assert.equal(meanRateMultiplier(p, 2, { layerDecay: 0.5 }), (1 + 3 * 0.125) / 4);
 * ```
 */
export function meanRateMultiplier(
  parameters: readonly { readonly name: string; readonly size: number }[],
  numLayers: number,
  options: LayerRateOptions,
): number {
  let weighted = 0, total = 0;
  for (const { name, size } of parameters) {
    weighted += size * learningRateMultiplier(name, numLayers, options);
    total += size;
  }
  return total === 0 ? 1 : weighted / total;
}

/** Whether decoupled weight decay (AdamW) applies: not to biases or LayerNorm parameters. */
export function decays(name: string): boolean {
  return !(name.endsWith("/bias") || name.endsWith("/gamma") || name.endsWith("/beta"));
}

/**
 * Layer groups from the top, for gradual unfreezing (ULMFiT): the heads and the
 * final norm first, then layer L-1, ..., layer 0, then the embeddings. With a
 * pretrained backbone, everything trained from scratch (heads, task encoder
 * and its embeddings) comes first, then the backbone thaws from the top: its
 * pooler, its layers from the last, its embeddings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unfreezeOrder } from "./param_groups.ts";
 * assert.deepEqual(unfreezeOrder(2), [["heads", "final-norm"], ["layer:1"], ["layer:0"], ["embeddings"]]);
 * assert.deepEqual(unfreezeOrder(2, { backboneLayers: 2 }).slice(1),
 *   [["backbone:pooler"], ["backbone:layer:1"], ["backbone:layer:0"], ["backbone:embeddings"]]);
 * ```
 */
export function unfreezeOrder(numLayers: number, context: SelectorContext = {}): string[][] {
  const backboneLayers = context.backboneLayers ?? 0;
  if (backboneLayers > 0) {
    // What is new trains from the start; the pretrained part thaws from the top.
    return [
      ["heads", "encoder", "embeddings"],
      ["backbone:pooler"],
      ...Array.from(
        { length: backboneLayers },
        (_, i) => [`backbone:layer:${backboneLayers - 1 - i}`],
      ),
      ["backbone:embeddings"],
    ];
  }
  return [
    ["heads", "final-norm"],
    ...Array.from({ length: numLayers }, (_, i) => [`layer:${numLayers - 1 - i}`]),
    ["embeddings"],
  ];
}

/**
 * The freeze selectors in force during `epoch` (1-based): the configured ones,
 * plus the backbone while `epoch <= unfreezeAfter`, plus, with gradual
 * unfreezing, every layer group below the top `epoch` groups.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { frozenForEpoch } from "./param_groups.ts";
 * const base = { freeze: [], unfreezeAfter: 0, gradualUnfreeze: true };
 * assert.deepEqual(frozenForEpoch(1, base, 2), ["layer:1", "layer:0", "embeddings"]);
 * assert.deepEqual(frozenForEpoch(4, base, 2), []);
 * const twoStage = { freeze: ["ner-head"], unfreezeAfter: 2, gradualUnfreeze: false };
 * assert.deepEqual(frozenForEpoch(2, twoStage, 2), ["ner-head", "backbone"]);
 * assert.deepEqual(frozenForEpoch(3, twoStage, 2), ["ner-head"]);
 * ```
 */
export function frozenForEpoch(
  epoch: number,
  train: {
    readonly freeze: readonly string[];
    readonly unfreezeAfter: number;
    readonly gradualUnfreeze: boolean;
  },
  numLayers: number,
  context: SelectorContext = {},
): string[] {
  const frozen = [...train.freeze];
  if (epoch <= train.unfreezeAfter) frozen.push("backbone");
  if (train.gradualUnfreeze) frozen.push(...unfreezeOrder(numLayers, context).slice(epoch).flat());
  return frozen;
}

/**
 * The stage at which batches enter a pretrained backbone when some of it is
 * frozen: the first stage (0 embeddings, i + 1 layer i, B + 1 the pooler)
 * with a trainable parameter; B + 1 when none below the pooler trains. The
 * stages beneath it run once, without dropout (see `training/feature_cache.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { backboneEntryStage } from "./param_groups.ts";
 * const names = ["backbone/embeddings/pieces", "backbone/layer_0/ffn/in/kernel", "backbone/layer_1/ffn/in/kernel"];
 * const trainable = (name: string) => name.startsWith("backbone/layer_1/");
 * assert.equal(backboneEntryStage(names, trainable, 2), 2);
 * assert.equal(backboneEntryStage(names, () => false, 2), 3);
 * assert.equal(backboneEntryStage(names, () => true, 2), 0);
 * ```
 */
export function backboneEntryStage(
  names: readonly string[],
  trainable: (name: string) => boolean,
  backboneLayers: number,
): number {
  for (let stage = 0; stage <= backboneLayers; stage++) {
    const prefix = stage === 0 ? PIECE_EMBEDDING : backboneLayerPrefix(stage - 1);
    if (names.some((name) => name.startsWith(prefix) && trainable(name))) return stage;
  }
  return backboneLayers + 1;
}
