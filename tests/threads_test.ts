import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { setup } from "./_helpers.ts";

await setup();

async function probe(threads: number, permissions: string[]) {
  const command = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      ...permissions,
      new URL("./_threads_probe.ts", import.meta.url).pathname,
      String(threads),
    ],
    stdout: "piped",
    stderr: "piped",
  });
  const child = command.spawn();
  const timer = setTimeout(() => child.kill(), 60_000);
  const { code, stdout, stderr } = await child.output();
  clearTimeout(timer);
  assert.equal(code, 0, `probe exited with ${code}: ${new TextDecoder().decode(stderr)}`);
  return JSON.parse(new TextDecoder().decode(stdout)) as {
    backend: string;
    threads: number;
    warning?: string;
    product: number[];
  };
}

function reference(): Float32Array {
  return tf.tidy(() => {
    const a = tf.tensor2d(Array.from({ length: 256 * 128 }, (_, i) => Math.sin(i)), [256, 128]);
    const b = tf.tensor2d(Array.from({ length: 128 * 64 }, (_, i) => Math.cos(i)), [128, 64]);
    return tf.matMul(a, b);
  }).dataSync() as Float32Array;
}

Deno.test("initBackend({ threads: 2 }) starts threaded tfjs-wasm, computes the same, and the process exits", async () => {
  const shims = () =>
    [...Deno.readDirSync(Deno.env.get("TMPDIR") ?? "/tmp")]
      .filter((e) => e.name.startsWith("tfjs-wasm-threads-")).length;
  const before = shims();
  const result = await probe(2, ["--allow-read", "--allow-write", "--allow-env", "--allow-sys"]);
  assert.equal(shims(), before, "the temporary worker file is removed at exit");
  assert.equal(result.backend, "wasm");
  assert.equal(result.threads, 2);
  assert.equal(result.warning, undefined);
  const expected = reference();
  const worst = result.product.reduce((m, v, i) => Math.max(m, Math.abs(v - expected[i]!)), 0);
  assert.ok(worst < 1e-3, `max difference ${worst}`);
});

Deno.test("initBackend({ threads: 2 }) falls back to 1 thread with a warning when it cannot start", async () => {
  // Without write permission the pthread worker file cannot be written.
  const result = await probe(2, ["--allow-read", "--allow-env", "--allow-sys"]);
  assert.equal(result.threads, 1);
  assert.match(result.warning ?? "", /running tfjs-wasm on 1 thread/);
  assert.equal(result.product.length, 256 * 64);
});
