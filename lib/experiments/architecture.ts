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
  /** For a head: what it reads (the backbone's pooled vector, the task encoder's vectors). */
  readonly reads?: readonly ("pretrained backbone" | "task encoder")[];
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
  type Mutable = { -readonly [K in keyof ArchitectureBlock]: ArchitectureBlock[K] };
  const blocks = new Map<string, Mutable>();
  const backbone = model.backbone !== undefined;
  const reads = (name: string): ArchitectureBlock["reads"] => {
    const task = /^([a-z][a-z0-9_]*)_head\//.exec(name)?.[1];
    const kind = task === undefined ? undefined : model.heads.get(task)?.spec.kind;
    if (kind === undefined) return undefined;
    if (!backbone || kind === "token") return ["task encoder"];
    if (kind === "pair" || model.config.sentenceFeatures === "backbone") {
      return ["pretrained backbone"];
    }
    return ["pretrained backbone", "task encoder"];
  };
  for (const [name, variable] of model.parameters.entries()) {
    const { section, label } = blockOf(name);
    const key = `${section}/${label}`;
    const via = section === "heads" ? reads(name) : undefined;
    const block = blocks.get(key) ??
      { section, label, parameters: 0, ...(via !== undefined ? { reads: via } : {}) };
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
 * An SVG diagram of the blocks: the pretrained backbone as a column (pieces
 * at the bottom, the pooler on top), the word features as a grid of parallel
 * inputs under the task encoder's column, the heads in a row on top with an
 * arrow from each part a head reads, and the backbone's word states (its top
 * layer, pooled per word) entering the task encoder.
 */
export function architectureSvg(
  blocks: readonly ArchitectureBlock[],
  options: { readonly title?: string } = {},
): string {
  const W = 230, H = 34, GAP = 12, COL = 60;
  const backbone = blocks.filter((b) => b.section === "pretrained backbone");
  const features = blocks.filter((b) => b.section === "word features");
  const encoder = blocks.filter((b) => b.section === "task encoder");
  const heads = blocks.filter((b) => b.section === "heads");
  const hasBackbone = backbone.length > 0;
  const left = 20, right = hasBackbone ? left + W + COL : left;
  const featureRows = Math.ceil(features.length / 2);
  const rightHeight = featureRows * (H + 6) + GAP + encoder.length * (H + GAP);
  const leftHeight = backbone.length * (H + GAP);
  const stack = Math.max(rightHeight, leftHeight);
  const titleH = options.title !== undefined ? 30 : 6;
  const headsY = titleH + 6;
  const bottom = headsY + H + 50 + stack; // the y below the lowest box
  const width = right + W + 20;
  const height = bottom + 30;
  const out: string[] = [];
  const text = (x: number, y: number, s: string, style: { size?: number; extra?: string } = {}) =>
    out.push(
      `<text x="${x}" y="${y}" font-family="sans-serif" font-size="${
        style.size ?? 11
      }" text-anchor="middle"${style.extra ?? ""}>${escapeXml(s)}</text>`,
    );
  const rect = (x: number, y: number, w: number, b: ArchitectureBlock) => {
    out.push(
      `<rect x="${x}" y="${y}" width="${w}" height="${H}" rx="4" fill="${
        COLOURS[b.section]
      }" stroke="#555"/>`,
    );
    text(x + w / 2, y + 14, b.label, { extra: ' font-weight="bold"' });
    text(x + w / 2, y + 28, `${formatCount(b.parameters)} parameters`);
  };
  const arrow = (x1: number, y1: number, x2: number, y2: number) =>
    out.push(
      `<line x1="${x1}" y1="${y1}" x2="${x2}" y2="${y2}" stroke="#555" marker-end="url(#arrow)"/>`,
    );
  if (options.title !== undefined) text(width / 2, 20, options.title, { size: 13 });
  // The backbone, bottom up.
  const backboneY = (i: number) => bottom - H - i * (H + GAP);
  backbone.forEach((b, i) => {
    rect(left, backboneY(i), W, b);
    if (i > 0) arrow(left + W / 2, backboneY(i - 1), left + W / 2, backboneY(i) + H + 1);
  });
  // The word features: parallel inputs, two per row.
  const fw = (W - 8) / 2;
  features.forEach((b, i) => {
    const row = Math.floor(i / 2), col = i % 2;
    rect(right + col * (fw + 8), bottom - H - row * (H + 6), fw, b);
  });
  // The task encoder above them, bottom up.
  const encoderY = (i: number) => bottom - featureRows * (H + 6) - GAP - H - i * (H + GAP);
  encoder.forEach((b, i) => {
    rect(right, encoderY(i), W, b);
    const below = i === 0 ? bottom - featureRows * (H + 6) - 6 + 6 : encoderY(i - 1);
    arrow(right + W / 2, below, right + W / 2, encoderY(i) + H + 1);
  });
  // The top layer's word states enter the task encoder.
  const wordStates = encoder.findIndex((b) => b.label.startsWith("backbone word states"));
  const topLayer = backbone.map((b) => b.label).lastIndexOf(
    backbone.filter((b) => b.label.startsWith("layer ")).at(-1)?.label ?? "",
  );
  if (wordStates >= 0 && topLayer >= 0) {
    arrow(left + W, backboneY(topLayer) + H / 2, right - 2, encoderY(wordStates) + H / 2);
    text((left + W + right) / 2, backboneY(topLayer) - 4, "word states", { size: 9 });
  }
  // The heads in a row, with an arrow from what each reads.
  const hw = Math.min(W, (width - 40 - (heads.length - 1) * 10) / Math.max(1, heads.length));
  const tops: Record<string, [number, number]> = {
    "pretrained backbone": [left + W / 2, backbone.length > 0 ? backboneY(backbone.length - 1) : 0],
    "task encoder": [right + W / 2, encoder.length > 0 ? encoderY(encoder.length - 1) : 0],
  };
  heads.forEach((b, i) => {
    const x = 20 + i * (hw + 10);
    rect(x, headsY, hw, b);
    for (const source of b.reads ?? []) {
      const [sx, sy] = tops[source]!;
      arrow(sx, sy, x + hw / 2, headsY + H + 2);
    }
  });
  if (hasBackbone) {
    text(left + W / 2, height - 10, "pretrained backbone", { extra: ' font-style="italic"' });
  }
  text(right + W / 2, height - 10, "word features → task encoder", {
    extra: ' font-style="italic"',
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" fill="#555"/></marker></defs>` +
    `<rect width="100%" height="100%" fill="white"/>${out.join("")}</svg>`;
}
