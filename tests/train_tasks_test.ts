/** `deno task train` on any task set: --task flags, a recipe, a config's tasks; resuming them. */
import assert from "node:assert/strict";
import { runTask } from "./_helpers.ts";

const dir = await Deno.makeTempDir({ prefix: "mtt-train-tasks-" });

const CONLL = [
  "-DOCSTART- -X- -X- O",
  "",
  "Anna NNP B-NP B-PER",
  "flew VBD B-VP O",
  "to TO B-PP O",
  "Paris NNP B-NP B-LOC",
  ". . O O",
  "",
  "Bob NNP B-NP B-PER",
  "likes VBZ B-VP O",
  "Rome NNP B-NP B-LOC",
  "",
  "The DT B-NP O",
  "bank NN I-NP O",
  "in IN B-PP O",
  "Berlin NNP B-NP B-LOC",
  "closed VBD B-VP O",
  "",
].join("\n");
const TOPICS = [
  "sport\tthe match ended in a draw",
  "sport\tshe won the race",
  "money\tthe bank raised its rates",
  "money\tshares fell sharply",
  "sport\the scored twice",
  "money\tprices rose again",
].join("\n");
const PAIRS = [
  { a: "a man plays guitar", b: "a man is playing a guitar", score: 0.9 },
  { a: "a dog runs", b: "the stock market fell", score: 0.0 },
  { a: "she sings", b: "a woman is singing", score: 0.8 },
].map((p) => JSON.stringify(p)).join("\n");

await Deno.writeTextFile(`${dir}/train.conll`, CONLL);
await Deno.writeTextFile(`${dir}/topics.tsv`, TOPICS);
await Deno.writeTextFile(`${dir}/pairs.jsonl`, PAIRS);

const TASK_FLAGS = [
  "--task",
  `pos=token:conll:${dir}/train.conll`,
  "--task",
  `topic=sentence:label-tab:${dir}/topics.tsv`,
  "--task",
  `sim=pair:jsonl:${dir}/pairs.jsonl`,
];
const TINY = ["--preset", "tiny", "--quiet"];

async function tasksOf(model: string): Promise<string[]> {
  const meta = JSON.parse(await Deno.readTextFile(`${model}/meta.json`));
  const tasks = JSON.parse(await Deno.readTextFile(`${model}/${meta.current}/tasks.json`));
  return (tasks.tasks ?? tasks).map((t: { name: string }) => t.name);
}

