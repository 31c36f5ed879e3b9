// ternlm bench train: training tokens/s and model FLOP utilisation on 1 and all threads.
import { parseArgs } from 'node:util';
import { backward, startSectionTiming, takeSectionTimes, timed, zeroGrad } from '../src/core/autograd.js';
import * as K from '../src/core/kernels.js';
import { Rng } from '../src/core/rng.js';
import { initRuntime, rt } from '../src/core/runtime.js';
import { Tensor, scope } from '../src/core/tensor.js';
import { ffnHidden } from '../src/models/bitnet.js';
import { gluHidden } from '../src/models/flashlm.js';
import { ffnHidden as mmfreeFfnHidden } from '../src/models/mmfree.js';
import { mlpShapes } from '../src/models/flashlm-mlp.js';
import { ffnHidden as mofFfnHidden, gruWidth } from '../src/models/mof.js';
import { createModel, modelPrecision, withVocabulary, type ModelConfig } from '../src/models/index.js';
import { resolveConfigPath } from '../src/cli/train.js';
import { loadTrainConfig, parseOverrides, withOverrides } from '../src/train/config.js';
import { clipGradNorm } from '../src/train/optim.js';
import { createOptimizer } from '../src/train/setup.js';
import { formatPer1k, perToken, UsageMeter } from './energy.js';
import { bestOf, bestOfRuns, fmt } from './util.js';

const HELP = `usage: ternlm bench train [--config <json|name>] [--vocab V] [--head softmax|hierarchical|adaptive]
                          [--batch B] [--seq-len T] [--steps N] [--threads N] [--set k=v] [--json]

Times training steps (forward with the config's dropout, backward, clipping, optimizer) of the config's model on random
tokens, best of --steps (default 5) after two warm-up steps, on 1 thread and on all threads.
Model FLOPs count 6 per weight per token (forward 2, backward 4) over every product: mixers
and GLUs times the recurrence (FlashLM), attention projections, attention scores and sums
(T/2 positions on average) and feed-forwards (GPT-2, BitNet), plus the head's (V*d for the full softmax; d times the mean code
length for the hierarchical head; the head cluster plus each tail's share for the adaptive
head, under the same Zipf-like token frequencies the benchmark draws). MFU = achieved model FLOP/s divided by the f32
GEMM FLOP/s of the model's own feed-forward product shape, measured in the same run on the same
threads. Also prints the share of step time per component (embedding, mixer, glu, attention, mlp,
ffn, head, optimizer), and the cost per token of the timed steps: CPU-seconds of this process
(all threads), and joules of the CPU packages where Linux's RAPL counters are readable
(docs/energy.md).`;

/** Width of a model's feed-forward hidden layer (the benchmark's reference GEMM shape). */
function feedForwardWidth(c: ModelConfig): number {
  switch (c.family) {
    case 'flashlm': return gluHidden(c);
    case 'gpt2': return 4 * c.dim;
    case 'bitnet': return ffnHidden(c);
    case 'mmfree': return mmfreeFfnHidden(c);
    case 'flashlm-mlp': return c.hidden;
    case 'cpuflow': return c.ffnHidden;
    case 'mof': return mofFfnHidden(c);
  }
}

