// ternlm eval: loss, perplexity and bits per byte of a checkpoint on prepared shards or a text file.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { TernlmError } from '../core/errors.js';
import { initRuntime } from '../core/runtime.js';
import { BatchLoader } from '../data/loader.js';
import { checkpointTokenizerFingerprint, datasetTokenizerFingerprint } from '../data/meta.js';
import { tokenizerFromJSON } from '../data/tokenizer.js';
import { Utf8ChunkDecoder } from '../data/utf8.js';
import { loadTrainedModel } from '../infer/packed.js';
import { evaluateSplit, evaluateTokens, type EvalResult } from '../train/evaluate.js';
import { integerFlag, parseFlags, threadsFlag } from './args.js';

const HELP = `usage: ternlm eval --model <ckpt.safetensors> --data <prepared dir | text file>
                   [--batches N] [--seq-len T] [--batch-size B] [--lowercase] [--threads N]

Prints {loss, ppl, bpb, tokens} as one JSON line: mean next-token loss in nats per token,
perplexity, and bits per UTF-8 byte of the text.
  prepared dir  scores --batches windows (default 32) of its val split from the start
                (refused when it was prepared with a different tokenizer than the model's)
  text file     scores the whole UTF-8 file, tokenized with the checkpoint's tokenizer, in
                consecutive windows of --seq-len predicted tokens, --batch-size per pass

The checkpoint is verified first: every tensor's checksum, and that all values are finite.`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseFlags('eval', args, {
    model: { type: 'string' }, data: { type: 'string' }, batches: { type: 'string', default: '32' },
    'seq-len': { type: 'string' }, 'batch-size': { type: 'string', default: '8' }, lowercase: { type: 'boolean', default: false },
    threads: { type: 'string' }, help: { type: 'boolean', default: false },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.model || !values.data) throw new TernlmError('ternlm eval needs --model <ckpt.safetensors> and --data <dir|file>');
  if (!existsSync(values.model)) throw new TernlmError(`model ${values.model} not found`);
  if (!existsSync(values.data)) throw new TernlmError(`data ${values.data} not found`);
  await initRuntime({ threads: threadsFlag(values) });
  const { model, meta } = loadTrainedModel(values.model);
  const { contextLength, vocabSize } = model.config;
  const T = Math.min(integerFlag(values, 'seq-len', { min: 1 }, contextLength), contextLength);
  const B = integerFlag(values, 'batch-size', { min: 1, max: 4096 }, 8);
  if (statSync(values.data).isDirectory()) {
    const loader = new BatchLoader(values.data, 'val', { seed: 0, mode: 'sequential' });
    const dataFingerprint = datasetTokenizerFingerprint(loader.meta, values.data);
    const modelFingerprint = checkpointTokenizerFingerprint(meta, values.model);
    if (loader.meta.vocabSize !== vocabSize || dataFingerprint !== modelFingerprint) {
      throw new TernlmError(`${values.data} was tokenized by a different tokenizer than ${values.model} was trained with (fingerprint ${dataFingerprint}, the model's ${modelFingerprint}) — prepare the data with the model's tokenizer, or pass a text file`);
    }
    const split = loader.meta.splits.val;
    const r = evaluateSplit(model, loader, integerFlag(values, 'batches', { min: 1 }, 32), B, T, { tokens: split.tokens, bytes: split.bytes });
    printResult(r, values.data);
    return;
  }
  let text = new Utf8ChunkDecoder(values.data).decode(readFileSync(values.data), true);
  if (values.lowercase) text = text.toLowerCase();
  const tokenizer = tokenizerFromJSON(meta.tokenizer, values.model);
  const ids = Int32Array.from([tokenizer.eotId, ...tokenizer.encode(text)]);
  if (ids.length < 2) throw new TernlmError(`${values.data} has no text to score`);
  const r = evaluateTokens(model, ids, T, B, Buffer.byteLength(text, 'utf8'));
  printResult(r, values.data);
}

/** One JSON line; a loss that is not finite (it would print as null) is an error instead. */
function printResult(r: EvalResult, data: string): void {
  if (!Number.isFinite(r.loss)) throw new TernlmError(`the model's loss on ${data} is not finite (${r.loss}) — its weights are finite, so its activations overflow: evaluate an earlier checkpoint`);
  console.log(JSON.stringify({ loss: r.loss, ppl: r.ppl, bpb: r.bpb, tokens: r.tokens }));
}
