/**
 * Text files as the readers see them: UTF-8 only (anything else is refused
 * with the byte offset of the first bad byte), a byte-order mark dropped.
 * @module
 */
import { DataError } from "../core/errors.ts";

/**
 * Reads a file as UTF-8 text (a byte-order mark is dropped), turning I/O
 * failures and invalid UTF-8 into a {@linkcode DataError}.
 */
export async function readText(path: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new DataError(`cannot read the file (${(error as Error).message})`, { file: path });
  }
  return decodeText(bytes, path);
}

/**
 * Decodes UTF-8 text and drops a leading byte-order mark.
 * @throws {DataError} naming the file, line and byte offset of the first byte that is not UTF-8
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeText } from "./text.ts";
 * assert.equal(decodeText(Uint8Array.from([0xef, 0xbb, 0xbf, 0x68, 0x69]), "a.txt"), "hi");
 * assert.throws(() => decodeText(Uint8Array.from([0x61, 0x0a, 0x63, 0x61, 0x66, 0xe9]), "b.txt"),
 *   /b.txt: line 2: not UTF-8 text: byte 0xe9 at offset 5/);
 * ```
 */
export function decodeText(bytes: Uint8Array, file: string): string {
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw notUtf8(bytes, file, 1, 0);
  }
}

/**
 * The lines of a byte stream as UTF-8 text, one at a time, so a file of any
 * size is read in bounded memory: split at LF (a CR before it dropped), a
 * leading byte-order mark dropped; a final newline adds no line.
 * @throws {DataError} naming the file, line and byte offset of the first byte that is not UTF-8
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readLines } from "./text.ts";
 * const stream = ReadableStream.from([Uint8Array.from([0xef, 0xbb, 0xbf, 0x61, 0x0d, 0x0a]),
 *   new TextEncoder().encode("\nc")]);
 * assert.deepEqual(await Array.fromAsync(readLines(stream, "a.txt")), ["a", "", "c"]);
 * ```
 */
export async function* readLines(
  stream: ReadableStream<Uint8Array>,
  file: string,
): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8", { fatal: true });
  let pending: Uint8Array[] = [];
  let line = 0, offset = 0;
  const decodeLine = (): string => {
    const bytes = pending.length === 1 ? pending[0]! : concat(pending);
    pending = [];
    line++;
    let text: string;
    try {
      text = decoder.decode(bytes);
    } catch {
      throw notUtf8(bytes, file, line, offset);
    }
    offset += bytes.length + 1;
    if (line === 1 && text.startsWith("\uFEFF")) text = text.slice(1);
    return text.endsWith("\r") ? text.slice(0, -1) : text;
  };
  for await (const chunk of stream) {
    let start = 0;
    for (let at = chunk.indexOf(0x0a); at !== -1; at = chunk.indexOf(0x0a, start)) {
      pending.push(chunk.subarray(start, at));
      yield decodeLine();
      start = at + 1;
    }
    // A copy: a stream may reuse its chunk's buffer.
    if (start < chunk.length) pending.push(chunk.slice(start));
  }
  if (pending.length > 0) yield decodeLine();
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The error for bytes that are not UTF-8: their file, line and byte offset. */
function notUtf8(bytes: Uint8Array, file: string, firstLine: number, offset: number): DataError {
  const at = firstInvalidUtf8(bytes);
  let line = firstLine;
  for (let i = 0; i < at; i++) if (bytes[i] === 0x0a) line++;
  return new DataError(
    `not UTF-8 text: byte 0x${bytes[at]?.toString(16).padStart(2, "0")} at offset ${
      offset + at
    } is invalid; convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)`,
    { file, line },
  );
}

/** Offset of the first byte that does not continue a valid UTF-8 sequence. */
function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const b = bytes[i]!;
    const length = b < 0x80
      ? 1
      : b >= 0xc2 && b < 0xe0
      ? 2
      : b >= 0xe0 && b < 0xf0
      ? 3
      : b >= 0xf0 && b < 0xf5
      ? 4
      : 0;
    if (length === 0) return i;
    for (let k = 1; k < length; k++) {
      const c = bytes[i + k];
      if (c === undefined || (c & 0xc0) !== 0x80) return i;
    }
    i += length;
  }
  return bytes.length;
}
