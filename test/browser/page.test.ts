// The page `ternlm serve` shows, in headless Chromium: it trains the smallest preset on the
// built-in stories in the tab (a module Web Worker whose kernel pool starts nested workers) and
// the loss falls; it generates text from the engine opened on the exported bytes; the download
// is a file that `ternlm generate` runs; a text file given through the file input trains; bad
// files get one clear line. Skips when no Chromium is installed (`apt-get install chromium`).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { chromiumPath, launchChromium } from '../../bench/page.js';
import { ModelServer } from '../../src/serve/server.js';
import { ternlm } from '../cli/run-cli.js';

const BUILT = existsSync(new URL('../../web/page.js', import.meta.url));
const skip = !chromiumPath() ? 'no Chromium installed (apt-get install chromium)' : !BUILT ? 'the page is not built (npm run build)' : false;

/** Wait until the worker paused training (or reported an error); the one line under the controls. */
async function trained(page: Page): Promise<string> {
  await page.waitForFunction(() => !(document.getElementById('continue') as HTMLButtonElement).disabled || document.getElementById('message')!.className === 'error', undefined, { timeout: 90_000 });
  return (await page.textContent('#message')) ?? '';
}

/** Press Train with a file in the file input; the line the page answers with. */
async function trainOnFile(page: Page, name: string, content: Buffer, steps: number): Promise<string> {
  await page.setInputFiles('#file', { name, mimeType: 'text/plain', buffer: content });
  await page.fill('#steps', String(steps));
  await page.click('#train');
  return trained(page);
}

describe('the training page in a browser (headless Chromium)', { skip }, () => {
  const server = new ModelServer({});
  const dir = mkdtempSync(join(tmpdir(), 'ternlm-page-'));
  let browser: Browser;
  let page: Page;

  before(async () => {
    const { port } = await server.listen(0, '127.0.0.1');
    browser = await launchChromium();
    page = await browser.newPage({ acceptDownloads: true });
    await page.goto(`http://127.0.0.1:${port}/`);
    await page.waitForFunction(() => !(document.getElementById('train') as HTMLButtonElement).disabled, undefined, { timeout: 60_000 });
  });

  after(async () => {
    await browser?.close();
    await server.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts the runtime on 2 threads in a cross-origin-isolated tab and lists the presets with their sizes', async () => {
    assert.equal(await page.evaluate(() => crossOriginIsolated), true);
    assert.match((await page.textContent('#env')) ?? '', /with [2-4] compute threads/);
    const presets = await page.$$eval('#preset option', (options) => options.map((o) => o.textContent ?? ''));
    assert.ok(presets.length >= 3, presets.join(', '));
    for (const p of presets) assert.match(p, /: \d+\.\d\d M parameters$/);
  });

  it('runs on the threads ?threads=N asks for, and refuses an N out of range in one line', async () => {
    const other = await browser.newPage();
    const started = (): Promise<unknown> => other.waitForFunction(() => !(document.getElementById('train') as HTMLButtonElement).disabled, undefined, { timeout: 60_000 });
    await other.goto(`${page.url()}?threads=1`);
    await started();
    assert.match((await other.textContent('#env')) ?? '', /with 1 compute threads/);
    await other.goto(`${page.url()}?threads=0`);
    await started();
    assert.match((await other.textContent('#message')) ?? '', /^threads=0 in the address is not a whole number from 1 to \d+ — the page runs on [1-4]; give one in range, or leave it out$/);
    await other.close();
  });

  it('trains the smallest preset on the built-in stories and the loss falls', async () => {
    await page.check('input[name=corpus][value=stories]');
    await page.selectOption('#preset', 'flashlm-micro');
    await page.fill('#steps', '40');
    await page.click('#train');
    assert.match(await trained(page), /^Trained 40 steps/);
    assert.equal(await page.textContent('#step'), '40 / 40');
    const first = Number(await page.textContent('#loss-first')), last = Number(await page.textContent('#loss'));
    assert.ok(last < first - 1, `loss ${first} -> ${last}`);
    const bpb = Number(await page.textContent('#bpb'));
    assert.ok(bpb > 0 && bpb < 3, `validation bits per byte ${bpb}`);
    assert.match((await page.textContent('#speed')) ?? '', /^[\d,]+$/);
  });

  it('generates text with the engine opened on the exported bytes', async () => {
    await page.fill('#prompt', 'Once upon a time');
    await page.click('#generate');
    await page.waitForFunction(() => !(document.getElementById('generate') as HTMLButtonElement).disabled, undefined, { timeout: 60_000 });
    const output = (await page.textContent('#output')) ?? '';
    assert.ok(output.startsWith('Once upon a time') && output.length > 'Once upon a time'.length + 10, output);
    assert.match((await page.textContent('#message')) ?? '', /^\d+ tokens at [\d,]+ tokens\/s, from the exported model\.$/);
  });

  it('downloads the exported file, and `ternlm generate` runs it', async () => {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    assert.equal(download.suggestedFilename(), 'ternlm-flashlm-micro-step40.safetensors');
    const path = join(dir, download.suggestedFilename());
    await download.saveAs(path);
    assert.ok(readFileSync(path).length > 10_000);
    const r = await ternlm(['generate', '--model', path, '--prompt', 'Once upon a time', '--max-tokens', '20', '--threads', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.startsWith('Once upon a time') && r.stdout.trim().length > 'Once upon a time'.length, r.stdout);
  });

  it('refuses an empty file, a binary file and too little text with one clear line', async () => {
    await page.check('input[name=corpus][value=file]');
    assert.equal(await trainOnFile(page, 'empty.txt', Buffer.alloc(0), 5), 'empty.txt is empty — choose a text file with some writing in it');
    assert.match(await trainOnFile(page, 'image.png', Buffer.from([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 13]), 5), /^image\.png is not a text file .* choose a plain-text \.txt file$/);
    assert.match(await trainOnFile(page, 'short.txt', Buffer.from('Hello there. This is all.\n'), 5), /^the text is too short: its validation slice .* give at least \d+ KB of text, or pick the built-in stories$/);
    assert.equal(await page.$$eval('#message.error', (m) => m.length), 1);
  });

  it('trains on a text file given through the file input', async () => {
    const text = readFileSync(new URL('../../../docs/training.md', import.meta.url));
    assert.match(await trainOnFile(page, 'training.md', text, 5), /^Trained 5 steps/);
    assert.equal(await page.textContent('#step'), '5 / 5');
  });
});
