/**
 * The house plan of lib/: folders by layer, imports only pointing down (or
 * within a folder), no cycles. Read from the source, type-only imports included.
 */
import assert from "node:assert/strict";

/** Layers from the bottom; a file may import its own folder or a lower one. */
export const LAYERS = [
  "core",
  "backend",
  "data",
  "model",
  "inference",
  "evaluation",
  "training",
  "experiments",
  "serving",
] as const;

const LIB = new URL("../lib/", import.meta.url).pathname;

/** Every .ts file under lib/, relative to it. */
function libFiles(dir = ""): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(`${LIB}${dir}`)) {
    const path = `${dir}${e.name}`;
    if (e.isDirectory) out.push(...libFiles(`${path}/`));
    else if (e.name.endsWith(".ts")) out.push(path);
  }
  return out.sort();
}

/** Relative .ts specifiers a file imports (static, dynamic, re-exports, worker URLs). */
export function importsOf(source: string): string[] {
  // JSDoc examples are run as separate doc tests, not part of the module graph.
  const code = source.replace(/\/\*\*[\s\S]*?\*\//g, "");
  const specs = new Set<string>();
  const patterns = [
    /\b(?:import|export)\s+(?:type\s+)?(?:[^"';]*?\s+from\s+)?["'](\.{1,2}\/[^"']+\.ts)["']/g,
    /\bimport\(\s*["'](\.{1,2}\/[^"']+\.ts)["']\s*\)/g,
    /new URL\(\s*["'](\.{1,2}\/[^"']+\.ts)["']/g,
  ];
  for (const pattern of patterns) for (const m of code.matchAll(pattern)) specs.add(m[1]!);
  return [...specs];
}

function resolve(from: string, spec: string): string {
  const parts = from.split("/").slice(0, -1);
  for (const part of spec.split("/")) {
    if (part === "..") parts.pop();
    else if (part !== ".") parts.push(part);
  }
  return parts.join("/");
}

function layerOf(file: string): number {
  const folder = file.includes("/") ? file.split("/")[0]! : "";
  return folder === "" ? LAYERS.length : LAYERS.indexOf(folder as (typeof LAYERS)[number]);
}

const files = libFiles();
const graph = new Map(
  files.map((f) => [f, importsOf(Deno.readTextFileSync(`${LIB}${f}`)).map((s) => resolve(f, s))]),
);

Deno.test("importsOf() finds static, type-only, re-exported, dynamic and worker imports", () => {
  const source = [
    'import * as tf from "@tensorflow/tfjs";',
    'import type { A } from "./a.ts";',
    'import {\n  b,\n  type C,\n} from "../x/b.ts";',
    'export * from "./c.ts";',
    'const m = await import("./d.ts");',
    'new Worker(new URL("./_e.ts", import.meta.url).href);',
    '/** import { z } from "./doc_only.ts"; */',
  ].join("\n");
  assert.deepEqual(importsOf(source).sort(), [
    "../x/b.ts",
    "./_e.ts",
    "./a.ts",
    "./c.ts",
    "./d.ts",
  ]);
});

Deno.test("lib/ is folders by layer: every file sits in a known layer folder", () => {
  const stray = files.filter((f) => f !== "mod.ts" && layerOf(f) < 0);
  assert.deepEqual(stray, []);
  assert.ok(files.every((f) => f === "mod.ts" || f.includes("/")), "only mod.ts at the top");
});

Deno.test("imports only point down the layers (or within a folder)", () => {
  const upward: string[] = [];
  for (const [file, targets] of graph) {
    for (const target of targets) {
      assert.ok(graph.has(target), `${file} imports ${target}, which does not exist`);
      if (layerOf(target) > layerOf(file)) upward.push(`${file} -> ${target}`);
    }
  }
  assert.deepEqual(upward, []);
});

Deno.test("the import graph of lib/ has no cycle", () => {
  const state = new Map<string, "open" | "done">();
  const cycles: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === "done") return;
    if (state.get(file) === "open") {
      cycles.push([...path.slice(path.indexOf(file)), file].join(" -> "));
      return;
    }
    state.set(file, "open");
    for (const target of graph.get(file) ?? []) visit(target, [...path, file]);
    state.set(file, "done");
  };
  for (const file of graph.keys()) visit(file, []);
  assert.deepEqual(cycles, []);
});

Deno.test("each layer folder has a mod.ts listing what it offers", () => {
  for (const layer of LAYERS) {
    assert.ok(files.includes(`${layer}/mod.ts`), `${layer}/mod.ts`);
  }
});
