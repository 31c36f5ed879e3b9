// ternlm export: pack a training checkpoint into an inference file.
import { existsSync } from 'node:fs';
import { TernlmError } from '../core/errors.js';
import { initRuntime } from '../core/runtime.js';
import { exportPacked, loadTrainedModel, type TernaryPacking } from '../infer/packed.js';
import { dirname } from 'node:path';
import { checkFileTarget, ensureDir } from '../io/fs.js';
import { parseFlags } from './args.js';

const HELP = `usage: ternlm export --model runs/<name>/ckpt.safetensors --out model.tlm.safetensors
                     [--packing 2bit|base3] [--float f16|f32]

Writes an inference file (format ternlm-packed-2) that computes what the training model
computes, for every layer precision (docs/inference.md):
  ternary layers   weights packed 2 bits each (or base-3, 5 weights per byte = 1.6 bits) with
                   one f32 scale per tensor, with or without 8-bit activations as trained
  int8 layers      int8 weights with one f32 scale per row
  other tensors    (embedding, norms, conv taps, head, fp32 layers) in f16 (default) or f32
The model config, tokenizer and head structure go in the header, with a checksum per tensor.
The checkpoint is verified first (checksums, finite values). Prints the file size, the bits
per ternary weight and the counts of each kind of weight.`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseFlags('export', args, {
    model: { type: 'string' }, out: { type: 'string' }, packing: { type: 'string', default: '2bit' },
    float: { type: 'string', default: 'f16' }, help: { type: 'boolean', default: false },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.model || !values.out) throw new TernlmError('ternlm export needs --model <ckpt.safetensors> and --out <file>');
  if (!existsSync(values.model)) throw new TernlmError(`checkpoint ${values.model} not found`);
  if (values.packing !== '2bit' && values.packing !== 'base3') throw new TernlmError(`--packing must be 2bit or base3, got ${values.packing}`);
  if (values.float !== 'f16' && values.float !== 'f32') throw new TernlmError(`--float must be f16 or f32, got ${values.float}`);
  checkFileTarget(values.out);
  await initRuntime({ threads: 1 });
  const { model, meta } = loadTrainedModel(values.model);
  ensureDir(dirname(values.out));
  const r = exportPacked(model, meta.tokenizer, values.out, { packing: values.packing as TernaryPacking, floatDtype: values.float });
  console.log(JSON.stringify({
    out: values.out, bytes: r.bytes, ternary_weights: r.ternaryWeights,
    bits_per_ternary_weight: Number(r.bitsPerTernaryWeight.toFixed(4)), int8_weights: r.int8Weights, float_parameters: r.floatParameters,
  }));
}
