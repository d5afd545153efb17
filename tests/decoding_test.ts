import assert from "node:assert/strict";
import { mulberry32 } from "../lib/core/mod.ts";
import { padBatch, tagTransitions, wordDropout } from "../lib/data/mod.ts";
import { argmaxTags, iob2Allows, viterbiTags } from "../lib/inference/mod.ts";

const TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"];

/** Best well-formed sequence by enumerating every sequence. */
function bruteForce(
  probs: number[],
  words: number,
  trans?: {
    scores: readonly number[];
    start: readonly number[];
    prior?: readonly number[];
    priorWeight?: number;
  },
): number[] {
  const n = TAGS.length;
  let best: number[] = [], bestScore = -Infinity;
  for (let code = 0; code < n ** words; code++) {
    const seq: number[] = [];
    for (let w = 0, c = code; w < words; w++, c = Math.floor(c / n)) seq.push(c % n);
    let score = 0, ok = true;
    seq.forEach((t, w) => {
      if (!iob2Allows(w === 0 ? null : TAGS[seq[w - 1]!]!, TAGS[t]!)) ok = false;
      score += Math.log(probs[w * n + t]!) - (trans?.priorWeight ?? 0) * (trans?.prior?.[t] ?? 0);
      if (trans !== undefined) {
        score += w === 0 ? trans.start[t]! : trans.scores[seq[w - 1]! * n + t]!;
      }
    });
    if (ok && score > bestScore) [best, bestScore] = [seq, score];
  }
  return best;
}

function randomProbs(random: () => number, words: number): number[] {
  const out: number[] = [];
  for (let w = 0; w < words; w++) {
    const row = TAGS.map(() => random() ** 3 + 1e-3);
    const sum = row.reduce((a, b) => a + b, 0);
    out.push(...row.map((x) => x / sum));
  }
  return out;
}

Deno.test("viterbiTags() finds the best well-formed IOB2 sequence (checked by enumeration)", () => {
  const random = mulberry32(3);
  for (let trial = 0; trial < 200; trial++) {
    const words = 1 + (trial % 4);
    const probs = randomProbs(random, words);
    assert.deepEqual(viterbiTags(probs, words, TAGS), bruteForce(probs, words), `trial ${trial}`);
  }
});

Deno.test("viterbiTags() with transition scores maximises emissions plus transitions", () => {
  const random = mulberry32(4);
  const trans = {
    scores: TAGS.flatMap(() => TAGS.map(() => Math.log(random() + 0.01))),
    start: TAGS.map(() => Math.log(random() + 0.01)),
  };
  for (let trial = 0; trial < 200; trial++) {
    const words = 1 + (trial % 4);
    const probs = randomProbs(random, words);
    assert.deepEqual(viterbiTags(probs, words, TAGS, trans), bruteForce(probs, words, trans));
  }
});

Deno.test("viterbiTags() with a tag prior maximises emissions / prior^λ plus transitions", () => {
  const random = mulberry32(9);
  for (let trial = 0; trial < 200; trial++) {
    const trans = {
      scores: TAGS.flatMap(() => TAGS.map(() => Math.log(random() + 0.01))),
      start: TAGS.map(() => Math.log(random() + 0.01)),
      prior: TAGS.map(() => Math.log(random() + 0.01)),
      priorWeight: [0, 0.5, 1][trial % 3]!,
    };
    const words = 1 + (trial % 4);
    const probs = randomProbs(random, words);
    assert.deepEqual(viterbiTags(probs, words, TAGS, trans), bruteForce(probs, words, trans));
  }
  // A rare tag wins once the prior is divided out: O has prior 0.9, B-PER 0.01.
  const prior = [0.9, 0.01, 0.03, 0.03, 0.03].map(Math.log);
  const flat = { scores: new Array(25).fill(0), start: new Array(5).fill(0), prior };
  const probs = [0.6, 0.3, 0.04, 0.03, 0.03];
  assert.deepEqual(viterbiTags(probs, 1, TAGS, { ...flat, priorWeight: 0 }), [0]);
  assert.deepEqual(viterbiTags(probs, 1, TAGS, { ...flat, priorWeight: 1 }), [1]);
});

