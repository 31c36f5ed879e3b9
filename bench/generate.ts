// ternlm bench generate: time to first token and tokens/s of generation, on 1 thread (in a child
// process: one pool per process) and on all threads, with peak memory.
import { spawn } from 'node:child_process';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { TernlmError } from '../src/core/errors.js';
import { Rng } from '../src/core/rng.js';
import { initRuntime, rt } from '../src/core/runtime.js';
import { BatchDecoder } from '../src/infer/batch.js';
import { generate } from '../src/infer/generate.js';
import { loadInferenceModel, resolveTokenizer } from '../src/infer/load.js';
import type { InferenceModel } from '../src/infer/model.js';
import type { Tokenizer } from '../src/data/tokenizer.js';
import { formatPer1k, perToken, UsageMeter } from './energy.js';

const HELP = `usage: ternlm bench generate --model <file> [--tokenizer <file>] [--threads N] [--reps N] [--new-tokens N] [--greedy] [--batch B1,B2,...] [--json]

Generation speed, best of --reps runs (default 3) after a warm-up, sampling as llama2.c does by
default (temperature 1, top-p 0.9, fixed seed; --greedy: the most likely token, as the PyTorch
peer script decodes) and ignoring end-of-text so every run writes all its tokens:
  short   1-token prompt (BOS), --new-tokens new tokens (default 128; llama2.c's run.c -n 256
          decodes 255 after BOS, as --new-tokens 255 does)
  long    512-token prompt, --new-tokens new tokens (the prompt is clipped to context - that
          when the context is shorter; the report says so)
  full    1-token prompt, new tokens until the context is full
For each: time to first token (prefill + first sample), prefill tokens/s, decode tokens/s
(new tokens after the first / their time). Peak memory: the wasm heap's peak allocation and
the process's peak RSS. 1 thread runs in a child process; --threads (default: all cores) here.

--batch 1,4,16,32 measures batched decoding instead, as \`ternlm serve\` decodes concurrent
requests: for each size B, B replies (16-token prompts, --new-tokens new tokens each) generated
together by a BatchDecoder (one pass over the weights per token for all, where the engine has
stepBatch), tokens/s of all replies together from the first prompt in to the last token out.

Cost per 1,000 new tokens, over all timed runs of a case (prefill included, warm-up excluded):
CPU-ms of the process (all threads), and joules of the CPU packages where Linux's RAPL counters
are readable (docs/energy.md).`;

const NEW_TOKENS = 128;
const LONG_PROMPT = 512;

export interface CaseResult {
  promptTokens: number;
  newTokens: number;
  firstTokenMs: number;
  prefillTokensPerS: number;
  decodeTokensPerS: number;
  /** CPU-seconds and joules (null: no readable counters) per new token, over all timed runs. */
  cpuSecondsPerToken: number;
  joulesPerToken: number | null;
}

export interface ThreadResult {
  threads: number;
  build: string;
  /** What ran the kernels (Runtime.kernels). */
  kernels: string;
  cases: Record<string, CaseResult>;
  /** With --batch: tokens/s of B replies decoded together, per B. */
  batches: BatchResult[];
  memory: { heapPeakBytes: number; wasmMemoryBytes: number; maxRssBytes: number };
}

export interface BatchResult {
  replies: number;
  newTokens: number;
  /** New tokens of all replies / wall time from the first prompt in to the last token out. */
  tokensPerS: number;
  /** CPU-seconds and joules (null: no readable counters) per new token, over all timed runs. */
  cpuSecondsPerToken: number;
  joulesPerToken: number | null;
}

/** B replies decoded together, best of `reps`, for each B in `sizes`. */
async function timeBatches(meter: UsageMeter, model: InferenceModel, tok: Tokenizer, sizes: number[], newTokens: number, reps: number, greedy: boolean): Promise<BatchResult[]> {
  const out: BatchResult[] = [];
  for (const B of sizes) {
    const decoder = new BatchDecoder(model, tok, { maxBatch: B, maxWaiting: 0 });
    let best = 0;
    const before = meter.reading();
    for (let rep = 0; rep < reps; rep++) {
      const t0 = performance.now();
      const replies = await Promise.all(Array.from({ length: B }, (_, i) =>
        decoder.generate(promptOf(16, model, tok, 1 + i), { ...samplingOf(greedy), seed: 1 + rep * B + i, maxTokens: newTokens, stopTokens: [] })));
      const seconds = (performance.now() - t0) / 1000;
      if (replies.some((r) => r.tokens.length !== newTokens)) throw new Error(`a reply stopped before ${newTokens} tokens`);
      best = Math.max(best, (B * newTokens) / seconds);
    }
    out.push({ replies: B, newTokens, tokensPerS: best, ...perToken(meter.since(before), reps * B * newTokens) });
  }
  return out;
}

