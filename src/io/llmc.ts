// llm.c's file formats (github.com/karpathy/llm.c): GPT-2 checkpoints, tokenizer files and token
// shards, so that a model and its data move between ternlm and llm.c. Every file opens with a
// header of 256 little-endian int32 (1,024 bytes): magic, version, format fields, zeros.
//
// GPT-2 checkpoint (gpt2_124M.bin, gpt2_124M_bf16.bin, model_<step>.bin): magic 20240326,
//   version 3 = fp32 parameters, 5 = bf16 parameters (train_gpt2.c reads only 3; train_gpt2.cu
//   reads the one its precision was compiled for). Header [2] max_seq_len maxT, [3] vocab_size V,
//   [4] num_layers L, [5] num_heads, [6] channels C, [7] padded_vocab_size Vp. Then 16 tensors
//   back to back, each (L, ...) tensor one layer after another:
//     wte (Vp, C) | wpe (maxT, C) | ln1w (L, C) | ln1b (L, C) | qkvw (L, 3C, C) | qkvb (L, 3C) |
//     attprojw (L, C, C) | attprojb (L, C) | ln2w (L, C) | ln2b (L, C) | fcw (L, 4C, C) |
//     fcb (L, 4C) | fcprojw (L, C, 4C) | fcprojb (L, C) | lnfw (C) | lnfb (C)
//   Weights are (out, in), row-major. qkv's rows are q, k, v (C each), heads contiguous within
//   each. The output head is wte itself; its rows V..Vp-1 only pad the matmul to a multiple of 128
//   (their logits are never used) and are written as zeros.
// Tokenizer (gpt2_tokenizer.bin): magic 20240328, version 1 (no eot field: llm.c assumes GPT-2's
//   50256) or 2; [2] vocab size, [3] eot id (version 2). Then per token one uint8 length (1..255:
//   llm.c refuses empty tokens) and that many raw bytes (byte-level BPE pieces may split UTF-8).
// Token shard: magic 20240520, version 1, [2] token count (int32), then uint16 tokens. ternlm's own
//   shards (src/data/shards.ts) share this layout, so converting a prepared dataset copies files.
import { closeSync, copyFileSync, fstatSync, fsyncSync, openSync, readSync, renameSync, rmSync } from 'node:fs';
import { endianness } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { TernlmError } from '../core/errors.js';
import { removeStaleTemps, tempPathFor, writeFileAtomic } from './atomic.js';
import { ensureDir } from './fs.js';
import { bf16ToF32, f32ToBf16 } from './safetensors.js';

export const LLMC_HEADER_INTS = 256;
export const LLMC_HEADER_BYTES = LLMC_HEADER_INTS * 4;
export const LLMC_GPT2_MAGIC = 20240326;
export const LLMC_TOKENIZER_MAGIC = 20240328;
export const LLMC_TOKENS_MAGIC = 20240520;
const GPT2_VERSION = { fp32: 3, bf16: 5 } as const;
/** llm.c's dataloader reads the token count as an int32. */
const MAX_SHARD_TOKENS = 2 ** 31 - 1;
/** Elements converted per read of a bf16 tensor (bounds the scratch buffer). */
const BF16_CHUNK = 1 << 20;

const fmt = (n: number): string => n.toLocaleString('en-US');
const numel = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

// ---------------------------------------------------------------- GPT-2 checkpoints

/** The header's hyperparameters. */
export interface LlmcGpt2Shape {
  maxSeqLen: number;
  vocabSize: number;
  /** Rows of wte in the file: vocabSize rounded up to a multiple of 128 (`paddedVocab`). */
  paddedVocabSize: number;
  layers: number;
  heads: number;
  channels: number;
}

export type LlmcDtype = 'fp32' | 'bf16';

/** One ternlm tensor in the file: its place in floats from the first parameter. */
export interface LlmcParam {
  name: string;
  shape: number[];
  offset: number;
}

