import assert from "node:assert/strict";
import {
  loadRecipeCorpora,
  meanStd,
  runRecipe,
  selectionScore,
  validateRecipe,
} from "../lib/mod.ts";
import { setup } from "./_helpers.ts";

await setup();

const CONLL =
  "EU NNP I-NP I-ORG\nrejects VBZ I-VP O\n\nPeter NNP I-NP I-PER\nsmiled VBD I-VP O\n\n" +
  "Paris NNP I-NP I-LOC\nis VBZ I-VP O\nbig JJ I-ADJP O\n";
const SST = "1 a lovely film\n0 a dull film\n1 great fun\n0 boring and long\n";

async function files(): Promise<{ dir: string; recipe: Record<string, unknown> }> {
  const dir = await Deno.makeTempDir({ prefix: "mtt-recipe-" });
  await Deno.writeTextFile(`${dir}/ner.txt`, CONLL);
  await Deno.writeTextFile(`${dir}/sst.txt`, SST);
  const ner = {
    format: "conll",
    train: `${dir}/ner.txt`,
    dev: `${dir}/ner.txt`,
    test: `${dir}/ner.txt`,
  };
  const sentiment = {
    labelMap: { "0": "negative", "1": "positive" },
    train: `${dir}/sst.txt`,
    dev: `${dir}/sst.txt`,
    test: `${dir}/sst.txt`,
  };
  return {
    dir,
    recipe: {
      preset: "tiny",
      train: { epochs: 2, batchSize: 4, learningRate: 0.01 },
      tasks: ["ner", "sentiment"],
      seeds: [1, 2],
      data: { ner, sentiment },
    },
  };
}

Deno.test("validateRecipe() names the missing or bad field", () => {
  assert.throws(() => validateRecipe({ tasks: ["pos"] }, "r.json"), /r.json: field "tasks"/);
  assert.throws(
    () => validateRecipe({ tasks: ["ner"], data: {} }, "r.json"),
    /field "data.ner.train": expected a file path/,
  );
  assert.throws(() => validateRecipe({ tasks: ["ner"], seeds: [1.5] }, "r.json"), /field "seeds"/);
});

Deno.test("selectionScore() averages the recipe's task scores", () => {
  const scores = { ner: { f1: 0.6 }, sentiment: { accuracy: 0.8 } } as never;
  assert.ok(Math.abs(selectionScore(scores, ["ner", "sentiment"]) - 0.7) < 1e-12);
  assert.equal(selectionScore(scores, ["ner"]), 0.6);
});

Deno.test("runRecipe() trains per seed, keeps the best dev epoch and reports test scores", async () => {
  const { dir, recipe } = await files();
  const r = validateRecipe(recipe, "recipe.json");
  const corpora = await loadRecipeCorpora({ ...r, limit: 2, evalLimit: 3 });
  assert.equal(corpora.ner!.train.length, 2);
  assert.equal(corpora.ner!.dev.length, 3);
  assert.deepEqual(corpora.sentiment!.labels, ["negative", "positive"]);
  const result = await runRecipe(r, corpora);
  assert.deepEqual(result.seeds.map((s) => s.seed), [1, 2]);
  for (const s of result.seeds) {
    assert.ok(s.bestEpoch >= 1 && s.bestEpoch <= 2);
    assert.equal(s.devHistory.length, 2);
    assert.ok(s.test.ner !== undefined && s.test.sentiment !== undefined);
    assert.equal(s.trainableParameters, s.parameters);
  }
  const f1 = result.seeds.map((s) => s.test.ner!.f1);
  assert.deepEqual(result.summary.nerTestF1, meanStd(f1));
  await Deno.remove(dir, { recursive: true });
});
