// ternlm eval: loss, perplexity and bits per byte of a checkpoint on prepared shards or a text file.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { noGrad } from '../core/autograd.js';
import { TernlmError } from '../core/errors.js';
import { Rng } from '../core/rng.js';
import { initRuntime } from '../core/runtime.js';
import { Tensor, scope } from '../core/tensor.js';
import { BatchLoader } from '../data/loader.js';
import { tokenizerFromJSON } from '../data/tokenizer.js';
import { FlashLM, type FlashLMConfig } from '../models/flashlm.js';
import { openCheckpoint } from '../io/checkpoint.js';
import type { TrainConfig } from '../train/config.js';
import { evaluate } from '../train/trainer.js';

const HELP = `usage: ternlm eval --model <ckpt.safetensors> --data <prepared dir | text file>
                   [--batches N] [--seq-len T] [--batch-size B] [--lowercase] [--threads N]

Prints {loss, ppl, bpb, tokens} as one JSON line: mean next-token loss in nats per token,
perplexity, and bits per UTF-8 byte of the text.
  prepared dir  scores --batches windows (default 32) of its val split from the start
  text file     scores the whole file, tokenized with the checkpoint's tokenizer, in
                non-overlapping windows of --seq-len tokens`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' }, data: { type: 'string' }, batches: { type: 'string', default: '32' },
      'seq-len': { type: 'string' }, 'batch-size': { type: 'string', default: '8' }, lowercase: { type: 'boolean', default: false },
      threads: { type: 'string' }, help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.model || !values.data) throw new TernlmError('ternlm eval needs --model <ckpt.safetensors> and --data <dir|file>');
  if (!existsSync(values.model)) throw new TernlmError(`model ${values.model} not found`);
  if (!existsSync(values.data)) throw new TernlmError(`data ${values.data} not found`);
  await initRuntime({ threads: values.threads !== undefined ? Number(values.threads) : undefined });
  const ck = openCheckpoint(values.model);
  const config = ck.meta.config as TrainConfig & { model: FlashLMConfig };
  const model = new FlashLM(config.model, new Rng(0), ck.meta.tokenCounts ?? undefined);
  try {
    ck.restoreParams(model.namedParameters().map((p) => ({ name: p.name, tensor: p.tensor })));
  } finally {
    ck.close();
  }
  const T = Math.min(Number(values['seq-len'] ?? config.model.contextLength), config.model.contextLength);
  const B = Number(values['batch-size']);
  if (statSync(values.data).isDirectory()) {
    const loader = new BatchLoader(values.data, 'val', { seed: 0, mode: 'sequential' });
    if (loader.meta.vocabSize !== config.model.vocabSize) {
      throw new TernlmError(`${values.data} was tokenized with ${loader.meta.vocabSize} tokens but the model has ${config.model.vocabSize}`);
    }
    const split = loader.meta.splits.val;
    const r = evaluate(model, loader, Number(values.batches), B, T, { tokens: split.tokens, bytes: split.bytes });
    console.log(JSON.stringify({ loss: r.loss, ppl: r.ppl, bpb: r.bpb, tokens: r.tokens }));
    return;
  }
  let text = readFileSync(values.data, 'utf8');
  if (values.lowercase) text = text.toLowerCase();
  const tokenizer = tokenizerFromJSON(ck.meta.tokenizer, values.model);
  const ids = [tokenizer.eotId, ...tokenizer.encode(text)];
  if (ids.length < 2) throw new TernlmError(`${values.data} has no text to score`);
  let total = 0, count = 0;
  noGrad(() => {
    for (let start = 0; start + 1 < ids.length; start += T) {
      const window = ids.slice(start, start + T + 1);
      const n = window.length - 1;
      total += scope(() => {
        const input = Tensor.from(window.slice(0, n), [1, n], 'i32');
        const targets = Tensor.from(window.slice(1), [n], 'i32');
        return model.loss(input, targets).item() * n;
      });
      count += n;
    }
  });
  const loss = total / count;
  const bytes = Buffer.byteLength(text, 'utf8');
  console.log(JSON.stringify({ loss, ppl: Math.exp(loss), bpb: (total / Math.LN2) / bytes, tokens: count }));
}
