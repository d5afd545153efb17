import assert from "node:assert/strict";
import {
  CheckpointError,
  FORMAT_VERSION,
  loadModel,
  loadTrainingState,
  predict,
  resumeTraining,
  saveModel,
  trainModel,
} from "../lib/mod.ts";
import { bitEqual, LABELS, SENTENCES, setup, snapshot, tinyConfig } from "./_helpers.ts";

await setup();

const TEXTS = ["Anna loves Rome", "Tim Cook hates rain in Oslo", "Bob smiled at New York"];

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "mtt-test-" });
}

Deno.test("save then load gives bit-identical weights and predictions", async () => {
  const dir = await tempDir();
  const config = tinyConfig({ train: { epochs: 2 } });
  const { bundle, trainer } = await trainModel(SENTENCES, config, { labels: LABELS });
  await saveModel(`${dir}/m`, bundle);
  const loaded = await loadModel(`${dir}/m`);
  const a = snapshot(bundle.model);
  const b = snapshot(loaded.model);
  for (const [name, values] of a) assert.ok(bitEqual(values, b.get(name)!), name);
  assert.deepEqual(predict(loaded, TEXTS), predict(bundle, TEXTS));
  assert.deepEqual(loaded.config, bundle.config);
  assert.deepEqual(loaded.tokenizer.vocab, bundle.tokenizer.vocab);
  assert.deepEqual(loaded.labels, bundle.labels);
  assert.deepEqual(loaded.labels.nerTags, LABELS.nerTags);
  assert.equal(loaded.labels.tagTransitions?.scores.length, LABELS.nerTags.length ** 2);
  bundle.model.dispose();
  loaded.model.dispose();
  trainer.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("saveModel() replaces an existing directory and leaves no temporary files", async () => {
  const dir = await tempDir();
  const { bundle, trainer } = await trainModel(SENTENCES, tinyConfig({ train: { epochs: 0 } }), {
    labels: LABELS,
  });
  await Deno.mkdir(`${dir}/m`);
  await Deno.writeTextFile(`${dir}/m/stale.txt`, "old");
  await saveModel(`${dir}/m`, bundle);
  const names = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  assert.deepEqual(names, ["m"]);
  await assert.rejects(Deno.stat(`${dir}/m/stale.txt`));
  bundle.model.dispose();
  trainer.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("loadModel() refuses another format version and missing files", async () => {
  const dir = await tempDir();
  const { bundle, trainer } = await trainModel(SENTENCES, tinyConfig({ train: { epochs: 0 } }), {
    labels: LABELS,
  });
  await saveModel(`${dir}/m`, bundle);
  const meta = JSON.parse(await Deno.readTextFile(`${dir}/m/meta.json`));
  await Deno.writeTextFile(`${dir}/m/meta.json`, JSON.stringify({ ...meta, formatVersion: 99 }));
  await assert.rejects(
    loadModel(`${dir}/m`),
    (e: Error) =>
      e instanceof CheckpointError &&
      e.message.includes(`format version 99 is not supported (expected ${FORMAT_VERSION})`),
  );
  await Deno.writeTextFile(`${dir}/m/meta.json`, JSON.stringify(meta));
  const labels = JSON.parse(await Deno.readTextFile(`${dir}/m/labels.json`));
  await Deno.writeTextFile(
    `${dir}/m/labels.json`,
    JSON.stringify({ ...labels, tagTransitions: { scores: [0, 1], start: [] } }),
  );
  await assert.rejects(
    loadModel(`${dir}/m`),
    /labels.json: field tagTransitions must hold 5×5 scores, 5 start scores/,
  );
  for (const bad of [{ prior: [0, 1] }, { priorWeight: -1 }, { priorWeight: "0.5" }]) {
    await Deno.writeTextFile(
      `${dir}/m/labels.json`,
      JSON.stringify({ ...labels, tagTransitions: { ...labels.tagTransitions, ...bad } }),
    );
    await assert.rejects(loadModel(`${dir}/m`), /optionally 5 prior scores and a priorWeight/);
  }
  await Deno.writeTextFile(`${dir}/m/labels.json`, JSON.stringify(labels));
  await Deno.remove(`${dir}/m/weights.bin`);
  await assert.rejects(loadModel(`${dir}/m`), /weights.bin is unreadable/);
  await assert.rejects(loadModel(`${dir}/none`), /meta.json is unreadable/);
  bundle.model.dispose();
  trainer.dispose();
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a resumed run ends with the same weights as an uninterrupted one", async () => {
  const dir = await tempDir();
  const config = tinyConfig({ model: { dropout: 0.1 }, train: { epochs: 4, batchSize: 2 } });
  const full = await trainModel(SENTENCES, config, { labels: LABELS, outDir: `${dir}/full` });

  const stopped = await trainModel(
    SENTENCES,
    { ...config, train: { ...config.train, epochs: 2 } },
    {
      labels: LABELS,
      outDir: `${dir}/part`,
    },
  );
  stopped.bundle.model.dispose();
  stopped.trainer.dispose();
  const state = await loadTrainingState(`${dir}/part`);
  assert.equal(state?.epoch, 2);
  assert.ok(state!.optimizer.moments.size > 0);

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
    labels: LABELS,
  });
  await saveModel(`${dir}/m`, bundle);
  await assert.rejects(resumeTraining(`${dir}/m`, SENTENCES), /has no training state/);
  bundle.model.dispose();
  trainer.dispose();
  await Deno.remove(dir, { recursive: true });
});
