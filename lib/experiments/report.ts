/**
 * Presentation helpers for notebooks and reports: Markdown tables, entity
 * highlighting as HTML, a parameter breakdown per component, and charts rendered
 * to SVG by Vega-Lite (no browser, no network). Results display themselves in a
 * Jupyter notebook on the Deno kernel (`Symbol.for("Jupyter.display")`).
 *
 * A second entry point beside `mod.ts` (import `lib/report.ts`), so that programs
 * which do not draw charts do not load Vega.
 * @module
 */
import "./_quiet_node.ts";
import * as vega from "vega";
import * as vl from "vega-lite";
import type { MultiTaskModel } from "../model/model.ts";
import { depthOf } from "../training/param_groups.ts";
import type { Prediction } from "../inference/pipeline.ts";

/** Something a Deno Jupyter kernel can display, with a plain-text fallback. */
export interface Displayable {
  readonly mime: Readonly<Record<string, string>>;
  toString(): string;
}

function displayable(mime: Record<string, string>): Displayable {
  return {
    mime,
    toString: () => mime["text/plain"] ?? "",
    [Symbol.for("Jupyter.display")]: () => mime,
  } as Displayable;
}

/** A table cell value. */
export type Cell = string | number | boolean | null | undefined;

/**
 * A Markdown table of `rows` (columns from the first row, or `columns`).
 * Numbers are printed with `digits` decimals unless integral.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { markdownTable } from "./report.ts";
 * assert.equal(markdownTable([{ a: 1, b: 0.12345 }, { a: 2, b: "x|y" }], { digits: 2 }),
 *   "| a | b |\n| ---: | ---: |\n| 1 | 0.12 |\n| 2 | x\\\\|y |");
 * ```
 */
export function markdownTable(
  rows: readonly Readonly<Record<string, Cell>>[],
  options: { readonly columns?: readonly string[]; readonly digits?: number } = {},
): string {
  const columns = options.columns ?? Object.keys(rows[0] ?? {});
  const digits = options.digits ?? 3;
  const format = (v: Cell) =>
    v === null || v === undefined
      ? "–"
      : typeof v === "number"
      ? Number.isInteger(v) ? String(v) : v.toFixed(digits)
      : String(v).replaceAll("|", "\\\\|");
  return [
    `| ${columns.join(" | ")} |`,
    `| ${columns.map(() => "---:").join(" | ")} |`,
    ...rows.map((r) => `| ${columns.map((c) => format(r[c])).join(" | ")} |`),
  ].join("\n");
}

/** {@linkcode markdownTable} as a displayable (Markdown, plain text fallback). */
export function table(
  rows: readonly Readonly<Record<string, Cell>>[],
  options: { readonly columns?: readonly string[]; readonly digits?: number } = {},
): Displayable {
  const md = markdownTable(rows, options);
  return displayable({ "text/markdown": md, "text/plain": md });
}

/** Markdown text as a displayable. */
export function markdown(text: string): Displayable {
  return displayable({ "text/markdown": text, "text/plain": text });
}

/**
 * Parameters per component: embeddings, each encoder layer, final norm, heads.
 * @returns rows `{ component, parameters, share }` in depth order
 */
export function parameterBreakdown(
  model: MultiTaskModel,
): { component: string; parameters: number; share: number }[] {
  const groups = new Map<string, number>();
  const numLayers = model.config.numLayers;
  for (const [name, v] of model.parameters.entries()) {
    const depth = depthOf(name, numLayers);
    const component = depth === 0
      ? `embeddings (${name.split("/")[1]})`
      : depth <= numLayers
      ? `encoder layer ${depth - 1}`
      : name.split("/")[0] === "encoder"
      ? "final LayerNorm"
      : name.split("/")[0]!.replace("_", " ");
    groups.set(component, (groups.get(component) ?? 0) + v.size);
  }
  const total = model.countParameters();
  return [...groups.entries()].map(([component, parameters]) => ({
    component,
    parameters,
    share: parameters / total,
  }));
}

