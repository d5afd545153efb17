/**
 * Errors raised at the boundaries (data files, model directories), in one voice:
 * sentence case, the action, then details after a colon.
 * @module
 */

/** Where in a file a problem was found. */
export interface DataErrorLocation {
  /** Path of the file. */
  readonly file: string;
  /** 0-based record index (JSON) or 1-based line number (text), when known. */
  readonly record?: number;
  /** Line number, for line-oriented formats. */
  readonly line?: number;
  /** Field of the record, when known. */
  readonly field?: string;
}

/**
 * Bad input data; the message names the file, record or line, and field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DataError } from "./errors.ts";
 * const error = new DataError("tag count differs from word count", {
 *   file: "a.json", record: 3, field: "tags",
 * });
 * assert.equal(error.message, 'Cannot load a.json: record 3, field "tags": tag count differs from word count');
 * ```
 */
export class DataError extends Error {
  override name = "DataError";
  readonly location: DataErrorLocation;
  constructor(detail: string, location: DataErrorLocation) {
    const where = [
      location.record !== undefined ? `record ${location.record}` : undefined,
      location.line !== undefined ? `line ${location.line}` : undefined,
      location.field !== undefined ? `field "${location.field}"` : undefined,
    ].filter((s) => s !== undefined).join(", ");
    super(`Cannot load ${location.file}: ${where === "" ? "" : `${where}: `}${detail}`);
    this.location = location;
  }
}

/** A model directory that cannot be loaded (missing file, other format version, ...). */
export class CheckpointError extends Error {
  override name = "CheckpointError";
}

/**
 * Training that cannot go on: a non-finite loss or gradient norm (divergence),
 * or nothing to train on. The message names the epoch and step and the likely cause.
 */
export class TrainingError extends Error {
  override name = "TrainingError";
}
