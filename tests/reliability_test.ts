/**
 * Nothing lost, ever: the command-line tasks refuse what would destroy files,
 * stop on divergence, and give one clear line for every bad input; a kill -9 at
 * any moment of training or saving leaves a loadable model, and resuming ends
 * bit-for-bit where an uninterrupted run ends.
 */
import assert from "node:assert/strict";
import { loadModel } from "../lib/model/mod.ts";
import {
  assertNoLeftovers,
  bitEqual,
  lockHolder,
  modelFile,
  oneLineError,
  runTask,
  setup,
  snapshot,
  taskArgs,
} from "./_helpers.ts";

await setup();

const dir = await Deno.makeTempDir({ prefix: "mtt-reliability-" });
const TINY = ["--preset", "tiny", "--quiet"];
/** What `deno task train` runs (deno.json), to start the training process directly. */
const TRAIN_PROCESS = await taskArgs("train", "cli/train.ts");

Deno.test("--out never replaces a folder of other files, a file, or the sample data", async () => {
  const mine = `${dir}/mine`;
  await Deno.mkdir(mine);
  await Deno.writeTextFile(`${mine}/thesis.txt`, "years of work");
  const plain = `${dir}/plain.txt`;
  await Deno.writeTextFile(plain, "a file");
  for (const out of [mine, plain, "data", ".", `${plain}/model`]) {
    const r = await runTask(["task", "train", ...TINY, "--epochs", "1", "--out", out]);
    assert.equal(r.code, 1, `${out}: ${r.stderr}`);
    oneLineError(
      r.stderr,
      /^error: Cannot write a model to .*(not a model directory|a part of the path is a file)/,
    );
    assert.doesNotMatch(r.stdout, /epoch/, "refused before training");
  }
  assert.equal(await Deno.readTextFile(`${mine}/thesis.txt`), "years of work");
  assert.equal(await Deno.readTextFile(plain), "a file");
  assert.ok((await Deno.stat("data/sample_sentences.json")).isFile);
});

Deno.test("a second run into a model directory another live process writes is refused", async () => {
  const out = `${dir}/busy`;
  const first = await runTask(["task", "train", ...TINY, "--epochs", "1", "--out", out]);
  assert.equal(first.code, 0, first.stderr);
  const meta = await Deno.readTextFile(`${out}/meta.json`);
  const writer = await lockHolder(out);
  for (const args of [[...TINY, "--out", out], ["--resume", out, "--epochs", "2"]]) {
    const r = await runTask(["task", "train", ...args]);
    assert.equal(r.code, 1, r.stderr);
    oneLineError(r.stderr, new RegExp(`process ${writer.pid} on elsewhere is writing it`));
    assert.doesNotMatch(r.stdout, /epoch/, "refused before training");
  }
  assert.equal(await Deno.readTextFile(`${out}/meta.json`), meta);
  writer.kill("SIGKILL");
  await writer.status;
  const after = await runTask(["task", "train", ...TINY, "--epochs", "1", "--out", out]);
  assert.equal(after.code, 0, `a killed writer's lock is taken over: ${after.stderr}`);
  // The new generation, and the one it replaced (kept one more save for readers).
  assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name).sort(), [
    "gen-000001",
    "gen-000002",
    "meta.json",
  ]);
});

Deno.test("a trailing slash works, and a model directory is replaced by the new model", async () => {
  const out = `${dir}/slash/`;
  for (let i = 0; i < 2; i++) {
    const r = await runTask(["task", "train", ...TINY, "--epochs", "1", "--out", out]);
    assert.equal(r.code, 0, r.stderr);
  }
  const names = [...Deno.readDirSync(`${dir}/slash`)].map((e) => e.name).sort();
  assert.equal(names.length, 3, `${names}`);
  assert.equal(names[2], "meta.json");
  (await loadModel(out)).model.dispose();
});

