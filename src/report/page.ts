// The report as one self-contained HTML page: a summary table per run and the charts as inline
// SVG. No scripts, no style sheets or fonts from elsewhere: it opens offline, from any folder.
import type { Run } from './runs.js';

export interface RunSummary {
  name: string;
  dir: string;
  config: string | null;
  precision: string | null;
  steps: number;
  tokens: number | null;
  /** Seconds of training (evaluation excluded). */
  seconds: number | null;
  lastTrainLoss: number | null;
  bestValLoss: { loss: number; step: number } | null;
  bestBpb: { bpb: number; step: number } | null;
}

function best<T extends { step: number }>(points: readonly T[], value: (p: T) => number | null): { value: number; step: number } | null {
  let out: { value: number; step: number } | null = null;
  for (const p of points) {
    const v = value(p);
    if (v !== null && (out === null || v < out.value)) out = { value: v, step: p.step };
  }
  return out;
}

/** Where a run got to and the best it scored. */
export function summarize(run: Run): RunSummary {
  const last = run.train[run.train.length - 1];
  const lastEval = run.evals.length > 0 ? run.evals[run.evals.length - 1] : null;
  // The final evaluation can come after the last train line (same step, later tokens count).
  const latest = lastEval && lastEval.step > last.step ? lastEval : last;
  const val = best(run.evals, (p) => p.loss);
  const bpb = best(run.evals, (p) => p.bpb);
  return {
    name: run.name, dir: run.dir, config: run.config, precision: run.precision,
    steps: latest.step, tokens: latest.tokens ?? last.tokens, seconds: latest.elapsed ?? last.elapsed,
    lastTrainLoss: last.loss,
    bestValLoss: val && { loss: val.value, step: val.step },
    bestBpb: bpb && { bpb: bpb.value, step: bpb.step },
  };
}

/** 754 -> "12 min 34 s", 4000 -> "1 h 06 min", 42.5 -> "42.5 s". */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const s = Math.round(seconds);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
const fixed = (v: number | null | undefined, digits: number): string => (v === null || v === undefined ? '–' : v.toFixed(digits));

function summaryTable(summaries: readonly RunSummary[]): string {
  const head = ['run', 'config', 'precision', 'steps', 'tokens seen', 'training time', 'last train loss', 'best val loss', 'best bits per byte'];
  const rows = summaries.map((s) => [
    `<th scope="row" title="${escapeHtml(s.dir)}">${escapeHtml(s.name)}</th>`,
    `<td>${escapeHtml(s.config ?? '–')}</td>`,
    `<td>${escapeHtml(s.precision ?? '–')}</td>`,
    `<td class="n">${s.steps.toLocaleString('en-US')}</td>`,
    `<td class="n">${s.tokens === null ? '–' : s.tokens.toLocaleString('en-US')}</td>`,
    `<td class="n">${s.seconds === null ? '–' : formatDuration(s.seconds)}</td>`,
    `<td class="n">${fixed(s.lastTrainLoss, 4)}</td>`,
    `<td class="n">${s.bestValLoss ? `${fixed(s.bestValLoss.loss, 4)} <small>(step ${s.bestValLoss.step.toLocaleString('en-US')})</small>` : '–'}</td>`,
    `<td class="n">${s.bestBpb ? `${fixed(s.bestBpb.bpb, 4)} <small>(step ${s.bestBpb.step.toLocaleString('en-US')})</small>` : '–'}</td>`,
  ].join(''));
  return `<table>\n<thead><tr>${head.map((h) => `<th scope="col">${h}</th>`).join('')}</tr></thead>\n<tbody>\n${rows.map((r) => `<tr>${r}</tr>`).join('\n')}\n</tbody>\n</table>`;
}

const STYLE = `body{font-family:"DejaVu Sans",Verdana,sans-serif;margin:24px;color:#222;background:#fff}
h1{font-size:20px;margin:0 0 12px}
table{border-collapse:collapse;margin:0 0 20px;font-size:13px}
th,td{border-bottom:1px solid #ddd;padding:5px 10px;text-align:left;white-space:nowrap}
thead th{border-bottom:2px solid #888}
td.n{text-align:right;font-variant-numeric:tabular-nums}
small{color:#777}
p.note{font-size:12px;color:#666;max-width:60em}
figure{margin:0}
svg{max-width:100%;height:auto}`;

/** The HTML page: title, summary table, the charts' SVG inline, and what the numbers mean. */
export function reportHtml(runs: readonly Run[], svg: string): string {
  const names = runs.map((r) => r.name).join(', ');
  const body = svg.replace(/^<\?xml[^>]*>\s*/, '');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ternlm report: ${escapeHtml(names)}</title>
<style>
${STYLE}
</style>
</head>
<body>
<h1>ternlm report: ${escapeHtml(names)}</h1>
${summaryTable(runs.map(summarize))}
<figure>
${body}
</figure>
<p class="note">Loss is the mean cross-entropy in nats per token (train: averaged over the steps since the previous log line; validation: on the run's validation split). Bits per byte are the validation loss per UTF-8 byte of text, comparable across tokenizers. Training time leaves out evaluation. The ternary weight mix is the share of weights at −1, 0 and +1 over all ternary layers, weighted by each layer's size (a plain mean over layers for logs that do not give sizes). Folders: ${runs.map((r) => escapeHtml(r.dir)).join(', ')}.</p>
</body>
</html>
`;
}
