/**
 * Shared helpers of the command-line entry points: backend selection and
 * input reading. Entry points print; the library does not.
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { type BackendName, describeBackend, initBackend } from "../lib/mod.ts";

/** Default model directory written by `deno task train`. */
export const DEFAULT_MODEL_DIR = "runs/model";

/** Parses argv with node:util's parseArgs, turning its errors into a usage message. */
export function parse(
  args: string[],
  options: NonNullable<ParseArgsConfig["options"]>,
  usage: string,
): { values: Record<string, string | boolean | undefined>; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: true });
    if ((values as Record<string, unknown>).help === true) {
      console.log(usage);
      Deno.exit(0);
    }
    return { values: values as Record<string, string | boolean | undefined>, positionals };
  } catch (error) {
    fail(`${(error as Error).message}\n\n${usage}`);
  }
}

/** Initialises the backend named by `--backend` and prints what runs, on stderr. */
export async function setupBackend(name: string | boolean | undefined): Promise<void> {
  const backend = (typeof name === "string" ? name : "wasm") as BackendName;
  const info = await initBackend(backend).catch((e: Error) => fail(e.message));
  console.error(describeBackend(info));
}

/** Prints an error and exits with status 1. */
export function fail(message: string): never {
  console.error(`error: ${message}`);
  Deno.exit(1);
}

/** Parses a positive integer flag. */
export function intFlag(value: string | boolean | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (typeof value !== "string" || !Number.isInteger(n) || n < 0) {
    fail(`--${flag} expects a non-negative integer, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** Texts from positional arguments, `--file` (one per line) or standard input. */
export async function readTexts(
  positionals: string[],
  file: string | boolean | undefined,
): Promise<string[]> {
  let texts = positionals;
  if (typeof file === "string") {
    texts = (await Deno.readTextFile(file).catch((e: Error) =>
      fail(`Cannot read ${file}: ${e.message}`)
    ))
      .split("\n");
  } else if (texts.length === 0 && !Deno.stdin.isTerminal()) {
    texts = (await new Response(Deno.stdin.readable).text()).split("\n");
  }
  texts = texts.map((t) => t.trim()).filter((t) => t !== "");
  if (texts.length === 0) fail("no input text: pass sentences as arguments, --file FILE, or stdin");
  return texts;
}
