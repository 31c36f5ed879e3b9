// The page's training worker: a module Web Worker that holds the ternlm runtime (whose kernel
// pool starts its own workers, nested in this one), the text, the tokenizer, the model and its
// optimizer, and the inference engine opened on the exported bytes. The tab's main thread
// (page.ts) only draws; every step, token and export happens here, so the page stays responsive.
//
// Training uses the library's own pieces: createModel, the trainer's objective, optimizer and
// schedule (train/setup.ts), forwardBackward and applyGradients (train/step.ts). Generation and
// chat run the packed inference engine on the very bytes the download button saves.
import { TernlmError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import { initRuntime } from '../../core/runtime.js';
import { WordCounter, trainBpe } from '../../data/bpe.js';
import { BpeTokenizer } from '../../data/bpe-tokenizer.js';
import { generateStories, storiesText } from '../../data/story-generator.js';
import { Conversation } from '../../infer/conversation.js';
import { exportedModel } from '../../infer/exported.js';
import { generate, yieldToEventLoop } from '../../infer/generate.js';
import type { InferenceModel } from '../../infer/model.js';
import { exportPackedBytes, openPackedBytes } from '../../infer/packed-format.js';
import { createModel, withVocabulary, type LanguageModel, type ModelConfig } from '../../models/index.js';
import { TokenWindows, rowsLoss } from '../../train/batch.js';
import { FSP_DEFAULTS, TrainingObjective } from '../../train/fsp.js';
import { createOptimizer, learningRate, type Optimizer } from '../../train/setup.js';
import { applyGradients, forwardBackward } from '../../train/step.js';
import { PAGE_VOCAB, PRESETS, presetOf, type Preset } from './presets.js';
import type { CorpusChoice, FromWorker, ToWorker } from './protocol.js';

/** Stories of the built-in corpus (about 1.9 MB of text). */
const STORIES = 5000;
/** The last tenth of the text is the validation slice. */
const VAL_FRACTION = 0.1;
/** Validation scores up to this many windows of the slice, from its start. */
const VAL_WINDOWS = 32;
/** Validate every this many steps (and at every pause). */
const VAL_EVERY = 25;
/** Steps the tokens-per-second figure is averaged over. */
const SPEED_WINDOW = 10;
const SEED = 1;

const workerScope = globalThis as unknown as { postMessage(msg: FromWorker, transfer?: Transferable[]): void; onmessage: ((e: MessageEvent<ToWorker>) => void) | null };
const post = (msg: FromWorker, transfer: Transferable[] = []): void => workerScope.postMessage(msg, transfer);

/** Token ids of the training text and the validation slice, and the slice's UTF-8 size. */
interface Corpus {
  train: Int32Array;
  val: Int32Array;
  valBytes: number;
}

/** One training run: the model, its optimizer and where it is. */
interface Run {
  preset: Preset;
  tokenizer: BpeTokenizer;
  corpus: Corpus;
  model: LanguageModel<ModelConfig>;
  objective: TrainingObjective;
  optimizer: Optimizer;
  windows: TokenWindows;
  step: number;
  /** Steps of the learning-rate schedule; continuing past them keeps its last rate. */
  planned: number;
  /** Train until this step. */
  target: number;
  /** Milliseconds and tokens of the latest steps, for tokens per second. */
  recent: { ms: number; tokens: number }[];
}

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

const runtime = await initRuntime({ threads: Math.min(4, navigator.hardwareConcurrency || 1) });
post({ type: 'ready', threads: runtime.threads, build: runtime.build, presets: PRESETS.map((p) => ({ id: p.id, label: p.label, parameters: parameterCount(p, PAGE_VOCAB) })) });

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

/** Parameters of a preset's model at `vocab` tokens (built and freed). */
function parameterCount(preset: Preset, vocab: number): number {
  const model = createModel(withVocabulary(preset.model, vocab), new Rng(SEED));
  const n = model.parameterCount();
  model.dispose();
  return n;
}

/** The text of the user's choice, checked: UTF-8 text, not empty. */
function corpusText(choice: CorpusChoice): string {
  if (choice.kind === 'stories') return storiesText(generateStories(STORIES, SEED));
  const bytes = new Uint8Array(choice.bytes);
  if (bytes.length === 0) throw new TernlmError(`${choice.name} is empty — choose a text file with some writing in it`);
  if (bytes.includes(0)) throw new TernlmError(`${choice.name} is not a text file (it holds zero bytes) — choose a plain-text .txt file`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new TernlmError(`${choice.name} is not UTF-8 text — save it as UTF-8 plain text, or choose another file`);
  }
}

/** Train a BPE on the text, hold out its last tenth (from a line start), tokenize both parts. */
function prepareCorpus(text: string, preset: Preset): { tokenizer: BpeTokenizer; corpus: Corpus } {
  post({ type: 'status', text: `training a ${PAGE_VOCAB}-token BPE tokenizer on ${(text.length / 1e6).toFixed(2)} M characters` });
  const counter = new WordCounter();
  counter.add(text);
  counter.flush();
  const { tokenizer } = trainBpe(counter.counts, { vocabSize: PAGE_VOCAB });
  let cut = Math.floor(text.length * (1 - VAL_FRACTION));
  const lineStart = text.lastIndexOf('\n', cut);
  if (lineStart > cut / 2) cut = lineStart + 1;
  post({ type: 'status', text: 'tokenizing' });
  const train = Int32Array.from(tokenizer.encode(text.slice(0, cut)));
  const valText = text.slice(cut);
  const val = Int32Array.from(tokenizer.encode(valText));
  const need = preset.train.seqLen + 1;
  if (train.length < need || val.length < need) {
    const bytesPerToken = text.length / (train.length + val.length);
    const enough = Math.ceil((need / VAL_FRACTION) * bytesPerToken / 1000);
    throw new TernlmError(`the text is too short: its validation slice (the last tenth) holds ${val.length} tokens and one window of this model needs ${need} — give at least ${enough} KB of text, or pick the built-in stories`);
  }
  return { tokenizer, corpus: { train, val, valBytes: new TextEncoder().encode(valText).length } };
}

/** Free the previous run and its engine, then build a fresh model on the chosen text. */
function startRun(choice: CorpusChoice, preset: Preset, steps: number): void {
  const { tokenizer, corpus } = prepareCorpus(corpusText(choice), preset);
  dropExport();
  if (run) {
    run.optimizer.dispose();
    run.model.dispose();
    run = null;
  }
  const model = createModel(withVocabulary(preset.model, tokenizer.vocabSize), new Rng(SEED));
  // The trainer's objective with future-set prediction off: next-token cross-entropy.
  const objective = new TrainingObjective(model, FSP_DEFAULTS, SEED);
  const optimizer = createOptimizer(preset.train, model.namedParameters());
  run = { preset, tokenizer, corpus, model, objective, optimizer, windows: new TokenWindows(corpus.train, SEED), step: 0, planned: steps, target: steps, recent: [] };
  post({ type: 'model', parameters: model.parameterCount(), trainTokens: corpus.train.length, valTokens: corpus.val.length });
}

/** Train until the target step or a stop; validate every VAL_EVERY steps and at the pause. */
async function trainLoop(): Promise<void> {
  const r = run!;
  const { batchSize: B, seqLen: T, gradClip } = r.preset.train;
  const params = r.model.parameters();
  training = true;
  stopAsked = false;
  dropExport();
  post({ type: 'status', text: `training on ${runtime.threads} threads` });
  if (r.step === 0) validate(r);
  while (r.step < r.target && !stopAsked) {
    const t0 = performance.now();
    const lr = learningRate(r.preset.train, r.step, r.planned);
    const losses = forwardBackward(r.model, r.objective, r.windows, B, T, 1, SEED, r.step);
    const { applied } = applyGradients(params, r.optimizer, gradClip, lr);
    if (!applied) post({ type: 'status', text: `step ${r.step}: the gradient was not finite and was not applied` });
    r.step++;
    r.recent.push({ ms: performance.now() - t0, tokens: B * T });
    if (r.recent.length > SPEED_WINDOW) r.recent.shift();
    const ms = r.recent.reduce((s, x) => s + x.ms, 0), tokens = r.recent.reduce((s, x) => s + x.tokens, 0);
    post({ type: 'step', step: r.step, planned: r.planned, loss: losses.ce, lr, tokensPerSecond: (tokens / ms) * 1000 });
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
