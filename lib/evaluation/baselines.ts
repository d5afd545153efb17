/**
 * Reference points that need no trained model: sentence embeddings as the
 * average of their words' pretrained vectors (the "average GloVe" baseline of
 * the sentence-embedding literature), and the pretrained backbone as shipped
 * (its zero-shot sentence embeddings).
 * @module
 */
import { resolveConfig } from "../core/config.ts";
import type { BackboneFiles } from "../data/backbone_files.ts";
import { type PieceText, SPECIAL_TOKENS, WordTokenizer } from "../data/tokenizer.ts";
import { vectorIndex, type WordVectors } from "../data/vectors.ts";
import type { ModelBundle } from "../model/checkpoint.ts";
import { MultiTaskModel } from "../model/model.ts";
import { USE_LITE, useLiteWeights } from "../model/use_lite.ts";

/**
 * Each sentence's mean word vector: words looked up lowercased (as GloVe's
 * vocabulary is), words without a vector skipped; all zeros when none has one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { meanWordVectors } from "./baselines.ts";
 * const vectors = { words: ["a", "b"], dim: 2, data: Float32Array.from([1, 0, 0, 3]) };
 * const [ab, none] = meanWordVectors(vectors, [["A", "b", "zzz"], ["zzz"]]);
 * assert.deepEqual([...ab!], [0.5, 1.5]);
 * assert.deepEqual([...none!], [0, 0]);
 * ```
 */
export function meanWordVectors(
  vectors: WordVectors,
  sentences: readonly (readonly string[])[],
  index: ReadonlyMap<string, number> = vectorIndex(vectors, true),
): Float32Array[] {
  const { dim, data } = vectors;
  return sentences.map((words) => {
    const sum = new Float64Array(dim);
    let n = 0;
    for (const word of words) {
      const row = index.get(word.toLowerCase());
      if (row === undefined) continue;
      for (let k = 0; k < dim; k++) sum[k]! += data[row * dim + k]!;
      n++;
    }
    return Float32Array.from(sum, (x) => (n === 0 ? 0 : x / n));
  });
}

/**
 * The pretrained backbone as shipped, as a model without tasks: its sentence
 * embeddings are the backbone's pooled output (what `embed` and similarity
 * scoring read), untouched by any training. Dispose `model` when done.
 * @param text what the backbone reads of the words (see `model.backboneText`)
 */
export function backboneBaseline(files: BackboneFiles, text: PieceText = "words"): ModelBundle {
  const config = resolveConfig({
    model: {
      backbone: files.source.name,
      backboneText: text,
      numLayers: 0,
      hiddenSize: 4,
      numHeads: 1,
      ffnSize: 4,
    },
    tokenizer: { affixBuckets: 0 },
  });
  const tokenizer = new WordTokenizer(SPECIAL_TOKENS, true).withPieces(
    files.vocab,
    USE_LITE.maxPieces,
    text,
  );
  const model = new MultiTaskModel(
    config.model,
    { vocabSize: SPECIAL_TOKENS.length, tasks: [] },
    1,
  );
  model.parameters.assign(useLiteWeights(files), files.dir);
  return { config, tokenizer, tasks: [], model };
}
