import assert from "node:assert/strict";
import {
  CaseFeature,
  caseFeature,
  CLS_ID,
  PAD_ID,
  splitWords,
  UNK_ID,
  wordShape,
  WordTokenizer,
} from "../lib/data/mod.ts";

const CONFIG = { lowercase: true, minFrequency: 1, maxVocabSize: 100, affixBuckets: 0 };

Deno.test("WordTokenizer.fit() orders words by frequency, then first appearance", () => {
  const tok = WordTokenizer.fit([["b", "a", "c"], ["a", "c"], ["c"]], CONFIG);
  assert.deepEqual(tok.vocab.slice(4), ["c", "a", "b"]);
  assert.equal(tok.vocab[PAD_ID], "[PAD]");
  assert.equal(tok.vocab[CLS_ID], "[CLS]");
});

Deno.test("WordTokenizer.fit() drops rare words and caps the vocabulary", () => {
  const sentences = [["x", "y", "y", "z", "z", "z"]];
  assert.deepEqual(
    WordTokenizer.fit(sentences, { ...CONFIG, minFrequency: 2 }).vocab.slice(4),
    ["z", "y"],
  );
  assert.deepEqual(WordTokenizer.fit(sentences, { ...CONFIG, maxVocabSize: 5 }).vocab.slice(4), [
    "z",
  ]);
});

Deno.test("WordTokenizer maps unknown words to [UNK] and respects lowercase", () => {
  const lower = WordTokenizer.fit([["Paris"]], CONFIG);
  assert.equal(lower.tokenId("PARIS"), lower.tokenId("Paris"));
  assert.equal(lower.tokenId("Rome"), UNK_ID);
  const cased = WordTokenizer.fit([["Paris"]], { ...CONFIG, lowercase: false });
  assert.equal(cased.tokenId("paris"), UNK_ID);
  assert.notEqual(cased.tokenId("Paris"), UNK_ID);
});

Deno.test("WordTokenizer survives a JSON round trip", () => {
  const tok = WordTokenizer.fit([["a", "B", "a"]], { ...CONFIG, lowercase: false });
  const back = WordTokenizer.fromJSON(JSON.parse(JSON.stringify(tok)));
  assert.deepEqual(back.vocab, tok.vocab);
  assert.equal(back.lowercase, false);
  assert.throws(
    () => WordTokenizer.fromJSON({ type: "bpe" }),
    /field "type": Invalid input: expected "word" \(got "bpe"\)/,
  );
});

Deno.test("caseFeature() classifies letter case", () => {
  assert.equal(caseFeature("paris"), CaseFeature.LOWER);
  assert.equal(caseFeature("Paris"), CaseFeature.TITLE);
  assert.equal(caseFeature("A"), CaseFeature.TITLE);
  assert.equal(caseFeature("NATO"), CaseFeature.UPPER);
  assert.equal(caseFeature("McDonald"), CaseFeature.MIXED);
  assert.equal(caseFeature("B2B"), CaseFeature.DIGIT);
  assert.equal(caseFeature(","), CaseFeature.OTHER);
  assert.equal(caseFeature("Élise"), CaseFeature.TITLE);
});

Deno.test("splitWords() separates punctuation but keeps contractions and abbreviations", () => {
  assert.deepEqual(splitWords("Hello, world!"), ["Hello", ",", "world", "!"]);
  assert.deepEqual(splitWords("It's 3.5% in the U.K."), ["It's", "3.5", "%", "in", "the", "U.K."]);
  assert.deepEqual(splitWords("  "), []);
});

Deno.test("affixIds() hashes the first and last three letters into separate ranges", () => {
  const tok = WordTokenizer.fit([["x"]], { ...CONFIG, affixBuckets: 64 });
  const [p, s] = tok.affixIds("Washington") as [number, number];
  assert.ok(p >= 1 && p < 64, `prefix ${p}`);
  assert.ok(s >= 65 && s < 128, `suffix ${s}`);
  assert.deepEqual(tok.affixIds("WASHINGTON"), [p, s]);
  assert.equal(tok.affixIds("Wilmington")[1], s); // same suffix "ton"
  assert.equal(tok.affixIds("Washburn")[0], p); // same prefix "was"
  assert.equal(WordTokenizer.fromJSON(JSON.parse(JSON.stringify(tok))).affixBuckets, 64);
});

Deno.test("affixIds() with several lengths and a shape: one prefix and suffix per length, then the shape", () => {
  const config = { ...CONFIG, affixBuckets: 1000, affixLengths: [1, 4], shapeFeature: true };
  const tok = WordTokenizer.fit([["x"]], config);
  assert.equal(tok.affixCount, 5);
  const [p1, s1, p4, s4, shape] = tok.affixIds("Paris") as number[];
  const three = WordTokenizer.fit([["x"]], { ...CONFIG, affixBuckets: 1000 });
  // Each feature hashes its own string, so it agrees with words sharing that part only.
  assert.equal(tok.affixIds("Pxxxx")[0], p1);
  assert.equal(tok.affixIds("Oaris")[1], s1);
  assert.equal(tok.affixIds("Parisian")[2], p4);
  assert.equal(tok.affixIds("Amaris")[3], s4);
  assert.equal(tok.affixIds("Berne")[4], shape); // both "Xxxxx"
  assert.notEqual(tok.affixIds("BERNE")[4], shape);
  for (const id of [p1, p4]) assert.ok(id! >= 1 && id! < 1000);
  for (const id of [s1, s4, shape]) assert.ok(id! >= 1001 && id! < 2000);
  // Affixes longer than the word are 0; length 3 keeps the two-feature behaviour.
  assert.deepEqual(tok.affixIds("Rio").slice(2, 4), [0, 0]);
  assert.deepEqual(three.affixIds("Rio").length, 2);
  const back = WordTokenizer.fromJSON(JSON.parse(JSON.stringify(tok)));
  assert.deepEqual(back.affixIds("Paris"), tok.affixIds("Paris"));
  assert.equal(JSON.stringify(three).includes("affixLengths"), false);
});

Deno.test("wordShape() maps letters and digits to X, x, d and cuts runs at four", () => {
  assert.equal(wordShape("Schwarzenegger"), "Xxxxx");
  assert.equal(wordShape("NASA"), "XXXX");
  assert.equal(wordShape("NATO-led"), "XXXX-xxx");
  assert.equal(wordShape("3:1"), "d:d");
  assert.equal(wordShape("Zürich"), "Xxxxx");
  assert.equal(wordShape(""), "");
});
