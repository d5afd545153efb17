/**
 * One request to a Deno Worker answered by one message: the worker pools'
 * (`parallel.ts`, `inference_pool.ts`) round trip. Private.
 * @module
 */

/**
 * Posts `message` to `worker` and resolves with its next reply; a reply of
 * type `error` or a worker error rejects, naming `who`.
 */
export function askWorker<Reply extends { type: string }>(
  worker: Worker,
  message: unknown,
  who: string,
): Promise<Exclude<Reply, { type: "error" }>> {
  return new Promise((resolve, reject) => {
    worker.onmessage = (event: MessageEvent<Reply>) => {
      if (event.data.type === "error") {
        reject(new Error(`${who} failed: ${(event.data as { message?: string }).message}`));
      } else resolve(event.data as Exclude<Reply, { type: "error" }>);
    };
    worker.onerror = (event) => {
      event.preventDefault();
      reject(new Error(`${who} failed: ${event.message}`));
    };
    worker.postMessage(message);
  });
}
