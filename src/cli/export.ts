// ternlm export: pack a training checkpoint into an inference file, or write a GPT-2 as llm.c's files.
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { TernlmError } from '../core/errors.js';
import { initRuntime } from '../core/runtime.js';
import { exportPacked, loadTrainedModel, type TernaryPacking } from '../infer/packed.js';
import { dirname } from 'node:path';
import { checkFileTarget, ensureDir } from '../io/fs.js';
import { checkpointTokenizerFingerprint, datasetTokenizerFingerprint, readMeta } from '../data/meta.js';
import { tokenizerFromJSON } from '../data/tokenizer.js';
import { llmcTokenBytes, writeLlmcDataset, writeLlmcTokenizer } from '../io/llmc.js';
import { writeModelAsLlmc } from '../models/llmc.js';
import { parseFlags } from './args.js';

const HELP = `usage: ternlm export --model runs/<name>/ckpt.safetensors --out model.tlm.safetensors
                     [--packing 2bit|base3] [--float f16|f32]
       ternlm export --model <gpt2 ckpt> --format llmc --out gpt2_4m.bin [--float f32|bf16] [--data <prepared dir>]

Writes an inference file (format ternlm-packed-2) that computes what the training model
computes, for every layer precision (docs/inference.md):
  ternary layers   weights packed 2 bits each (or base-3, 5 weights per byte = 1.6 bits) with
                   one f32 scale per tensor, with or without 8-bit activations as trained
  int8 layers      int8 weights with one f32 scale per row
  other tensors    (embedding, norms, conv taps, head, fp32 layers) in f16 (default) or f32
The model config, tokenizer and head structure go in the header, with a checksum per tensor.
The checkpoint is verified first (checksums, finite values). Prints the file size, the bits
per ternary weight and the counts of each kind of weight.

--format llmc writes a GPT-2 checkpoint (tied softmax head) as llm.c reads it, so that llm.c
continues training it: <out> in the gpt2_124M.bin layout (--float f32: version 3, the default;
bf16: version 5), the tokenizer beside it as <stem>_tokenizer.bin, and with --data the prepared
dataset's tokens as <stem>_train_000000.bin... and <stem>_val_000000.bin... (llm.c's uint16
shards). llm.c's CPU train_gpt2.c opens fixed names: copy the files to gpt2_124M.bin,
gpt2_tokenizer.bin and dev/data/tinyshakespeare/tiny_shakespeare_{train,val}.bin (docs/models.md).`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseFlags('export', args, {
    model: { type: 'string' }, out: { type: 'string' }, packing: { type: 'string', default: '2bit' },
    float: { type: 'string' }, format: { type: 'string', default: 'ternlm' }, data: { type: 'string' },
    help: { type: 'boolean', default: false },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.model || !values.out) throw new TernlmError('ternlm export needs --model <ckpt.safetensors> and --out <file>');
  if (!existsSync(values.model)) throw new TernlmError(`checkpoint ${values.model} not found`);
  if (values.format === 'llmc') return exportLlmc(values.model, values.out, values.float ?? 'f32', values.data);
  if (values.format !== 'ternlm') throw new TernlmError(`--format must be ternlm (the packed inference file) or llmc (llm.c's GPT-2 files), got ${values.format}`);
  if (values.data !== undefined) throw new TernlmError('--data goes with --format llmc (it writes the dataset as llm.c shards); the packed inference file needs no data');
  const float = values.float ?? 'f16';
  if (values.packing !== '2bit' && values.packing !== 'base3') throw new TernlmError(`--packing must be 2bit or base3, got ${values.packing}`);
  if (float !== 'f16' && float !== 'f32') throw new TernlmError(`--float must be f16 or f32, got ${float}`);
  checkFileTarget(values.out);
  await initRuntime({ threads: 1 });
  const { model, meta } = loadTrainedModel(values.model);
  ensureDir(dirname(values.out));
  const r = exportPacked(model, meta.tokenizer, values.out, { packing: values.packing as TernaryPacking, floatDtype: float });
  console.log(JSON.stringify({
    out: values.out, bytes: r.bytes, ternary_weights: r.ternaryWeights,
    bits_per_ternary_weight: Number(r.bitsPerTernaryWeight.toFixed(4)), int8_weights: r.int8Weights, float_parameters: r.floatParameters,
  }));
}

/** Write a GPT-2 checkpoint as llm.c's model, tokenizer and (with dataDir) token files. */
async function exportLlmc(ckpt: string, out: string, float: string, dataDir: string | undefined): Promise<void> {
  if (float !== 'f32' && float !== 'bf16') throw new TernlmError(`--float must be f32 or bf16 for --format llmc (llm.c's versions 3 and 5), got ${float}`);
  if (!out.endsWith('.bin')) throw new TernlmError(`--out for --format llmc names llm.c's .bin checkpoint, e.g. gpt2_4m.bin; got ${out}`);
  checkFileTarget(out);
  const dataMeta = dataDir !== undefined ? readMeta(dataDir) : null;
  await initRuntime({ threads: 1 });
  const { model, meta } = loadTrainedModel(ckpt);
  const tokenizer = tokenizerFromJSON(meta.tokenizer, ckpt);
  if (dataMeta && datasetTokenizerFingerprint(dataMeta, dataDir!) !== checkpointTokenizerFingerprint(meta, ckpt)) {
    throw new TernlmError(`${dataDir} was tokenized with another tokenizer than ${ckpt} was trained with — give the data the model was trained on`);
  }
  const dir = dirname(out), stem = basename(out, '.bin');
  ensureDir(dir);
  const { bytes, shape } = writeModelAsLlmc(model, out, float === 'f32' ? 'fp32' : 'bf16');
  const tokenizerPath = join(dir, `${stem}_tokenizer.bin`);
  writeLlmcTokenizer(tokenizerPath, llmcTokenBytes(tokenizer), tokenizer.eotId);
  const data = dataMeta ? writeLlmcDataset(dataDir!, dataMeta, dir, stem) : null;
  console.log(JSON.stringify({
    out, bytes, dtype: float, shape, tokenizer: tokenizerPath,
    train: data?.train.map((f) => f.path) ?? [], val: data?.val.map((f) => f.path) ?? [],
  }));
}
