import assert from "node:assert/strict";
import { DEFAULT_NER_TAGS, iob1ToIob2, isTag, spansToTags, tagsToSpans } from "../lib/data/mod.ts";

Deno.test("tagsToSpans() decodes well-formed IOB2", () => {
  assert.deepEqual(tagsToSpans(["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC"]), [
    { type: "PER", start: 0, end: 2 },
    { type: "LOC", start: 3, end: 4 },
    { type: "LOC", start: 4, end: 6 },
  ]);
});

Deno.test("tagsToSpans() starts an entity at an I- tag after O, as conlleval does", () => {
  assert.deepEqual(tagsToSpans(["O", "I-ORG", "I-ORG"]), [{ type: "ORG", start: 1, end: 3 }]);
});

Deno.test("tagsToSpans() splits at a change of type inside I- tags", () => {
  assert.deepEqual(tagsToSpans(["B-PER", "I-LOC", "I-LOC", "O"]), [
    { type: "PER", start: 0, end: 1 },
    { type: "LOC", start: 1, end: 3 },
  ]);
});

Deno.test("tagsToSpans() closes an entity at the end of the sentence", () => {
  assert.deepEqual(tagsToSpans(["O", "B-MISC"]), [{ type: "MISC", start: 1, end: 2 }]);
  assert.deepEqual(tagsToSpans([]), []);
});

Deno.test("iob1ToIob2() turns entity-initial I- tags into B- tags", () => {
  assert.deepEqual(
    iob1ToIob2(["I-ORG", "O", "I-MISC", "I-MISC", "B-MISC", "I-PER", "I-LOC"]),
    ["B-ORG", "O", "B-MISC", "I-MISC", "B-MISC", "B-PER", "B-LOC"],
  );
});

Deno.test("iob1ToIob2() leaves IOB2 unchanged", () => {
  const tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC"];
  assert.deepEqual(iob1ToIob2(tags), tags);
});

Deno.test("spansToTags() inverts tagsToSpans() on IOB2", () => {
  const tags = ["B-PER", "I-PER", "O", "B-LOC", "B-LOC", "I-LOC", "O"];
  assert.deepEqual(spansToTags(tagsToSpans(tags), tags.length), tags);
});

Deno.test("DEFAULT_NER_TAGS is IOB2 over the four CoNLL types with O first", () => {
  assert.equal(DEFAULT_NER_TAGS.length, 9);
  assert.equal(DEFAULT_NER_TAGS[0], "O");
  assert.ok(DEFAULT_NER_TAGS.every(isTag));
  assert.ok(!isTag("X-PER") && !isTag("B-"));
});
