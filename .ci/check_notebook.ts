/**
 * Checks an executed notebook: every code cell has an output, none is an error,
 * and each cell's `metadata.expect` (output kinds: "stream", "text/markdown",
 * "image/svg+xml", "text/html", ...) is all there. One line per problem; exit 1.
 *
 *   deno run --allow-read .ci/check_notebook.ts EXECUTED.ipynb
 */
interface Output {
  output_type: string;
  data?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
}
interface Cell {
  cell_type: string;
  source: string | string[];
  outputs?: Output[];
  metadata?: { expect?: string[] };
}

const [path] = Deno.args;
if (path === undefined) {
  console.error("usage: check_notebook.ts EXECUTED.ipynb");
  Deno.exit(2);
}
const notebook = JSON.parse(await Deno.readTextFile(path)) as { cells: Cell[] };
const problems: string[] = [];
notebook.cells.forEach((cell, i) => {
  if (cell.cell_type !== "code") return;
  const outputs = cell.outputs ?? [];
  const first = (Array.isArray(cell.source) ? cell.source.join("") : cell.source).split("\n")[0];
  const where = `${path}: cell ${i} (${first?.slice(0, 50)})`;
  if (outputs.length === 0) problems.push(`${where}: no output`);
  for (const o of outputs) {
    if (o.output_type === "error") problems.push(`${where}: error ${o.ename}: ${o.evalue}`);
  }
  const kinds = new Set(
    outputs.flatMap((o) => o.output_type === "stream" ? ["stream"] : Object.keys(o.data ?? {})),
  );
  for (const kind of cell.metadata?.expect ?? []) {
    if (!kinds.has(kind)) {
      problems.push(`${where}: expected a ${kind} output, got ${[...kinds].join(", ") || "none"}`);
    }
  }
});
for (const p of problems) console.error(p);
console.log(
  `${path}: ${
    problems.length === 0 ? "every expected output is there" : `${problems.length} problem(s)`
  }`,
);
Deno.exit(problems.length === 0 ? 0 : 1);
