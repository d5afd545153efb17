/**
 * `deno task eval`: scores a model's tasks on labelled files (conlleval-identical
 * entity scores for chunk-tag tasks, token accuracy for other token tasks;
 * accuracy, macro-F1 and the confusion matrix for sentence tasks), or scores an
 * existing predictions file in conlleval's input format.
 * @module
 */
import {
  DEFAULT_VECTOR_CACHE,
  loadWordVectors,
  parseConll,
  parseLabelledSentences,
  parsePairs,
  readText,
  type Sentence,
} from "../lib/data/mod.ts";
import { loadModel } from "../lib/model/mod.ts";
import { readBackboneFiles } from "../lib/data/backbone_files.ts";
import {
  backboneBaseline,
  type ClassificationScores,
  type EntityScores,
  entityScores,
  meanWordVectors,
  pairsOf,
  parseConllevalInput,
  scoreCorpora,
  scoreCorporaParallel,
  scorePairs,
  type SimilarityScores,
} from "../lib/evaluation/mod.ts";
import {
  DEFAULT_MODEL_DIR,
  inferenceFlags,
  main,
  onNote,
  onWorkers,
  setupBackend,
  stringFlag,
  UsageError,
} from "./_common.ts";
import { BACKEND_FLAGS, type Command, COMMON, type FlagTable, parseCommand } from "./_flags.ts";

const FLAGS = {
  model: COMMON.model,
  data: {
    type: "string",
    multiple: true,
    value: "TASK=FILE",
    help: "score task TASK on FILE (repeatable): a CoNLL file for a token task\n" +
      "(tags in the last column, or --column TASK=N), a sentence-label file\n" +
      '(label<TAB>text, "label text", or JSON lines) for a sentence task;\n' +
      "integer labels k map to the task's k-th label; for a pair task,\n" +
      'sentence pairs (STS Benchmark TSV, or JSON lines {"a", "b", "score"})',
  },
  similarity: {
    type: "string",
    value: "FILE",
    help: "score the sentence embeddings on sentence pairs with gold scores\n" +
      '(STS Benchmark TSV, or .jsonl {"a", "b", "score"}): Spearman and\n' +
      "Pearson x100 of the embeddings' cosine vs the scores; any model",
  },
  "word-vectors": {
    type: "string",
    value: "V",
    help: "with --similarity and no model: the baseline of averaged word\n" +
      "vectors (glove-100d or a GloVe/word2vec/fastText text file)",
  },
  backbone: {
    type: "string",
    value: "NAME",
    help: "with --similarity and no model: the pretrained backbone's own\n" +
      "sentence embeddings, untrained (use-lite)",
  },
  "backbone-text": {
    type: "string",
    value: "T",
    help: "with --backbone: the text it reads, words (joined by spaces,\n" +
      "the default) or written (punctuation and clitics rejoined)",
  },
  column: {
    type: "string",
    multiple: true,
    value: "TASK=N",
    help: "the 0-based tag column of a token task's CoNLL file",
  },
  ner: { type: "string", value: "FILE", help: "the same as --data ner=FILE" },
  sentiment: { type: "string", value: "FILE", help: "the same as --data sentiment=FILE" },
  conlleval: {
    type: "string",
    value: "FILE",
    help: "score a predictions file instead (token ... gold predicted); no model",
  },
  decoding: COMMON.decoding,
  "tag-prior-weight": COMMON["tag-prior-weight"],
  workers: { ...COMMON.workers, help: "predict on N workers (cores) in parallel (default 1)" },
  json: COMMON.json,
  ...BACKEND_FLAGS,
  help: COMMON.help,
} as const satisfies FlagTable;

const COMMAND: Command = { usage: "deno task eval [options]", sections: [{ flags: FLAGS }] };

