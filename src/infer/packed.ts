// The packed inference file (`ternlm export`) on disk: writing it, opening it, and rebuilding the
// training model from it or from a training checkpoint. The format itself is in
// packed-format.ts (browser-safe, re-exported here); docs/inference.md describes it.
import { TernlmError } from '../core/errors.js';
import * as K from '../core/kernels.js';
import { Rng } from '../core/rng.js';
import { tokenizerFromJSON } from '../data/tokenizer.js';
import { openCheckpoint, type CheckpointMeta } from '../io/checkpoint.js';
import { openSafetensors, writeSafetensors } from '../io/safetensors.js';
import { createModel, type LanguageModel, type ModelConfig } from '../models/index.js';
import { packModel, packedFile, readInt8Weight, readPackedTrits, type ExportOptions, type ExportReport, type PackedMeta, type PackedSource } from './packed-format.js';
import type { SafetensorsFile } from '../io/safetensors-format.js';

export * from './packed-format.js';

/** Write the packed inference file of a trained model. */
export function exportPacked(model: LanguageModel<ModelConfig>, tokenizer: unknown, outPath: string, opts: ExportOptions = {}): ExportReport {
  const { tensors, metadata, report } = packModel(model, tokenizer, opts);
  const { bytes } = writeSafetensors(outPath, tensors, metadata);
  return { bytes, ...report };
}

/** Open a packed inference file and check that it is one (see packedFile). */
export function openPacked(path: string): { file: SafetensorsFile; meta: PackedMeta } {
  return packedFile(openSafetensors(path));
}

/** Open a packed inference file for an engine, its tokenizer rebuilt from the metadata. */
export function openExport(path: string): PackedSource {
  const { file, meta } = openPacked(path);
  try {
    return { file, meta, tokenizer: tokenizerFromJSON(meta.tokenizer, path) };
  } catch (e) {
    file.close();
    throw e;
  }
}

/**
 * Rebuild the training model class from an exported file, for batched scoring (`ternlm eval`).
 * Each quantized layer gets float master weights that quantize back to exactly what the file
 * stores: a ternary weight T with scale alpha becomes (alpha / f) T, f the share of non-zero
 * trits, whose AbsMean scale is alpha again and whose ternarization is T again; an int8 weight
 * becomes q * s, whose row absmax quantization is (q, s) again. Up to the f32 rounding of those
 * scales, the model computes what the export computes.
 */
export function modelFromPacked(path: string): { model: LanguageModel<ModelConfig>; meta: PackedMeta } {
  const { file, meta } = openPacked(path);
  try {
    const model = createModel(meta.config, new Rng(0), undefined, meta.head ?? undefined);
    for (const { name, tensor } of model.namedParameters()) {
      const tern = meta.ternary[name];
      const int8 = meta.int8[name];
      if (tern) {
        const packed = readPackedTrits(file, name, tern);
        K.ternaryUnpackF32(packed.ptr, 1, tensor.ptr, tern.N, tern.K);
        packed.dispose();
        const nonZero = K.reduce('sumabs', tensor.ptr, tensor.size) / tensor.size;
        const alpha = file.readF32(`${name}.alpha`)[0];
        if (nonZero > 0) K.scale(tensor.ptr, alpha / nonZero, tensor.ptr, tensor.size, false);
      } else if (int8) {
        const weight = readInt8Weight(file, name, int8);
        K.scale(weight.ptr, 1, tensor.ptr, tensor.size, false);
        weight.dispose();
      } else {
        if (!file.has(name)) throw new TernlmError(`${path} has no tensor '${name}' — the file is not a complete ${meta.config.family} export`);
        file.readF32(name, tensor.f32());
      }
    }
    return { model, meta };
  } finally {
    file.close();
  }
}

/** Rebuild a trained model from a checkpoint (parameters loaded), with the checkpoint's metadata. */
export function loadTrainedModel(ckptPath: string): { model: LanguageModel<ModelConfig>; meta: CheckpointMeta } {
  const ck = openCheckpoint(ckptPath);
  try {
    const config = (ck.meta.config as { model: ModelConfig }).model;
    const model = createModel(config, new Rng(0), ck.meta.tokenCounts ?? undefined);
    ck.restoreParams(model.namedParameters().map((p) => ({ name: p.name, tensor: p.tensor })));
    return { model, meta: ck.meta };
  } finally {
    ck.close();
  }
}

