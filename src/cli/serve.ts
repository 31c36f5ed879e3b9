// ternlm serve: an OpenAI-compatible HTTP server over one model (src/serve/server.ts), and the
// page that trains a model in the browser tab (src/serve/web/).
import { basename, extname } from 'node:path';
import { TernlmError } from '../core/errors.js';
import { ModelServer } from '../serve/server.js';
import { integerFlag, parseFlags, threadsFlag } from './args.js';
import { modelSummary, openModel } from './generate.js';

const HELP = `usage: ternlm serve [--model <file>] [options]

Serve a page that trains a small model in the browser tab (GET /: pick the built-in stories or
a text file and a config, train on Web Workers, watch loss and bits per byte, generate, chat,
download the exported model), and with --model serve that model over HTTP with OpenAI's API:
GET /health, GET /v1/models, POST /v1/completions
and POST /v1/chat/completions (stream: true sends server-sent events). Requests take
max_tokens (default 256), temperature (0 to 2, default 1), top_p (default 1), stop (a string
or up to 4) and seed, and answer with usage token counts. The model's id is the file's name
without its extension. A model with a chat template (chat fine-tuning) gets the messages in
it; any other model continues the messages' contents, one per line. Without --model, /v1/models
lists nothing and generation requests are refused with a 404 that says to start with --model.
See docs/serve.md.

Concurrent requests are decoded together: up to --batch replies share each pass over the
model's weights, more wait in arrival order (at most --queue; beyond that, 429). Ctrl-C or
SIGTERM ends open streams cleanly, answers waiting requests with 503, and exits.

options:
  --model <file>              an exported model (ternlm export, or the page's download) or
                              a llama2.c .bin; without it only the page is served
  --tokenizer <file|gpt2>     default: tok<vocab>.bin or tokenizer.bin beside the model
  --host <address>            address to listen on (default 127.0.0.1; 0.0.0.0 for every
                              interface — there is no authentication)
  --port <n>                  port, 0 to 65535 (default 8080; 0 picks a free one)
  --batch <n>                 most replies decoded together, 1 to 1024 (default 32)
  --queue <n>                 most requests waiting for room in the batch, 0 to 10000
                              (default 64)
  --threads <n>               compute threads, 1 to 4 × the cores (default: all cores)
  -h, --help                  show this help

example: ternlm serve                       # open http://127.0.0.1:8080/ to train in the tab (from
                                             # another machine: ssh -L 8080:127.0.0.1:8080 <host>)
         ternlm serve --model stories260K.bin --port 8080
         curl http://127.0.0.1:8080/v1/completions -H 'Content-Type: application/json' \\
           -d '{"prompt": "Once upon a time", "max_tokens": 50}'`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseFlags('serve', args, {
    model: { type: 'string' },
    tokenizer: { type: 'string' },
    host: { type: 'string', default: '127.0.0.1' },
    port: { type: 'string' },
    batch: { type: 'string' },
    queue: { type: 'string' },
    threads: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const port = integerFlag(values, 'port', { min: 0, max: 65535 }, 8080);
  const maxBatch = integerFlag(values, 'batch', { min: 1, max: 1024 }, 32);
  const queueLimit = integerFlag(values, 'queue', { min: 0, max: 10_000 }, 64);
  const threads = threadsFlag(values);
  if (values.host.trim() === '') throw new TernlmError('--host needs an address, e.g. 127.0.0.1 — see `ternlm serve --help`');
  if (values.model === undefined && values.tokenizer !== undefined) throw new TernlmError('--tokenizer goes with --model <file> — see `ternlm serve --help`');
  const served = values.model === undefined ? null : { ...(await openModel(values, threads, 'serve')), modelName: basename(values.model, extname(values.model)) };
  const log = (line: string): void => console.error(line);
  const server = new ModelServer(served ? { ...served, maxBatch, queueLimit, log } : { maxBatch, queueLimit, log });
  try {
    const address = await server.listen(port, values.host);
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const url = `http://${host}:${address.port}`;
    const api = served
      ? `serving ${served.modelName} (${modelSummary(served.model, served.tokenizer.chatTemplate !== undefined)}) at ${url}/v1`
      : 'no model loaded (--model <file> serves one at /v1)';
    console.error(`${api}; the training page is at ${url}/ — Ctrl-C stops`);
    await new Promise<void>((resolve) => {
      const stop = (signal: NodeJS.Signals): void => {
        console.error(`${signal}: ending open requests and stopping`);
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
        resolve();
      };
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
    });
    await server.shutdown();
  } finally {
    served?.model.dispose();
  }
}
