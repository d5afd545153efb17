import assert from "node:assert/strict";
import {
  loadRecipeCorpora,
  meanStd,
  runRecipe,
  selectionScore,
  validateRecipe,
} from "../lib/experiments/mod.ts";
import { scoreCorpora } from "../lib/evaluation/mod.ts";
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
  assert.throws(
    () => validateRecipe({ tasks: {} }, "r.json"),
    /r.json: field "tasks": a task set needs at least one task/,
  );
  assert.throws(
    () => validateRecipe({ tasks: { ner: { kind: "token", train: "a", test: "t" } } }, "r.json"),
    /field "tasks.ner.dev": missing/,
  );
  assert.throws(
    () => validateRecipe({ tasks: { ner: { kind: "token", dev: "d", test: "t" } } }, "r.json"),
    /field "tasks.ner.train"/,
  );
  assert.throws(
    () =>
      validateRecipe(
        { tasks: { Bad: { kind: "sentence", train: "a", dev: "b", test: "c" } } },
        "r.json",
      ),
    /field "tasks.Bad": a task name is lower-case/,
  );
  assert.throws(
    () =>
      validateRecipe(
        { tasks: { x: { kind: "token", train: "a", dev: "b", test: "c", oops: 1 } } },
        "r.json",
      ),
    /field "tasks.x.oops": unknown field/,
  );
  assert.throws(() => validateRecipe({ seeds: [1.5], tasks: {} }, "r.json"), /field "seeds.0"/);
});

Deno.test("validateRecipe() refuses a task weight or step scale for a task the recipe lacks", () => {
  const tasks = {
    ner: { kind: "token", train: "a", dev: "b", test: "c" },
    sentiment: { kind: "sentence", train: "a", dev: "b", test: "c" },
  };
  const ok = validateRecipe(
    { train: { taskWeights: { ner: 2 }, taskSteps: { sentiment: 2 } }, tasks },
    "r.json",
  );
  assert.deepEqual(ok.train, { taskWeights: { ner: 2 }, taskSteps: { sentiment: 2 } });
  assert.throws(
    () => validateRecipe({ train: { taskWeights: { similarity: 5 } }, tasks }, "r.json"),
    /^DataError: Cannot load r.json: field "train.taskWeights.similarity": no such task here \(tasks: ner, sentiment\)$/,
  );
  assert.throws(
    () => validateRecipe({ train: { taskSteps: { sentimnet: 2 } }, tasks }, "r.json"),
    /field "train.taskSteps.sentimnet"/,
  );
});

Deno.test("a two-task recipe of the earlier format reads as its two tasks", () => {
  const r = validateRecipe({
    tasks: ["ner", "sentiment"],
    data: {
      ner: { format: "conll", train: "a", dev: "b", test: "c" },
      sentiment: { format: "label-space", labelMap: { "0": "n" }, train: "d", dev: "e", test: "f" },
    },
  }, "old.json");
  assert.deepEqual(Object.keys(r.tasks), ["ner", "sentiment"]);
  assert.equal(r.tasks.ner!.kind, "token");
  assert.equal(r.tasks.sentiment!.kind, "sentence");
  assert.equal(r.tasks.sentiment!.train, "d");
});

Deno.test("selectionScore() averages the tasks' scores", () => {
  const scores = {
    ner: { metric: "entity-f1", score: 0.6 },
    sentiment: { metric: "accuracy", score: 0.8 },
  } as const;
  assert.ok(Math.abs(selectionScore(scores) - 0.7) < 1e-12);
  assert.equal(selectionScore({ ner: scores.ner }), 0.6);
});

