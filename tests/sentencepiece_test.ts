/**
 * The SentencePiece encoder against the backbone package's own `Tokenizer`
 * (`@tensorflow-models/universal-sentence-encoder@1.3.3`), and the alignment
 * of pieces to words.
 */
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { readBackboneFiles } from "../lib/data/backbone_files.ts";
import {
  encodeSentence,
  padBatch,
  SPECIAL_TOKENS,
  splitWords,
  WordTokenizer,
} from "../lib/data/mod.ts";
import { spacesBefore, writtenForm } from "../lib/data/written_text.ts";
import { SentencePieceTokenizer, WORD_BOUNDARY } from "../lib/data/sentencepiece.ts";
import { TASKS } from "./_helpers.ts";

const files = await readBackboneFiles("use-lite");
const ours = new SentencePieceTokenizer(files.vocab);

/**
 * The reference encoder: the package's CommonJS `Tokenizer`, evaluated with its
 * one tfjs import (used only to fetch a vocabulary) stubbed out, so a second
 * tfjs-core does not load into this process.
 */
function referenceTokenizer(): { encode(text: string): number[] } {
  const require = createRequire(import.meta.url);
  const path = require.resolve(
    "@tensorflow-models/universal-sentence-encoder/dist/tokenizer/index.js",
  );
  const folder = path.slice(0, path.lastIndexOf("/"));
  const source = Deno.readTextFileSync(path);
  const module = { exports: {} as Record<string, unknown> };
  const fakeRequire = (name: string) =>
    name === "@tensorflow/tfjs-core" ? {} : require(`${folder}/${name}.js`);
  new Function("require", "exports", "module", source)(fakeRequire, module.exports, module);
  const Tokenizer = module.exports.Tokenizer as new (vocab: unknown) => {
    encode(text: string): number[];
  };
  // The package's vocabulary has null scores where ours reads 0, as its encoder adds them.
  const raw = JSON.parse(new TextDecoder().decode(Deno.readFileSync(`${files.dir}/vocab.json`)));
  return new Tokenizer(raw);
}

const reference = referenceTokenizer();

/** Texts of every kind the toolkit meets, and the edge cases. */
async function texts(): Promise<string[]> {
  const edge = [
    "",
    "a",
    "Tim Cook visited Paris and loved it.",
    "Café in Zürich — naïve façade, 東京 and 北京 🎉🎉",
    "  two  spaces\tand a tab\nand a newline  ",
    "non\u00a0breaking space, ﬁ ligature, Ｆｕｌｌ width",
    "::) :( http://x.y/z 1,000,000.50 U.S.A.",
    "no-one's can't won't O'Neil",
    "x".repeat(300),
    "word ".repeat(200),
  ];
  const corpora: string[] = [];
  for (
    const [file, column] of [["data/corpora/stsb/dev.csv", 5], [
      "data/corpora/sst2/dev.txt",
      -1,
    ]] as const
  ) {
    try {
      const lines = (await Deno.readTextFile(file)).split("\n").filter((l) => l !== "");
      corpora.push(
        ...lines.slice(0, 400).map((l) => column < 0 ? l.slice(2) : l.split("\t")[column] ?? ""),
      );
    } catch {
      // The corpora are optional here; the edge cases run regardless.
    }
  }
  return [...edge, ...corpora];
}

Deno.test("SentencePieceTokenizer.encode() gives the ids of the package's own Tokenizer", async () => {
  const all = await texts();
  for (const text of all) {
    assert.deepEqual([...ours.encode(text).ids], reference.encode(text), JSON.stringify(text));
  }
});

