/**
 * The architecture as the notebooks show it: parameter blocks that add up to
 * the model, a diagram that names every block with its count, and the shapes
 * a batch takes at every stage, measured.
 */
import assert from "node:assert/strict";
import {
  architectureBlocks,
  architectureSvg,
  blockOf,
  measureShapes,
} from "../lib/experiments/mod.ts";
import { formatCount } from "../lib/experiments/architecture.ts";
import {
  assertNoTensorLeak,
  backboneSetup,
  disposeAll,
  SENTENCES,
  setup,
  tinyConfig,
  tinySetup,
} from "./_helpers.ts";

await setup();

Deno.test("parameter names fall into the diagram's blocks", () => {
  assert.deepEqual(blockOf("backbone/embeddings/pieces"), {
    section: "pretrained backbone",
    label: "piece embeddings",
  });
  assert.equal(blockOf("backbone/layer_1/ffn/in/kernel").label, "layer 1");
  assert.equal(blockOf("backbone/pooler/bias").label, "pooler (dense, tanh)");
  assert.deepEqual(blockOf("embeddings/affix"), {
    section: "word features",
    label: "affixes (hashed)",
  });
  assert.deepEqual(blockOf("encoder/layer_0/attention/qkv/kernel"), {
    section: "task encoder",
    label: "layer 0",
  });
  assert.equal(blockOf("encoder/backbone_words/kernel").label, "backbone word states → hidden");
  assert.deepEqual(blockOf("ner_head/kernel"), { section: "heads", label: "ner head" });
});

Deno.test("the blocks add up to the model's parameters, for both backbones", async () => {
  const { model: scratch } = tinySetup();
  const { model: pretrained, batch } = await backboneSetup();
  for (const model of [scratch, pretrained]) {
    const blocks = architectureBlocks(model);
    assert.equal(blocks.reduce((n, b) => n + b.parameters, 0), model.countParameters());
    const svg = architectureSvg(blocks, { title: "t" });
    // Well-formed: no element repeats an attribute (XML rejects that).
    for (const [tag] of svg.matchAll(/<[a-z]+ [^>]*>/g)) {
      const names = [...tag.matchAll(/ ([a-z-]+)=/g)].map((m) => m[1]);
      assert.equal(new Set(names).size, names.length, tag);
    }
    for (const b of blocks) {
      assert.ok(svg.includes(`>${b.label.replace(">", "&gt;")}</text>`), b.label);
      assert.ok(svg.includes(`>${formatCount(b.parameters)} parameters</text>`), b.label);
    }
  }
  const backbone = architectureBlocks(pretrained).filter((b) =>
    b.section === "pretrained backbone"
  );
  assert.deepEqual(backbone.map((b) => b.label), [
    "piece embeddings",
    "layer 0",
    "layer 1",
    "pooler (dense, tanh)",
  ]);
  // The USE-lite piece table: 8,002 pieces × 256.
  assert.equal(backbone[0]!.parameters, 8002 * 256);
  assert.equal(backbone[3]!.parameters, 512 * 512 + 512);
  assert.equal(architectureBlocks(scratch).some((b) => b.section === "pretrained backbone"), false);
  // What each head reads: token heads the task encoder; sentence heads the pooled vector too.
  const reads = (model: typeof scratch, head: string) =>
    architectureBlocks(model).find((b) => b.label === head)?.reads;
  assert.deepEqual(reads(pretrained, "ner head"), ["task encoder"]);
  assert.deepEqual(reads(pretrained, "sentiment head"), ["pretrained backbone", "task encoder"]);
  assert.deepEqual(reads(scratch, "sentiment head"), ["task encoder"]);
  disposeAll(scratch, pretrained, batch);
});

Deno.test("shapes are measured at every stage of the backbone model, leaving no tensor", async () => {
  const config = tinyConfig({ model: { backbone: "use-lite", dropout: 0 } });
  const { model, batch } = await backboneSetup(config);
  const shapes = new Map(measureShapes(model, batch).map((r) => [r.stage, r.shape]));
  const b = SENTENCES.length;
  const [, pieces] = batch.backbone!.stage === 0 && "pieceIds" in batch.backbone!
    ? batch.backbone.pieceIds.shape
    : [0, 0];
  const seqLen = batch.tokenIds.shape[1];
  assert.deepEqual(shapes.get("backbone: piece embeddings + timing"), [b, pieces, 256]);
  assert.deepEqual(shapes.get("backbone: layer 0"), [b, pieces, 512]);
  assert.deepEqual(shapes.get("backbone: layer 1, each word's state (pieces pooled)"), [
    b,
    seqLen,
    512,
  ]);
  assert.deepEqual(shapes.get("backbone: layer 1, mean over pieces"), [b, 512]);
  assert.deepEqual(shapes.get("backbone: pooler output (sentence vector)"), [b, 512]);
  assert.deepEqual(shapes.get("task encoder: token vectors"), [b, seqLen, config.model.hiddenSize]);
  assert.deepEqual(shapes.get("sentence embedding"), [b, 512]);
  assert.equal(shapes.get("ner head: logits")?.length, 3);
  assertNoTensorLeak(() => measureShapes(model, batch));
  disposeAll(model, batch);
});