Deno.test("train --task trains the named task set, and predict serves every task of it", async () => {
  const model = `${dir}/flags`;
  const r = await runTask([
    "task",
    "train",
    ...TASK_FLAGS,
    ...TINY,
    "--epochs",
    "2",
    "--out",
    model,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /data --task pos=token:conll:.*: tasks pos 3, topic 6, sim 3 sentences/);
  assert.match(r.stdout, /^epoch {3}2 loss/m);
  assert.deepEqual(await tasksOf(model), ["pos", "topic", "sim"]);

  const predict = await runTask(["task", "predict", "--model", model, "--json", "Anna likes Rome"]);
  assert.equal(predict.code, 0, predict.stderr);
  const p = JSON.parse(predict.stdout.trim());
  assert.equal(p.tags.pos.length, 3);
  assert.ok(["sport", "money"].includes(p.labels.topic.label));
  assert.equal(p.tags.ner, undefined);
});

Deno.test("a run on --task flags resumes with the same flags and refuses changed data", async () => {
  const model = `${dir}/flags`;
  const without = await runTask(["task", "train", "--resume", model, "--epochs", "3", "--quiet"]);
  assert.equal(without.code, 2);
  assert.match(
    without.stderr,
    /^error: the run trained on --task pos=.*resume with the same --task flags/m,
  );

  const resumed = await runTask([
    "task",
    "train",
    "--resume",
    model,
    ...TASK_FLAGS,
    "--epochs",
    "3",
    "--quiet",
  ]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /^epoch {3}3 loss/m);
  assert.doesNotMatch(resumed.stdout, /^epoch {3}2 loss/m);

  await Deno.writeTextFile(`${dir}/topics2.tsv`, TOPICS + "\nsport\tthey lost the final");
  const changed = TASK_FLAGS.map((f) => f.replace("topics.tsv", "topics2.tsv"));
  const refused = await runTask(
    ["task", "train", "--resume", model, ...changed, "--epochs", "4", "--quiet"],
  );
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /training data differs from the run's/);
  assert.equal(refused.stderr.match(/^error: /gm)?.length, 1, refused.stderr);
  assert.equal(refused.stderr.includes("    at "), false);
});

Deno.test("train --recipe takes the recipe's tasks, config and seed, and validates on its dev files", async () => {
  const recipe = `${dir}/recipe.json`;
  await Deno.writeTextFile(
    recipe,
    JSON.stringify({
      preset: "tiny",
      model: { hiddenSize: 12 },
      train: { epochs: 2 },
      seeds: [7],
      tasks: {
        chunk: {
          kind: "token",
          column: 2,
          train: `${dir}/train.conll`,
          dev: `${dir}/train.conll`,
          test: `${dir}/train.conll`,
        },
        topic: {
          kind: "sentence",
          format: "label-tab",
          train: `${dir}/topics.tsv`,
          dev: `${dir}/topics.tsv`,
          test: `${dir}/topics.tsv`,
        },
      },
    }),
  );
  const model = `${dir}/recipe-model`;
  const r = await runTask(["task", "train", "--recipe", recipe, "--quiet", "--out", model]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /tasks chunk 3\/3, topic 6\/6 sentences \(train\/dev\); 2 epochs, .* seed 7/,
  );
  assert.match(r.stdout, /^epoch {3}2 loss .*\| val chunk acc \d\.\d{3} topic acc/m);
  assert.deepEqual(await tasksOf(model), ["chunk", "topic"]);
  const meta = JSON.parse(await Deno.readTextFile(`${model}/meta.json`));
  const config = JSON.parse(await Deno.readTextFile(`${model}/${meta.current}/config.json`));
  assert.equal(config.model.hiddenSize, 12);
  assert.equal(config.seed, 7);

  const limit = (n: number) =>
    runTask([
      "task",
      "train",
      "--recipe",
      recipe,
      "--limit",
      String(n),
      "--epochs",
      "1",
      "--quiet",
      "--out",
      `${model}-${n}`,
    ]);
  const three = await limit(3);
  assert.equal(three.code, 0, three.stderr);
  assert.match(three.stderr, /tasks chunk 3\/3, topic 3\/3 sentences/);
  // Two topic sentences have one label between them: said so, before any training.
  const two = await limit(2);
  assert.equal(two.code, 1);
  assert.match(two.stderr, /task "topic": a sentence task needs at least two labels, got sport/);

  // Resuming needs no data flag: the recipe file was recorded (and is checked by sha256).
  const resumed = await runTask(["task", "train", "--resume", model, "--epochs", "3", "--quiet"]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /^epoch {3}3 loss/m);
});

Deno.test("a --config file with tasks trains them", async () => {
  const config = `${dir}/config.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      preset: "tiny",
      train: { epochs: 1 },
      tasks: { topic: { kind: "sentence", format: "label-tab", train: `${dir}/topics.tsv` } },
    }),
  );
  const model = `${dir}/config-model`;
  const r = await runTask(["task", "train", "--config", config, "--quiet", "--out", model]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(await tasksOf(model), ["topic"]);
  // A weight for a task the file does not have is a typo: one line naming the field.
  const typo = `${dir}/config-typo.json`;
  await Deno.writeTextFile(
    typo,
    JSON.stringify({
      preset: "tiny",
      train: { epochs: 1, taskWeights: { topics: 2 } },
      tasks: { topic: { kind: "sentence", format: "label-tab", train: `${dir}/topics.tsv` } },
    }),
  );
  const refused = await runTask(["task", "train", "--config", typo, "--out", `${dir}/typo`]);
  assert.equal(refused.code, 1, refused.stderr);
  assert.match(
    refused.stderr,
    /^error: Cannot load .*config-typo\.json: field "train\.taskWeights\.topics": no such task here \(tasks: topic\)$/m,
  );
  assert.equal(refused.stderr.includes("    at "), false);
});

Deno.test("bad task flags and conflicting data flags are one usage line", async () => {
  const bad = await runTask([
    "task",
    "train",
    "--task",
    "ner=token:iob:x.txt",
    "--out",
    `${dir}/x`,
  ]);
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr,
    /^error: Cannot load --task ner=token:iob:x\.txt: field "tasks\.ner\.format"/m,
  );
  const shape = await runTask(["task", "train", "--task", "ner", "--out", `${dir}/x`]);
  assert.equal(shape.code, 2);
  assert.match(shape.stderr, /expects NAME=KIND:FORMAT:FILE/);
  const both = await runTask([
    "task",
    "train",
    "--data",
    "data/sample_sentences.json",
    ...TASK_FLAGS.slice(0, 2),
    "--out",
    `${dir}/x`,
  ]);
  assert.equal(both.code, 2);
  assert.match(both.stderr, /--data and --task each name the training data: give one/);
  const missing = await runTask(
    ["task", "train", "--task", `pos=token:conll:${dir}/nope.conll`, "--out", `${dir}/x`],
  );
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nope\.conll/);
  assert.equal(missing.stderr.includes("    at "), false);
});
