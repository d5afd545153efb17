/**
 * The model's architecture as data and as a diagram: its parameters grouped
 * into blocks (the pretrained backbone's stages, the word features, the task
 * encoder, the heads) with their sizes, and an SVG drawing of them in
 * data-flow order, so a notebook shows the model it has, not a picture of it.
 * @module
 */
import type { MultiTaskModel } from "../model/model.ts";

/** Where a block sits in the data flow. */
export type ArchitectureSection =
  | "pretrained backbone"
  | "word features"
  | "task encoder"
  | "heads";

/** A group of parameters that the diagram draws as one box. */
export interface ArchitectureBlock {
  readonly section: ArchitectureSection;
  readonly label: string;
  readonly parameters: number;
}

const FEATURE_NAMES: Readonly<Record<string, string>> = {
  token: "word table",
  token_projection: "word projection",
  position: "positions",
  case: "letter case",
  affix: "affixes (hashed)",
  shape: "word shapes",
};

/** The block of a parameter name (see {@linkcode architectureBlocks}). */
export function blockOf(name: string): { section: ArchitectureSection; label: string } {
  const parts = name.split("/");
  if (parts[0] === "backbone") {
    if (parts[1] === "embeddings") {
      return { section: "pretrained backbone", label: "piece embeddings" };
    }
    if (parts[1] === "pooler") {
      return { section: "pretrained backbone", label: "pooler (dense, tanh)" };
    }
    return { section: "pretrained backbone", label: `layer ${parts[1]!.replace("layer_", "")}` };
  }
  if (parts[0] === "embeddings") {
    const table = parts[1]!;
    const label = FEATURE_NAMES[table] ?? (table.startsWith("char") ? "characters (CNN)" : table);
    return { section: "word features", label };
  }
  if (parts[0] === "encoder") {
    const part = parts[1]!;
    if (part.startsWith("layer_")) {
      return { section: "task encoder", label: `layer ${part.slice(6)}` };
    }
    if (part === "final_norm") return { section: "task encoder", label: "final LayerNorm" };
    if (part === "backbone_words") {
      return { section: "task encoder", label: "backbone word states → hidden" };
    }
    if (part.startsWith("local_conv")) {
      return { section: "task encoder", label: "local convolution" };
    }
    return { section: "task encoder", label: part.replaceAll("_", " ") };
  }
  const head = /^([a-z][a-z0-9_]*)_head$/.exec(parts[0]!);
  if (head !== null) return { section: "heads", label: `${head[1]} head` };
  return { section: "heads", label: parts[0]!.replaceAll("_", " ") };
}

/**
 * The model's parameters grouped into blocks, in the order of the store
 * (backbone stages bottom up, word features, task encoder, heads). The blocks'
 * sizes add up to `model.countParameters()`.
 */
export function architectureBlocks(model: MultiTaskModel): ArchitectureBlock[] {
  const blocks = new Map<
    string,
    { section: ArchitectureSection; label: string; parameters: number }
  >();
  for (const [name, variable] of model.parameters.entries()) {
    const { section, label } = blockOf(name);
    const key = `${section}/${label}`;
    const block = blocks.get(key) ?? { section, label, parameters: 0 };
    block.parameters += variable.size;
    blocks.set(key, block);
  }
  const order: ArchitectureSection[] = [
    "pretrained backbone",
    "word features",
    "task encoder",
    "heads",
  ];
  return [...blocks.values()].sort((a, b) => order.indexOf(a.section) - order.indexOf(b.section));
}

/**
 * Parameters as text: `1.23 M`, `45.6 k`, `789`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatCount } from "./architecture.ts";
 * assert.equal(formatCount(2048512), "2.05 M");
 * assert.equal(formatCount(33088), "33.1 k");
 * assert.equal(formatCount(9), "9");
 * ```
 */
export function formatCount(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(2)} M`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} k`;
  return String(n);
}

