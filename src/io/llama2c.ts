// llama2.c checkpoints, legacy format (version 0, as run.c reads them): a header of 7 int32
//   dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size (< 0: separate classifier), seq_len
// then f32 weights in this order:
//   token_embedding (vocab, dim) | rms_att (L, dim) | wq (L, dim, dim) | wk (L, kvDim, dim) |
//   wv (L, kvDim, dim) | wo (L, dim, dim) | rms_ffn (L, dim) | w1 (L, hidden, dim) |
//   w2 (L, dim, hidden) | w3 (L, hidden, dim) | rms_final (dim) |
//   freq_cis_real, freq_cis_imag (seq_len * headSize/2 each; skipped: RoPE is recomputed) |
//   wcls (vocab, dim) only when vocab_size was negative.
// The weights are read from the file straight into one block of the wasm heap; src/infer/load.ts
// turns that block into a Llama engine (io parses bytes and knows no engine).
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { TernlmError } from '../core/errors.js';
import { rt } from '../core/runtime.js';
import { Tensor } from '../core/tensor.js';

export const LLAMA2C_HEADER_BYTES = 28;
/** Magic of llama2.c's newer export formats (versions 1 and 2), which this reader does not take. */
const AK42_MAGIC = 0x616b3432;
/** The wasm32 heap tops out at 4 GiB; leave room for activations and the KV cache. */
const MAX_WEIGHT_BYTES = 3.5 * 2 ** 30;

/** The shape of a Llama model: the header's seven numbers (vocab_size as its magnitude). */
export interface LlamaShape {
  dim: number;
  /** Width of the SwiGLU hidden layer. */
  hiddenDim: number;
  nLayers: number;
  /** Query heads; headSize = dim / nHeads. */
  nHeads: number;
  /** Key/value heads (< nHeads: grouped-query attention; each serves nHeads / nKvHeads query heads). */
  nKvHeads: number;
  vocabSize: number;
  /** Longest sequence (positions of the KV cache and of the RoPE table). */
  seqLen: number;
}

export interface Llama2cHeader extends LlamaShape {
  /** The classifier is the token embedding (vocab_size > 0: no wcls in the file). */
  sharedClassifier: boolean;
}

/** A v0 checkpoint in the heap. */
export interface Llama2cCheckpoint {
  header: Llama2cHeader;
  /**
   * The f32 weights in the file's order, token_embedding to rms_final (`llama2cBodyFloats`),
   * then wcls when the classifier is separate; the RoPE tables are left out.
   */
  weights: Tensor;
}

/**
 * The header of a v0 checkpoint, or null when the first 28 bytes cannot be one (used to sniff
 * file types: a text or safetensors file fails these ranges).
 */
export function parseLlama2cHeader(bytes: Uint8Array): Llama2cHeader | null {
  if (bytes.length < LLAMA2C_HEADER_BYTES) return null;
  const h = new DataView(bytes.buffer, bytes.byteOffset, LLAMA2C_HEADER_BYTES);
  const [dim, hiddenDim, nLayers, nHeads, nKvHeads, vocab, seqLen] = Array.from({ length: 7 }, (_, i) => h.getInt32(i * 4, true));
  const within = (v: number, hi: number): boolean => v >= 1 && v <= hi;
  const plausible = within(dim, 1 << 16) && within(hiddenDim, 1 << 18) && within(nLayers, 1024) && within(nHeads, 1024)
    && within(nKvHeads, nHeads) && within(Math.abs(vocab), 1 << 22) && within(seqLen, 1 << 22)
    && dim % nHeads === 0 && nHeads % nKvHeads === 0 && (dim / nHeads) % 2 === 0;
  if (!plausible) return null;
  return { dim, hiddenDim, nLayers, nHeads, nKvHeads, vocabSize: Math.abs(vocab), seqLen, sharedClassifier: vocab > 0 };
}

/** True when `bytes` (the start of a file) carry llama2.c's version-1/2 magic. */
export function isLlama2cVersionedExport(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && new DataView(bytes.buffer, bytes.byteOffset, 8).getUint32(0, true) === AK42_MAGIC;
}

/** Floats from token_embedding through rms_final. */
export function llama2cBodyFloats(h: Llama2cHeader): number {
  const kvDim = (h.dim * h.nKvHeads) / h.nHeads;
  const perLayer = 2 * h.dim + 2 * h.dim * h.dim + 2 * h.dim * kvDim + 3 * h.dim * h.hiddenDim;
  return h.vocabSize * h.dim + h.nLayers * perLayer + h.dim;
}

