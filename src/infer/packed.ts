// The packed inference file (`ternlm export`): a safetensors file whose ternary weights are
// stored 2 bits each (our interleaved layout, see assembly/ternary.ts) or base-3 (5 trits per
// byte, 1.6 bits), one f32 scale per tensor; every other tensor in f16 or f32; the model
// config, tokenizer and head structure in the metadata.
import { TernlmError } from '../core/errors.js';
import * as K from '../core/kernels.js';
import { Rng } from '../core/rng.js';
import { Tensor } from '../core/tensor.js';
import type { HeadConfig } from '../heads/index.js';
import { f32ToF16, openSafetensors, writeSafetensors, type SafetensorsFile, type TensorToWrite } from '../io/safetensors.js';
import { FlashLM, type FlashLMConfig } from '../models/flashlm.js';
import { absMean } from '../ops/ternary.js';
import { openCheckpoint } from '../io/checkpoint.js';

export const PACKED_FORMAT = 'ternlm-packed-1';

export type TernaryPacking = '2bit' | 'base3';

export interface PackedTernaryInfo {
  /** Output features (rows) and input features (columns) of the weight. */
  N: number;
  K: number;
  packing: TernaryPacking;
}

export interface PackedMeta {
  format: typeof PACKED_FORMAT;
  config: FlashLMConfig;
  tokenizer: unknown;
  /** The head's own structure (Huffman tree, frequency order), or null for the full softmax. */
  head: HeadConfig | null;
  /** Ternary weights by parameter name. */
  ternary: Record<string, PackedTernaryInfo>;
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

/** Rebuild a trained FlashLM from a checkpoint (parameters loaded). */
export function loadTrainedModel(ckptPath: string): { model: FlashLM; tokenizer: unknown } {
  const ck = openCheckpoint(ckptPath);
  try {
    const config = (ck.meta.config as { model: FlashLMConfig }).model;
    const model = new FlashLM(config, new Rng(0), ck.meta.tokenCounts ?? undefined);
    ck.restoreParams(model.namedParameters().map((p) => ({ name: p.name, tensor: p.tensor })));
    return { model, tokenizer: ck.meta.tokenizer };
  } finally {
    ck.close();
  }
}

/** Write the packed inference file of a trained model. */
export function exportPacked(model: FlashLM, tokenizer: unknown, outPath: string, opts: ExportOptions = {}): ExportReport {
  const packing = opts.packing ?? '2bit';
  const floatDtype = opts.floatDtype ?? 'f16';
  const ternaryNames = new Set(
    model.bitLayers().filter(({ layer }) => layer.opts.precision === 'ternary' && layer.opts.quantizeActivations).map(({ name }) => `${name}.weight`),
  );
  const tensors: TensorToWrite[] = [];
  const ternary: Record<string, PackedTernaryInfo> = {};
  let ternaryWeights = 0, ternaryBits = 0, floatParameters = 0;
  for (const { name, tensor } of model.namedParameters()) {
    if (ternaryNames.has(name)) {
      const [N, Kd] = tensor.shape;
      const alpha = absMean(tensor);
      const Kp = K.ternaryPaddedK(Kd);
      const packed = Tensor.empty([N * (Kp / 4)], 'u8');
      K.ternaryPack(tensor.ptr, alpha, packed.ptr, N, Kd);
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
      tensors.push({ name: `${name}.packed`, dtype: 'U8', shape: [bytes.length], data: bytes });
      tensors.push({ name: `${name}.alpha`, dtype: 'F32', shape: [1], data: Float32Array.of(alpha) });
      ternary[name] = { N, K: Kd, packing };
      ternaryWeights += N * Kd;
      ternaryBits += bytes.length * 8 + 32;
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
  const meta: PackedMeta = { format: PACKED_FORMAT, config: model.config, tokenizer, head: headCfg, ternary };
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(meta)) metadata[k] = JSON.stringify(v);
  const { bytes } = writeSafetensors(outPath, tensors, metadata);
  return { bytes, ternaryWeights, bitsPerTernaryWeight: ternaryWeights > 0 ? ternaryBits / ternaryWeights : 0, floatParameters };
}

/** Open a packed file and check that it is one. */
export function openPacked(path: string): { file: SafetensorsFile; meta: PackedMeta } {
  const file = openSafetensors(path);
  const raw = file.metadata.format;
  if (!raw || JSON.parse(raw) !== PACKED_FORMAT) {
    file.close();
    const hint = raw && JSON.parse(raw) === 'ternlm-checkpoint-1' ? ' — it is a training checkpoint: run `ternlm export --model <ckpt> --out <file>` first' : '';
    throw new TernlmError(`${path} is not a ternlm inference file${hint}`);
  }
  const meta: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(file.metadata)) meta[k] = JSON.parse(v);
  return { file, meta: meta as unknown as PackedMeta };
}
