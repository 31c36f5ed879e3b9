// `ternlm report` through the real CLI on two fake run folders (a ternary run with its weight mix
// and its float twin without): HTML, SVG and PNG come out with the axis titles and both runs,
// and every bad input is refused with one line that leaves the folder as it was.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { overallMix, runNames } from '../../src/report/runs.js';
import { thin } from '../../src/report/specs.js';
import { assertRefused, snapshotTree, ternlm } from '../cli/run-cli.js';

/** Deterministic noise in [-0.5, 0.5). */
function noise(seed: number): () => number {
  let s = seed;
  return () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return s / 2147483648 - 0.5;
  };
}

/** A run folder as `ternlm train` leaves it: config.json and metrics.jsonl with train, profile, plan and eval lines. */
function fakeRun(dir: string, o: { precision: 'ternary' | 'fp32'; config: string; steps: number; tokensPerSecond: number; seed: number }): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ name: o.config, model: { family: 'flashlm', dim: 256, precision: o.precision }, logEvery: 10 }, null, 2));
  const rand = noise(o.seed);
  const lossAt = (s: number): number => 2.7 + 5.6 * Math.exp(-s / 150) + 0.6 * Math.exp(-s / 1500) + (o.precision === 'ternary' ? 0.03 : 0);
  const lines: object[] = [];
  let tokens = 0;
  for (let step = 10; step <= o.steps; step += 10) {
    const seqLen = step < 0.2 * o.steps ? 64 : step < 0.6 * o.steps ? 128 : 256;
    tokens += 10 * 16 * seqLen;
    const elapsed = tokens / o.tokensPerSecond;
    const lr = 0.003 * (step < 100 ? step / 100 : 0.1 + 0.45 * (1 + Math.cos((Math.PI * (step - 100)) / (o.steps - 100))));
    lines.push({
      type: 'train', step, progress: step / o.steps, loss: lossAt(step) + 0.08 * rand(), lr, seqLen, tokens,
      tokensPerSecond: o.tokensPerSecond * (1 + 0.05 * rand()), elapsed, gradNorm: 0.4 + 0.1 * rand(), headShare: 0.4,
    });
    if (step % 100 === 50) lines.push({ type: 'profile', step, ms: { glu: 40.1, head: 30.2, mixer: 8 }, share: { glu: 0.51, head: 0.39, mixer: 0.1 } });
    if (step === 300) lines.push({ type: 'plan', step, total_steps: o.steps, tokens_per_second: o.tokensPerSecond, seconds: 3600 });
    if (step % 250 === 0 || step === o.steps) {
      const ternary: Record<string, object> = {};
      if (o.precision === 'ternary') {
        for (const layer of ['blocks.0.mix', 'blocks.0.glu.gate', 'blocks.0.glu.up', 'blocks.0.glu.down']) {
          const zero = 0.31 + 0.05 * Math.exp(-step / 800) + 0.01 * rand();
          ternary[layer] = { alpha: 0.02, neg: (1 - zero) / 2 + 0.002, zero, pos: (1 - zero) / 2 - 0.002, weights: layer.endsWith('mix') ? 65536 : 131072 };
        }
      }
      const val = lossAt(step) + 0.1;
      lines.push({ type: 'eval', step, tokens, elapsed, val_loss: val, val_ppl: Math.exp(val), val_bpb: val / Math.log(2) / 4.1, ternary });
    }
  }
  writeFileSync(join(dir, 'metrics.jsonl'), lines.map((l) => JSON.stringify(l) + '\n').join(''));
}

