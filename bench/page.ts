// `ternlm bench page`: the training page's speed in headless Chromium against the same training
// in Node. Serves the page in this process (a ModelServer without a model, on a free port), opens
// it in Chromium through playwright-core, trains a preset on the built-in stories and reads each
// step's time from the page's `ternlm-worker` events. Then it runs the same steps in Node
// (src/serve/web/training.ts, the code the page's worker runs: same text, 512-token BPE, model,
// batches and seed) on the wasm backend and on the native one, on the page's thread count.
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import type { Browser } from 'playwright-core';
import { TernlmError } from '../src/core/errors.js';
import type { BpeTokenizer } from '../src/data/bpe-tokenizer.js';
import { nativeAvailable, type Backend } from '../src/core/native.js';
import { initRuntime, maxThreads, rt, shutdownRuntime } from '../src/core/runtime.js';
import { ModelServer } from '../src/serve/server.js';
import { PRESETS, type Preset } from '../src/serve/web/presets.js';
import type { FromWorker } from '../src/serve/web/protocol.js';
import { corpusText, disposeRun, newRun, prepareCorpus, trainStep, type Corpus } from '../src/serve/web/training.js';

/** Steps before the timed ones, in the page and in Node: the wasm tiers up, the heap settles. */
const WARMUP = 5;

const HELP = `usage: ternlm bench page [--preset <name>] [--steps N] [--threads N] [--json]

Trains a preset of the training page (${PRESETS.map((p) => p.id).join(', ')}; default
flashlm-micro) on the built-in stories for --steps timed steps (default 40) after ${WARMUP} warm-up
steps, three times: in the page in headless Chromium (wasm kernels on --threads threads; default
the page's own choice, navigator.hardwareConcurrency up to 4), then in Node with the page's
training code, text, 512-token tokenizer, model and batches on the wasm backend and on the native
one (Node's default), on the same threads. A step's tokens/s is batch x sequence over its wall
time; the table gives the median and the best step, all timed steps together (their tokens over
their total time), and the page's median over Node's. Needs playwright-core
(npm install playwright-core) and Chromium (apt-get install chromium).`;

/** Where Debian's and others' Chromium live; the first that exists, or undefined. */
export function chromiumPath(): string | undefined {
  return ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p));
}

