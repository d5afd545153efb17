import assert from "node:assert/strict";
import { DataError } from "../lib/core/mod.ts";
import { parseConll, parseLabelledSentences, readText } from "../lib/data/mod.ts";

const CONLL = `-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC
call NN I-NP O

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER
of IN I-PP O
Bonn NNP I-NP I-LOC
Bank NNP I-NP B-LOC


`;

Deno.test("parseConll() reads 4-column IOB1 files into IOB2 sentences", () => {
  const s = parseConll(CONLL, "eng.train");
  assert.equal(s.length, 2);
  assert.deepEqual(s[0], {
    words: ["EU", "rejects", "German", "call"],
    labels: { ner: ["B-ORG", "O", "B-MISC", "O"] },
  });
  assert.deepEqual(s[1]!.labels.ner, ["B-PER", "I-PER", "O", "B-LOC", "B-LOC"]);
});

Deno.test("parseConll() reads 2-column files and a chosen tag column", () => {
  assert.deepEqual(parseConll("Paris B-LOC\nis O\n", "two.txt")[0]!.labels.ner, ["B-LOC", "O"]);
  const chunks = parseConll(CONLL, "eng.train", { task: "chunk", tagColumn: 2 });
  assert.deepEqual(chunks[0]!.labels.chunk, ["B-NP", "B-VP", "B-NP", "I-NP"]);
  // POS tags are not chunk tags: kept as they are (scheme "auto" sees that).
  const pos = parseConll(CONLL, "eng.train", { task: "pos", tagColumn: 1 });
  assert.deepEqual(pos[1]!.labels.pos, ["NNP", "NNP", "IN", "NNP", "NNP"]);
});

Deno.test("parseConll() keeps IOB2 tags when told the file is IOB2", () => {
  const s = parseConll("a I-PER\nb I-PER\n", "x.txt", { scheme: "iob2" });
  assert.deepEqual(s[0]!.labels.ner, ["I-PER", "I-PER"]);
});

Deno.test("parseConll() names the file and line of a bad record", () => {
  assert.throws(
    () => parseConll("EU B-ORG\nrejects\n", "bad.txt"),
    (e: Error) =>
      e instanceof DataError && /bad.txt: line 2: expected at least 2 columns/.test(e.message),
  );
  assert.throws(
    () => parseConll("EU NNP I-NP X-ORG\n", "bad.txt", { scheme: "iob1" }),
    /bad.txt: line 1, field "tag": malformed tag "X-ORG"/,
  );
  assert.throws(
    () => parseConll("\nEU B-CITY\n", "bad.txt", { tags: ["O", "B-LOC"] }),
    /bad.txt: line 2, field "tag": unknown tag "B-CITY"/,
  );
});

Deno.test("parseLabelledSentences() reads SST-2's `label sentence` lines", () => {
  const s = parseLabelledSentences("1 a gorgeous film\n0 dull , dull , dull\n", "sst2.txt", {
    labelMap: { "0": "negative", "1": "positive" },
  });
  assert.deepEqual(s.map((x) => x.labels.sentiment), ["positive", "negative"]);
  assert.deepEqual(s[1]!.words, ["dull", ",", "dull", ",", "dull"]);
  assert.deepEqual(Object.keys(s[0]!.labels), ["sentiment"]);
});

Deno.test("parseLabelledSentences() reads TSV and JSON lines", () => {
  const tsv = parseLabelledSentences("pos\tgreat movie\nneg\tbad\n", "x.tsv");
  assert.deepEqual(tsv.map((x) => [x.labels.sentiment, x.words.length]), [["pos", 2], ["neg", 1]]);
  const jsonl = parseLabelledSentences('{"label": 1, "text": "fine film"}\n', "x.jsonl", {
    labelMap: { "1": "positive" },
  });
  assert.deepEqual(jsonl, [{ words: ["fine", "film"], labels: { sentiment: "positive" } }]);
});

Deno.test("parseLabelledSentences() names the line and field of bad input", () => {
  assert.throws(
    () => parseLabelledSentences("1 ok\n7 what\n", "sst2.txt", { labelMap: { "1": "positive" } }),
    /sst2.txt: line 2, field "label": unknown label "7"/,
  );
  assert.throws(() => parseLabelledSentences('{"label": 1}\n', "x.jsonl"), /line 1, field "text"/);
  assert.throws(() => parseLabelledSentences("{oops\n", "x.jsonl"), /line 1: malformed JSON/);
  assert.throws(() => parseLabelledSentences("1 \n", "x.txt"), /line 1, field "text": empty text/);
});

const CORPORA = new URL("../data/corpora/", import.meta.url).pathname;
const haveCorpora = (() => {
  try {
    Deno.statSync(`${CORPORA}conll2003/dev.txt`);
    Deno.statSync(`${CORPORA}sst2/train_phrases.tsv`);
    return true;
  } catch {
    return false;
  }
})();

Deno.test({
  name: "the CoNLL-2003 and SST-2 files load with their published sizes (after deno task data)",
  ignore: !haveCorpora,
  fn: async () => {
    const dev = parseConll(await readText(`${CORPORA}conll2003/dev.txt`), "dev.txt");
    assert.equal(dev.length, 3250);
    assert.equal(dev.reduce((n, s) => n + s.words.length, 0), 51362);
    const labelMap = { "0": "negative", "1": "positive" };
    const sst = parseLabelledSentences(await readText(`${CORPORA}sst2/dev.txt`), "dev.txt", {
      labelMap,
    });
    assert.equal(sst.length, 872);
    assert.equal(sst.filter((s) => s.labels.sentiment === "positive").length, 444);
    const phrases = parseLabelledSentences(
      await readText(`${CORPORA}sst2/train_phrases.tsv`),
      "train_phrases.tsv",
      { labelMap },
    );
    assert.equal(phrases.length, 67349);
    assert.equal(phrases.filter((s) => s.labels.sentiment === "positive").length, 37569);
  },
});

Deno.test("parseLabelledSentences() reads the SST-2 phrase file as it is: header line, CRLF, tab", () => {
  const text = "label\tsentence\r\n0\thide new secretions \r\n1\tthat loves its characters\r\n";
  const s = parseLabelledSentences(text, "train_phrases.tsv", {
    labelMap: { "0": "negative", "1": "positive" },
  });
  assert.deepEqual(s, [
    { words: ["hide", "new", "secretions"], labels: { sentiment: "negative" } },
    { words: ["that", "loves", "its", "characters"], labels: { sentiment: "positive" } },
  ]);
});

Deno.test("parseLabelledSentences() takes the label column from a sentence<TAB>label header", () => {
  const s = parseLabelledSentences(
    "\uFEFFsentence\tlabel\nit 's a charming journey \t1\n",
    "glue.tsv",
  );
  assert.deepEqual(s, [{
    words: ["it", "'s", "a", "charming", "journey"],
    labels: { sentiment: "1" },
  }]);
  assert.throws(
    () => parseLabelledSentences("sentence\tlabel\nno label here\n", "glue.tsv"),
    /glue.tsv: line 2: expected sentence<TAB>label/,
  );
  // Without a header, the first line is data (and a bad label is reported on it).
  assert.throws(
    () =>
      parseLabelledSentences("label\tsentence\n0\tok\n", "x.tsv", {
        header: false,
        labelMap: { "0": "n" },
      }),
    /x.tsv: line 1, field "label": unknown label "label"/,
  );
});
