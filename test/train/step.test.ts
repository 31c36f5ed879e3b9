// A step whose gradient is not finite is skipped: neither the parameters nor the optimizer's
// moments change, and the gradients are cleared for the next step.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { Rng } from '../../src/core/rng.js';
import { initRuntime } from '../../src/core/runtime.js';
import { Tensor } from '../../src/core/tensor.js';
import type { NamedParam } from '../../src/nn/module.js';
import { AdamW } from '../../src/train/optim.js';
import { applyGradients } from '../../src/train/step.js';
import { param, randArray } from '../helpers.js';

function withGrad(name: string, n: number, rng: Rng): NamedParam {
  const t = param(Tensor.from(randArray(n, rng), [n]));
  t.grad = Tensor.from(randArray(n, rng), [n]).keep();
  t.gradValid = true;
  return { name, tensor: t, info: { decay: true, matrix: false } };
}

describe('applyGradients', () => {
  before(async () => {
    await initRuntime({ threads: 1 });
  });

  for (const poison of [NaN, Infinity]) {
    it(`skips a step whose gradient holds ${poison}: parameters and optimizer moments stay as they were`, () => {
      const rng = new Rng(5);
      const params = [withGrad('a', 300, rng), withGrad('b', 70, rng)];
      const opt = new AdamW(params);
      // One good step first, so that the moments are not all zero.
      assert.equal(applyGradients(params.map((p) => p.tensor), opt, 1, 0.01).applied, true);
      for (const p of params) {
        p.tensor.grad!.f32().set(randArray(p.tensor.size, rng));
        p.tensor.gradValid = true;
      }
      params[1].tensor.grad!.f32()[17] = poison;
      const before = [...params.map((p) => p.tensor), ...opt.stateTensors().map((s) => s.tensor)].map((t) => Array.from(t.f32()));
      const r = applyGradients(params.map((p) => p.tensor), opt, 1, 0.01);
      assert.equal(r.applied, false);
      assert.ok(!Number.isFinite(r.gradNorm));
      const after = [...params.map((p) => p.tensor), ...opt.stateTensors().map((s) => s.tensor)].map((t) => Array.from(t.f32()));
      assert.deepEqual(after, before);
      assert.equal(opt.stepCount, 1);
      assert.ok(params.every((p) => !p.tensor.gradValid), 'gradients are cleared');
    });
  }
});
