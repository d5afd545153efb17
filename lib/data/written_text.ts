/**
 * Tokenised words back as they were written, for the pretrained backbone.
 *
 * The corpora come split into words by Penn Treebank conventions: SST-2 writes
 * `does n't`, `moore 's`, `-lrb-`, `` `` `` and `''`; CoNLL-2003 and the word
 * splitter put every comma and full stop apart. The Universal Sentence Encoder
 * was trained on text as people write it, and its piece vocabulary shows it:
 * there is no `▁,` or `▁.`, so a comma after a space costs a lone `▁` piece and
 * reads as nothing the encoder has seen. These functions undo the conventions
 * word by word (the words stay, so every piece still belongs to one of them):
 * each word's written form, and whether a space came before it.
 * @module
 */

/** Bracket and quote escapes of the Penn Treebank, lower-cased, and what they stand for. */
const ESCAPES: ReadonlyMap<string, string> = new Map([
  ["-lrb-", "("],
  ["-rrb-", ")"],
  ["-lsb-", "["],
  ["-rsb-", "]"],
  ["-lcb-", "{"],
  ["-rcb-", "}"],
  ["``", '"'],
  ["''", '"'],
  ["`", "'"],
]);

/** Written forms that take no space before them. */
const CLOSERS = new Set([",", ".", "!", "?", ";", ":", "%", ")", "]", "}", "...", "'"]);
/** Written forms that take no space after them. */
const OPENERS = new Set(["(", "[", "{", "$", "#"]);
/** Clitics that the Treebank splits off the word before (`does n't`, `moore 's`). */
const CLITICS = new Set(["n't", "'s", "'re", "'ve", "'ll", "'d", "'m", "’s", "n’t"]);

/**
 * The written form of a word: a Treebank escape (`-lrb-`, `` `` ``, `''`, any
 * case) becomes the character it stands for; any other word is itself.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writtenForm } from "./written_text.ts";
 * assert.equal(writtenForm("-LRB-"), "(");
 * assert.equal(writtenForm("``"), '"');
 * assert.equal(writtenForm("Paris"), "Paris");
 * ```
 */
export function writtenForm(word: string): string {
  return ESCAPES.get(word.toLowerCase()) ?? word;
}

/**
 * Whether each word was written after a space. The first word never was;
 * punctuation that closes (`,` `.` `)` `%` …) and clitics (`n't`, `'s` …)
 * attach to the word before; what opens (`(` `$` an opening quote) attaches to
 * the word after. A plain `"` alternates: the first opens, the next closes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spacesBefore } from "./written_text.ts";
 * const words = ["it", "does", "n't", "-lrb-", "quite", "-rrb-", "work", ",", "``", "sadly", "''", "."];
 * // it doesn't (quite) work, "sadly".
 * assert.deepEqual(spacesBefore(words).map(Number), [0, 1, 0, 1, 0, 0, 1, 0, 1, 0, 0, 0]);
 * ```
 */
export function spacesBefore(words: readonly string[]): boolean[] {
  const spaces: boolean[] = [];
  let glueNext = true; // the first word has nothing before it
  let quoteOpen = false;
  for (const word of words) {
    const lower = word.toLowerCase();
    const form = writtenForm(word);
    let opens = OPENERS.has(form) || lower === "``" || lower === "`";
    let closes = CLOSERS.has(form) || CLITICS.has(lower) || lower === "''";
    if (word === '"') {
      opens = !quoteOpen;
      closes = quoteOpen;
    }
    if (lower === "``" || (word === '"' && opens)) quoteOpen = true;
    if (lower === "''" || (word === '"' && closes)) quoteOpen = false;
    spaces.push(!glueNext && !closes);
    glueNext = opens;
  }
  return spaces;
}
