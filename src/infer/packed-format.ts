// The packed inference file (`ternlm export`): a safetensors file that holds each BitLinear
// weight as the training forward pass uses it — ternary weights 2 bits each (our interleaved
// layout, see assembly/ternary.ts) or base-3 (5 trits per byte, 1.6 bits) with one f32 scale
// per tensor, int8 weights one byte each with one f32 scale per row, fp32 weights as floats —
// every other tensor in f16 or f32, and the model config, tokenizer and head structure in the
// metadata. docs/inference.md describes the format and its versions.
//
// This module is browser-safe (export to bytes, open from bytes); packed.ts adds the files.
import { TernlmError } from '../core/errors.js';
import * as K from '../core/kernels.js';
import { Tensor } from '../core/tensor.js';
import type { Tokenizer } from '../data/tokenizer.js';
import type { HeadConfig } from '../heads/index.js';
import { f32ToF16, openSafetensorsBytes, safetensorsBytes, type SafetensorsFile, type TensorToWrite } from '../io/safetensors-format.js';
import type { FlashLMConfig } from '../models/flashlm.js';
import type { LanguageModel, ModelConfig } from '../models/index.js';
import type { BitLinear } from '../nn/layers.js';
import { packTernary } from '../ops/ternary.js';

/**
 * Version 2: `ternary` entries say whether the layer quantizes its activations (version 1
 * packed only layers that did, and stored the other ternary layers and all int8 layers as plain
 * floats, which is not what training computes); int8 layers are stored quantized (`int8`).
 */
export const PACKED_FORMAT = 'ternlm-packed-2';
/** The first format: still read when its tensors mean what they say (see openPacked). */
const PACKED_FORMAT_1 = 'ternlm-packed-1';

export type TernaryPacking = '2bit' | 'base3';

export interface PackedTernaryInfo {
  /** Output features (rows) and input features (columns) of the weight. */
  N: number;
  K: number;
  packing: TernaryPacking;
  /** The layer multiplies 8-bit activations (else float activations by alpha * T). */
  quantizeActivations: boolean;
}

export interface PackedInt8Info {
  /** Output features (rows) and input features (columns) of the weight. */
  N: number;
  K: number;
}

export interface PackedMeta {
  format: typeof PACKED_FORMAT;
  config: ModelConfig;
  tokenizer: unknown;
  /** The head's own structure (Huffman tree, frequency order), or null for the full softmax. */
  head: HeadConfig | null;
  /** Ternary weights by parameter name: `<name>.packed` (U8) and `<name>.alpha` (F32, 1). */
  ternary: Record<string, PackedTernaryInfo>;
  /** Int8 weights by parameter name: `<name>.int8` (I8, N x K) and `<name>.scale` (F32, N). */
  int8: Record<string, PackedInt8Info>;
}

export interface ExportOptions {
  packing?: TernaryPacking;
  floatDtype?: 'f16' | 'f32';
}

export interface ExportReport {
  bytes: number;
  ternaryWeights: number;
  /** Bits per ternary weight, scales included. */
  bitsPerTernaryWeight: number;
  int8Weights: number;
  floatParameters: number;
}

/** Digits of 5 trits (t + 1 in 0..2) in one byte: sum d_i 3^i <= 242. */
export function packBase3(codes: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(codes.length / 5));
  for (let i = 0, o = 0; i < codes.length; i += 5, o++) {
    let v = 0;
    for (let j = Math.min(4, codes.length - i - 1); j >= 0; j--) v = v * 3 + codes[i + j];
    out[o] = v;
  }
  return out;
}

export function unpackBase3(bytes: Uint8Array, n: number): Uint8Array {
  const codes = new Uint8Array(n);
  for (let i = 0, o = 0; i < n; o++) {
    let v = bytes[o];
    if (v > 242) throw new TernlmError(`corrupt base-3 byte ${v} at ${o}`);
    for (let j = 0; j < 5 && i < n; j++, i++) {
      codes[i] = v % 3;
      v = (v - (v % 3)) / 3;
    }
  }
  return codes;
}

/**
 * A ternary weight's trits from an exported file (either packing), 2 bits each in the kernels'
 * layout (rows padded to ternaryPaddedK). The caller owns the tensor.
 */
export function readPackedTrits(file: SafetensorsFile, weightName: string, info: PackedTernaryInfo): Tensor {
  const { N, K: Kd } = info;
  const bytes = file.read(`${weightName}.packed`).data;
  const packed = Tensor.empty([N * (K.ternaryPaddedK(Kd) / 4)], 'u8');
  if (info.packing === '2bit') {
    if (bytes.length !== packed.size) {
      packed.dispose();
      throw new TernlmError(`${file.path}: '${weightName}.packed' has ${bytes.length} bytes, expected ${packed.size}`);
    }
    packed.bytes().set(bytes);
  } else {
    const codes = unpackBase3(bytes, N * Kd);
    const unit = Tensor.from(Float32Array.from(codes, (v) => v - 1), [N, Kd]);
    K.ternaryPack(unit.ptr, 1, packed.ptr, N, Kd);
    unit.dispose();
  }
  return packed;
}

