// `ternlm bench serve`: load on `ternlm serve`. Starts the server in a child process on a free
// port, then runs rounds of concurrent streaming completions (one client each) at each client
// count and reports the aggregate generated tokens/s and the time to first token (p50, p99).
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { TernlmError } from '../src/core/errors.js';

const HELP = `usage: ternlm bench serve --model <file> [--tokenizer <file>] [--clients N1,N2,...] [--max-tokens N]
                          [--rounds N] [--batch N] [--threads N] [--json]

Starts \`ternlm serve\` on a free local port; for each count in --clients (default 1,8,32)
sends that many streaming completions at once, each of --max-tokens (default 128) new tokens
with its own seed, for --rounds (default 3) rounds. Per count, the best round's aggregate
tokens/s (all completion tokens / wall time from the first request to the last stream's end)
and its time to first token p50 / p99 (request sent -> first text chunk). The server decodes
up to --batch replies together (default: the largest client count; --batch 1 decodes one
request at a time, for comparison).`;

interface Round { clients: number; tokens: number; wallMs: number; tokensPerS: number; ttftP50Ms: number; ttftP99Ms: number }

/** Start `ternlm serve` (this CLI) on port 0; resolve the port it reports on stderr. */
function startServer(args: string[]): Promise<{ port: number; stop(): void }> {
  const child = spawn(process.execPath, [process.argv[1], 'serve', ...args, '--port', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  return new Promise((resolve, reject) => {
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      const m = /:(\d+)\/v1/.exec(err);
      if (m) resolve({ port: Number(m[1]), stop: () => child.kill('SIGTERM') });
    });
    child.on('exit', (code) => reject(new TernlmError(`ternlm serve exited (${code}) before listening: ${err.trim().split('\n').pop() ?? ''}`)));
  });
}

/** One streaming completion: its time to first text and its completion tokens (from usage). */
async function client(port: number, seed: number, maxTokens: number): Promise<{ ttftMs: number; tokens: number }> {
  const t0 = performance.now();
  const r = await fetch(`http://127.0.0.1:${port}/v1/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: maxTokens, seed, stream: true, stream_options: { include_usage: true } }),
  });
  if (!r.ok || !r.body) throw new TernlmError(`the server answered ${r.status}: ${await r.text()}`);
  let ttftMs = -1, text = '';
  const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    if (ttftMs < 0 && value.includes('"text":"')) ttftMs = performance.now() - t0;
    text += value;
  }
  const usage = /"usage":(\{[^}]*\})/.exec(text);
  if (!usage || !text.includes('data: [DONE]')) throw new TernlmError('a stream ended without its usage chunk and [DONE]');
  return { ttftMs, tokens: (JSON.parse(usage[1]) as { completion_tokens: number }).completion_tokens };
}

const quantile = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))];

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      model: { type: 'string' }, tokenizer: { type: 'string' }, clients: { type: 'string', default: '1,8,32' },
      'max-tokens': { type: 'string', default: '128' }, rounds: { type: 'string', default: '3' }, batch: { type: 'string' }, threads: { type: 'string' },
      json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (!values.model) throw new TernlmError('--model <file> is required — see ternlm bench serve --help');
  const int = (name: 'batch' | 'max-tokens' | 'rounds', min: number): number => {
    const v = Number(values[name]);
    if (!Number.isInteger(v) || v < min) throw new TernlmError(`--${name} must be an integer of at least ${min}, got '${values[name]}'`);
    return v;
  };
  const counts = values.clients.split(',').map(Number);
  if (counts.some((n) => !Number.isInteger(n) || n < 1)) throw new TernlmError(`--clients takes counts of at least 1 separated by commas, e.g. 1,8,32; got '${values.clients}'`);
  const maxTokens = int('max-tokens', 1), rounds = int('rounds', 1);
  const batch = values.batch === undefined ? Math.max(...counts) : int('batch', 1);
  const serverArgs = ['--model', values.model, ...(values.tokenizer ? ['--tokenizer', values.tokenizer] : []), ...(values.threads ? ['--threads', values.threads] : []),
    '--batch', String(batch), '--queue', String(Math.max(...counts))];
  const server = await startServer(serverArgs);
  const results: Round[] = [];
  try {
    await client(server.port, 0, 8); // warm-up
    for (const clients of counts) {
      let best: Round | null = null;
      for (let round = 0; round < rounds; round++) {
        const t0 = performance.now();
        const rs = await Promise.all(Array.from({ length: clients }, (_, i) => client(server.port, round * clients + i + 1, maxTokens)));
        const wallMs = performance.now() - t0;
        const ttft = rs.map((r) => r.ttftMs).sort((a, b) => a - b);
        const tokens = rs.reduce((a, r) => a + r.tokens, 0);
        const r: Round = { clients, tokens, wallMs, tokensPerS: (tokens / wallMs) * 1000, ttftP50Ms: quantile(ttft, 0.5), ttftP99Ms: quantile(ttft, 0.99) };
        if (!best || r.tokensPerS > best.tokensPerS) best = r;
      }
      results.push(best!);
    }
  } finally {
    server.stop();
  }
  if (values.json) {
    console.log(JSON.stringify({ model: values.model, batch, maxTokens, rounds: results }));
    return;
  }
  console.log(`ternlm bench serve — ${values.model}, streaming clients x ${maxTokens} tokens, batch up to ${batch}, best of ${rounds} rounds, Node ${process.version}`);
  console.log('  clients   tokens/s in all   vs 1 client   first token p50     p99');
  const one = results.find((r) => r.clients === 1)?.tokensPerS;
  for (const r of results) {
    console.log(`  ${String(r.clients).padStart(7)} ${r.tokensPerS.toFixed(0).padStart(17)} ${one ? `${(r.tokensPerS / one).toFixed(2)}×`.padStart(13) : ''.padStart(13)} ${r.ttftP50Ms.toFixed(1).padStart(12)} ms ${r.ttftP99Ms.toFixed(1).padStart(7)} ms`);
  }
}