const ENTITY_COLOURS: Readonly<Record<string, string>> = {
  PER: "#f4a3a3",
  ORG: "#a3c8f4",
  LOC: "#a8e0a8",
  MISC: "#e6d28c",
};

/**
 * A prediction as HTML: the spans of its first chunk-tag task highlighted by
 * type, each sentence task's label as a badge.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { entityHtml } from "./report.ts";
 * const html = entityHtml({ text: "", words: ["Ann", "<3", "Rome"], tags: { ner: ["B-PER", "O", "B-LOC"] },
 *   entities: { ner: [{ type: "PER", text: "Ann", start: 0, end: 1, score: 1 }, { type: "LOC", text: "Rome", start: 2, end: 3, score: 1 }] },
 *   labels: { sentiment: { label: "positive", probabilities: { positive: 0.9 } } }, truncated: false });
 * assert.ok(html.includes("&lt;3"));
 * assert.ok(html.includes(">Ann <sub>PER</sub></mark>"));
 * assert.ok(html.includes("positive 0.90"));
 * ```
 */
export function entityHtml(prediction: Prediction): string {
  const parts: string[] = [];
  let i = 0;
  for (const e of Object.values(prediction.entities)[0] ?? []) {
    parts.push(...prediction.words.slice(i, e.start).map(escapeHtml));
    const colour = ENTITY_COLOURS[e.type] ?? "#ddd";
    parts.push(
      `<mark style="background:${colour};padding:0 3px;border-radius:3px">${
        escapeHtml(prediction.words.slice(e.start, e.end).join(" "))
      } <sub>${escapeHtml(e.type)}</sub></mark>`,
    );
    i = e.end;
  }
  parts.push(...prediction.words.slice(i).map(escapeHtml));
  const badges = Object.values(prediction.labels).map(({ label, probabilities }) =>
    ` &nbsp;<span style="border:1px solid #999;border-radius:8px;padding:0 6px;font-size:smaller">${
      escapeHtml(label)
    } ${(probabilities[label] ?? 0).toFixed(2)}</span>`
  );
  return `<div style="margin:4px 0">${parts.join(" ")}${badges.join("")}</div>`;
}

/** Several predictions as one displayable HTML block. */
export function predictionsHtml(predictions: readonly Prediction[]): Displayable {
  const html = predictions.map(entityHtml).join("\n");
  const text = predictions.map((p) => {
    const tags = Object.values(p.tags)[0];
    const words = p.words.map((w, i) =>
      tags === undefined || tags[i] === "O" ? w : `${w}/${tags[i]}`
    );
    const labels = Object.values(p.labels).map((l) => `[${l.label}]`);
    return [words.join(" "), ...labels].join("  ");
  }).join("\n");
  return displayable({ "text/html": html, "text/plain": text });
}

/** Renders a Vega-Lite spec to an SVG displayable. */
export async function vegaLite(spec: vl.TopLevelSpec): Promise<Displayable & { svg: string }> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  const svg = await view.toSVG();
  view.finalize();
  return Object.assign(displayable({ "image/svg+xml": svg, "text/plain": "[chart]" }), { svg });
}

/** Options of {@linkcode lineChart}. */
export interface LineChartOptions {
  readonly title?: string;
  readonly x: string;
  readonly y: string;
  /** Field naming the series. */
  readonly series?: string;
  readonly width?: number;
  readonly height?: number;
  /** Log-scale y axis. */
  readonly logY?: boolean;
  /** Log-scale x axis (e.g. training-set sizes). */
  readonly logX?: boolean;
  /** Field holding each point's standard deviation over seeds: drawn as ± error bars. */
  readonly yError?: string;
}

