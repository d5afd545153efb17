/**
 * Named trainable parameters of a model. Layers create their weights here under
 * hierarchical names (`encoder/layer_0/attention/qkv/kernel`); freezing,
 * parameter groups and checkpoints address weights by these names.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { deriveSeed } from "../core/random.ts";

/**
 * Named float32 arrays with their shapes: the one form in which weights and
 * optimizer state travel (to and from workers, into checkpoints, snapshots).
 */
export type NamedArrays = Readonly<
  Record<string, { readonly shape: readonly number[]; readonly values: Float32Array }>
>;

/** Copies of the values of named tensors. */
export function readArrays(named: Iterable<readonly [string, tf.Tensor]>): NamedArrays {
  const out: Record<string, { shape: number[]; values: Float32Array }> = {};
  for (const [name, t] of named) {
    out[name] = { shape: [...t.shape], values: (t.dataSync() as Float32Array).slice() };
  }
  return out;
}

/** How a new parameter is initialised. */
export type Initializer =
  | { readonly kind: "normal"; readonly stddev: number }
  | { readonly kind: "zeros" }
  | { readonly kind: "ones" };

/**
 * Holds a model's variables by name. tfjs variable names stay auto-generated
 * (unique per process), so several models can coexist.
 */
export class ParameterStore {
  readonly #variables = new Map<string, tf.Variable>();
  readonly #seed: number;

  constructor(seed: number) {
    this.#seed = seed;
  }

  /**
   * Creates a variable. Normal init is truncated at 2σ and seeded by
   * (store seed, name), so it does not depend on creation order.
   */
  create(name: string, shape: number[], init: Initializer): tf.Variable {
    if (this.#variables.has(name)) {
      throw new RangeError(`Cannot create parameter ${name}: it already exists`);
    }
    const initial = tf.tidy(() => {
      switch (init.kind) {
        case "normal":
          return tf.truncatedNormal(shape, 0, init.stddev, "float32", deriveSeed(this.#seed, name));
        case "zeros":
          return tf.zeros(shape);
        case "ones":
          return tf.ones(shape);
      }
    });
    const variable = tf.variable(initial, true);
    initial.dispose();
    this.#variables.set(name, variable);
    return variable;
  }

  /** The variable called `name`. @throws {RangeError} if there is none. */
  get(name: string): tf.Variable {
    const v = this.#variables.get(name);
    if (v === undefined) throw new RangeError(`Cannot find parameter ${name}`);
    return v;
  }

  /** Parameter names in creation order. */
  names(): string[] {
    return [...this.#variables.keys()];
  }

  /** `[name, variable]` pairs in creation order. */
  entries(): [string, tf.Variable][] {
    return [...this.#variables.entries()];
  }

  /** Copies of every parameter's values (or of those passing `filter`). */
  read(filter: (name: string) => boolean = () => true): NamedArrays {
    return readArrays(this.entries().filter(([name]) => filter(name)));
  }

  /**
   * Sets parameters from arrays; every name must exist with the same size.
   * @param source named in error messages
   * @param complete whether every parameter must be given (and no other)
   */
  assign(arrays: NamedArrays, source: string, complete = false): void {
    for (const [name, { values }] of Object.entries(arrays)) {
      const v = this.#variables.get(name);
      if (v === undefined) {
        throw new RangeError(`Cannot load ${source}: unexpected weight ${name}`);
      }
      if (values.length !== v.size) {
        throw new RangeError(
          `Cannot load ${source}: weight ${name} has ${values.length} values, the model expects [${v.shape}]`,
        );
      }
      tf.tidy(() => v.assign(tf.tensor(values, v.shape)));
    }
    if (complete) {
      const missing = this.names().filter((n) => arrays[n] === undefined);
      if (missing.length > 0) {
        throw new RangeError(`Cannot load ${source}: weight ${missing[0]} is missing`);
      }
    }
  }

  /** Total number of scalars, optionally only of names passing `filter`. */
  count(filter: (name: string) => boolean = () => true): number {
    let total = 0;
    for (const [name, v] of this.#variables) if (filter(name)) total += v.size;
    return total;
  }

  /** Disposes every variable. */
  dispose(): void {
    for (const v of this.#variables.values()) v.dispose();
    this.#variables.clear();
  }
}