/** Headless Chromium through playwright-core; one line naming what to install when either is missing. */
export async function launchChromium(): Promise<Browser> {
  const executablePath = chromiumPath();
  if (!executablePath) throw new TernlmError('no Chromium found in /usr/bin — install it: apt-get install chromium');
  let chromium: typeof import('playwright-core').chromium;
  try {
    ({ chromium } = await import('playwright-core'));
  } catch {
    throw new TernlmError('playwright-core is not installed — npm install playwright-core');
  }
  try {
    return await chromium.launch({
      executablePath,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  } catch (err) {
    throw new TernlmError(`${executablePath} did not start: ${(err as Error).message.split('\n')[0]} — check that it runs (${executablePath} --headless --version)`);
  }
}

/** Tokens/s of timed steps: the median and best step, and all of them together. */
export interface Speed {
  median: number;
  best: number;
  all: number;
}

/** Speed of steps of `tokens` tokens each that took `ms` milliseconds. */
function speedOf(ms: number[], tokens: number): Speed {
  const sorted = [...ms].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const medianMs = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  const total = ms.reduce((s, x) => s + x, 0);
  return { median: (tokens / medianMs) * 1000, best: (tokens / sorted[0]) * 1000, all: ((tokens * ms.length) / total) * 1000 };
}

/** One side's result: the speed, the loss of the last step (the same run gives about the same), and what ran. */
interface Side {
  speed: Speed;
  lastLoss: number;
  kernels: string;
}

interface PageSide extends Side {
  chromium: string;
  hardwareConcurrency: number;
  threads: number;
}

/** Messages the page's worker sent, as its `ternlm-worker` events collected them (window.ternlmMessages). */
type Collected = Window & { ternlmMessages: FromWorker[] };

/** Train the preset in the page on the built-in stories; `threads` null leaves the page its default. */
async function pageSide(preset: Preset, steps: number, threads: number | null): Promise<PageSide> {
  const browser = await launchChromium();
  const server = new ModelServer({});
  try {
    const { port } = await server.listen(0, '127.0.0.1');
    const page = await browser.newPage();
    await page.addInitScript(() => {
      const w = window as unknown as Collected;
      w.ternlmMessages = [];
      addEventListener('ternlm-worker', (e) => {
        const msg = (e as CustomEvent<FromWorker>).detail;
        if (msg.type === 'ready' || msg.type === 'step' || msg.type === 'paused' || msg.type === 'error') w.ternlmMessages.push(msg);
      });
    });
    const response = await page.goto(`http://127.0.0.1:${port}/${threads === null ? '' : `?threads=${threads}`}`);
    if (response?.status() === 404) throw new TernlmError('the page is not built — run npm run build');
    /** The messages so far, once one of type `until` (or an error) came within `seconds`. */
    const messages = async (until: FromWorker['type'], seconds: number, what: string): Promise<FromWorker[]> => {
      try {
        await page.waitForFunction((type) => (window as unknown as Collected).ternlmMessages.some((m) => m.type === type || m.type === 'error'), until, { timeout: seconds * 1000, polling: 200 });
      } catch (err) {
        if ((err as Error).name === 'TimeoutError') throw new TernlmError(`the page did not ${what} within ${seconds} s — is the machine busy? try fewer --steps`);
        throw err;
      }
      const got = await page.evaluate(() => (window as unknown as Collected).ternlmMessages);
      const error = got.find((m) => m.type === 'error');
      if (error?.type === 'error') throw new TernlmError(`the page says: ${error.text}`);
      return got;
    };
    const ready = (await messages('ready', 120, 'start its runtime')).find((m) => m.type === 'ready');
    if (ready?.type !== 'ready') throw new Error('no ready message');
    await page.check('input[name=corpus][value=stories]');
    await page.selectOption('#preset', preset.id);
    await page.fill('#steps', String(WARMUP + steps));
    await page.click('#train');
    const done = await messages('paused', 600 + 30 * (WARMUP + steps), `train ${WARMUP + steps} steps`);
    const timed = done.flatMap((m) => (m.type === 'step' && m.step > WARMUP ? [m] : []));
    if (timed.length !== steps) throw new Error(`the page reported ${timed.length} timed steps, not ${steps}`);
    const { batchSize, seqLen } = preset.train;
    return {
      speed: speedOf(timed.map((m) => m.ms), batchSize * seqLen),
      lastLoss: timed[timed.length - 1].loss,
      kernels: `wasm ${ready.build} SIMD`,
      chromium: browser.version(),
      hardwareConcurrency: await page.evaluate(() => navigator.hardwareConcurrency),
      threads: ready.threads,
    };
  } finally {
    await browser.close();
    await server.shutdown();
  }
}

/** Train the preset in Node on the page's tokens and tokenizer, on a runtime of `backend` started (and stopped) here. */
async function nodeSide(preset: Preset, steps: number, threads: number, backend: Backend, data: { tokenizer: BpeTokenizer; corpus: Corpus }): Promise<Side> {
  const { tokenizer, corpus } = data;
  await initRuntime({ threads, backend });
  try {
    const run = newRun(preset, tokenizer, corpus, WARMUP + steps);
    const ms: number[] = [];
    let lastLoss = NaN;
    for (let i = 0; i < WARMUP + steps; i++) {
      const step = trainStep(run);
      if (i >= WARMUP) ms.push(step.ms);
      lastLoss = step.loss;
    }
    disposeRun(run);
    return { speed: speedOf(ms, preset.train.batchSize * preset.train.seqLen), lastLoss, kernels: rt().kernels };
  } finally {
    await shutdownRuntime();
  }
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      preset: { type: 'string', default: 'flashlm-micro' }, steps: { type: 'string', default: '40' }, threads: { type: 'string' },
      json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const preset = PRESETS.find((p) => p.id === values.preset);
  if (!preset) throw new TernlmError(`unknown preset '${values.preset}' — one of ${PRESETS.map((p) => p.id).join(', ')}`);
  const steps = Number(values.steps);
  if (!Number.isInteger(steps) || steps < 1) throw new TernlmError(`--steps must be a whole number of at least 1, got '${values.steps}'`);
  const limit = maxThreads(cpus().length);
  const asked = values.threads === undefined ? null : Number(values.threads);
  if (asked !== null && !(Number.isInteger(asked) && asked >= 1 && asked <= limit)) {
    throw new TernlmError(`--threads must be a whole number from 1 to ${limit} (4 × this machine's cores), got '${values.threads}'`);
  }

  const page = await pageSide(preset, steps, asked);
  const data = prepareCorpus(corpusText({ kind: 'stories' }), preset, () => {});
  const nodeWasm = await nodeSide(preset, steps, page.threads, 'wasm', data);
  const nodeNative = (await nativeAvailable()) ? await nodeSide(preset, steps, page.threads, 'native', data) : null;
  const ratio = (node: Side | null): number | null => (node ? page.speed.median / node.speed.median : null);
  const report = {
    preset: preset.id, warmupSteps: WARMUP, steps, threads: page.threads, tokensPerStep: preset.train.batchSize * preset.train.seqLen,
    chromium: page.chromium, hardwareConcurrency: page.hardwareConcurrency, node: process.version,
    page: { kernels: page.kernels, ...page.speed, lastLoss: page.lastLoss },
    nodeWasm: { kernels: nodeWasm.kernels, ...nodeWasm.speed, lastLoss: nodeWasm.lastLoss },
    nodeNative: nodeNative && { kernels: nodeNative.kernels, ...nodeNative.speed, lastLoss: nodeNative.lastLoss },
    pageOverNodeWasm: ratio(nodeWasm), pageOverNodeNative: ratio(nodeNative),
  };
  if (values.json) {
    console.log(JSON.stringify(report));
    return;
  }
  const n = (x: number): string => Math.round(x).toLocaleString('en-US');
  console.log(`ternlm bench page — ${preset.id}, batch ${preset.train.batchSize} × sequence ${preset.train.seqLen}, ${steps} timed steps after ${WARMUP}, ${page.threads} threads`);
  console.log(`Chromium ${page.chromium} (navigator.hardwareConcurrency ${page.hardwareConcurrency}), Node ${process.version}`);
  console.log(`${' '.repeat(52)}tokens/s: median      best  all steps   page / this   last loss`);
  const row = (name: string, side: Side, r: number | null): void => {
    console.log(`  ${name.padEnd(56)} ${n(side.speed.median).padStart(9)} ${n(side.speed.best).padStart(9)} ${n(side.speed.all).padStart(10)} ${(r === null ? '' : `${r.toFixed(2)}×`).padStart(13)} ${side.lastLoss.toFixed(3).padStart(11)}`);
  };
  row(`page: Chromium, ${page.kernels}, ${page.threads} threads`, page, null);
  row(`Node, ${nodeWasm.kernels}`, nodeWasm, ratio(nodeWasm));
  if (nodeNative) row(`Node, ${nodeNative.kernels}`, nodeNative, ratio(nodeNative));
  else console.log('  Node native: the native addon is not built here (npm run build:native)');
}