/**
 * The x axis of {@linkcode lineChart}: whole numbers (epochs, counts) get
 * ticks at whole numbers, printed without decimals (Vega ignores
 * `tickMinStep` in some versions; the format `d` always holds).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { xAxis } from "./report.ts";
 * assert.deepEqual(xAxis([1, 2, 3]), { format: "d", tickMinStep: 1 });
 * assert.deepEqual(xAxis([0.5, 1]), {});
 * ```
 */
export function xAxis(values: readonly unknown[]): { format?: string; tickMinStep?: number } {
  return values.every((v) => Number.isInteger(v)) ? { format: "d", tickMinStep: 1 } : {};
}

/**
 * A line chart of `rows` (one line per `series` value) as SVG: the legend in
 * the order the series first appear in `rows` (the order of a table built
 * from the same rows), whole-number ticks on a whole-number x axis, and ±
 * error bars from `yError` where given.
 */
export function lineChart(
  rows: readonly Readonly<Record<string, Cell>>[],
  options: LineChartOptions,
): Promise<Displayable & { svg: string }> {
  const series = options.series === undefined
    ? []
    : [...new Set(rows.map((r) => r[options.series!]))];
  const encoding = {
    x: {
      field: options.x,
      type: "quantitative",
      axis: {
        ...xAxis(rows.map((r) => r[options.x])),
        ...(options.logX === true ? { values: [...new Set(rows.map((r) => r[options.x]))] } : {}),
      },
      ...(options.logX === true ? { scale: { type: "log" } } : {}),
    },
    y: {
      field: options.y,
      type: "quantitative",
      scale: options.logY === true ? { type: "log" } : { zero: false },
    },
    ...(options.series !== undefined
      ? {
        color: {
          field: options.series,
          type: "nominal",
          scale: { domain: series },
          sort: series,
          legend: { labelLimit: 400 },
        },
      }
      : {}),
  };
  const line = { mark: { type: "line", point: true }, encoding };
  const errorBars = options.yError === undefined ? undefined : {
    transform: [
      { calculate: `datum['${options.y}'] - datum['${options.yError}']`, as: "__low" },
      { calculate: `datum['${options.y}'] + datum['${options.yError}']`, as: "__high" },
    ],
    mark: { type: "rule" },
    encoding: {
      x: encoding.x,
      y: { field: "__low", type: "quantitative", scale: encoding.y.scale, title: options.y },
      y2: { field: "__high" },
      ...("color" in encoding ? { color: encoding.color } : {}),
    },
  };
  return vegaLite({
    ...(options.title !== undefined ? { title: options.title } : {}),
    width: options.width ?? 420,
    height: options.height ?? 240,
    data: { values: rows as Record<string, unknown>[] },
    layer: errorBars === undefined ? [line] : [line, errorBars],
  } as vl.TopLevelSpec);
}

/** Options of {@linkcode seedChart}. */
export interface SeedChartOptions {
  readonly title?: string;
  /** Axis title of the scores. */
  readonly score: string;
  readonly width?: number;
  /** Pixels per row. @default 26 */
  readonly rowHeight?: number;
}

/**
 * Per-seed scores of several settings, one row each in the order given: every
 * seed a dot, the mean a tick and ± one standard deviation a bar, so that the
 * spread between seeds is seen beside the gap between settings.
 */