/** The width and height in a PNG's IHDR chunk, after checking the signature. */
function pngSize(bytes: Uint8Array): { width: number; height: number } {
  assert.deepEqual([...bytes.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'PNG signature');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(new TextDecoder().decode(bytes.subarray(12, 16)), 'IHDR');
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

const AXIS_TITLES = ['steps', 'loss (nats/token)', 'training time (minutes)', 'validation loss (bits/byte)', 'throughput (tokens/s)', 'learning rate', 'share of ternary weights (%)'];

describe('ternlm report', () => {
  const root = mkdtempSync(join(tmpdir(), 'ternlm-report-'));
  const ternary = join(root, 'runs', 'ts', 'ternary');
  const float = join(root, 'runs', 'ts', 'float');
  fakeRun(ternary, { precision: 'ternary', config: 'flashlm-tiny', steps: 2000, tokensPerSecond: 5000, seed: 1 });
  fakeRun(float, { precision: 'fp32', config: 'flashlm-tiny-float', steps: 1950, tokensPerSecond: 4800, seed: 7 });
  const out = join(root, 'out');

  it('draws both runs as SVG with every axis titled', async () => {
    const file = join(out, 'report.svg');
    const r = await ternlm(['report', ternary, float, '--out', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /report: .*report\.svg \(ternary, float\)/);
    const svg = readFileSync(file, 'utf8');
    assert.match(svg, /^<svg[^>]* width="\d+" height="\d+"/);
    for (const title of AXIS_TITLES) assert.ok(svg.includes(`>${title}</text>`), `axis title '${title}'`);
    for (const name of ['ternary', 'float']) assert.ok(svg.includes(`>${name}</text>`), `legend entry '${name}'`);
    for (const label of ['−1', '0', '+1', 'train', 'validation']) assert.ok(svg.includes(`>${label}</text>`), `legend entry '${label}'`);
  });

  it('writes a PNG of the width asked for, its height following the drawing', async () => {
    const svg = readFileSync(join(out, 'report.svg'), 'utf8');
    const [w, h] = [/width="(\d+)"/, /height="(\d+)"/].map((re) => Number(re.exec(svg)![1]));
    const file = join(out, 'report.png');
    const r = await ternlm(['report', ternary, float, '--out', file, '--width', '900']);
    assert.equal(r.code, 0, r.stderr);
    const size = pngSize(readFileSync(file));
    assert.equal(size.width, 900);
    assert.ok(Math.abs(size.height - (h * 900) / w) <= 1, `height ${size.height} for a ${w}x${h} drawing`);
    // Without --width: twice the drawing's size, for sharp text.
    const sharp = join(out, 'sharp.png');
    assert.equal((await ternlm(['report', ternary, float, '--out', sharp])).code, 0);
    assert.equal(pngSize(readFileSync(sharp)).width, 2 * w);
  });

  it('writes a self-contained HTML page: summary table and inline SVG, no scripts; report.html in the current folder by default', async () => {
    const r = await ternlm(['report', join('runs', 'ts', 'ternary'), join('runs', 'ts', 'float')], { cwd: root });
    assert.equal(r.code, 0, r.stderr);
    const html = readFileSync(join(root, 'report.html'), 'utf8');
    assert.match(html, /^<!doctype html>/);
    assert.match(html, /<svg[^>]*>/);
    assert.doesNotMatch(html, /<script/i);
    assert.doesNotMatch(html, /\s(src|href)=/i, 'nothing loaded from elsewhere');
    assert.match(html, /<th scope="row"[^>]*>ternary<\/th><td>flashlm-tiny<\/td><td>ternary<\/td><td class="n">2,000<\/td>/);
    assert.match(html, /<th scope="row"[^>]*>float<\/th><td>flashlm-tiny-float<\/td><td>fp32<\/td><td class="n">1,950<\/td>/);
    for (const head of ['tokens seen', 'training time', 'last train loss', 'best val loss', 'best bits per byte']) assert.ok(html.includes(`>${head}</th>`), head);
  });

  it('names runs by their folders, with parent folders where two names are equal', () => {
    assert.deepEqual(runNames(['runs/a/ternary', 'runs/b/ternary', 'runs/float']), ['a/ternary', 'b/ternary', 'float']);
    assert.deepEqual(runNames(['x/runs/a/t', 'y/runs/a/t']), ['x/runs/a/t', 'y/runs/a/t']);
  });

  it('mixes the layers weighted by their sizes, or as a plain mean when the log gives no sizes', () => {
    const sized = overallMix({ a: { neg: 0.3, zero: 0.4, pos: 0.3, weights: 100 }, b: { neg: 0.2, zero: 0.6, pos: 0.2, weights: 300 } })!;
    assert.ok(Math.abs(sized.zero - 0.55) < 1e-12 && Math.abs(sized.neg - 0.225) < 1e-12);
    assert.ok(Math.abs(overallMix({ a: { neg: 0.3, zero: 0.4, pos: 0.3 }, b: { neg: 0.2, zero: 0.6, pos: 0.2 } })!.zero - 0.5) < 1e-12);
    assert.equal(overallMix({}), null);
    assert.deepEqual(thin([1, 2, 3, 4, 5, 6, 7], 4), [1, 3, 5, 7]);
  });

  it('skips a last line still being written by a live run', async () => {
    const live = join(root, 'live');
    fakeRun(live, { precision: 'ternary', config: 'flashlm-tiny', steps: 300, tokensPerSecond: 5000, seed: 3 });
    writeFileSync(join(live, 'metrics.jsonl'), readFileSync(join(live, 'metrics.jsonl'), 'utf8') + '{"type":"train","step":310,"lo');
    const r = await ternlm(['report', live, '--out', join(out, 'live.svg')]);
    assert.equal(r.code, 0, r.stderr);
  });

  describe('refuses bad input with one line, writing nothing', () => {
    const bad = join(root, 'bad');
    const noMetrics = join(bad, 'no-metrics');
    const empty = join(bad, 'empty');
    const broken = join(bad, 'broken');
    const file = join(bad, 'a-file.txt');
    mkdirSync(noMetrics, { recursive: true });
    writeFileSync(join(noMetrics, 'config.json'), '{}');
    mkdirSync(empty);
    writeFileSync(join(empty, 'metrics.jsonl'), JSON.stringify({ type: 'plan', step: 1, total_steps: 10 }) + '\n');
    fakeRun(broken, { precision: 'fp32', config: 'x', steps: 100, tokensPerSecond: 1000, seed: 2 });
    const lines = readFileSync(join(broken, 'metrics.jsonl'), 'utf8').split('\n');
    lines[2] = lines[2].slice(0, 20);
    writeFileSync(join(broken, 'metrics.jsonl'), lines.join('\n'));
    writeFileSync(file, 'not a folder');

    const cases: [string, string[], RegExp][] = [
      ['no run folder', ['--out', join(bad, 'r.html')], /give at least one run folder/],
      ['a missing folder', [join(bad, 'nope'), '--out', join(bad, 'r.html')], /bad\/nope does not exist — give the folder of a training run/],
      ['a file for a folder', [file, '--out', join(bad, 'r.html')], /a-file\.txt is a file, not a run folder/],
      ['a folder without metrics.jsonl', [noMetrics, '--out', join(bad, 'r.html')], /no-metrics holds no metrics\.jsonl, so it is not a training run folder/],
      ['no train lines yet', [empty, '--out', join(bad, 'r.html')], /empty\/metrics\.jsonl has no training steps logged yet/],
      ['a line that is not JSON', [ternary, broken, '--out', join(bad, 'r.html')], /broken\/metrics\.jsonl line 3 is not JSON \(.*\) — fix or delete that line/],
      ['an unknown extension', [ternary, '--out', join(bad, 'r.pdf')], /--out .*r\.pdf ends in '\.pdf': a report is written as \.html, \.svg or \.png/],
      ['no extension', [ternary, '--out', join(bad, 'report')], /--out .*report has no extension: a report is written as \.html, \.svg or \.png/],
      ['an --out below a file', [ternary, '--out', join(file, 'r.html')], /cannot write .*a-file\.txt\/r\.html: .*a-file\.txt is a file, not a folder/],
      ['an --out in a folder that cannot be created', [ternary, '--out', '/proc/ternlm-no/r.png'], /cannot create folder \/proc\/ternlm-no: this file system does not allow new folders here/],
      ['the same run twice', [ternary, `${ternary}/../ternary`, '--out', join(bad, 'r.html')], /the run folder .* is given twice/],
      ['a bad --width', [ternary, '--out', join(bad, 'r.png'), '--width', '12'], /--width must be/],
      ['an unknown flag', [ternary, '--outt', join(bad, 'r.png')], /unknown option --outt for ternlm report \(did you mean --out\?\)/],
    ];
    for (const [what, args, pattern] of cases) {
      it(what, async () => {
        const before = snapshotTree(root);
        assertRefused(await ternlm(['report', ...args]), pattern);
        assert.deepEqual(snapshotTree(root), before);
        assert.ok(!existsSync('/proc/ternlm-no'));
      });
    }
  });
});