Deno.test("--resume continues in its own directory and refuses flags that change the run", async () => {
  const model = `${dir}/resume`;
  const first = await runTask(["task", "train", ...TINY, "--epochs", "1", "--out", model]);
  assert.equal(first.code, 0, first.stderr);
  const again = await runTask(["task", "train", "--quiet", "--resume", model, "--epochs", "2"]);
  assert.equal(again.code, 0, again.stderr);
  const state = JSON.parse(await Deno.readTextFile(await modelFile(model, "training/state.json")));
  assert.equal(state.epoch, 2, "the resumed directory itself advanced");
  await assert.rejects(Deno.stat("runs/model/never-written-by-this-test"));
  for (const flags of [["--seed", "3"], ["--preset", "default"], ["--freeze", "backbone"]]) {
    const r = await runTask(["task", "train", "--resume", model, "--epochs", "3", ...flags]);
    assert.equal(r.code, 2, r.stderr);
    oneLineError(
      r.stderr,
      new RegExp(`--resume continues a run as it was configured; ${flags[0]}`),
    );
  }
  const other = `${dir}/other.json`;
  await Deno.writeTextFile(
    other,
    JSON.stringify([{ text: "Paris", tags: ["B-LOC"], sentiment: "positive" }]),
  );
  const r = await runTask(["task", "train", "--resume", model, "--epochs", "3", "--data", other]);
  assert.equal(r.code, 1);
  oneLineError(r.stderr, /the training data differs from the run's \(sha256/);
  const done = await runTask(["task", "train", "--resume", model, "--epochs", "2"]);
  assert.equal(done.code, 1);
  oneLineError(done.stderr, /it has trained 2 epoch\(s\) already; ask for more than that/);
});

Deno.test("a diverging run stops, names the step, and saves no broken model", async () => {
  const config = `${dir}/hot.json`;
  await Deno.writeTextFile(config, JSON.stringify({ train: { learningRate: 10 } }));
  const out = `${dir}/hot`;
  const r = await runTask([
    "task",
    "train",
    ...TINY,
    "--epochs",
    "3",
    "--config",
    config,
    "--optimizer",
    "adamw",
    "--weight-decay",
    "10",
    "--out",
    out,
  ]);
  assert.equal(r.code, 1, r.stdout);
  oneLineError(
    r.stderr,
    /^error: Training diverged at epoch 1, batch \d+ of \d+ \(step \d+\): the loss is NaN/,
  );
  await assert.rejects(Deno.stat(`${out}/meta.json`), "nothing was saved");
});

Deno.test("two workers train batches of one sentence (a replica with an empty slice)", async () => {
  // 165 sentences in batches of 4: the last batch holds one sentence.
  const r = await runTask([
    "task",
    "train",
    ...TINY,
    "--epochs",
    "1",
    "--workers",
    "2",
    "--out",
    `${dir}/w2`,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^epoch {3}1 loss \d/m);
});

Deno.test("bad inputs give one clear line: empty, Latin-1, BOM, configs, flags", async () => {
  const empty = `${dir}/empty.json`;
  await Deno.writeTextFile(empty, "[]");
  let r = await runTask(["task", "train", ...TINY, "--data", empty, "--out", `${dir}/e`]);
  assert.equal(r.code, 1);
  oneLineError(r.stderr, /empty.json: no sentences in the file/);

  const latin1 = `${dir}/latin1.json`;
  const text = '[{"text": "Caf\u00e9 Paris", "tags": ["O", "B-LOC"], "sentiment": "positive"}]';
  await Deno.writeFile(latin1, Uint8Array.from(text, (c) => c.charCodeAt(0)));
  r = await runTask(["task", "train", ...TINY, "--data", latin1, "--out", `${dir}/l`]);
  assert.equal(r.code, 1);
  oneLineError(r.stderr, /latin1.json: line 1: not UTF-8 text: byte 0xe9 at offset 14/);

  const bom = `${dir}/bom.json`;
  const records = Array.from({ length: 8 }, () => JSON.parse(text)[0]);
  await Deno.writeTextFile(bom, "\uFEFF" + JSON.stringify(records));
  r = await runTask([
    "task",
    "train",
    ...TINY,
    "--epochs",
    "1",
    "--data",
    bom,
    "--out",
    `${dir}/b`,
  ]);
  assert.equal(r.code, 0, r.stderr);

  const conll = `${dir}/empty.conll`;
  await Deno.writeTextFile(conll, "-DOCSTART- -X- O O\n\n");
  r = await runTask(["task", "eval", "--model", `${dir}/b`, "--ner", conll]);
  assert.equal(r.code, 1);
  oneLineError(r.stderr, /empty.conll: no sentences in the file/);

  for (
    const [content, why] of [["{oops", /bad.json: malformed JSON/], [
      "null",
      /expected a JSON object, got null/,
    ], ["[1]", /expected a JSON object, got an array/]] as const
  ) {
    await Deno.writeTextFile(`${dir}/bad.json`, content);
    r = await runTask([
      "task",
      "train",
      ...TINY,
      "--config",
      `${dir}/bad.json`,
      "--out",
      `${dir}/c`,
    ]);
    assert.equal(r.code, 1, content);
    oneLineError(r.stderr, why);
  }

  for (
    const [args, why] of [
      [["train", "--epochs", "0"], /--epochs expects an integer in \[1, 100000\], got "0"/],
      [["train", "--epochs", "1e9"], /--epochs expects an integer in \[1, 100000\], got "1e9"/],
      [["train", "--workers", "0"], /--workers expects an integer in \[1, 1024\], got "0"/],
      [["predict", "--workers", "0", "x"], /--workers expects an integer in \[1, 1024\], got "0"/],
      [["train", "--bogus"], /Unknown option '--bogus'/],
    ] as const
  ) {
    r = await runTask(["task", ...args]);
    assert.equal(r.code, 2, `${args}: ${r.stderr}`);
    oneLineError(r.stderr, why);
  }
});

Deno.test("too many workers or threads warn and go on", async () => {
  const r = await runTask([
    "task",
    "predict",
    "--model",
    `${dir}/b`,
    "--workers",
    "100",
    "--threads",
    "64",
    "Paris",
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: --workers 100 exceeds the \d+ cores; using \d+/);
  assert.match(r.stderr, /warning: --threads 64 exceeds the \d+ cores/);
});

Deno.test("predict gives one result per input, empty ones included; embed warns on truncation", async () => {
  const r = await runTask(["task", "predict", "--model", `${dir}/b`, "--json", "   ", "Paris"]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((p) => p.words), [[], ["Paris"]]);
  const long = Array.from({ length: 40 }, (_, i) => `w${i}`).join(" ");
  const e = await runTask(["task", "embed", "--model", `${dir}/b`, long]);
  assert.equal(e.code, 0, e.stderr);
  assert.match(e.stderr, /warning: input 1 \("w0 w1.*is longer than the model's maxLength/);
});

Deno.test("kill -9 at any moment of training or saving leaves a loadable model; resume ends bit-for-bit", async () => {
  const args = ["task", "train", ...TINY, "--epochs", "8", "--seed", "5"];
  const reference = `${dir}/uninterrupted`;
  const full = await runTask([...args, "--out", reference]);
  assert.equal(full.code, 0, full.stderr);
  const expected = await loadModel(reference);
  const expectedWeights = snapshot(expected.model);
  expected.model.dispose();
  let interrupted = 0;
  for (const delay of [900, 1300, 1700, 2100, 2600, 3200]) {
    const out = `${dir}/killed-${delay}`;
    // The training process itself, not `deno task`: killing the task runner would leave
    // its child training (and saving) on while the directory is inspected and resumed.
    const child = new Deno.Command(Deno.execPath(), {
      args: [...TRAIN_PROCESS, ...TINY, "--epochs", "8", "--seed", "5", "--out", out],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await new Promise((resolve) => setTimeout(resolve, delay));
    try {
      child.kill("SIGKILL");
    } catch {
      // it had already finished
    }
    const status = await child.status;
    if (!status.success) interrupted++;
    let saved = false;
    try {
      await Deno.stat(`${out}/meta.json`);
      saved = true;
    } catch {
      // killed before the first epoch ended: nothing to load, nothing lost
    }
    if (!saved) continue;
    const loaded = await loadModel(out); // the previous or the new model, never a broken one
    loaded.model.dispose();
    const resumed = await runTask(["task", "train", "--quiet", "--resume", out, "--epochs", "8"]);
    if (resumed.code !== 0) {
      // killed after the last epoch was saved: the run was complete
      assert.match(resumed.stderr, /it has trained 8 epoch\(s\) already/);
    }
    const final = await loadModel(out);
    const weights = snapshot(final.model);
    for (const [name, values] of expectedWeights) {
      assert.ok(bitEqual(values, weights.get(name)!), `${delay} ms: ${name}`);
    }
    final.model.dispose();
    // meta.json, the current generation and at most the one it replaced.
    const leftovers = [...Deno.readDirSync(out)].map((e) => e.name);
    assert.ok(
      leftovers.length <= 3 && leftovers.includes("meta.json"),
      `${delay} ms: ${leftovers}`,
    );
  }
  assert.ok(interrupted >= 2, `only ${interrupted} runs were killed mid-way`);
});

Deno.test("no test left a temporary or partial file behind (then the folder goes)", async () => {
  await assertNoLeftovers(dir);
});
