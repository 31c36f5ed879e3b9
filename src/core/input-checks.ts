// Checking what users type: how far a misspelt name is from the known ones, and number ranges
// with the words that describe them. Shared by the CLI's flags and the config schema.

/**
 * Edit distance: the fewest single-character insertions, deletions, substitutions and swaps of
 * two neighbours ('stpes' is one swap from 'steps').
 */
export function editDistance(a: string, b: string): number {
  // d[i][j]: distance between the first i characters of a and the first j of b.
  const d = Array.from({ length: a.length + 1 }, (_, i) => Array.from({ length: b.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.length][b.length];
}

/**
 * The candidate nearest to a misspelt `name` (ignoring case), or undefined when none is close:
 * a third of the name's letters may differ, at least one.
 */
export function closestName(name: string, candidates: Iterable<string>): string | undefined {
  const limit = Math.max(1, Math.floor(name.length / 3));
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    const d = editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** A range of numbers, as the flag readers and the config schema check them. */
export interface NumberRange {
  min: number;
  max?: number;
  /** The value must be greater than min, not equal to it. */
  aboveMin?: boolean;
  /** The value must be less than max, not equal to it. */
  belowMax?: boolean;
}

export function inRange(v: number, r: NumberRange): boolean {
  return (r.aboveMin ? v > r.min : v >= r.min) && (r.max === undefined || (r.belowMax ? v < r.max : v <= r.max));
}

/** "an integer from 1 to 64", "a number greater than 0 and at most 1", "an integer of at least 1". */
export function describeRange(r: NumberRange, integer: boolean): string {
  const kind = integer ? 'an integer' : 'a number';
  const low = `${r.aboveMin ? 'greater than' : 'of at least'} ${r.min}`;
  if (r.max === undefined) return `${kind} ${low}`;
  if (!r.aboveMin && !r.belowMax) return `${kind} from ${r.min} to ${r.max}`;
  return `${kind} ${low} and ${r.belowMax ? 'less than' : 'at most'} ${r.max}`;
}
