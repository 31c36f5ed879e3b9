// FlashLM decoding, one token at a time in each of a batch of sequences (one row each, see
// StepEngine). Each conv mixer keeps the last (Kw-1)*dilation + 1 of its inputs in a ring buffer
// of the sequence's state; one token costs one step. Every projection computes what the
// training forward pass computes: ternary layers with 8-bit activations run on the 2-bit packed
// weights (additions and subtractions only); ternary layers with float activations and int8
// layers multiply float activations by their quantized weights, expanded to f32 at load.
//
//   x = embedding[token]
//   recurrence x, per layer:  x += Mix . conv(ring <- rmsnorm(x))
//                             x += Down . (relu²(Gate . rmsnorm(x)) * (Up . rmsnorm(x)))
//   logits = head(rmsnorm(x))
import * as K from '../core/kernels.js';
import { conv1dStep } from '../core/kernels-infer.js';
import type { Tensor } from '../core/tensor.js';
import { gluHidden, type FlashLMConfig } from '../models/flashlm.js';
import { BatchWorkspace, type OutputHead, PackedWeights, type Projection, RMS_NORM_EPS, StepEngine, StepStateBase } from './engine.js';
import type { PackedSource } from './packed-format.js';

interface Block {
  norm1: Tensor;
  convW: Tensor; // (Kw, d)
  convB: Tensor; // (d)
  dilation: number;
  mix: Projection;
  norm2: Tensor;
  gate: Projection;
  up: Projection;
  down: Projection;
}

interface FlashLMWeights {
  embedding: Tensor; // (vocab, d)
  blocks: Block[];
  normOut: Tensor; // (d)
  head: OutputHead;
}

function readWeights(w: PackedWeights<FlashLMConfig>): FlashLMWeights {
  const c = w.config, d = c.dim, hid = gluHidden(c);
  const embedding = w.float('embed.weight');
  const blocks: Block[] = [];
  for (let l = 0; l < c.layers; l++) {
    const p = `blocks.${l}`;
    blocks.push({
      norm1: w.float(`${p}.norm1.weight`), convW: w.float(`${p}.conv.weight`), convB: w.float(`${p}.conv.bias`),
      dilation: c.dilations[l % c.dilations.length], mix: w.projection(`${p}.mix`, d, d), norm2: w.float(`${p}.norm2.weight`),
      gate: w.projection(`${p}.glu.gate`, hid, d), up: w.projection(`${p}.glu.up`, hid, d), down: w.projection(`${p}.glu.down`, d, hid),
    });
  }
  return { embedding, blocks, normOut: w.float('norm_out.weight'), head: w.head(embedding) };
}

/** Rows a conv mixer's window holds: the last (Kw-1)*dilation + 1 inputs. */
function windowRows(c: FlashLMConfig, dilation: number): number {
  return (c.kernelSize - 1) * dilation + 1;
}

/** Per-sequence state: the ring buffers of the conv inputs. */
export class FlashLMState extends StepStateBase {
  /** Per (pass, layer): 2R rows of d; row i is written at i % R and at i % R + R, so the last R rows are contiguous. */
  readonly rings: Tensor[] = [];

  constructor(c: FlashLMConfig, blocks: readonly Block[]) {
    super(c.vocabSize);
    for (let r = 0; r < c.recurrence; r++) {
      for (const block of blocks) this.rings.push(this.buffers.zeros([2 * windowRows(c, block.dilation), c.dim]));
    }
  }

  protected memory(): Tensor[] {
    return this.rings;
  }
}

/**
 * The workspace's buffers, floats a row: the residual stream x, the normed input n of a conv
 * (then of the GLU), the conv's output c, and the GLU's g, u.
 */
function rowWidths(c: FlashLMConfig) {
  const d = c.dim, hid = gluHidden(c);
  return { x: d, n: d, c: d, g: hid, u: hid };
}

export class FlashLMInference extends StepEngine<FlashLMConfig, FlashLMState> {
  readonly family = 'flashlm';
  readonly config: Readonly<Record<string, number | string | boolean>>;
  protected readonly batch: BatchWorkspace<keyof ReturnType<typeof rowWidths>>;
  private readonly w: FlashLMWeights;

  constructor(source: PackedSource) {
    super(PackedWeights.open(source, 'flashlm', 'FlashLM'));
    const c = this.modelConfig;
    this.config = {
      dim: c.dim, layers: c.layers, recurrence: c.recurrence, kernelSize: c.kernelSize, dilations: c.dilations.join(','),
      gluHidden: gluHidden(c), precision: c.precision, quantizeActivations: c.quantizeActivations, head: c.head.type, vocabSize: c.vocabSize,
    };
    this.w = this.weights.build(readWeights);
    this.batch = new BatchWorkspace(rowWidths(c), c.vocabSize, Math.max(c.dim, gluHidden(c)), this.weights.panels);
  }

  newState(): FlashLMState {
    return new FlashLMState(this.modelConfig, this.w.blocks);
  }

  protected advance(states: readonly FlashLMState[]): void {
    const c = this.modelConfig, d = c.dim, hid = gluHidden(c), ws = this.batch, rows = states.length;
    const x = ws.ptr('x'), n = ws.ptr('n'), conv = ws.ptr('c'), g = ws.ptr('g'), u = ws.ptr('u');
    const rmsNorm = (gain: Tensor) => K.rmsNormForward(x, gain.ptr, n, ws.rstd.ptr, rows, d, RMS_NORM_EPS);
    const project = (p: Projection, from: number, to: number, accumulate: boolean) => ws.projector.run(p, from, to, rows, accumulate);
    K.embeddingForward(this.w.embedding.ptr, ws.ids.ptr, x, rows, d);
    let ring = 0;
    for (let r = 0; r < c.recurrence; r++) {
      for (const b of this.w.blocks) {
        const R = windowRows(c, b.dilation);
        rmsNorm(b.norm1);
        // Each row's newest input goes to rows slot and slot + R of its ring: rows slot+1 .. slot+R are its window.
        states.forEach((s, i) => {
          const buf = s.rings[ring].ptr, slot = s.pos % R;
          K.copyRows(n + i * d * 4, 0, 0, buf + slot * d * 4, 0, R * d, 1, 2, d, false);
          conv1dStep(buf + (slot + 1) * d * 4, b.convW.ptr, b.convB.ptr, conv + i * d * 4, d, c.kernelSize, b.dilation);
        });
        ring++;
        project(b.mix, conv, x, true);
        rmsNorm(b.norm2);
        project(b.gate, n, g, false);
        project(b.up, n, u, false);
        K.unaryForward('relu2', g, g, rows * hid);
        K.binaryForward('mul', g, u, rows * hid, g, rows * hid);
        project(b.down, g, x, true);
      }
    }
  }

  protected classify(rows: number): void {
    const ws = this.batch;
    K.rmsNormForward(ws.ptr('x'), this.w.normOut.ptr, ws.ptr('n'), ws.rstd.ptr, rows, this.modelConfig.dim, RMS_NORM_EPS);
    this.w.head.logits(ws.view('n', rows), ws.logits(rows));
  }
}
