/**
 * `deno task serve`: the same answers as the command line, batching across
 * clients, bad requests as one JSON line with a 4xx, the OpenAPI document from
 * the request schemas, and a clean stop on SIGTERM with requests in flight.
 */
import assert from "node:assert/strict";
import { runTask, serveArgs, type ServerProcess, startServer } from "./_helpers.ts";

const dir = await Deno.makeTempDir({ prefix: "mtt-serve-" });
const model = `${dir}/model`;
const TEXTS = [
  "Tim Cook visited Paris and loved it",
  "Angela Merkel met Google in Berlin",
  "The film was dull",
  "",
  "Émile Zola wrote in Paris ?",
];

async function post(url: string, body: unknown): Promise<{ status: number; text: string }> {
  const response = await fetch(url, {
    method: "POST",
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, text: await response.text() };
}

async function stop(server: ServerProcess): Promise<number> {
  server.child.kill("SIGTERM");
  const { code } = await server.child.status;
  await server.stderr;
  return code;
}

Deno.test("setup: a tiny model to serve", async () => {
  const r = await runTask(["task", "train", "--preset", "tiny", "--epochs", "1", "--out", model]);
  assert.equal(r.code, 0, r.stderr);
});

Deno.test("serve answers as predict --json and embed --json do, alone and under concurrent clients", async () => {
  const cli = await runTask(["task", "predict", "--model", model, "--json", ...TEXTS]);
  assert.equal(cli.code, 0, cli.stderr);
  const expected = cli.stdout.trim().split("\n").map((l) => JSON.parse(l));
  const embedCli = await runTask(["task", "embed", "--model", model, "--json", ...TEXTS]);
  const expectedEmbeddings = JSON.parse(embedCli.stdout).embeddings;

  const server = await startServer(model, "--workers", "2");
  try {
    const one = await post(`${server.url}v1/predict`, { texts: TEXTS });
    assert.equal(one.status, 200, one.text);
    assert.deepEqual(JSON.parse(one.text).predictions, expected);

    const embedded = await post(`${server.url}v1/embed`, { texts: TEXTS });
    assert.deepEqual(JSON.parse(embedded.text).embeddings, expectedEmbeddings);

    // 40 clients at once, one text each: batched together, every answer its own text's.
    const answers = await Promise.all(
      Array.from(
        { length: 40 },
        (_, i) => post(`${server.url}v1/predict`, { texts: [TEXTS[i % 5]] }),
      ),
    );
    answers.forEach((a, i) => {
      assert.equal(a.status, 200);
      const [p] = JSON.parse(a.text).predictions;
      const e = expected[i % 5];
      assert.equal(p.text, e.text);
      assert.deepEqual(p.tags, e.tags);
      for (
        const [task, { label, probabilities }] of Object.entries(e.labels) as [
          string,
          { label: string; probabilities: Record<string, number> },
        ][]
      ) {
        assert.equal(p.labels[task].label, label);
        for (const [l, prob] of Object.entries(probabilities)) {
          assert.ok(Math.abs(p.labels[task].probabilities[l] - prob) < 1e-6);
        }
      }
    });

    const similarity = await post(`${server.url}v1/similarity`, {
      pairs: [[TEXTS[0], TEXTS[0]], [TEXTS[1], TEXTS[2]]],
    });
    const [same, other] = JSON.parse(similarity.text).similarities;
    assert.ok(Math.abs(same - 1) < 1e-5);
    assert.ok(other < same);

    const described = JSON.parse(await (await fetch(`${server.url}v1/model`)).text());
    assert.deepEqual(described.tasks.map((t: { name: string }) => t.name), ["ner", "sentiment"]);
    assert.equal(described.config.model.hiddenSize, 8);
    assert.ok(described.parameters > 0);
    assert.equal(await (await fetch(`${server.url}health`)).text(), '{"status":"ok"}\n');
  } finally {
    assert.equal(await stop(server), 0);
  }
});

Deno.test("bad requests get a 4xx and one JSON line naming the problem", async () => {
  const server = await startServer(
    model,
    "--max-texts",
    "3",
    "--max-chars",
    "20",
    "--max-body",
    "400",
  );
  try {
    const cases: [string, RequestInit, number, RegExp][] = [
      ["v1/predict", { method: "POST", body: "{bad" }, 400, /malformed JSON body/],
      ["v1/predict", { method: "POST", body: '{"texts": []}' }, 400, /field "texts"/],
      ["v1/predict", { method: "POST", body: '{"text": ["a"]}' }, 400, /field "texts": missing/],
      [
        "v1/predict",
        { method: "POST", body: '{"texts": ["a"], "x": 1}' },
        400,
        /field "x": unknown field/,
      ],
      ["v1/predict", { method: "POST", body: '{"texts": [1]}' }, 400, /field "texts.0"/],
      [
        "v1/predict",
        { method: "POST", body: JSON.stringify({ texts: ["a", "b", "c", "d"] }) },
        413,
        /field "texts": Too big/,
      ],
      [
        "v1/predict",
        { method: "POST", body: JSON.stringify({ texts: ["x".repeat(21)] }) },
        413,
        /field "texts.0": Too big/,
      ],
      [
        "v1/embed",
        { method: "POST", body: JSON.stringify({ texts: ["y".repeat(500)] }) },
        413,
        /request body over 400 bytes/,
      ],
      ["v1/similarity", { method: "POST", body: '{"pairs": [["a"]]}' }, 400, /field "pairs.0/],
      ["v1/predict", { method: "GET" }, 405, /\/v1\/predict takes POST, not GET/],
      ["health", { method: "POST", body: "{}" }, 405, /takes GET/],
      ["v2/predict", { method: "POST", body: "{}" }, 404, /no route \/v2\/predict/],
    ];
    for (const [path, init, status, message] of cases) {
      const response = await fetch(`${server.url}${path}`, init);
      const text = await response.text();
      assert.equal(response.status, status, `${path} ${init.body}: ${text}`);
      assert.equal(text.trim().split("\n").length, 1);
      const body = JSON.parse(text);
      assert.deepEqual(Object.keys(body), ["error"]);
      assert.match(body.error, message);
      assert.doesNotMatch(body.error, /\n| {4}at /);
      if (status === 405) assert.ok(response.headers.get("allow"));
    }
    // The OpenAPI document is made from the same schemas: the limits are in it.
    const doc = JSON.parse(await (await fetch(`${server.url}openapi.json`)).text());
    const schema = doc.paths["/v1/predict"].post.requestBody.content["application/json"].schema;
    assert.equal(schema.properties.texts.maxItems, 3);
    assert.equal(schema.properties.texts.items.maxLength, 20);
    assert.deepEqual(Object.keys(doc.paths).sort(), [
      "/health",
      "/openapi.json",
      "/v1/embed",
      "/v1/model",
      "/v1/predict",
      "/v1/similarity",
    ]);
  } finally {
    assert.equal(await stop(server), 0);
  }
});

Deno.test("SIGTERM: requests in flight are answered, then the server exits 0", async () => {
  const server = await startServer(model, "--workers", "2", "--batch-delay", "200");
  // Requests wait 200 ms for company: they are in flight when the signal comes.
  const inFlight = Array.from(
    { length: 8 },
    () => post(`${server.url}v1/predict`, { texts: TEXTS }),
  );
  await new Promise((r) => setTimeout(r, 50));
  server.child.kill("SIGTERM");
  const answers = await Promise.all(inFlight);
  for (const a of answers) assert.equal(a.status, 200, a.text);
  const { code } = await server.child.status;
  assert.equal(code, 0);
  assert.match(await server.stderr, /SIGTERM: finishing \d+ request\(s\) in flight/);
  await assert.rejects(() => fetch(`${server.url}health`));
});

Deno.test("the serve task cannot write files: it runs without --allow-write", async () => {
  const args = await serveArgs();
  assert.ok(args.includes("--allow-net") && args.includes("--allow-read"));
  assert.ok(!args.some((a) => a.startsWith("--allow-write") || a === "-A" || a === "--allow-all"));
});
