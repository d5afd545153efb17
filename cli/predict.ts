/**
 * `deno task predict "Tim Cook visited Paris and loved it"`: every task of the
 * model on each input sentence (arguments, --file, or stdin), one result per
 * input: tags and spans of token tasks, labels of sentence tasks.
 * @module
 */
import { loadModel } from "../lib/model/mod.ts";
import { predict } from "../lib/inference/mod.ts";
import {
  DEFAULT_MODEL_DIR,
  inferenceFlags,
  main,
  onNote,
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
  const bundle = await loadModel(stringFlag(values.model) ?? DEFAULT_MODEL_DIR, { onNote });
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
    // The words with the first token task's tags, then every task's answer.
    const [first] = Object.values(p.tags);
    console.log(
      p.words.map((w, i) => first === undefined || first[i] === "O" ? w : `${w}/${first[i]}`)
        .join(" "),
    );
    for (const [task, tags] of Object.entries(p.tags)) {
      const spans = p.entities[task];
      if (spans !== undefined) {
        const list = spans.map((e) => `${e.type} "${e.text}" (${e.score.toFixed(2)})`);
        console.log(`  ${task}: ${list.length === 0 ? "none" : list.join(", ")}`);
      } else if (tags !== first) {
        console.log(`  ${task}: ${tags.join(" ")}`);
      }
    }
    for (const [task, { label, probabilities }] of Object.entries(p.labels)) {
      const probs = Object.entries(probabilities)
        .sort((a, b) => b[1] - a[1])
        .map(([l, prob]) => `${l} ${prob.toFixed(2)}`)
        .join(", ");
      console.log(`  ${task}: ${label} (${probs})`);
    }
  }
  bundle.model.dispose();
}

if (import.meta.main) await main(run);
