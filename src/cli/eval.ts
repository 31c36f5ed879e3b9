// ternlm eval: bits per byte of any text, minimal pairs, multiple choice, or a prepared split,
// for every model file ternlm loads (training checkpoint, export, llama2.c checkpoint).
import cliProgress from 'cli-progress';
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { TernlmError } from '../core/errors.js';
import { initRuntime, rt } from '../core/runtime.js';
import { parseSeparator } from '../data/corpus.js';
import { expandInputs } from '../data/inputs.js';
import { datasetTokenizerFingerprint, readMeta, tokenizerFingerprint } from '../data/meta.js';
import { EOT_TEXT } from '../data/pretokenize.js';
import { readSplitTokens } from '../data/split-tokens.js';
import { openScoringModel, type ScoringModel } from '../eval/load.js';
import { readMinimalPairs, scoreMinimalPairs, type Accuracy } from '../eval/minimal-pairs.js';
import { readChoiceItems, scoreMultipleChoice } from '../eval/multiple-choice.js';
import { scoreSequences, strideFor, type ScoreOptions } from '../eval/sequences.js';
import { readTextDocuments, scoreText } from '../eval/text.js';
import { writeTextAtomic } from '../io/atomic.js';
import { checkFileTarget } from '../io/fs.js';
import { integerFlag, parseFlags, threadsFlag } from './args.js';

const TASKS = ['text', 'minimal-pairs', 'multiple-choice', 'split'] as const;
type Task = (typeof TASKS)[number];

