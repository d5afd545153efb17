/**
 * Reading a study's records (see `studies.ts`): scores by scenario and seed,
 * mean ± standard deviation with the per-seed values, comparisons that apply
 * the significance rule of `stats.ts` (a paired t-test over seeds, p < 0.05),
 * and the recommendation a "when to use which" table is derived from. Pure
 * functions: the notebooks format what they return.
 * @module
 */
import { meanStd } from "./recipe.ts";
import { type PairedComparison, pairedComparison } from "./stats.ts";

/** The fields of a run these functions read. */
export interface ScoredRun {
  readonly scenario: string;
  readonly size: number;
  readonly seed: number;
  readonly test: Readonly<Record<string, number>>;
  readonly trainSeconds?: number;
  readonly epochs?: number;
  readonly trainableParameters?: number;
}

/** One scenario's scores on a task at a size. */
export interface ScenarioScores {
  readonly scenario: string;
  readonly size: number;
  /** Seeds in ascending order, and their scores in the same order (×100). */
  readonly seeds: readonly number[];
  readonly values: readonly number[];
  readonly mean: number;
  /** Sample standard deviation (n − 1); 0 for one seed. */
  readonly sd: number;
  /**
   * Median over seeds of the seconds per training epoch, when the runs record
   * them (the median: a scenario's first seed also fills its feature cache).
   */
  readonly secondsPerEpoch?: number;
  readonly trainableParameters?: number;
}

/**
 * Scores on `task` (×100) by scenario at `size`, in the order scenarios first
 * appear in the runs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { scenarioScores } from "./study_report.ts";
 * const runs = [
 *   { scenario: "a", size: 10, seed: 2, test: { ner: 0.5 } },
 *   { scenario: "a", size: 10, seed: 1, test: { ner: 0.7 } },
 *   { scenario: "b", size: 10, seed: 1, test: { ner: 0.9 } },
 * ];
 * const [a, b] = scenarioScores(runs, "ner", 10);
 * assert.deepEqual(a!.seeds, [1, 2]);
 * assert.deepEqual(a!.values, [70, 50]);
 * assert.equal(a!.mean, 60);
 * assert.ok(Math.abs(a!.sd - 14.1421356) < 1e-6);
 * assert.equal(b!.sd, 0);
 * ```
 */
export function scenarioScores(
  runs: readonly ScoredRun[],
  task: string,
  size: number,
): ScenarioScores[] {
  const names = [...new Set(runs.filter((r) => r.size === size).map((r) => r.scenario))];
  return names.map((scenario) => {
    const mine = runs.filter((r) =>
      r.scenario === scenario && r.size === size &&
      r.test[task] !== undefined
    ).sort((a, b) => a.seed - b.seed);
    const values = mine.map((r) => 100 * r.test[task]!);
    const { mean, std: sd } = meanStd(values);
    const perEpoch = mine.filter((r) => r.trainSeconds !== undefined && r.epochs !== undefined)
      .map((r) => r.trainSeconds! / r.epochs!).sort((a, b) => a - b);
    return {
      scenario,
      size,
      seeds: mine.map((r) => r.seed),
      values,
      mean,
      sd,
      ...(perEpoch.length > 0
        ? {
          secondsPerEpoch: perEpoch.length % 2 === 1
            ? perEpoch[(perEpoch.length - 1) / 2]!
            : (perEpoch[perEpoch.length / 2 - 1]! + perEpoch[perEpoch.length / 2]!) / 2,
        }
        : {}),
      ...(mine[0]?.trainableParameters !== undefined
        ? { trainableParameters: mine[0].trainableParameters }
        : {}),
    };
  });
}

/**
 * `mean ± sd (v1 / v2 / …)` with the per-seed values.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatScores } from "./study_report.ts";
 * assert.equal(formatScores({ values: [70, 50], mean: 60, sd: 14.142 }), "60.00 ± 14.14 (70.00 / 50.00)");
 * ```
 */
export function formatScores(
  s: Pick<ScenarioScores, "values" | "mean" | "sd">,
  digits = 2,
): string {
  return `${s.mean.toFixed(digits)} ± ${s.sd.toFixed(digits)} (${
    s.values.map((v) => v.toFixed(digits)).join(" / ")
  })`;
}

/** `b` against `a` on the seeds both have, by the significance rule. */
export function compareScenarios(a: ScenarioScores, b: ScenarioScores): PairedComparison {
  const seeds = a.seeds.filter((s) => b.seeds.includes(s));
  const pick = (x: ScenarioScores) => seeds.map((s) => x.values[x.seeds.indexOf(s)]!);
  return pairedComparison(pick(a), pick(b));
}

