/**
 * The page at `/` of `deno task serve`: the model's tasks, similarity and
 * nearest neighbours computed in the browser from the same `lib/` modules on
 * TensorFlow.js WASM (or on the server, with the switch), and a new sentence
 * label taught in the page. Bundled by `deno bundle --platform browser`.
 * @module
 */
/// <reference lib="dom" />
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { initBackend } from "../lib/backend/backend.ts";
import { loadModelFrom } from "../lib/model/checkpoint.ts";
import type { ModelBundle } from "../lib/model/checkpoint.ts";
import { cosineSimilarity, embed, predict, type Prediction } from "../lib/inference/pipeline.ts";
import { applyHead, type HeadFile, type HeadLabel } from "../lib/inference/head_file.ts";
import { teachHead } from "../lib/training/head_training.ts";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

let bundle: ModelBundle | undefined;
let head: HeadFile | undefined;

/** Whether the switch asks for the server. */
const onServer = () => $<HTMLInputElement>("mode").checked;

async function post<T>(route: string, body: unknown): Promise<T> {
  const response = await fetch(route, { method: "POST", body: JSON.stringify(body) });
  const json = await response.json();
  if (!response.ok) throw new Error(json.error ?? response.statusText);
  return json as T;
}

async function predictions(texts: string[]): Promise<Prediction[]> {
  if (onServer()) {
    return (await post<{ predictions: Prediction[] }>("/v1/predict", { texts })).predictions;
  }
  return predict(bundle!, texts);
}

async function embeddings(texts: string[]): Promise<Float32Array[]> {
  if (onServer()) {
    const { embeddings } = await post<{ embeddings: number[][] }>("/v1/embed", { texts });
    return embeddings.map((e) => Float32Array.from(e));
  }
  return embed(bundle!, texts);
}

/** Entities highlighted by type, as displaCy shows them; sentence labels as bars. */
function render(p: Prediction): void {
  const out = $("result");
  out.replaceChildren();
  out.dataset.json = JSON.stringify(p);
  for (const [task, spans] of Object.entries(p.entities)) {
    const doc = document.createElement("div");
    doc.className = "doc";
    doc.dataset.task = task;
    let at = 0;
    for (const span of spans) {
      doc.append(p.words.slice(at, span.start).join(" ") + " ");
      const mark = document.createElement("mark");
      mark.className = "ent";
      mark.dataset.type = span.type;
      mark.append(span.text);
      const type = document.createElement("span");
      type.className = "type";
      type.textContent = span.type;
      mark.append(type);
      doc.append(mark, " ");
      at = span.end;
    }
    doc.append(p.words.slice(at).join(" "));
    out.append(doc);
  }
  for (const [task, tags] of Object.entries(p.tags)) {
    if (p.entities[task] !== undefined) continue;
    const line = document.createElement("div");
    line.className = "tags";
    line.dataset.task = task;
    line.textContent = `${task}: ${p.words.map((w, i) => `${w}/${tags[i]}`).join(" ")}`;
    out.append(line);
  }
  for (const [task, answer] of Object.entries(p.labels)) out.append(bars(task, answer));
}

function bars(task: string, answer: HeadLabel): HTMLElement {
  const box = document.createElement("div");
  box.className = "task";
  box.dataset.task = task;
  const title = document.createElement("div");
  title.innerHTML = `${task}: <span class="task-label"></span>`;
  title.querySelector(".task-label")!.textContent = answer.label;
  const list = document.createElement("div");
  list.className = "bars";
  for (const [label, p] of Object.entries(answer.probabilities).sort((a, b) => b[1] - a[1])) {
    const bar = document.createElement("div");
    bar.className = "bar";
    bar.dataset.label = label;
    bar.innerHTML = `<span class="name"></span><span class="fill"></span><span class="p"></span>`;
    bar.querySelector(".name")!.textContent = label;
    (bar.querySelector(".fill") as HTMLElement).style.width = `${Math.round(p * 240)}px`;
    bar.querySelector(".p")!.textContent = p.toFixed(3);
    list.append(bar);
  }
  box.append(title, list);
  return box;
}

