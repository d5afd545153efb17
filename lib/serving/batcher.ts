/**
 * Micro-batching: items submitted by concurrent callers run as one batch, and
 * each caller gets its own slice of the results, in order. One batch runs at a
 * time; what comes while it runs forms the next one, so a lone request runs at
 * once and under load an inference pool gets whole batches per worker rather
 * than a request's few texts.
 * @module
 */

/** Options of {@linkcode MicroBatcher}. */
export interface MicroBatcherOptions {
  /**
   * How long the first item waits for company when nothing runs; 0: it runs at
   * once (items of the same tick join it). While a batch runs, what comes
   * waits for it to end and forms the next batch. @default 0
   */
  readonly delayMs?: number;
  /** A batch runs as soon as this many items wait. @default 256 */
  readonly maxItems?: number;
}

interface Waiting<In, Out> {
  readonly items: readonly In[];
  readonly resolve: (out: Out[]) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Collects items from concurrent {@linkcode MicroBatcher.submit} calls into
 * batches for `run`, which must return one result per item, in order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MicroBatcher } from "./batcher.ts";
 * const sizes: number[] = [];
 * const batcher = new MicroBatcher(async (xs: number[]) => {
 *   sizes.push(xs.length);
 *   return xs.map((x) => x * 10);
 * });
 * const [a, b] = await Promise.all([batcher.submit([1, 2]), batcher.submit([3])]);
 * assert.deepEqual(a, [10, 20]);
 * assert.deepEqual(b, [30]);
 * assert.deepEqual(sizes, [3]); // one batch for both callers
 * ```
 */
export class MicroBatcher<In, Out> {
  readonly #run: (items: In[], callers: number) => Promise<Out[]>;
  readonly #delayMs: number;
  readonly #maxItems: number;
  #waiting: Waiting<In, Out>[] = [];
  #count = 0;
  #scheduled: ReturnType<typeof setTimeout> | true | undefined;
  #current: Promise<void> | undefined;

  /** @param run runs a batch: the items of `callers` submissions, in order */
  constructor(
    run: (items: In[], callers: number) => Promise<Out[]>,
    options: MicroBatcherOptions = {},
  ) {
    this.#run = run;
    this.#delayMs = options.delayMs ?? 0;
    this.#maxItems = options.maxItems ?? 256;
  }

  /** Runs `items` in the next batch; resolves with their results, in order. */
  submit(items: readonly In[]): Promise<Out[]> {
    if (items.length === 0) return Promise.resolve([]);
    return new Promise<Out[]>((resolve, reject) => {
      this.#waiting.push({ items, resolve, reject });
      this.#count += items.length;
      if (this.#count >= this.#maxItems) this.#flush();
      else if (this.#current === undefined && this.#scheduled === undefined) {
        // Idle: run soon (callers of the same tick, or of the delay, join in).
        if (this.#delayMs > 0) this.#scheduled = setTimeout(() => this.#flush(), this.#delayMs);
        else {
          this.#scheduled = true;
          queueMicrotask(() => this.#flush());
        }
      }
    });
  }

  /** Resolves when every item submitted so far has its result. */
  async drain(): Promise<void> {
    while (this.#current !== undefined || this.#waiting.length > 0) {
      if (this.#current === undefined) this.#flush();
      await this.#current;
    }
  }

  /** Runs what waits, unless a batch is running (its end runs what waits then). */
  #flush(): void {
    if (typeof this.#scheduled === "number") clearTimeout(this.#scheduled);
    this.#scheduled = undefined;
    if (this.#current !== undefined || this.#waiting.length === 0) return;
    const batch = this.#waiting;
    this.#waiting = [];
    this.#count = 0;
    this.#current = (async () => {
      try {
        const out = await this.#run(batch.flatMap((w) => w.items), batch.length);
        let at = 0;
        for (const w of batch) {
          w.resolve(out.slice(at, at + w.items.length));
          at += w.items.length;
        }
      } catch (error) {
        for (const w of batch) w.reject(error);
      } finally {
        this.#current = undefined;
        // What came while this batch ran is the next batch.
        this.#flush();
      }
    })();
  }
}
