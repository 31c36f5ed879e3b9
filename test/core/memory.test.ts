// The arena does not leak across training steps: memory in use is flat over 1,000 steps.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { backward, zeroGrad } from '../../src/core/autograd.js';
import * as K from '../../src/core/kernels.js';
import { Rng } from '../../src/core/rng.js';
import { initRuntime, rt } from '../../src/core/runtime.js';
import { Tensor, scope } from '../../src/core/tensor.js';
import { FLASHLM_DEFAULTS, FlashLM } from '../../src/models/flashlm.js';

describe('memory', () => {
  before(async () => {
    await initRuntime({ threads: 2 });
  });

  it('stays flat over 1,000 training steps of a small ternary FlashLM', () => {
    const model = new FlashLM({ ...FLASHLM_DEFAULTS, vocabSize: 50, dim: 32, layers: 2, recurrence: 2, dilations: [1, 4], contextLength: 16 }, new Rng(1));
    const params = model.parameters();
    const m = params.map((p) => Tensor.zeros(p.shape));
    const v = params.map((p) => Tensor.zeros(p.shape));
    const rng = new Rng(2);
    const ids = Tensor.from(Array.from({ length: 2 * 16 }, () => rng.int(50)), [2, 16], 'i32');
    const targets = Tensor.from(Array.from({ length: 2 * 16 }, () => rng.int(50)), [32], 'i32');
    const step = (s: number): number => {
      const loss = scope(() => {
        const l = model.loss(ids, targets);
        backward(l);
        return l.item();
      });
      params.forEach((p, i) => {
        if (p.grad && p.gradValid) K.adamwUpdate(p.ptr, p.grad.ptr, m[i].ptr, v[i].ptr, p.size, { lr: 1e-3, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, step: s });
      });
      zeroGrad(params);
      return loss;
    };
    const first = step(1);
    const after1 = rt().heap.stats();
    let last = first;
    for (let s = 2; s <= 1000; s++) last = step(s);
    const after1000 = rt().heap.stats();
    assert.equal(after1000.inUse, after1.inUse, 'bytes in use after step 1 and step 1,000');
    assert.equal(after1000.memoryBytes, after1.memoryBytes, 'the wasm memory did not grow');
    assert.ok(last < first, `the loss fell on a fixed batch (${first} -> ${last})`);
  });
});
