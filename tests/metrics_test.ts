import assert from "node:assert/strict";
import {
  classificationScores,
  entityScores,
  parseConllevalInput,
  prf,
  unknownWordRecall,
} from "../lib/evaluation/mod.ts";

Deno.test("entityScores() counts a predicted entity correct only on exact span and type", () => {
  const gold = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O", "B-ORG"]];
  const pred = [["B-PER", "O", "O", "B-LOC", "I-LOC", "O", "B-MISC"]];
  const s = entityScores(gold, pred);
  // gold: PER[0,2) LOC[3,5) ORG[6,7); predicted: PER[0,1) LOC[3,5) MISC[6,7): 1 correct.
  assert.deepEqual([s.correct, s.predicted, s.gold], [1, 3, 3]);
  assert.equal(s.precision, 1 / 3);
  assert.equal(s.recall, 1 / 3);
  assert.equal(s.tokenAccuracy, 5 / 7);
  assert.deepEqual(Object.keys(s.byType), ["LOC", "MISC", "ORG", "PER"]);
  assert.deepEqual(s.byType.LOC, prf(1, 1, 1));
  assert.deepEqual(s.byType.MISC, prf(0, 1, 0));
  assert.deepEqual(s.byType.PER, prf(0, 1, 1));
});

Deno.test("entityScores() reads IOB1 gold and IOB2 predictions alike", () => {
  // IOB1: I- starts an entity after O; B- only between adjacent same-type entities.
  const gold = [["I-ORG", "I-ORG", "O", "I-PER", "B-PER"]];
  const pred = [["B-ORG", "I-ORG", "O", "B-PER", "B-PER"]];
  const s = entityScores(gold, pred);
  assert.deepEqual([s.correct, s.predicted, s.gold], [3, 3, 3]);
  assert.equal(s.f1, 1);
  assert.equal(s.tokenAccuracy, 3 / 5); // tags differ as strings, entities agree
});

Deno.test("entityScores() decodes ill-formed sequences as conlleval does", () => {
  // I-LOC after B-PER starts a new LOC entity; I-PER after O starts a PER entity.
  const s = entityScores([["B-PER", "I-LOC", "O", "I-PER"]], [["B-PER", "B-LOC", "O", "B-PER"]]);
  assert.deepEqual([s.correct, s.predicted, s.gold], [3, 3, 3]);
  // An E- tag closes a chunk when another E- or I- follows.
  const e = entityScores([["I-PER", "E-PER", "I-PER"]], [["B-PER", "I-PER", "B-PER"]]);
  assert.deepEqual([e.correct, e.gold], [2, 2]);
});

Deno.test("entityScores() gives zero scores, not NaN, when nothing is found", () => {
  const s = entityScores([["B-PER", "O"]], [["O", "O"]]);
  assert.deepEqual([s.precision, s.recall, s.f1], [0, 0, 0]);
  assert.throws(() => entityScores([["O"]], [["O", "O"]]), /sentence 0 has 1 gold tags but 2/);
});

Deno.test("parseConllevalInput() treats -DOCSTART- as a token and -X- lines as boundaries", () => {
  const text = "-DOCSTART- -X- O O\n\nEU NNP I-ORG I-ORG\n-X- -X- O O\nPeter NNP I-PER B-PER\n";
  const { gold, predicted } = parseConllevalInput(text, "out.txt");
  assert.deepEqual(gold, [["O"], ["I-ORG"], ["I-PER"]]);
  assert.deepEqual(predicted, [["O"], ["I-ORG"], ["B-PER"]]);
  assert.throws(
    () => parseConllevalInput("EU I-ORG\n", "out.txt"),
    /out.txt: line 1: expected at least 3 columns/,
  );
});

Deno.test("classificationScores() gives accuracy, macro-F1 and the confusion matrix", () => {
  const gold = ["neg", "neg", "neg", "pos", "pos", "neu"];
  const pred = ["neg", "pos", "neg", "pos", "neg", "neu"];
  const s = classificationScores(gold, pred, ["neg", "neu", "pos"]);
  assert.equal(s.accuracy, 4 / 6);
  assert.deepEqual(s.confusion, [[2, 0, 1], [0, 1, 0], [1, 0, 1]]);
  assert.deepEqual(s.byLabel.neg, prf(2, 3, 3));
  assert.equal(s.macroF1, (2 / 3 + 1 + 0.5) / 3);
  assert.throws(() => classificationScores(["x"], ["neg"], ["neg"]), /"x" is not a label/);
});

Deno.test("unknownWordRecall() splits gold entities by out-of-vocabulary words, IOB1 gold included", () => {
  const gold = [["I-PER", "I-PER", "O", "I-LOC"], ["B-ORG", "O", "B-MISC", "I-MISC"]];
  const predicted = [["B-PER", "I-PER", "O", "B-ORG"], ["B-ORG", "O", "B-MISC", "O"]];
  const unknown = [[false, true, false, false], [false, false, true, false]];
  // unknown-word entities: PER "w0 w1" (found), MISC "w2 w3" (missed); known: LOC (missed), ORG (found)
  const r = unknownWordRecall(gold, predicted, unknown);
  assert.deepEqual(r.unknown, { gold: 2, found: 1, recall: 0.5 });
  assert.deepEqual(r.known, { gold: 2, found: 1, recall: 0.5 });
  assert.throws(
    () => unknownWordRecall(gold, predicted, [[false]]),
    /2 gold, 2 predicted and 1 unknown-word sequences/,
  );
});
