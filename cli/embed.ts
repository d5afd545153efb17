/**
 * `deno task embed "a sentence" "another one"`: fixed-length sentence
 * embeddings and, for two or more sentences, their cosine similarities.
 * @module
 */
import { splitWords } from "../lib/data/mod.ts";
import { loadModel } from "../lib/model/mod.ts";
import { cosineSimilarity, embed, encodeWordLists } from "../lib/inference/mod.ts";
import { DEFAULT_MODEL_DIR, main, parse, readTexts, setupBackend, stringFlag } from "./_common.ts";

const USAGE = `Usage: deno task embed [options] [SENTENCE ...]

  --model DIR      model directory (default ${DEFAULT_MODEL_DIR})
  --file FILE      read sentences from FILE, one per line (else arguments, else stdin)
  --normalize      L2-normalise the embeddings
  --json           one JSON object: { embeddings, similarities }
  --backend NAME   wasm (default) | cpu
  --threads N      tfjs-wasm threads (default 1; falls back to 1 with a warning)
  -h, --help       this text`;

export async function run(args: string[]): Promise<void> {
  const parsed = parse(args, {
    model: { type: "string" },
    file: { type: "string" },
    normalize: { type: "boolean" },
    json: { type: "boolean" },
    backend: { type: "string" },
    threads: { type: "string" },
    help: { type: "boolean", short: "h" },
  }, USAGE);
  if (parsed === undefined) return;
  const { values, positionals } = parsed;
  await setupBackend(values.backend, values.threads);
  const texts = await readTexts(positionals, values.file);
  const bundle = await loadModel(stringFlag(values.model) ?? DEFAULT_MODEL_DIR);
  encodeWordLists(bundle, texts.map(splitWords)).forEach((e, i) => {
    if (e.truncated) {
      console.error(
        `warning: input ${i + 1} ("${
          texts[i]!.slice(0, 40)
        }...") is longer than the model's maxLength; only its first words are embedded`,
      );
    }
  });
  const vectors = embed(bundle, texts, { normalize: values.normalize === true });
  const similarities = vectors.map((a) => vectors.map((b) => cosineSimilarity(a, b)));
  if (values.json === true) {
    console.log(
      JSON.stringify({ texts, embeddings: vectors.map((v) => Array.from(v)), similarities }),
    );
  } else {
    console.log(`${vectors.length} embedding(s) of size ${vectors[0]?.length}`);
    texts.forEach((t, i) => {
      const head = Array.from(vectors[i]!.slice(0, 6), (x) => x.toFixed(3)).join(", ");
      console.log(`[${i}] ${t}\n    [${head}, ...]`);
    });
    if (texts.length >= 2) {
      console.log("cosine similarity:");
      console.log("      " + texts.map((_, j) => `[${j}]`.padStart(7)).join(""));
      similarities.forEach((row, i) =>
        console.log(`  [${i}] ` + row.map((s) => s.toFixed(3).padStart(7)).join(""))
      );
    }
  }
  bundle.model.dispose();
}

if (import.meta.main) await main(run);
