import assert from "node:assert/strict";
import { CheckpointError } from "../lib/core/mod.ts";
import { sha256Hex } from "../lib/core/mod.ts";
import { FORMAT_VERSION, loadModel, prepareModelDir, saveModel } from "../lib/model/mod.ts";
import { predict } from "../lib/inference/mod.ts";
import { loadTrainingState, resumeTraining, trainModel } from "../lib/training/mod.ts";
import * as tf from "@tensorflow/tfjs";
import { bitEqual, lockHolder, SENTENCES, setup, snapshot, TASKS, tinyConfig } from "./_helpers.ts";

await setup();

const TEXTS = ["Anna loves Rome", "Tim Cook hates rain in Oslo", "Bob smiled at New York"];

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "mtt-test-" });
}

/**
 * Rewrites a file of a model directory's generation and records its new
 * sha256 in meta.json, as a deliberate edit (not corruption) would need to.
 */
async function edit(model: string, file: string, content: string): Promise<void> {
  const meta = JSON.parse(await Deno.readTextFile(`${model}/meta.json`));
  const bytes = new TextEncoder().encode(content);
  await Deno.writeFile(`${model}/${meta.current}/${file}`, bytes);
  meta.sha256[file] = await sha256Hex(bytes);
  await Deno.writeTextFile(`${model}/meta.json`, JSON.stringify(meta));
}

