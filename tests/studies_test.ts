/**
 * The notebooks' studies as data: the plan of a grid and its slices, each
 * run's recipe (epochs by size, warm-up, overrides), every scenario a valid
 * config, and the check that compares re-runs with the recorded ones.
 */
import assert from "node:assert/strict";
import { resolveConfig } from "../lib/core/mod.ts";
import type { Sentence } from "../lib/data/mod.ts";
import type { RecipeCorpora } from "../lib/experiments/recipe.ts";
import { recipeConfig } from "../lib/experiments/recipe.ts";
import {
  compareRuns,
  FORGETTING_STUDY,
  FREEZING_STUDY,
  LAYERWISE_STUDY,
  runKey,
  scenarioRecipe,
  STUDIES,
  studyCorpora,
  studyPlan,
} from "../lib/experiments/studies.ts";

const sentences = (n: number, task: string): Sentence[] =>
  Array.from({ length: n }, (_, i) => ({ words: [`w${i}`], labels: { [task]: "x" } }));
const corpora = {
  ner: {
    spec: { name: "ner", kind: "token" },
    train: sentences(2000, "ner"),
    dev: sentences(900, "ner"),
    test: sentences(50, "ner"),
  },
  sentiment: {
    spec: { name: "sentiment", kind: "sentence" },
    train: sentences(700, "sentiment"),
    dev: sentences(100, "sentiment"),
    test: sentences(40, "sentiment"),
  },
} as unknown as RecipeCorpora;

Deno.test("a study's plan covers its grid, sizes then scenarios then seeds, and slices filter it", () => {
  const plan = studyPlan(FREEZING_STUDY);
  assert.equal(plan.length, 7 * 3 + 5 * 3);
  assert.deepEqual(
    plan.slice(0, 2).map((p) => runKey({ scenario: p.scenario.name, size: p.size, seed: p.seed })),
    [
      "heads only (backbone and task encoder frozen)@1000#1",
      "heads only (backbone and task encoder frozen)@1000#2",
    ],
  );
  const slice = studyPlan(FREEZING_STUDY, {
    scenarios: ["backbone frozen", "top layer fine-tuned"],
    sizes: [100],
    seeds: [2],
  });
  assert.deepEqual(slice.map((p) => [p.scenario.name, p.size, p.seed]), [
    ["backbone frozen", 100, 2],
    ["top layer fine-tuned", 100, 2],
  ]);
  assert.equal(studyPlan(LAYERWISE_STUDY, { seeds: [5] }).length, 6);
});

Deno.test("a run's recipe: the size's epochs, warm-up over a tenth of its steps, the scenario's overrides", () => {
  const sized = studyCorpora(FREEZING_STUDY, corpora, 1000);
  assert.equal(sized.ner!.train.length, 1000);
  assert.equal(sized.sentiment!.train.length, 700); // fewer than the size: all of them
  assert.equal(sized.ner!.dev.length, FREEZING_STUDY.devLimit);
  assert.equal(sized.ner!.test.length, 50); // test sets whole
  const top = FREEZING_STUDY.scenarios.find((s) => s.name === "top layer fine-tuned")!;
  const recipe = scenarioRecipe(FREEZING_STUDY, top, 1000, 3, sized);
  assert.deepEqual(recipe.seeds, [3]);
  assert.equal(recipe.train?.epochs, 3);
  // 3 epochs of ceil(1000 / 32) + ceil(700 / 32) batches: 3 · 54 = 162 steps.
  assert.equal(recipe.train?.warmupSteps, 16);
  assert.deepEqual(recipe.train?.freeze, ["backbone:embeddings", "backbone:layer:0"]);
  assert.equal(recipe.train?.layerLrDecay, 0.2);
  const scratch = FREEZING_STUDY.scenarios.find((s) => s.name.startsWith("from scratch"))!;
  assert.equal(scenarioRecipe(FREEZING_STUDY, scratch, 100, 1, sized).model?.backbone, null);
  assert.throws(
    () => scenarioRecipe(FREEZING_STUDY, top, 123, 1, sized),
    /no epochs set for size 123/,
  );
});

Deno.test("every scenario of every study resolves to a valid config", () => {
  for (const study of Object.values(STUDIES)) {
    for (const { scenario, size, seed } of studyPlan(study)) {
      const config = recipeConfig(scenarioRecipe(study, scenario, size, seed, corpora), seed);
      assert.equal(config.seed, seed);
      assert.equal(config.train.epochs, study.epochs[String(size)]);
    }
  }
  const embeddingsOnly = LAYERWISE_STUDY.scenarios.find((s) => s.name.includes("embeddings only"))!;
  const c = recipeConfig(scenarioRecipe(LAYERWISE_STUDY, embeddingsOnly, 500, 1, corpora), 1);
  assert.equal(c.train.layerLrDecayScope, "embeddings");
  for (const v of FORGETTING_STUDY.variants) resolveConfig({ train: { freeze: [...v.freeze] } });
});

Deno.test("the check names each run whose scores differ from the recorded ones", () => {
  const run = {
    scenario: "s",
    size: 100,
    seed: 1,
    test: { ner: 0.5, sentiment: 0.8 },
    dev: { ner: 0.4 },
  };
  assert.deepEqual(compareRuns([run], [run]), []);
  assert.deepEqual(compareRuns([{ ...run, seed: 2 }], [run]), ["s@100#2: no recorded run"]);
  assert.deepEqual(compareRuns([{ ...run, dev: { ner: 0.41 } }], [run]), [
    "s@100#1: dev ner 0.41 against 0.4",
  ]);
});
