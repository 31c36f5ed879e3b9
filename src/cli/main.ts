#!/usr/bin/env node
import { TernlmError } from '../core/errors.js';

/** One entry per `ternlm <command>`; each lives in `src/cli/<file>.ts` and exports `run`. */
const COMMANDS: Record<string, { file: string; summary: string }> = {
  train: { file: 'train', summary: 'train a model (default: flashlm-tiny on the built-in corpus)' },
  eval: { file: 'eval', summary: 'evaluate a checkpoint on prepared shards or a text file' },
  prepare: { file: 'prepare', summary: 'tokenize text/JSONL/Parquet into llm.c token shards' },
  tokenizer: { file: 'tokenizer', summary: 'train or inspect a byte-level BPE tokenizer' },
  download: { file: 'download', summary: 'download dataset files from the Hugging Face hub' },
  export: { file: 'export', summary: 'pack a checkpoint into a ternary inference file' },
  generate: { file: 'generate', summary: 'generate text from a model' },
  chat: { file: 'chat', summary: 'interactive chat loop with a model' },
  bench: { file: 'bench', summary: 'benchmarks: kernels, data, train, generate' },
};

export interface CommandModule {
  run(args: string[]): Promise<void>;
}

function usage(): string {
  const lines = ['usage: ternlm <command> [options]', '', 'commands:'];
  for (const [name, c] of Object.entries(COMMANDS)) lines.push(`  ${name.padEnd(10)} ${c.summary}`);
  lines.push('', 'Run `ternlm <command> --help` for the options of a command.');
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

main(process.argv.slice(2)).then(
  () => process.exit(process.exitCode ?? 0),
  (err: unknown) => {
    if (err instanceof TernlmError) {
      console.error(`Error: ${err.message}`);
    } else if ((err as NodeJS.ErrnoException)?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || (err as NodeJS.ErrnoException)?.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' || (err as NodeJS.ErrnoException)?.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      console.error(`Error: ${(err as Error).message}`);
    } else {
      console.error(err);
    }
    process.exit(1);
  },
);