Deno.test("runRecipe() trains per seed, keeps the best dev epoch and reports test scores", async () => {
  const { dir, recipe } = await files();
  const r = validateRecipe(recipe, "recipe.json");
  const corpora = await loadRecipeCorpora({ ...r, limit: 2, evalLimit: 3 });
  assert.equal(corpora.ner!.train.length, 2);
  assert.equal(corpora.ner!.dev.length, 3);
  assert.deepEqual(corpora.sentiment!.spec.labels, ["negative", "positive"]);
  const result = await runRecipe(r, corpora);
  assert.deepEqual(result.seeds.map((s) => s.seed), [1, 2]);
  for (const s of result.seeds) {
    assert.ok(s.bestEpoch >= 1 && s.bestEpoch <= 2);
    assert.equal(s.devHistory.length, 2);
    assert.ok(s.test.ner !== undefined && s.test.sentiment !== undefined);
    assert.equal(s.trainableParameters, s.parameters);
  }
  const f1 = result.seeds.map((s) => s.test.ner!.entities!.f1);
  assert.deepEqual(result.summary.tasks.ner, {
    metric: "entity-f1",
    split: "test",
    ...meanStd(f1),
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("averageEpochs scores the mean of the last epochs' weights and keeps it only when dev prefers it", async () => {
  const { dir, recipe } = await files();
  const r = validateRecipe({
    ...recipe,
    train: { epochs: 4, batchSize: 2, learningRate: 0.03 },
    seeds: [1, 2, 3, 4, 5, 6],
    averageEpochs: 3,
  }, "recipe.json");
  const corpora = await loadRecipeCorpora(r);
  const kept: Record<number, number> = {};
  const result = await runRecipe(r, corpora, {
    onModel: (seed, bundle) => {
      // The model handed on is the selected one: it scores on dev as reported.
      kept[seed] = selectionScore(
        scoreCorpora(bundle, { ner: corpora.ner!.dev, sentiment: corpora.sentiment!.dev }),
      );
    },
  });
  for (const s of result.seeds) {
    // Each epoch's selection score: the mean of its tasks' dev scores.
    const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
    const epochs = s.devHistory.map((h) => mean(Object.values(h.scores)));
    assert.equal(kept[s.seed], selectionScore(s.dev));
    assert.ok(s.averageDev !== undefined);
    assert.equal(s.averaged !== undefined, selectionScore(s.averageDev) > Math.max(...epochs));
    if (s.averaged !== undefined) {
      assert.deepEqual(s.averaged, { from: 2, to: 4 });
      assert.equal(s.bestEpoch, 4);
      assert.ok(selectionScore(s.dev) > Math.max(...epochs), `seed ${s.seed}`);
    } else {
      assert.equal(selectionScore(s.dev), Math.max(...epochs), `seed ${s.seed}`);
      assert.equal(epochs[s.bestEpoch - 1], Math.max(...epochs));
    }
  }
  assert.ok(
    result.seeds.some((s) => s.averaged !== undefined),
    `no seed kept the average: ${
      JSON.stringify(result.seeds.map((s) => [s.devHistory, s.averageDev]))
    }`,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("adding a task is a recipe entry: a made-up topic task and POS tags train beside NER", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mtt-recipe-" });
  await Deno.writeTextFile(`${dir}/ner.txt`, CONLL);
  const topics = [
    { label: "sport", text: "the match ended in a draw" },
    { label: "money", text: "the bank raised its rates" },
    { label: "sport", text: "a late goal won the cup" },
    { label: "money", text: "shares fell on the market" },
  ].map((r) => JSON.stringify(r)).join("\n");
  await Deno.writeTextFile(`${dir}/topic.jsonl`, topics);
  const files = (f: string) => ({ train: f, dev: f, test: f });
  const recipe = validateRecipe({
    preset: "tiny",
    train: { epochs: 2, batchSize: 2, learningRate: 0.01, taskSampling: "round-robin" },
    seeds: [1],
    tasks: {
      ner: { kind: "token", ...files(`${dir}/ner.txt`) },
      pos: { kind: "token", column: 1, ...files(`${dir}/ner.txt`) },
      topic: { kind: "sentence", format: "jsonl", pooling: "max", ...files(`${dir}/topic.jsonl`) },
    },
  }, "three.json");
  const corpora = await loadRecipeCorpora(recipe);
  assert.deepEqual(corpora.pos!.spec, {
    name: "pos",
    kind: "token",
    labels: ["JJ", "NNP", "VBD", "VBZ"],
    metric: "accuracy",
  });
  assert.equal(corpora.topic!.spec.metric, "accuracy");
  assert.equal(corpora.topic!.spec.pooling, "max");
  assert.equal(corpora.ner!.train, corpora.pos!.train, "one file, one sentence list for both");
  assert.deepEqual(Object.keys(corpora.ner!.train[0]!.labels).sort(), ["ner", "pos"]);
  const result = await runRecipe(recipe, corpora);
  const [seed] = result.seeds;
  assert.deepEqual(Object.keys(seed!.test).sort(), ["ner", "pos", "topic"]);
  assert.ok(seed!.test.ner!.entities !== undefined, "NER scored by entity F1");
  assert.ok(seed!.test.pos!.tokenAccuracy !== undefined && seed!.test.pos!.entities === undefined);
  assert.equal(seed!.test.topic!.classes!.count, 4);
  assert.deepEqual(Object.keys(result.summary.tasks).sort(), ["ner", "pos", "topic"]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a recipe on the frozen backbone caches its features once for all seeds, on two workers", async () => {
  const { dir, recipe } = await files();
  try {
    const r = validateRecipe({
      ...recipe,
      model: { backbone: "use-lite" },
      train: { epochs: 1, batchSize: 4, learningRate: 0.01, freeze: ["backbone"] },
      workers: 2,
    }, "r.json");
    const notes: string[] = [];
    const result = await runRecipe(r, await loadRecipeCorpora(r), {
      onWarning: (m) => notes.push(m),
    });
    const cached = notes.filter((m) => m.includes("frozen backbone"));
    // Seed 1 computes every training sentence; seed 2 finds them all cached.
    assert.match(
      cached[0]!,
      /outputs of 7 sentences cached in \d+ s on 2 worker\(s\) \(0 were cached already; .* stage 3\)/,
    );
    assert.match(cached[1]!, /outputs of 0 sentences cached .*\(7 were cached already/);
    assert.equal(result.seeds.length, 2);
    assert.ok(result.seeds.every((s) => s.test.ner!.cutAtMaxPieces === 0));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
