// A small prepared dataset made through the real CLI, for tests that need `--data`.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeDemoCorpus } from '../../src/data/stories.js';
import { ternlm } from './run-cli.js';

/** Config overrides that make a model small enough to start (and end: no plots) in a moment. */
export const TINY_MODEL = ['--set', 'model.dim=16', '--set', 'model.layers=1', '--set', 'model.contextLength=32', '--set', 'seqLen=32', '--set', 'curriculum=[]',
  '--set', 'report=false'];

/** Under `root`: a demo corpus, a 300-token BPE (tok.json) and shards prepared with it (data/). */
export async function prepareTinyDataset(root: string, seed: number): Promise<{ corpus: string; tokenizer: string; data: string }> {
  const corpus = writeDemoCorpus(join(root, 'corpus'), { stories: 200, seed }).path;
  const tokenizer = join(root, 'tok.json');
  const data = join(root, 'data');
  const tok = await ternlm(['tokenizer', 'train', '--input', corpus, '--vocab', '300', '--out', tokenizer]);
  assert.equal(tok.code, 0, tok.stderr);
  const prep = await ternlm(['prepare', '--input', corpus, '--tokenizer', tokenizer, '--out', data, '--val-fraction', '0.05']);
  assert.equal(prep.code, 0, prep.stderr);
  return { corpus, tokenizer, data };
}
