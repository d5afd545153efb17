/**
 * Test harness shared by every test file: backend set-up, a tiny model, and
 * the two first-class assertions (no tensor leak; variables unchanged).
 * @module
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { TaskSpec } from "../lib/core/mod.ts";
import { type Config, resolveConfig } from "../lib/core/mod.ts";
import { type BackendName, initBackend } from "../lib/backend/mod.ts";
import {
  type BatchTensors,
  batchToTensors,
  encodeSentence,
  padBatch,
  type Sentence,
  WordTokenizer,
} from "../lib/data/mod.ts";
import { modelDims, MultiTaskModel } from "../lib/model/mod.ts";
import { type BackboneFiles, readBackboneFiles } from "../lib/data/backbone_files.ts";
import { USE_LITE, useLiteWeights } from "../lib/model/use_lite.ts";

/** Backend of the test run: TEST_BACKEND=cpu switches it. */
export const TEST_BACKEND = (Deno.env.get("TEST_BACKEND") ?? "wasm") as BackendName;

/** Selects the test backend (idempotent). */
export async function setup(): Promise<void> {
  if (tf.getBackend() !== TEST_BACKEND) await initBackend(TEST_BACKEND);
}

/** The two tasks of the test sentences. */
export const TASKS: readonly TaskSpec[] = [
  {
    name: "ner",
    kind: "token",
    labels: ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"],
    metric: "entity-f1",
  },
  { name: "sentiment", kind: "sentence", labels: ["negative", "positive"], metric: "accuracy" },
];

/** A sentence labelled for both tasks. */
function both(words: string[], ner: string[], sentiment: string): Sentence {
  return { words, labels: { ner, sentiment } };
}

/** A handful of labelled sentences, enough to overfit. */
export const SENTENCES: Sentence[] = [
  both(["Anna", "loves", "Rome"], ["B-PER", "O", "B-LOC"], "positive"),
  both(["Rome", "is", "awful"], ["B-LOC", "O", "O"], "negative"),
  both(
    ["Tim", "Cook", "hates", "rain", "in", "Oslo"],
    ["B-PER", "I-PER", "O", "O", "O", "B-LOC"],
    "negative",
  ),
  both(["New", "York", "is", "great"], ["B-LOC", "I-LOC", "O", "O"], "positive"),
  both(["Bob", "smiled"], ["B-PER", "O"], "positive"),
  both(["Paris", "was", "grim", "today"], ["B-LOC", "O", "O", "O"], "negative"),
];

/** The `tiny` preset with overrides. */
export function tinyConfig(overrides: Parameters<typeof resolveConfig>[0] = {}): Config {
  return resolveConfig(overrides, "tiny");
}

/** A tokenizer, a tiny model and a padded batch of {@linkcode SENTENCES}. */
export function tinySetup(config: Config = tinyConfig(), tasks: readonly TaskSpec[] = TASKS): {
  model: MultiTaskModel;
  tokenizer: WordTokenizer;
  batch: BatchTensors;
} {
  const tokenizer = WordTokenizer.fit(SENTENCES.map((s) => s.words), config.tokenizer);
  const model = new MultiTaskModel(config.model, modelDims(tokenizer, tasks), config.seed);
  const encoded = SENTENCES.map((s) => encodeSentence(s, tokenizer, tasks, config.model.maxLength));
  return { model, tokenizer, batch: batchToTensors(padBatch(encoded)) };
}

let backboneFiles: BackboneFiles | undefined;

/** The pretrained backbone's files, read once per test process. */
export async function testBackboneFiles(): Promise<BackboneFiles> {
  backboneFiles ??= await readBackboneFiles("use-lite");
  return backboneFiles;
}

/**
 * {@linkcode tinySetup} with the pretrained backbone under the tiny task
 * encoder: its weights loaded, the tokenizer with its pieces.
 */
export async function backboneSetup(
  config: Config = tinyConfig({ model: { backbone: "use-lite" } }),
  tasks: readonly TaskSpec[] = TASKS,
): Promise<{ model: MultiTaskModel; tokenizer: WordTokenizer; batch: BatchTensors }> {
  const files = await testBackboneFiles();
  const tokenizer = WordTokenizer.fit(SENTENCES.map((s) => s.words), config.tokenizer)
    .withPieces(files.vocab, USE_LITE.maxPieces);
  const model = new MultiTaskModel(config.model, modelDims(tokenizer, tasks), config.seed);
  model.parameters.assign(useLiteWeights(files), files.dir);
  const encoded = SENTENCES.map((s) => encodeSentence(s, tokenizer, tasks, config.model.maxLength));
  return { model, tokenizer, batch: batchToTensors(padBatch(encoded)) };
}

/**
 * Asserts that `fn` does not grow `tf.memory().numTensors` after `warmup` calls.
 */
export function assertNoTensorLeak(fn: () => void, warmup = 2, runs = 3): void {
  for (let i = 0; i < warmup; i++) fn();
  const before = tf.memory().numTensors;
  for (let i = 0; i < runs; i++) fn();
  assert.equal(tf.memory().numTensors, before, "tensor count grew across calls");
}

