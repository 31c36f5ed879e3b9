// Reports of training runs: `ternlm report` (any runs, one file) and the report a training run
// leaves in its own folder at its end (report.html and report.png). Both read the runs, build one
// Vega-Lite spec, draw it once as SVG and derive every format from that drawing; files are
// written atomically, after everything has been read and drawn, so a refusal writes nothing.
import { dirname, extname, join } from 'node:path';
import { TernlmError } from '../core/errors.js';
import { writeFileAtomic } from '../io/atomic.js';
import { checkFileTarget, describeFsError, ensureDir } from '../io/fs.js';
import { reportHtml } from './page.js';
import { renderSvg, svgSize, svgToPng } from './render.js';
import { readRuns, type Run } from './runs.js';
import { reportSpec } from './specs.js';

export type ReportFormat = 'html' | 'svg' | 'png';

/** The files a training run writes into its folder when it ends or is stopped. */
export const RUN_REPORT_FILES = { html: 'report.html', png: 'report.png' } as const;

/** The format named by a file's extension (.html/.htm, .svg, .png). */
export function reportFormat(path: string): ReportFormat {
  const ext = extname(path).toLowerCase();
  if (ext === '.html' || ext === '.htm') return 'html';
  if (ext === '.svg') return 'svg';
  if (ext === '.png') return 'png';
  const what = ext === '' ? 'has no extension' : `ends in '${ext}'`;
  throw new TernlmError(`--out ${path} ${what}: a report is written as .html, .svg or .png — name a file with one of those`);
}

export interface RenderOptions {
  /** Width of a PNG in pixels (default: twice the drawing's width); the height keeps the aspect ratio. */
  pngWidth?: number;
}

/** The report of `runs` in each of `formats`, from one drawing. */
export async function renderReport<F extends ReportFormat>(runs: readonly Run[], formats: readonly F[], opts: RenderOptions = {}): Promise<Record<F, Uint8Array>> {
  const svg = await renderSvg(reportSpec(runs));
  const out = {} as Record<F, Uint8Array>;
  for (const f of formats) {
    if (f === 'png') out[f] = await svgToPng(svg, opts.pngWidth ?? 2 * svgSize(svg).width);
    else out[f] = new TextEncoder().encode(f === 'svg' ? svg : reportHtml(runs, svg));
  }
  return out;
}

/**
 * `ternlm report`: the report of the runs in `dirs` as one file, its format named by `out`'s
 * extension. Bad input (an unknown extension, a folder that is not a run, a line that is not
 * JSON, an `out` that cannot be written) is refused before anything is written.
 */
export async function writeReport(dirs: readonly string[], out: string, opts: RenderOptions = {}): Promise<Run[]> {
  const format = reportFormat(out);
  checkFileTarget(out);
  const runs = readRuns(dirs);
  const { [format]: bytes } = await renderReport(runs, [format], opts);
  ensureDir(dirname(out));
  writeFileAtomic(out, [bytes]);
  return runs;
}

/**
 * The report a training run leaves in its folder (report.html and report.png). It never throws:
 * a failure to draw is one warning through `msg`, and the run goes on as if nothing happened.
 */
export async function writeRunReport(dir: string, msg: (text: string) => void): Promise<void> {
  try {
    const files = await renderReport(readRuns([dir]), ['html', 'png']);
    for (const f of ['html', 'png'] as const) writeFileAtomic(join(dir, RUN_REPORT_FILES[f]), [files[f]]);
    msg(`report: ${join(dir, RUN_REPORT_FILES.html)} and ${RUN_REPORT_FILES.png}`);
  } catch (err) {
    const reason = err instanceof TernlmError ? err.message : (describeFsError(err) ?? (err instanceof Error ? err.message : String(err)));
    msg(`warning: no report drawn for ${dir} (${reason.replace(/\s*\n\s*/g, ' ')}); the run itself is saved — draw it later with ternlm report ${dir}`);
  }
}
