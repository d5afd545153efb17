import assert from "node:assert/strict";
import {
  heatmap,
  lineChart,
  markdownTable,
  parameterBreakdown,
  table,
} from "../lib/experiments/report.ts";
import { setup, tinySetup } from "./_helpers.ts";

await setup();

Deno.test("parameterBreakdown() covers every parameter once, by component", () => {
  const { model } = tinySetup();
  const rows = parameterBreakdown(model);
  assert.equal(rows.reduce((n, r) => n + r.parameters, 0), model.countParameters());
  assert.ok(Math.abs(rows.reduce((n, r) => n + r.share, 0) - 1) < 1e-12);
  assert.deepEqual(rows.map((r) => r.component), [
    "embeddings (token)",
    "embeddings (position)",
    "embeddings (case)",
    "embeddings (affix)",
    "encoder layer 0",
    "encoder layer 1",
    "final LayerNorm",
    "ner head",
    "sentiment head",
  ]);
  model.dispose();
});

Deno.test("table() displays Markdown in a Jupyter kernel", () => {
  const t = table([{ a: 1 }]) as unknown as Record<symbol, () => Record<string, string>>;
  assert.deepEqual(t[Symbol.for("Jupyter.display")]!(), {
    "text/markdown": markdownTable([{ a: 1 }]),
    "text/plain": markdownTable([{ a: 1 }]),
  });
});

Deno.test("charts render to standalone SVG", async () => {
  const line = await lineChart([{ x: 1, y: 2, s: "a" }, { x: 2, y: 3, s: "a" }], {
    x: "x",
    y: "y",
    series: "s",
    title: "a chart",
  });
  assert.match(line.svg, /^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.ok(line.svg.includes("a chart"));
  const map = await heatmap([[1, 0.5], [0.5, 1]], ["one", "two"]);
  assert.ok(map.svg.includes("0.50"));
});
