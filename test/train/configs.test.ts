// The shipped configs: each loads, and each ternary config has a float twin that differs only in
// precision (and name), so A/B runs compare like with like.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { resolveConfigPath } from '../../src/cli/train.js';
import { loadTrainConfig } from '../../src/train/config.js';

const dir = join(resolveConfigPath('flashlm-tiny'), '..');
const names = readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));

describe('shipped configs', () => {
  it('every config loads and is named after its file', () => {
    assert.ok(names.length >= 2);
    for (const n of names) assert.equal(loadTrainConfig(join(dir, `${n}.json`)).name, n);
  });

  const ternary = names.filter((n) => {
    const m = loadTrainConfig(join(dir, `${n}.json`)).model;
    return 'precision' in m && m.precision === 'ternary';
  });
  for (const n of ternary) {
    it(`${n} has a float twin that differs only in precision`, () => {
      assert.ok(names.includes(`${n}-float`), `configs/${n}-float.json is missing`);
      const t = loadTrainConfig(join(dir, `${n}.json`)), f = loadTrainConfig(join(dir, `${n}-float.json`));
      assert.ok('precision' in t.model && 'precision' in f.model);
      assert.equal(f.model.precision, 'fp32');
      const strip = (c: typeof t): object => ({ ...c, name: '', model: { ...c.model, precision: '', quantizeActivations: false } });
      assert.deepEqual(strip(f), strip(t));
    });
  }
});
