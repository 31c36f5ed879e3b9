// Loaded with `node --import` into a CLI run by test/cli/internal-errors.test.ts: makes
// os.availableParallelism throw, which every command reaches while reading --threads, so that the
// CLI meets an unexpected (non-TernlmError) error exactly as it would meet a bug.
import os from 'node:os';
import { syncBuiltinESMExports } from 'node:module';

os.availableParallelism = (): number => {
  throw new TypeError('simulated internal failure');
};
syncBuiltinESMExports();