/** q * s of an int8 weight in an exported file: bit for bit the weights int8Linear multiplies by. */
export function readInt8Weight(file: SafetensorsFile, weightName: string, info: PackedInt8Info): Tensor {
  const { N, K: Kd } = info;
  const stored = file.read(`${weightName}.int8`);
  if (stored.dtype !== 'I8' || stored.shape.join() !== `${N},${Kd}`) {
    throw new TernlmError(`${file.path}: '${weightName}.int8' is ${stored.dtype} [${stored.shape.join(', ')}], expected I8 [${N}, ${Kd}]`);
  }
  const scales = file.readF32(`${weightName}.scale`);
  if (scales.length !== N) throw new TernlmError(`${file.path}: '${weightName}.scale' has ${scales.length} values, expected ${N}`);
  const q = Tensor.from(new Int8Array(stored.data.buffer, stored.data.byteOffset, N * Kd), [N, Kd], 'i16');
  const s = Tensor.from(scales, [N]);
  const weight = Tensor.empty([N, Kd]);
  K.dequantizeRowsI8(q.ptr, Kd, s.ptr, weight.ptr, N, Kd);
  q.dispose();
  s.dispose();
  return weight;
}

/** How a BitLinear layer's forward pass uses its weight right now (a ternary layer in its float warm-up is float). */
function effectivePrecision(layer: BitLinear): 'ternary' | 'int8' | 'fp32' {
  if (layer.opts.precision === 'ternary' && !layer.ternaryActive) return 'fp32';
  return layer.opts.precision;
}

/** The ternary weight's file tensors: trits packed 2 bits or base-3, and alpha. */
function ternaryTensors(name: string, weight: Tensor, packing: TernaryPacking): TensorToWrite[] {
  const [N, Kd] = weight.shape;
  const { alpha, packed } = packTernary(weight);
  let bytes: Uint8Array;
  if (packing === '2bit') {
    bytes = Uint8Array.from(packed.bytes());
  } else {
    // Through f32 {-1, 0, 1}: the same ternarization as the 2-bit path, then 5 trits a byte.
    const unit = Tensor.empty([N, Kd]);
    K.ternaryUnpackF32(packed.ptr, 1, unit.ptr, N, Kd);
    bytes = packBase3(Uint8Array.from(unit.f32(), (v) => v + 1));
    unit.dispose();
  }
  packed.dispose();
  return [
    { name: `${name}.packed`, dtype: 'U8', shape: [bytes.length], data: bytes },
    { name: `${name}.alpha`, dtype: 'F32', shape: [1], data: Float32Array.of(alpha) },
  ];
}

/**
 * The int8 weight's file tensors: the per-row absmax quantization that int8Linear
 * (src/ops/quant.ts) multiplies by, q (N x K, -127..127) and the row scales s: W ~ q * s.
 */
function int8Tensors(name: string, weight: Tensor): TensorToWrite[] {
  const [N, Kd] = weight.shape;
  const q = Tensor.empty([N, Kd], 'i16');
  const scales = Tensor.empty([N]);
  K.quantizeRowsI8(weight.ptr, N, Kd, q.ptr, Kd, scales.ptr);
  const values = Int8Array.from(q.typed());
  const rowScales = Float32Array.from(scales.f32());
  q.dispose();
  scales.dispose();
  return [
    { name: `${name}.int8`, dtype: 'I8', shape: [N, Kd], data: values },
    { name: `${name}.scale`, dtype: 'F32', shape: [N], data: rowScales },
  ];
}

/**
 * The tensors and metadata of a trained model's packed inference file, and what they hold
 * (`ExportReport` but the file size).
 */
export function packModel(model: LanguageModel<ModelConfig>, tokenizer: unknown, opts: ExportOptions = {}): { tensors: TensorToWrite[]; metadata: Record<string, string>; report: Omit<ExportReport, 'bytes'> } {
  const packing = opts.packing ?? '2bit';
  const floatDtype = opts.floatDtype ?? 'f16';
  const bitLayers = new Map(model.bitLayers().map(({ name, layer }) => [`${name}.weight`, layer]));
  const tensors: TensorToWrite[] = [];
  const ternary: Record<string, PackedTernaryInfo> = {};
  const int8: Record<string, PackedInt8Info> = {};
  let ternaryWeights = 0, ternaryBits = 0, int8Weights = 0, floatParameters = 0;
  for (const { name, tensor } of model.namedParameters()) {
    const layer = bitLayers.get(name);
    const precision = layer ? effectivePrecision(layer) : 'fp32';
    const [N, Kd] = tensor.shape;
    if (layer && precision === 'ternary') {
      const written = ternaryTensors(name, tensor, packing);
      tensors.push(...written);
      ternary[name] = { N, K: Kd, packing, quantizeActivations: layer.opts.quantizeActivations };
      ternaryWeights += N * Kd;
      ternaryBits += written.reduce((bits, t) => bits + t.data.byteLength * 8, 0);
    } else if (precision === 'int8') {
      tensors.push(...int8Tensors(name, tensor));
      int8[name] = { N, K: Kd };
      int8Weights += N * Kd;
    } else {
      const values = Float32Array.from(tensor.f32());
      floatParameters += values.length;
      tensors.push(floatDtype === 'f16'
        ? { name, dtype: 'F16', shape: tensor.shape, data: f32ToF16(values) }
        : { name, dtype: 'F32', shape: tensor.shape, data: values });
    }
  }
  const headCfg = 'config' in model.head && typeof (model.head as { config?: unknown }).config === 'function'
    ? ((model.head as unknown as { config(): HeadConfig }).config())
    : null;
  const meta: PackedMeta = { format: PACKED_FORMAT, config: model.config, tokenizer, head: headCfg, ternary, int8 };
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta)) metadata[k] = JSON.stringify(v);
  return { tensors, metadata, report: { ternaryWeights, bitsPerTernaryWeight: ternaryWeights > 0 ? ternaryBits / ternaryWeights : 0, int8Weights, floatParameters } };
}