Deno.test("save then load gives bit-identical weights and predictions", async () => {
  const dir = await tempDir();
  const config = tinyConfig({ train: { epochs: 2 } });
  const { bundle, trainer } = await trainModel(SENTENCES, config, { tasks: TASKS });
  await saveModel(`${dir}/m`, bundle);
  const loaded = await loadModel(`${dir}/m`);
  const a = snapshot(bundle.model);
  const b = snapshot(loaded.model);
  for (const [name, values] of a) assert.ok(bitEqual(values, b.get(name)!), name);
  assert.deepEqual(predict(loaded, TEXTS), predict(bundle, TEXTS));
  assert.deepEqual(loaded.config, bundle.config);
  assert.deepEqual(loaded.tokenizer.vocab, bundle.tokenizer.vocab);
  assert.deepEqual(loaded.tasks, bundle.tasks);
  assert.deepEqual(loaded.tasks.map((t) => t.name), ["ner", "sentiment"]);
  assert.equal(loaded.tasks[0]!.tagTransitions?.scores.length, TASKS[0]!.labels.length ** 2);
  bundle.model.dispose();
  loaded.model.dispose();
  trainer.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("loadModel() refuses another format version and missing files", async () => {
  const dir = await tempDir();
  const { bundle, trainer } = await trainModel(SENTENCES, tinyConfig({ train: { epochs: 0 } }), {
    tasks: TASKS,
  });
  await saveModel(`${dir}/m`, bundle);
  const meta = JSON.parse(await Deno.readTextFile(`${dir}/m/meta.json`));
  const gen = `${dir}/m/${meta.current}`;
  await Deno.writeTextFile(`${dir}/m/meta.json`, JSON.stringify({ ...meta, formatVersion: 99 }));
  await assert.rejects(
    loadModel(`${dir}/m`),
    (e: Error) =>
      e instanceof CheckpointError &&
      e.message.includes(`format version 99 is not supported (expected 1 or ${FORMAT_VERSION})`),
  );
  await Deno.writeTextFile(`${dir}/m/meta.json`, JSON.stringify(meta));
  const saved = JSON.parse(await Deno.readTextFile(`${gen}/tasks.json`));
  const withNer = (ner: Record<string, unknown>) =>
    JSON.stringify({ tasks: [{ ...saved.tasks[0], ...ner }, saved.tasks[1]] });
  await edit(`${dir}/m`, "tasks.json", withNer({ tagTransitions: { scores: [0, 1], start: [] } }));
  await assert.rejects(
    loadModel(`${dir}/m`),
    /tasks.json: task "ner": field tagTransitions must hold 5×5 scores, 5 start scores/,
  );
  for (
    const [bad, why] of [
      [
        { prior: [0, 1] },
        /task "ner": field tagTransitions must hold .* optionally 5 prior scores/,
      ],
      [{ priorWeight: -1 }, /field "tasks.0.tagTransitions.priorWeight": Too small.*\(got -1\)/],
      [{ priorWeight: "0.5" }, /field "tasks.0.tagTransitions.priorWeight": .*expected number/],
    ] as const
  ) {
    await edit(
      `${dir}/m`,
      "tasks.json",
      withNer({ tagTransitions: { ...saved.tasks[0].tagTransitions, ...bad } }),
    );
    await assert.rejects(loadModel(`${dir}/m`), why);
  }
  await edit(`${dir}/m`, "tasks.json", withNer({ name: "NER!" }));
  await assert.rejects(
    loadModel(`${dir}/m`),
    /tasks.json: Invalid task "NER!": a task name is lower-case/,
  );
  await edit(`${dir}/m`, "tasks.json", JSON.stringify(saved));
  await Deno.remove(`${gen}/weights.bin`);
  await assert.rejects(loadModel(`${dir}/m`), /weights.bin is unreadable/);
  await assert.rejects(loadModel(`${dir}/none`), /meta.json is unreadable/);
  bundle.model.dispose();
  trainer.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("saveModel() replaces a model directory by a new generation, nothing else", async () => {
  const dir = await tempDir();
  const { bundle, trainer } = await trainModel(SENTENCES, tinyConfig({ train: { epochs: 0 } }), {
    tasks: TASKS,
  });
  await saveModel(`${dir}/m/`, bundle); // a trailing slash, as tab completion gives
  await saveModel(`${dir}/m`, bundle);
  const names = () => [...Deno.readDirSync(`${dir}/m`)].map((e) => e.name).sort();
  // The generation just replaced stays one more save, for a reader that may be reading it.
  assert.deepEqual(names(), ["gen-000001", "gen-000002", "meta.json"]);
  await saveModel(`${dir}/m`, bundle);
  assert.deepEqual(names(), ["gen-000002", "gen-000003", "meta.json"]);
  assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["m"]);
  // A folder of someone's files, or a file, is never replaced.
  await Deno.mkdir(`${dir}/mine`);
  await Deno.writeTextFile(`${dir}/mine/notes.txt`, "keep me");
  await assert.rejects(
    saveModel(`${dir}/mine`, bundle),
    /mine: it holds other files \(notes.txt\); it is not a model directory of this toolkit/,
  );
  assert.equal(await Deno.readTextFile(`${dir}/mine/notes.txt`), "keep me");
  await assert.rejects(saveModel(`${dir}/mine/notes.txt`, bundle), /it is a file, not a folder/);
  await assert.rejects(
    saveModel(`${dir}/mine/notes.txt/m`, bundle),
    /a part of the path is a file/,
  );
  bundle.model.dispose();
  trainer.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("prepareModelDir() checks an output path before a run: refusal, probe, parents", async () => {
  const dir = await tempDir();
  const lock = await prepareModelDir(`${dir}/a/b/model`);
  assert.ok(Deno.statSync(`${dir}/a/b`).isDirectory, "parents created");
  assert.deepEqual([...Deno.readDirSync(`${dir}/a/b/model`)].map((e) => e.name), [".lock"]);
  await lock.release();
  assert.deepEqual(
    [...Deno.readDirSync(dir)],
    [],
    "a run that saved nothing leaves nothing, the parents it created included",
  );
  await Deno.writeTextFile(`${dir}/file.txt`, "x");
  await assert.rejects(prepareModelDir(`${dir}/file.txt`), /it is a file, not a folder/);
  await assert.rejects(prepareModelDir(dir), /it holds other files/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a model directory of format version 1 still loads, and a save replaces it", async () => {
  const dir = await tempDir();
  const { bundle, trainer } = await trainModel(SENTENCES, tinyConfig({ train: { epochs: 1 } }), {
    tasks: TASKS,
  });
  await saveModel(`${dir}/m`, bundle);
  const meta = JSON.parse(await Deno.readTextFile(`${dir}/m/meta.json`));
  await Deno.remove(`${dir}/m/${meta.current}/.generation`); // format 1 had no marker
  for (const e of Deno.readDirSync(`${dir}/m/${meta.current}`)) {
    await Deno.rename(`${dir}/m/${meta.current}/${e.name}`, `${dir}/m/${e.name}`);
  }
  await Deno.remove(`${dir}/m/${meta.current}`);
  await Deno.writeTextFile(
    `${dir}/m/meta.json`,
    JSON.stringify({ formatVersion: 1, library: "multitask-transformer", dims: meta.dims }),
  );
  const old = await loadModel(`${dir}/m`);
  assert.deepEqual(predict(old, TEXTS), predict(bundle, TEXTS));
  await saveModel(`${dir}/m`, old);
  const names = [...Deno.readDirSync(`${dir}/m`)].map((e) => e.name).sort();
  assert.deepEqual(names, ["gen-000001", "meta.json"]);
  for (const b of [bundle, old]) b.model.dispose();
  trainer.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("corrupted weights are refused naming the file and the weight", async () => {
  const dir = await tempDir();
  const { bundle, trainer } = await trainModel(SENTENCES, tinyConfig({ train: { epochs: 0 } }), {
    tasks: TASKS,
  });
  await saveModel(`${dir}/m`, bundle);
  const meta = JSON.parse(await Deno.readTextFile(`${dir}/m/meta.json`));
  const bin = `${dir}/m/${meta.current}/weights.bin`;
  const good = await Deno.readFile(bin);
  const manifest = JSON.parse(await Deno.readTextFile(`${dir}/m/${meta.current}/weights.json`));
  const last: string = manifest[0].weights.at(-1).name;
  await Deno.writeFile(bin, good.subarray(0, good.length - 8));
  await assert.rejects(
    loadModel(`${dir}/m`),
    (e: Error) =>
      e.message.endsWith(
        `weights.bin: it has ${
          good.length - 8
        } bytes but the manifest describes ${good.length} (weight ${last} is cut short)`,
      ),
  );
  await Deno.writeFile(bin, new Uint8Array([...good, 1, 2, 3, 4]));
  await assert.rejects(loadModel(`${dir}/m`), /\(extra bytes at the end\)/);
  const flipped = good.slice();
  flipped[100] = flipped[100]! ^ 0xff;
  await Deno.writeFile(bin, flipped);
  await assert.rejects(
    loadModel(`${dir}/m`),
    /weights.bin: its sha256 [0-9a-f]+ differs from the [0-9a-f]+ recorded when it was saved/,
  );
  await Deno.writeFile(bin, good);
  await edit(`${dir}/m`, "weights.json", JSON.stringify({ paths: [] }));
  await assert.rejects(loadModel(`${dir}/m`), /weights.json: expected a list of weight groups/);
  bundle.model.dispose();
  trainer.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a model with non-finite weights is never saved, and never loaded", async () => {
  const dir = await tempDir();
  const { bundle, trainer } = await trainModel(SENTENCES, tinyConfig({ train: { epochs: 0 } }), {
    tasks: TASKS,
  });
  await saveModel(`${dir}/m`, bundle);
  const head = bundle.model.parameters.get("ner_head/bias");
  const saved = head.dataSync().slice();
  head.assign(tf.tensor1d(Array.from(saved, (_, i) => (i === 0 ? NaN : Infinity))));
  await assert.rejects(
    saveModel(`${dir}/m`, bundle),
    /weight ner_head\/bias has 1 NaN and 4 infinite values \(training diverged\?\)/,
  );
  const earlier = await loadModel(`${dir}/m`);
  earlier.model.dispose();
  // Written by something else: the sha256 matches, the values are not finite.
  const meta = JSON.parse(await Deno.readTextFile(`${dir}/m/meta.json`));
  const bin = `${dir}/m/${meta.current}/weights.bin`;
  const floats = new Float32Array((await Deno.readFile(bin)).buffer);
  floats[3] = NaN;
  const bytes = new Uint8Array(floats.buffer);
  await Deno.writeFile(bin, bytes);
  meta.sha256["weights.bin"] = await sha256Hex(bytes);
  await Deno.writeTextFile(`${dir}/m/meta.json`, JSON.stringify(meta));
  await assert.rejects(
    loadModel(`${dir}/m`),
    /weights.bin: weight [^ ]+ has 1 NaN and 0 infinite values/,
  );
  bundle.model.dispose();
  trainer.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a resumed run ends with the same weights as an uninterrupted one", async () => {
  const dir = await tempDir();
  const config = tinyConfig({ model: { dropout: 0.1 }, train: { epochs: 4, batchSize: 2 } });
  const full = await trainModel(SENTENCES, config, { tasks: TASKS, outDir: `${dir}/full` });

  const stopped = await trainModel(
    SENTENCES,
    { ...config, train: { ...config.train, epochs: 2 } },
    {
      tasks: TASKS,
      outDir: `${dir}/part`,
    },
  );
  stopped.bundle.model.dispose();
  stopped.trainer.dispose();
  const state = await loadTrainingState(`${dir}/part`);
  assert.equal(state?.epoch, 2);
  assert.ok(Object.keys(state!.optimizer.moments).length > 0);

  const resumed = await resumeTraining(`${dir}/part`, SENTENCES, {
    epochs: 4,
    outDir: `${dir}/part`,
  });
  assert.deepEqual(resumed.history.map((r) => r.epoch), [1, 2, 3, 4]);
  assert.deepEqual(resumed.history.map((r) => r.loss), full.history.map((r) => r.loss));
  const a = snapshot(full.bundle.model);
  const b = snapshot(resumed.bundle.model);
  for (const [name, values] of a) assert.ok(bitEqual(values, b.get(name)!), name);
  for (const r of [full, resumed]) {
    r.bundle.model.dispose();
    r.trainer.dispose();
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("resumeTraining() refuses a directory without training state", async () => {
  const dir = await tempDir();
  const { bundle, trainer } = await trainModel(SENTENCES, tinyConfig({ train: { epochs: 0 } }), {
    tasks: TASKS,
  });
  await saveModel(`${dir}/m`, bundle);
  await assert.rejects(resumeTraining(`${dir}/m`, SENTENCES), /has no training state/);
  bundle.model.dispose();
  trainer.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a model directory is written by one process at a time; a killed writer's lock is taken over", async () => {
  const dir = await tempDir();
  const { bundle, trainer } = await trainModel(SENTENCES, tinyConfig({ train: { epochs: 1 } }), {
    tasks: TASKS,
  });
  await saveModel(`${dir}/m`, bundle);
  assert.deepEqual([...Deno.readDirSync(`${dir}/m`)].map((e) => e.name).sort(), [
    "gen-000001",
    "meta.json",
  ], "a save takes and releases its own lock");
  const meta = await Deno.readTextFile(`${dir}/m/meta.json`);
  const other = await lockHolder(`${dir}/m`);
  await assert.rejects(
    prepareModelDir(`${dir}/m`),
    new RegExp(`process ${other.pid} on elsewhere is writing it \\(${dir}/m/\\.lock\\)`),
  );
  await assert.rejects(saveModel(`${dir}/m`, bundle), CheckpointError);
  assert.equal(await Deno.readTextFile(`${dir}/m/meta.json`), meta, "nothing written");
  other.kill("SIGKILL");
  await other.status;
  // Its lock ended with it: the file it left is taken over, and this process's saves go through.
  const held = await prepareModelDir(`${dir}/m`);
  assert.equal(JSON.parse(await Deno.readTextFile(`${dir}/m/.lock`)).pid, Deno.pid);
  await assert.rejects(prepareModelDir(`${dir}/m`), /process \d+ on .* is writing it/);
  await saveModel(`${dir}/m`, bundle);
  assert.ok(Deno.statSync(`${dir}/m/.lock`).isFile, "the run's lock outlives its saves");
  await held.release();
  assert.deepEqual([...Deno.readDirSync(`${dir}/m`)].map((e) => e.name).sort(), [
    "gen-000001",
    "gen-000002",
    "meta.json",
  ]);
  const loaded = await loadModel(`${dir}/m`);
  assert.equal(loaded.tasks.length, 2);
  loaded.model.dispose();
  bundle.model.dispose();
  trainer.dispose();
  await Deno.remove(dir, { recursive: true });
});
