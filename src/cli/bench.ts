import { TernlmError } from '../core/errors.js';
import { flagError } from './args.js';

const SUITES: Record<string, string> = {
  kernels: 'GFLOP/s of the f32 GEMM and ternary matmul kernels on 1 and all threads',
  data: 'GPT-2 tokenization and prepare throughput',
  train: 'training tokens/s and model FLOP utilisation',
  generate: 'time to first token and tokens/s of generation',
  eval: 'minimal pairs scored per second (67,000 pairs, a ~4M model)',
  serve: 'concurrent streaming clients against ternlm serve: tokens/s and time to first token',
  page: 'the training page in headless Chromium against the same training in Node (wasm, native)',
};

const HELP = `usage: ternlm bench <suite> [options]

suites:
${Object.entries(SUITES).map(([k, v]) => `  ${k.padEnd(9)} ${v}`).join('\n')}

Run \`ternlm bench <suite> --help\` for a suite's options. Every suite prints a table, or one
JSON object with --json.`;

export async function run(args: string[]): Promise<void> {
  const [suite, ...rest] = args;
  if (!suite || suite === '--help' || suite === '-h') {
    console.log(HELP);
    return;
  }
  if (!SUITES[suite]) throw new TernlmError(`unknown benchmark suite '${suite}' (one of: ${Object.keys(SUITES).join(', ')})`);
  let mod: { run(args: string[]): Promise<void> };
  try {
    mod = await import(`../../bench/${suite}.js`);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND') throw new TernlmError(`benchmark suite '${suite}' is not built into this version`);
    throw err;
  }
  try {
    await mod.run(rest);
  } catch (err) {
    // The suites (bench/*.ts) parse their own flags; their parseArgs errors still get one line.
    throw flagError(err, `bench ${suite}`);
  }
}
