// The safetensors file format (checkpoints, exported models, and other projects' weights).
//
// Layout: 8-byte little-endian u64 header length N, then N bytes of JSON
//   {"<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"<key>": "<string>"}}
// then the data buffer; offsets are relative to the buffer's start. We pad the header with
// spaces to a multiple of 8 so that every tensor we write starts 8-byte aligned.
//
// Reading parses the header, then fetches one tensor's bytes at a time from a byte source: a
// file's positioned reads (safetensors.ts; a model file can be hundreds of MB and a caller usually
// wants a few tensors of it) or bytes already in memory (a browser tab).
//
// Integrity: the files ternlm writes carry a CRC-32 of every tensor's bytes, and one of the
// metadata, in the metadata entry `ternlm.crc32` (a JSON object: tensor name -> 8 hex digits,
// "__metadata__" -> the metadata's). Every read of a tensor checks its checksum and opening checks
// the metadata's, so a flipped byte is refused naming the damaged tensor. Files written by other
// tools have no such entry and are read unchecked.
//
// This module is browser-safe: safetensors.ts adds reading and writing files in Node.
import { TernlmError } from '../core/errors.js';
import { crc32Hex } from './crc32.js';

/** The metadata key that holds the checksums (hidden from `SafetensorsFile.metadata`). */
export const CHECKSUM_KEY = 'ternlm.crc32';

/** A file whose bytes no longer match the checksums written with them. */
export class DamagedFileError extends TernlmError {
  constructor(readonly path: string, readonly what: string) {
    super(`${path} is damaged: ${what} does not match the checksum written with it — the file changed after it was saved; use a good copy (or, for a run, the previous checkpoint ckpt.prev.safetensors)`);
    this.name = 'DamagedFileError';
  }
}

/** CRC of string metadata, independent of key order. */
function metadataChecksum(meta: Readonly<Record<string, string>>): string {
  const entries = Object.keys(meta).sort().map((k) => [k, meta[k]]);
  return crc32Hex(new TextEncoder().encode(JSON.stringify(entries)));
}

export type SafetensorsDType = 'F32' | 'F16' | 'BF16' | 'I32' | 'I16' | 'U8' | 'I8';

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Readonly<Record<SafetensorsDType, number>> = { F32: 4, F16: 2, BF16: 2, I32: 4, I16: 2, U8: 1, I8: 1 };

/** The reference implementation refuses headers above 100 MB; so do we (a garbage length would otherwise allocate it). */
const MAX_HEADER_BYTES = 100_000_000;

export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
  /** Little-endian element bytes, numel(shape) * DTYPE_BYTES[dtype] long (any typed array is taken as its bytes). */
  data: Uint8Array | ArrayBufferView;
}

export interface TensorInfo {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
  /** Byte range in the data buffer, [begin, end). */
  begin: number;
  end: number;
}

export interface TensorData {
  dtype: SafetensorsDType;
  shape: readonly number[];
  data: Uint8Array;
}

export interface SafetensorsFile {
  readonly path: string;
  /** Tensors in file order (by data offset). */
  readonly tensors: readonly TensorInfo[];
  readonly metadata: Readonly<Record<string, string>>;
  /** Byte offset of the data buffer in the file (8 + header length). */
  readonly dataStart: number;
  readonly fileBytes: number;
  has(name: string): boolean;
  info(name: string): TensorInfo;
  /** One tensor's raw bytes, read from disk now. */
  read(name: string): TensorData;
  /** One float tensor (F32, F16 or BF16) as f32; written into `out` when given (length numel). */
  readF32(name: string, out?: Float32Array): Float32Array;
  /** True when the file carries ternlm's checksums (every read is then verified). */
  readonly checksummed: boolean;
  /** Read every tensor once, checking its checksum (a DamagedFileError names the first bad one). */
  verifyAll(): void;
  close(): void;
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function assertLittleEndianHost(): void {
  // Typed arrays use the host's byte order and the format is little-endian.
  if (new Uint8Array(Uint16Array.of(1).buffer)[0] !== 1) throw new TernlmError('safetensors I/O needs a little-endian host');
}

function isDType(s: unknown): s is SafetensorsDType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPE_BYTES, s);
}

