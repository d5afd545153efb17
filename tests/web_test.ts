/**
 * The page at `/` of `deno task serve`, in headless Chromium (Debian's
 * `chromium`, driven by puppeteer-core): the in-page model and the server give
 * what `predict --json` gives, and a two-label head taught in the page from 10
 * examples each classifies 4 unseen sentences, in the page and, downloaded,
 * with `predict --head`. Ignored where Chromium is not installed.
 */
import assert from "node:assert/strict";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { runTask, startServer } from "./_helpers.ts";

const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find((p) => {
  try {
    return Deno.statSync(p).isFile;
  } catch {
    return false;
  }
});

const dir = await Deno.makeTempDir({ prefix: "mtt-web-" });
const model = `${dir}/model`;
const app = `${dir}/app.js`;
const TEXT = "Tim Cook visited Paris and met Angela Merkel in Berlin";

const SPORT = [
  "The striker scored twice in the second half",
  "She won the marathon in record time",
  "The team lost the final on penalties",
  "He served three aces in the tie-break",
  "The goalkeeper saved a late penalty",
  "Our club signed a new midfielder",
  "The cyclists climbed the mountain stage",
  "They trained hard for the championship match",
  "The referee showed him a red card",
  "The relay team took the gold medal",
];
const FOOD = [
  "Add the garlic and fry it until golden",
  "This soup needs more salt and pepper",
  "Bake the bread for forty minutes",
  "The chocolate cake was rich and moist",
  "Slice the tomatoes and drizzle olive oil",
  "We ordered noodles and dumplings for dinner",
  "Whisk the eggs with a little sugar",
  "The restaurant serves fresh grilled fish",
  "Simmer the rice in coconut milk",
  "A bowl of fruit salad for breakfast",
];
const UNSEEN = [
  "The tennis player won the match in straight sets",
  "Roast the chicken with lemon and thyme",
  "The football team celebrated the league title",
  "Knead the dough and let it rise overnight",
];
const EXPECTED = ["sport", "food", "sport", "food"];

/** Entities (type and text), the sentiment label and the whole prediction the page shows. */
async function analyse(page: Page) {
  await page.evaluate(`document.querySelector("#result").replaceChildren()`);
  await page.$eval("#text", (e, text) => ((e as unknown as { value: string }).value = text), TEXT);
  await page.click("#analyse");
  await page.waitForSelector("#result .task[data-task=sentiment]", { timeout: 60_000 });
  // Read in the page (a string: the test is type-checked without the DOM's types).
  return await page.evaluate(`({
    entities: [...document.querySelectorAll("#result mark.ent")].map((m) => ({
      type: m.dataset.type,
      text: m.firstChild.textContent,
    })),
    sentiment: document.querySelector("#result .task[data-task=sentiment] .task-label").textContent,
    json: JSON.parse(document.querySelector("#result").dataset.json),
  })`) as {
    entities: { type: string; text: string }[];
    sentiment: string;
    json: unknown;
  };
}

Deno.test({
  name:
    "the page: in-browser and server predictions equal predict --json; a head taught in the page classifies unseen text, there and with predict --head",
  ignore: CHROMIUM === undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const trained = await runTask(["task", "train", "--epochs", "1", "--out", model, "--quiet"]);
    assert.equal(trained.code, 0, trained.stderr);
    const bundled = await new Deno.Command(Deno.execPath(), {
      args: ["bundle", "--quiet", "--platform", "browser", "web/app.ts", "-o", app],
    }).output();
    assert.equal(bundled.code, 0, new TextDecoder().decode(bundled.stderr));
    const cli = await runTask(["task", "predict", "--model", model, "--json", TEXT]);
    assert.equal(cli.code, 0, cli.stderr);
    const expected = JSON.parse(cli.stdout.trim());
    const expectedEntities = expected.entities.ner.map((e: { type: string; text: string }) => ({
      type: e.type,
      text: e.text,
    }));

    const server = await startServer(model, "--app", app, "--workers", "2");
    let browser: Browser | undefined;
    try {
      browser = await puppeteer.launch({
        executablePath: CHROMIUM!,
        headless: true,
        args: ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
      });
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(server.url);
      await page.waitForSelector("#status[data-ready=true]", { timeout: 120_000 });

      // In the page, on tfjs-wasm in Chromium.
      const local = await analyse(page);
      assert.deepEqual(local.entities, expectedEntities);
      assert.equal(local.sentiment, expected.labels.sentiment.label);
      // The whole prediction, probabilities included, to the bit: the same wasm kernels.
      assert.deepEqual(local.json, expected);

      // On the server: the same JSON as predict --json.
      await page.click("#mode");
      const remote = await analyse(page);
      assert.deepEqual(remote.json, expected);
      assert.deepEqual(remote.entities, expectedEntities);
      await page.click("#mode");

      // Teach a two-label head in the page, from 10 examples each.
      const examples = [...SPORT.map((s) => `sport: ${s}`), ...FOOD.map((s) => `food: ${s}`)];
      await page.$eval(
        "#teach-examples",
        (e, text) => ((e as unknown as { value: string }).value = text),
        examples.join("\n"),
      );
      await page.click("#teach-go");
      await page.waitForSelector("#teach-download:not([hidden])", { timeout: 60_000 });
      assert.match(
        await page.$eval("#teach-status", (e) => e.textContent!),
        /epoch 300\/300, loss .* trained on 20 examples, labels food, sport/,
      );
      await page.$eval(
        "#teach-text",
        (e, text) => ((e as unknown as { value: string }).value = text),
        UNSEEN.join("\n"),
      );
      await page.click("#teach-classify");
      await page.waitForSelector("#teach-out li");
      const labels = await page.evaluate(
        `[...document.querySelectorAll("#teach-out li")].map((li) => li.dataset.label)`,
      );
      assert.deepEqual(labels, EXPECTED);

      // The downloaded head file works on the command line.
      const head = await page.evaluate(
        `document.querySelector("#teach-download").dataset.head`,
      ) as string;
      await Deno.writeTextFile(`${dir}/topic.head.json`, head);
      const withHead = await runTask([
        "task",
        "predict",
        "--model",
        model,
        "--head",
        `${dir}/topic.head.json`,
        "--json",
        ...UNSEEN,
      ]);
      assert.equal(withHead.code, 0, withHead.stderr);
      const cliLabels = withHead.stdout.trim().split("\n").map((l) =>
        JSON.parse(l).labels.topic.label
      );
      assert.deepEqual(cliLabels, EXPECTED);
      assert.deepEqual(errors, []);
    } finally {
      await browser?.close();
      server.child.kill("SIGTERM");
      await server.child.status;
      await server.stderr;
    }
  },
});
