// The page's training run, apart from the messages that drive it: the text (the built-in stories
// or a file's bytes), the 512-token BPE trained on it, a fresh model of a preset with the
// trainer's objective and optimizer, and one training step. train-worker.ts runs it in the tab;
// `ternlm bench page` (bench/page.ts) runs the same code in Node, so both time one config on one
// text with one step.
import { TernlmError } from '../../core/errors.js';
import { Rng } from '../../core/rng.js';
import type { Tensor } from '../../core/tensor.js';
import { WordCounter, trainBpe } from '../../data/bpe.js';
import type { BpeTokenizer } from '../../data/bpe-tokenizer.js';
import { generateStories, storiesText } from '../../data/story-generator.js';
import { createModel, withVocabulary, type LanguageModel, type ModelConfig } from '../../models/index.js';
import { TokenWindows } from '../../train/batch.js';
import { FSP_DEFAULTS, TrainingObjective } from '../../train/fsp.js';
import { createOptimizer, learningRate, type Optimizer } from '../../train/setup.js';
import { applyGradients, forwardBackward } from '../../train/step.js';
import { PAGE_VOCAB, type Preset } from './presets.js';
import type { CorpusChoice } from './protocol.js';

/** Stories of the built-in corpus (about 1.9 MB of text). */
const STORIES = 5000;
/** The last tenth of the text is the validation slice. */
const VAL_FRACTION = 0.1;
/** Seeds the stories, the model's initial weights and the order of the training windows. */
export const SEED = 1;

/** Token ids of the training text and the validation slice, and the slice's UTF-8 size. */
export interface Corpus {
  train: Int32Array;
  val: Int32Array;
  valBytes: number;
}

/** One training run: the model, its optimizer and where it is. */
export interface Run {
  preset: Preset;
  tokenizer: BpeTokenizer;
  corpus: Corpus;
  model: LanguageModel<ModelConfig>;
  params: Tensor[];
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

/** The text of the user's choice, checked: UTF-8 text, not empty. */
export function corpusText(choice: CorpusChoice): string {
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

/** Train a BPE on the text, hold out its last tenth (from a line start), tokenize both parts; `status` hears what it is doing. */
export function prepareCorpus(text: string, preset: Preset, status: (line: string) => void): { tokenizer: BpeTokenizer; corpus: Corpus } {
  status(`training a ${PAGE_VOCAB}-token BPE tokenizer on ${(text.length / 1e6).toFixed(2)} M characters`);
  const counter = new WordCounter();
  counter.add(text);
  counter.flush();
  const { tokenizer } = trainBpe(counter.counts, { vocabSize: PAGE_VOCAB });
  let cut = Math.floor(text.length * (1 - VAL_FRACTION));
  const lineStart = text.lastIndexOf('\n', cut);
  if (lineStart > cut / 2) cut = lineStart + 1;
  status('tokenizing');
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

/** A fresh model of the preset at the tokenizer's vocabulary, with its objective and optimizer, planned for `steps` steps. */
export function newRun(preset: Preset, tokenizer: BpeTokenizer, corpus: Corpus, steps: number): Run {
  const model = createModel(withVocabulary(preset.model, tokenizer.vocabSize), new Rng(SEED));
  // The trainer's objective with future-set prediction off: next-token cross-entropy.
  const objective = new TrainingObjective(model, FSP_DEFAULTS, SEED);
  const optimizer = createOptimizer(preset.train, model.namedParameters());
  return {
    preset, tokenizer, corpus, model, params: model.parameters(), objective, optimizer,
    windows: new TokenWindows(corpus.train, SEED), step: 0, planned: steps, target: steps, recent: [],
  };
}

/** Free the run's model and optimizer state. */
export function disposeRun(r: Run): void {
  r.optimizer.dispose();
  r.model.dispose();
}

/**
 * One training step: the loss and gradients of the next batch of windows, clipped, then the
 * optimizer's update at the schedule's rate. Returns the batch's loss (nats per token), the
 * rate, whether the gradient was finite (and so applied), and the step's wall time in ms.
 */
export function trainStep(r: Run): { loss: number; lr: number; applied: boolean; ms: number } {
  const { batchSize: B, seqLen: T, gradClip } = r.preset.train;
  const t0 = performance.now();
  const lr = learningRate(r.preset.train, r.step, r.planned);
  const losses = forwardBackward(r.model, r.objective, r.windows, B, T, 1, SEED, r.step);
  const { applied } = applyGradients(r.params, r.optimizer, gradClip, lr);
  r.step++;
  return { loss: losses.ce, lr, applied, ms: performance.now() - t0 };
}
