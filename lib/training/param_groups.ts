/**
 * Parameter groups: which parameters train (freezing) and at what learning
 * rate (layer-wise decay). Pure functions of parameter names.
 *
 * Depth of a parameter, bottom to top: embeddings 0, encoder layer i → i + 1,
 * final norm and heads L + 1 (L = number of layers).
 * @module
 */
import { EMBEDDINGS_PREFIX, layerPrefix, TOKEN_EMBEDDING } from "../model/encoder.ts";
import { headPrefix } from "../model/heads.ts";

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
 * `ner-head`), or a scenario name.
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
export function selects(selector: string, name: string): boolean {
  switch (selector) {
    case "none":
      return false;
    case "all":
      return true;
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
      return selects("embeddings", name) || selects("encoder", name);
  }
  const head = /^([a-z][a-z0-9_]*)-head$/.exec(selector);
  if (head !== null) return name.startsWith(headPrefix(head[1]!));
  const range = /^layers?:(\d+)(?:-(\d+))?$/.exec(selector);
  if (range !== null) {
    const from = Number(range[1]);
    const to = range[2] === undefined ? from : Number(range[2]);
    for (let i = from; i <= to; i++) if (name.startsWith(layerPrefix(i))) return true;
    return false;
  }
  throw new RangeError(
    `Cannot select parameters: unknown selector "${selector}" (expected all, embeddings, word-vectors, encoder, layer:I[-J], final-norm, heads, TASK-head or a scenario)`,
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
export function isFrozen(freeze: readonly string[], name: string): boolean {
  return freeze.some((selector) => selects(selector, name));
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
export function depthOf(name: string, numLayers: number): number {
  if (name.startsWith(EMBEDDINGS_PREFIX)) return 0;
  const layer = /^encoder\/layer_(\d+)\//.exec(name);
  if (layer !== null) return Number(layer[1]) + 1;
  return numLayers + 1;
}

/** Options of {@linkcode learningRateMultiplier}. */
export interface LayerRateOptions {
  /** Rate ratio between adjacent depths; 1 disables layer-wise rates. */
  readonly layerDecay: number;
  /** Extra multiplier for the heads. @default 1 */
  readonly headMultiplier?: number;
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
 * ```
 */
export function learningRateMultiplier(
  name: string,
  numLayers: number,
  options: LayerRateOptions,
): number {
  const depth = depthOf(name, numLayers);
  const top = numLayers + 1;
  const head = depth === top && !name.startsWith("encoder/") ? options.headMultiplier ?? 1 : 1;
  return options.layerDecay ** (top - depth) * head;
}

/** Whether decoupled weight decay (AdamW) applies: not to biases or LayerNorm parameters. */
export function decays(name: string): boolean {
  return !(name.endsWith("/bias") || name.endsWith("/gamma") || name.endsWith("/beta"));
}

/**
 * Layer groups from the top, for gradual unfreezing (ULMFiT): the heads and the
 * final norm first, then layer L-1, ..., layer 0, then the embeddings.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unfreezeOrder } from "./param_groups.ts";
 * assert.deepEqual(unfreezeOrder(2), [["heads", "final-norm"], ["layer:1"], ["layer:0"], ["embeddings"]]);
 * ```
 */
export function unfreezeOrder(numLayers: number): string[][] {
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
): string[] {
  const frozen = [...train.freeze];
  if (epoch <= train.unfreezeAfter) frozen.push("backbone");
  if (train.gradualUnfreeze) frozen.push(...unfreezeOrder(numLayers).slice(epoch).flat());
  return frozen;
}
