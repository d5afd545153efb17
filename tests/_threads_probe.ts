// Subprocess of threads_test.ts: starts tfjs-wasm with the requested threads,
// multiplies fixed matrices and prints the backend and the product's checksum.
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../lib/backend/mod.ts";

const info = await initBackend("wasm", { threads: Number(Deno.args[0] ?? "2") });
const a = tf.tensor2d(Array.from({ length: 256 * 128 }, (_, i) => Math.sin(i)), [256, 128]);
const b = tf.tensor2d(Array.from({ length: 128 * 64 }, (_, i) => Math.cos(i)), [128, 64]);
const product = Array.from(tf.matMul(a, b).dataSync());
console.log(JSON.stringify({ ...info, product }));
// No Deno.exit(): the process must end on its own.
