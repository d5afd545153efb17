/** `deno task embed` at scale: streaming output, matrix files, workers; and the line reader under it. */
import assert from "node:assert/strict";
import { npyHeader, readLines } from "../lib/data/mod.ts";
import { saveModel } from "../lib/model/mod.ts";
import { embed } from "../lib/inference/mod.ts";
import { trainModel } from "../lib/training/mod.ts";
import { maxAbsDiff, runTask, SENTENCES, setup, TASKS, tinyConfig } from "./_helpers.ts";

await setup();

const dir = await Deno.makeTempDir({ prefix: "mtt-embed-" });
const model = `${dir}/model`;
const trained = await trainModel(SENTENCES, tinyConfig({ train: { epochs: 1 } }), { tasks: TASKS });
await saveModel(model, trained.bundle);
trained.trainer.dispose();
const bundle = trained.bundle;

const WORDS = ["Anna", "loves", "Rome", "Tim", "Cook", "hates", "rain", "in", "Oslo", "the"];
/** `n` distinct sentences of 3 to 8 words. */
function sentences(n: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const length = 3 + (i % 6);
    return Array.from({ length }, (_, k) => WORDS[(i * 7 + k * (i % 5 + 1)) % WORDS.length]).join(
      " ",
    );
  });
}

/** Parses a float32 C-order .npy file: its shape and values. */
function readNpy(bytes: Uint8Array): { shape: number[]; values: Float32Array } {
  assert.deepEqual([...bytes.subarray(0, 8)], [0x93, 78, 85, 77, 80, 89, 1, 0]);
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true);
  const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLength));
  assert.equal((10 + headerLength) % 64, 0);
  assert.match(header, /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(\d+, \d+\), \} *\n$/);
  const shape = header.match(/\((\d+), (\d+)\)/)!.slice(1).map(Number);
  const body = bytes.slice(10 + headerLength);
  return { shape, values: new Float32Array(body.buffer) };
}

Deno.test("npyHeader() pads to 64 bytes and keeps a reserved length when rewritten", () => {
  const reserved = npyHeader([Number.MAX_SAFE_INTEGER, 128]);
  const final = npyHeader([3, 128], reserved.length);
  assert.equal(final.length, reserved.length);
  assert.equal(final.length % 64, 0);
  assert.equal(new DataView(final.buffer).getUint16(8, true), final.length - 10);
  assert.equal(final.at(-1), 0x0a);
  assert.equal(
    new TextDecoder().decode(npyHeader([5])).slice(10).trimEnd(),
    "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }",
  );
});

Deno.test("readLines() splits across chunk boundaries and names the line of a bad byte", async () => {
  const bytes = new TextEncoder().encode("né\r\nb\n\nlast");
  // Cut inside the two-byte é and inside CRLF.
  const stream = (cuts: number[]) =>
    ReadableStream.from(cuts.map((c, i) => bytes.slice(i === 0 ? 0 : cuts[i - 1], c)));
  const expected = ["né", "b", "", "last"];
  assert.deepEqual(
    await Array.fromAsync(readLines(stream([2, 4, 5, bytes.length]), "f")),
    expected,
  );
  assert.deepEqual(await Array.fromAsync(readLines(stream([bytes.length]), "f")), expected);
  const bad = ReadableStream.from([
    new TextEncoder().encode("ok\nfine\n"),
    Uint8Array.from([0x61, 0xe9, 0x0a]),
  ]);
  await assert.rejects(
    Array.fromAsync(readLines(bad, "in.txt")),
    /^DataError: Cannot load in.txt: line 3: not UTF-8 text: byte 0xe9 at offset 9 is invalid/,
  );
});

Deno.test("embed --jsonl streams: a chunk's lines come out before the input ends", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "embed", "--model", model, "--jsonl", "--chunk", "2"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("Anna loves Rome\nTim Cook hates rain\n"));
  const lines = readLines(child.stdout, "stdout");
  const first = JSON.parse((await lines.next()).value!);
  const second = JSON.parse((await lines.next()).value!);
  // Two embeddings are out while stdin is still open.
  assert.equal(first.text, "Anna loves Rome");
  assert.equal(second.text, "Tim Cook hates rain");
  await writer.write(new TextEncoder().encode("Bob smiled\n"));
  await writer.close();
  const third = JSON.parse((await lines.next()).value!);
  assert.equal((await lines.next()).done, true);
  assert.equal(third.text, "Bob smiled");
  const status = await child.status;
  await child.stderr.cancel();
  assert.equal(status.code, 0);
  const expected = embed(bundle, ["Anna loves Rome", "Tim Cook hates rain", "Bob smiled"]);
  [first, second, third].forEach((line, i) => {
    assert.equal(line.embedding.length, 8);
    assert.ok(maxAbsDiff(line.embedding, expected[i]!) < 1e-6);
  });
});

