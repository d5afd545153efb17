/** Flags as data: parsing, usage text and config overrides come from one table. */
import assert from "node:assert/strict";
import { resolveConfig } from "../lib/core/mod.ts";
import { UsageError } from "../cli/_common.ts";
import {
  type Command,
  configOverrides,
  type Flag,
  flagsGiven,
  parseCommand,
  STRATEGY,
  usageText,
} from "../cli/_flags.ts";

/** A valid value for each strategy flag, and the config value it must become. */
const SAMPLES: Record<keyof typeof STRATEGY, [string | true, unknown]> = {
  backbone: ["none", null],
  freeze: ["embeddings,layer:0", ["embeddings", "layer:0"]],
  "layer-lr-decay": ["ulmfit", 1 / 2.6],
  "layer-lr-decay-scope": ["embeddings", "embeddings"],
  "head-lr-multiplier": ["2", 2],
  schedule: ["constant", "constant"],
  "warmup-steps": ["40", 40],
  optimizer: ["adamw", "adamw"],
  "weight-decay": ["0.01", 0.01],
  "init-backbone": ["runs/x", "runs/x"],
  "unfreeze-after": ["1", 1],
  "gradual-unfreeze": [true, true],
  "task-weighting": ["uncertainty", "uncertainty"],
  "task-sampling": ["balanced", "balanced"],
  "balanced-steps": ["median", "median"],
  "word-dropout": ["0.1", 0.1],
  "embedding-updates": ["dense", "dense"],
  "word-vectors": ["none", null],
  "pretrained-vocab": ["5000", 5000],
};

Deno.test("every strategy flag lands on the config field its table names", () => {
  for (const [name, flag] of Object.entries(STRATEGY) as [keyof typeof STRATEGY, Flag][]) {
    const [text, expected] = SAMPLES[name];
    const overrides = configOverrides({ [name]: text }, STRATEGY);
    const [section, field] = flag.config!.split(".") as ["model" | "tokenizer" | "train", string];
    assert.deepEqual(overrides[section][field], expected, name);
    // The schema knows the field: the resolved config carries the value.
    const config = resolveConfig({ [section]: overrides[section] }, "tiny");
    assert.deepEqual((config[section] as Record<string, unknown>)[field], expected, name);
  }
});

Deno.test("a bad flag value is a usage error naming the flag", () => {
  assert.throws(
    () => configOverrides({ "warmup-steps": "ten" }, STRATEGY),
    (e: unknown) => e instanceof UsageError && /--warmup-steps expects an integer/.test(e.message),
  );
  assert.throws(
    () => configOverrides({ backbone: "bert" }, STRATEGY),
    /--backbone must be use-lite or none, got "bert"/,
  );
});

const COMMAND: Command = {
  usage: "deno task x [options]",
  sections: [
    {
      flags: {
        out: { type: "string", value: "DIR", help: "where it goes" },
        tag: { type: "string", multiple: true, value: "T", help: "a tag,\nrepeatable" },
        help: { type: "boolean", short: "h", help: "this text" },
      },
    },
    { title: "More:", flags: { quiet: { type: "boolean", help: "say less" } } },
  ],
  note: "The end.",
};

Deno.test("usage text and parsing come from the same table", () => {
  assert.equal(
    usageText(COMMAND),
    [
      "Usage: deno task x [options]",
      "",
      "  --out DIR   where it goes",
      "  --tag T     a tag,",
      "              repeatable",
      "  -h, --help  this text",
      "",
      "More:",
      "  --quiet     say less",
      "",
      "The end.",
    ].join("\n"),
  );
  const parsed = parseCommand(["--out", "d", "--tag", "a", "--tag", "b", "--quiet", "p"], COMMAND);
  assert.deepEqual({ ...parsed?.values }, { out: "d", tag: ["a", "b"], quiet: true });
  assert.deepEqual(parsed?.positionals, ["p"]);
  assert.deepEqual(flagsGiven(parsed!.values, { quiet: COMMAND.sections[1]!.flags.quiet! }), [
    "quiet",
  ]);
  assert.throws(() => parseCommand(["--nope"], COMMAND), UsageError);
  assert.throws(() => parseCommand(["p"], COMMAND, false), UsageError);
});
