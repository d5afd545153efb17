/**
 * Matrices of float32 rows written as they come, for embeddings of inputs of
 * any size: NumPy's `.npy` (version 1.0, `<f4`, C order; `numpy.load` reads
 * it) or raw little-endian float32 (`.f32`, row-major, no header). The row
 * count is written last, so rows stream to disk in bounded memory.
 * @module
 */

/** `npy`: NumPy's format; `f32`: raw little-endian float32 rows. */
export type MatrixFormat = "npy" | "f32";

/**
 * The `.npy` header of a float32 C-order array of `shape`, padded with spaces
 * to a multiple of 64 bytes and to at least `minLength` bytes (so a header
 * written first with a placeholder row count can be rewritten in place).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { npyHeader } from "./npy.ts";
 * const header = npyHeader([2, 3]);
 * assert.equal(header.length, 128); // as numpy writes it: data starts at byte 128
 * assert.equal(new TextDecoder().decode(header.subarray(10)).trimEnd(),
 *   "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }");
 * ```
 */
export function npyHeader(shape: readonly number[], minLength = 0): Uint8Array {
  const dims = shape.length === 1 ? `${shape[0]},` : shape.join(", ");
  const dict = `{'descr': '<f4', 'fortran_order': False, 'shape': (${dims}), }`;
  // magic (6) + version (2) + header length (2) + dict + spaces + "\n"
  const length = Math.max(minLength, Math.ceil((10 + dict.length + 1) / 64) * 64);
  if (length % 64 !== 0 || length - 10 > 0xffff) {
    throw new RangeError(`Cannot write an .npy header of ${length} bytes`);
  }
  const out = new Uint8Array(length);
  out.set([0x93, ...new TextEncoder().encode("NUMPY"), 1, 0]);
  new DataView(out.buffer).setUint16(8, length - 10, true);
  out.set(new TextEncoder().encode(dict.padEnd(length - 11, " ") + "\n"), 10);
  return out;
}

/** A matrix file being written: rows appended, then {@linkcode MatrixFile.close}d. */
export interface MatrixFile {
  readonly path: string;
  /** Rows written so far. */
  readonly rows: number;
  /** Appends rows of `columns` values each. */
  write(rows: readonly Float32Array[]): Promise<void>;
  /** Finishes the file (the header's row count) and puts it at its path. */
  close(): Promise<void>;
  /** Removes the partly written file. */
  abort(): Promise<void>;
}

/**
 * Starts a matrix file at `path` with rows of `columns` float32 values. The
 * rows go to a new temporary file beside it, which {@linkcode MatrixFile.close}
 * links to `path`: an existing file is never replaced, and a run that stops
 * half way leaves no half-written file at `path`. Its temporary file
 * (`PATH.partial-PID`) is locked while written; one a killed run left is
 * removed by the next run for the same path.
 * @throws {Deno.errors.AlreadyExists} when `path` exists
 */
export async function createMatrixFile(
  path: string,
  format: MatrixFormat,
  columns: number,
): Promise<MatrixFile> {
  await Deno.lstat(path).then(
    () => {
      throw new Deno.errors.AlreadyExists(`${path} exists; not replacing it`);
    },
    (error) => {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    },
  );
  await removeStalePartials(path);
  const partial = `${path}.partial-${Deno.pid}`;
  const file = await Deno.open(partial, { write: true, createNew: true });
  // Held while the file is written: a later run knows a partial file whose lock
  // it can take was left by a process that is gone.
  await file.lock(true);
  const headerLength = format === "npy" ? npyHeader([Number.MAX_SAFE_INTEGER, columns]).length : 0;
  let rows = 0;
  let open = true;
  const little = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  const writeAll = async (bytes: Uint8Array) => {
    try {
      for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
    } catch (error) {
      throw new Error(`Cannot write ${path}: ${(error as Error).message}`);
    }
  };
  const finish = () => {
    if (open) file.close();
    open = false;
  };
  try {
    if (headerLength > 0) await writeAll(new Uint8Array(headerLength));
  } catch (error) {
    finish();
    await Deno.remove(partial);
    throw error;
  }
  return {
    path,
    get rows() {
      return rows;
    },
    async write(batch) {
      const data = new Float32Array(batch.length * columns);
      batch.forEach((row, i) => {
        if (row.length !== columns) {
          throw new RangeError(
            `Cannot write a row of ${row.length} values to ${path} (${columns} columns)`,
          );
        }
        data.set(row, i * columns);
      });
      const bytes = new Uint8Array(data.buffer);
      if (!little) {
        const view = new DataView(data.buffer);
        for (let i = 0; i < data.length; i++) view.setFloat32(i * 4, data[i]!, true);
      }
      await writeAll(bytes);
      rows += batch.length;
    },
    async close() {
      if (headerLength > 0) {
        await file.seek(0, Deno.SeekMode.Start);
        await writeAll(npyHeader([rows, columns], headerLength));
      }
      await file.syncData();
      finish();
      // link() fails if `path` appeared meanwhile: nothing is replaced.
      await Deno.link(partial, path);
      await Deno.remove(partial);
    },
    async abort() {
      finish();
      await Deno.remove(partial).catch(() => {});
    },
  };
}

/**
 * Removes the partial files of `path` that killed runs left (`PATH.partial-PID`,
 * plain files whose writer's lock is gone); a live writer's, and anything
 * that is not a plain file, stay.
 */
async function removeStalePartials(path: string): Promise<void> {
  const cut = path.lastIndexOf("/");
  const dir = cut < 0 ? "." : cut === 0 ? "/" : path.slice(0, cut);
  const prefix = `${path.slice(cut + 1)}.partial-`;
  let names: string[];
  try {
    names = [];
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && e.name.startsWith(prefix) && /^\d+$/.test(e.name.slice(prefix.length))) {
        names.push(e.name);
      }
    }
  } catch {
    return; // an unreadable folder: nothing of ours to clean
  }
  for (const name of names) {
    const file = await Deno.open(`${dir}/${name}`, { read: true }).catch(() => undefined);
    if (file === undefined) continue;
    try {
      if (await file.tryLock(true)) await Deno.remove(`${dir}/${name}`).catch(() => {});
    } finally {
      file.close();
    }
  }
}
