// The report's charts as one Vega-Lite spec: six panels in a grid (loss and bits per byte by
// step, loss by training time, throughput, learning rate, ternary weight mix), every run
// overlaid in its own colour, one legend of run names for the whole grid.
import type { TopLevelSpec } from 'vega-lite';
import type { Run } from './runs.js';

/** Points drawn per run and series at most; longer logs are thinned evenly (the last point kept). */
const MAX_POINTS = 1500;
const PANEL_WIDTH = 440;
const PANEL_HEIGHT = 230;
/** The fonts the SVG names: the PNG renderer has DejaVu Sans (shipped as a package); a browser without it falls back. */
const REPORT_FONT = '"DejaVu Sans", Verdana, sans-serif';

/** Every k-th point so that at most `max` remain, keeping the first and the last. */
export function thin<T>(points: readonly T[], max = MAX_POINTS): T[] {
  if (points.length <= max) return [...points];
  const stride = (points.length - 1) / (max - 1);
  return Array.from({ length: max }, (_, i) => points[Math.round(i * stride)]);
}

/** The value below which a share `q` of the sorted values lies. */
function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * (sorted.length - 1) + 0.5))];
}

/**
 * The loss axis: from the lowest loss to the `top` quantile (the 95th percentile), so that the
 * first steps (far above the rest) do not flatten the part of the curves worth reading; lines
 * above it are clipped.
 */
function lossDomain(losses: readonly number[], top: number): [number, number] | undefined {
  if (losses.length === 0) return undefined;
  const sorted = [...losses].sort((a, b) => a - b);
  const lo = sorted[0], hi = Math.max(quantile(sorted, top), lo + 1e-3);
  const pad = (hi - lo) * 0.04;
  return [lo - pad, hi + pad];
}

/** Seconds -> the unit that keeps the time axis readable. */
function timeUnit(maxSeconds: number): { name: string; seconds: number } {
  if (maxSeconds < 120) return { name: 'seconds', seconds: 1 };
  if (maxSeconds < 3 * 3600) return { name: 'minutes', seconds: 60 };
  return { name: 'hours', seconds: 3600 };
}

type Row = Record<string, string | number | null>;

/** The long-form tables the panels read, one row per run and point. */
function tables(runs: readonly Run[]): { loss: Row[]; train: Row[]; evals: Row[]; mix: Row[]; timeUnit: string } {
  const maxElapsed = Math.max(0, ...runs.flatMap((r) => [...r.train, ...r.evals].map((p) => p.elapsed ?? 0)));
  const unit = timeUnit(maxElapsed);
  const time = (s: number | null): number | null => (s === null ? null : s / unit.seconds);
  const loss: Row[] = [], train: Row[] = [], evals: Row[] = [], mix: Row[] = [];
  for (const r of runs) {
    for (const p of thin(r.train)) {
      train.push({ run: r.name, step: p.step, lr: p.lr, tps: p.tokensPerSecond });
      loss.push({ run: r.name, curve: 'train', step: p.step, time: time(p.elapsed), loss: p.loss });
    }
    for (const p of thin(r.evals)) {
      evals.push({ run: r.name, step: p.step, bpb: p.bpb });
      loss.push({ run: r.name, curve: 'validation', step: p.step, time: time(p.elapsed), loss: p.loss });
      if (p.mix) {
        for (const [weight, share] of [['−1', p.mix.neg], ['0', p.mix.zero], ['+1', p.mix.pos]] as const) {
          mix.push({ run: r.name, weight, step: p.step, share: share * 100 });
        }
      }
    }
  }
  return { loss, train, evals, mix, timeUnit: unit.name };
}

