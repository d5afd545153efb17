/** How an epoch's batches are drawn from the tasks' pools. */
import assert from "node:assert/strict";
import { epochBatches } from "../lib/training/mod.ts";

// Three pools of 2, 5 and 10 batches of one sentence each.
const pools = [...Array(2).fill("a"), ...Array(5).fill("b"), ...Array(10).fill("c")] as string[];
const lengths = pools.map(() => 4);
const draw = (options: Parameters<typeof epochBatches>[3]) =>
  epochBatches(lengths, 1, 3, { pools, ...options }).map((b) => pools[b[0]!]!).join("");
const count = (s: string, pool: string) => s.split(pool).length - 1;

Deno.test("balanced sampling takes the smallest, median or largest pool's batch count, capped by each pool", () => {
  const smallest = draw({ sampling: "balanced" });
  assert.equal(smallest, "abcabc");
  const median = draw({ sampling: "balanced", balancedSteps: "median" });
  assert.deepEqual(["a", "b", "c"].map((p) => count(median, p)), [2, 5, 5]);
  const largest = draw({ sampling: "balanced", balancedSteps: "largest" });
  assert.deepEqual(["a", "b", "c"].map((p) => count(largest, p)), [2, 5, 10]);
  // Spread evenly: pool p's k-th of n batches at (k + 1/2) / n of the epoch.
  assert.equal(largest, "cbcacbccbccbaccbc");
});

Deno.test("taskSteps scales a pool's balanced batch count, capped by its batches; a shared pool takes its tasks' largest scale", () => {
  const scaled = draw({
    sampling: "balanced",
    balancedSteps: "median",
    taskSteps: { a: 3, c: 1.5 },
  });
  // a: 5 × 3 = 15, capped at its 2 batches; b: 5; c: round(5 × 1.5) = 8 (of 10).
  assert.deepEqual(["a", "b", "c"].map((p) => count(scaled, p)), [2, 5, 8]);
  const fewer = draw({ sampling: "balanced", balancedSteps: "median", taskSteps: { b: 0.4 } });
  assert.deepEqual(["a", "b", "c"].map((p) => count(fewer, p)), [2, 2, 5]);
  // A pool labelled for two tasks ("x+y", as taskPool names it) takes the larger scale.
  const shared = pools.map((p) => p === "a" ? "x+y" : p);
  const both = epochBatches(lengths, 1, 3, {
    pools: shared,
    sampling: "balanced",
    balancedSteps: "largest",
    taskSteps: { x: 0.5, y: 1, b: 0.2 },
  }).map((batch) => shared[batch[0]!]!);
  assert.deepEqual(
    ["x+y", "b", "c"].map((p) => both.filter((q) => q === p).length),
    [2, 2, 10],
  );
  // Ignored by the other samplings: proportional still draws every batch once.
  assert.equal(draw({ sampling: "proportional", taskSteps: { c: 3 } }).length, 17);
});

Deno.test("every batch of an epoch is distinct, and the draw is fixed by the seed", () => {
  for (const balancedSteps of ["smallest", "median", "largest"] as const) {
    const batches = epochBatches(lengths, 1, 3, { pools, sampling: "balanced", balancedSteps });
    const ids = batches.flat();
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual(
      epochBatches(lengths, 1, 3, { pools, sampling: "balanced", balancedSteps }),
      batches,
    );
  }
  const all = epochBatches(lengths, 1, 3, { pools, sampling: "proportional" }).flat().sort((a, b) =>
    a - b
  );
  assert.deepEqual(all, [...lengths.keys()]);
});