/** The packed inference file of a trained model as bytes in memory (what `exportPacked` writes). */
export function exportPackedBytes(model: LanguageModel<ModelConfig>, tokenizer: unknown, opts: ExportOptions = {}): { data: Uint8Array; report: ExportReport } {
  const { tensors, metadata, report } = packModel(model, tokenizer, opts);
  const data = safetensorsBytes('the export', tensors, metadata);
  return { data, report: { bytes: data.length, ...report } };
}

/**
 * Check that an opened safetensors file is a packed inference file in a format this version
 * reads, and return its metadata (the file is closed when it is not). A version-1 file is read
 * as version 2 when its tensors mean the same (ternary layers with 8-bit activations, fp32
 * layers); one whose layers were int8, or ternary with float activations, holds plain float
 * weights that do not reproduce the trained model, and is refused.
 */
export function packedFile(file: SafetensorsFile): { file: SafetensorsFile; meta: PackedMeta } {
  try {
    return { file, meta: checkedMeta(file.path, file.metadata) };
  } catch (e) {
    file.close();
    throw e;
  }
}

/** Open a packed inference file held in memory (`name` names it in messages). */
export function openPackedBytes(bytes: Uint8Array, name: string): { file: SafetensorsFile; meta: PackedMeta } {
  return packedFile(openSafetensorsBytes(bytes, name));
}

/** An exported model opened for an engine: its tensors, its metadata and its tokenizer (built from the metadata). */
export interface PackedSource {
  file: SafetensorsFile;
  meta: PackedMeta;
  tokenizer: Tokenizer;
}

/** A metadata value: JSON as export writes it, or the raw string (other writers' metadata). */
function metaValue(raw: string | undefined): unknown {
  if (raw === undefined) return undefined;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}

function checkedMeta(path: string, metadata: Record<string, string>): PackedMeta {
  const format = metaValue(metadata.format);
  if (format !== PACKED_FORMAT && format !== PACKED_FORMAT_1) {
    if (typeof format === 'string' && format.startsWith('ternlm-packed-')) {
      throw new TernlmError(`${path} is in format ${format}, which this version of ternlm does not read (it reads ${PACKED_FORMAT_1} and ${PACKED_FORMAT}) — update ternlm`);
    }
    const hint = format === 'ternlm-checkpoint-1' ? ' — it is a training checkpoint: run `ternlm export --model <ckpt> --out <file>` first' : '';
    throw new TernlmError(`${path} is not a ternlm inference file${hint}`);
  }
  const meta = Object.fromEntries(Object.entries(metadata).map(([k, v]) => [k, metaValue(v)]));
  return format === PACKED_FORMAT ? (meta as unknown as PackedMeta) : metaFromFormat1(path, meta);
}

/** Version-1 metadata as version 2, when the file's tensors mean the same in both. */
function metaFromFormat1(path: string, meta: Record<string, unknown>): PackedMeta {
  const config = meta.config as FlashLMConfig;
  if (config.precision === 'int8' || (config.precision === 'ternary' && !config.quantizeActivations)) {
    const what = config.precision === 'int8' ? 'int8 layers' : 'ternary layers with float activations';
    throw new TernlmError(
      `${path} was exported in format ${PACKED_FORMAT_1}, which stored ${what} as plain floats: it does not compute what the trained model computes — export the checkpoint again with this version of ternlm`,
    );
  }
  // Version 1 packed exactly the ternary layers with 8-bit activations.
  const ternary: Record<string, PackedTernaryInfo> = {};
  for (const [name, info] of Object.entries(meta.ternary as Record<string, Omit<PackedTernaryInfo, 'quantizeActivations'>>)) {
    ternary[name] = { ...info, quantizeActivations: true };
  }
  return { ...(meta as unknown as PackedMeta), format: PACKED_FORMAT, ternary, int8: {} };
}