/** Copies of the named variables' values. */
export function snapshot(model: MultiTaskModel, names?: string[]): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [name, v] of model.parameters.entries()) {
    if (names === undefined || names.includes(name)) out.set(name, v.dataSync() as Float32Array);
  }
  return out;
}

/** Asserts each snapshotted variable is bit-for-bit unchanged. */
export function assertUnchanged(model: MultiTaskModel, before: Map<string, Float32Array>): void {
  for (const [name, values] of before) {
    const now = model.parameters.get(name).dataSync();
    assert.ok(bitEqual(values, now as Float32Array), `${name} changed`);
  }
}

/** Whether two float arrays are identical bit for bit. */
export function bitEqual(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.every((v, i) => v === y[i]);
}

/** Largest absolute difference of two arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
}

/** Disposes models, batches and trainers. */
export function disposeAll(
  ...items: ({ dispose(): void } | BatchTensors)[]
): void {
  for (const item of items) {
    if ("dispose" in item) item.dispose();
    else {
      tf.dispose(Object.values(item));
      if (item.backbone !== undefined) tf.dispose(Object.values(item.backbone) as tf.Tensor[]);
    }
  }
}

/** Result of a command-line task run as a subprocess. */
export interface TaskResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `deno <args>` (e.g. `["task", "train", …]`) as a user does, with optional stdin. */
export async function runTask(args: string[], stdin?: string): Promise<TaskResult> {
  const command = new Deno.Command(Deno.execPath(), {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
  const child = command.spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const out = await child.output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A file of a model directory's current generation. */
export async function modelFile(model: string, name: string): Promise<string> {
  const meta = JSON.parse(await Deno.readTextFile(`${model}/meta.json`));
  return `${model}/${meta.current}/${name}`;
}

/**
 * Another process writing a model directory: it holds the operating system's
 * lock on `dir/.lock` (as `prepareModelDir` takes it) until killed.
 */
export async function lockHolder(dir: string): Promise<Deno.ChildProcess> {
  const code = `
    const file = await Deno.open(${
    JSON.stringify(`${dir}/.lock`)
  }, { read: true, write: true, create: true });
    await file.lock(true);
    await file.truncate(0);
    await file.write(new TextEncoder().encode(JSON.stringify({ pid: Deno.pid, host: "elsewhere" })));
    console.log("locked");
    await new Promise((resolve) => setTimeout(resolve, 120000));
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  reader.releaseLock();
  if (!new TextDecoder().decode(value).includes("locked")) throw new Error("no lock taken");
  return child;
}

/** A task's `deno run` arguments, read from deno.json (so a test runs what users run). */
export async function taskArgs(task: string, script: string): Promise<string[]> {
  const tasks = JSON.parse(await Deno.readTextFile("deno.json")).tasks;
  const run = (tasks[task] as string).split("&&").find((c) => c.includes(script))!;
  return run.trim().split(" ").slice(1); // after "deno"
}

/** The serve task's `deno run` arguments. */
export function serveArgs(): Promise<string[]> {
  return taskArgs("serve", "cli/serve.ts");
}

/** One error line on stderr, no stack trace. */
export function oneLineError(stderr: string, pattern: RegExp): void {
  const errors = stderr.split("\n").filter((l) => l.startsWith("error: "));
  assert.equal(errors.length, 1, stderr);
  assert.match(errors[0]!, pattern);
  assert.doesNotMatch(stderr, /^\s+at /m, "no stack trace");
}

/** A `deno task serve` process started on a free port, and the address it printed. */
export interface ServerProcess {
  readonly url: string;
  readonly child: Deno.ChildProcess;
  /** Everything it printed on stderr, once it has exited. */
  readonly stderr: Promise<string>;
}

/** Starts `deno task serve --model MODEL --port 0 ...flags` and waits for its address. */
export async function startServer(model: string, ...flags: string[]): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [...await serveArgs(), "--model", model, "--port", "0", ...flags],
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/on (http:\/\/\S+\/)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the server exited: ${text}`);
    text += value;
  }
  const url = /on (http:\/\/\S+\/)/.exec(text)![1]!;
  const stderr = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return text;
      text += value;
    }
  })();
  return { url, child, stderr };
}

/** Asserts that nothing under `dir` is a temporary or partial file of ours, then removes `dir`. */
export async function assertNoLeftovers(dir: string): Promise<void> {
  const leftovers: string[] = [];
  const walk = (at: string) => {
    for (const e of Deno.readDirSync(at)) {
      if (/\.(tmp|partial)-\d+$/.test(e.name)) leftovers.push(`${at}/${e.name}`);
      if (e.isDirectory) walk(`${at}/${e.name}`);
    }
  };
  walk(dir);
  await Deno.remove(dir, { recursive: true });
  assert.deepEqual(leftovers, []);
}