function asBytes(data: Uint8Array | ArrayBufferView): Uint8Array {
  return data instanceof Uint8Array ? data : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

// ---------------------------------------------------------------- writing

/**
 * The bytes of a safetensors file of `tensors` and string `metadata`, with a checksum of every
 * tensor, as chunks: the header, then the tensors' own buffers (nothing is copied but the
 * header). `path` (the file to be, or what the bytes are called) names it in errors.
 */
export function encodeSafetensors(path: string, tensors: readonly TensorToWrite[], metadata: Record<string, string> = {}): { chunks: Uint8Array[]; bytes: number } {
  assertLittleEndianHost();
  const header: Record<string, unknown> = {};
  const meta: Record<string, string> = {};
  for (const [k, v] of Object.entries(metadata)) {
    if (typeof v !== 'string') throw new TernlmError(`cannot write ${path}: metadata '${k}' is a ${typeof v}, safetensors metadata values are strings (JSON.stringify it)`);
    if (k === CHECKSUM_KEY) throw new TernlmError(`cannot write ${path}: the metadata key '${CHECKSUM_KEY}' is reserved for checksums`);
    meta[k] = v;
  }
  const checksums: Record<string, string> = { __metadata__: metadataChecksum(meta) };

  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const t of tensors) {
    if (t.name === '__metadata__' || t.name.length === 0) throw new TernlmError(`cannot write ${path}: '${t.name}' is not a valid tensor name`);
    if (Object.prototype.hasOwnProperty.call(header, t.name)) throw new TernlmError(`cannot write ${path}: tensor '${t.name}' appears twice`);
    if (!isDType(t.dtype)) throw new TernlmError(`cannot write ${path}: tensor '${t.name}' has unknown dtype '${String(t.dtype)}'`);
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new TernlmError(`cannot write ${path}: tensor '${t.name}' has invalid shape [${t.shape.join(', ')}]`);
    }
    const bytes = asBytes(t.data);
    const expected = numel(t.shape) * DTYPE_BYTES[t.dtype];
    if (bytes.byteLength !== expected) {
      throw new TernlmError(`cannot write ${path}: tensor '${t.name}' (${t.dtype} [${t.shape.join(', ')}]) needs ${fmt(expected)} bytes, got ${fmt(bytes.byteLength)}`);
    }
    header[t.name] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + expected] };
    checksums[t.name] = crc32Hex(bytes);
    offset += expected;
    if (bytes.byteLength > 0) chunks.push(bytes);
  }
  header.__metadata__ = { ...meta, [CHECKSUM_KEY]: JSON.stringify(checksums) };

  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + padded);
  new DataView(head.buffer).setBigUint64(0, BigInt(padded), true);
  head.set(json, 8);
  head.fill(0x20, 8 + json.length);
  return { chunks: [head, ...chunks], bytes: head.length + offset };
}

/** The safetensors file of `tensors` and `metadata` as one array of bytes (see encodeSafetensors). */
export function safetensorsBytes(name: string, tensors: readonly TensorToWrite[], metadata: Record<string, string> = {}): Uint8Array {
  const { chunks, bytes } = encodeSafetensors(name, tensors, metadata);
  const out = new Uint8Array(bytes);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}

// ---------------------------------------------------------------- reading

/** Where a safetensors file's bytes come from: a file's positioned reads, or memory. */
export interface ByteSource {
  /** The file's path (or what the bytes are called), for messages. */
  readonly path: string;
  readonly fileBytes: number;
  /** Exactly `length` bytes at `position`, in a fresh buffer of their own (offset 0). */
  readAt(position: number, length: number): Uint8Array;
  close(): void;
}

