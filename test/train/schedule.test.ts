import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { learningRateAt, scheduleMultiplier, warmupCosine, wsd } from '../../src/train/schedule.js';

const near = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} vs ${b}`);

describe('learning-rate schedules', () => {
  it('warmup ramps linearly from 1/warmup to 1', () => {
    near(warmupCosine(0, 1000, { warmupSteps: 10 }), 0.1, 'step 0');
    near(warmupCosine(4, 1000, { warmupSteps: 10 }), 0.5, 'step 4');
    near(warmupCosine(9, 1000, { warmupSteps: 10 }), 1, 'step 9');
    near(wsd(4, 1000, { warmupSteps: 10 }), 0.5, 'wsd step 4');
    near(scheduleMultiplier({ kind: 'constant', warmupSteps: 4 }, 1, 100), 0.5, 'constant step 1');
    near(scheduleMultiplier({ kind: 'constant' }, 50, 100), 1, 'constant');
  });

  it('cosine falls from 1 through the midpoint to minRatio at the end', () => {
    const o = { warmupSteps: 100, minRatio: 0.1 };
    near(warmupCosine(100, 1100, o), 1, 'after warmup');
    near(warmupCosine(600, 1100, o), 0.55, 'midpoint');
    near(warmupCosine(1100, 1100, o), 0.1, 'end');
    near(warmupCosine(5000, 1100, o), 0.1, 'past the end');
    let prev = Infinity;
    for (let s = 100; s <= 1100; s += 7) {
      const m = warmupCosine(s, 1100, o);
      assert.ok(m <= prev && m >= 0.1, `not decreasing at ${s}`);
      prev = m;
    }
  });

  it('WSD holds 1 until the decay window, then decays to minRatio', () => {
    const o = { warmupSteps: 10, decayFraction: 0.2, minRatio: 0.05 };
    near(wsd(10, 1000, o), 1, 'stable start');
    near(wsd(799, 1000, o), 1, 'stable end');
    near(wsd(800, 1000, o), 1, 'decay start');
    near(wsd(900, 1000, o), 0.05 + 0.95 * 0.5, 'linear midpoint');
    near(wsd(1000, 1000, o), 0.05, 'end');
    near(wsd(900, 1000, { ...o, decayShape: 'sqrt' }), 0.05 + 0.95 * (1 - Math.sqrt(0.5)), 'sqrt midpoint');
    near(wsd(900, 1000, { ...o, decayShape: 'cosine' }), 0.05 + 0.95 * 0.5, 'cosine midpoint');
    near(wsd(950, 1000, { ...o, decayShape: 'cosine' }), 0.05 + 0.95 * 0.5 * (1 + Math.cos(Math.PI * 0.75)), 'cosine 3/4');
    near(wsd(999, 1000, { decayFraction: 0 }), 1, 'no decay');
  });

  it('scales the peak lr and rejects nonsense', () => {
    near(learningRateAt({ kind: 'cosine', minRatio: 0 }, 3e-3, 50, 100), 1.5e-3, 'cosine midpoint lr');
    near(learningRateAt({ kind: 'wsd', decayFraction: 0.5 }, 2, 75, 100), 1, 'wsd midpoint lr');
    assert.throws(() => wsd(1, 100, { decayFraction: 1.5 }), /decayFraction/);
    assert.throws(() => warmupCosine(-1, 100), /step >= 0/);
    assert.throws(() => warmupCosine(1, 0), /total > 0/);
  });
});