/** Prompt ids for timing: BOS then fixed pseudo-random tokens (the values do not change the cost). */
function promptOf(n: number, model: InferenceModel, tok: Tokenizer, seed = 1): number[] {
  const rng = new Rng(seed);
  const ids = [tok.bosId ?? tok.eotId];
  const lo = Math.min(3, tok.vocabSize - 1);
  while (ids.length < n) ids.push(lo + rng.int(Math.min(model.vocabSize, tok.vocabSize) - lo));
  return ids;
}

/** llama2.c's default sampling (temperature 1, top-p 0.9), or greedy (the PyTorch peer's). */
function samplingOf(greedy: boolean): { temperature: number; topP: number } {
  return greedy ? { temperature: 0, topP: 1 } : { temperature: 1, topP: 0.9 };
}

async function timeCase(meter: UsageMeter, model: InferenceModel, tok: Tokenizer, prompt: number[], newTokens: number, reps: number, greedy: boolean): Promise<CaseResult> {
  let best: Omit<CaseResult, 'cpuSecondsPerToken' | 'joulesPerToken'> | null = null;
  const before = meter.reading();
  for (let rep = 0; rep < reps; rep++) {
    const r = await generate(model, tok, prompt, { ...samplingOf(greedy), seed: 1 + rep, maxTokens: newTokens, stopTokens: [], bos: false });
    if (r.tokens.length !== newTokens) throw new Error(`expected ${newTokens} new tokens, got ${r.tokens.length} (${r.stopReason})`);
    const c = {
      promptTokens: prompt.length,
      newTokens,
      firstTokenMs: r.firstTokenMs,
      prefillTokensPerS: (prompt.length / r.firstTokenMs) * 1000,
      decodeTokensPerS: ((newTokens - 1) / r.decodeMs) * 1000,
    };
    // Best of the runs, per measure.
    best = best === null ? c : {
      ...c,
      firstTokenMs: Math.min(best.firstTokenMs, c.firstTokenMs),
      prefillTokensPerS: Math.max(best.prefillTokensPerS, c.prefillTokensPerS),
      decodeTokensPerS: Math.max(best.decodeTokensPerS, c.decodeTokensPerS),
    };
  }
  return { ...best!, ...perToken(meter.since(before), reps * newTokens) };
}

/** The three cases on this process's runtime. */
async function measure(meter: UsageMeter, model: InferenceModel, tok: Tokenizer, reps: number, greedy: boolean, newTokens: number, batchSizes: number[]): Promise<{ result: ThreadResult; notes: string[] }> {
  const C = model.contextLength;
  const notes: string[] = [];
  if (C < newTokens + 1) throw new TernlmError(`the model's context (${C} tokens) is shorter than the ${newTokens + 1} the benchmark needs — lower --new-tokens`);
  // Warm-up: let V8 optimise the JS around the kernels (sampler, generation loop, forward).
  await timeCase(meter, model, tok, promptOf(16, model, tok), NEW_TOKENS, 3, greedy);
  if (batchSizes.length > 0) {
    if (C < newTokens + 16) throw new TernlmError(`the model's context (${C} tokens) is shorter than the ${newTokens + 16} the batched benchmark needs — lower --new-tokens`);
    await timeBatches(meter, model, tok, batchSizes, Math.min(newTokens, 16), 1, greedy); // warm-up of the batched passes
    return { result: threadResult({}, await timeBatches(meter, model, tok, batchSizes, newTokens, reps, greedy)), notes };
  }
  const longLen = Math.min(LONG_PROMPT, C - newTokens);
  if (longLen < LONG_PROMPT) notes.push(`long prompt clipped to ${longLen} tokens (BOS included): the ${C}-token context must leave room for ${newTokens} new tokens`);
  const fullNew = Number.isFinite(C) ? C : 1024; // BOS at position 0, then tokens until position C is reached
  if (!Number.isFinite(C)) notes.push('the model has no context limit: "full" generates 1024 tokens');
  const cases: Record<string, CaseResult> = {
    short: await timeCase(meter, model, tok, promptOf(1, model, tok), newTokens, reps, greedy),
    long: await timeCase(meter, model, tok, promptOf(longLen, model, tok), newTokens, reps, greedy),
    full: await timeCase(meter, model, tok, promptOf(1, model, tok), fullNew, reps, greedy),
  };
  return { result: threadResult(cases, []), notes };
}

/** What this process measured, with its runtime and peak memory. */
function threadResult(cases: Record<string, CaseResult>, batches: BatchResult[]): ThreadResult {
  const r = rt();
  const heap = r.heap.stats();
  return {
    threads: r.threads,
    build: r.build,
    kernels: r.kernels,
    cases,
    batches,
    memory: { heapPeakBytes: heap.peak, wasmMemoryBytes: heap.memoryBytes, maxRssBytes: process.resourceUsage().maxRSS * 1024 },
  };
}