/**
 * One line stating a comparison and what the rule decides: a headline only
 * when significant.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { verdict } from "./study_report.ts";
 * const s = (scenario: string, values: number[]) => ({ scenario, size: 1, seeds: [1, 2, 3], values, mean: 0, sd: 0 });
 * assert.equal(verdict("NER F1", s("a", [10, 20, 30]), s("b", [11, 22, 33])),
 *   "NER F1, b against a: +2.00 points (3 seeds, paired t = 3.46, p = 0.074): not significant");
 * assert.equal(verdict("NER F1", s("a", [10, 20, 30]), s("b", [15, 25, 36])),
 *   "NER F1, b against a: +5.33 points (3 seeds, paired t = 16.00, p = 0.004): **significant**");
 * ```
 */
export function verdict(what: string, a: ScenarioScores, b: ScenarioScores): string {
  const c = compareScenarios(a, b);
  const sign = c.meanDifference >= 0 ? "+" : "−";
  return `${what}, ${b.scenario} against ${a.scenario}: ${sign}${
    Math.abs(c.meanDifference).toFixed(2)
  } points (${c.n} seeds, paired t = ${c.t.toFixed(2)}, p = ${c.p.toFixed(3)}): ${
    c.significant ? "**significant**" : "not significant"
  }`;
}

/**
 * A comparison as a notebook states it: a bold headline when the rule calls
 * it significant, otherwise the numbers and "no headline".
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { headline } from "./study_report.ts";
 * const s = (scenario: string, values: number[]) => ({ scenario, size: 1, seeds: [1, 2, 3], values, mean: 0, sd: 0 });
 * assert.equal(headline("NER F1", s("a", [10, 20, 30]), s("b", [15, 25, 36])),
 *   "**b beats a on NER F1 by 5.3 points** (paired t-test over 3 seeds, p = 0.004)");
 * assert.equal(headline("NER F1", s("a", [10, 20, 30]), s("b", [11, 22, 33])),
 *   "b against a on NER F1: +2.0 points, not significant (p = 0.074): no headline");
 * ```
 */
export function headline(what: string, a: ScenarioScores, b: ScenarioScores): string {
  const c = compareScenarios(a, b);
  const points = Math.abs(c.meanDifference).toFixed(1);
  if (c.significant) {
    return `**${b.scenario} ${
      c.meanDifference > 0 ? "beats" : "trails"
    } ${a.scenario} on ${what} by ${points} points** (paired t-test over ${c.n} seeds, p = ${
      c.p.toFixed(3)
    })`;
  }
  return `${b.scenario} against ${a.scenario} on ${what}: ${
    c.meanDifference >= 0 ? "+" : "−"
  }${points} points, not significant (p = ${c.p.toFixed(3)}): no headline`;
}

/** What {@linkcode recommend} found. */
export interface Recommendation {
  /** The scenario with the best mean. */
  readonly best: string;
  /** Scenarios not significantly below the best (the best included), in the order given. */
  readonly tied: readonly string[];
  /** Among the tied, the one that trains fastest (or, without timings, the first). */
  readonly choice: string;
}

/**
 * The rule behind "when to use which": the best mean, every scenario the
 * significance rule cannot separate from it, and among those the one that
 * costs least per epoch.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { recommend } from "./study_report.ts";
 * const s = (scenario: string, values: number[], secondsPerEpoch: number) =>
 *   ({ scenario, size: 1, seeds: [1, 2, 3], values, mean: values.reduce((a, b) => a + b) / 3, sd: 0, secondsPerEpoch });
 * const r = recommend([s("slow", [80, 81, 82], 100), s("fast", [79, 81.5, 81], 5), s("bad", [60, 61, 62], 1)]);
 * assert.deepEqual(r, { best: "slow", tied: ["slow", "fast"], choice: "fast" });
 * ```
 */
export function recommend(scores: readonly ScenarioScores[]): Recommendation {
  const best = scores.reduce((a, b) => (b.mean > a.mean ? b : a));
  const tied = scores.filter((s) =>
    s === best || !(compareScenarios(best, s).significant && s.mean < best.mean)
  );
  const choice = tied.reduce((a, b) =>
    (b.secondsPerEpoch ?? Infinity) < (a.secondsPerEpoch ?? Infinity) ? b : a
  );
  return { best: best.scenario, tied: tied.map((s) => s.scenario), choice: choice.scenario };
}