/** Multiply-accumulates per token of every product of the body in one forward pass over T positions. */
export function bodyMacsPerToken(c: ModelConfig, T: number): number {
  const d = c.dim, h = feedForwardWidth(c);
  switch (c.family) {
    case 'flashlm':
      return c.recurrence * c.layers * (d * d + 3 * d * h + c.kernelSize * d);
    case 'gpt2':
      // qkv, proj, fc, proj; scores and weighted sums over (T + 1) / 2 positions on average
      return c.layers * (4 * d * d + 2 * d * h + d * (T + 1));
    case 'mmfree':
      // f, c, g, o and the GLU; the recurrence is element-wise
      return c.layers * (4 * d * d + 3 * d * h);
    case 'flashlm-mlp':
      // the MLP's layers; the running average is element-wise
      return mlpShapes(c).reduce((n, [i, o]) => n + i * o, 0);
    case 'cpuflow':
      // q, k, v, mix, out and the relu feed-forward; the scan is element-wise
      return c.layers * (3 * d * c.stateDim + c.stateDim * c.stateDim + c.stateDim * d + 2 * d * h);
    case 'mof':
      // GRU expert f, c, o; attention q, k, v, o and the thought projection; the GLU; the router;
      // linear attention's scores and weighted sums over (T + 1) / 2 positions on average
      return c.layers * (3 * d * gruWidth(c) + 5 * d * d + 3 * d * h + 2 * d * c.routerDim + 2 * c.routerDim + d * (T + 1));
    case 'bitnet': {
      const kvDim = (d / c.heads) * c.kvHeads;
      return c.layers * (2 * d * d + 2 * d * kvDim + 3 * d * h + d * (T + 1));
    }
  }
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string', default: 'flashlm-tiny' }, vocab: { type: 'string', default: '4096' }, head: { type: 'string' },
      batch: { type: 'string' }, 'seq-len': { type: 'string' }, steps: { type: 'string', default: '5' }, threads: { type: 'string' },
      set: { type: 'string', multiple: true, default: [] }, json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  let config = loadTrainConfig(resolveConfigPath(values.config!));
  const over = parseOverrides(values.set ?? []) as Record<string, unknown>;
  if (values.head) over.model = { ...(over.model as object), head: { type: values.head, tied: values.head === 'softmax' } };
  config = withOverrides(config, over);
  await initRuntime({ threads: values.threads ? Number(values.threads) : undefined });
  const r = rt();
  const V = Number(values.vocab);
  const B = Number(values.batch ?? config.batchSize);
  const T = Number(values['seq-len'] ?? config.seqLen);
  const mc = withVocabulary(config.model, V);
  const rng = new Rng(1);
  // Zipf-like token frequencies, as real text has (the frequency-based heads depend on them).
  const counts = Array.from({ length: V }, (_, i) => Math.max(1, Math.round(1e7 / (i + 1))));
  const model = createModel(mc, rng, counts);
  const named = model.namedParameters();
  const optimizer = createOptimizer(config, named);
  const params = named.filter((p) => p.tensor.requiresGrad).map((p) => p.tensor);
  // Tokens drawn from the same Zipf-like frequencies (rank r with probability ~ 1/(r+1)).
  const cumulative = new Float64Array(V);
  counts.reduce((s, c, i) => (cumulative[i] = s + c), 0);
  const draw = (): number => {
    const u = rng.next() * cumulative[V - 1];
    let lo = 0, hi = V - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const ids = Tensor.from(Array.from({ length: B * T }, draw), [B, T], 'i32');
  const targets = Tensor.from(Array.from({ length: B * T }, draw), [B * T], 'i32');
  const step = (): void => {
    scope(() => {
      model.setDropoutSeed(7); // the config's dropout, as in training
      const loss = model.loss(ids, targets);
      model.setDropoutSeed(null);
      backward(loss);
    });
    timed('optimizer', () => {
      clipGradNorm(params, 1);
      optimizer.step(1e-4);
    });
    zeroGrad(params);
  };
  const flopsPerStep = 6 * (bodyMacsPerToken(mc, T) + model.head.macsPerToken(counts)) * B * T;
  const M = B * T, Hd = feedForwardWidth(mc);
  const a = Tensor.empty([M, mc.dim]), w = Tensor.empty([Hd, mc.dim]), y = Tensor.empty([M, Hd]);
  K.fill(a.ptr, a.size, 0.5);
  K.fill(w.ptr, w.size, 0.25);
  const threadCounts = r.threads > 1 ? [1, r.threads] : [1];
  const results: Record<string, unknown>[] = [];
  const meter = new UsageMeter();
  const steps = Number(values.steps);
  for (const t of threadCounts) {
    // The timed steps alone are metered, after one warm-up step.
    const { seconds, usage } = r.pool.withThreads(t, () => {
      step();
      const before = meter.reading();
      const seconds = bestOfRuns(steps, step);
      return { seconds, usage: meter.since(before) };
    });
    const cost = perToken(usage, steps * B * T);
    const gemm = r.pool.withThreads(t, () => bestOf(3, () => K.matmul(M, Hd, mc.dim, a.ptr, false, w.ptr, true, y.ptr, false)));
    const gemmFlops = (2 * M * Hd * mc.dim) / gemm;
    startSectionTiming();
    r.pool.withThreads(t, step);
    const times = takeSectionTimes();
    const total = [...times.values()].reduce((s, v) => s + v, 0);
    results.push({
      threads: t,
      tokens_per_second: Math.round((B * T) / seconds),
      step_ms: Number((seconds * 1000).toFixed(1)),
      model_gflops: Number((flopsPerStep / seconds / 1e9).toFixed(2)),
      gemm_gflops: Number((gemmFlops / 1e9).toFixed(1)),
      mfu: Number((flopsPerStep / seconds / gemmFlops).toFixed(3)),
      cpu_seconds_per_token: Number(cost.cpuSecondsPerToken.toPrecision(3)),
      joules_per_token: cost.joulesPerToken === null ? null : Number(cost.joulesPerToken.toPrecision(3)),
      share: Object.fromEntries([...times].map(([k, v]) => [k, Number((v / total).toFixed(3))])),
    });
  }
  const report = {
    config: config.name, family: mc.family, precision: modelPrecision(mc), head: mc.head.type, vocab: V, batch: B, seq_len: T,
    parameters: model.parameterCount(), build: r.build, kernels: r.kernels, energy: meter.describe(), results,
  };
  if (values.json) {
    console.log(JSON.stringify(report));
    return;
  }
  console.log(`ternlm bench train — ${config.name} (${mc.family}, ${modelPrecision(mc)}, ${mc.head.type} head), ${report.parameters.toLocaleString('en-US')} parameters, vocab ${V}, batch ${B} x ${T}, ${r.kernels}`);
  console.log(`  ${meter.headline()}`);
  for (const res of results) {
    const share = Object.entries(res.share as Record<string, number>).map(([k, v]) => `${k} ${fmt(v * 100, 0)}%`).join(', ');
    console.log(`  ${res.threads} thread(s): ${String(res.tokens_per_second).padStart(6)} tok/s, ${res.step_ms} ms/step, model ${res.model_gflops} GFLOP/s, GEMM ${res.gemm_gflops} GFLOP/s, MFU ${fmt((res.mfu as number) * 100)}%`);
    console.log(`    per 1,000 tokens: ${formatPer1k(res.cpu_seconds_per_token as number, res.joules_per_token as number | null)}`);
    console.log(`    time split: ${share}`);
  }
}
