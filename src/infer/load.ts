// Opening a model file by what it contains, not by its name, and finding its tokenizer.
// A new file format adds one sniff + loader pair to `loadInferenceModel`.
import { closeSync, existsSync, openSync, readSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { TernlmError } from '../core/errors.js';
import { loadTokenizer, type Tokenizer } from '../data/tokenizer.js';
import { isLlama2cVersionedExport, llama2cBodyFloats, parseLlama2cHeader, readLlama2c, type Llama2cHeader } from '../io/llama2c.js';
import { LlamaModel, type LlamaWeights } from './llama.js';
import type { InferenceModel } from './model.js';
import { exportedModel } from './exported.js';
import { openExport } from './packed.js';

/** Formats `loadInferenceModel` recognises. */
export type ModelFormat = 'llama2c' | 'safetensors' | 'gguf';

const SNIFF_BYTES = 64;

/** The format of a model file from its first bytes, or null when it is none we know. */
export function sniffModelFormat(head: Uint8Array): ModelFormat | null {
  if (head.length >= 4 && String.fromCharCode(...head.subarray(0, 4)) === 'GGUF') return 'gguf';
  // safetensors: u64 little-endian JSON length, then the JSON header `{"...`.
  if (head.length >= 10 && head[6] === 0 && head[7] === 0 && head[8] === 0x7b && head[9] === 0x22) return 'safetensors';
  if (isLlama2cVersionedExport(head) || parseLlama2cHeader(head)) return 'llama2c';
  return null;
}

/** The first bytes of a model file (refusing a missing path or a folder), for `sniffModelFormat`. */
export function readModelHead(path: string): Uint8Array {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch {
    throw new TernlmError(`model file ${path} does not exist`);
  }
  if (!isFile) throw new TernlmError(`${path} is a directory, not a model file`);
  const fd = openSync(path, 'r');
  try {
    const head = new Uint8Array(SNIFF_BYTES);
    return head.subarray(0, readSync(fd, head, 0, SNIFF_BYTES, 0));
  } finally {
    closeSync(fd);
  }
}

/** Load a model for inference into the wasm heap (the runtime must be started). */
export function loadInferenceModel(path: string): InferenceModel {
  const format = sniffModelFormat(readModelHead(path));
  switch (format) {
    case 'llama2c':
      return loadLlama2c(path);
    case 'safetensors':
      return loadExport(path);
    case 'gguf':
      throw new TernlmError(`${path} is a GGUF file, which ternlm does not read — use a llama2.c .bin checkpoint`);
    default:
      throw new TernlmError(`${path} is not a model file ternlm can load (expected a file from \`ternlm export\` or a llama2.c .bin checkpoint)`);
  }
}

/** Open a file from `ternlm export` with its family's engine. */
export function loadExport(path: string): InferenceModel {
  return exportedModel(openExport(path));
}

/** Load a v0 llama2.c checkpoint as a Llama engine (its weights stay where they were read). */
export function loadLlama2c(path: string): LlamaModel {
  const { header, weights } = readLlama2c(path);
  const { sharedClassifier, ...dims } = header;
  try {
    // llama2.c's run.c fixes these two; its checkpoints do not store them.
    return new LlamaModel({ ...dims, normEps: 1e-5, ropeTheta: 10000 }, llama2cLayerMajor(header, weights.f32(), weights.ptr), [weights]);
  } catch (err) {
    weights.dispose();
    throw err;
  }
}

/**
 * Pointers of each weight in a llama2.c weight block (run.c's order, see src/io/llama2c.ts), after
 * reordering the block in place so that each layer's wq, wk, wv are adjacent, and so are its w1
 * and w3: run.c stores each weight for all layers together, and the engine then computes a
 * layer's q, k, v (and its two SwiGLU inputs) with one matrix-vector product. `data` is the
 * block's floats, at byte offset `base` of the heap.
 */
function llama2cLayerMajor(h: Llama2cHeader, data: Float32Array, base: number): LlamaWeights {
  const { dim, hiddenDim: hidden, nLayers: L } = h;
  const kvDim = (dim * h.nKvHeads) / h.nHeads;
  let off = 0; // floats
  const take = (floats: number): number => {
    const p = base + off * 4;
    off += floats;
    return p;
  };
  const perLayer = (floats: number): number[] => {
    const start = take(floats * L);
    return Array.from({ length: L }, (_, l) => start + l * floats * 4);
  };
  /** Rewrite the all-layer blocks of these per-layer sizes (from `off` on) as, per layer, one matrix of each; their pointers. */
  const interleave = (sizes: number[]): number[][] => {
    const total = sizes.reduce((a, b) => a + b, 0);
    const old = data.slice(off, off + total * L);
    const ptrs: number[][] = sizes.map(() => []);
    for (let l = 0; l < L; l++) {
      let from = 0, to = off + l * total;
      sizes.forEach((n, i) => {
        data.set(old.subarray(from + l * n, from + (l + 1) * n), to);
        ptrs[i].push(base + to * 4);
        from += n * L;
        to += n;
      });
    }
    off += total * L;
    return ptrs;
  };
  const tokenEmbedding = take(h.vocabSize * dim);
  const rmsAtt = perLayer(dim);
  const [wq, wk, wv] = interleave([dim * dim, kvDim * dim, kvDim * dim]);
  const wo = perLayer(dim * dim);
  const rmsFfn = perLayer(dim);
  // run.c's order is w1, w2, w3 (each for all layers): swap the w2 and w3 blocks, then interleave w1 and w3.
  const ffn = L * hidden * dim;
  const w2w3 = data.slice(off + ffn, off + 3 * ffn);
  data.set(w2w3.subarray(ffn), off + ffn);
  data.set(w2w3.subarray(0, ffn), off + 2 * ffn);
  const [w1, w3] = interleave([hidden * dim, hidden * dim]);
  const w2 = perLayer(dim * hidden);
  const rmsFinal = take(dim);
  const wcls = h.sharedClassifier ? tokenEmbedding : base + llama2cBodyFloats(h) * 4;
  return { tokenEmbedding, rmsAtt, wq, wk, wv, wo, rmsFfn, w1, w2, w3, rmsFinal, wcls };
}

/**
 * The tokenizer for a model: `spec` when given, else one stored beside a llama2.c checkpoint
 * (`tok<vocab>.bin`, as llama2.c names custom tokenizers, then its default `tokenizer.bin`).
 * Its ids must all be ids of the model.
 */
export function resolveTokenizer(modelPath: string, model: Pick<InferenceModel, 'vocabSize' | 'tokenizer'>, spec?: string): Tokenizer {
  let tokenizer: Tokenizer;
  if (spec === undefined && model.tokenizer) {
    tokenizer = model.tokenizer;
  } else if (spec !== undefined) {
    tokenizer = loadTokenizer(spec);
  } else {
    const dir = dirname(modelPath);
    const beside = [`tok${model.vocabSize}.bin`, 'tokenizer.bin'].map((f) => join(dir, f)).find((p) => existsSync(p));
    if (!beside) throw new TernlmError(`no tokenizer beside ${modelPath} (looked for tok${model.vocabSize}.bin and tokenizer.bin) — pass --tokenizer <file>`);
    tokenizer = loadTokenizer(beside);
  }
  if (tokenizer.vocabSize > model.vocabSize) {
    throw new TernlmError(`the tokenizer has ${tokenizer.vocabSize} tokens but the model only ${model.vocabSize} — they do not belong together`);
  }
  return tokenizer;
}
