/**
 * lib/serving: the model behind HTTP, transport-agnostic: routes, request schemas and their
 * OpenAPI document, micro-batching of concurrent requests.
 * @module
 */
export { MicroBatcher, type MicroBatcherOptions } from "./batcher.ts";
export {
  DEFAULT_LIMITS,
  HttpError,
  ModelService,
  openApi,
  requestSchemas,
  type ServeLimits,
  type ServiceOptions,
  type StaticFile,
} from "./service.ts";
export {
  benchServe,
  type LoadOptions,
  type LoadResult,
  loadTest,
  type ServeBenchOptions,
  type ServeBenchResult,
} from "./load.ts";
