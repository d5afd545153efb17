/**
 * The one way file formats are validated: a zod schema per format (config,
 * recipe, tokenizer, checkpoint metadata, tasks, weights manifests), and the
 * first problem reported as the field path and what is wrong with it.
 * @module
 */
import type { z } from "zod";

/**
 * Parses `value` with `schema`; on failure throws `error(field, detail)` for
 * the first issue, `field` being its dotted path (`tasks.ner.train`, or
 * `(root)`), `detail` "unknown field", "missing" or zod's message with the
 * value found.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { z } from "zod";
 * import { parseSchema } from "./schema.ts";
 * const schema = z.object({ a: z.object({ b: z.number().min(1) }).strict() }).strict();
 * const fail = (field: string, detail: string) => new Error(`${field}: ${detail}`);
 * assert.throws(() => parseSchema(schema, { a: { b: 0 } }, fail), /^Error: a.b: Too small: .* \(got 0\)$/);
 * assert.throws(() => parseSchema(schema, { a: { b: 1, c: 1 } }, fail), /^Error: a.c: unknown field$/);
 * assert.throws(() => parseSchema(schema, { a: {} }, fail), /^Error: a.b: missing$/);
 * ```
 */
export function parseSchema<S extends z.ZodType>(
  schema: S,
  value: unknown,
  error: (field: string, detail: string) => Error,
): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.path.map(String);
  if (issue.code === "unrecognized_keys") {
    const key = (issue as { keys: string[] }).keys[0]!;
    throw error([...path, key].join("."), "unknown field");
  }
  const received = path.reduce<unknown>(
    (at, key) =>
      typeof at === "object" && at !== null ? (at as Record<string, unknown>)[key] : undefined,
    value,
  );
  const field = path.length === 0 ? "(root)" : path.join(".");
  throw error(
    field,
    received === undefined && path.length > 0
      ? "missing"
      : `${issue.message}${received === undefined ? "" : ` (got ${short(received)})`}`,
  );
}

function short(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
