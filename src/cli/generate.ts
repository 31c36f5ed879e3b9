// ternlm generate: continue a prompt with a model, streaming text to stdout.
import { parseArgs } from 'node:util';
import { TernlmError } from '../core/errors.js';
import { initRuntime } from '../core/runtime.js';
import { generate } from '../infer/generate.js';
import { loadInferenceModel, resolveTokenizer } from '../infer/load.js';
import type { InferenceModel } from '../infer/model.js';
import type { Tokenizer } from '../data/tokenizer.js';
import type { SamplingOptions } from '../heads/sampling.js';

const HELP = `usage: ternlm generate --model <file> [options]

Continue a prompt with a model; the text streams to stdout (the prompt first), speed goes to
stderr at the end.

options:
  --model <file>              a llama2.c .bin checkpoint
  --tokenizer <file|gpt2>     default: tok<vocab>.bin or tokenizer.bin beside the model
  --prompt <text>             text to continue (default: empty — start a new document)
  --max-tokens <n>            most new tokens (default 256; generation also ends at the
                              end-of-text token and when the model's context is full)
  --temperature <t>           0 = greedy (default 1)
  --top-k <k>                 sample among the k most likely tokens (default 0 = off)
  --top-p <p>                 nucleus sampling: the smallest set reaching probability p
                              (default 0.9; 1 = off)
  --repetition-penalty <r>    penalise tokens of the last 64 (default 1 = off; try 1.1)
  --seed <n>                  seed of the sampler (default: from the clock)
  --threads <n>               compute threads (default: all cores)
  -h, --help                  show this help

example: ternlm generate --model stories260K.bin --prompt "Once upon a time" --temperature 0`;

/** The options every model-running command shares (generate, chat). */
export const MODEL_OPTIONS = {
  model: { type: 'string' },
  tokenizer: { type: 'string' },
  'max-tokens': { type: 'string' },
  temperature: { type: 'string' },
  'top-k': { type: 'string' },
  'top-p': { type: 'string' },
  'repetition-penalty': { type: 'string' },
  seed: { type: 'string' },
  threads: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type ModelArgs = { [K in keyof typeof MODEL_OPTIONS]?: (typeof MODEL_OPTIONS)[K]['type'] extends 'string' ? string : boolean };

/** A number flag, or `fallback` when absent; a malformed value is an error naming the flag. */
export function numberFlag(values: Record<string, unknown>, name: string, fallback: number, integer = false): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (String(raw).trim() === '' || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
    throw new TernlmError(`--${name} expects ${integer ? 'an integer' : 'a number'}, got '${String(raw)}'`);
  }
  return v;
}

export function samplingFromArgs(values: ModelArgs): SamplingOptions {
  const seed = values.seed === undefined ? undefined : numberFlag(values, 'seed', 0, true);
  return {
    temperature: numberFlag(values, 'temperature', 1),
    topK: numberFlag(values, 'top-k', 0, true),
    topP: numberFlag(values, 'top-p', 0.9),
    repetitionPenalty: numberFlag(values, 'repetition-penalty', 1),
    seed: seed === undefined ? undefined : seed >>> 0,
  };
}

/** Start the runtime with --threads, then load the model and its tokenizer. */
export async function openModel(values: ModelArgs, command: string): Promise<{ model: InferenceModel; tokenizer: Tokenizer }> {
  if (!values.model) throw new TernlmError(`--model <file> is required — see ternlm ${command} --help`);
  const threads = values.threads === undefined ? undefined : numberFlag(values, 'threads', 1, true);
  if (threads !== undefined && threads < 1) throw new TernlmError(`--threads must be at least 1, got ${threads}`);
  await initRuntime({ threads });
  const model = loadInferenceModel(values.model);
  return { model, tokenizer: resolveTokenizer(values.model, model, values.tokenizer) };
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, strict: true, options: { ...MODEL_OPTIONS, prompt: { type: 'string', default: '' } } });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const sampling = samplingFromArgs(values);
  const maxTokens = numberFlag(values, 'max-tokens', 256, true);
  const { model, tokenizer } = await openModel(values, 'generate');
  const prompt = values.prompt;
  process.stdout.write(prompt);
  const r = await generate(model, tokenizer, prompt, { ...sampling, maxTokens }, (text) => process.stdout.write(text));
  process.stdout.write('\n');
  const n = r.tokens.length;
  const perSecond = n > 1 ? ((n - 1) / r.decodeMs) * 1000 : 0;
  const why = { stop: 'end of text', length: 'max tokens', context: 'context full', aborted: 'stopped' }[r.stopReason];
  console.error(
    `${n} tokens (${why}) at ${perSecond.toFixed(1)} tokens/s; prompt ${r.promptTokens} tokens, first token after ${r.firstTokenMs.toFixed(1)} ms`,
  );
}
