// ternlm generate and ternlm chat as a user runs them: a child process, stdin lines, stdout text,
// one-line errors on stderr.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CLI, needsStories, STORIES260K, tempDir } from './fixtures.js';

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Run the CLI; `input` lines are written to stdin, then stdin is closed (unless `keepOpen`). */
function ternlm(args: string[], input = '', opts: { keepOpen?: boolean; onStdout?: (all: string, child: ReturnType<typeof spawn>) => void } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      opts.onStdout?.(stdout, child);
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('close', () => clearTimeout(timer));
    child.stdin.write(input);
    if (!opts.keepOpen) child.stdin.end();
  });
}

const GREEDY_START = 'Once upon a time, there was a little girl named Lily. She loved to play outside in the park.';

describe('ternlm generate', { skip: needsStories }, () => {
  it('streams the prompt and its greedy continuation, speed on stderr', async () => {
    const r = await ternlm(['generate', '--model', STORIES260K, '--prompt', 'Once upon a time', '--temperature', '0', '--max-tokens', '30', '--threads', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.startsWith(GREEDY_START), r.stdout);
    assert.match(r.stderr, /^30 tokens \(max tokens\) at [\d.]+ tokens\/s; prompt 5 tokens, first token after [\d.]+ ms; (native kernels \((avx512|avx2|scalar)( vnni)?\) \+ )?wasm (relaxed|baseline) SIMD, 1 thread\n$/);
  });

  it('gives one-line errors for a missing model, no tokenizer, and bad flags', async () => {
    const { dir, cleanup } = tempDir();
    try {
      const lone = join(dir, 'alone');
      mkdirSync(lone);
      copyFileSync(STORIES260K, join(lone, 'model.bin'));
      const cases: [string[], RegExp][] = [
        [['generate', '--model', join(dir, 'none.bin')], /^Error: model file .*none\.bin does not exist\n$/],
        [['generate', '--model', join(lone, 'model.bin')], /^Error: no tokenizer beside .*model\.bin \(looked for tok512\.bin and tokenizer\.bin\) — pass --tokenizer <file>\n$/],
        [['generate', '--model', STORIES260K, '--top-p', '0'], /^Error: --top-p must be a number greater than 0 and at most 1, got '0'\n$/],
        [['generate', '--model', STORIES260K, '--max-tokens', 'many'], /^Error: --max-tokens must be an integer from 1 to 1000000, got 'many'\n$/],
        [['generate'], /^Error: --model <file> is required/],
        [['generate', '--model', STORIES260K, '--prompt', 'x '.repeat(600)], /^Error: the prompt is \d+ tokens but the model's context holds 512/],
      ];
      for (const [args, want] of cases) {
        const r = await ternlm(args);
        assert.equal(r.code, 1, args.join(' '));
        assert.match(r.stderr, want);
      }
    } finally {
      cleanup();
    }
  });
});

describe('ternlm chat', { skip: needsStories }, () => {
  const chatArgs = ['chat', '--model', STORIES260K, '--temperature', '0', '--max-tokens', '25', '--threads', '1'];

  it('answers piped lines, runs /help and /clear, reports a bad command and goes on, stops at /exit', async () => {
    const r = await ternlm(chatArgs, ['Once upon a time', '/help', '/nonsense', '/clear', 'Once upon a time', '/exit', 'never answered'].join('\n') + '\n');
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout.split('\n');
    const replies = out.filter((l) => l.startsWith(', there was'));
    assert.equal(replies.length, 2, r.stdout);
    assert.equal(replies[0], replies[1], '/clear starts over: greedy gives the same reply');
    assert.ok(r.stdout.includes('/clear    forget the conversation'));
    assert.match(r.stderr, /Error: unknown command \/nonsense — \/help lists the commands/);
    assert.match(r.stderr, /\(conversation cleared\)/);
    assert.equal(r.stdout.trimEnd().split('\n').length, 2 + 5, 'two replies and the five lines of /help, nothing for the line after /exit');
  });

  it('keeps the conversation: a second message continues the first reply', async () => {
    const r = await ternlm(chatArgs, 'Once upon a time\nThe dog\n');
    assert.equal(r.code, 0, r.stderr);
    const [first, second] = r.stdout.split('\n');
    assert.ok(first.startsWith(', there was'));
    // Alone, "The dog" would start a new story; here it continues Lily's, so the replies differ.
    const alone = await ternlm(chatArgs, 'The dog\n');
    assert.notEqual(second, alone.stdout.split('\n')[0]);
  });

  it('Ctrl-C during a reply stops the reply, not the chat', async () => {
    const long = chatArgs.map((a) => (a === '25' ? '500' : a));
    let interrupted = false;
    const r = await ternlm(long, 'Once upon a time\n', {
      keepOpen: true,
      onStdout: (_all, child) => {
        if (interrupted) return;
        interrupted = true; // the first piece of the reply is out: the model is still writing
        child.kill('SIGINT');
        child.stdin!.end('/exit\n');
      },
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\(reply stopped\)/);
    const stopped = r.stdout.replace(/\n$/, '');
    const full = (await ternlm(long, 'Once upon a time\n')).stdout.replace(/\n$/, '');
    assert.ok(full.startsWith(stopped) && stopped.length < full.length, `stopped reply: ${stopped}`);
  });

  it('quits on Ctrl-C at the prompt', async () => {
    let sent = false;
    const r = await ternlm(chatArgs, 'Once upon a time\n', {
      keepOpen: true,
      onStdout: (all, child) => {
        if (!sent && all.includes('\n')) {
          sent = true;
          setTimeout(() => child.kill('SIGINT'), 100);
        }
      },
    });
    assert.ok(sent);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.signal, null);
  });
});

describe('ternlm bench generate', { skip: needsStories }, () => {
  it('prints one JSON object with the three cases, clipping the long prompt to the context', async () => {
    const r = await ternlm(['bench', 'generate', '--model', STORIES260K, '--threads', '1', '--reps', '1', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    assert.equal(report.runs.length, 1);
    const run = report.runs[0];
    assert.equal(run.threads, 1);
    assert.deepEqual(Object.keys(run.cases), ['short', 'long', 'full']);
    assert.deepEqual([run.cases.short.promptTokens, run.cases.long.promptTokens, run.cases.full.promptTokens], [1, 384, 1]);
    assert.deepEqual([run.cases.short.newTokens, run.cases.long.newTokens, run.cases.full.newTokens], [128, 128, 512]);
    for (const c of Object.values(run.cases) as { decodeTokensPerS: number; firstTokenMs: number; cpuSecondsPerToken: number; joulesPerToken: number | null }[]) {
      assert.ok(c.decodeTokensPerS > 0 && c.firstTokenMs > 0);
      assert.ok(c.cpuSecondsPerToken > 0 && c.cpuSecondsPerToken < 1, `${c.cpuSecondsPerToken} CPU-s per token`);
      assert.equal(c.joulesPerToken === null, report.energy.zones === null, 'joules exactly where RAPL counters were read');
    }
    assert.match(report.notes[0], /clipped to 384 tokens/);
    assert.ok(run.memory.heapPeakBytes > 1_000_000 && run.memory.maxRssBytes > run.memory.heapPeakBytes);
  });
});
