// `ternlm bench page`: the page in headless Chromium and Node train the same run (the same loss
// at the last step) and it reports each side's tokens/s, the ratios and the browser it ran in;
// bad flags get one line. Skips when no Chromium is installed (`apt-get install chromium`).
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { describe, it } from 'node:test';
import { chromiumPath } from '../../bench/page.js';
import { ternlm } from '../cli/run-cli.js';

const BUILT = existsSync(new URL('../../web/page.js', import.meta.url));
const skip = !chromiumPath() ? 'no Chromium installed (apt-get install chromium)' : !BUILT ? 'the page is not built (npm run build)' : false;

interface Side { kernels: string; median: number; best: number; all: number; lastLoss: number }

describe('ternlm bench page', () => {
  it('trains the smallest preset in the page and in Node on 2 threads and reports both speeds', { skip }, async () => {
    const r = await ternlm(['bench', 'page', '--preset', 'flashlm-micro', '--steps', '3', '--threads', '2', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as {
      preset: string; steps: number; threads: number; tokensPerStep: number; chromium: string; hardwareConcurrency: number;
      page: Side; nodeWasm: Side; nodeNative: Side | null; pageOverNodeWasm: number; pageOverNodeNative: number | null;
    };
    assert.equal(report.preset, 'flashlm-micro');
    assert.equal(report.steps, 3);
    assert.equal(report.threads, 2, 'the page ran on the threads asked for');
    assert.equal(report.tokensPerStep, 8 * 64);
    assert.match(report.chromium, /^\d+\.\d+\.\d+\.\d+$/);
    assert.ok(report.hardwareConcurrency >= 1);
    assert.match(report.page.kernels, /^wasm \w+ SIMD$/);
    assert.match(report.nodeWasm.kernels, /^wasm \w+ SIMD$/);
    const sides = [report.page, report.nodeWasm, ...(report.nodeNative ? [report.nodeNative] : [])];
    for (const side of sides) {
      assert.ok(side.best >= side.median && side.median > 0 && side.all > 0, JSON.stringify(side));
      // Same text, tokenizer, model, batches and seed: the same run, up to the kernels' rounding.
      assert.ok(Math.abs(side.lastLoss - report.page.lastLoss) < 0.02, `last loss ${side.lastLoss} vs the page's ${report.page.lastLoss}`);
    }
    assert.ok(Math.abs(report.pageOverNodeWasm - report.page.median / report.nodeWasm.median) < 1e-9);
    if (report.nodeNative) {
      assert.match(report.nodeNative.kernels, /^native kernels/);
      assert.ok(Math.abs(report.pageOverNodeNative! - report.page.median / report.nodeNative.median) < 1e-9);
    }
  });

  it('refuses an unknown preset and a bad thread count in one line', async () => {
    const preset = await ternlm(['bench', 'page', '--preset', 'huge']);
    assert.equal(preset.code, 1);
    assert.equal(preset.stderr, "Error: unknown preset 'huge' — one of flashlm-micro, flashlm-tiny, bitnet-micro, gpt2-micro\n");
    const threads = await ternlm(['bench', 'page', '--threads', '0']);
    assert.equal(threads.code, 1);
    assert.match(threads.stderr, /^Error: --threads must be a whole number from 1 to \d+ \(4 × this machine's cores\), got '0'\n$/);
  });
});
