// ternlm generate: continue a prompt with a model, streaming text to stdout.
import { TernlmError } from '../core/errors.js';
import { initRuntime, rt } from '../core/runtime.js';
import { checkPromptFits, generate, promptIds } from '../infer/generate.js';
import { loadInferenceModel, resolveTokenizer } from '../infer/load.js';
import type { InferenceModel } from '../infer/model.js';
import type { Tokenizer } from '../data/tokenizer.js';
import type { SamplingOptions } from '../heads/sampling.js';
import { integerFlag, numberFlag, parseFlags, seedFlag, threadsFlag } from './args.js';

const HELP = `usage: ternlm generate --model <file> [options]

Continue a prompt with a model; the text streams to stdout (the prompt first), speed goes to
stderr at the end.

options:
  --model <file>              an exported model (ternlm export) or a llama2.c .bin
  --tokenizer <file|gpt2>     default: tok<vocab>.bin or tokenizer.bin beside the model
  --prompt <text>             text to continue (default: empty — start a new document);
                              it must fit the model's context
  --max-tokens <n>            most new tokens (default 256; generation also ends at the
                              end-of-text token and when the model's context is full)
  --temperature <t>           0 = greedy, up to 100 (default 1)
  --top-k <k>                 sample among the k most likely tokens (default 0 = off)
  --top-p <p>                 nucleus sampling: the smallest set reaching probability p,
                              above 0 and at most 1 (default 0.9; 1 = off)
  --repetition-penalty <r>    penalise tokens of the last 64, above 0 (default 1 = off;
                              try 1.1)
  --seed <n>                  seed of the sampler, 0 to 2^32-1 (default: from the clock)
  --threads <n>               compute threads, 1 to 4 × the cores (default: all cores)
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

/** The number options of generate and chat, every one read and range-checked before anything runs. */
export interface ModelFlags {
  sampling: SamplingOptions;
  maxTokens: number;
  threads: number | undefined;
}

export function modelFlags(values: ModelArgs): ModelFlags {
  return {
    sampling: {
      temperature: numberFlag(values, 'temperature', { min: 0, max: 100 }, 1),
      topK: integerFlag(values, 'top-k', { min: 0 }, 0),
      topP: numberFlag(values, 'top-p', { min: 0, aboveMin: true, max: 1 }, 0.9),
      repetitionPenalty: numberFlag(values, 'repetition-penalty', { min: 0, aboveMin: true, max: 100 }, 1),
      seed: seedFlag(values),
    },
    maxTokens: integerFlag(values, 'max-tokens', { min: 1, max: 1_000_000 }, 256),
    threads: threadsFlag(values),
  };
}

/** What chat and serve say of a loaded model on their first line: family, context, template, kernels. */
export function modelSummary(model: InferenceModel, templated: boolean): string {
  const context = Number.isFinite(model.contextLength) ? `context ${model.contextLength} tokens` : 'no context limit';
  return `${model.family}, ${context}${templated ? ', chat template' : ''}; ${rt().kernels}`;
}

/** Start the runtime on `threads`, then load the model and its tokenizer. */
export async function openModel(values: ModelArgs, threads: number | undefined, command: string): Promise<{ model: InferenceModel; tokenizer: Tokenizer }> {
  if (!values.model) throw new TernlmError(`--model <file> is required — see \`ternlm ${command} --help\``);
  await initRuntime({ threads });
  const model = loadInferenceModel(values.model);
  return { model, tokenizer: resolveTokenizer(values.model, model, values.tokenizer) };
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseFlags('generate', args, { ...MODEL_OPTIONS, prompt: { type: 'string', default: '' } });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const { sampling, maxTokens, threads } = modelFlags(values);
  const { model, tokenizer } = await openModel(values, threads, 'generate');
  const prompt = values.prompt;
  // Refuse a prompt that cannot fit before echoing any of it (generate() checks the same ids).
  const ids = promptIds(model, tokenizer, prompt, true);
  checkPromptFits(model, ids.length);
  process.stdout.write(prompt);
  const r = await generate(model, tokenizer, ids, { ...sampling, maxTokens, bos: false }, (text) => process.stdout.write(text));
  process.stdout.write('\n');
  const n = r.tokens.length;
  const perSecond = n > 1 ? ((n - 1) / r.decodeMs) * 1000 : 0;
  const why = { stop: 'end of text', length: 'max tokens', context: 'context full', aborted: 'stopped' }[r.stopReason];
  console.error(
    `${n} tokens (${why}) at ${perSecond.toFixed(1)} tokens/s; prompt ${r.promptTokens} tokens, first token after ${r.firstTokenMs.toFixed(1)} ms; ${rt().kernels}, ${rt().threads} thread${rt().threads > 1 ? 's' : ''}`,
  );
}
