/**
 * `deno task recipe`: trains on real corpora per a recipe file, selects each
 * seed's best epoch on dev, and prints test figures (mean ± std over seeds)
 * and the wall time.
 * @module
 */
import { saveModel } from "../lib/model/mod.ts";
import {
  loadRecipeCorpora,
  type Recipe,
  runRecipe,
  validateRecipe,
} from "../lib/experiments/mod.ts";
import {
  holdModelDir,
  intFlag,
  main,
  readJsonObject,
  setupBackend,
  stringFlag,
  UsageError,
  workersFlag,
} from "./_common.ts";
import {
  BACKEND_FLAGS,
  type Command,
  COMMON,
  configOverrides,
  type FlagTable,
  parseCommand,
  STRATEGY,
  STRATEGY_SECTION,
} from "./_flags.ts";

const FLAGS = {
  recipe: {
    type: "string",
    value: "FILE",
    help: "recipe file (default configs/use_conll4_sst2_stsb.json: NER, POS, chunks,\n" +
      "sentiment and similarity over the pretrained backbone; the same tasks\n" +
      "from scratch, without similarity: configs/conll4_sst2.json; NER and\n" +
      "sentiment: configs/conll_sst2.json; with similarity: configs/conll_sst2_stsb.json)",
  },
  tasks: {
    type: "string",
    value: "LIST",
    help: "train only these of the recipe's tasks, e.g. ner or ner,pos",
  },
  seeds: { type: "string", value: "LIST", help: "override the seeds, e.g. 1,2,3" },
  epochs: { type: "string", value: "N", help: "override train.epochs" },
  "average-epochs": {
    type: "string",
    value: "N",
    help: "also score the average of the last N epoch-end weights on dev, and\n" +
      "keep it when it beats every epoch (checkpoint averaging; 0: off)",
  },
  limit: {
    type: "string",
    value: "N",
    help: "use at most N training sentences per corpus (smoke test)",
  },
  workers: { ...COMMON.workers, help: "data-parallel workers (default from the recipe)" },
  out: { type: "string", value: "DIR", help: "save each seed's selected model to DIR/seed-N" },
  json: { ...COMMON.json, help: "print the result as one JSON line at the end" },
  ...BACKEND_FLAGS,
  help: COMMON.help,
} as const satisfies FlagTable;

const COMMAND: Command = {
  usage: "deno task recipe [options]",
  sections: [{ flags: FLAGS }, STRATEGY_SECTION],
};

