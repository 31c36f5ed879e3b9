import cliProgress from 'cli-progress';
import { TernlmError } from '../core/errors.js';
import { writeTextAtomic } from '../io/atomic.js';
import { dirname } from 'node:path';
import { checkFileTarget, ensureDir } from '../io/fs.js';
import { trainBpe, WordCounter } from '../data/bpe.js';
import { readDocuments } from '../data/corpus.js';
import { expandInputs } from '../data/inputs.js';
import { stringifyMeta } from '../data/meta.js';
import { GPT2_PATTERN, HAN_SPLIT_PATTERN } from '../data/pretokenize.js';
import { loadTokenizer } from '../data/tokenizer.js';
import { integerFlag, parseFlags } from './args.js';

const HELP = `usage: ternlm tokenizer <train|encode|decode> [options]

  ternlm tokenizer train --input <paths>... --out tok.json [--vocab 4096] [--lowercase]
                         [--max-bytes N] [--text-field text] [--split-han]
      Learn a byte-level BPE (GPT-2 pre-tokenization, <|endoftext|> as the last id) from
      .txt/.jsonl/.parquet files or directories; --max-bytes stops after N bytes of text.
      --split-han makes every Han character a pre-token of its own (a character-level
      vocabulary for Chinese, and a word table that does not grow with the corpus).

  ternlm tokenizer encode --tokenizer <spec> --text "..."
      Print the token ids of the text and each token's text. <spec> is gpt2, a tok.json
      or a llama2.c tokenizer.bin.

  ternlm tokenizer decode --tokenizer <spec> --ids "15496 995"
      Print the text of space- or comma-separated ids.`;

export async function run(args: string[]): Promise<void> {
  const [sub, ...rest] = args;
  if (sub === 'train') return train(rest);
  if (sub === 'encode') return encode(rest);
  if (sub === 'decode') return decode(rest);
  if (sub === undefined || sub === '--help' || sub === '-h') {
    console.log(HELP);
    return;
  }
  throw new TernlmError(`unknown subcommand 'tokenizer ${sub}' — expected train, encode or decode`);
}

async function train(args: string[]): Promise<void> {
  const { values } = parseFlags('tokenizer', args, {
    input: { type: 'string', multiple: true },
    out: { type: 'string' },
    vocab: { type: 'string' },
    lowercase: { type: 'boolean', default: false },
    'split-han': { type: 'boolean', default: false },
    'max-bytes': { type: 'string' },
    'text-field': { type: 'string', default: 'text' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.input?.length) throw new TernlmError('missing --input — see ternlm tokenizer --help');
  if (!values.out) throw new TernlmError('missing --out tok.json — see ternlm tokenizer --help');
  // 256 byte tokens and <|endoftext|>, at least; token ids are stored in 16 bits.
  const vocabSize = integerFlag(values, 'vocab', { min: 257, max: 65536 }, 4096);
  const maxBytes = integerFlag(values, 'max-bytes', { min: 1 }, Infinity);
  checkFileTarget(values.out);

  const files = expandInputs(values.input);
  const totalBytes = Math.min(maxBytes, files.reduce((s, f) => s + f.bytes, 0));
  const pattern = values['split-han'] ? HAN_SPLIT_PATTERN : GPT2_PATTERN;
  const counter = new WordCounter({ lowercase: values.lowercase, pattern });
  const started = performance.now();
  const bar = new cliProgress.SingleBar({ stream: process.stderr, format: 'count words |{bar}| {percentage}% | {value}/{total} MB | ETA {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic);
  bar.start(Math.ceil(totalBytes / 1e6), 0);
  let bytesRead = 0; // of the files, read ahead in chunks (the progress bar)
  let bytes = 0; // of the text counted (what --max-bytes limits)
  outer: for (const file of files) {
    for await (const piece of readDocuments(file, { separator: { kind: 'auto' }, textField: values['text-field']!, onBytes: (n) => bar.update(Math.floor(Math.min(bytesRead += n, totalBytes) / 1e6)) })) {
      if (piece.docStart) counter.flush();
      counter.add(piece.text);
      bytes += Buffer.byteLength(piece.text, 'utf8');
      if (bytes >= maxBytes) break outer;
    }
  }
  counter.flush();
  bar.update(Math.ceil(totalBytes / 1e6));
  bar.stop();
  if (counter.counts.size === 0) throw new TernlmError('no text found in the inputs');
  const countSecs = (performance.now() - started) / 1000;

  const mergeBar = new cliProgress.SingleBar({ stream: process.stderr, format: 'merges      |{bar}| {percentage}% | {value}/{total} | ETA {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic);
  mergeBar.start(vocabSize - 257, 0);
  const result = trainBpe(counter.counts, { vocabSize, lowercase: values.lowercase, pattern, onProgress: (done) => mergeBar.update(done) });
  mergeBar.stop();
  ensureDir(dirname(values.out));
  writeTextAtomic(values.out, stringifyMeta(result.tokenizer.toJSON()));
  const secs = (performance.now() - started) / 1000;
  console.log(`wrote ${values.out}: vocab ${result.tokenizer.vocabSize} (${result.merges} merges, <|endoftext|> = ${result.tokenizer.eotId}) from ${(bytes / 1e6).toFixed(1)} MB, ${counter.counts.size.toLocaleString('en-US')} distinct words; counting ${countSecs.toFixed(1)} s, total ${secs.toFixed(1)} s`);
  if (result.tokenizer.vocabSize < vocabSize) console.error(`warning: the text ran out of repeated pairs: vocabulary is ${result.tokenizer.vocabSize}, not ${vocabSize} — train on more text`);
}

function tokenizerArgs(args: string[], extra: 'text' | 'ids'): { spec: string; value: string } {
  const { values } = parseFlags('tokenizer', args, { tokenizer: { type: 'string', default: 'gpt2' }, [extra]: { type: 'string' }, help: { type: 'boolean', short: 'h' } });
  if (values.help) {
    console.log(HELP);
    process.exit(0);
  }
  const value = values[extra];
  if (typeof value !== 'string') throw new TernlmError(`missing --${extra} — see ternlm tokenizer --help`);
  return { spec: values.tokenizer as string, value };
}

function encode(args: string[]): void {
  const { spec, value } = tokenizerArgs(args, 'text');
  const tok = loadTokenizer(spec);
  const ids = tok.encode(value);
  console.log(JSON.stringify(ids));
  const show = (id: number): string => (tok.decodeToken ? Buffer.from(tok.decodeToken(id)).toString('utf8') : tok.decode([id]));
  console.log(ids.map((id) => `${id}:${JSON.stringify(show(id))}`).join(' '));
  console.log(`${ids.length} tokens, ${Buffer.byteLength(value)} bytes (${tok.kind}, vocab ${tok.vocabSize})`);
}

function decode(args: string[]): void {
  const { spec, value } = tokenizerArgs(args, 'ids');
  const tok = loadTokenizer(spec);
  const ids = value.split(/[\s,[\]]+/).filter((s) => s.length > 0).map(Number);
  const bad = ids.find((id) => !Number.isInteger(id) || id < 0 || id >= tok.vocabSize);
  if (bad !== undefined) throw new TernlmError(`token id ${bad} is not in [0, ${tok.vocabSize}) for this tokenizer`);
  process.stdout.write(tok.decode(ids) + '\n');
}
