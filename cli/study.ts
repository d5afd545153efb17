/**
 * `deno task study NAME`: runs a notebook's study (see `lib/experiments/studies.ts`)
 * and writes its records to `notebooks/results/NAME.json`, where the notebook
 * reads them. Runs already in that file are kept and skipped, so an interrupted
 * study goes on where it stopped; the file is replaced atomically after each run.
 * `--check` runs a slice into no file and compares its scores with the file's.
 * @module
 */
import { initBackend } from "../lib/backend/mod.ts";
import {
  compareRuns,
  FORGETTING_STUDY,
  type ForgettingRun,
  runForgetting,
  runKey,
  runStudy,
  STUDIES,
  type StudyRun,
} from "../lib/experiments/studies.ts";
import { loadRecipeCorpora } from "../lib/experiments/recipe.ts";
import { main, onNote, pathExists, stringFlag, UsageError } from "./_common.ts";
import { type Command, COMMON, type FlagTable, int, list, parseCommand } from "./_flags.ts";

const NAMES = [...Object.keys(STUDIES), "forgetting"];

const FLAGS = {
  out: {
    type: "string",
    value: "FILE",
    help: "the results file (default notebooks/results/NAME.json)",
  },
  scenarios: {
    type: "string",
    value: "LIST",
    help: "only these scenarios (variants), by number in the study's list (1-based)",
  },
  sizes: { type: "string", value: "LIST", help: "only these training-set sizes" },
  seeds: { type: "string", value: "LIST", help: "only these seeds" },
  check: {
    type: "boolean",
    help: "run the slice into no file and compare its scores with the results file's",
  },
  list: { type: "boolean", help: "list the study's scenarios and grid" },
  help: COMMON.help,
} as const satisfies FlagTable;

const COMMAND: Command = {
  usage: `deno task study [options] NAME\n\n  NAME: ${NAMES.join(" | ")}`,
  sections: [{ flags: FLAGS }],
  note: "Runs are deterministic for a seed on 2 workers: --check exits 1 naming every run\n" +
    "whose test or dev scores differ from the recorded ones.",
};

interface ResultsFile<R> {
  readonly study: string;
  readonly description: string;
  readonly command: string;
  readonly definition: unknown;
  readonly runs: R[];
}

async function readResults<R>(path: string): Promise<ResultsFile<R> | undefined> {
  if (!(await pathExists(path))) return undefined;
  try {
    const value = JSON.parse(await Deno.readTextFile(path));
    if (!Array.isArray(value?.runs)) throw new Error('no "runs" list');
    return value as ResultsFile<R>;
  } catch (e) {
    throw new UsageError(`Cannot read ${path}: ${(e as Error).message}`);
  }
}

/** Writes the file through a temporary one and a rename: a reader sees the old or the new. */
async function writeResults(path: string, results: ResultsFile<unknown>): Promise<void> {
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
  await Deno.mkdir(dir, { recursive: true });
  const tmp = `${path}.${Deno.pid}.tmp`;
  await Deno.writeTextFile(tmp, JSON.stringify(results, null, 1) + "\n");
  await Deno.rename(tmp, path);
}

function pick<T extends { name: string }>(items: readonly T[], numbers: string[] | undefined) {
  if (numbers === undefined) return undefined;
  return numbers.map((text) => {
    const i = int(1, items.length)(text, "scenarios");
    return items[i - 1]!.name;
  });
}

