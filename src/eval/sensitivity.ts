// Sensitivity of a float model to ternarization (`ternlm sensitivity`, docs/ternarize.md): one
// loaded model, whose projections are switched between their own precision and ternary a group
// at a time (BitLinear.setPrecision; the weights are never touched, so switching back gives the
// float forward pass again, bit for bit), and scored after each switch. Then a hybrid: every
// projection ternary but the most sensitive groups, kept at int8 (or fp32), added greedily in
// the order of the ranking and measured after each, until the bits per byte are within a target
// of the float model's or the next group would not fit a size budget.
import type { BitLinear, Precision } from '../nn/layers.js';
import { projectionKind, type PrecisionOverrides } from '../models/precision.js';

/** How projections are grouped: by block (`blocks.3.*`), by kind across blocks (`blocks.*.attn.q`), or one by one. */
export type Grouping = 'layer' | 'kind' | 'projection';
export const GROUPINGS: readonly Grouping[] = ['layer', 'kind', 'projection'];

/** Ternary weights as `ternlm export` stores them: 2 bits each, or 5 trits a byte (base-3, 1.6 bits). */
export type Packing = '2bit' | 'base3';

export interface Projection {
  name: string;
  layer: BitLinear;
}

/** Projections switched together, named by the precisionOverrides pattern that selects exactly them. */
export interface ProjectionGroup {
  pattern: string;
  projections: Projection[];
  /** Weights in the group's projections. */
  parameters: number;
}

/** The groups of a model's projections, in the model's order. Projections outside `blocks.<i>.` are each a layer of their own. */
export function projectionGroups(projections: readonly Projection[], by: Grouping): ProjectionGroup[] {
  const patternOf = (name: string): string => {
    if (by === 'projection') return name;
    if (by === 'kind') return projectionKind(name);
    const block = /^blocks\.\d+\./.exec(name);
    return block ? `${block[0]}*` : name;
  };
  const groups = new Map<string, Projection[]>();
  for (const p of projections) groups.set(patternOf(p.name), [...(groups.get(patternOf(p.name)) ?? []), p]);
  return [...groups].map(([pattern, members]) => ({ pattern, projections: members, parameters: members.reduce((n, p) => n + p.layer.weight.size, 0) }));
}

/** Bits a weight takes at a precision: ternary 2 (2-bit packing) or 1.6 (base-3), int8 8, fp32 32. Scales are not counted. */
export function bitsPerWeight(precision: Precision, packing: Packing): number {
  if (precision === 'ternary') return packing === '2bit' ? 2 : 1.6;
  return precision === 'int8' ? 8 : 32;
}

/** The bits of a set of projections' weights at their current precisions. */
export function projectionBits(projections: readonly Projection[], packing: Packing): number {
  return projections.reduce((bits, p) => bits + p.layer.weight.size * bitsPerWeight(p.layer.opts.precision, packing), 0);
}

/** A group's rank: bits per byte with the group ternary, and the increase over the float model. */
export interface GroupSensitivity {
  pattern: string;
  projections: number;
  parameters: number;
  bpb: number;
  increase: number;
}

/** A measured precision assignment: its bits per byte and its projections' bits. */
export interface Measured {
  bpb: number;
  bits: number;
}

export interface SensitivityOptions {
  by: Grouping;
  /** The precision of the groups the hybrid keeps out of ternary. */
  keep: 'int8' | 'fp32';
  /** The hybrid stops adding groups once its bits per byte are at most this much above the float model's. */
  maxIncrease: number;
  /** The hybrid adds no group that would take the projections above this many bits per weight (no limit: Infinity). */
  budgetBits: number;
  packing: Packing;
  /** Each measurement as it is made (the run takes a while). */
  onMeasured?: (what: string, bpb: number) => void;
}

export interface SensitivityReport {
  float: Measured;
  /** Every group, most sensitive (largest increase) first. */
  ranked: GroupSensitivity[];
  allTernary: Measured;
  /** The hybrid: the kept groups' patterns, in the order they were added, and its measured figures. */
  hybrid: Measured & { kept: string[]; withinTarget: boolean };
  /** The hybrid as precisionOverrides: every projection ternary, then each kept group at `keep`. */
  overrides: PrecisionOverrides;
  /** Weights in all projections. */
  parameters: number;
}

/**
 * Rank the groups of `projections` by the bits per byte that ternarizing each alone costs, and
 * propose a hybrid (see the top of the file). `score` measures the model as its projections are
 * now. Every projection is back at its own precision when this returns, or throws.
 */
export function measureSensitivity(projections: readonly Projection[], score: () => number, opts: SensitivityOptions): SensitivityReport {
  const own = new Map(projections.map((p) => [p.layer, p.layer.opts.precision]));
  const set = (ps: readonly Projection[], precision: Precision | 'own'): void => {
    for (const p of ps) p.layer.setPrecision(precision === 'own' ? own.get(p.layer)! : precision);
  };
  const measure = (what: string): Measured => {
    const bpb = score();
    opts.onMeasured?.(what, bpb);
    return { bpb, bits: projectionBits(projections, opts.packing) };
  };
  const parameters = projections.reduce((n, p) => n + p.layer.weight.size, 0);
  try {
    const float = measure('float');
    const groups = projectionGroups(projections, opts.by);
    const ranked = groups.map((g): GroupSensitivity => {
      set(g.projections, 'ternary');
      const { bpb } = measure(`${g.pattern} ternary`);
      set(g.projections, 'own');
      return { pattern: g.pattern, projections: g.projections.length, parameters: g.parameters, bpb, increase: bpb - float.bpb };
    }).sort((a, b) => b.increase - a.increase);

    set(projections, 'ternary');
    const allTernary = measure('all ternary');
    let hybrid = allTernary;
    const kept: string[] = [];
    const within = (m: Measured): boolean => m.bpb - float.bpb <= opts.maxIncrease;
    for (const { pattern } of ranked) {
      if (within(hybrid)) break;
      const group = groups.find((g) => g.pattern === pattern)!;
      const bits = hybrid.bits + group.parameters * (bitsPerWeight(opts.keep, opts.packing) - bitsPerWeight('ternary', opts.packing));
      if (bits / parameters > opts.budgetBits) continue;
      set(group.projections, opts.keep);
      kept.push(pattern);
      hybrid = measure(`hybrid, ${kept.length} kept ${opts.keep}`);
    }
    const overrides: PrecisionOverrides = { '*': 'ternary', ...Object.fromEntries(kept.map((pattern) => [pattern, opts.keep])) };
    return { float, ranked, allTernary, hybrid: { ...hybrid, kept, withinTarget: within(hybrid) }, overrides, parameters };
  } finally {
    set(projections, 'own');
  }
}
