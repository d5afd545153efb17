/** Pretrained word vectors: readers, the binary cache, vocabulary, initialisation, freezing. */
import assert from "node:assert/strict";
import { DataError } from "../lib/core/mod.ts";
import {
  loadWordVectors,
  parseVectorText,
  parseWinkJson,
  pretrainedTable,
  readVectorCache,
  readVectorText,
  resolveVectorSource,
  UNK_ID,
  vectorIndex,
  WordTokenizer,
} from "../lib/data/mod.ts";
import { TOKEN_EMBEDDING, TOKEN_PROJECTION } from "../lib/model/mod.ts";
import { trainModel } from "../lib/training/mod.ts";
import { bitEqual, SENTENCES, setup, TASKS, tinyConfig } from "./_helpers.ts";

await setup();

const TEXT = [
  "the 0.1 0.2 0.3",
  "anna 1 2 3",
  "rome -1 -2 -3.5",
  "zurich 4 5 6",
  "",
].join("\n");

Deno.test("parseVectorText() reads GloVe and word2vec text, naming the line of a bad value", () => {
  const glove = parseVectorText(TEXT, "v.txt");
  assert.deepEqual(glove.words, ["the", "anna", "rome", "zurich"]);
  assert.equal(glove.dim, 3);
  assert.deepEqual([...glove.data.subarray(6, 9)], [-1, -2, -3.5]);
  const w2v = parseVectorText("4 3\r\n" + TEXT.replaceAll("\n", "\r\n"), "v.vec");
  assert.deepEqual(w2v.words, glove.words);
  assert.ok(bitEqual(w2v.data, glove.data));
  assert.throws(() => parseVectorText("a 1 2\nb 1 x\n", "v.txt"), (e: Error) => {
    assert.ok(e instanceof DataError);
    assert.match(e.message, /^Cannot load v\.txt: line 2: component 2 of "b" is not a number/);
    return true;
  });
  assert.throws(
    () => parseVectorText("3 2\na 1 2\n", "v.vec"),
    /announces 3 vectors but the file has 1/,
  );
  assert.throws(() => parseVectorText("\n\n", "v.txt"), /no word vectors/);
});

Deno.test("readVectorText() streams plain and gzipped files to the same vectors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/v.txt`, TEXT);
    const gz = new Blob([TEXT]).stream().pipeThrough(new CompressionStream("gzip"));
    await Deno.writeFile(`${dir}/v.txt.gz`, new Uint8Array(await new Response(gz).arrayBuffer()));
    const plain = await readVectorText(`${dir}/v.txt`);
    const zipped = await readVectorText(`${dir}/v.txt.gz`);
    assert.deepEqual(zipped.words, plain.words);
    assert.ok(bitEqual(zipped.data, plain.data));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("the binary cache is built once, reused, and rebuilt when the source changes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const source = `${dir}/v.txt`;
    await Deno.writeTextFile(source, TEXT);
    const notices: string[] = [];
    const options = { cacheDir: `${dir}/cache`, onProgress: (m: string) => notices.push(m) };
    const first = await loadWordVectors(source, options);
    const second = await loadWordVectors(source, options);
    assert.equal(notices.length, 1, "second load reads the cache");
    assert.deepEqual(second.words, first.words);
    assert.ok(bitEqual(second.data, first.data));
    const [cacheFile] = [...Deno.readDirSync(`${dir}/cache`)].map((e) => e.name);
    const cached = await readVectorCache(`${dir}/cache/${cacheFile}`);
    assert.ok(bitEqual(cached.vectors.data, first.data));
    await Deno.writeTextFile(source, TEXT + "oslo 7 8 9\n");
    const third = await loadWordVectors(source, options);
    assert.equal(notices.length, 2, "a changed source is converted again");
    assert.equal(third.words.at(-1), "oslo");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a missing vectors file is one clear DataError", async () => {
  await assert.rejects(
    () => loadWordVectors("/nonexistent/vectors.txt", { cacheDir: "/tmp/unused" }),
    /^DataError: Cannot load \/nonexistent\/vectors\.txt: cannot read the word vectors/,
  );
});

let packageFile: string | undefined;
try {
  packageFile = resolveVectorSource("glove-100d");
} catch {
  packageFile = undefined;
}

