// The page's training worker: a module Web Worker that holds the ternlm runtime (whose kernel
// pool starts its own workers, nested in this one), the text, the tokenizer, the model and its
// optimizer, and the inference engine opened on the exported bytes. The tab's main thread
// (page.ts) only draws; every step, token and export happens here, so the page stays responsive.
//
// Training uses the library's own pieces through training.ts (which `ternlm bench page` also
// runs in Node): createModel, the trainer's objective, optimizer and schedule (train/setup.ts),
// forwardBackward and applyGradients (train/step.ts). Generation and
// chat run the packed inference engine on the very bytes the download button saves.
import { TernlmError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import { initRuntime, maxThreads } from '../../core/runtime.js';
import { BpeTokenizer } from '../../data/bpe-tokenizer.js';
import { Conversation } from '../../infer/conversation.js';
import { exportedModel } from '../../infer/exported.js';
import { generate, yieldToEventLoop } from '../../infer/generate.js';
import type { InferenceModel } from '../../infer/model.js';
import { exportPackedBytes, openPackedBytes } from '../../infer/packed-format.js';
import { createModel, withVocabulary } from '../../models/index.js';
import { rowsLoss } from '../../train/batch.js';
import { PAGE_VOCAB, PRESETS, presetOf, type Preset } from './presets.js';
import type { CorpusChoice, FromWorker, ToWorker } from './protocol.js';
import { SEED, corpusText, disposeRun, newRun, prepareCorpus, trainStep, type Run } from './training.js';

/** Validation scores up to this many windows of the slice, from its start. */
const VAL_WINDOWS = 32;
/** Validate every this many steps (and at every pause). */
const VAL_EVERY = 25;
/** Steps the tokens-per-second figure is averaged over. */
const SPEED_WINDOW = 10;

const workerScope = globalThis as unknown as { postMessage(msg: FromWorker, transfer?: Transferable[]): void; onmessage: ((e: MessageEvent<ToWorker>) => void) | null };
const post = (msg: FromWorker, transfer: Transferable[] = []): void => workerScope.postMessage(msg, transfer);

/** The engine on the export of the model at `step`, and the conversation with it. */
interface Exported {
  step: number;
  name: string;
  data: Uint8Array;
  engine: InferenceModel;
  chat: Conversation | null;
}

let run: Run | null = null;
let exported: Exported | null = null;
let training = false;
let stopAsked = false;
/** Messages are handled one at a time, in order (training yields between steps to see a stop). */
let busy: Promise<void> = Promise.resolve();

const threads = threadsWanted();
const runtime = await initRuntime({ threads: threads.threads });
post({ type: 'ready', threads: runtime.threads, build: runtime.build, presets: PRESETS.map((p) => ({ id: p.id, label: p.label, parameters: parameterCount(p, PAGE_VOCAB) })) });
if (threads.refusal) post({ type: 'error', text: threads.refusal });

workerScope.onmessage = (e) => {
  const msg = e.data;
  if (msg.type === 'stop') {
    stopAsked = true;
    return;
  }
  busy = busy.then(() => handle(msg)).catch((err: unknown) => {
    training = false;
    post({ type: 'error', text: err instanceof TernlmError ? err.message : `internal error: ${err instanceof Error ? err.message : String(err)}` });
    if (!(err instanceof TernlmError)) console.error(err);
  });
};

async function handle(msg: ToWorker): Promise<void> {
  switch (msg.type) {
    case 'train':
      startRun(msg.corpus, presetOf(msg.preset), msg.steps);
      return trainLoop();
    case 'continue':
      if (!run) throw new TernlmError('there is no model yet — press Train first');
      run.target = run.step + msg.steps;
      return trainLoop();
    case 'generate':
      return generateText(msg.prompt, msg.maxTokens, msg.temperature);
    case 'chat':
      return chat(msg.message, msg.temperature);
    case 'chat-clear':
      exported?.chat?.clear();
      return;
    case 'export': {
      const e = currentExport();
      post({ type: 'export', name: e.name, data: e.data.slice() });
      return;
    }
    case 'stop':
      return;
  }
}

/**
 * The compute threads: `?threads=N` in the page's address (page.ts gives this worker its query),
 * else the browser's hardware threads up to 4; and the line refusing an N out of range.
 */
function threadsWanted(): { threads: number; refusal: string | null } {
  const cores = navigator.hardwareConcurrency || 1;
  const fallback = Math.min(4, cores);
  const asked = new URLSearchParams(location.search).get('threads');
  if (asked === null) return { threads: fallback, refusal: null };
  const n = Number(asked), limit = maxThreads(cores);
  if (Number.isInteger(n) && n >= 1 && n <= limit) return { threads: n, refusal: null };
  return { threads: fallback, refusal: `threads=${asked} in the address is not a whole number from 1 to ${limit} — the page runs on ${fallback}; give one in range, or leave it out` };
}

/** Parameters of a preset's model at `vocab` tokens (built and freed). */
function parameterCount(preset: Preset, vocab: number): number {
  const model = createModel(withVocabulary(preset.model, vocab), new Rng(SEED));
  const n = model.parameterCount();
  model.dispose();
  return n;
}

/** Free the previous run and its engine, then build a fresh model on the chosen text. */
function startRun(choice: CorpusChoice, preset: Preset, steps: number): void {
  const { tokenizer, corpus } = prepareCorpus(corpusText(choice), preset, (text) => post({ type: 'status', text }));
  dropExport();
  if (run) {
    disposeRun(run);
    run = null;
  }
  run = newRun(preset, tokenizer, corpus, steps);
  post({ type: 'model', parameters: run.model.parameterCount(), trainTokens: corpus.train.length, valTokens: corpus.val.length });
}

/** Train until the target step or a stop; validate every VAL_EVERY steps and at the pause. */
async function trainLoop(): Promise<void> {
  const r = run!;
  const tokens = r.preset.train.batchSize * r.preset.train.seqLen;
  training = true;
  stopAsked = false;
  dropExport();
  post({ type: 'status', text: `training on ${runtime.threads} threads` });
  if (r.step === 0) validate(r);
  while (r.step < r.target && !stopAsked) {
    const { loss, lr, applied, ms } = trainStep(r);
    if (!applied) post({ type: 'status', text: `step ${r.step}: the gradient was not finite and was not applied` });
    r.recent.push({ ms, tokens });
    if (r.recent.length > SPEED_WINDOW) r.recent.shift();
    const windowMs = r.recent.reduce((s, x) => s + x.ms, 0), windowTokens = r.recent.reduce((s, x) => s + x.tokens, 0);
    post({ type: 'step', step: r.step, planned: r.planned, loss, lr, tokensPerSecond: (windowTokens / windowMs) * 1000, ms });
    if (r.step % VAL_EVERY === 0) validate(r);
    await yieldToEventLoop();
  }
  if (r.step % VAL_EVERY !== 0) validate(r);
  training = false;
  post({ type: 'paused', step: r.step, done: r.step >= r.target });
}

/** Mean loss and bits per byte over the first VAL_WINDOWS windows of the validation slice. */
function validate(r: Run): void {
  const { batchSize: B, seqLen: T } = r.preset.train;
  const val = r.corpus.val;
  const windows = Math.min(VAL_WINDOWS, Math.floor((val.length - 1) / T));
  let nats = 0, counted = 0;
  for (let w = 0; w < windows; w += B) {
    const rows = Math.min(B, windows - w);
    const batch = new Int32Array(rows * (T + 1));
    for (let i = 0; i < rows; i++) batch.set(val.subarray((w + i) * T, (w + i) * T + T + 1), i * (T + 1));
    const l = rowsLoss(r.model, batch, rows, T, undefined);
    nats += l.nats;
    counted += l.counted;
  }
  const loss = nats / counted;
  // Nats per token times the slice's tokens per byte, in bits (data/meta.ts bitsPerByte).
  post({ type: 'val', step: r.step, loss, bpb: (loss * val.length) / (r.corpus.valBytes * Math.LN2) });
}

/** The export of the model as it is now, and the engine opened on those bytes (made again after training). */
function currentExport(): Exported {
  if (!run) throw new TernlmError('there is no model yet — press Train first');
  if (training) throw new TernlmError('the model is training — press Stop first');
  if (exported?.step === run.step) return exported;
  dropExport();
  const name = `ternlm-${run.preset.id}-step${run.step}.safetensors`;
  const { data } = exportPackedBytes(run.model, run.tokenizer.toJSON());
  const { file, meta } = openPackedBytes(data, name);
  const engine = exportedModel({ file, meta, tokenizer: BpeTokenizer.fromJSON(meta.tokenizer as object, name) });
  exported = { step: run.step, name, data, engine, chat: null };
  return exported;
}

function dropExport(): void {
  exported?.chat?.dispose();
  exported?.engine.dispose();
  exported = null;
}

/** Stream a continuation of `prompt` from the engine. */
async function generateText(prompt: string, maxTokens: number, temperature: number): Promise<void> {
  const { engine } = currentExport();
  const t0 = performance.now();
  const result = await generate(engine, engine.tokenizer!, prompt, { maxTokens, temperature }, (text) => post({ type: 'text', target: 'generate', text }));
  post({ type: 'text-end', target: 'generate', tokens: result.tokens.length, tokensPerSecond: (result.tokens.length / (performance.now() - t0)) * 1000 });
}

/** One chat turn with the engine: the reply streams into the chat. */
async function chat(message: string, temperature: number): Promise<void> {
  const e = currentExport();
  e.chat ??= new Conversation(e.engine, e.engine.tokenizer!, { maxTokens: 64, temperature });
  const t0 = performance.now();
  const result = await e.chat.reply(message, (text) => post({ type: 'text', target: 'chat', text }));
  post({ type: 'text-end', target: 'chat', tokens: result.tokens.length, tokensPerSecond: (result.tokens.length / (performance.now() - t0)) * 1000 });
}
