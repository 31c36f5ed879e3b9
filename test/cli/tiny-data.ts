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

/** What `ternlm export` reports on stdout. */
export interface ExportReport {
  ternary_weights: number;
  float_parameters: number;
}

/**
 * Train the shipped config `config` for 2 steps on `data` at TINY_MODEL's size (plus `sets`, more
 * --set arguments) into root/<config>, and export it: -> the exported file and export's report.
 */
export async function trainAndExportTiny(root: string, data: string, config: string, sets: string[] = []): Promise<{ file: string; report: ExportReport }> {
  const run = join(root, config);
  const train = await ternlm(['train', '--config', config, '--data', data, '--out', run, '--steps', '2', '--threads', '1',
    ...TINY_MODEL, ...sets, '--set', 'batchSize=2', '--set', 'sampleTokens=4', '--set', 'evalBatches=1']);
  assert.equal(train.code, 0, train.stderr);
  const file = join(run, 'model.safetensors');
  const exp = await ternlm(['export', '--model', join(run, 'ckpt.safetensors'), '--out', file]);
  assert.equal(exp.code, 0, exp.stderr);
  return { file, report: JSON.parse(exp.stdout) as ExportReport };
}
