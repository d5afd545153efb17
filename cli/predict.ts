/**
 * `deno task predict "Tim Cook visited Paris and loved it"`: NER tags, entity
 * spans and sentiment for each input sentence (arguments, --file, or stdin).
 * @module
 */
import { loadModel, predict } from "../lib/mod.ts";
import { DEFAULT_MODEL_DIR, fail, parse, readTexts, setupBackend } from "./_common.ts";

const USAGE = `Usage: deno task predict [options] [SENTENCE ...]

  --model DIR      model directory (default ${DEFAULT_MODEL_DIR})
  --file FILE      read sentences from FILE, one per line (else arguments, else stdin)
  --json           one JSON object per sentence
  --backend NAME   wasm (default) | cpu
  -h, --help       this text`;

const { values, positionals } = parse(Deno.args, {
  model: { type: "string" },
  file: { type: "string" },
  json: { type: "boolean" },
  backend: { type: "string" },
  help: { type: "boolean", short: "h" },
}, USAGE);

await setupBackend(values.backend);
const texts = await readTexts(positionals, values.file);
const dir = (values.model as string | undefined) ?? DEFAULT_MODEL_DIR;
const bundle = await loadModel(dir).catch((e: Error) => fail(e.message));
for (const p of predict(bundle, texts)) {
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
  console.log(p.words.map((w, i) => p.tags[i] === "O" ? w : `${w}/${p.tags[i]}`).join(" "));
  const entities = p.entities.map((e) => `${e.type} "${e.text}" (${e.score.toFixed(2)})`);
  console.log(`  entities: ${entities.length === 0 ? "none" : entities.join(", ")}`);
  const probs = Object.entries(p.sentiment.probabilities)
    .sort((a, b) => b[1] - a[1])
    .map(([label, prob]) => `${label} ${prob.toFixed(2)}`)
    .join(", ");
  console.log(`  sentiment: ${p.sentiment.label} (${probs})`);
}