/** llm.c's 16 tensors in file order, named as ternlm's GPT-2 model names them ({l}: the layer). */
const TENSORS: readonly { name: string; layered: boolean; shape: (s: LlmcGpt2Shape) => number[] }[] = [
  { name: 'embed.weight', layered: false, shape: (s) => [s.vocabSize, s.channels] }, // wte: + (Vp - V) padding rows
  { name: 'pos_embed.weight', layered: false, shape: (s) => [s.maxSeqLen, s.channels] }, // wpe
  { name: 'blocks.{l}.ln1.weight', layered: true, shape: (s) => [s.channels] },
  { name: 'blocks.{l}.ln1.bias', layered: true, shape: (s) => [s.channels] },
  { name: 'blocks.{l}.attn.qkv.weight', layered: true, shape: (s) => [3 * s.channels, s.channels] },
  { name: 'blocks.{l}.attn.qkv.bias', layered: true, shape: (s) => [3 * s.channels] },
  { name: 'blocks.{l}.attn.proj.weight', layered: true, shape: (s) => [s.channels, s.channels] },
  { name: 'blocks.{l}.attn.proj.bias', layered: true, shape: (s) => [s.channels] },
  { name: 'blocks.{l}.ln2.weight', layered: true, shape: (s) => [s.channels] },
  { name: 'blocks.{l}.ln2.bias', layered: true, shape: (s) => [s.channels] },
  { name: 'blocks.{l}.mlp.fc.weight', layered: true, shape: (s) => [4 * s.channels, s.channels] },
  { name: 'blocks.{l}.mlp.fc.bias', layered: true, shape: (s) => [4 * s.channels] },
  { name: 'blocks.{l}.mlp.proj.weight', layered: true, shape: (s) => [s.channels, 4 * s.channels] },
  { name: 'blocks.{l}.mlp.proj.bias', layered: true, shape: (s) => [s.channels] },
  { name: 'norm_out.weight', layered: false, shape: (s) => [s.channels] }, // lnfw
  { name: 'norm_out.bias', layered: false, shape: (s) => [s.channels] }, // lnfb
];

/** llm.c pads the vocabulary (wte's rows) to a multiple of 128. */
export function paddedVocab(vocabSize: number): number {
  return Math.ceil(vocabSize / 128) * 128;
}

/** ternlm's names of a GPT-2 model's parameters, in the order of llm.c's file. */
export function llmcParamNames(layers: number): string[] {
  return TENSORS.flatMap((t) => (t.layered ? Array.from({ length: layers }, (_, l) => t.name.replace('{l}', String(l))) : [t.name]));
}

/** Every tensor's place in the file, and the floats of all parameters (padding rows included). */
export function llmcGpt2Layout(s: LlmcGpt2Shape): { params: LlmcParam[]; floats: number } {
  const params: LlmcParam[] = [];
  let offset = 0;
  for (const t of TENSORS) {
    const shape = t.shape(s);
    for (let l = 0; l < (t.layered ? s.layers : 1); l++) {
      params.push({ name: t.name.replace('{l}', String(l)), shape, offset });
      offset += numel(shape);
    }
    if (t.name === 'embed.weight') offset += (s.paddedVocabSize - s.vocabSize) * s.channels;
  }
  return { params, floats: offset };
}

function describeShape(s: LlmcGpt2Shape): string {
  return `maxT ${s.maxSeqLen}, vocab ${s.vocabSize} (padded ${s.paddedVocabSize}), ${s.layers} layers, ${s.heads} heads, ${s.channels} channels`;
}

/** Why these hyperparameters cannot describe a GPT-2 model, or null when they can. */
function shapeProblem(s: LlmcGpt2Shape): string | null {
  const fields = ['maxSeqLen', 'vocabSize', 'paddedVocabSize', 'layers', 'heads', 'channels'] as const;
  const bad = fields.find((f) => !Number.isInteger(s[f]) || s[f] < 1 || s[f] > 2 ** 30);
  if (bad) return `${bad} is ${s[bad]}, expected a positive integer`;
  if (s.paddedVocabSize < s.vocabSize) return `padded vocab size ${s.paddedVocabSize} is below the vocab size ${s.vocabSize}`;
  if (s.channels % s.heads !== 0) return `${s.channels} channels do not split into ${s.heads} heads`;
  return null;
}

function assertLittleEndianHost(): void {
  // Typed arrays use the host's byte order; llm.c's files are little-endian.
  if (endianness() !== 'LE') throw new TernlmError('llm.c file I/O needs a little-endian host');
}

/** The bytes of a typed array, without copying. */
function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

function openForRead(path: string, what: string): number {
  try {
    return openSync(path, 'r');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new TernlmError(`${what} ${path} does not exist`);
    throw new TernlmError(`cannot open ${what} ${path}: ${(err as Error).message}`);
  }
}

