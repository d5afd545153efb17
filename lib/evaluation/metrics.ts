/**
 * Evaluation metrics, as pure functions over label strings.
 *
 * Entity scores follow the conlleval script (CoNLL-2000/2003): chunks are decoded
 * from each tag sequence independently (an entity starts at `B-X`, at `I-X` after
 * `O`, or at a change of type), and a predicted entity is correct only when its
 * start, end and type all equal a gold entity's. Precision, recall and F1 are
 * micro-averaged over entities; token accuracy counts every token, `O` included.
 * @module
 */
import { DataError } from "../core/errors.ts";
import { type Span, tagsToSpans } from "../data/labels.ts";

/** Precision, recall and F1 (fractions in [0, 1]) with the counts behind them. */
export interface PrfScore {
  readonly precision: number;
  readonly recall: number;
  readonly f1: number;
  /** Correctly predicted entities. */
  readonly correct: number;
  /** Predicted entities. */
  readonly predicted: number;
  /** Gold entities. */
  readonly gold: number;
}

/** Entity-level scores of a tagged corpus. */
export interface EntityScores extends PrfScore {
  /** Per entity type, over types seen in gold or predictions, sorted by name. */
  readonly byType: Readonly<Record<string, PrfScore>>;
  /** Fraction of tokens whose predicted tag equals the gold tag. */
  readonly tokenAccuracy: number;
  readonly tokens: number;
}

/**
 * Scores predicted tag sequences against gold ones, conlleval-style.
 *
 * @param gold one tag sequence per sentence (IOB1 or IOB2)
 * @param predicted same shape as `gold`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { entityScores } from "./metrics.ts";
 * const s = entityScores([["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "B-ORG"]]);
 * assert.equal(s.precision, 0.5);
 * assert.equal(s.recall, 0.5);
 * assert.equal(s.tokenAccuracy, 0.75);
 * assert.equal(s.byType.PER?.f1, 1);
 * ```
 */
export function entityScores(
  gold: readonly (readonly string[])[],
  predicted: readonly (readonly string[])[],
): EntityScores {
  if (gold.length !== predicted.length) {
    throw new RangeError(
      `Cannot score entities: ${gold.length} gold sentences but ${predicted.length} predicted`,
    );
  }
  const counts = new Map<string, { correct: number; predicted: number; gold: number }>();
  const count = (type: string) => {
    let c = counts.get(type);
    if (c === undefined) counts.set(type, c = { correct: 0, predicted: 0, gold: 0 });
    return c;
  };
  let tokens = 0;
  let correctTags = 0;
  gold.forEach((goldTags, i) => {
    const predTags = predicted[i]!;
    if (goldTags.length !== predTags.length) {
      throw new RangeError(
        `Cannot score entities: sentence ${i} has ${goldTags.length} gold tags but ${predTags.length} predicted`,
      );
    }
    tokens += goldTags.length;
    goldTags.forEach((t, j) => {
      if (t === predTags[j]) correctTags++;
    });
    const goldSpans = tagsToSpans(goldTags);
    const predSpans = tagsToSpans(predTags);
    const key = (s: Span) => `${s.start}:${s.end}:${s.type}`;
    const goldKeys = new Set(goldSpans.map(key));
    for (const s of goldSpans) count(s.type).gold++;
    for (const s of predSpans) {
      const c = count(s.type);
      c.predicted++;
      if (goldKeys.has(key(s))) c.correct++;
    }
  });
  const byType: Record<string, PrfScore> = {};
  let correct = 0, predictedTotal = 0, goldTotal = 0;
  for (const type of [...counts.keys()].sort()) {
    const c = counts.get(type)!;
    byType[type] = prf(c.correct, c.predicted, c.gold);
    correct += c.correct;
    predictedTotal += c.predicted;
    goldTotal += c.gold;
  }
  return {
    ...prf(correct, predictedTotal, goldTotal),
    byType,
    tokenAccuracy: tokens === 0 ? 0 : correctTags / tokens,
    tokens,
  };
}

/**
 * Precision, recall and F1 from counts; 0 where undefined (as conlleval prints).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { prf } from "./metrics.ts";
 * assert.deepEqual(prf(3, 4, 6), { precision: 0.75, recall: 0.5, f1: 0.6, correct: 3, predicted: 4, gold: 6 });
 * assert.equal(prf(0, 0, 2).f1, 0);
 * ```
 */
export function prf(correct: number, predicted: number, gold: number): PrfScore {
  const precision = predicted === 0 ? 0 : correct / predicted;
  const recall = gold === 0 ? 0 : correct / gold;
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { precision, recall, f1, correct, predicted, gold };
}

