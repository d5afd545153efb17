/** The README's TypeScript blocks type-check under the project's strict compiler options. */
import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

Deno.test("every ```ts block of README.md passes deno check", async () => {
  const readme = await Deno.readTextFile(new URL("README.md", ROOT));
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!);
  assert.ok(blocks.length >= 1, "the README has a TypeScript block");
  const dir = await Deno.makeTempDir({ prefix: "mtt-readme-" });
  try {
    for (const [i, block] of blocks.entries()) {
      // Imports relative to the repository root, as the README's reader runs them.
      const source = block.replaceAll(
        /from "\.\/(lib\/[^"]+)"/g,
        (_, path) => `from "${new URL(path, ROOT).href}"`,
      );
      const file = `${dir}/block_${i}.ts`;
      await Deno.writeTextFile(file, source);
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["check", "--config", new URL("deno.json", ROOT).pathname, file],
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
      assert.equal(out.code, 0, `README block ${i}:\n${new TextDecoder().decode(out.stderr)}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