const HELP = `usage: ternlm eval --model <file> --text <files|dirs|globs>... [--separator S] [--lowercase]
       ternlm eval --model <file> --task minimal-pairs --data <.jsonl|.parquet|dir>... [--lowercase]
       ternlm eval --model <file> --task multiple-choice --data <.jsonl|.parquet|dir>... [--lowercase]
       ternlm eval --model <file> --data <prepared dir>

--model is a training checkpoint, a file from \`ternlm export\` or a llama2.c .bin checkpoint
(its tokenizer beside it, or --tokenizer). Every task goes through the same scorer; docs/eval.md
states each score's rules.

tasks:
  text             loss per token, perplexity and bits per UTF-8 byte of documents: .txt files
                   split at --separator (default ${EOT_TEXT}), .jsonl/.parquet one per record's
                   "text". Each document is scored from the start token, its end included; the
                   bytes are its own, separators excluded.
  minimal-pairs    BLiMP format (sentence_good, sentence_bad, optional UID, linguistics_term):
                   right when the good sentence has the higher total log-probability. Accuracy
                   per file, per linguistics_term, overall and the mean over files.
  multiple-choice  HellaSwag format (ctx, endings, label): acc by the lowest total loss of the
                   ending's tokens, acc_norm by the lowest mean loss per token.
  split            the val split of a prepared folder (--data), bits per byte by its bytes.

options:
  --separator S      document separator of .txt files: a string (\\n, \\t escapes) or
                     blank-line | line | single-newline | none (default ${EOT_TEXT})
  --lowercase        lowercase all text first (for models trained on lowercased text)
  --stride N         tokens a sliding window advances on sequences longer than the context
                     (default half the context)
  --batch-tokens N   input positions per forward pass, padding included (default 8192)
  --limit N          score only the first N documents / items
  --tokenizer F      tokenizer of a llama2.c checkpoint (default: tok<vocab>.bin or
                     tokenizer.bin beside it)
  --threads N        worker threads (default: all cores)
  --json             print one JSON object instead of the summary
  --out F.json       also write the full per-item results to F.json (atomically)`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseFlags('eval', args, {
    model: { type: 'string' }, text: { type: 'string', multiple: true }, data: { type: 'string', multiple: true },
    task: { type: 'string' }, separator: { type: 'string' }, lowercase: { type: 'boolean', default: false },
    stride: { type: 'string' }, 'batch-tokens': { type: 'string' }, limit: { type: 'string' }, tokenizer: { type: 'string' },
    threads: { type: 'string' }, json: { type: 'boolean', default: false }, out: { type: 'string' }, help: { type: 'boolean', default: false },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.model) throw new TernlmError('ternlm eval needs --model <file> — see ternlm eval --help');
  const task = taskOf(values.task, values.text, values.data);
  const inputs = (task === 'text' ? values.text : values.data) ?? [];
  const files = task === 'split' ? [] : expandInputs(inputs); // a missing input is refused before the model loads
  if (values.out !== undefined) {
    if (!values.out.endsWith('.json')) throw new TernlmError(`--out ${values.out}: the per-item results are JSON — name the file *.json`);
    checkFileTarget(values.out);
  }
  const separator = parseSeparator(values.separator ?? EOT_TEXT);
  const limit = integerFlag(values, 'limit', { min: 1 });
  const opts: ScoreOptions = { stride: integerFlag(values, 'stride', { min: 1 }), tokensPerPass: integerFlag(values, 'batch-tokens', { min: 1, max: 1 << 20 }) };
  await initRuntime({ threads: threadsFlag(values) });

  const m = openScoringModel(values.model, values.tokenizer);
  opts.stride = strideFor(m.scorer.contextLength, opts.stride); // a bad --stride is refused before the data is read
  const head = { task, model: values.model, modelKind: m.scorer.description, contextLength: m.scorer.contextLength, stride: opts.stride };
  const progress = progressBar(values.json);
  opts.onProgress = progress.update;
  let summary: Record<string, unknown>;
  let details: Record<string, unknown>;
  let lines: string[];
  const take = <T>(xs: T[]): T[] => (limit === undefined ? xs : xs.slice(0, limit));
  try {
    if (task === 'text') {
      const docs = take(await readTextDocuments(files, separator, values.lowercase));
      const r = scoreText(m.scorer, m.tokenizer, m.startToken, docs, opts);
      summary = { ...head, documents: r.documents, bytes: r.bytes, tokens: r.tokens, loss: r.loss, ppl: r.ppl, bpb: r.bpb };
      details = { documents: r.perDocument };
      checkFinite(r.loss, inputs);
      lines = [`${r.documents.toLocaleString('en-US')} documents, ${r.bytes.toLocaleString('en-US')} bytes, ${r.tokens.toLocaleString('en-US')} tokens`,
        `loss ${r.loss.toFixed(4)} nats/token · perplexity ${r.ppl.toFixed(2)} · ${r.bpb.toFixed(4)} bits per byte`];
    } else if (task === 'minimal-pairs') {
      const pairs = take(await readMinimalPairs(files, values.lowercase));
      const r = scoreMinimalPairs(m.scorer, m.tokenizer, m.startToken, pairs, opts);
      summary = { ...head, pairs: r.pairs, accuracy: r.accuracy, meanOverFiles: r.meanOverFiles, perFile: r.perFile, perTerm: r.perTerm };
      details = { pairs: r.items };
      lines = [`${r.pairs.toLocaleString('en-US')} pairs: accuracy ${percent(r.accuracy)}, mean over ${r.perFile.length} file(s) ${percent(r.meanOverFiles)}`,
        ...table('linguistics_term', r.perTerm), ...(r.perFile.length > 1 ? table('file', r.perFile) : [])];
    } else if (task === 'multiple-choice') {
      const items = take(await readChoiceItems(files, values.lowercase));
      const r = scoreMultipleChoice(m.scorer, m.tokenizer, m.startToken, items, opts);
      summary = { ...head, items: r.items, acc: r.acc, acc_norm: r.accNorm };
      details = { items: r.results };
      lines = [`${r.items.toLocaleString('en-US')} items: acc ${percent(r.acc)} (lowest total loss), acc_norm ${percent(r.accNorm)} (lowest loss per token)`];
    } else {
      const r = scoreSplit(m, inputs, opts);
      summary = { ...head, ...r };
      details = {};
      checkFinite(r.loss, inputs);
      lines = [`val split: ${r.tokens.toLocaleString('en-US')} tokens`, `loss ${r.loss.toFixed(4)} nats/token · perplexity ${r.ppl.toFixed(2)} · ${r.bpb.toFixed(4)} bits per byte`];
    }
  } finally {
    progress.stop();
    m.scorer.dispose();
  }
  if (values.out !== undefined) writeTextAtomic(values.out, JSON.stringify({ ...summary, ...details }, null, 1) + '\n');
  if (values.json) {
    console.log(JSON.stringify(summary));
  } else {
    console.log(`${values.model} (${m.scorer.description}), ${task}, context ${head.contextLength}, stride ${head.stride}; ${rt().kernels}`);
    for (const l of lines) console.log(l);
    if (values.out !== undefined) console.log(`per-item results: ${values.out}`);
  }
}