/**
 * Reads conlleval's input format: one token per line whose last two columns are
 * the gold and the predicted tag, a blank line (or a line starting with `-X-`)
 * between sentences. As in conlleval, a `-DOCSTART-` line is an ordinary token.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConllevalInput } from "./metrics.ts";
 * const { gold, predicted } = parseConllevalInput("EU NNP I-ORG I-ORG\nrejects VBZ O O\n\nPeter NNP I-PER O\n", "out.txt");
 * assert.deepEqual(gold, [["I-ORG", "O"], ["I-PER"]]);
 * assert.deepEqual(predicted, [["I-ORG", "O"], ["O"]]);
 * ```
 */
export function parseConllevalInput(
  text: string,
  file: string,
): { gold: string[][]; predicted: string[][] } {
  const gold: string[][] = [];
  const predicted: string[][] = [];
  let g: string[] = [];
  let p: string[] = [];
  const flush = () => {
    if (g.length > 0) {
      gold.push(g);
      predicted.push(p);
    }
    g = [];
    p = [];
  };
  text.split("\n").forEach((raw, index) => {
    const line = raw.trim();
    if (line === "") return flush();
    const columns = line.split(/\s+/);
    if (columns[0] === "-X-") return flush();
    if (columns.length < 3) {
      throw new DataError(
        `expected at least 3 columns (token, gold tag, predicted tag), got ${columns.length}`,
        { file, line: index + 1 },
      );
    }
    g.push(columns[columns.length - 2]!);
    p.push(columns[columns.length - 1]!);
  });
  flush();
  return { gold, predicted };
}

/** Sentence-classification scores. */
export interface ClassificationScores {
  readonly accuracy: number;
  /** Unweighted mean of per-label F1 over `labels`. */
  readonly macroF1: number;
  readonly byLabel: Readonly<Record<string, PrfScore>>;
  /** `confusion[gold][predicted]` counts, over `labels` in order. */
  readonly confusion: readonly (readonly number[])[];
  readonly labels: readonly string[];
  readonly count: number;
}

/**
 * Accuracy, macro-F1, per-label scores and the confusion matrix.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { classificationScores } from "./metrics.ts";
 * const s = classificationScores(["pos", "pos", "neg", "neg"], ["pos", "neg", "neg", "neg"], ["neg", "pos"]);
 * assert.equal(s.accuracy, 0.75);
 * assert.deepEqual(s.confusion, [[2, 0], [1, 1]]);
 * assert.equal(s.macroF1, (0.8 + 2 / 3) / 2);
 * ```
 */
export function classificationScores(
  gold: readonly string[],
  predicted: readonly string[],
  labels: readonly string[],
): ClassificationScores {
  if (gold.length !== predicted.length) {
    throw new RangeError(
      `Cannot score labels: ${gold.length} gold but ${predicted.length} predicted`,
    );
  }
  const index = new Map(labels.map((l, i) => [l, i]));
  const confusion = labels.map(() => labels.map(() => 0));
  let correct = 0;
  gold.forEach((g, i) => {
    const gi = index.get(g);
    const pi = index.get(predicted[i]!);
    if (gi === undefined || pi === undefined) {
      throw new RangeError(
        `Cannot score labels: "${gi === undefined ? g : predicted[i]}" is not a label`,
      );
    }
    confusion[gi]![pi]!++;
    if (gi === pi) correct++;
  });
  const byLabel: Record<string, PrfScore> = {};
  labels.forEach((label, i) => {
    const tp = confusion[i]![i]!;
    const predictedCount = confusion.reduce((n, row) => n + row[i]!, 0);
    const goldCount = confusion[i]!.reduce((n, c) => n + c, 0);
    byLabel[label] = prf(tp, predictedCount, goldCount);
  });
  const macroF1 = labels.length === 0
    ? 0
    : labels.reduce((n, l) => n + byLabel[l]!.f1, 0) / labels.length;
  return {
    accuracy: gold.length === 0 ? 0 : correct / gold.length,
    macroF1,
    byLabel,
    confusion,
    labels,
    count: gold.length,
  };
}

/** Recall over one group of gold entities. */
export interface GroupRecall {
  /** Gold entities in the group. */
  readonly gold: number;
  /** Of those, predicted with exact span and type. */
  readonly found: number;
  /** `found / gold` (NaN for an empty group). */
  readonly recall: number;
}

/** Entity recall split by whether the entity contains an out-of-vocabulary word. */
export interface UnknownWordRecall {
  readonly unknown: GroupRecall;
  readonly known: GroupRecall;
}

