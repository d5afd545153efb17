/**
 * Silences Node deprecation warnings (vega imports the deprecated `punycode`
 * module). Imported before vega by `report.ts`; private.
 * @module
 */
import process from "node:process";
(process as unknown as { noDeprecation: boolean }).noDeprecation = true;
