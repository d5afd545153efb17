/**
 * `deno task data`: fetches the benchmark corpora the recipes use (CoNLL-2003,
 * SST-2 sentences and phrases, STS Benchmark) from their public sources, or
 * copies them from a local folder, checks their sha256 and writes them to
 * data/corpora (git-ignored).
 * @module
 */
import { DATASETS, DEFAULT_CORPUS_DIR, fetchDatasets } from "../lib/data/mod.ts";
import { main, stringFlag, UsageError } from "./_common.ts";
import { type Command, COMMON, type FlagTable, parseCommand } from "./_flags.ts";

const FLAGS = {
  from: {
    type: "string",
    value: "DIR",
    help: "copy from a local folder laid out as CORPUS/FILE (e.g. ../shared/data)\n" +
      "instead of downloading",
  },
  out: {
    type: "string",
    value: "DIR",
    help: `folder to write CORPUS/FILE into (default ${DEFAULT_CORPUS_DIR})`,
  },
  list: { type: "boolean", help: "list the corpora, their files and sources" },
  help: COMMON.help,
} as const satisfies FlagTable;

const COMMAND: Command = {
  usage: `deno task data [options] [CORPUS ...]\n\n  CORPUS: ${
    DATASETS.map((d) => d.name).join(" | ")
  } (default: all)`,
  sections: [{ flags: FLAGS }],
  note: "Every file is checked against its sha256; a file already there is kept if it matches\n" +
    "and never overwritten if it does not.",
};

export async function run(args: string[]): Promise<void> {
  const parsed = parseCommand(args, COMMAND);
  if (parsed === undefined) return;
  const { values, positionals } = parsed;
  const unknown = positionals.filter((p) => !DATASETS.some((d) => d.name === p));
  if (unknown.length > 0) throw new UsageError(`unknown corpus ${unknown.join(", ")}`);
  const chosen = positionals.length === 0
    ? DATASETS
    : DATASETS.filter((d) => positionals.includes(d.name));
  if (values.list === true) {
    for (const d of chosen) {
      console.log(`${d.name}: ${d.description}`);
      for (const f of d.files) console.log(`  ${f.name}  ${f.sha256}\n    ${f.url}`);
    }
    return;
  }
  const files = await fetchDatasets(chosen, {
    ...(stringFlag(values.out) !== undefined ? { out: stringFlag(values.out)! } : {}),
    ...(stringFlag(values.from) !== undefined ? { from: stringFlag(values.from)! } : {}),
    onFile: (f) =>
      console.log(
        `${f.status === "written" ? "wrote" : "kept "} ${f.path} (${
          f.bytes.toLocaleString("en")
        } bytes, sha256 ok)`,
      ),
  });
  console.log(`${files.length} files verified`);
}

if (import.meta.main) await main(run);
