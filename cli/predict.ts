/**
 * `deno task predict "Tim Cook visited Paris and loved it"`: every task of the
 * model on each input sentence (arguments, --file, or stdin), one result per
 * input: tags and spans of token tasks, labels of sentence tasks.
 * @module
 */
import { loadModel } from "../lib/model/mod.ts";
import { applyHead, embed, parseHeadFile, predict } from "../lib/inference/mod.ts";
import {
  DEFAULT_MODEL_DIR,
  inferenceFlags,
  main,
  onNote,
  onWorkers,
  readJsonObject,
  readTexts,
  setupBackend,
  stringFlag,
} from "./_common.ts";
import { BACKEND_FLAGS, type Command, COMMON, type FlagTable, parseCommand } from "./_flags.ts";

const FLAGS = {
  model: COMMON.model,
  file: {
    ...COMMON.file,
    help: COMMON.file.help + ";\nevery line gets one result, an empty line an empty one",
  },
  json: { ...COMMON.json, help: "one JSON object per sentence" },
  head: {
    type: "string",
    multiple: true,
    value: "FILE",
    help: "also apply a taught sentence head (a head file downloaded from the page at\n" +
      "/ of deno task serve), repeatable: its label joins each sentence's labels",
  },
  decoding: COMMON.decoding,
  "tag-prior-weight": COMMON["tag-prior-weight"],
  workers: { ...COMMON.workers, help: "predict on N workers (cores) in parallel (default 1)" },
  ...BACKEND_FLAGS,
  help: COMMON.help,
} as const satisfies FlagTable;

const COMMAND: Command = {
  usage: "deno task predict [options] [SENTENCE ...]",
  sections: [{ flags: FLAGS }],
};

export async function run(args: string[]): Promise<void> {
  const parsed = parseCommand(args, COMMAND);
  if (parsed === undefined) return;
  const { values, positionals } = parsed;
  const { workers, ...decodingOptions } = inferenceFlags(values);
  await setupBackend(values.backend, values.threads);
  const texts = await readTexts(positionals, values.file);
  const bundle = await loadModel(stringFlag(values.model) ?? DEFAULT_MODEL_DIR, { onNote });
  const heads = await Promise.all(
    ((values.head as string[] | undefined) ?? []).map(async (file) =>
      parseHeadFile(await readJsonObject(file), file)
    ),
  );
  for (const head of heads) {
    if (head.embeddingSize !== bundle.model.embeddingSize) {
      throw new Error(
        `Cannot apply ${head.name}: the head was taught on embeddings of ${head.embeddingSize}, this model gives ${bundle.model.embeddingSize}`,
      );
    }
    if (bundle.tasks.some((t) => t.name === head.name)) {
      throw new Error(`Cannot apply head ${head.name}: the model has a task of that name`);
    }
  }
  let predictions = await onWorkers(
    bundle,
    workers,
    () => predict(bundle, texts, decodingOptions),
    (pool) => pool.predict(texts, decodingOptions),
  );
  if (heads.length > 0) {
    const vectors = embed(bundle, texts);
    const answers = heads.map((head) => applyHead(head, vectors));
    predictions = predictions.map((p, i) => ({
      ...p,
      labels: {
        ...p.labels,
        ...Object.fromEntries(heads.map((head, h) => [head.name, answers[h]![i]!])),
      },
    }));
  }
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