const COLOURS: Readonly<Record<ArchitectureSection, string>> = {
  "pretrained backbone": "#dbe8f6",
  "word features": "#f6eedb",
  "task encoder": "#e2f3e2",
  "heads": "#f6dede",
};

function escapeXml(s: string): string {
  return s.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;");
}

/**
 * An SVG diagram of the blocks: one column per section of the model's input
 * side (the backbone; the word features under the task encoder), boxes
 * stacked bottom up in data-flow order, each with its parameter count, and
 * the heads in a row on top, reading the backbone's pooled output (sentence
 * and pair tasks) and the task encoder's token vectors (token tasks; sentence
 * tasks too when they read both).
 */
export function architectureSvg(
  blocks: readonly ArchitectureBlock[],
  options: { readonly title?: string } = {},
): string {
  const box = { w: 230, h: 34, gap: 12 };
  const backbone = blocks.filter((b) => b.section === "pretrained backbone");
  const right = [
    ...blocks.filter((b) => b.section === "word features"),
    ...blocks.filter((b) => b.section === "task encoder"),
  ];
  const heads = blocks.filter((b) => b.section === "heads");
  const columns = backbone.length > 0 ? [backbone, right] : [right];
  const rows = Math.max(...columns.map((c) => c.length));
  const titleH = options.title !== undefined ? 28 : 4;
  const headsY = titleH + 20;
  const headW = Math.min(
    box.w,
    (columns.length * (box.w + 40) - 40) / Math.max(1, heads.length) - 10,
  );
  const stackTop = headsY + box.h + 40;
  const width = 20 + columns.length * (box.w + 40);
  const height = stackTop + rows * (box.h + box.gap) + 40;
  const out: string[] = [];
  const text = (x: number, y: number, s: string, extra = "") =>
    out.push(
      `<text x="${x}" y="${y}" font-family="sans-serif" font-size="11" text-anchor="middle"${extra}>${
        escapeXml(s)
      }</text>`,
    );
  const rect = (x: number, y: number, w: number, b: ArchitectureBlock) => {
    out.push(
      `<rect x="${x}" y="${y}" width="${w}" height="${box.h}" rx="4" fill="${
        COLOURS[b.section]
      }" stroke="#555"/>`,
    );
    text(x + w / 2, y + 14, b.label, ' font-weight="bold"');
    text(x + w / 2, y + 28, `${formatCount(b.parameters)} parameters`);
  };
  const arrow = (x1: number, y1: number, x2: number, y2: number) =>
    out.push(
      `<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="#555" marker-end="url(#arrow)"/>`,
    );
  if (options.title !== undefined) text(width / 2, 18, options.title, ' font-size="13"');
  // Heads on top.
  heads.forEach((b, i) => rect(20 + i * (headW + 10), headsY, headW, b));
  columns.forEach((column, c) => {
    const x = 20 + c * (box.w + 40);
    const section = column === backbone ? "pretrained backbone" : "word features → task encoder";
    text(x + box.w / 2, height - 12, section, ' font-style="italic"');
    column.forEach((b, i) => {
      const y = stackTop + (rows - 1 - i) * (box.h + box.gap);
      rect(x, y, box.w, b);
      if (i > 0) arrow(x + box.w / 2, y + box.h + box.gap, x + box.w / 2, y + box.h + 1);
    });
    // The column's top feeds the heads.
    const top = stackTop + (rows - column.length) * (box.h + box.gap);
    arrow(x + box.w / 2, top, x + box.w / 2, headsY + box.h + 2);
  });
  if (columns.length === 2) {
    // The backbone's word states enter the task encoder.
    const y = stackTop + (rows - backbone.length) * (box.h + box.gap) + box.h / 2;
    const target = right.findIndex((b) => b.label.startsWith("backbone word states"));
    const ty = target < 0 ? y : stackTop + (rows - 1 - target) * (box.h + box.gap) + box.h / 2;
    arrow(20 + box.w, y, 20 + box.w + 38, ty);
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" fill="#555"/></marker></defs>` +
    `<rect width="100%" height="100%" fill="white"/>${out.join("")}</svg>`;
}
