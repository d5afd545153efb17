/**
 * `deno task predict "Tim Cook visited Paris and loved it"`: NER tags, entity
 * spans and sentiment for each input sentence (arguments, --file, or stdin),
 * one result per input.
 * @module
 */
import { loadModel, predict } from "../lib/mod.ts";
import {
  DEFAULT_MODEL_DIR,
  inferenceFlags,
  main,
  onWorkers,
  parse,
  readTexts,
  setupBackend,
  stringFlag,
} from "./_common.ts";

const USAGE = `Usage: deno task predict [options] [SENTENCE ...]

  --model DIR      model directory (default ${DEFAULT_MODEL_DIR})
  --file FILE      read sentences from FILE, one per line (else arguments, else stdin);
                   every line gets one result, an empty line an empty one
  --json           one JSON object per sentence
  --decoding MODE  NER tag decoding: transitions (default) | constrained | argmax
  --tag-prior-weight X  λ of the tag-prior division (default: the model's; 0 = off)
  --workers N      predict on N workers (cores) in parallel (default 1)
  --backend NAME   wasm (default) | cpu
  --threads N      tfjs-wasm threads (default 1; falls back to 1 with a warning)
  -h, --help       this text`;

export async function run(args: string[]): Promise<void> {
  const parsed = parse(args, {
    model: { type: "string" },
    file: { type: "string" },
    json: { type: "boolean" },
    decoding: { type: "string" },
    "tag-prior-weight": { type: "string" },
    workers: { type: "string" },
    backend: { type: "string" },
    threads: { type: "string" },
    help: { type: "boolean", short: "h" },
  }, USAGE);
  if (parsed === undefined) return;
  const { values, positionals } = parsed;
  const { workers, ...decodingOptions } = inferenceFlags(values);
  await setupBackend(values.backend, values.threads);
  const texts = await readTexts(positionals, values.file);
  const bundle = await loadModel(stringFlag(values.model) ?? DEFAULT_MODEL_DIR);
  const predictions = await onWorkers(
    bundle,
    workers,
    () => predict(bundle, texts, decodingOptions),
    (pool) => pool.predict(texts, decodingOptions),
  );
  for (const p of predictions) {
    if (p.truncated) {
      console.error(
        `warning: "${
          p.text.slice(0, 40)
        }..." is longer than the model's maxLength; extra words are tagged O`,
      );
    }
    if (values.json === true) {
      console.log(JSON.stringify(p));
      continue;
    }
    if (p.words.length === 0) {
      console.log("(empty input)");
      continue;
    }
    console.log(p.words.map((w, i) => p.tags[i] === "O" ? w : `${w}/${p.tags[i]}`).join(" "));
    const entities = p.entities.map((e) => `${e.type} "${e.text}" (${e.score.toFixed(2)})`);
    console.log(`  entities: ${entities.length === 0 ? "none" : entities.join(", ")}`);
    const probs = Object.entries(p.sentiment.probabilities)
      .sort((a, b) => b[1] - a[1])
      .map(([label, prob]) => `${label} ${prob.toFixed(2)}`)
      .join(", ");
    console.log(`  sentiment: ${p.sentiment.label} (${probs})`);
  }
  bundle.model.dispose();
}

if (import.meta.main) await main(run);
