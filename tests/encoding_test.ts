import assert from "node:assert/strict";
import {
  bucketBatches,
  CaseFeature,
  CLS_ID,
  encodeSentence,
  IGNORE_INDEX,
  padBatch,
  UNK_ID,
  WordTokenizer,
} from "../lib/data/mod.ts";
import { TASKS } from "./_helpers.ts";

const tok = WordTokenizer.fit([["Anna", "loves", "Rome"]], {
  lowercase: true,
  minFrequency: 1,
  maxVocabSize: 99,
  affixBuckets: 16,
});

Deno.test("encodeSentence() puts [CLS] first and aligns tags with words", () => {
  const e = encodeSentence(
    {
      words: ["Anna", "loves", "Oslo"],
      labels: { ner: ["B-PER", "O", "B-LOC"], sentiment: "positive" },
    },
    tok,
    TASKS,
    16,
  );
  assert.deepEqual([...e.tokenIds], [CLS_ID, tok.tokenId("anna"), tok.tokenId("loves"), UNK_ID]);
  assert.deepEqual([...e.caseIds], [
    CaseFeature.SPECIAL,
    CaseFeature.TITLE,
    CaseFeature.LOWER,
    CaseFeature.TITLE,
  ]);
  assert.deepEqual([...e.wordIds], [-1, 0, 1, 2]);
  assert.deepEqual([...e.tokenLabels.ner!], [IGNORE_INDEX, 1, 0, 3]);
  assert.deepEqual(e.sentenceLabels, { sentiment: 1 });
  assert.equal(e.truncated, false);
});

Deno.test("encodeSentence() truncates to maxLength keeping tags aligned", () => {
  const e = encodeSentence(
    { words: ["Anna", "loves", "Rome"], labels: { ner: ["B-PER", "O", "B-LOC"] } },
    tok,
    TASKS,
    3,
  );
  assert.equal(e.tokenIds.length, 3);
  assert.deepEqual([...e.tokenLabels.ner!], [IGNORE_INDEX, 1, 0]);
  assert.equal(e.truncated, true);
  assert.deepEqual(e.sentenceLabels, {}, "not labelled for sentiment: left out");
});

Deno.test("encodeSentence() rejects labels outside the label maps", () => {
  assert.throws(
    () => encodeSentence({ words: ["x"], labels: { ner: ["B-ORG"] } }, tok, TASKS, 8),
    /Cannot encode the ner label "B-ORG": not one of O, B-PER/,
  );
});

Deno.test("padBatch() pads to the longest sentence with a 0/1 mask", () => {
  const a = encodeSentence(
    { words: ["Anna", "loves"], labels: { sentiment: "negative" } },
    tok,
    TASKS,
    8,
  );
  const b = encodeSentence({ words: ["Rome"], labels: { ner: ["B-LOC"] } }, tok, TASKS, 8);
  const p = padBatch([a, b]);
  assert.equal(p.seqLen, 3);
  assert.deepEqual([...p.mask], [1, 1, 1, 1, 1, 0]);
  assert.deepEqual([...p.tokenIds].slice(3), [CLS_ID, tok.tokenId("rome"), 0]);
  assert.deepEqual([...p.caseIds].slice(3), [
    CaseFeature.SPECIAL,
    CaseFeature.TITLE,
    CaseFeature.PAD,
  ]);
  assert.deepEqual([...p.tokenLabels.ner!], [-1, -1, -1, -1, 3, -1]);
  assert.deepEqual([...p.sentenceLabels.sentiment!], [0, IGNORE_INDEX]);
});

Deno.test("bucketBatches() groups similar lengths and keeps every index once", () => {
  const lengths = [5, 1, 4, 2, 3, 6];
  const batches = bucketBatches([0, 1, 2, 3, 4, 5], lengths, 2);
  assert.deepEqual(batches, [[1, 3], [4, 2], [0, 5]]);
  const chunked = bucketBatches([0, 1, 2, 3, 4, 5], lengths, 2, 1);
  assert.deepEqual(chunked, [[1, 0], [3, 2], [4, 5]]);
});
