import assert from "node:assert/strict";
import {
  heatmap,
  lineChart,
  markdownTable,
  parameterBreakdown,
  seedChart,
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

Deno.test("line charts: whole-number epoch ticks, the legend in table order, error bars from seeds", async () => {
  const rows = [
    { epoch: 1, score: 80, sd: 1, setting: "zeta first" },
    { epoch: 2, score: 82, sd: 2, setting: "zeta first" },
    { epoch: 3, score: 83, sd: 1, setting: "zeta first" },
    { epoch: 1, score: 70, sd: 3, setting: "alpha second" },
    { epoch: 2, score: 75, sd: 1, setting: "alpha second" },
    { epoch: 3, score: 78, sd: 2, setting: "alpha second" },
  ];
  const chart = await lineChart(rows, {
    x: "epoch",
    y: "score",
    series: "setting",
    yError: "sd",
    title: "dev F1",
  });
  const ticks = [...chart.svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
  assert.ok(ticks.includes("2"));
  assert.ok(!ticks.some((t) => /^\d+\.\d$/.test(t!) && Number(t) < 4), ticks.join(","));
  // Legend entries in the order the series first appear (a table of the rows lists them so).
  const zeta = chart.svg.indexOf(">zeta first<"), alpha = chart.svg.indexOf(">alpha second<");
  assert.ok(zeta > 0 && alpha > zeta);
  // One vertical rule per point: the ± sd bars.
  const without = await lineChart(rows, { x: "epoch", y: "score", series: "setting" });
  const lines = (svg: string) => (svg.match(/<line/g) ?? []).length;
  assert.ok(lines(chart.svg) - lines(without.svg) >= rows.length);
});

Deno.test("a numeric series keeps its values in the legend and its colours", async () => {
  const rows = [0.9, 0.65].flatMap((decay) =>
    [1, 2].map((depth) => ({ depth, size: depth * decay, decay }))
  );
  const chart = await lineChart(rows, { x: "depth", y: "size", series: "decay" });
  assert.ok(chart.svg.indexOf(">0.9<") < chart.svg.indexOf(">0.65<"));
  // Two lines in two different colours.
  const strokes = new Set(
    [...chart.svg.matchAll(/aria-roledescription="line mark"[^>]*stroke="(#[0-9a-f]{6})"/g)].map((
      m,
    ) => m[1]),
  );
  assert.equal(strokes.size, 2, [...strokes].join(","));
});

Deno.test("heatmaps can share one colour scale", async () => {
  const a = await heatmap([[1, 0.5], [0.5, 1]], ["one", "two"], { domain: [-1, 1] });
  const b = await heatmap([[1, 0.9], [0.9, 1]], ["one", "two"], { domain: [-1, 1] });
  // The legend-free maps colour 1.0 the same in both.
  const colourOfOne = (svg: string) => /fill="(#[0-9a-f]{6}|rgb\([^)]*\))"/.exec(svg)?.[1];
  assert.equal(colourOfOne(a.svg), colourOfOne(b.svg));
  const own = await heatmap([[1, 0.9], [0.9, 1]], ["one", "two"]);
  assert.notEqual(own.svg, b.svg);
});

Deno.test("seed charts: a dot per seed, rows in the given order, a log-scale size axis with whole ticks", async () => {
  const rows = [
    { name: "zeta", values: [80, 82, 81], mean: 81, sd: 1 },
    { name: "alpha", values: [70, 75], mean: 72.5, sd: 3.5 },
  ];
  const chart = await seedChart(rows, { score: "accuracy (%)", title: "per seed" });
  assert.equal((chart.svg.match(/aria-roledescription="circle"/g) ?? []).length, 5);
  assert.ok(chart.svg.indexOf(">zeta<") < chart.svg.indexOf(">alpha<"));
  assert.ok(chart.svg.includes("accuracy (%)"));
  const sizes = await lineChart(
    [100, 1000, 6000].map((size, i) => ({ size, f1: 50 + i, s: "a" })),
    { x: "size", y: "f1", series: "s", logX: true },
  );
  const ticks = [...sizes.svg.matchAll(/<text[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
  for (const t of ["100", "1000", "6000"]) assert.ok(ticks.includes(t), ticks.join(","));
});