Deno.test("encodeWords() pieces equal the joined text's, and each belongs to its word", async () => {
  for (const text of await texts()) {
    const words = splitWords(text);
    const joined = ours.encode(words.join(" "));
    const byWord = ours.encodeWords(words);
    assert.deepEqual([...byWord.ids], [...joined.ids], text);
    // Each piece's characters are its word's: piece strings concatenate to "▁" + word.
    const rebuilt = words.map(() => "");
    byWord.ids.forEach((id, i) =>
      rebuilt[byWord.wordOf[i]!] += id === 0 ? "?" : ours.vocab[id]![0]
    );
    words.forEach((word, w) => {
      const expected = WORD_BOUNDARY + word.normalize("NFKC").replaceAll(" ", WORD_BOUNDARY);
      if (!rebuilt[w]!.includes("?")) assert.equal(rebuilt[w], expected, `${text}: word ${w}`);
      assert.ok(rebuilt[w]!.length > 0, `${text}: word ${w} has no piece`);
    });
  }
});

Deno.test("a word of several pieces, a bare ▁ piece and an unknown character align to their words", () => {
  // "unbelievably" is several pieces; "%" starts with the bare piece "▁"; "東" is unknown.
  const words = ["An", "unbelievably", "%", "東", "day"];
  const { ids, wordOf } = ours.encodeWords(words);
  const pieces = [...ids].map((id) => ours.vocab[id]![0]);
  const of = (w: number) => pieces.filter((_, i) => wordOf[i] === w);
  assert.ok(of(1).length >= 2, `"unbelievably" → ${of(1)}`);
  assert.deepEqual(of(2), ["▁", "%"]);
  assert.deepEqual([...ids].filter((_, i) => wordOf[i] === 3), [
    ours.vocab.findIndex(([p]) => p === "▁"),
    0,
  ]);
  assert.deepEqual([...wordOf], [...wordOf].sort((a, b) => a - b), "pieces in word order");
});

Deno.test("encodeSentence() gives pieces with token positions, cut at maxPieces", () => {
  const tokenizer = WordTokenizer.fit([["Paris"]], {
    lowercase: true,
    minFrequency: 1,
    maxVocabSize: 10,
    affixBuckets: 0,
  }).withPieces(files.vocab, 4);
  const words = ["Tim", "unbelievably", "(", "Paris", "today"];
  const e = encodeSentence({ words, labels: {} }, tokenizer, TASKS, 64);
  const all = ours.encodeWords(words);
  assert.deepEqual([...e.pieces!.ids], [...all.ids.slice(0, 4)]);
  assert.deepEqual([...e.pieces!.positions], [...all.wordOf.slice(0, 4)].map((w) => w + 1));
  assert.equal(e.pieces!.truncated, true);
  // The alignment averages a word's pieces; words past the cut get none, [CLS] all of them.
  const batch = padBatch([e]);
  const p = batch.backbone!.pieces!;
  const row = (t: number) => [...batch.backbone!.alignment!.slice(t * p, (t + 1) * p)];
  assert.deepEqual(row(0), [0.25, 0.25, 0.25, 0.25]);
  const second = [...e.pieces!.positions].filter((t) => t === 2).length;
  assert.ok(Math.abs(row(2).reduce((a, b) => a + b, 0) - 1) < 1e-6 && second >= 2);
  assert.deepEqual(row(5), [0, 0, 0, 0]);
});

Deno.test("tokenizer.json keeps the pieces: a round trip encodes the same", () => {
  const tokenizer = WordTokenizer.fit([["a"]], {
    lowercase: true,
    minFrequency: 1,
    maxVocabSize: 10,
    affixBuckets: 0,
  }).withPieces(files.vocab, 128);
  const back = WordTokenizer.fromJSON(JSON.parse(JSON.stringify(tokenizer.toJSON())));
  assert.equal(back.maxPieces, 128);
  const words = ["Zürich", "is", "wunderbar"];
  assert.deepEqual([...back.pieces!.encodeWords(words).ids], [...ours.encodeWords(words).ids]);
});

