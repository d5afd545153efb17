/** loadModelFrom: a model directory read through any reader (a web server, in the browser). */
import assert from "node:assert/strict";
import { loadModel, loadModelFrom, saveModel } from "../lib/model/mod.ts";
import { predict } from "../lib/inference/mod.ts";
import { disposeBatch } from "../lib/data/mod.ts";
import { setup, TASKS, tinyConfig, tinySetup } from "./_helpers.ts";

await setup();
const dir = await Deno.makeTempDir({ prefix: "mtt-load-from-" });
const config = tinyConfig();
const { model, tokenizer, batch } = tinySetup(config);
disposeBatch(batch);
await saveModel(`${dir}/m`, { config, tokenizer, tasks: TASKS, model });
model.dispose();

Deno.test("a model read through a reader predicts as the one read from disk", async () => {
  const read = (file: string) => Deno.readFile(`${dir}/m/${file}`);
  const fromReader = await loadModelFrom(read, "http://x/model");
  const fromDisk = await loadModel(`${dir}/m`);
  const texts = ["Anna flew to Paris", "the film was dull"];
  assert.deepEqual(predict(fromReader, texts), predict(fromDisk, texts));
  fromReader.model.dispose();
  fromDisk.model.dispose();
});

Deno.test("a reader's missing or changed file is one line naming it", async () => {
  const missing = (file: string) =>
    file.endsWith("weights.bin")
      ? Promise.reject(new Error("404"))
      : Deno.readFile(`${dir}/m/${file}`);
  await assert.rejects(
    () => loadModelFrom(missing, "http://x/model"),
    /Cannot load model directory http:\/\/x\/model: gen-\d+\/weights.bin is unreadable \(404\)/,
  );
  const changed = async (file: string) => {
    const bytes = await Deno.readFile(`${dir}/m/${file}`);
    if (file.endsWith("tokenizer.json")) bytes[bytes.length - 2] = bytes.at(-2)! ^ 1;
    return bytes;
  };
  await assert.rejects(
    () => loadModelFrom(changed, "http://x/model"),
    /tokenizer.json: its sha256 .* differs from the .* recorded/,
  );
});