/** Parse and check the header against the file size; throws a TernlmError naming the first problem. */
function parseHeader(path: string, text: string, dataStart: number, fileBytes: number): { tensors: TensorInfo[]; metadata: Record<string, string> } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new TernlmError(`${path} is not a safetensors file: its header is not valid JSON (${(err as Error).message})`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new TernlmError(`${path} is not a safetensors file: its header is not a JSON object`);
  }
  const metadata: Record<string, string> = {};
  const tensors: TensorInfo[] = [];
  for (const [name, entry] of Object.entries(raw as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) throw new TernlmError(`${path} has a corrupt header: __metadata__ is not an object`);
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== 'string') throw new TernlmError(`${path} has a corrupt header: metadata '${k}' is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const e = entry as { dtype?: unknown; shape?: unknown; data_offsets?: unknown } | null;
    if (e === null || typeof e !== 'object') throw new TernlmError(`${path} has a corrupt header: entry '${name}' is not an object`);
    if (!isDType(e.dtype)) throw new TernlmError(`${path}: tensor '${name}' has dtype '${String(e.dtype)}', which ternlm does not read (F32, F16, BF16, I32, I16, U8, I8)`);
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw new TernlmError(`${path} has a corrupt header: tensor '${name}' has shape ${JSON.stringify(shape)}`);
    }
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((x) => Number.isSafeInteger(x) && x >= 0) || off[1] < off[0]) {
      throw new TernlmError(`${path} has a corrupt header: tensor '${name}' has data_offsets ${JSON.stringify(off)}`);
    }
    const [begin, end] = off as [number, number];
    const expected = numel(shape) * DTYPE_BYTES[e.dtype];
    if (end - begin !== expected) {
      throw new TernlmError(`${path} has a corrupt header: tensor '${name}' (${e.dtype} [${shape.join(', ')}]) needs ${fmt(expected)} bytes but its data_offsets span ${fmt(end - begin)}`);
    }
    tensors.push({ name, dtype: e.dtype, shape: Object.freeze([...shape]), begin, end });
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < tensors.length; i++) {
    const prev = tensors[i - 1], cur = tensors[i];
    if (cur.begin < prev.end) throw new TernlmError(`${path} has a corrupt header: tensors '${prev.name}' and '${cur.name}' overlap (bytes ${fmt(cur.begin)}..${fmt(prev.end)})`);
  }
  const last = tensors[tensors.length - 1];
  if (last && dataStart + last.end > fileBytes) {
    throw new TernlmError(`${path} is truncated: tensor '${last.name}' ends at byte ${fmt(dataStart + last.end)} but the file has ${fmt(fileBytes)} — the file was cut off while copying or writing?`);
  }
  return { tensors, metadata };
}

/** Open a safetensors file from its byte source: read and validate its header; tensors are read on demand. */
export function openSafetensorsFrom(source: ByteSource): SafetensorsFile {
  assertLittleEndianHost();
  const { path, fileBytes } = source;
  if (fileBytes < 8) throw new TernlmError(`${path} is not a safetensors file: it has ${fileBytes} bytes, fewer than the 8-byte header length`);
  const headerLen = new DataView(source.readAt(0, 8).buffer).getBigUint64(0, true);
  if (headerLen > BigInt(fileBytes - 8)) {
    throw new TernlmError(`${path} is truncated or not a safetensors file: its header length is ${fmt(Number(headerLen))} bytes but the file has ${fmt(fileBytes)}`);
  }
  if (headerLen > BigInt(MAX_HEADER_BYTES)) throw new TernlmError(`${path} is not a safetensors file: its header length ${fmt(Number(headerLen))} passes the 100 MB limit`);
  const n = Number(headerLen);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(source.readAt(8, n));
  if (!text.startsWith('{')) throw new TernlmError(`${path} is not a safetensors file: its header does not start with '{'`);
  const dataStart = 8 + n;
  const { tensors, metadata } = parseHeader(path, text, dataStart, fileBytes);
  const checksums = takeChecksums(path, metadata);
  if (checksums && checksums.__metadata__ !== metadataChecksum(metadata)) throw new DamagedFileError(path, 'its metadata (config, tokenizer, step)');
  return new OpenFile(source, dataStart, tensors, metadata, checksums);
}

/** Open a safetensors file held in memory (`name` names it in messages); reads copy out of `bytes`. */
export function openSafetensorsBytes(bytes: Uint8Array, name: string): SafetensorsFile {
  return openSafetensorsFrom({
    path: name,
    fileBytes: bytes.length,
    readAt: (position, length) => {
      if (position + length > bytes.length) throw new TernlmError(`${name} is truncated: expected ${fmt(position + length)} bytes, it ends at ${fmt(bytes.length)}`);
      return bytes.slice(position, position + length);
    },
    close: () => {},
  });
}

/** Remove the checksum entry from `metadata` and parse it (null when the file has none). */
function takeChecksums(path: string, metadata: Record<string, string>): Record<string, string> | null {
  const raw = metadata[CHECKSUM_KEY];
  if (raw === undefined) return null;
  delete metadata[CHECKSUM_KEY];
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw new DamagedFileError(path, 'its checksum table');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new DamagedFileError(path, 'its checksum table');
  return parsed as Record<string, string>;
}

class OpenFile implements SafetensorsFile {
  private readonly byName = new Map<string, TensorInfo>();
  private source: ByteSource | null;
  readonly path: string;
  readonly fileBytes: number;

  constructor(
    source: ByteSource,
    readonly dataStart: number,
    readonly tensors: readonly TensorInfo[],
    readonly metadata: Readonly<Record<string, string>>,
    private readonly checksums: Readonly<Record<string, string>> | null,
  ) {
    this.source = source;
    this.path = source.path;
    this.fileBytes = source.fileBytes;
    for (const t of tensors) this.byName.set(t.name, t);
    if (checksums) {
      for (const t of tensors) if (checksums[t.name] === undefined) throw new DamagedFileError(this.path, `tensor '${t.name}' (it has no checksum)`);
    }
  }

  get checksummed(): boolean {
    return this.checksums !== null;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  info(name: string): TensorInfo {
    const t = this.byName.get(name);
    if (!t) {
      const names = [...this.byName.keys()];
      const shown = names.slice(0, 8).join(', ') + (names.length > 8 ? `, … (${names.length} in all)` : '');
      throw new TernlmError(`${this.path} has no tensor '${name}' (it has: ${shown || 'none'})`);
    }
    return t;
  }

  read(name: string): TensorData {
    const t = this.info(name);
    if (this.source === null) throw new Error(`${this.path} is closed`);
    const data = this.source.readAt(this.dataStart + t.begin, t.end - t.begin);
    if (this.checksums && crc32Hex(data) !== this.checksums[name]) throw new DamagedFileError(this.path, `tensor '${name}'`);
    return { dtype: t.dtype, shape: t.shape, data };
  }

  verifyAll(): void {
    for (const t of this.tensors) this.read(t.name);
  }

  readF32(name: string, out?: Float32Array): Float32Array {
    const t = this.info(name);
    const n = numel(t.shape);
    if (out && out.length !== n) throw new Error(`readF32('${name}'): output has ${out.length} elements, the tensor has ${n}`);
    if (t.dtype !== 'F32' && t.dtype !== 'F16' && t.dtype !== 'BF16') {
      throw new TernlmError(`${this.path}: tensor '${name}' is ${t.dtype}, not a float tensor (F32, F16 or BF16)`);
    }
    const { data } = this.read(name);
    // `data` owns a fresh buffer at offset 0, so the aligned views below are valid.
    const dst = out ?? new Float32Array(n);
    if (t.dtype === 'F32') dst.set(new Float32Array(data.buffer, 0, n));
    else if (t.dtype === 'F16') f16ToF32(new Uint16Array(data.buffer, 0, n), dst);
    else bf16ToF32(new Uint16Array(data.buffer, 0, n), dst);
    return dst;
  }

  close(): void {
    this.source?.close();
    this.source = null;
  }
}

// ---------------------------------------------------------------- half-precision conversion

/** bf16 is the top half of an f32: widen by shifting into the high 16 bits. */
export function bf16ToF32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  const u = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < src.length; i++) u[i] = src[i] << 16;
  return out;
}

/** f32 -> bf16 with round-to-nearest-even (NaN stays a quiet NaN). */
export function f32ToBf16(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) {
    const x = u[i];
    if ((x & 0x7fffffff) > 0x7f800000) out[i] = (x >>> 16) | 0x40;
    else out[i] = (x + 0x7fff + ((x >>> 16) & 1)) >>> 16;
  }
  return out;
}

/** IEEE binary16 -> f32 (subnormals, infinities and NaN included), through a 64K-entry table. */
export function f16ToF32(src: Uint16Array, out: Float32Array = new Float32Array(src.length)): Float32Array {
  const table = halfTable();
  for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
  return out;
}

let halfTableCache: Float32Array | null = null;

function halfTable(): Float32Array {
  if (halfTableCache) return halfTableCache;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >>> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) t[h] = sign * frac * 2 ** -24;
    else if (exp === 31) t[h] = frac ? NaN : sign * Infinity;
    else t[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  halfTableCache = t;
  return t;
}

/** f32 -> IEEE binary16, round-to-nearest-even; overflow goes to infinity. */
export function f32ToF16(src: Float32Array, out: Uint16Array = new Uint16Array(src.length)): Uint16Array {
  const u = new Uint32Array(src.buffer, src.byteOffset, src.length);
  for (let i = 0; i < src.length; i++) out[i] = f32BitsToF16(u[i]);
  return out;
}

function f32BitsToF16(x: number): number {
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): shift the mantissa with its implicit bit into place, rounding to even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let h = mant >>> shift;
    if (rest > half || (rest === half && (h & 1))) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (up to infinity).
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++;
  return sign | h;
}
