import assert from "node:assert/strict";
import { DataError } from "../lib/core/mod.ts";
import { loadSentences, parseSentences } from "../lib/data/mod.ts";

const good = {
  text: "Tim Cook visited Paris .",
  tags: ["B-PER", "I-PER", "O", "B-LOC", "O"],
  sentiment: "positive",
};
const parse = (records: unknown) => parseSentences(JSON.stringify(records), "data.json");

function assertDataError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: Error) => {
    assert.ok(e instanceof DataError, `expected DataError, got ${e.name}`);
    assert.match(e.message, /^Cannot load data\.json: /);
    assert.match(e.message, pattern);
    return true;
  });
}

Deno.test("parseSentences() reads records and splits text into words", () => {
  const [s] = parse({ sentences: [good] });
  assert.deepEqual(s!.words, ["Tim", "Cook", "visited", "Paris", "."]);
  assert.deepEqual(s!.labels, { ner: good.tags, sentiment: "positive" });
  assert.equal(parse([good]).length, 1);
});

Deno.test("parseSentences() reports malformed JSON with the file name", () => {
  assertDataError(() => parseSentences("{not json", "data.json"), /malformed JSON/);
  assertDataError(() => parse({ records: [] }), /expected an array of records/);
});

Deno.test("parseSentences() names the record and field of a missing field", () => {
  const { sentiment: _, ...noSentiment } = good;
  assertDataError(() => parse([good, noSentiment]), /record 1, field "sentiment": missing/);
});

Deno.test("parseSentences() rejects a tag count that differs from the word count", () => {
  assertDataError(
    () => parse([{ ...good, tags: ["O"] }]),
    /record 0, field "tags": 1 tags for 5 words/,
  );
});

Deno.test("parseSentences() rejects unknown tags and sentiments", () => {
  assertDataError(
    () => parse([{ ...good, tags: ["B-PER", "I-PER", "O", "B-CITY", "O"] }]),
    /field "tags": unknown tag "B-CITY" at word 3 \("Paris"\)/,
  );
  assertDataError(
    () => parse([{ ...good, sentiment: "happy" }]),
    /field "sentiment": unknown sentiment "happy"/,
  );
});

Deno.test("parseSentences() rejects empty and non-string text", () => {
  assertDataError(() => parse([{ ...good, text: "   ", tags: [] }]), /field "text": empty text/);
  assertDataError(
    () => parse([{ ...good, text: 42 }]),
    /field "text": Invalid input: expected string, received number/,
  );
  assertDataError(() => parse(["just a string"]), /record 0: expected an object/);
});

Deno.test("parseSentences() truncates long sentences with tags aligned and warns", () => {
  const warnings: string[] = [];
  const [s] = parseSentences(JSON.stringify([good]), "data.json", {
    maxLength: 3,
    onWarning: (w) => warnings.push(w),
  });
  assert.deepEqual(s!.words, ["Tim", "Cook", "visited"]);
  assert.deepEqual(s!.labels.ner, ["B-PER", "I-PER", "O"]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /1 sentence\(s\) longer than 3 words were truncated/);
});

Deno.test("loadSentences() reports an unreadable file", async () => {
  await assert.rejects(
    loadSentences("no/such/file.json"),
    /Cannot load no\/such\/file.json: cannot read/,
  );
});

Deno.test("the bundled sample data has at least 150 valid sentences of every class", async () => {
  const sentences = await loadSentences("data/sample_sentences.json");
  assert.ok(sentences.length >= 150);
  for (const label of ["negative", "neutral", "positive"]) {
    assert.ok(sentences.filter((s) => s.labels.sentiment === label).length >= 40, label);
  }
  const tags = new Set(sentences.flatMap((s) => s.labels.ner as string[]));
  for (const type of ["PER", "ORG", "LOC", "MISC"]) assert.ok(tags.has(`B-${type}`), type);
});
