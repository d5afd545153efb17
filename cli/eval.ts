/**
 * `deno task eval`: scores a model on labelled files (conlleval-identical entity
 * scores, token accuracy; sentiment accuracy, macro-F1, confusion matrix), or
 * scores an existing predictions file in conlleval's input format.
 * @module
 */
import {
  type ClassificationScores,
  type EntityScores,
  entityScores,
  loadModel,
  parseConll,
  parseConllevalInput,
  parseLabelledSentences,
  readText,
  scoreCorpora,
  scoreCorporaParallel,
} from "../lib/mod.ts";
import {
  DEFAULT_MODEL_DIR,
  inferenceFlags,
  main,
  onWorkers,
  parse,
  setupBackend,
  stringFlag,
  UsageError,
} from "./_common.ts";

const USAGE = `Usage: deno task eval [options]

  --model DIR        model directory (default ${DEFAULT_MODEL_DIR})
  --ner FILE         CoNLL-format file (IOB1 or IOB2; tag in the last column)
  --sentiment FILE   sentence-label file (label<TAB>text, "label text", or JSON lines);
                     integer labels k map to the model's k-th label
  --conlleval FILE   score a predictions file instead (token ... gold predicted); no model
  --decoding MODE    NER tag decoding: transitions (default: well-formed IOB2 plus the
                     training tag-bigram scores, Viterbi) | constrained | argmax
  --tag-prior-weight X  λ of the tag-prior division of transitions decoding (default:
                     the model's, 0.5 when trained by this version; 0 turns it off)
  --workers N        predict on N workers (cores) in parallel (default 1)
  --json             one JSON object
  --backend NAME     wasm (default) | cpu
  --threads N        tfjs-wasm threads (default 1; falls back to 1 with a warning)
  -h, --help         this text`;

export async function run(args: string[]): Promise<void> {
  const parsed = parse(
    args,
    {
      model: { type: "string" },
      ner: { type: "string" },
      sentiment: { type: "string" },
      conlleval: { type: "string" },
      decoding: { type: "string" },
      "tag-prior-weight": { type: "string" },
      workers: { type: "string" },
      json: { type: "boolean" },
      backend: { type: "string" },
      threads: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    USAGE,
    false,
  );
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
  if (values.ner === undefined && values.sentiment === undefined) {
    throw new UsageError(
      "nothing to evaluate: give --ner FILE and/or --sentiment FILE, or --conlleval FILE",
    );
  }
  const { workers, ...decodingOptions } = inferenceFlags(values);
  await setupBackend(values.backend, values.threads);
  const dir = stringFlag(values.model) ?? DEFAULT_MODEL_DIR;
  const bundle = await loadModel(dir);
  const nerFile = values.ner as string | undefined;
  const sentimentFile = values.sentiment as string | undefined;
  const labels = bundle.labels.sentimentLabels;
  const indexMap = Object.fromEntries(labels.map((l, i) => [String(i), l]));
  const corpora = {
    ...(nerFile !== undefined
      ? { ner: parseConll(await readText(nerFile), nerFile, { tags: bundle.labels.nerTags }) }
      : {}),
    ...(sentimentFile !== undefined
      ? {
        sentiment: parseLabelledSentences(await readText(sentimentFile), sentimentFile, {
          labelMap: { ...Object.fromEntries(labels.map((l) => [l, l])), ...indexMap },
          labels,
        }),
      }
      : {}),
  };
  const scores = await onWorkers(
    bundle,
    workers,
    () => scoreCorpora(bundle, corpora, decodingOptions),
    (pool) => scoreCorporaParallel(pool, corpora, decodingOptions),
  );
  if (values.json === true) {
    console.log(JSON.stringify(scores));
  } else {
    if (scores.ner !== undefined) printNer(nerFile!, scores.ner);
    const unk = scores.nerUnknownWords;
    if (unk !== undefined) {
      const total = unk.unknown.gold + unk.known.gold;
      console.log(
        `entities with an out-of-vocabulary word: ${unk.unknown.gold} of ${total} (${
          pct(unk.unknown.gold / total)
        }%); recall on them ${pct(unk.unknown.recall)}%, on the others ${pct(unk.known.recall)}%`,
      );
    }
    if (scores.sentiment !== undefined) printSentiment(sentimentFile!, scores.sentiment);
  }
  bundle.model.dispose();
}

function pct(x: number): string {
  return (100 * x).toFixed(2);
}

function printNer(file: string, s: EntityScores): void {
  console.log(
    `NER ${file}: ${s.tokens} tokens with ${s.gold} phrases; found: ${s.predicted} phrases; correct: ${s.correct}.`,
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

function printSentiment(file: string, s: ClassificationScores): void {
  console.log(
    `sentiment ${file}: ${s.count} sentences; accuracy ${pct(s.accuracy)}%; macro-F1 ${
      pct(s.macroF1)
    }`,
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