export function seedChart(
  rows: readonly {
    readonly name: string;
    readonly values: readonly number[];
    readonly mean: number;
    readonly sd: number;
  }[],
  options: SeedChartOptions,
): Promise<Displayable & { svg: string }> {
  const order = rows.map((r) => r.name);
  const y = {
    field: "setting",
    type: "nominal",
    sort: order,
    title: null,
    axis: { labelLimit: 400 },
  };
  const x = { type: "quantitative", scale: { zero: false }, title: options.score };
  return vegaLite({
    ...(options.title !== undefined ? { title: options.title } : {}),
    width: options.width ?? 360,
    height: (options.rowHeight ?? 26) * rows.length,
    layer: [
      {
        data: {
          values: rows.map((r) => ({ setting: r.name, low: r.mean - r.sd, high: r.mean + r.sd })),
        },
        mark: { type: "rule", color: "#888" },
        encoding: { y, x: { field: "low", ...x }, x2: { field: "high" } },
      },
      {
        data: { values: rows.map((r) => ({ setting: r.name, mean: r.mean })) },
        mark: { type: "tick", color: "black", thickness: 2 },
        encoding: { y, x: { field: "mean", ...x } },
      },
      {
        data: {
          values: rows.flatMap((r) => r.values.map((v) => ({ setting: r.name, score: v }))),
        },
        mark: { type: "circle", size: 40, opacity: 0.7 },
        encoding: { y, x: { field: "score", ...x } },
      },
    ],
  } as vl.TopLevelSpec);
}

/** A labelled heatmap of a square matrix (e.g. cosine similarities) as SVG. */
export function heatmap(
  matrix: readonly (readonly number[])[],
  labels: readonly string[],
  options: {
    readonly title?: string;
    readonly size?: number;
    /** The colour scale's range, e.g. [-1, 1], so that several heatmaps share one scale. */
    readonly domain?: readonly [number, number];
  } = {},
): Promise<Displayable & { svg: string }> {
  const values = matrix.flatMap((row, i) =>
    row.map((v, j) => ({ row: `${i}: ${labels[i]}`, column: `${j}`, value: v }))
  );
  return vegaLite({
    ...(options.title !== undefined ? { title: options.title } : {}),
    width: options.size ?? 300,
    height: options.size ?? 300,
    data: { values },
    encoding: {
      x: { field: "column", type: "ordinal", sort: null },
      y: { field: "row", type: "ordinal", sort: null },
    },
    layer: [
      {
        mark: "rect",
        encoding: {
          color: {
            field: "value",
            type: "quantitative",
            scale: {
              scheme: "viridis",
              ...(options.domain !== undefined ? { domain: [...options.domain] } : {}),
            },
          },
        },
      },
      {
        mark: { type: "text", fontSize: 8 },
        encoding: {
          text: { field: "value", type: "quantitative", format: ".2f" },
          color: { value: "white" },
        },
      },
    ],
  });
}

function escapeHtml(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;")
    .replaceAll('"', "&quot;");
}

/**
 * Several charts as one displayable (their SVGs side by side, wrapping), so a
 * notebook cell shows them all through one output: the cell's value, which the
 * kernel sends with the cell's result rather than as a separate message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sideBySide } from "./report.ts";
 * const shown = sideBySide([{ svg: "<svg>a</svg>" }, { svg: "<svg>b</svg>" }]);
 * assert.match(shown.mime["text/html"]!, /<svg>a<\/svg><\/div><div[^>]*><svg>b<\/svg>/);
 * ```
 */
export function sideBySide(charts: readonly { readonly svg: string }[]): Displayable {
  const cells = charts.map((c) =>
    `<div style="display:inline-block;vertical-align:top">${c.svg}</div>`
  );
  return displayable({
    "text/html": `<div>${cells.join("")}</div>`,
    "text/plain": `[${charts.length} charts]`,
  });
}

/**
 * Displays `item` in a Jupyter notebook on the Deno kernel, then waits a
 * moment: a display sent at the very end of a cell can reach the client after
 * the kernel has reported the cell finished, and be dropped (seen with
 * `nbconvert --execute`). Outside a notebook it prints the plain-text form.
 */
export async function show(item: Displayable, settleMs = 200): Promise<void> {
  const jupyter = (Deno as unknown as {
    jupyter?: { display(x: unknown, o?: { raw?: boolean }): Promise<void> };
  }).jupyter;
  if (jupyter === undefined) {
    console.log(item.toString());
    return;
  }
  await jupyter.display(item.mime, { raw: true });
  await new Promise((resolve) => setTimeout(resolve, settleMs));
}
