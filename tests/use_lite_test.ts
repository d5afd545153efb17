/**
 * The ported Universal Sentence Encoder lite against the TF.js graph model it
 * came from (the graph serves only as this reference), and its files' checks.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { DataError } from "../lib/core/mod.ts";
import { readBackboneFiles } from "../lib/data/backbone_files.ts";
import { SentencePieceTokenizer } from "../lib/data/sentencepiece.ts";
import { ParameterStore } from "../lib/model/parameters.ts";
import { timingSignal, USE_LITE, UseLiteBackbone, useLiteWeights } from "../lib/model/use_lite.ts";
import { assertNoTensorLeak, maxAbsDiff, setup } from "./_helpers.ts";

await setup();
const files = await readBackboneFiles("use-lite");
const pieces = new SentencePieceTokenizer(files.vocab);

/** The graph's per-piece output of its top layer (before pooling). */
const TOP_LAYER =
  "module_apply_default/Encoder_en/KonaTransformer/Encode/TransformerStack/Layer_1/TransformerLayer/FFN/layer_postprocess/add";

async function graphModel(): Promise<tf.GraphModel> {
  const manifest = files.modelJson.weightsManifest as tf.io.WeightsManifestConfig;
  return await tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: files.modelJson.modelTopology as tf.io.ModelJSON["modelTopology"],
    weightSpecs: manifest[0]!.weights,
    weightData: files.weightData.slice().buffer,
  }));
}

function portedBackbone(): { backbone: UseLiteBackbone; params: ParameterStore } {
  const params = new ParameterStore(1);
  const backbone = new UseLiteBackbone(params, USE_LITE, 0.1);
  params.assign(useLiteWeights(files), files.dir, true);
  return { backbone, params };
}

/** The batch of the comparison: piece ids per sentence (as the graph takes them, uncut). */
const TEXTS = [
  "Hi", // one piece
  "Tim Cook visited Paris and loved it.",
  "a mixed batch: short, long, and in between",
  "Café in Zürich — naïve façade, 東京 🎉", // non-ASCII, and characters no piece covers
  "the longest one ".repeat(60), // over 128 pieces: the graph drops the rest, as the port does
];

Deno.test("the ported backbone equals the graph model in per-piece states and sentence output", async () => {
  const graph = await graphModel();
  const { backbone, params } = portedBackbone();
  const ids = TEXTS.map((t) => [...pieces.encode(t).ids]);
  assert.equal(ids[0]!.length, 1);
  assert.ok(ids[3]!.includes(0), "an unknown piece is in the set");
  assert.ok(ids[4]!.length > USE_LITE.maxPieces);
  // The graph: a sparse [sentence, position] → id input of every piece.
  const indices = ids.flatMap((row, i) => row.map((_, j) => [i, j]));
  const [graphSentences, graphStates] = await graph.executeAsync(
    {
      indices: tf.tensor2d(indices, [indices.length, 2], "int32"),
      values: tf.tensor1d(ids.flat(), "int32"),
    },
    [graph.outputs[0]!.name, TOP_LAYER],
  ) as [tf.Tensor2D, tf.Tensor3D];
  // The port: the first 128 pieces, padded; an identity alignment makes each piece its own "word".
  const kept = ids.map((row) => row.slice(0, USE_LITE.maxPieces));
  const batch = kept.length, width = Math.max(...kept.map((r) => r.length));
  const pieceIds = new Int32Array(batch * width), pieceMask = new Float32Array(batch * width);
  const identity = new Float32Array(batch * width * width);
  kept.forEach((row, b) => {
    pieceIds.set(row, b * width);
    pieceMask.fill(1, b * width, b * width + row.length);
    for (let p = 0; p < width; p++) identity[(b * width + p) * width + p] = 1;
  });
  const out = tf.tidy(() => {
    const { wordStates, pooled } = backbone.apply({
      stage: 0,
      pieceIds: tf.tensor2d(pieceIds, [batch, width], "int32"),
      pieceMask: tf.tensor2d(pieceMask, [batch, width]),
      alignment: tf.tensor3d(identity, [batch, width, width]),
    });
    const normalised = pooled.div(pooled.square().sum(1, true).sqrt());
    return { states: wordStates!.arraySync(), sentences: normalised.dataSync() as Float32Array };
  });
  assert.deepEqual(graphStates.shape, [batch, USE_LITE.maxPieces, 512]);
  assert.ok(maxAbsDiff(out.sentences, graphSentences.dataSync()) <= 1e-4);
  const reference = graphStates.arraySync();
  let worst = 0;
  kept.forEach((row, b) => {
    for (let p = 0; p < row.length; p++) {
      worst = Math.max(worst, maxAbsDiff(out.states[b]![p]!, reference[b]![p]!));
    }
  });
  // The states reach |41|: 1e-4 is a few float32 roundings of the residual stream.
  assert.ok(worst <= 1e-4, `per-piece states differ by ${worst}`);
  tf.dispose([graphSentences, graphStates]);
  graph.dispose();
  params.dispose();
});

Deno.test("timingSignal() is the graph's timing signal", () => {
  const inverse = files.arrays.get(
    "module_apply_default/Encoder_en/KonaTransformer/Encode/TransformerStack/Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1",
  )!.values;
  const positions = 128, half = inverse.length;
  const ours = timingSignal(positions, 2 * half);
  let worst = 0;
  for (let p = 0; p < positions; p++) {
    for (let i = 0; i < half; i++) {
      worst = Math.max(
        worst,
        Math.abs(ours[p * 2 * half + i]! - Math.sin(p * inverse[i]!)),
        Math.abs(ours[p * 2 * half + half + i]! - Math.cos(p * inverse[i]!)),
      );
    }
  }
  assert.ok(worst < 1e-4, `timing signal differs by ${worst}`);
});

Deno.test("the backbone's forward pass leaks no tensors, with and without dropout", () => {
  const { backbone, params } = portedBackbone();
  const inputs = {
    stage: 0 as const,
    pieceIds: tf.tensor2d([[9, 100, 7], [30, 0, 0]], [2, 3], "int32"),
    pieceMask: tf.tensor2d([[1, 1, 1], [1, 0, 0]]),
    alignment: tf.tensor3d([[[0.5, 0.5, 0], [0, 0, 1]], [[1, 0, 0], [0, 0, 0]]]),
  };
  assertNoTensorLeak(() => tf.tidy(() => backbone.apply(inputs).pooled).dispose());
  assertNoTensorLeak(() => tf.tidy(() => backbone.apply(inputs, 7).pooled).dispose());
  tf.dispose(Object.values(inputs));
  params.dispose();
});

Deno.test("a missing or damaged file of the backbone gives one line naming the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (const name of Object.keys(files.source.sha256)) {
      await Deno.copyFile(`${files.dir}/${name}`, `${dir}/${name}`);
    }
    const shard = `${dir}/group1-shard3of7`;
    const bytes = await Deno.readFile(shard);
    bytes[1000] = bytes[1000]! ^ 1;
    await Deno.writeFile(shard, bytes);
    await assert.rejects(
      readBackboneFiles("use-lite", { dir }),
      (e: Error) =>
        e instanceof DataError && !e.message.includes("\n") &&
        e.message.startsWith(`Cannot load ${shard}: its sha256 `),
    );
    await Deno.copyFile(`${files.dir}/group1-shard3of7`, shard);
    await Deno.remove(`${dir}/vocab.json`);
    await assert.rejects(
      readBackboneFiles("use-lite", { dir }),
      (e: Error) =>
        e instanceof DataError && e.message.startsWith(`Cannot load ${dir}/vocab.json: unreadable`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