/** The Treebank-tokenised sentences the written text is tested on, SST-2's and CoNLL's kinds. */
const TREEBANK: readonly (readonly [words: string, written: string])[] = [
  ["it does n't -lrb- quite -rrb- work , `` sadly '' .", 'it doesn\'t (quite) work, "sadly".'],
  ["moore 's pasteurized ditties wo n't last ...", "moore's pasteurized ditties won't last..."],
  [
    'He said : " It costs $ 16,935 ( 10 % ) . "',
    'He said: "It costs $16,935 (10%)."',
  ],
  ["-LSB- sic -RSB- you 're , I 'd say , right !", "[sic] you're, I'd say, right!"],
];

Deno.test("encodeWords() with the spaces of the written text gives the package's pieces of that text", () => {
  for (const [sentence, text] of TREEBANK) {
    const words = sentence.split(" ");
    const e = ours.encodeWords(words.map(writtenForm), spacesBefore(words));
    assert.deepEqual([...e.ids], reference.encode(text), text);
    // A piece belongs to the word it starts in: its first symbol lies in that word's symbols
    // (its "▁", if it has one, and its characters).
    const spaces = spacesBefore(words);
    const bounds = [0];
    words.forEach((word, w) =>
      bounds.push(bounds[w]! + (w === 0 || spaces[w] ? 1 : 0) + [...writtenForm(word)].length)
    );
    e.wordOf.forEach((w, i) => {
      assert.ok(e.starts[i]! >= bounds[w]! && e.starts[i]! < bounds[w + 1]!, `${text}: piece ${i}`);
    });
  }
});

Deno.test("written text: a word whose characters a piece of the word before covers gets no piece", () => {
  // "$" "16,935": "$" may open the piece "▁$1…"; "(" "10": likewise "(1". Either way every
  // piece is owned, pieces stay in word order, and a word without a piece is left out.
  const words = ["It", "costs", "$", "16,935", "(", "10", "%", ")", "."];
  const e = ours.encodeWords(words.map(writtenForm), spacesBefore(words));
  assert.deepEqual([...e.wordOf], [...e.wordOf].sort((a, b) => a - b));
  const rebuilt = [...e.ids].map((id) => ours.vocab[id]![0]).join("");
  assert.equal(
    rebuilt,
    `${WORD_BOUNDARY}It${WORD_BOUNDARY}costs${WORD_BOUNDARY}$16,935${WORD_BOUNDARY}(10%).`,
  );
  const tokenizer = new WordTokenizer(SPECIAL_TOKENS, true).withPieces(files.vocab, 128, "written");
  const s = encodeSentence({ words, labels: {} }, tokenizer, TASKS, 64);
  assert.deepEqual([...s.pieces!.ids], [...e.ids]);
  // Tokens without pieces get zero rows in the alignment, as words cut at maxPieces do.
  const batch = padBatch([s]);
  const p = batch.backbone!.pieces!;
  for (let w = 0; w < words.length; w++) {
    const row = batch.backbone!.alignment!.slice((w + 1) * p, (w + 2) * p);
    const sum = row.reduce((a, b) => a + b, 0);
    assert.ok(
      e.wordOf.includes(w) ? Math.abs(sum - 1) < 1e-6 : sum === 0,
      `word ${w} ${words[w]}: ${sum}`,
    );
  }
});

Deno.test("tokenizer.json keeps pieceText: a written-text tokenizer reloads as one", () => {
  const tokenizer = new WordTokenizer(SPECIAL_TOKENS, true).withPieces(files.vocab, 128, "written");
  const json = JSON.parse(JSON.stringify(tokenizer.toJSON()));
  assert.equal(json.pieceText, "written");
  const back = WordTokenizer.fromJSON(json);
  assert.equal(back.pieceText, "written");
  const words = "I do n't , really .".split(" ");
  assert.deepEqual([...back.piecesOf(words).ids], reference.encode("I don't, really."));
  // The words-joined default is not written into the file, so older files read the same.
  const plain = new WordTokenizer(SPECIAL_TOKENS, true).withPieces(files.vocab, 128).toJSON();
  assert.equal("pieceText" in plain, false);
  assert.equal(WordTokenizer.fromJSON(JSON.parse(JSON.stringify(plain))).pieceText, "words");
});