/** Runs `work` with the page's buttons disabled; an error goes to the status line. */
async function busy(work: () => Promise<void>): Promise<void> {
  const buttons = [...document.querySelectorAll("button")];
  for (const b of buttons) b.disabled = true;
  try {
    await work();
  } catch (error) {
    $("status").textContent = `error: ${(error as Error).message}`;
  } finally {
    for (const b of buttons) b.disabled = false;
    $<HTMLButtonElement>("teach-classify").disabled = head === undefined;
  }
}

const lines = (id: string) =>
  $<HTMLTextAreaElement>(id).value.split("\n").map((l) => l.trim()).filter((l) => l !== "");

$("analyse").onclick = () =>
  busy(async () => {
    const [p] = await predictions([$<HTMLTextAreaElement>("text").value]);
    render(p!);
  });

$("sim-go").onclick = () =>
  busy(async () => {
    const [a, b] = await embeddings([
      $<HTMLInputElement>("sim-a").value,
      $<HTMLInputElement>("sim-b").value,
    ]);
    $("sim-out").textContent = `cosine ${cosineSimilarity(a!, b!).toFixed(3)}`;
  });

$("nn-go").onclick = () =>
  busy(async () => {
    const texts = lines("nn-list");
    const vectors = await embeddings(texts);
    $("nn-out").replaceChildren(...texts.map((text, i) => {
      let best = -1, score = -Infinity;
      vectors.forEach((v, j) => {
        const s = j === i ? -Infinity : cosineSimilarity(vectors[i]!, v);
        if (s > score) [best, score] = [j, s];
      });
      const li = document.createElement("li");
      li.textContent = `${text} → ${texts[best] ?? "–"} (${score.toFixed(3)})`;
      return li;
    }));
  });

$("teach-go").onclick = () =>
  busy(async () => {
    const examples = lines("teach-examples").map((line) => {
      const at = line.indexOf(":");
      if (at < 1) throw new Error(`"${line}" is not "label: sentence"`);
      return { label: line.slice(0, at).trim(), text: line.slice(at + 1).trim() };
    });
    const vectors = await embeddings(examples.map((e) => e.text));
    const progress = $<HTMLProgressElement>("teach-progress");
    const epochs = 300;
    head = await teachHead(vectors, examples.map((e) => e.label), {
      name: $<HTMLInputElement>("teach-name").value.trim(),
      epochs,
      onEpoch: async (epoch, loss) => {
        progress.value = epoch / epochs;
        $("teach-status").textContent = `epoch ${epoch}/${epochs}, loss ${loss.toFixed(4)}`;
        if (epoch % 25 === 0) await new Promise((r) => setTimeout(r)); // let the page repaint
      },
    });
    $("teach-status").textContent += ` — trained on ${examples.length} examples, labels ${
      head.labels.join(", ")
    }`;
    const link = $<HTMLAnchorElement>("teach-download");
    link.href = URL.createObjectURL(
      new Blob([JSON.stringify(head)], { type: "application/json" }),
    );
    link.download = `${head.name}.head.json`;
    link.hidden = false;
    link.dataset.head = JSON.stringify(head);
  });

$("teach-classify").onclick = () =>
  busy(async () => {
    const texts = lines("teach-text");
    const answers = applyHead(head!, await embeddings(texts));
    $("teach-out").replaceChildren(...texts.map((text, i) => {
      const li = document.createElement("li");
      li.dataset.label = answers[i]!.label;
      li.textContent = `${answers[i]!.label} (${
        answers[i]!.probabilities[answers[i]!.label]!.toFixed(3)
      }): ${text}`;
      return li;
    }));
  });

async function start(): Promise<void> {
  setWasmPaths("/tfjs/");
  await initBackend("wasm");
  bundle = await loadModelFrom(async (file) => {
    const response = await fetch(`/model/${file}`);
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    return new Uint8Array(await response.arrayBuffer());
  }, `${location.origin}/model`);
  $("status").textContent = `ready: ${
    bundle.model.countParameters().toLocaleString("en")
  } parameters; tasks ${bundle.tasks.map((t) => t.name).join(", ")}`;
  $("status").dataset.ready = "true";
  for (const b of document.querySelectorAll("button")) b.disabled = false;
  $<HTMLButtonElement>("teach-classify").disabled = true;
}

start().catch((error) => {
  $("status").textContent = `error: ${(error as Error).message}`;
});
