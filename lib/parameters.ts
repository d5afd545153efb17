/**
 * Named trainable parameters of a model. Layers create their weights here under
 * hierarchical names (`encoder/layer_0/attention/qkv/kernel`); freezing,
 * parameter groups and checkpoints address weights by these names.
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { deriveSeed } from "./random.ts";

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
