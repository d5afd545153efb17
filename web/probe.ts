import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-wasm";
import { predict } from "../lib/inference/pipeline.ts";
console.log(tf.version, predict);
