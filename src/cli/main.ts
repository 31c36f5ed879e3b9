#!/usr/bin/env node
import { TernlmError } from '../core/errors.js';
import { describeFsError } from '../io/fs.js';

/** One entry per `ternlm <command>`; each lives in `src/cli/<file>.ts` and exports `run`. */
const COMMANDS: Record<string, { file: string; summary: string }> = {
  train: { file: 'train', summary: 'train a FlashLM, GPT-2, BitNet b1.58 or MatMul-free model (default: flashlm-tiny on the built-in corpus)' },
  eval: { file: 'eval', summary: 'score a model on text, prepared shards, minimal pairs or multiple choice' },
  prepare: { file: 'prepare', summary: 'tokenize text/JSONL/Parquet into llm.c token shards' },
  tokenizer: { file: 'tokenizer', summary: 'train or inspect a byte-level BPE tokenizer' },
  download: { file: 'download', summary: 'download dataset files from the Hugging Face hub' },
  ternarize: { file: 'ternarize', summary: 'turn a float model (ternlm checkpoint, llama2.c .bin) into a ternary one, bits per byte before and after, optional fine-tune' },
  sensitivity: { file: 'sensitivity', summary: 'rank which projections of a float model ternarizing hurts most, and write a measured hybrid precision config' },
  export: { file: 'export', summary: "pack a checkpoint into an inference file, or write a GPT-2 as llm.c's files" },
  generate: { file: 'generate', summary: 'generate text from a model' },
  chat: { file: 'chat', summary: 'interactive chat loop with a model' },
  serve: { file: 'serve', summary: 'serve a model over HTTP with an OpenAI-compatible API' },
  report: { file: 'report', summary: 'plot training runs (loss, bits per byte, tokens/s, lr, ternary mix) to HTML, SVG or PNG' },
  bench: { file: 'bench', summary: 'benchmarks: kernels, data, train, generate, eval' },
};

export interface CommandModule {
  run(args: string[]): Promise<void>;
}

function usage(): string {
  const lines = ['usage: ternlm <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  lines.push(
    '',
    'global options (before or after the command):',
    '  --debug              show the stack trace of an unexpected error (also TERNLM_DEBUG=1)',
    '  --backend <name>     the kernels: native (C, built at install where a compiler exists;',
    '                       the default when built) or wasm (also TERNLM_BACKEND=...)',
    '',
    'Run `ternlm <command> --help` for the options of a command.',
  );
  return lines.join('\n');
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(usage());
    return;
  }
  const entry = COMMANDS[name];
  if (!entry) throw new TernlmError(`unknown command '${name}' — run \`ternlm --help\` for the list`);
  let mod: CommandModule;
  try {
    mod = (await import(`./${entry.file}.js`)) as CommandModule;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') {
      throw new TernlmError(`command '${name}' is not built into this version of ternlm`);
    }
    throw err;
  }
  await mod.run(rest);
}

/**
 * The global flags, anywhere before a `--`, removed before the command parses its own:
 * `--debug` turns on stack traces; `--backend <wasm|native>` (or `--backend=...`) sets
 * TERNLM_BACKEND, which the compute runtime (and any child process) reads.
 */
function takeGlobalFlags(argv: string[]): { args: string[]; debug: boolean } {
  const end = argv.includes('--') ? argv.indexOf('--') : argv.length;
  const kept: string[] = [];
  let debug = process.env.TERNLM_DEBUG === '1';
  for (let i = 0; i < end; i++) {
    const a = argv[i];
    if (a === '--debug') debug = true;
    else if (a === '--backend' || a.startsWith('--backend=')) {
      const value = a === '--backend' ? argv[++i] : a.slice('--backend='.length);
      if (value !== 'wasm' && value !== 'native') throw new TernlmError(`--backend must be wasm or native, got '${value ?? ''}'`);
      process.env.TERNLM_BACKEND = value;
    } else kept.push(a);
  }
  return { args: [...kept, ...argv.slice(end)], debug };
}

/**
 * Report a failure on one line: the message of a TernlmError, a file-system error in words, or
 * for anything else (a bug) its message with how to get the stack trace. --debug adds the stack.
 */
function report(err: unknown, debug: boolean): void {
  let line: string;
  if (err instanceof TernlmError) line = err.message;
  else {
    const fsLine = describeFsError(err);
    const message = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ');
    line = fsLine ?? `internal error: ${message}${debug ? '' : ' — rerun with --debug (or TERNLM_DEBUG=1) for the stack trace, and please report it'}`;
  }
  console.error(`Error: ${line}`);
  if (debug) console.error(err);
}

let debug = process.env.TERNLM_DEBUG === '1';
const fail = (err: unknown): void => {
  report(err, debug);
  process.exit(1);
};
// Errors thrown outside the command's promise chain (event handlers, timers) end the same way.
process.on('uncaughtException', fail);
process.on('unhandledRejection', fail);
try {
  const flags = takeGlobalFlags(process.argv.slice(2));
  debug = flags.debug;
  main(flags.args).then(() => process.exit(process.exitCode ?? 0), fail);
} catch (err) {
  fail(err);
}
