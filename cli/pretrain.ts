/**
 * `deno task pretrain`: masked-language-model pretraining of the backbone on
 * unlabelled text; writes a model directory for `deno task train --init-backbone DIR`.
 * @module
 */
import { type ConfigOverrides, type PresetName, resolveConfig } from "../lib/core/mod.ts";
import { parseConll, parseLabelledSentences, readText, whitespaceWords } from "../lib/data/mod.ts";
import { saveModel } from "../lib/model/mod.ts";
import { pretrainBackbone } from "../lib/training/mod.ts";
import {
  holdModelDir,
  intFlag,
  main,
  parse,
  readJsonObject,
  setupBackend,
  stringFlag,
  UsageError,
  vectorOverrides,
} from "./_common.ts";

const USAGE = `Usage: deno task pretrain [options]

  --text FILE       plain text, one sentence per line, words separated by spaces (repeatable)
  --conll FILE      a CoNLL file; its tags are ignored (repeatable)
  --labelled FILE   a sentence-label file (e.g. SST-2); its labels are ignored (repeatable)
  --out DIR         backbone model directory to write (default runs/backbone)
  --epochs N        pretraining epochs (default from the config)
  --config FILE     JSON config overrides (model shape must match later fine-tuning)
  --preset NAME     default | tiny | reference
  --seed N          seed
  --word-vectors SRC  initialise the word embeddings from pretrained vectors: glove-100d | FILE
  --pretrained-vocab N  with word vectors: their N most frequent words join the vocabulary
  --backend NAME    wasm (default) | cpu
  --threads N       tfjs-wasm threads (default 1; falls back to 1 with a warning)
  -h, --help        this text`;

export async function run(args: string[]): Promise<void> {
  const parsed = parse(
    args,
    {
      text: { type: "string", multiple: true },
      conll: { type: "string", multiple: true },
      labelled: { type: "string", multiple: true },
      out: { type: "string" },
      epochs: { type: "string" },
      config: { type: "string" },
      preset: { type: "string" },
      seed: { type: "string" },
      "word-vectors": { type: "string" },
      "pretrained-vocab": { type: "string" },
      backend: { type: "string" },
      threads: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    USAGE,
    false,
  );
  if (parsed === undefined) return;
  const { values } = parsed;
  const list = (v: unknown) => (Array.isArray(v) ? v as string[] : []);
  const epochs = intFlag(values.epochs, "epochs", 1, 100000);
  const seed = intFlag(values.seed, "seed", 0, 2 ** 32 - 1);
  const out = stringFlag(values.out) ?? "runs/backbone";
  await setupBackend(values.backend, values.threads);
  await holdModelDir(out);
  const sentences: string[][] = [];
  for (const file of list(values.text)) {
    for (const line of (await readText(file)).split("\n")) {
      const words = whitespaceWords(line);
      if (words.length > 0) sentences.push(words);
    }
  }
  for (const file of list(values.conll)) {
    sentences.push(...parseConll(await readText(file), file).map((s) => [...s.words]));
  }
  for (const file of list(values.labelled)) {
    sentences.push(...parseLabelledSentences(await readText(file), file).map((s) => [...s.words]));
  }
  if (sentences.length === 0) {
    throw new UsageError("no text: give --text, --conll or --labelled files");
  }
  let overrides: ConfigOverrides & { preset?: PresetName } = {};
  if (typeof values.config === "string") {
    overrides = await readJsonObject(values.config) as typeof overrides;
  }
  const { preset, ...rest } = overrides as ConfigOverrides & {
    preset?: PresetName;
    [k: string]: unknown;
  };
  const config = resolveConfig({
    ...(rest.model !== undefined ? { model: rest.model } : {}),
    tokenizer: { ...rest.tokenizer, ...vectorOverrides(values) },
    ...(seed !== undefined ? { seed } : rest.seed !== undefined ? { seed: rest.seed } : {}),
    train: { ...rest.train, ...(epochs !== undefined ? { epochs } : {}) },
  }, (values.preset as PresetName | undefined) ?? preset ?? "default");
  console.log(
    `pretraining on ${sentences.length} sentences, ${config.train.epochs} epochs, batch ${config.train.batchSize}`,
  );
  const started = performance.now();
  const { bundle } = await pretrainBackbone(sentences, config, {
    onWarning: (message) => console.error(`note: ${message}`),
    onEpochEnd: (r) =>
      console.log(
        `epoch ${String(r.epoch).padStart(3)} MLM loss ${r.loss.toFixed(4)} masked acc ${
          r.maskedAccuracy.toFixed(3)
        } | ${r.seconds.toFixed(0)} s ${Math.round(r.tokensPerSecond)} tok/s`,
      ),
  });
  await saveModel(out, bundle);
  console.log(`saved backbone ${out} in ${((performance.now() - started) / 60000).toFixed(1)} min`);
  bundle.model.dispose();
}

if (import.meta.main) await main(run);
