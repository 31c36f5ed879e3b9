// The train -> Ctrl-C -> resume -> eval -> export -> generate path through the real CLI.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import { writeDemoCorpus } from '../../src/data/stories.js';

const CLI = resolve(dirname(fileURLToPath(import.meta.url)), '../../src/cli/main.js');

interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

function ternlm(args: string[], onStderr?: (all: string, kill: () => void) => void): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => {
      stderr += d;
      onStderr?.(stderr, () => child.kill('SIGINT'));
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolveRun({ code, signal, stdout, stderr }));
  });
}

const TINY = ['--set', 'model.dim=32', '--set', 'model.layers=2', '--set', 'model.dilations=[1,4]', '--set', 'model.contextLength=32',
  '--set', 'seqLen=32', '--set', 'curriculum=[]', '--set', 'batchSize=4', '--set', 'logEvery=5', '--set', 'evalBatches=2', '--threads', '1'];

describe('ternlm CLI: train, interrupt, resume, eval, export, generate', () => {
  const root = mkdtempSync(join(tmpdir(), 'ternlm-cli-'));
  const data = join(root, 'data');
  const out = join(root, 'run');

  before(async () => {
    const corpus = writeDemoCorpus(join(root, 'corpus'), { stories: 600, seed: 4 });
    const tok = await ternlm(['tokenizer', 'train', '--input', corpus.path, '--vocab', '400', '--out', join(root, 'tok.json')]);
    assert.equal(tok.code, 0, tok.stderr);
    const prep = await ternlm(['prepare', '--input', corpus.path, '--tokenizer', join(root, 'tok.json'), '--out', data, '--val-fraction', '0.05']);
    assert.equal(prep.code, 0, prep.stderr);
  });

  it('Ctrl-C saves a checkpoint and --resume continues from it', async () => {
    let sent = false;
    const first = await ternlm(['train', '--data', data, '--out', out, '--steps', '100000', ...TINY], (all, kill) => {
      if (!sent && /step \d+/.test(all)) {
        sent = true;
        kill();
      }
    });
    assert.equal(first.code, 130, first.stderr);
    assert.match(first.stderr, /checkpoint saved/);
    assert.ok(existsSync(join(out, 'ckpt.safetensors')));
    // The stopped run drew its plots into its folder.
    assert.match(first.stderr, /report: .*report\.html and report\.png/);
    assert.match(readFileSync(join(out, 'report.html'), 'utf8'), /<svg[^>]*>[^]*>loss \(nats\/token\)<\/text>/);
    assert.ok(readFileSync(join(out, 'report.png')).subarray(1, 4).toString() === 'PNG');
    const stoppedAt = Number(/stopped at step (\d+)/.exec(first.stderr)![1]);
    const second = await ternlm(['train', '--data', data, '--out', out, '--steps', String(stoppedAt + 10), '--resume', ...TINY]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stderr, new RegExp(`resumed .* at step ${stoppedAt}`));
    assert.match(second.stderr, new RegExp(`done: ${stoppedAt + 10} steps`));
    const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(metrics.some((m) => m.type === 'eval'));
  });

  it('eval prints loss, perplexity and bits per byte; export and generate run the packed model', async () => {
    const ev = await ternlm(['eval', '--model', join(out, 'ckpt.safetensors'), '--data', data, '--json']);
    assert.equal(ev.code, 0, ev.stderr);
    const r = JSON.parse(ev.stdout);
    assert.ok(r.loss > 0 && Math.abs(r.ppl - Math.exp(r.loss)) < 1e-6 * r.ppl && r.bpb > 0 && r.tokens > 0);
    const packed = join(root, 'model.safetensors');
    const ex = await ternlm(['export', '--model', join(out, 'ckpt.safetensors'), '--out', packed, '--packing', 'base3']);
    assert.equal(ex.code, 0, ex.stderr);
    assert.ok(JSON.parse(ex.stdout).bits_per_ternary_weight <= 1.7);
    const gen = await ternlm(['generate', '--model', packed, '--prompt', 'the', '--max-tokens', '12', '--seed', '3']);
    assert.equal(gen.code, 0, gen.stderr);
    assert.ok(gen.stdout.trim().length > 3, `generated: ${gen.stdout}`);
    const bad = await ternlm(['generate', '--model', join(out, 'ckpt.safetensors'), '--prompt', 'the']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /training checkpoint: run `ternlm export/);
    const missing = await ternlm(['eval', '--model', join(root, 'nope.safetensors'), '--data', data]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^Error: model file .*nope\.safetensors does not exist/m);
  });
});
