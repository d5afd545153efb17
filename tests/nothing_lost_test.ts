/**
 * Nothing lost, part two: readers during writers, every file of a model
 * directory checked, links and folders that are not ours left alone, a full
 * disk, and no leftovers of killed runs.
 */
import assert from "node:assert/strict";
import { sha256Hex } from "../lib/core/mod.ts";
import { loadModel, predict } from "../lib/mod.ts";
import {
  assertNoLeftovers,
  modelFile,
  oneLineError,
  runTask,
  setup,
  taskArgs,
} from "./_helpers.ts";

await setup();

const dir = await Deno.makeTempDir({ prefix: "mtt-nothing-lost-" });
const TINY = ["--preset", "tiny", "--quiet"];
/** What `deno task train` runs (deno.json), to start and kill the training process directly. */
const TRAIN = await taskArgs("train", "cli/train.ts");

/** A training process writing `out` for many epochs (a generation every few ms), started. */
async function writer(out: string, epochs = 150): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...TRAIN, ...TINY, "--epochs", String(epochs), "--out", out],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  for (let i = 0; i < 600; i++) {
    if (await Deno.stat(`${out}/meta.json`).then(() => true, () => false)) return child;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  child.kill("SIGKILL");
  throw new Error("the writer saved nothing in 30 s");
}

async function running(child: Deno.ChildProcess): Promise<boolean> {
  return await Promise.race([
    child.status.then(() => false),
    new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 0)),
  ]);
}

Deno.test("readers never fail while a writer saves: 200 loads and predictions during a 150-epoch run", async () => {
  const out = `${dir}/readers`;
  const child = await writer(out);
  let failures = 0, duringWrites = 0;
  const errors: string[] = [];
  for (let i = 0; i < 200; i++) {
    const alive = await running(child);
    try {
      const bundle = await loadModel(out);
      assert.equal(predict(bundle, ["Anna flew to Oslo"]).length, 1);
      bundle.model.dispose();
    } catch (error) {
      failures++;
      errors.push((error as Error).message);
    }
    if (alive) duringWrites++;
  }
  child.kill("SIGKILL");
  await child.status;
  assert.equal(failures, 0, errors.slice(0, 3).join("\n"));
  assert.ok(duringWrites >= 100, `only ${duringWrites} loads overlapped the writer`);
});

Deno.test("--resume racing a writer gets the lock message, nothing else", async () => {
  const out = `${dir}/race`;
  const child = await writer(out);
  for (let i = 0; i < 5 && await running(child); i++) {
    const r = await runTask(["task", "train", "--resume", out, "--epochs", "200"]);
    if (!(await running(child))) break; // the writer finished meanwhile: no race left
    assert.equal(r.code, 1, r.stderr);
    oneLineError(r.stderr, new RegExp(`process ${child.pid} on .* is writing it`));
  }
  child.kill("SIGKILL");
  await child.status;
});

Deno.test("every file of a generation is checked: a changed label or tokenizer byte is refused", async () => {
  const out = `${dir}/checked`;
  assert.equal((await runTask(["task", "train", ...TINY, "--epochs", "1", "--out", out])).code, 0);
  const tasks = await modelFile(out, "tasks.json");
  const good = await Deno.readTextFile(tasks);
  await Deno.writeTextFile(tasks, good.replace('"B-PER"', '"B-PES"'));
  const r = await runTask(["task", "predict", "--model", out, "Anna flew to Oslo"]);
  assert.equal(r.code, 1);
  oneLineError(r.stderr, /tasks.json: its sha256 [0-9a-f]+ differs from the [0-9a-f]+ recorded/);
  await Deno.writeTextFile(tasks, good);
  const tokenizer = await modelFile(out, "tokenizer.json");
  const bytes = await Deno.readFile(tokenizer);
  bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 1;
  await Deno.writeFile(tokenizer, bytes);
  await assert.rejects(loadModel(out), /tokenizer.json: its sha256 .* \(the file is corrupted\)/);
  bytes[bytes.length - 10] = bytes[bytes.length - 10]! ^ 1;
  await Deno.writeFile(tokenizer, bytes);
  // A directory saved before every file had a checksum loads, with one note.
  const meta = JSON.parse(await Deno.readTextFile(`${out}/meta.json`));
  for (const file of Object.keys(meta.sha256)) if (file.endsWith(".json")) delete meta.sha256[file];
  await Deno.writeTextFile(`${out}/meta.json`, JSON.stringify(meta));
  const notes: string[] = [];
  (await loadModel(out, { onNote: (m) => notes.push(m) })).model.dispose();
  assert.deepEqual(notes, [
    `${out} was saved by an earlier version: its JSON files have no checksums (the weights do)`,
  ]);
});

