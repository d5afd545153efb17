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
    const at = firstInvalidUtf8(bytes);
    let line = 1;
    for (let i = 0; i < at; i++) if (bytes[i] === 0x0a) line++;
    throw new DataError(
      `not UTF-8 text: byte 0x${
        bytes[at]?.toString(16).padStart(2, "0")
      } at offset ${at} is invalid; convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8)`,
      { file, line },
    );
  }
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
