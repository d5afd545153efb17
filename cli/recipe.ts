/**
 * `deno task recipe`: trains on real corpora per a recipe file, selects each
 * seed's best epoch on dev, and prints test figures (mean ± std over seeds)
 * and the wall time.
 * @module
 */
import {
  loadRecipeCorpora,
  prepareModelDir,
  type Recipe,
  runRecipe,
  saveModel,
  type Task,
  validateRecipe,
} from "../lib/mod.ts";
import {
  intFlag,
  main,
  parse,
  readJsonObject,
  setupBackend,
  STRATEGY_FLAGS,
  STRATEGY_USAGE,
  strategyOverrides,
  stringFlag,
  UsageError,
  vectorOverrides,
  workersFlag,
} from "./_common.ts";

const USAGE = `Usage: deno task recipe [options]

  --recipe FILE     recipe file (default configs/conll_sst2.json)
  --tasks LIST      override the tasks: ner,sentiment | ner | sentiment
  --seeds LIST      override the seeds, e.g. 1,2,3
  --epochs N        override train.epochs
  --limit N         use at most N training sentences per corpus (smoke test)
  --workers N       data-parallel workers (default from the recipe)
  --out DIR         save each seed's selected model to DIR/seed-N
  --json            print the result as one JSON line at the end
  --backend NAME    wasm (default) | cpu
  --threads N       tfjs-wasm threads (default 1; falls back to 1 with a warning)
  -h, --help        this text
${STRATEGY_USAGE}`;

export async function run(args: string[]): Promise<void> {
  const parsed = parse(
    args,
    {
      recipe: { type: "string" },
      tasks: { type: "string" },
      seeds: { type: "string" },
      epochs: { type: "string" },
      limit: { type: "string" },
      workers: { type: "string" },
      out: { type: "string" },
      json: { type: "boolean" },
      backend: { type: "string" },
      threads: { type: "string" },
      ...STRATEGY_FLAGS,
      help: { type: "boolean", short: "h" },
    },
    USAGE,
    false,
  );
  if (parsed === undefined) return;
  const { values } = parsed;
  const file = stringFlag(values.recipe) ?? "configs/conll_sst2.json";
  const epochs = intFlag(values.epochs, "epochs", 1, 100000);
  const limit = intFlag(values.limit, "limit", 1);
  const workers = values.workers === undefined ? undefined : workersFlag(values.workers);
  const seeds = stringFlag(values.seeds)?.split(",").map((seed) => {
    if (!/^\d+$/.test(seed)) {
      throw new UsageError(`--seeds expects integers like 1,2,3, got "${seed}"`);
    }
    return Number(seed);
  });
  const tasks = stringFlag(values.tasks)?.split(",");
  if (tasks !== undefined && !tasks.every((t) => t === "ner" || t === "sentiment")) {
    throw new UsageError(`--tasks expects ner, sentiment or ner,sentiment, got "${values.tasks}"`);
  }
  const out = stringFlag(values.out);
  await setupBackend(values.backend, values.threads);
  const started = performance.now();
  let recipe: Recipe = validateRecipe(await readJsonObject(file), file);
  recipe = {
    ...recipe,
    ...(tasks !== undefined ? { tasks: tasks as Task[] } : {}),
    ...(seeds !== undefined ? { seeds } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(workers !== undefined ? { workers } : {}),
    tokenizer: { ...recipe.tokenizer, ...vectorOverrides(values) },
    train: {
      ...recipe.train,
      ...strategyOverrides(values),
      ...(epochs !== undefined ? { epochs } : {}),
    },
  };
  recipe = validateRecipe(recipe, file);
  if (out !== undefined) {
    for (const seed of recipe.seeds) await prepareModelDir(`${out}/seed-${seed}`);
  }
  const corpora = await loadRecipeCorpora(recipe);
  const sizes = [
    corpora.ner &&
    `NER ${corpora.ner.train.length}/${corpora.ner.dev.length}/${corpora.ner.test.length}`,
    corpora.sentiment &&
    `sentiment ${corpora.sentiment.train.length}/${corpora.sentiment.dev.length}/${corpora.sentiment.test.length}`,
  ].filter(Boolean).join(", ");
  console.log(
    `recipe ${file}: tasks ${recipe.tasks.join("+")}, seeds ${recipe.seeds.join(",")}, ${
      recipe.workers ?? 1
    } worker(s); sentences train/dev/test: ${sizes}`,
  );
  const result = await runRecipe(recipe, corpora, {
    onWarning: (message) => console.error(`note: ${message}`),
    onEpoch: (seed, r, dev) => {
      const parts = [
        dev.ner && `dev F1 ${(100 * dev.ner.f1).toFixed(2)}`,
        dev.sentiment && `dev acc ${(100 * dev.sentiment.accuracy).toFixed(2)}`,
      ].filter(Boolean).join(", ");
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
  console.log("");
  console.log("| seed | best epoch | NER test F1 | sentiment test acc | train time |");
  console.log("| --- | --- | --- | --- | --- |");
  for (const s of result.seeds) {
    console.log(
      `| ${s.seed} | ${s.bestEpoch} | ${s.test.ner ? (100 * s.test.ner.f1).toFixed(2) : "–"} | ${
        s.test.sentiment ? (100 * s.test.sentiment.accuracy).toFixed(2) : "–"
      } | ${(s.trainSeconds / 60).toFixed(1)} min |`,
    );
  }
  const m = result.summary;
  const fmt = (x?: { mean: number; std: number }) =>
    x === undefined ? "–" : `${(100 * x.mean).toFixed(2)} ± ${(100 * x.std).toFixed(2)}`;
  console.log(
    `| mean ± std | | ${fmt(m.nerTestF1)} | ${fmt(m.sentimentTestAccuracy)} | ${
      (m.trainSeconds.mean / 60).toFixed(1)
    } min |`,
  );
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

if (import.meta.main) await main(run);