Deno.test("a .lock that is a link is never followed, and a user's gen-NNNNNN folder is never removed", async () => {
  const out = `${dir}/links`;
  assert.equal((await runTask(["task", "train", ...TINY, "--epochs", "1", "--out", out])).code, 0);
  const precious = `${dir}/precious.txt`;
  await Deno.writeTextFile(precious, "years of work");
  await Deno.symlink(precious, `${out}/.lock`);
  const r = await runTask(["task", "train", ...TINY, "--epochs", "1", "--out", out]);
  assert.equal(r.code, 1);
  oneLineError(
    r.stderr,
    /\.lock is a symbolic link, not a lock of this toolkit; it is never followed/,
  );
  assert.equal(await Deno.readTextFile(precious), "years of work");
  await Deno.remove(`${out}/.lock`);
  // A folder named like a generation, that this toolkit did not write.
  await Deno.mkdir(`${out}/gen-000007`);
  await Deno.writeTextFile(`${out}/gen-000007/notes.txt`, "mine");
  for (let i = 0; i < 2; i++) {
    const again = await runTask(["task", "train", ...TINY, "--epochs", "1", "--out", out]);
    assert.equal(again.code, 0, again.stderr);
  }
  assert.equal(await Deno.readTextFile(`${out}/gen-000007/notes.txt`), "mine");
  assert.equal(await Deno.readTextFile(precious), "years of work");
  (await loadModel(out)).model.dispose();
});

/** A 5 MB tmpfs at a new folder, or undefined where mounting is not allowed. */
async function smallDisk(): Promise<string | undefined> {
  const at = `${dir}/disk`;
  await Deno.mkdir(at);
  const mount = await new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", "size=5m", "tmpfs", at],
    stdout: "null",
    stderr: "null",
  }).output().catch(() => undefined);
  return mount?.success ? at : undefined;
}

const disk = await smallDisk();

Deno.test({
  name: "a full disk names the file, keeps the previous model, and leaves no half generation",
  ignore: disk === undefined, // mounting a tmpfs needs root; CI runs as root
  fn: async () => {
    try {
      // A checkpoint of the default preset (weights and Adam moments) is ≈ 3.4 MB: the second fails.
      const out = `${disk}/model`;
      const r = await runTask([
        "task",
        "train",
        "--preset",
        "default",
        "--quiet",
        "--epochs",
        "5",
        "--out",
        out,
      ]);
      assert.equal(r.code, 1, r.stderr);
      oneLineError(
        r.stderr,
        /Cannot save the model to .*model: writing gen-\d+\/\S+ failed \(No space left on device.*\); the previous model stays current/,
      );
      const meta = JSON.parse(await Deno.readTextFile(`${out}/meta.json`));
      (await loadModel(out)).model.dispose();
      const entries = [...Deno.readDirSync(out)].map((e) => e.name).sort();
      assert.ok(entries.every((e) => e === "meta.json" || e <= meta.current), `${entries}`);
      assert.ok(!entries.some((e) => e.includes(".tmp-")), `${entries}`);
      // A first run into a full disk leaves no folder behind, parents included: whether
      // its lock fits (and the generation does not) or nothing does.
      await Deno.remove(out, { recursive: true });
      for (const free of [256 << 10, 0]) {
        await Deno.writeFile(`${disk}/filler`, new Uint8Array((5 << 20) - free)).catch(() => {});
        const model = `${disk}/new/deep/model`;
        const first = await runTask(
          ["task", "train", "--preset", "default", "--quiet", "--epochs", "1", "--out", model],
        );
        assert.equal(first.code, 1);
        oneLineError(first.stderr, /writing \S+ failed \(No space left on device/);
        assert.ok(
          !(await Deno.stat(`${disk}/new`).then(() => true, () => false)),
          `no half directory (${free} bytes free)`,
        );
        await Deno.remove(`${disk}/filler`);
      }
    } finally {
      await new Deno.Command("umount", { args: [disk!] }).output();
    }
  },
});

Deno.test("a killed embed leaves nothing after a rerun; a live writer's partial file is left alone", async () => {
  const out = `${dir}/embed-model`;
  assert.equal((await runTask(["task", "train", ...TINY, "--epochs", "1", "--out", out])).code, 0);
  const input = `${dir}/sentences.txt`;
  await Deno.writeTextFile(input, "Anna flew to Oslo and saw the sea\n".repeat(20000));
  const npy = `${dir}/vectors.npy`;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys",
      "cli/embed.ts",
      "--model",
      out,
      "--file",
      input,
      "--out",
      npy,
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const partial = `${npy}.partial-${child.pid}`;
  for (let i = 0; i < 400 && !(await Deno.stat(partial).then(() => true, () => false)); i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  child.kill("SIGKILL");
  await child.status;
  assert.ok((await Deno.stat(partial)).isFile, "the kill left a partial file");
  await Deno.writeTextFile(input, "Anna flew to Oslo\n");
  const again = await runTask(["task", "embed", "--model", out, "--file", input, "--out", npy]);
  assert.equal(again.code, 0, again.stderr);
  const left = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) =>
    n.startsWith("vectors.")
  );
  assert.deepEqual(left, ["vectors.npy"]);
  assert.equal((await sha256Hex(await Deno.readFile(npy))).length, 64);
});

Deno.test("no test left a temporary or partial file behind (then the folder goes)", async () => {
  await assertNoLeftovers(dir);
});
