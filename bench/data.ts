import { availableParallelism, cpus, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { TernlmError } from '../src/core/errors.js';
import { readTextChunks } from '../src/data/utf8.js';
import { expandInputs } from '../src/data/inputs.js';
import { prepare } from '../src/data/prepare.js';
import { loadTokenizer } from '../src/data/tokenizer.js';

const HELP = `usage: ternlm bench data [--input <dir>] [--sample-mb 4] [--json]

Measures GPT-2 BPE tokenization on one thread (best of 3 over a fixed sample: the first
--sample-mb MB of the input files in sorted order) and \`ternlm prepare\` throughput on all
cores over the whole input. Default input: ../shared/data/english.`;

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      input: { type: 'string', default: '../shared/data/english' },
      'sample-mb': { type: 'string', default: '4' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    console.log(HELP);
    return;
  }
  const sampleBytes = Number(values['sample-mb']) * 1e6;
  if (!(sampleBytes > 0)) throw new TernlmError(`--sample-mb must be positive, got '${values['sample-mb']}'`);
  const files = expandInputs([values.input!]);

  // A fixed sample: the first sampleBytes of text, in sorted file order.
  let sample = '';
  outer: for (const f of files.filter((x) => x.format === 'txt')) {
    for await (const chunk of readTextChunks(f.path)) {
      sample += chunk;
      if (Buffer.byteLength(sample) >= sampleBytes) break outer;
    }
  }
  if (sample.length === 0) throw new TernlmError(`no .txt text under ${values.input} to sample`);
  const sampleMB = Buffer.byteLength(sample) / 1e6;

  const gpt2 = loadTokenizer('gpt2');
  const runs: number[] = [];
  let tokens = 0;
  for (let i = 0; i < 3; i++) {
    const t0 = performance.now();
    tokens = gpt2.encode(sample).length;
    runs.push((performance.now() - t0) / 1000);
  }
  const best = Math.min(...runs);

  const out = mkdtempSync(join(tmpdir(), 'ternlm-bench-data-'));
  const threads = availableParallelism();
  let prepSecs: number;
  let meta;
  try {
    const t0 = performance.now();
    meta = await prepare({ inputs: [values.input!], tokenizer: 'gpt2', outDir: out, threads });
    prepSecs = (performance.now() - t0) / 1000;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
  const inputMB = meta.sources.reduce((s, f) => s + f.bytes, 0) / 1e6;
  const prepTokens = meta.splits.train.tokens + meta.splits.val.tokens;

  const result = {
    bench: 'data',
    cpu: cpus()[0]?.model ?? 'unknown',
    threads,
    input: values.input,
    gpt2Encode: {
      sampleMB: +sampleMB.toFixed(2),
      tokens,
      bestSeconds: +best.toFixed(3),
      firstSeconds: +runs[0].toFixed(3),
      tokensPerSec: Math.round(tokens / best),
      mbPerSec: +(sampleMB / best).toFixed(2),
    },
    prepare: {
      files: meta.sources.length,
      inputMB: +inputMB.toFixed(1),
      tokens: prepTokens,
      seconds: +prepSecs.toFixed(2),
      mbPerSec: +(inputMB / prepSecs).toFixed(2),
      tokensPerSec: Math.round(prepTokens / prepSecs),
    },
  };
  if (values.json) {
    console.log(JSON.stringify(result));
    return;
  }
  const g = result.gpt2Encode;
  const p = result.prepare;
  console.log(`data bench on ${result.cpu}, ${threads} thread(s)`);
  console.log(`  GPT-2 encode, 1 thread, ${g.sampleMB} MB sample: ${g.mbPerSec} MB/s, ${g.tokensPerSec.toLocaleString('en-US')} tokens/s (best of 3; first run ${(g.sampleMB / g.firstSeconds).toFixed(2)} MB/s)`);
  console.log(`  prepare (gpt2), ${threads} thread(s), ${p.files} files, ${p.inputMB} MB: ${p.mbPerSec} MB/s, ${p.tokensPerSec.toLocaleString('en-US')} tokens/s (${p.seconds} s)`);
}
