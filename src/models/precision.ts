// Per-projection precision: `model.precisionOverrides` maps name patterns to a precision, so that
// one model mixes ternary, int8 and fp32 projections (a hybrid model, or a float model whose
// chosen projections `ternlm ternarize` turned ternary). `model.precision` stays what every other
// projection has, and each projection takes the precision of the last pattern (in the object's
// order) that matches it.
//
// A pattern names BitLinear projections by their path in the model, e.g. `blocks.0.attn.q`
// (its weight `blocks.0.attn.q.weight` matches too): a glob where `*` is any run of characters,
// dots included, and `?` one character (`blocks.*.attn.*`, `blocks.?.ffn.down`), or a regular
// expression between slashes (`/blocks\.[01]\.ffn\..*/`). Either must match the whole name.
// Embeddings, norms and heads are never projections, so no pattern reaches them.
import { TernlmError } from '../core/errors.js';
import type { BitLinear, Precision } from '../nn/layers.js';

/** Pattern -> precision, applied in order (see above). */
export type PrecisionOverrides = Record<string, Precision>;

/** A pattern as a regular expression over whole names, or null when a /regex/ does not compile. */
export function patternRegExp(pattern: string): RegExp | null {
  if (pattern.length > 2 && pattern.startsWith('/') && pattern.endsWith('/')) {
    try {
      return new RegExp(`^(?:${pattern.slice(1, -1)})$`);
    } catch {
      return null;
    }
  }
  const body = [...pattern].map((ch) => (ch === '*' ? '.*' : ch === '?' ? '.' : ch.replace(/[.+^${}()|[\]\\/]/g, '\\$&'))).join('');
  return new RegExp(`^${body}$`);
}

/** The named projections a pattern selects. */
export function matchingProjections<T extends { name: string }>(projections: readonly T[], pattern: string): T[] {
  const re = patternRegExp(pattern);
  if (!re) throw new TernlmError(`'${pattern}' is not a valid regular expression — write a glob (blocks.*.attn.*) or fix the /regex/`);
  return projections.filter((p) => re.test(p.name) || re.test(`${p.name}.weight`));
}

/** The kind of a projection: its name with each number as `*` (`blocks.3.attn.q` -> `blocks.*.attn.q`), a pattern for that projection in every block. */
export function projectionKind(name: string): string {
  return name.replace(/\.\d+(?=\.|$)/g, '.*');
}

/**
 * The projections of a model in short: each name with its block number as `*`, once, and how
 * many blocks there are (`blocks.*.attn.q, blocks.*.attn.k, ... in 4 blocks`).
 */
export function describeProjections(names: readonly string[]): string {
  const shapes = [...new Set(names.map(projectionKind))];
  const blocks = new Set(names.map((n) => /^blocks\.(\d+)\./.exec(n)?.[1]).filter((b) => b !== undefined));
  return `${shapes.join(', ')}${blocks.size > 0 ? ` (in ${blocks.size} blocks)` : ''}`;
}

/**
 * Give each projection the precision of the last pattern that matches it. A pattern that matches
 * no projection is refused, listing the projections there are (`family` names the model).
 */
export function applyPrecisionOverrides(projections: readonly { name: string; layer: BitLinear }[], overrides: PrecisionOverrides | undefined, family: string): void {
  if (!overrides) return;
  for (const [pattern, precision] of Object.entries(overrides)) {
    if (projections.length === 0) throw new TernlmError(`model.precisionOverrides: a ${family} model has no BitLinear projections to set a precision for`);
    const chosen = matchingProjections(projections, pattern);
    if (chosen.length === 0) {
      throw new TernlmError(`model.precisionOverrides: '${pattern}' matches no projection of this ${family} model — its projections are ${describeProjections(projections.map((p) => p.name))}`);
    }
    for (const { layer } of chosen) layer.setPrecision(precision);
  }
}
