/**
 * Reference points that need no trained model: sentence embeddings as the
 * average of their words' pretrained vectors (the "average GloVe" baseline of
 * the sentence-embedding literature).
 * @module
 */
import { vectorIndex, type WordVectors } from "../data/vectors.ts";

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