export async function run(args: string[]): Promise<void> {
  const parsed = parseCommand(args, COMMAND, false);
  if (parsed === undefined) return;
  const { values } = parsed;
  const file = stringFlag(values.recipe) ?? "configs/use_conll4_sst2_stsb.json";
  const epochs = intFlag(values.epochs, "epochs", 1, 100000);
  const averageEpochs = intFlag(values["average-epochs"], "average-epochs", 0, 100000);
  if (averageEpochs === 1) {
    throw new UsageError("--average-epochs: average 2 or more epochs (0 turns it off)");
  }
  const limit = intFlag(values.limit, "limit", 1);
  const workers = values.workers === undefined ? undefined : workersFlag(values.workers);
  const seeds = stringFlag(values.seeds)?.split(",").map((seed) => {
    if (!/^\d+$/.test(seed)) {
      throw new UsageError(`--seeds expects integers like 1,2,3, got "${seed}"`);
    }
    return Number(seed);
  });
  const tasks = stringFlag(values.tasks)?.split(",");
  const out = stringFlag(values.out);
  await setupBackend(values.backend, values.threads);
  const started = performance.now();
  let recipe: Recipe = validateRecipe(await readJsonObject(file), file);
  const flags = configOverrides(values, STRATEGY);
  recipe = {
    ...recipe,
    ...(tasks !== undefined ? { tasks: pickTasks(recipe, tasks) } : {}),
    ...(seeds !== undefined ? { seeds } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(averageEpochs !== undefined ? { averageEpochs: averageEpochs || undefined } : {}),
    ...(workers !== undefined ? { workers } : {}),
    model: { ...recipe.model, ...flags.model },
    tokenizer: { ...recipe.tokenizer, ...flags.tokenizer },
    train: { ...recipe.train, ...flags.train, ...(epochs !== undefined ? { epochs } : {}) },
  };
  recipe = validateRecipe(recipe, file);
  if (out !== undefined) {
    for (const seed of recipe.seeds) await holdModelDir(`${out}/seed-${seed}`);
  }
  const corpora = await loadRecipeCorpora(recipe);
  const sizes = Object.entries(corpora).map(([name, c]) =>
    `${name} ${c.train.length}/${c.dev.length}/${c.test.length}`
  ).join(", ");
  console.log(
    `recipe ${file}: tasks ${Object.keys(corpora).join("+")}, seeds ${
      recipe.seeds.join(",")
    }, ${recipe.workers} worker(s); sentences train/dev/test: ${sizes}`,
  );
  const percent = (x: number) => (100 * x).toFixed(2);
  const result = await runRecipe(recipe, corpora, {
    onWarning: (message) => console.error(`note: ${message}`),
    onEpoch: (seed, r, dev) => {
      const parts = Object.entries(dev).map(([t, s]) => `${t} dev ${s.metric} ${percent(s.score)}`)
        .join(", ");
      console.log(
        `seed ${seed} epoch ${String(r.epoch).padStart(2)}: loss ${r.loss.toFixed(4)}; ${parts}; ${
          r.seconds.toFixed(0)
        } s, ${Math.round(r.tokensPerSecond)} tok/s`,
      );
    },
    onModel: async (seed, bundle) => {
      if (out !== undefined) await saveModel(`${out}/seed-${seed}`, bundle);
    },
  });
  const names = result.tasks.map((t) => t.name);
  console.log("");
  console.log(
    `| seed | best epoch | ${
      result.tasks.map((t) => `${t.name} ${result.summary.tasks[t.name]!.split} ${t.metric}`)
        .join(" | ")
    } | train time |`,
  );
  console.log(`| --- | --- | ${names.map(() => "---").join(" | ")} | --- |`);
  for (const s of result.seeds) {
    console.log(
      `| ${s.seed} | ${
        s.averaged === undefined ? s.bestEpoch : `mean of ${s.averaged.from}–${s.averaged.to}`
      } | ${names.map((t) => percent((s.test[t] ?? s.dev[t])!.score)).join(" | ")} | ${
        (s.trainSeconds / 60).toFixed(1)
      } min |`,
    );
  }
  const m = result.summary;
  console.log(
    `| mean ± std | | ${
      names.map((t) => `${percent(m.tasks[t]!.mean)} ± ${percent(m.tasks[t]!.std)}`).join(" | ")
    } | ${(m.trainSeconds.mean / 60).toFixed(1)} min |`,
  );
  const cut = Object.entries(result.seeds[0]?.test ?? {})
    .filter(([, s]) => (s.cutAtMaxPieces ?? 0) > 0)
    .map(([task, s]) => `${task} ${s.cutAtMaxPieces}`);
  if (cut.length > 0) {
    console.log(`test sentences cut at the backbone's 128 pieces: ${cut.join(", ")}`);
  }
  console.log(`wall time ${((performance.now() - started) / 60000).toFixed(1)} min`);
  if (values.json === true) {
    console.log(JSON.stringify({
      recipe: file,
      tasks: result.tasks,
      summary: result.summary,
      seeds: result.seeds.map(({ history: _h, ...s }) => s),
    }));
  }
}

/** The recipe's tasks named by `--tasks`. */
function pickTasks(recipe: Recipe, names: readonly string[]): Recipe["tasks"] {
  const unknown = names.filter((n) => recipe.tasks[n] === undefined);
  if (unknown.length > 0) {
    throw new UsageError(
      `--tasks: the recipe has no task ${unknown.join(", ")} (its tasks: ${
        Object.keys(recipe.tasks).join(", ")
      })`,
    );
  }
  return Object.fromEntries(names.map((n) => [n, recipe.tasks[n]!]));
}

if (import.meta.main) await main(run);