export async function run(args: string[]): Promise<void> {
  const parsed = parseCommand(args, COMMAND, false);
  if (parsed === undefined) return;
  const { values } = parsed;
  if (typeof values.conlleval === "string") {
    const file = values.conlleval;
    const { gold, predicted } = parseConllevalInput(await readText(file), file);
    const ner = entityScores(gold, predicted);
    if (values.json === true) console.log(JSON.stringify({ ner }));
    else printNer(file, ner);
    return;
  }
  const vectors = stringFlag(values["word-vectors"]);
  if (vectors !== undefined) {
    const file = stringFlag(values.similarity);
    if (file === undefined || values.model !== undefined || values.data !== undefined) {
      throw new UsageError(
        "--word-vectors scores averaged vectors on --similarity FILE, without a model",
      );
    }
    const pairs = readPairs(await readText(file), file, "similarity");
    const table = await loadWordVectors(vectors, {
      cacheDir: DEFAULT_VECTOR_CACHE,
      onProgress: (message) => console.error(message),
    });
    const { firsts, seconds } = pairsOf("similarity", pairs);
    const scores = scorePairs(
      "similarity",
      pairs,
      meanWordVectors(table, firsts),
      meanWordVectors(table, seconds),
    ).similarity!;
    if (values.json === true) console.log(JSON.stringify({ similarity: scores }));
    else printSimilarity(`averaged word vectors (${vectors}) ${file}`, scores);
    return;
  }
  const backbone = stringFlag(values.backbone);
  if (backbone !== undefined) {
    const file = stringFlag(values.similarity);
    if (file === undefined || values.model !== undefined || values.data !== undefined) {
      throw new UsageError(
        "--backbone scores the pretrained backbone's embeddings on --similarity FILE, without a model",
      );
    }
    if (backbone !== "use-lite") {
      throw new UsageError(`--backbone must be use-lite, got "${backbone}"`);
    }
    const text = stringFlag(values["backbone-text"]) ?? "words";
    if (text !== "words" && text !== "written") {
      throw new UsageError(`--backbone-text must be words or written, got "${text}"`);
    }
    await setupBackend(values.backend, values.threads);
    const bundle = backboneBaseline(await readBackboneFiles(backbone), text);
    const scores = scoreCorpora(bundle, {
      similarity: readPairs(await readText(file), file, "similarity"),
    }).similarity!;
    if (values.json === true) console.log(JSON.stringify({ similarity: scores.similarity }));
    else {printSimilarity(
        `the pretrained backbone (${backbone}, untrained, ${text}) ${file}`,
        scores.similarity!,
      );}
    bundle.model.dispose();
    return;
  }
  const files = pairs([
    ...((values.data as string[] | undefined) ?? []),
    ...(values.ner !== undefined ? [`ner=${values.ner}`] : []),
    ...(values.sentiment !== undefined ? [`sentiment=${values.sentiment}`] : []),
  ], "data");
  if (files.size === 0 && values.similarity === undefined) {
    throw new UsageError(
      "nothing to evaluate: give --data TASK=FILE (or --ner FILE, --sentiment FILE), --similarity FILE, or --conlleval FILE",
    );
  }
  const columns = pairs((values.column as string[] | undefined) ?? [], "column");
  const { workers, ...decodingOptions } = inferenceFlags(values);
  await setupBackend(values.backend, values.threads);
  const dir = stringFlag(values.model) ?? DEFAULT_MODEL_DIR;
  const bundle = await loadModel(dir, { onNote });
  const corpora: Record<string, Sentence[]> = {};
  for (const [name, file] of files) {
    const task = bundle.tasks.find((t) => t.name === name);
    if (task === undefined) {
      throw new UsageError(
        `the model has no task "${name}" (its tasks: ${
          bundle.tasks.map((t) => t.name).join(", ")
        })`,
      );
    }
    const column = columns.get(name);
    if (column !== undefined && !/^\d+$/.test(column)) {
      throw new UsageError(`--column ${name}=N expects a column number, got "${column}"`);
    }
    corpora[name] = task.kind === "pair"
      ? readPairs(await readText(file), file, name)
      : task.kind === "token"
      ? parseConll(await readText(file), file, {
        task: name,
        ...(column !== undefined ? { tagColumn: Number(column) } : {}),
      })
      : parseLabelledSentences(await readText(file), file, {
        task: name,
        labelMap: {
          ...Object.fromEntries(task.labels.map((l) => [l, l])),
          ...Object.fromEntries(task.labels.map((l, i) => [String(i), l])),
        },
        labels: task.labels,
      });
  }
  const similarity = stringFlag(values.similarity);
  if (similarity !== undefined) {
    // Scored under the model's pair task when it has one, else as embeddings alone.
    const name = bundle.tasks.find((t) => t.kind === "pair")?.name ?? "similarity";
    if (files.has(name)) throw new UsageError(`--similarity and --data ${name}= both given`);
    files.set(name, similarity);
    corpora[name] = readPairs(await readText(similarity), similarity, name);
  }
  const scores = await onWorkers(
    bundle,
    workers,
    () => scoreCorpora(bundle, corpora, decodingOptions),
    (pool) => scoreCorporaParallel(pool, corpora, decodingOptions),
  );
  if (values.json === true) {
    console.log(JSON.stringify(scores));
  } else {
    for (const [name, score] of Object.entries(scores)) {
      const file = files.get(name)!;
      if (score.entities !== undefined) printNer(`${name} ${file}`, score.entities);
      const unk = score.unknownWords;
      if (unk !== undefined) {
        const total = unk.unknown.gold + unk.known.gold;
        console.log(
          `spans with an out-of-vocabulary word: ${unk.unknown.gold} of ${total} (${
            pct(unk.unknown.gold / total)
          }%); recall on them ${pct(unk.unknown.recall)}%, on the others ${pct(unk.known.recall)}%`,
        );
      }
      if (score.entities === undefined && score.tokenAccuracy !== undefined) {
        console.log(
          `${name} ${file}: ${score.tokens} tokens; accuracy ${pct(score.tokenAccuracy)}%`,
        );
      }
      if (score.classes !== undefined) printSentiment(`${name} ${file}`, score.classes);
      if (score.similarity !== undefined) printSimilarity(`${name} ${file}`, score.similarity);
      if (score.cutAtMaxPieces !== undefined && score.cutAtMaxPieces > 0) {
        console.log(
          `${name} ${file}: ${score.cutAtMaxPieces} sentence(s) longer than the backbone's ${bundle.tokenizer.maxPieces} pieces were cut there`,
        );
      }
    }
  }
  bundle.model.dispose();
}

