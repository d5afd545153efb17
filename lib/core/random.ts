/**
 * Seeded pseudo-random numbers for data order and seeds of tensor ops, so a
 * config's seed fixes a whole run. Pure functions of their inputs.
 * @module
 */

/**
 * Mixes integers into one 32-bit seed (FNV-1a over the parts, then a finaliser).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { deriveSeed } from "./random.ts";
 * assert.equal(deriveSeed(42, 1), deriveSeed(42, 1));
 * assert.notEqual(deriveSeed(42, 1), deriveSeed(42, 2));
 * ```
 */
export function deriveSeed(...parts: (number | string)[]): number {
  let h = 0x811c9dc5;
  for (const part of parts) {
    const s = String(part) + "\u0000";
    for (let i = 0; i < s.length; i++) {
      h ^= s.charCodeAt(i);
      h = Math.imul(h, 0x01000193);
    }
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  return h >>> 0;
}

/** A generator of uniform floats in [0, 1) (mulberry32). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Fisher–Yates shuffle of a copy of `items`, driven by `seed`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shuffled } from "./random.ts";
 * assert.deepEqual(shuffled([1, 2, 3, 4], 7), shuffled([1, 2, 3, 4], 7));
 * assert.deepEqual([...shuffled([1, 2, 3, 4], 7)].sort(), [1, 2, 3, 4]);
 * ```
 */
export function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  const random = mulberry32(seed);
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