Deno.test({
  name: "the glove-100d cache gives the same vectors as the package's JSON for sampled words",
  ignore: packageFile === undefined,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const vectors = await loadWordVectors("glove-100d", { cacheDir: dir });
      const json = JSON.parse(await Deno.readTextFile(packageFile!)) as {
        words: string[];
        vectors: Record<string, number[]>;
      };
      assert.equal(vectors.dim, 100);
      assert.equal(vectors.words.length, 341479);
      assert.deepEqual(vectors.words.slice(0, 3), ["the", ",", "."]);
      const index = vectorIndex(vectors, false);
      for (let k = 0; k < 200; k++) {
        const word = json.words[(k * 7919) % json.words.length]!;
        const row = index.get(word)!;
        const expected = Float32Array.from(json.vectors[word]!.slice(0, 100));
        assert.ok(bitEqual(vectors.data.subarray(row * 100, (row + 1) * 100), expected), word);
      }
      const cached = await loadWordVectors("glove-100d", { cacheDir: dir });
      assert.ok(bitEqual(cached.data, vectors.data));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("parseWinkJson() takes the components and drops the norm and index", () => {
  const v = parseWinkJson(
    JSON.stringify({ dimensions: 2, words: ["a"], vectors: { a: [3, 4, 5, 0] } }),
    "w.json",
  );
  assert.deepEqual([...v.data], [3, 4]);
  assert.throws(
    () => parseWinkJson(JSON.stringify({ dimensions: 3, words: ["a"], vectors: { a: [1] } }), "w"),
    /no 3-component vector for word 0/,
  );
});

const VECTORS = parseVectorText(TEXT, "v.txt");

Deno.test("the vocabulary adds the most frequent pretrained words beside the training words", () => {
  const config = { ...tinyConfig().tokenizer, minFrequency: 2, pretrainedVocabSize: 3 };
  const tok = WordTokenizer.fit(
    [["Anna", "likes", "likes", "Oslo"]],
    config,
    { words: VECTORS.words, dim: 3, source: "v" },
  );
  // training words seen twice or with a vector, then the top-3 pretrained words not yet in
  assert.deepEqual(tok.vocab.slice(4), ["likes", "anna", "the", "rome"]);
  assert.equal(tok.tokenId("Oslo"), UNK_ID, "seen once, no vector");
  assert.equal(tok.tokenId("ZURICH"), UNK_ID, "beyond the pretrained vocabulary size");
  const json = JSON.parse(JSON.stringify(tok));
  const back = WordTokenizer.fromJSON(json);
  assert.equal(back.vectorDim, 3);
  assert.equal(back.wordVectors, "v");
});

Deno.test("a word absent from training gets its pretrained vector, others a random row", () => {
  const vocab = ["[PAD]", "[UNK]", "[CLS]", "[MASK]", "likes", "Rome"];
  const { table, covered } = pretrainedTable(vocab, VECTORS, true, 7);
  assert.equal(covered, 1);
  assert.deepEqual([...table.subarray(5 * 3, 6 * 3)], [-1, -2, -3.5]);
  assert.deepEqual([...table.subarray(0, 3)], [0, 0, 0]);
  assert.ok(table.subarray(4 * 3, 5 * 3).some((x) => x !== 0));
  assert.ok(bitEqual(table, pretrainedTable(vocab, VECTORS, true, 7).table), "seeded");
});

Deno.test("frozen word vectors stay bit-for-bit unchanged while the rest trains", async () => {
  const run = async (epochs: number) => {
    const config = tinyConfig({
      tokenizer: { wordVectors: "v.txt", pretrainedVocabSize: 4 },
      train: { epochs, freeze: ["word-vectors"], learningRate: 0.01 },
    });
    const { bundle } = await trainModel(SENTENCES, config, {
      tasks: TASKS,
      wordVectors: VECTORS,
    });
    const read = (name: string) => bundle.model.parameters.get(name).dataSync() as Float32Array;
    const out = {
      tokenizer: bundle.tokenizer,
      table: read(TOKEN_EMBEDDING),
      projection: read(TOKEN_PROJECTION),
      shape: bundle.model.parameters.get(TOKEN_PROJECTION).shape,
      hidden: config.model.hiddenSize,
    };
    bundle.model.dispose();
    return out;
  };
  const initial = await run(0);
  const trained = await run(2);
  assert.deepEqual(trained.shape, [3, trained.hidden]);
  assert.ok(bitEqual(trained.table, initial.table), "the vectors did not move");
  assert.ok(!bitEqual(trained.projection, initial.projection), "their projection trained");
  const zurich = trained.tokenizer.tokenId("Zurich");
  assert.notEqual(zurich, UNK_ID, "never in training, still in the vocabulary");
  assert.deepEqual([...trained.table.subarray(zurich * 3, zurich * 3 + 3)], [4, 5, 6]);
});
