import cliProgress from 'cli-progress';
import { TernlmError } from '../core/errors.js';
import { downloadDataset } from '../data/hub.js';
import { parseFlags } from './args.js';

const HELP = `usage: ternlm download <owner/dataset> [options]

Download files of a Hugging Face hub dataset, resuming interrupted downloads and verifying
each file's checksum before it is renamed into place.

options:
  --split <name>      keep files of this split: a path segment named <name> or starting
                      with <name>- <name>_ <name>. (default train, unless --files is given)
  --files <glob>      keep files whose repository path matches, e.g. 'data/*.parquet'
  --revision <rev>    branch, tag or commit (default main)
  --out <dir>         destination (default data/<dataset>); repository paths are kept
  -h, --help          show this help

environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (for gated/private data)

example: ternlm download roneneldan/TinyStories --files 'TinyStories-valid.txt' --out data/ts`;

export async function run(args: string[]): Promise<void> {
  const { values, positionals } = parseFlags('download', args, {
    split: { type: 'string' },
    files: { type: 'string' },
    revision: { type: 'string', default: 'main' },
    out: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  }, true);
  if (values.help) {
    console.log(HELP);
    return;
  }
  if (positionals.length !== 1) throw new TernlmError('expected one dataset name, e.g. ternlm download roneneldan/TinyStories — see ternlm download --help');
  const repo = positionals[0];
  const outDir = values.out ?? `data/${repo.split('/').pop()}`;
  const split = values.split ?? (values.files ? undefined : 'train');

  const bar = new cliProgress.SingleBar({ stream: process.stderr, format: '{name} |{bar}| {percentage}% | {mb} MB | {speed} MB/s | ETA {eta_formatted}', hideCursor: true }, cliProgress.Presets.shades_classic);
  let done = 0;
  let started = performance.now();
  let total = 0;
  const result = await downloadDataset(repo, {
    split,
    glob: values.files,
    revision: values.revision,
    outDir,
    onFile: (f, i, n) => {
      if (i > 0) bar.stop();
      done = 0;
      total = Math.max(1, f.size);
      started = performance.now();
      bar.start(total, 0, { name: `[${i + 1}/${n}] ${f.path}`, mb: '0.0', speed: '0.0' });
    },
    onBytes: (n) => {
      done += n;
      bar.update(done, { mb: (done / 1e6).toFixed(1), speed: (done / 1e6 / Math.max(1e-3, (performance.now() - started) / 1000)).toFixed(1) });
    },
  }).finally(() => bar.stop());
  const bytes = result.files.reduce((s, f) => s + Math.max(0, f.size), 0);
  console.log(`${outDir}: ${result.files.length} file(s), ${(bytes / 1e6).toFixed(1)} MB (${result.downloaded} downloaded, ${result.skipped} already present)`);
}