/** Fill `out` from file offset `pos`; the caller has checked the file's size. */
function readExact(fd: number, out: Uint8Array, pos: number, path: string): void {
  for (let done = 0; done < out.length; ) {
    const n = readSync(fd, out, done, Math.min(out.length - done, 1 << 30), pos + done);
    if (n === 0) throw new TernlmError(`${path} ended early at byte ${fmt(pos + done)} — it is truncated or changed while being read`);
    done += n;
  }
}

/**
 * Open an llm.c file, check its size covers the 256-int header, and check the magic number.
 * Returns the open fd (the caller closes it), the file size and the header.
 */
function openWithHeader(path: string, what: string, magic: number, wayOut: string): { fd: number; size: number; header: Int32Array } {
  assertLittleEndianHost();
  const fd = openForRead(path, what);
  try {
    const size = fstatSync(fd).size;
    if (size < LLMC_HEADER_BYTES) {
      throw new TernlmError(`${path} is not an llm.c ${what}: ${fmt(size)} bytes is shorter than the ${fmt(LLMC_HEADER_BYTES)}-byte header — ${wayOut}`);
    }
    const header = new Int32Array(LLMC_HEADER_INTS);
    readExact(fd, bytesOf(header), 0, path);
    if (header[0] !== magic) throw new TernlmError(`${path} is not an llm.c ${what} (magic ${header[0]}, expected ${magic}) — ${wayOut}`);
    return { fd, size, header };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** Refuse a file whose size is not what its header describes. */
function checkSize(path: string, size: number, expected: number, described: string, wayOut: string): void {
  if (size < expected) throw new TernlmError(`${path} is truncated: its header (${described}) needs ${fmt(expected)} bytes, the file has ${fmt(size)} — ${wayOut}`);
  if (size > expected) throw new TernlmError(`${path} has ${fmt(size)} bytes but its header (${described}) describes ${fmt(expected)}: a corrupted file — ${wayOut}`);
}

/** True when `head` (the start of a file) carries the magic of an llm.c GPT-2 checkpoint. */
export function isLlmcGpt2(head: Uint8Array): boolean {
  return head.length >= 4 && new DataView(head.buffer, head.byteOffset, 4).getInt32(0, true) === LLMC_GPT2_MAGIC;
}

export interface LlmcGpt2Checkpoint {
  shape: LlmcGpt2Shape;
  /** How the file stored the parameters; they are returned as f32 either way. */
  dtype: LlmcDtype;
  /** Named as `llmcParamNames`, in file order; embed.weight without the padding rows. */
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
}

/**
 * Open an llm.c GPT-2 checkpoint and check its header: magic, version, a plausible shape, and a
 * file size that matches. The caller closes the returned fd.
 */
function openGpt2(path: string): { fd: number; shape: LlmcGpt2Shape; dtype: LlmcDtype } {
  const wayOut = "export it again with llm.c's train_gpt2.py, or ternlm's writeLlmcGpt2";
  const { fd, size, header } = openWithHeader(path, 'GPT-2 checkpoint', LLMC_GPT2_MAGIC, wayOut);
  try {
    const version = header[1];
    const dtype: LlmcDtype | undefined = version === GPT2_VERSION.fp32 ? 'fp32' : version === GPT2_VERSION.bf16 ? 'bf16' : undefined;
    if (!dtype) throw new TernlmError(`${path} is an llm.c GPT-2 checkpoint of version ${version}; only versions 3 (fp32) and 5 (bf16) can be read — ${wayOut}`);
    const shape: LlmcGpt2Shape = {
      maxSeqLen: header[2], vocabSize: header[3], layers: header[4], heads: header[5], channels: header[6], paddedVocabSize: header[7],
    };
    const problem = shapeProblem(shape);
    if (problem) throw new TernlmError(`${path} has an implausible GPT-2 header: ${problem} — ${wayOut}`);
    const width = dtype === 'fp32' ? 4 : 2;
    checkSize(path, size, LLMC_HEADER_BYTES + llmcGpt2Layout(shape).floats * width, `${describeShape(shape)}, ${dtype}`, wayOut);
    return { fd, shape, dtype };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** The shape and dtype of an llm.c GPT-2 checkpoint, from its header (the whole file checked for size). */
export function readLlmcGpt2Shape(path: string): { shape: LlmcGpt2Shape; dtype: LlmcDtype } {
  const { fd, shape, dtype } = openGpt2(path);
  closeSync(fd);
  return { shape, dtype };
}

/**
 * Read an llm.c GPT-2 checkpoint. Each tensor is read straight into its own Float32Array (bf16
 * is widened in chunks through one small buffer), so memory is the model's f32 size once.
 */
export function readLlmcGpt2(path: string): LlmcGpt2Checkpoint {
  const { fd, shape, dtype } = openGpt2(path);
  try {
    const { params } = llmcGpt2Layout(shape);
    const width = dtype === 'fp32' ? 4 : 2;
    const scratch = dtype === 'bf16' ? new Uint16Array(BF16_CHUNK) : null;
    const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
    for (const p of params) {
      const data = new Float32Array(numel(p.shape));
      const pos = LLMC_HEADER_BYTES + p.offset * width;
      if (!scratch) readExact(fd, bytesOf(data), pos, path);
      else {
        for (let i = 0; i < data.length; i += BF16_CHUNK) {
          const part = scratch.subarray(0, Math.min(BF16_CHUNK, data.length - i));
          readExact(fd, bytesOf(part), pos + 2 * i, path);
          bf16ToF32(part, data.subarray(i, i + part.length));
        }
      }
      tensors.set(p.name, { shape: p.shape, data });
    }
    return { shape, dtype, tensors };
  } finally {
    closeSync(fd);
  }
}

/**
 * Write an llm.c GPT-2 checkpoint atomically. `tensor(name)` gives each parameter (names of
 * `llmcParamNames`) as f32 of its shape; embed.weight has vocabSize rows, the padding rows are
 * written as zeros. fp32 tensors are written from the caller's arrays without a copy; bf16 needs
 * one half-size copy. Returns the file size.
 */
export function writeLlmcGpt2(path: string, shape: LlmcGpt2Shape, tensor: (name: string) => Float32Array, dtype: LlmcDtype): { bytes: number } {
  assertLittleEndianHost();
  const problem = shapeProblem(shape);
  if (problem) throw new TernlmError(`cannot write ${path}: not a GPT-2 shape (${problem})`);
  const header = new Int32Array(LLMC_HEADER_INTS);
  header.set([LLMC_GPT2_MAGIC, GPT2_VERSION[dtype], shape.maxSeqLen, shape.vocabSize, shape.layers, shape.heads, shape.channels, shape.paddedVocabSize]);
  const width = dtype === 'fp32' ? 4 : 2;
  const chunks: Uint8Array[] = [bytesOf(header)];
  const { params, floats } = llmcGpt2Layout(shape);
  let at = 0; // floats written so far
  for (const p of params) {
    if (p.offset > at) chunks.push(new Uint8Array((p.offset - at) * width)); // wte's padding rows
    const data = tensor(p.name);
    const n = numel(p.shape);
    if (data.length !== n) throw new TernlmError(`cannot write ${path}: tensor ${p.name} has ${fmt(data.length)} values, its shape [${p.shape.join(', ')}] needs ${fmt(n)}`);
    chunks.push(bytesOf(dtype === 'fp32' ? data : f32ToBf16(data)));
    at = p.offset + n;
  }
  writeFileAtomic(path, chunks);
  return { bytes: LLMC_HEADER_BYTES + floats * width };
}

// ---------------------------------------------------------------- tokenizer files

/** What `llmcTokenBytes` needs of a tokenizer (ternlm's `Tokenizer` has it). */
export interface TokenBytesSource {
  readonly vocabSize: number;
  decodeToken?(id: number): Uint8Array;
}

/** The raw bytes of every token id of a tokenizer, for `writeLlmcTokenizer`. */
export function llmcTokenBytes(tokenizer: TokenBytesSource): Uint8Array[] {
  const decode = tokenizer.decodeToken?.bind(tokenizer);
  if (!decode) throw new TernlmError('this tokenizer cannot give the bytes of single tokens, so it cannot be written as an llm.c tokenizer file');
  return Array.from({ length: tokenizer.vocabSize }, (_, id) => decode(id));
}

/** Write an llm.c tokenizer file (version 2: with the eot id) atomically. */
export function writeLlmcTokenizer(path: string, tokenBytes: readonly Uint8Array[], eotId: number): void {
  const n = tokenBytes.length;
  if (!Number.isInteger(eotId) || eotId < 0 || eotId >= n) throw new TernlmError(`cannot write ${path}: eot id ${eotId} is outside the vocabulary [0, ${n})`);
  const body = new Uint8Array(n + tokenBytes.reduce((sum, t) => sum + t.length, 0));
  let off = 0;
  tokenBytes.forEach((t, id) => {
    if (t.length === 0 || t.length > 255) {
      throw new TernlmError(`cannot write ${path}: token ${id} has ${t.length} bytes, llm.c's tokenizer file stores 1 to 255 bytes per token`);
    }
    body[off] = t.length;
    body.set(t, off + 1);
    off += 1 + t.length;
  });
  const header = new Int32Array(LLMC_HEADER_INTS);
  header.set([LLMC_TOKENIZER_MAGIC, 2, n, eotId]);
  writeFileAtomic(path, [bytesOf(header), body]);
}

/** Read an llm.c tokenizer file: the bytes of every token, and the eot id (null in version 1, where llm.c assumes 50256). */
export function readLlmcTokenizer(path: string): { tokens: Uint8Array[]; eotId: number | null } {
  const wayOut = "write it again with llm.c's train_gpt2.py or ternlm's writeLlmcTokenizer";
  const { fd, size, header } = openWithHeader(path, 'tokenizer file', LLMC_TOKENIZER_MAGIC, wayOut);
  let body: Uint8Array;
  try {
    body = new Uint8Array(size - LLMC_HEADER_BYTES);
    readExact(fd, body, LLMC_HEADER_BYTES, path);
  } finally {
    closeSync(fd);
  }
  const [, version, n, eot] = header;
  if (version !== 1 && version !== 2) throw new TernlmError(`${path} is an llm.c tokenizer file of version ${version}; only versions 1 and 2 can be read — ${wayOut}`);
  if (n < 1 || (version === 2 && (eot < 0 || eot >= n))) throw new TernlmError(`${path} has an implausible tokenizer header (vocab size ${n}, eot ${eot}) — ${wayOut}`);
  const tokens: Uint8Array[] = [];
  let off = 0;
  for (let id = 0; id < n; id++) {
    if (off >= body.length || off + 1 + body[off] > body.length) {
      throw new TernlmError(`${path} is truncated: it ends in token ${fmt(id)} of ${fmt(n)} — ${wayOut}`);
    }
    const len = body[off];
    tokens.push(body.slice(off + 1, off + 1 + len));
    off += 1 + len;
  }
  if (off !== body.length) throw new TernlmError(`${path} has ${fmt(body.length - off)} bytes after its ${fmt(n)} tokens: a corrupted file — ${wayOut}`);
  return { tokens, eotId: version === 2 ? eot : null };
}

// ---------------------------------------------------------------- token shards

/** Write tokens as an llm.c data shard (uint16), atomically. */
export function writeLlmcTokens(path: string, tokens: Uint16Array | ArrayLike<number>): void {
  assertLittleEndianHost();
  if (tokens.length > MAX_SHARD_TOKENS) throw new TernlmError(`cannot write ${path}: ${fmt(tokens.length)} tokens exceed llm.c's limit of 2^31 - 1 per shard`);
  let data: Uint16Array;
  if (tokens instanceof Uint16Array) data = tokens;
  else {
    data = new Uint16Array(tokens.length);
    for (let i = 0; i < tokens.length; i++) {
      const t = tokens[i];
      if (!Number.isInteger(t) || t < 0 || t > 0xffff) {
        throw new TernlmError(`cannot write ${path}: token ${i} is ${t}, but llm.c's shards store uint16 ids (a vocabulary of at most 65,536)`);
      }
      data[i] = t;
    }
  }
  const header = new Int32Array(LLMC_HEADER_INTS);
  header.set([LLMC_TOKENS_MAGIC, 1, data.length]);
  writeFileAtomic(path, [bytesOf(header), bytesOf(data)]);
}

/** Check an open shard's header and size; returns its token count. */
function checkTokensHeader(path: string, size: number, header: Int32Array, wayOut: string): number {
  if (header[1] !== 1) throw new TernlmError(`${path} is an llm.c token shard of version ${header[1]}; only version 1 (uint16 tokens) can be read — ${wayOut}`);
  const count = header[2];
  if (count < 0) throw new TernlmError(`${path} counts ${fmt(count >>> 0)} tokens, more than llm.c's int32 count holds (2^31 - 1) — ${wayOut}`);
  checkSize(path, size, LLMC_HEADER_BYTES + 2 * count, `${fmt(count)} uint16 tokens`, wayOut);
  return count;
}

/** Read all tokens of an llm.c data shard (magic 20240520, uint16). */
export function readLlmcTokens(path: string): Uint16Array {
  const wayOut = "write it again with llm.c's dev/data scripts or ternlm's writeLlmcTokens";
  const { fd, size, header } = openWithHeader(path, 'token shard', LLMC_TOKENS_MAGIC, wayOut);
  try {
    const tokens = new Uint16Array(checkTokensHeader(path, size, header, wayOut));
    readExact(fd, bytesOf(tokens), LLMC_HEADER_BYTES, path);
    return tokens;
  } finally {
    closeSync(fd);
  }
}

/** What `writeLlmcDataset` needs of a prepared dataset's meta.json (`DatasetMeta` has it). */
export interface LlmcDatasetSource {
  vocabSize: number;
  splits: Record<'train' | 'val', { shards: readonly { file: string; tokens: number }[] }>;
}

export interface LlmcDatasetFiles {
  train: { path: string; tokens: number }[];
  val: { path: string; tokens: number }[];
}

/**
 * Copy a ternlm prepared dataset (`dataDir`, described by its meta.json as `readMeta` returns it)
 * to llm.c's data files, one per non-empty ternlm shard, tokens unchanged and in order:
 * `<outDir>/<name>_train_000000.bin`, `_000001`, ... and `<outDir>/<name>_val_000000.bin`, ...
 * (`outDir` is created if missing). llm.c's dev/data scripts name shards the same way
 * (`<name>_<split>_%06d.bin`, though fineweb.py numbers val and train in one sequence, val first).
 * train_gpt2.cu globs them: pass `-i '<outDir>/<name>_train_*.bin' -j '<outDir>/<name>_val_*.bin'`;
 * glob sorts, so the zero-padded numbers keep the order. Its dataloader needs every shard to hold
 * more than B * T * processes tokens. (The CPU reference train_gpt2.c takes no arguments: it opens
 * dev/data/tinyshakespeare/tiny_shakespeare_{train,val}.bin, else TinyStories_{train,val}.bin.)
 * Each source shard's header is checked, then it is copied to a temp file, fsynced and renamed.
 */
export function writeLlmcDataset(dataDir: string, meta: LlmcDatasetSource, outDir: string, name: string): LlmcDatasetFiles {
  if (meta.vocabSize > 65536) throw new TernlmError(`${dataDir} has a vocabulary of ${fmt(meta.vocabSize)} tokens; llm.c's GPT-2 shards store uint16 ids (at most 65,536) — prepare it with a smaller tokenizer`);
  if (!/^[\w.-]+$/.test(name)) throw new TernlmError(`dataset name '${name}' must be letters, digits, '_', '-' or '.' (it becomes part of llm.c's file names and glob patterns)`);
  ensureDir(outDir);
  const out: LlmcDatasetFiles = { train: [], val: [] };
  for (const split of ['train', 'val'] as const) {
    const shards = meta.splits[split].shards.filter((s) => s.tokens > 0);
    if (shards.length === 0) throw new TernlmError(`${dataDir} has no ${split} tokens; llm.c needs both splits — re-run ternlm prepare${split === 'val' ? ' with --val-fraction above 0' : ''}`);
    shards.forEach((s, i) => {
      const path = join(outDir, `${name}_${split}_${String(i).padStart(6, '0')}.bin`);
      copyShard(join(dataDir, s.file), path, s.tokens);
      out[split].push({ path, tokens: s.tokens });
    });
  }
  return out;
}

/** Copy a ternlm shard, which must be a uint16 llm.c shard of `tokens` tokens, to `dest` atomically. */
function copyShard(src: string, dest: string, tokens: number): void {
  const wayOut = 're-run ternlm prepare';
  if (tokens > MAX_SHARD_TOKENS) throw new TernlmError(`${src} holds ${fmt(tokens)} tokens, more than llm.c's int32 count holds (2^31 - 1) — re-run ternlm prepare with a smaller --shard-tokens`);
  const { fd, size, header } = openWithHeader(src, 'token shard', LLMC_TOKENS_MAGIC, wayOut);
  try {
    const count = checkTokensHeader(src, size, header, wayOut);
    if (count !== tokens) throw new TernlmError(`${src} holds ${fmt(count)} tokens but meta.json lists ${fmt(tokens)} — ${wayOut}`);
  } finally {
    closeSync(fd);
  }
  removeStaleTemps(dirname(dest), basename(dest));
  const tmp = tempPathFor(dest);
  try {
    copyFileSync(src, tmp);
    const t = openSync(tmp, 'r+');
    try {
      fsyncSync(t);
    } finally {
      closeSync(t);
    }
    renameSync(tmp, dest);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}
