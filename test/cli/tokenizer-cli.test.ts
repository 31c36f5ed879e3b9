// `ternlm tokenizer train --max-bytes`: the limit counts the text taken, not the file chunks read
// ahead, so a limit smaller than one read still takes the documents that fit under it.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ternlm } from './run-cli.js';

/** "N distinct words" from the command's summary line. */
const distinctWords = (stdout: string): number => Number(/([\d,]+) distinct words/.exec(stdout)![1].replace(/,/g, ''));

describe('ternlm tokenizer train --max-bytes', () => {
  const root = mkdtempSync(join(tmpdir(), 'ternlm-tok-cli-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  // 400 paragraphs of 10 words each, every word new (letters only, so each is one pre-token):
  // distinct words grow with the text taken.
  const corpus = join(root, 'corpus.txt');
  const letters = (n: number): string => (n < 26 ? '' : letters(Math.floor(n / 26) - 1)) + String.fromCharCode(97 + (n % 26));
  const paragraphs = Array.from({ length: 400 }, (_, p) => Array.from({ length: 10 }, (_, w) => `q${letters(p * 10 + w)}`).join(' '));
  writeFileSync(corpus, paragraphs.join('\n\n') + '\n');

  it('takes about the first N bytes of text, many documents of one read chunk', async () => {
    const train = (maxBytes: number) => ternlm(['tokenizer', 'train', '--input', corpus, '--vocab', '300', '--max-bytes', String(maxBytes), '--out', join(root, `tok-${maxBytes}.json`)]);
    const half = await train(10_000);
    assert.equal(half.code, 0, half.stderr);
    const all = await train(1_000_000);
    assert.equal(all.code, 0, all.stderr);
    // The file (≈ 20 KB) is one read chunk; the text of the paragraphs up to 10,000 bytes counts
    // (give or take the separators each document's text keeps), not just the first paragraph.
    let taken = 0, words = 0;
    for (const p of paragraphs) {
      if (taken >= 10_000) break;
      taken += Buffer.byteLength(p);
      words += 10;
    }
    const got = distinctWords(half.stdout);
    assert.ok(Math.abs(got - words) <= 0.1 * words, `${got} distinct words, expected about ${words}`);
    assert.ok(distinctWords(all.stdout) >= 4000, all.stdout);
  });
});