/** Floats of the separate classifier wcls (0 when it is the embedding). */
function classifierFloats(h: Llama2cHeader): number {
  return h.sharedClassifier ? 0 : h.vocabSize * h.dim;
}

/** Bytes a v0 checkpoint with this header must have. */
export function llama2cFileBytes(h: Llama2cHeader): number {
  const freqCis = h.seqLen * (h.dim / h.nHeads); // real and imaginary halves together
  return LLAMA2C_HEADER_BYTES + 4 * (llama2cBodyFloats(h) + freqCis + classifierFloats(h));
}

function describe(c: Llama2cHeader): string {
  return `dim ${c.dim}, hidden ${c.hiddenDim}, ${c.nLayers} layers, ${c.nHeads} heads, ${c.nKvHeads} kv heads, vocab ${c.vocabSize}, seq_len ${c.seqLen}`;
}

/** Read `bytes` bytes at file offset `pos` into the heap at `ptr`. */
function readInto(fd: number, ptr: number, bytes: number, pos: number, path: string): void {
  let done = 0;
  while (done < bytes) {
    const chunk = Math.min(bytes - done, 1 << 30);
    const view = new Uint8Array(rt().memory.buffer, ptr + done, chunk);
    const n = readSync(fd, view, 0, chunk, pos + done);
    if (n === 0) throw new TernlmError(`${path} ended early while reading weights at byte ${pos + done} — the file is truncated`);
    done += n;
  }
}

/** Read a v0 llama2.c checkpoint: its header, and its weights into the heap. */
export function readLlama2c(path: string): Llama2cCheckpoint {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new TernlmError(`model file ${path} does not exist`);
    throw new TernlmError(`cannot open model file ${path}: ${(err as Error).message}`);
  }
  try {
    const size = fstatSync(fd).size;
    const head = new Uint8Array(LLAMA2C_HEADER_BYTES);
    const got = readSync(fd, head, 0, LLAMA2C_HEADER_BYTES, 0);
    if (got < LLAMA2C_HEADER_BYTES) {
      throw new TernlmError(`${path} is not a llama2.c checkpoint: ${size} bytes is shorter than the ${LLAMA2C_HEADER_BYTES}-byte header`);
    }
    if (isLlama2cVersionedExport(head)) {
      const version = new DataView(head.buffer).getInt32(4, true);
      throw new TernlmError(`${path} is a llama2.c export of version ${version}; only the legacy version 0 format is supported — re-export it with llama2.c's export.py --version 0`);
    }
    const header = parseLlama2cHeader(head);
    if (!header) throw new TernlmError(`${path} is not a llama2.c checkpoint: its first 28 bytes are not a plausible header (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len)`);
    const expected = llama2cFileBytes(header);
    if (size < expected) {
      throw new TernlmError(`${path} is truncated: its header (${describe(header)}) needs ${expected.toLocaleString('en-US')} bytes, the file has ${size.toLocaleString('en-US')} — download it again`);
    }
    if (size > expected) {
      throw new TernlmError(`${path} has ${size.toLocaleString('en-US')} bytes but its header (${describe(header)}) describes ${expected.toLocaleString('en-US')}: not a llama2.c version-0 checkpoint, or a corrupted one`);
    }

    const bodyFloats = llama2cBodyFloats(header);
    const clsFloats = classifierFloats(header);
    const weightBytes = 4 * (bodyFloats + clsFloats);
    if (weightBytes > MAX_WEIGHT_BYTES) {
      throw new TernlmError(`${path} holds ${(weightBytes / 2 ** 30).toFixed(1)} GiB of f32 weights; the wasm heap holds at most 4 GiB`);
    }
    const storage = Tensor.empty([bodyFloats + clsFloats]);
    try {
      readInto(fd, storage.ptr, 4 * bodyFloats, LLAMA2C_HEADER_BYTES, path);
      if (clsFloats > 0) readInto(fd, storage.ptr + 4 * bodyFloats, 4 * clsFloats, expected - 4 * clsFloats, path);
    } catch (err) {
      storage.dispose();
      throw err;
    }
    return { header, weights: storage };
  } finally {
    closeSync(fd);
  }
}