/**
 * Splits gold entities into those with at least one unknown word and the rest,
 * and gives the recall of each group: where a word-level model loses entities.
 *
 * @param unknown per sentence, per word: whether the word is out of vocabulary
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unknownWordRecall } from "./metrics.ts";
 * const r = unknownWordRecall(
 *   [["B-PER", "I-PER", "O", "B-LOC"]],
 *   [["B-PER", "I-PER", "O", "O"]],
 *   [[true, false, false, false]],
 * );
 * assert.deepEqual(r.unknown, { gold: 1, found: 1, recall: 1 });
 * assert.deepEqual(r.known, { gold: 1, found: 0, recall: 0 });
 * ```
 */
export function unknownWordRecall(
  gold: readonly (readonly string[])[],
  predicted: readonly (readonly string[])[],
  unknown: readonly (readonly boolean[])[],
): UnknownWordRecall {
  if (gold.length !== predicted.length || gold.length !== unknown.length) {
    throw new RangeError(
      `Cannot split recall: ${gold.length} gold, ${predicted.length} predicted and ${unknown.length} unknown-word sequences`,
    );
  }
  const counts = { unknown: { gold: 0, found: 0 }, known: { gold: 0, found: 0 } };
  gold.forEach((tags, i) => {
    const found = new Set(tagsToSpans(predicted[i]!).map((s) => `${s.type}:${s.start}:${s.end}`));
    for (const span of tagsToSpans(tags)) {
      const group = unknown[i]!.slice(span.start, span.end).some((u) => u)
        ? counts.unknown
        : counts.known;
      group.gold++;
      if (found.has(`${span.type}:${span.start}:${span.end}`)) group.found++;
    }
  });
  const finish = (c: { gold: number; found: number }) => ({ ...c, recall: c.found / c.gold });
  return { unknown: finish(counts.unknown), known: finish(counts.known) };
}

/** Correlations of predicted similarities with gold scores. */
export interface SimilarityScores {
  /** Spearman's rank correlation (ties get their average rank). */
  readonly spearman: number;
  readonly pearson: number;
  readonly pairs: number;
}

/**
 * Pearson's correlation of two equally long samples (NaN when either is constant).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { pearson } from "./metrics.ts";
 * assert.equal(pearson([1, 2, 3], [2, 4, 6]), 1);
 * assert.equal(pearson([1, 2, 3], [3, 2, 1]), -1);
 * ```
 */
export function pearson(x: ArrayLike<number>, y: ArrayLike<number>): number {
  if (x.length !== y.length) {
    throw new RangeError(`Cannot correlate ${x.length} with ${y.length} values`);
  }
  const n = x.length;
  let mx = 0, my = 0;
  for (let i = 0; i < n; i++) {
    mx += x[i]!;
    my += y[i]!;
  }
  mx /= n;
  my /= n;
  let sxy = 0, sxx = 0, syy = 0;
  for (let i = 0; i < n; i++) {
    const dx = x[i]! - mx, dy = y[i]! - my;
    sxy += dx * dy;
    sxx += dx * dx;
    syy += dy * dy;
  }
  return sxy / Math.sqrt(sxx * syy);
}

/**
 * 1-based ranks, ties sharing their average rank (as `scipy.stats.rankdata`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ranks } from "./metrics.ts";
 * assert.deepEqual([...ranks([10, 20, 10, 30])], [1.5, 3, 1.5, 4]);
 * ```
 */
export function ranks(x: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: x.length }, (_, i) => i).sort((a, b) => x[a]! - x[b]!);
  const out = new Float64Array(x.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && x[order[j + 1]!] === x[order[i]!]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) out[order[k]!] = rank;
    i = j + 1;
  }
  return out;
}

/**
 * Spearman's rank correlation: Pearson's correlation of the ranks, ties
 * averaged (as `scipy.stats.spearmanr`, the STS Benchmark's protocol).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spearman } from "./metrics.ts";
 * assert.equal(spearman([1, 2, 3, 4], [10, 20, 30, 1000]), 1);
 * assert.ok(Math.abs(spearman([1, 2, 2, 3], [1, 3, 2, 4]) - 0.9486832980505138) < 1e-12);
 * ```
 */
export function spearman(x: ArrayLike<number>, y: ArrayLike<number>): number {
  return pearson(ranks(x), ranks(y));
}

/** Spearman's and Pearson's correlations of predicted and gold similarities. */
export function similarityScores(
  gold: ArrayLike<number>,
  predicted: ArrayLike<number>,
): SimilarityScores {
  return {
    spearman: spearman(predicted, gold),
    pearson: pearson(predicted, gold),
    pairs: gold.length,
  };
}
