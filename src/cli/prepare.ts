import cliProgress from 'cli-progress';
import { TernlmError } from '../core/errors.js';
import { parseSeparator } from '../data/corpus.js';
import { prepare } from '../data/prepare.js';
import { prepareChat } from '../data/prepare-chat.js';
import { integerFlag, numberFlag, parseFlags, threadsFlag } from './args.js';

const HELP = `usage: ternlm prepare --input <files|dirs|globs>... --out <dir> [options]
       ternlm prepare --chat <conversations.jsonl>... --tokenizer <base tok.json> --out <dir>

Tokenize .txt, .jsonl and .parquet files into llm.c token shards:
<out>/train_000.bin ..., <out>/val_000.bin ..., and <out>/meta.json.

options:
  --input <path>        file, directory (recursive: .txt .text .md .jsonl .ndjson .parquet)
                        or quoted glob ('data/**/*.jsonl'); repeatable
  --out <dir>           output directory (created if missing)
  --tokenizer <spec>    gpt2 (default), a tok.json from \`ternlm tokenizer train\`,
                        or a llama2.c tokenizer.bin
  --val-fraction <f>    fraction of documents for validation, evenly spaced, from 0 to
                        less than 1 (default 0.005)
  --text-field <name>   JSONL field / Parquet column with the text (default text)
  --separator <s>       how .txt files split into documents (default auto):
                          auto        <|endoftext|> if the file has it, else blank lines
                                      if it has any, else one document per line
                          eot         the text <|endoftext|>
                          blank-line  one or more empty lines
                          line        every line is a document
                          single-newline  a line break between two non-blank lines
                                      (one document per line group, blank lines
                                      between its paragraphs)
                          none        the whole file is one document
                          <text>      any other literal string (\\n and \\t understood)
  --lowercase           lowercase all text before tokenizing
  --collapse-blank-lines  inside documents, a run of blank lines becomes one line break
  --shard-tokens <n>    tokens per shard file, up to 2^32-1 (default 100_000_000)
  --threads <n>         tokenizer threads, 1 to 4 × the cores (default: all cores)
  -h, --help            show this help

--chat <jsonl>: conversations for chat fine-tuning (repeatable; files, directories or globs),
one per line: {"messages": [{"role": "system"|"user"|"assistant", "content": "..."}, ...]}.
The tokenizer (the base model's BPE tok.json) gains the chat template's special tokens
<|system|> <|user|> <|assistant|> <|end|> (stored in meta.json); each conversation becomes
<|user|>...<|end|><|assistant|>...<|end|>... with mask shards <split>_NNN.mask.bin marking
the assistant's replies, the only tokens the loss scores. --val-fraction defaults to 0.05
here. Then: ternlm train --init <base ckpt> --data <dir> (docs/training.md).

Every document is preceded by the tokenizer's EOT token. Invalid UTF-8 is an error that
names the file and byte offset. See docs/data.md for the formats.`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseFlags('prepare', args, {
    input: { type: 'string', multiple: true },
    chat: { type: 'string', multiple: true },
    out: { type: 'string' },
    tokenizer: { type: 'string', default: 'gpt2' },
    'val-fraction': { type: 'string' },
    'text-field': { type: 'string', default: 'text' },
    separator: { type: 'string', default: 'auto' },
    lowercase: { type: 'boolean', default: false },
    'collapse-blank-lines': { type: 'boolean', default: false },
    'shard-tokens': { type: 'string' },
    threads: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (values.chat?.length) return runChat(values.chat, values);
  if (!values.input?.length) throw new TernlmError('missing --input — see ternlm prepare --help');
  if (!values.out) throw new TernlmError('missing --out <dir> — see ternlm prepare --help');
  const valFraction = numberFlag(values, 'val-fraction', { min: 0, max: 1, belowMax: true }, 0.005);
  // A shard file's header counts its tokens in 32 bits.
  const shardTokens = integerFlag(values, 'shard-tokens', { min: 1, max: 2 ** 32 - 1 });
  const threads = threadsFlag(values);

  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: 'prepare |{bar}| {percentage}% | {done}/{total} MB | {speed} MB/s | ETA {eta_formatted} | {tokens} tokens',
      hideCursor: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const started = performance.now();
  let barStarted = false;
  const warnings: string[] = [];
  const meta = await prepare({
    inputs: values.input,
    tokenizer: values.tokenizer!,
    outDir: values.out,
    valFraction,
    textField: values['text-field'],
    lowercase: values.lowercase,
    collapseBlankLines: values['collapse-blank-lines'],
    separator: parseSeparator(values.separator!),
    shardTokens,
    threads,
    onWarning: (m) => warnings.push(m),
    onProgress: (p) => {
      const payload = {
        done: (p.bytesDone / 1e6).toFixed(1),
        total: (p.bytesTotal / 1e6).toFixed(1),
        speed: (p.bytesDone / 1e6 / Math.max(1e-3, (performance.now() - started) / 1000)).toFixed(1),
        tokens: p.tokens.toLocaleString('en-US'),
      };
      if (!barStarted) {
        bar.start(p.bytesTotal, p.bytesDone, payload);
        barStarted = true;
      } else bar.update(p.bytesDone, payload);
    },
  }).finally(() => {
    if (barStarted) bar.stop();
  });
  for (const w of warnings) console.error(`warning: ${w}`);
  const secs = (performance.now() - started) / 1000;
  const mb = meta.sources.reduce((s, f) => s + f.bytes, 0) / 1e6;
  const { train, val } = meta.splits;
  const fmt = (n: number): string => n.toLocaleString('en-US');
  console.log(`prepared ${values.out}: ${meta.sources.length} file(s), ${mb.toFixed(1)} MB in ${secs.toFixed(1)} s (${(mb / secs).toFixed(1)} MB/s)`);
  console.log(`  tokenizer ${meta.tokenizer.kind} (vocab ${fmt(meta.vocabSize)}, EOT ${meta.eotId}), ${meta.dtype} shards`);
  console.log(`  train: ${fmt(train.documents)} docs, ${fmt(train.tokens)} tokens in ${train.shards.length} shard(s), ${(train.bytes / Math.max(1, train.tokens)).toFixed(2)} bytes/token`);
  console.log(`  val:   ${fmt(val.documents)} docs, ${fmt(val.tokens)} tokens in ${val.shards.length} shard(s)`);
}

/** prepare --chat: conversations -> token and mask shards (small inputs: no progress bar). */
async function runChat(inputs: string[], values: { input?: string[]; out?: string; tokenizer?: string; 'val-fraction'?: string; 'shard-tokens'?: string }): Promise<void> {
  if (values.input?.length) throw new TernlmError('--chat reads conversations and --input plain text: prepare them into separate --out directories');
  if (!values.out) throw new TernlmError('missing --out <dir> — see ternlm prepare --help');
  const meta = await prepareChat({
    inputs, tokenizer: values.tokenizer!, outDir: values.out,
    valFraction: numberFlag(values, 'val-fraction', { min: 0, max: 1, belowMax: true }, 0.05),
    shardTokens: integerFlag(values, 'shard-tokens', { min: 1, max: 2 ** 32 - 1 }),
  });
  const { train, val } = meta.splits;
  const fmt = (n: number): string => n.toLocaleString('en-US');
  console.log(`prepared ${values.out}: ${fmt(train.documents + val.documents)} conversations from ${meta.sources.length} file(s)`);
  console.log(`  tokenizer ${meta.tokenizer.kind} with the chat tokens (vocab ${fmt(meta.vocabSize)})`);
  console.log(`  train: ${fmt(train.documents)} conversations, ${fmt(train.tokens)} tokens, ${fmt(train.scoredTokens ?? 0)} scored (assistant replies)`);
  console.log(`  val:   ${fmt(val.documents)} conversations, ${fmt(val.tokens)} tokens, ${fmt(val.scoredTokens ?? 0)} scored`);
}
