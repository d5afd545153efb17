/** Heads taught after training: fitting, the head file, predict --head. */
import assert from "node:assert/strict";
import { applyHead, parseHeadFile } from "../lib/inference/mod.ts";
import { teachHead } from "../lib/training/mod.ts";
import { runTask } from "./_helpers.ts";

const X = [[1, 0.2, 0], [0.8, 0, 0.1], [0, 1, 0.3], [0.1, 0.9, 0], [0, 0.1, 1], [0.2, 0, 0.9]]
  .map((v) => Float32Array.from(v));
const Y = ["a", "a", "b", "b", "c", "c"];

Deno.test("teachHead: the loss goes down, the examples are learnt, the same inputs give the same head", async () => {
  const losses: number[] = [];
  const head = await teachHead(X, Y, { name: "t", onEpoch: (_, loss) => void losses.push(loss) });
  assert.equal(losses.length, 300);
  assert.ok(Math.abs(losses[0]! - Math.log(3)) < 1e-12); // zero start: uniform
  assert.ok(losses.at(-1)! < 0.2 * losses[0]!);
  assert.deepEqual(applyHead(head, X).map((p) => p.label), Y);
  assert.deepEqual(await teachHead(X, Y, { name: "t" }), head);
  assert.deepEqual(head.labels, ["a", "b", "c"]);
});

Deno.test("teachHead refuses one label, and a head file is validated field by field", async () => {
  await assert.rejects(
    () => teachHead(X.slice(0, 2), ["a", "a"], { name: "t" }),
    /needs examples of two labels or more, got a/,
  );
  const head = await teachHead(X, Y, { name: "t" });
  assert.deepEqual(parseHeadFile(JSON.parse(JSON.stringify(head)), "h.json"), head);
  assert.throws(
    () => parseHeadFile({ ...head, kernel: head.kernel.slice(1) }, "h.json"),
    /Cannot load h.json: field "kernel": expected 3 rows of 3 numbers/,
  );
  assert.throws(() => parseHeadFile({ ...head, format: "x" }, "h.json"), /field "format"/);
  assert.throws(() => applyHead(head, [new Float32Array(4)]), /taught on embeddings of 3/);
});

Deno.test("predict --head refuses a head taught on another model's embeddings, in one line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mtt-head-" });
  const model = `${dir}/m`;
  const r = await runTask(["task", "train", "--preset", "tiny", "--epochs", "1", "--out", model]);
  assert.equal(r.code, 0, r.stderr);
  await Deno.writeTextFile(`${dir}/h.json`, JSON.stringify(await teachHead(X, Y, { name: "t" })));
  const p = await runTask(["task", "predict", "--model", model, "--head", `${dir}/h.json`, "x"]);
  assert.equal(p.code, 1);
  assert.match(
    p.stderr,
    /^error: Cannot apply t: the head was taught on embeddings of 3, this model gives 8$/m,
  );
});
