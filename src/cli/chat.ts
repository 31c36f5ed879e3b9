// ternlm chat: an interactive loop over a Conversation. Ctrl-C stops a reply that is being
// written; at the prompt it quits. Lines may also come from a pipe (one message per line).
import { createInterface } from 'node:readline';
import { TernlmError } from '../core/errors.js';
import { Conversation } from '../infer/conversation.js';
import { parseFlags } from './args.js';
import { MODEL_OPTIONS, modelFlags, modelSummary, openModel } from './generate.js';

const HELP = `usage: ternlm chat --model <file> [options]

Talk with a model. Each message is added to the conversation, which stays in the model's
context; when the context is full the oldest whole turns are forgotten. A model fine-tuned
for chat (ternlm train --init on ternlm prepare --chat data) carries its chat template: each
message is sent as <|user|>message<|end|><|assistant|> and the reply ends at <|end|>. A model
without one (e.g. a story model) just continues the text.

options:
  --model <file>              an exported model (ternlm export) or a llama2.c .bin
  --tokenizer <file|gpt2>     default: tok<vocab>.bin or tokenizer.bin beside the model
  --max-tokens <n>            most tokens per reply (default 256)
  --system <text>             a system message that opens the conversation (models with a
                              chat template only)
  --temperature, --top-k, --top-p, --repetition-penalty, --seed, --threads
                              as for ternlm generate
  -h, --help                  show this help

${commandsHelp()}`;

function commandsHelp(): string {
  return `commands:
  /help     this list
  /clear    forget the conversation
  /exit     quit (also Ctrl-C at the prompt, or end of input)
Ctrl-C while the model writes stops the reply.`;
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseFlags('chat', args, { ...MODEL_OPTIONS, system: { type: 'string' } });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const { sampling, maxTokens, threads } = modelFlags(values);
  const { model, tokenizer } = await openModel(values, threads, 'chat');
  let chat: Conversation;
  try {
    chat = new Conversation(model, tokenizer, { ...sampling, maxTokens, system: values.system });
  } catch (err) {
    model.dispose();
    throw err;
  }

  const interactive = process.stdin.isTTY === true;
  const rl = createInterface({ input: process.stdin, output: process.stdout, terminal: interactive, prompt: '> ' });
  let replying: AbortController | null = null;
  const onInterrupt = (): void => {
    if (replying) replying.abort();
    else rl.close();
  };
  rl.on('SIGINT', onInterrupt); // Ctrl-C typed on a terminal
  process.on('SIGINT', onInterrupt); // a signal (input from a pipe)

  console.error(`chat with ${values.model} (${modelSummary(model, chat.templated)}) — /help for commands`);
  const prompt = (): void => {
    if (interactive) rl.prompt();
  };
  prompt();
  try {
    for await (const raw of rl) {
      const line = raw.trim();
      if (line === '') {
        prompt();
        continue;
      }
      if (line.startsWith('/')) {
        const cmd = line.split(/\s+/)[0];
        if (cmd === '/exit' || cmd === '/quit') break;
        if (cmd === '/help') console.log(commandsHelp());
        else if (cmd === '/clear') {
          chat.clear();
          console.error('(conversation cleared)');
        } else console.error(`Error: unknown command ${cmd} — /help lists the commands`);
        prompt();
        continue;
      }
      replying = new AbortController();
      try {
        const r = await chat.reply(line, (text) => process.stdout.write(text), replying.signal);
        process.stdout.write('\n');
        if (r.stopReason === 'aborted') console.error('(reply stopped)');
        else if (r.stopReason === 'context') console.error('(the context is full: older turns will be forgotten)');
      } catch (err) {
        if (!(err instanceof TernlmError)) throw err;
        console.error(`Error: ${err.message}`);
      } finally {
        replying = null;
      }
      prompt();
    }
  } finally {
    process.off('SIGINT', onInterrupt);
    rl.close();
    chat.dispose();
    model.dispose();
  }
}
