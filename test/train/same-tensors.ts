// The check that a resumed run is the run that was never interrupted: every stored tensor of two
// checkpoints is equal, byte for byte.
import assert from 'node:assert/strict';
import { openSafetensors } from '../../src/io/safetensors.js';

export function assertSameTensors(pathA: string, pathB: string): void {
  const a = openSafetensors(pathA), b = openSafetensors(pathB);
  try {
    assert.deepEqual(b.tensors.map((t) => t.name), a.tensors.map((t) => t.name));
    for (const t of a.tensors) assert.deepEqual(b.read(t.name).data, a.read(t.name).data, `tensor ${t.name}`);
  } finally {
    a.close();
    b.close();
  }
}
