// ternlm report: plots of training runs (loss, bits per byte, throughput, learning rate, the
// ternary weight mix), several runs overlaid, as a self-contained HTML page, an SVG or a PNG.
import { integerFlag, parseFlags } from './args.js';
import { RUN_REPORT_FILES, writeReport } from '../report/report.js';

const HELP = `usage: ternlm report <run dir> [<run dir> ...] [--out report.html|.svg|.png] [--width px]

Draws the training runs in the given folders (each the --out of ternlm train) into one report,
every run in its own colour: train and validation loss (nats/token) by step and by training
time, validation bits per byte, throughput (tokens/s), learning rate, and for ternary models
the share of weights at -1, 0 and +1. A float twin simply has no weight-mix lines. Runs are
named by their folders (with parent folders where two have the same name).

  --out    the file to write; its extension picks the format (default report.html in the
           current folder):
             .html  a self-contained page: a summary table per run (steps, tokens seen,
                    training time, last train loss, best validation loss and bits per byte)
                    and the charts as inline SVG; no scripts, opens offline
             .svg   the charts alone
             .png   the charts as an image, drawn with the DejaVu Sans font shipped with
                    ternlm (the same pixels on every machine)
  --width  width of a PNG in pixels (default twice the chart's width); the height follows

A run being trained can be reported at any time. ternlm train itself leaves
${RUN_REPORT_FILES.html} and ${RUN_REPORT_FILES.png} in its run folder when it ends or is stopped.

example: ternlm report runs/ts/ternary runs/ts/float --out report.png`;

export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags('report', args, {
    out: { type: 'string', default: 'report.html' }, width: { type: 'string' }, help: { type: 'boolean', default: false },
  }, true);
  if (values.help) {
    console.log(HELP);
    return;
  }
  const pngWidth = integerFlag(values, 'width', { min: 100, max: 16_384 });
  const runs = await writeReport(positionals, values.out, { pngWidth });
  console.error(`report: ${values.out} (${runs.map((r) => r.name).join(', ')})`);
}