export async function run(args: string[]): Promise<void> {
  const parsed = parseCommand(args, COMMAND);
  if (parsed === undefined) return;
  const { values, positionals } = parsed;
  const name = positionals[0];
  if (name === undefined || positionals.length > 1 || !NAMES.includes(name)) {
    throw new UsageError(`expected one study name (${NAMES.join(", ")})`);
  }
  const path = stringFlag(values.out) ?? `notebooks/results/${name}.json`;
  const numbers = (flag: "seeds" | "sizes", min: number) =>
    stringFlag(values[flag]) === undefined
      ? undefined
      : list(stringFlag(values[flag])!).map((s) => int(min)(s, flag));
  const seeds = numbers("seeds", 0);
  const sizes = numbers("sizes", 1);
  const check = values.check === true;
  const study = STUDIES[name] ?? STUDIES.freezing!;
  const scenarios = pick<{ name: string }>(
    name === "forgetting" ? FORGETTING_STUDY.variants : study.scenarios,
    stringFlag(values.scenarios) === undefined ? undefined : list(stringFlag(values.scenarios)!),
  );
  if (values.list === true) {
    const items = name === "forgetting" ? FORGETTING_STUDY.variants : study.scenarios;
    items.forEach((s, i) => console.log(`${i + 1}. ${s.name}`));
    if (name !== "forgetting") {
      for (const cell of study.grid) {
        console.log(
          `sizes ${cell.sizes.join(", ")}, seeds ${cell.seeds.join(", ")}: ${
            cell.scenarios.map((s) => study.scenarios.findIndex((x) => x.name === s) + 1).join(", ")
          }`,
        );
      }
    }
    return;
  }
  const old = await readResults<StudyRun & ForgettingRun>(path);
  if (check && old === undefined) throw new UsageError(`--check: no results file ${path}`);
  console.error(`study ${name}: ${check ? "checking against" : "writing"} ${path}`);
  await initBackend("wasm");
  const corpora = await loadRecipeCorpora(study.recipe);
  const runs: (StudyRun | ForgettingRun)[] = check ? [] : [...(old?.runs ?? [])];
  const file = {
    study: name,
    description: name === "forgetting" ? FORGETTING_STUDY.description : study.description,
    command: `deno task study ${name}`,
    definition: name === "forgetting" ? FORGETTING_STUDY : study,
  };
  const started = performance.now();
  const onStart = (key: string) =>
    console.error(`[${((performance.now() - started) / 60000).toFixed(1)} min] ${key}`);
  const record = async (r: StudyRun | ForgettingRun) => {
    runs.push(r);
    console.log(JSON.stringify(r, (k, v) => k === "devHistory" ? undefined : v));
    if (!check) await writeResults(path, { ...file, runs });
  };
  if (name === "forgetting") {
    const done = new Set(
      check ? [] : (old?.runs ?? []).map((r) => `${(r as ForgettingRun).variant}#${r.seed}`),
    );
    await runForgetting(corpora, {
      ...(seeds !== undefined ? { seeds } : {}),
      ...(scenarios !== undefined ? { variants: scenarios } : {}),
      done,
      onRun: record,
      onStart,
      onWarning: onNote,
    });
  } else {
    const done = new Set(check ? [] : (old?.runs ?? []).map((r) => runKey(r as StudyRun)));
    await runStudy(study, corpora, {
      slice: {
        ...(scenarios !== undefined ? { scenarios } : {}),
        ...(sizes !== undefined ? { sizes } : {}),
        ...(seeds !== undefined ? { seeds } : {}),
      },
      done,
      onRun: record,
      onStart: (key, i, n) => onStart(`${i + 1}/${n} ${key}`),
      onWarning: onNote,
    });
  }
  if (!check) return;
  if (runs.length === 0) throw new UsageError("--check: the slice holds no run");
  const differences = name === "forgetting"
    ? compareForgetting(runs as ForgettingRun[], old!.runs)
    : compareRuns(runs as StudyRun[], old!.runs);
  if (differences.length > 0) {
    for (const d of differences) console.error(`differs: ${d}`);
    Deno.exit(1);
  }
  console.error(`${runs.length} run(s) reproduce ${path}`);
}

function compareForgetting(runs: ForgettingRun[], recorded: readonly ForgettingRun[]): string[] {
  const asStudy = (r: ForgettingRun) => ({
    scenario: r.variant,
    size: FORGETTING_STUDY.size,
    seed: r.seed,
    test: r.after,
    dev: r.before,
  });
  return compareRuns(runs.map(asStudy), recorded.map(asStudy));
}

if (import.meta.main) await main(run);
