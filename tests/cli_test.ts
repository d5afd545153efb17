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
  ]);
  assert.equal(r.code, 0, r.stderr);
  const train = JSON.parse(await Deno.readTextFile(await modelFile(out, "config.json"))).train;
  assert.deepEqual(train.freeze, ["backbone"]);
  assert.equal(train.layerLrDecay, 1 / 2.6);
  assert.equal(train.schedule, "linear");
  assert.equal(train.warmupSteps, 2);
  assert.equal(train.optimizer, "adamw");
  assert.equal(train.taskWeighting, "uncertainty");
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