/** The Vega-Lite spec of the report's charts for these runs (in this order: colours follow it). */
export function reportSpec(runs: readonly Run[]): TopLevelSpec {
  const t = tables(runs);
  const names = runs.map((r) => r.name);
  const colour = {
    field: 'run', type: 'nominal', title: 'run',
    scale: { domain: names, scheme: 'tableau10' },
    legend: { orient: 'top', direction: 'horizontal', labelLimit: 0, symbolType: 'stroke', symbolStrokeWidth: 3, symbolSize: 400, columns: Math.min(names.length, 4) },
  };
  const step = { field: 'step', type: 'quantitative', title: 'steps', scale: { zero: true }, axis: { format: ',d', tickMinStep: 1 } };
  const losses = t.loss.map((r) => r.loss).filter((v): v is number => typeof v === 'number');
  /** A legend of line styles, above its panel. */
  const dashLegend = { orient: 'top', direction: 'horizontal', symbolType: 'stroke', symbolStrokeColor: '#444', symbolStrokeWidth: 2, symbolSize: 400, labelLimit: 0 };
  const curveDash = { field: 'curve', type: 'nominal', title: 'loss', scale: { domain: ['train', 'validation'], range: [[1, 0], [6, 3]] }, legend: dashLegend };
  // Runs with few log lines (short or stopped early) get a mark at each point, so that a single
  // line still shows, and the whole loss range (no clipping, marks sit on the plot's edges too).
  // Marks are a layer of their own: the line-style legends stay lines.
  const sparse = runs.every((r) => r.train.length <= 20);
  const line = (dash?: object) => ({ mark: { type: 'line', clip: true, strokeWidth: 1.6 }, encoding: dash ? { strokeDash: dash } : {} });
  const marks = (filter?: string) => ({ ...(filter ? { transform: [{ filter }] } : {}), mark: { type: 'point', filled: true, size: 20, clip: !sparse, opacity: 1 } });
  /** A panel of lines, one per run (and per `dash` style), with a mark at each point where `withMarks`. */
  const panel = (title: string, data: string, x: object, y: object, o: { dash?: object; withMarks?: boolean; markFilter?: string } = {}) => ({
    title, data: { name: data },
    encoding: { x, y, color: colour },
    layer: [line(o.dash), ...(o.withMarks || sparse ? [marks(sparse ? undefined : o.markFilter)] : [])],
  });
  const lossY = { field: 'loss', type: 'quantitative', title: 'loss (nats/token)', scale: { zero: false, nice: false, domain: lossDomain(losses, sparse ? 1 : 0.95) } };
  /** Train loss as a line, validation loss as a dashed line with marks, against `x`. */
  const lossPanel = (title: string, x: object) => panel(title, 'loss', x, lossY, { dash: curveDash, withMarks: true, markFilter: "datum.curve === 'validation'" });

  const panels: object[] = [
    lossPanel('Loss by step', step),
    lossPanel('Loss by training time', { field: 'time', type: 'quantitative', title: `training time (${t.timeUnit})`, scale: { zero: true } }),
  ];
  if (t.evals.some((r) => r.bpb !== null)) {
    panels.push(panel('Validation bits per byte', 'evals', step, { field: 'bpb', type: 'quantitative', title: 'validation loss (bits/byte)', scale: { zero: false } }, { withMarks: true }));
  }
  panels.push(
    panel('Throughput', 'train', step, { field: 'tps', type: 'quantitative', title: 'throughput (tokens/s)', axis: { format: ',d' } }),
    panel('Learning rate', 'train', step, { field: 'lr', type: 'quantitative', title: 'learning rate', axis: { format: '~g' } }),
  );
  if (t.mix.length > 0) {
    const weightDash = { field: 'weight', type: 'nominal', title: 'weight', scale: { domain: ['−1', '0', '+1'], range: [[6, 3], [1, 0], [2, 2]] }, legend: dashLegend };
    panels.push(panel('Ternary weights: share of −1, 0, +1', 'mix', step,
      { field: 'share', type: 'quantitative', title: 'share of ternary weights (%)', scale: { zero: false } }, { dash: weightDash }));
  }

  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: names.join(', ').length <= 80 ? `Training runs: ${names.join(', ')}` : `Training runs (${names.length})`, anchor: 'start', fontSize: 15 },
    datasets: { loss: t.loss, train: t.train, evals: t.evals, mix: t.mix },
    columns: 2,
    concat: panels.map((p) => ({ width: PANEL_WIDTH, height: PANEL_HEIGHT, ...p })),
    resolve: { scale: { color: 'shared', strokeDash: 'independent' }, legend: { strokeDash: 'independent' } },
    padding: 12,
    background: 'white',
    config: {
      font: REPORT_FONT,
      title: { fontSize: 13, anchor: 'start', offset: 8, frame: 'group' },
      axis: { titleFontSize: 12, labelFontSize: 11, titleFontWeight: 'normal', grid: true, gridColor: '#e6e6e6' },
      legend: { titleFontSize: 12, labelFontSize: 12, titleFontWeight: 'normal' },
      concat: { spacing: 28 },
      view: { stroke: '#ccc' },
    },
  } as unknown as TopLevelSpec; // built from plain objects: vega-lite's own types for parts of a spec are not exported
}