Deno.test("viterbiTags() equals argmax when the argmax sequence is well-formed", () => {
  const probs = [0.1, 0.7, 0.1, 0.05, 0.05, 0.1, 0.1, 0.6, 0.1, 0.1, 0.8, 0.05, 0.05, 0.05, 0.05];
  assert.deepEqual(argmaxTags(probs, 3, TAGS.length), [1, 2, 0]);
  assert.deepEqual(viterbiTags(probs, 3, TAGS), [1, 2, 0]);
  assert.deepEqual(viterbiTags([], 0, TAGS), []);
});

Deno.test("viterbiTags() never starts with I- or puts I-X after another type", () => {
  // argmax: I-LOC, then I-PER after it; best valid: B-PER I-PER (0.1 · 0.6 > 0.3 · 0.15)
  const probs = [0.05, 0.1, 0.05, 0.3, 0.5, 0.1, 0.1, 0.6, 0.15, 0.05];
  assert.deepEqual(argmaxTags(probs, 2, TAGS.length), [4, 2]);
  assert.deepEqual(viterbiTags(probs, 2, TAGS), [1, 2]);
});

Deno.test("tagTransitions() counts tag bigrams with add-one smoothing", () => {
  const t = tagTransitions([["B-PER", "I-PER", "O"], ["O", "O"]], ["O", "B-PER", "I-PER"]);
  // rows: previous O: O 1+1, B 1, I 1 (total 4); previous B-PER: I-PER 1+1 (total 4); previous I-PER: O 1+1
  const expected = [[2, 1, 1], [1, 1, 2], [2, 1, 1]].flatMap((row) =>
    row.map((c) => Math.log(c / 4))
  );
  t.scores.forEach((s, i) => assert.ok(Math.abs(s - expected[i]!) < 1e-12, `score ${i}`));
  // starts: B-PER once, O once → (2, 2, 1) / 5
  assert.deepEqual(t.start.map((x) => Math.round(Math.exp(x) * 5)), [2, 2, 1]);
  // tags: O 3, B-PER 1, I-PER 1, plus one each → (4, 2, 2) / 8
  assert.deepEqual(t.prior, [Math.log(4 / 8), Math.log(2 / 8), Math.log(2 / 8)]);
  assert.equal(t.priorWeight, 0.5);
  assert.equal(tagTransitions([], ["O"], 1, 0.25).priorWeight, 0.25);
  assert.throws(() => tagTransitions([["B-XYZ"]], ["O"]), /Unknown tag "B-XYZ"/);
});

function sentence(ids: number[]) {
  const n = ids.length;
  return {
    tokenIds: Int32Array.from(ids),
    caseIds: new Int32Array(n).fill(2),
    affixIds: new Int32Array(2 * n).fill(5),
    wordIds: new Int32Array(n),
    tokenLabels: { ner: new Int32Array(n).fill(1) },
    sentenceLabels: { sentiment: 1 },
    truncated: false,
  };
}

Deno.test("wordDropout() replaces word ids by [UNK] at the given rate, never special tokens", () => {
  const ids = [2, ...Array.from({ length: 4999 }, (_, i) => 4 + (i % 50))];
  const batch = padBatch([sentence(ids), sentence([2, 9, 10])]);
  assert.equal(wordDropout(batch, 0, 1), batch);
  const all = wordDropout(batch, 1, 1);
  assert.deepEqual([...all.tokenIds.slice(0, 3)], [2, 1, 1]);
  assert.equal(all.tokenIds[5000], 2); // [CLS] of the second sentence
  assert.equal(all.tokenIds[5003], 0); // padding stays [PAD]
  assert.deepEqual(all.caseIds, batch.caseIds);
  assert.deepEqual(all.affixIds, batch.affixIds);
  assert.deepEqual(all.tokenLabels, batch.tokenLabels);
  const some = wordDropout(batch, 0.1, 7);
  const replaced = some.tokenIds.filter((id, i) => id === 1 && batch.tokenIds[i] !== 1).length;
  assert.ok(replaced > 450 && replaced < 560, `${replaced} of 5001 replaced`);
  assert.deepEqual(wordDropout(batch, 0.1, 7).tokenIds, some.tokenIds);
  assert.notDeepEqual(wordDropout(batch, 0.1, 8).tokenIds, some.tokenIds);
  assert.equal(batch.tokenIds[1], 4); // the input is not modified
  assert.throws(() => wordDropout(batch, 1.5, 1), /Word dropout rate must be in \[0, 1\], got 1.5/);
});