Deno.test("embed --out writes 10,000 embeddings as .npy and .f32 with the library's values", async () => {
  const texts = sentences(10_000);
  const input = `${dir}/big.txt`;
  await Deno.writeTextFile(input, texts.join("\n") + "\n");
  const npy = await runTask([
    "task",
    "-q",
    "embed",
    "--model",
    model,
    "--file",
    input,
    "--out",
    `${dir}/e.npy`,
    "--chunk",
    "3000",
  ]);
  assert.equal(npy.code, 0, npy.stderr);
  assert.equal(npy.stdout.trim(), `10000 embedding(s) of size 8 written to ${dir}/e.npy (npy)`);
  const { shape, values } = readNpy(await Deno.readFile(`${dir}/e.npy`));
  assert.deepEqual(shape, [10_000, 8]);
  assert.equal(values.length, 80_000);
  const f32 = await runTask([
    "task",
    "-q",
    "embed",
    "--model",
    model,
    "--file",
    input,
    "--out",
    `${dir}/e.f32`,
    "--normalize",
  ]);
  assert.equal(f32.code, 0, f32.stderr);
  const raw = new Float32Array((await Deno.readFile(`${dir}/e.f32`)).buffer);
  assert.equal(raw.length, 80_000);
  const some = [0, 1, 2999, 3000, 9999];
  const expected = embed(bundle, some.map((i) => texts[i]!));
  const normalized = embed(bundle, some.map((i) => texts[i]!), { normalize: true });
  some.forEach((row, k) => {
    assert.ok(maxAbsDiff(values.subarray(row * 8, row * 8 + 8), expected[k]!) < 1e-6, `row ${row}`);
    assert.ok(maxAbsDiff(raw.subarray(row * 8, row * 8 + 8), normalized[k]!) < 1e-6, `row ${row}`);
  });
  // No partial files left beside the outputs.
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  assert.deepEqual(names, ["big.txt", "e.f32", "e.npy", "model"]);
});

Deno.test("embed --out never replaces a file and leaves nothing when the input is bad", async () => {
  const existing = `${dir}/keep.npy`;
  await Deno.writeTextFile(existing, "precious");
  const refused = await runTask([
    "task",
    "-q",
    "embed",
    "--model",
    model,
    "--out",
    existing,
    "a b",
  ]);
  assert.equal(refused.code, 1);
  assert.equal(refused.stderr.trim(), `error: ${existing} exists; not replacing it`);
  assert.equal(await Deno.readTextFile(existing), "precious");
  const bad = `${dir}/bad.txt`;
  await Deno.writeFile(
    bad,
    Uint8Array.from([...new TextEncoder().encode("fine\nalso fine\n"), 0x61, 0xff, 0x0a]),
  );
  const failed = await runTask([
    "task",
    "-q",
    "embed",
    "--model",
    model,
    "--file",
    bad,
    "--out",
    `${dir}/new.f32`,
    "--chunk",
    "1",
  ]);
  assert.equal(failed.code, 1);
  assert.match(
    failed.stderr.trim().split("\n").at(-1)!,
    new RegExp(`^error: Cannot load ${bad}: line 3: not UTF-8 text: byte 0xff at offset 16`),
  );
  assert.equal([...Deno.readDirSync(dir)].some((e) => e.name.startsWith("new.f32")), false);
  const usage = await runTask([
    "task",
    "-q",
    "embed",
    "--model",
    model,
    "--out",
    `${dir}/x.csv`,
    "a",
  ]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--out must name a \.npy or \.f32 file/);
});

Deno.test("embed shows similarities for a few sentences or when asked, and --workers 2 matches one worker", async () => {
  const texts = sentences(20);
  const few = await runTask([
    "task",
    "-q",
    "embed",
    "--model",
    model,
    "--json",
    ...texts.slice(0, 3),
  ]);
  assert.equal(JSON.parse(few.stdout).similarities.length, 3);
  const many = await runTask(["task", "-q", "embed", "--model", model, "--json", ...texts]);
  assert.equal(JSON.parse(many.stdout).similarities, undefined);
  const asked = await runTask([
    "task",
    "-q",
    "embed",
    "--model",
    model,
    "--json",
    "--similarities",
    ...texts,
  ]);
  assert.equal(JSON.parse(asked.stdout).similarities.length, 20);
  const two = await runTask([
    "task",
    "-q",
    "embed",
    "--model",
    model,
    "--json",
    "--workers",
    "2",
    "--chunk",
    "7",
    ...texts,
  ]);
  assert.equal(two.code, 0, two.stderr);
  const [a, b] = [JSON.parse(many.stdout).embeddings, JSON.parse(two.stdout).embeddings];
  assert.equal(b.length, 20);
  a.forEach((v: number[], i: number) => assert.ok(maxAbsDiff(v, b[i]) < 1e-6, `sentence ${i}`));
});

addEventListener("unload", () => {
  bundle.model.dispose();
  Deno.removeSync(dir, { recursive: true });
});
