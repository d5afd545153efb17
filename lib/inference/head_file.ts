/**
 * A sentence head taught after training: a softmax layer over a model's
 * sentence embeddings, kept in its own JSON file (the page trains one in the
 * browser; `predict --head FILE` applies it). Plain arithmetic, so a head
 * gives the same probabilities in Deno and in a browser.
 *
 * ```json
 * { "format": "mtt-sentence-head", "version": 1, "name": "topic", "labels": ["sport", "money"],
 *   "embeddingSize": 512, "normalize": true, "kernel": [[…], …], "bias": [0.1, -0.1] }
 * ```
 * @module
 */
import { z } from "zod";
import { DataError } from "../core/errors.ts";
import { parseSchema } from "../core/schema.ts";
import { TASK_NAME } from "../core/tasks.ts";

/** The head file format: `kernel` is `[embeddingSize][labels]`. */
export const HeadFileSchema = z.object({
  format: z.literal("mtt-sentence-head"),
  version: z.literal(1),
  name: z.string().regex(TASK_NAME),
  labels: z.array(z.string().min(1)).min(2),
  embeddingSize: z.number().int().min(1),
  /** Whether the head reads L2-normalised embeddings. */
  normalize: z.boolean(),
  kernel: z.array(z.array(z.number())),
  bias: z.array(z.number()),
}).strict().superRefine((head, ctx) => {
  const n = head.labels.length;
  if (head.kernel.length !== head.embeddingSize || head.kernel.some((row) => row.length !== n)) {
    ctx.addIssue({
      code: "custom",
      path: ["kernel"],
      message: `expected ${head.embeddingSize} rows of ${n} numbers`,
    });
  }
  if (head.bias.length !== n) {
    ctx.addIssue({ code: "custom", path: ["bias"], message: `expected ${n} numbers` });
  }
});

/** A head file, parsed. */
export type HeadFile = z.infer<typeof HeadFileSchema>;

/** A head's answer for one sentence. */
export interface HeadLabel {
  readonly label: string;
  readonly probabilities: Readonly<Record<string, number>>;
}

/**
 * Validates a parsed head file.
 * @throws {DataError} naming the file and field
 */
export function parseHeadFile(value: unknown, file: string): HeadFile {
  return parseSchema(
    HeadFileSchema,
    value,
    (field, detail) => new DataError(detail, { file, field }),
  );
}

/** L2-normalised copy of `v` (a zero vector stays zero). */
export function normalized(v: ArrayLike<number>): Float64Array {
  let norm = 0;
  for (let i = 0; i < v.length; i++) norm += v[i]! ** 2;
  const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
  return Float64Array.from(v, (x) => x * scale);
}

/** The head's softmax probabilities for one embedding (normalised first if the head says so). */
export function headProbabilities(head: HeadFile, embedding: ArrayLike<number>): number[] {
  const x = head.normalize ? normalized(embedding) : embedding;
  const logits = head.bias.map((b, j) => {
    let z = b;
    for (let i = 0; i < head.embeddingSize; i++) z += x[i]! * head.kernel[i]![j]!;
    return z;
  });
  const max = Math.max(...logits);
  const exps = logits.map((z) => Math.exp(z - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

/**
 * The head's label and probabilities for each embedding.
 * @throws {RangeError} when the embeddings are not the size the head was taught on
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { applyHead } from "./head_file.ts";
 * import type { HeadFile } from "./head_file.ts";
 * const head: HeadFile = { format: "mtt-sentence-head", version: 1, name: "t", labels: ["a", "b"],
 *   embeddingSize: 2, normalize: false, kernel: [[1, -1], [0, 0]], bias: [0, 0] };
 * const [out] = applyHead(head, [new Float32Array([2, 5])]);
 * assert.equal(out!.label, "a");
 * assert.ok(Math.abs(out!.probabilities.a! - 1 / (1 + Math.exp(-4))) < 1e-12);
 * ```
 */
export function applyHead(
  head: HeadFile,
  embeddings: readonly ArrayLike<number>[],
): HeadLabel[] {
  return embeddings.map((e) => {
    if (e.length !== head.embeddingSize) {
      throw new RangeError(
        `Cannot apply head "${head.name}": it was taught on embeddings of ${head.embeddingSize}, this model gives ${e.length}`,
      );
    }
    const p = headProbabilities(head, e);
    const best = p.indexOf(Math.max(...p));
    return {
      label: head.labels[best]!,
      probabilities: Object.fromEntries(head.labels.map((l, j) => [l, p[j]!])),
    };
  });
}
