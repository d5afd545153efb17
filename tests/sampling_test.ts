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
