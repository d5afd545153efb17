/** Fetching the benchmark corpora: download from a local HTTP server, checksums, local copies. */
import assert from "node:assert/strict";
import { DataError } from "../lib/core/mod.ts";
import { sha256Hex } from "../lib/core/mod.ts";
import { type Dataset, DATASETS, fetchDatasets } from "../lib/data/mod.ts";

const FILES: Record<string, string> = {
  "/a/train.txt": "EU B-ORG\nrejects O\n",
  "/a/dev.txt": "Peter B-PER\n",
  "/b/bad.txt": "tampered\n",
};

/** A server on 127.0.0.1 serving FILES; 404 otherwise. Bounded: closed by each test. */
function serve(): { url: string; requests: string[]; close: () => Promise<void> } {
  const requests: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (req) => {
    const path = new URL(req.url).pathname;
    requests.push(path);
    const body = FILES[path];
    return body === undefined ? new Response("no", { status: 404 }) : new Response(body);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    requests,
    close: () => server.shutdown(),
  };
}

const sha = (text: string) => sha256Hex(new TextEncoder().encode(text));

async function corpus(url: string, badChecksum = false): Promise<Dataset> {
  return {
    name: "tiny",
    description: "fixture",
    files: [
      { name: "train.txt", url: `${url}/a/train.txt`, sha256: await sha(FILES["/a/train.txt"]!) },
      {
        name: "dev.txt",
        url: `${url}/a/dev.txt`,
        sha256: badChecksum ? "0".repeat(64) : await sha(FILES["/a/dev.txt"]!),
      },
    ],
  };
}

Deno.test("fetchDatasets() downloads, verifies and writes each file, then keeps it", async () => {
  const server = serve();
  const out = await Deno.makeTempDir();
  try {
    const dataset = await corpus(server.url);
    const first = await fetchDatasets([dataset], { out });
    assert.deepEqual(first.map((f) => f.status), ["written", "written"]);
    assert.equal(await Deno.readTextFile(`${out}/tiny/train.txt`), FILES["/a/train.txt"]);
    const second = await fetchDatasets([dataset], { out });
    assert.deepEqual(second.map((f) => f.status), ["present", "present"]);
    assert.equal(server.requests.length, 2, "nothing downloaded the second time");
  } finally {
    await server.close();
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("a wrong checksum is refused and leaves nothing behind", async () => {
  const server = serve();
  const out = await Deno.makeTempDir();
  try {
    const dataset = await corpus(server.url, true);
    await assert.rejects(
      () => fetchDatasets([{ ...dataset, files: [dataset.files[1]!] }], { out }),
      (e: Error) => {
        assert.ok(e instanceof DataError);
        assert.match(e.message, /dev\.txt: sha256 [0-9a-f]{64} does not match the expected 0{64}/);
        return true;
      },
    );
    assert.deepEqual([...Deno.readDirSync(out)], [], "no file, no temporary, no folder");
  } finally {
    await server.close();
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("a different file in the way is never overwritten", async () => {
  const server = serve();
  const out = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${out}/tiny`);
    await Deno.writeTextFile(`${out}/tiny/train.txt`, "my own notes\n");
    await assert.rejects(
      async () => fetchDatasets([await corpus(server.url)], { out }),
      /tiny\/train\.txt: a different file is already there/,
    );
    assert.equal(await Deno.readTextFile(`${out}/tiny/train.txt`), "my own notes\n");
  } finally {
    await server.close();
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("an unreachable source or a 404 fails at once with what to do", async () => {
  const server = serve();
  try {
    const dataset: Dataset = {
      name: "tiny",
      description: "",
      files: [{ name: "x.txt", url: `${server.url}/missing.txt`, sha256: "0".repeat(64) }],
    };
    await assert.rejects(
      () => fetchDatasets([dataset], { out: "/tmp/never-written" }),
      /missing\.txt: the server answered 404/,
    );
    const closed = { ...dataset, files: [{ ...dataset.files[0]!, url: "http://127.0.0.1:9/x" }] };
    await assert.rejects(
      () => fetchDatasets([closed], { out: "/tmp/never-written" }),
      /cannot download it .*deno task data --from DIR/,
    );
  } finally {
    await server.close();
  }
});

Deno.test("--from copies from a local folder with the same checks", async () => {
  const from = await Deno.makeTempDir();
  const out = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${from}/tiny`);
    await Deno.writeTextFile(`${from}/tiny/train.txt`, FILES["/a/train.txt"]!);
    await Deno.writeTextFile(`${from}/tiny/dev.txt`, "edited\n");
    const dataset = await corpus("http://127.0.0.1:9");
    await assert.rejects(() => fetchDatasets([dataset], { out, from }), /dev\.txt: sha256/);
    assert.deepEqual([...Deno.readDirSync(`${out}/tiny`)].map((e) => e.name), ["train.txt"]);
  } finally {
    await Deno.remove(from, { recursive: true });
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("every corpus file has a pinned source and a sha256", () => {
  for (const dataset of DATASETS) {
    for (const file of dataset.files) {
      assert.match(file.sha256, /^[0-9a-f]{64}$/, file.name);
      assert.match(file.url, /^https:\/\/.+\/[0-9a-f]{40}\//, `${file.name}: a pinned commit`);
    }
  }
});