/** Run this benchmark with --threads 1 in a child process and return its JSON. */
function measureInChild(args: string[]): Promise<{ runs: ThreadResult[] }> {
  const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, 'bench', 'generate', ...args, '--threads', '1', '--json'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`the 1-thread child exited with code ${code}`));
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`the 1-thread child printed no JSON: ${out.slice(0, 200)}`));
      }
    });
  });
}

const mib = (b: number): string => (b / 2 ** 20).toFixed(1);

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      model: { type: 'string' }, tokenizer: { type: 'string' }, threads: { type: 'string' },
      reps: { type: 'string', default: '3' }, 'new-tokens': { type: 'string', default: String(NEW_TOKENS) }, greedy: { type: 'boolean', default: false }, batch: { type: 'string' }, json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.model) throw new TernlmError('--model <file> is required — see ternlm bench generate --help');
  const reps = Number(values.reps);
  if (!Number.isInteger(reps) || reps < 1) throw new TernlmError(`--reps must be a positive integer, got '${values.reps}'`);
  const newTokens = Number(values['new-tokens']);
  if (!Number.isInteger(newTokens) || newTokens < 2) throw new TernlmError(`--new-tokens must be an integer of at least 2, got '${values['new-tokens']}'`);
  const threads = values.threads === undefined ? availableParallelism() : Number(values.threads);
  if (!Number.isInteger(threads) || threads < 1) throw new TernlmError(`--threads must be a positive integer, got '${values.threads}'`);

  const batchSizes = values.batch === undefined ? [] : values.batch.split(',').map(Number);
  if (batchSizes.some((b) => !Number.isInteger(b) || b < 1 || b > 1024)) throw new TernlmError(`--batch takes sizes from 1 to 1024 separated by commas, e.g. 1,4,16,32; got '${values.batch}'`);

  // The 1-thread child first, so that this process's threads do not compete with it.
  const greedy = values.greedy === true;
  const childArgs = ['--model', values.model, '--reps', String(reps), '--new-tokens', String(newTokens), ...(values.tokenizer ? ['--tokenizer', values.tokenizer] : []), ...(greedy ? ['--greedy'] : []), ...(values.batch ? ['--batch', values.batch] : [])];
  const single = threads > 1 ? (await measureInChild(childArgs)).runs : [];

  await initRuntime({ threads });
  const model = loadInferenceModel(values.model);
  const tok = resolveTokenizer(values.model, model, values.tokenizer);
  const meter = new UsageMeter();
  const { result, notes } = await measure(meter, model, tok, reps, greedy, newTokens, batchSizes);
  const runs = [...single, result];
  const report = {
    model: values.model,
    family: model.family,
    config: model.config,
    contextLength: model.contextLength,
    node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown',
    sampling: { ...samplingOf(greedy), stopTokens: 'none' },
    reps,
    energy: meter.describe(),
    notes,
    runs,
  };
  if (values.json) {
    console.log(JSON.stringify(report));
    return;
  }
  console.log(`ternlm bench generate — ${values.model} (${model.family}, context ${model.contextLength}), Node ${process.version}, ${report.cpu}, best of ${reps}`);
  console.log(meter.headline());
  for (const n of notes) console.log(`note: ${n}`);
  for (const r of runs) {
    console.log(`\n${r.threads} thread${r.threads > 1 ? 's' : ''} (${r.kernels})`);
    if (r.batches.length > 0) {
      console.log('  replies together   new tokens each   tokens/s in all   vs 1 reply   per 1,000 new tokens');
      const one = r.batches.find((b) => b.replies === 1)?.tokensPerS;
      for (const b of r.batches) {
        console.log(`  ${String(b.replies).padStart(16)} ${String(b.newTokens).padStart(17)} ${b.tokensPerS.toFixed(0).padStart(17)} ${(one ? `${(b.tokensPerS / one).toFixed(2)}×` : '').padStart(12)}   ${formatPer1k(b.cpuSecondsPerToken, b.joulesPerToken)}`);
      }
    } else {
      console.log('  case    prompt    new   first token   prefill tok/s   decode tok/s   per 1,000 new tokens');
    }
    for (const [name, c] of Object.entries(r.cases)) {
      console.log(`  ${name.padEnd(6)} ${String(c.promptTokens).padStart(7)} ${String(c.newTokens).padStart(6)} ${c.firstTokenMs.toFixed(2).padStart(10)} ms ${c.prefillTokensPerS.toFixed(0).padStart(15)} ${c.decodeTokensPerS.toFixed(0).padStart(14)}   ${formatPer1k(c.cpuSecondsPerToken, c.joulesPerToken)}`);
    }
    console.log(`  memory: wasm heap peak ${mib(r.memory.heapPeakBytes)} MiB (memory ${mib(r.memory.wasmMemoryBytes)} MiB), process peak RSS ${mib(r.memory.maxRssBytes)} MiB`);
  }
}