function taskOf(task: string | undefined, text: string[] | undefined, data: string[] | undefined): Task {
  if (task !== undefined && !(TASKS as readonly string[]).includes(task)) throw new TernlmError(`unknown --task '${task}' (one of: ${TASKS.join(', ')})`);
  if (text && data) throw new TernlmError('give --text (documents to score) or --data (task items or a prepared folder), not both');
  if (text) {
    if (task !== undefined && task !== 'text') throw new TernlmError(`--task ${task} reads --data, not --text`);
    return 'text';
  }
  if (!data) throw new TernlmError('ternlm eval needs --text <files> or --data <items | prepared folder> — see ternlm eval --help');
  if (task === 'text') throw new TernlmError('--task text reads --text <files>, not --data');
  if (task !== undefined) return task as Task;
  if (data.length === 1 && existsSync(join(data[0], 'meta.json'))) return 'split';
  const file = data.length === 1 && existsSync(data[0]) && statSync(data[0]).isFile();
  throw new TernlmError(file && /\.(txt|md|text)$/.test(data[0])
    ? `${data[0]} is text: score it with --text ${data[0]}`
    : `say what ${data.join(' ')} holds: --task minimal-pairs or --task multiple-choice (or pass a prepared folder with meta.json)`);
}

/** The val split of a prepared folder as one sequence; bits per byte by the split's byte count. */
function scoreSplit(m: ScoringModel, data: string[], opts: ScoreOptions): { tokens: number; bytes: number; loss: number; ppl: number; bpb: number } {
  if (data.length !== 1) throw new TernlmError('--task split reads one prepared folder');
  const dir = data[0];
  const meta = readMeta(dir);
  const dataFingerprint = datasetTokenizerFingerprint(meta, dir);
  const modelFingerprint = tokenizerFingerprint(m.tokenizer.toJSON());
  if (dataFingerprint !== modelFingerprint) {
    throw new TernlmError(`${dir} was tokenized by a different tokenizer than the model's (fingerprint ${dataFingerprint}, the model's ${modelFingerprint}) — prepare the data with the model's tokenizer, or score the text with --text`);
  }
  const { tokens: total, bytes } = meta.splits.val;
  if (total < 2) throw new TernlmError(`the val split of ${dir} has ${total} token(s): too few to evaluate`);
  const [s] = scoreSequences(m.scorer, [{ tokens: readSplitTokens(dir, 'val', total), from: 1 }], opts);
  const loss = s.nats / s.tokens;
  return { tokens: s.tokens, bytes, loss, ppl: Math.exp(loss), bpb: (loss * total) / (bytes * Math.LN2) };
}

/** A loss that is not finite (it would print as null) is an error instead. */
function checkFinite(loss: number, inputs: string[]): void {
  if (!Number.isFinite(loss)) throw new TernlmError(`the model's loss on ${inputs.join(' ')} is not finite (${loss}) — its weights are finite, so its activations overflow: evaluate an earlier checkpoint`);
}

const percent = (x: number): string => `${(100 * x).toFixed(1)}%`;

function table(what: string, rows: Accuracy[]): string[] {
  const width = Math.max(what.length, ...rows.map((r) => r.name.length));
  return [`  ${what.padEnd(width)}  pairs  accuracy`, ...rows.map((r) => `  ${r.name.padEnd(width)}  ${String(r.pairs).padStart(5)}  ${percent(r.accuracy).padStart(8)}`)];
}

/** A progress bar on stderr when it is a terminal (never with --json). */
function progressBar(json: boolean): { update: (done: number, total: number) => void; stop: () => void } {
  if (json || !process.stderr.isTTY) return { update: () => {}, stop: () => {} };
  const bar = new cliProgress.SingleBar({ stream: process.stderr, format: 'scoring |{bar}| {value}/{total} rows | ETA {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic);
  let started = false;
  return {
    update: (done, total) => {
      if (!started) bar.start(total, 0);
      started = true;
      bar.update(done);
    },
    stop: () => {
      if (started) bar.stop();
    },
  };
}