/** Sentence pairs from an STS Benchmark file, or JSON lines when the name ends in .jsonl. */
function readPairs(text: string, file: string, task: string): Sentence[] {
  return parsePairs(text, file, { task, format: /\.jsonl$/i.test(file) ? "jsonl" : "stsb" });
}

/** `KEY=VALUE` flag values as a map. */
function pairs(values: readonly string[], flag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of values) {
    const at = v.indexOf("=");
    if (at <= 0 || at === v.length - 1) {
      throw new UsageError(`--${flag} expects TASK=VALUE, got "${v}"`);
    }
    out.set(v.slice(0, at), v.slice(at + 1));
  }
  return out;
}

function pct(x: number): string {
  return (100 * x).toFixed(2);
}

function printNer(file: string, s: EntityScores): void {
  console.log(
    `${file}: ${s.tokens} tokens with ${s.gold} phrases; found: ${s.predicted} phrases; correct: ${s.correct}.`,
  );
  console.log(
    `accuracy: ${pct(s.tokenAccuracy).padStart(6)}%; precision: ${
      pct(s.precision).padStart(6)
    }%; recall: ${pct(s.recall).padStart(6)}%; FB1: ${pct(s.f1).padStart(6)}`,
  );
  for (const [type, t] of Object.entries(s.byType)) {
    console.log(
      `${type.padStart(17)}: precision: ${pct(t.precision).padStart(6)}%; recall: ${
        pct(t.recall).padStart(6)
      }%; FB1: ${pct(t.f1).padStart(6)}  ${t.predicted}`,
    );
  }
}

function printSimilarity(file: string, s: SimilarityScores): void {
  console.log(
    `${file}: ${s.pairs} pairs; cosine vs gold: Spearman ${pct(s.spearman)}, Pearson ${
      pct(s.pearson)
    }`,
  );
}

function printSentiment(file: string, s: ClassificationScores): void {
  console.log(
    `${file}: ${s.count} sentences; accuracy ${pct(s.accuracy)}%; macro-F1 ${pct(s.macroF1)}`,
  );
  const width = Math.max(9, ...s.labels.map((l) => l.length + 1));
  console.log(`  confusion (rows gold, columns predicted)`);
  console.log("  " + " ".repeat(width) + s.labels.map((l) => l.padStart(width)).join(""));
  s.confusion.forEach((row, i) => {
    console.log(
      "  " + s.labels[i]!.padStart(width) + row.map((c) => String(c).padStart(width)).join(""),
    );
  });
}

if (import.meta.main) await main(run);
