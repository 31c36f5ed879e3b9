// bench/energy.ts: the RAPL reader on fake powercap trees (package zones summed once, subzones,
// the platform zone and the MMIO copy left out, a counter wrapping, a counter this user cannot
// read, no powercap at all), CPU-seconds of this process's threads, and the per-token fields of
// `bench train --json` and `bench generate --batch --json`.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { counterDelta, formatPer1k, UsageMeter, type ReadText } from '../../bench/energy.js';
import { ternlm } from '../cli/run-cli.js';
import { needsStories, STORIES260K } from '../infer/fixtures.js';

const RANGE = 262_143_328_850; // a package counter's max_energy_range_uj on an Intel host

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/**
 * A powercap tree laid out as Linux lays it out: zone folders nested under
 * devices/<control type>/ and a flat class/ folder of links to every zone (class/ is the root).
 * `zones` maps a zone's entry name to its name and counter.
 */
function fakePowercap(zones: Record<string, { name: string; uj: number }>): { root: string; set: (entry: string, uj: number) => void } {
  const base = mkdtempSync(join(tmpdir(), 'ternlm-powercap-'));
  dirs.push(base);
  const root = join(base, 'class');
  mkdirSync(root);
  const folders = new Map<string, string>();
  for (const [entry, z] of Object.entries(zones)) {
    // intel-rapl:0:1 sits in intel-rapl:0, which sits in the control type's folder intel-rapl.
    const parts = entry.split(':');
    const chain = parts.map((_, i) => parts.slice(0, i + 1).join(':'));
    const folder = join(base, 'devices', ...chain);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'name'), `${z.name}\n`);
    writeFileSync(join(folder, 'energy_uj'), `${z.uj}\n`);
    writeFileSync(join(folder, 'max_energy_range_uj'), `${RANGE}\n`);
    symlinkSync(folder, join(root, entry));
    folders.set(entry, folder);
  }
  symlinkSync(join(base, 'devices', 'intel-rapl'), join(root, 'intel-rapl'));
  return { root, set: (entry, uj) => writeFileSync(join(folders.get(entry)!, 'energy_uj'), `${uj}\n`) };
}

/** Two packages with core, uncore and dram subzones, the platform zone and the MMIO copy of package 0. */
const TWO_PACKAGES = {
  'intel-rapl:0': { name: 'package-0', uj: 1_000_000 },
  'intel-rapl:0:0': { name: 'core', uj: 500_000 },
  'intel-rapl:0:1': { name: 'uncore', uj: 100_000 },
  'intel-rapl:0:2': { name: 'dram', uj: 300_000 },
  'intel-rapl:1': { name: 'package-1', uj: 2_000_000 },
  'intel-rapl:1:0': { name: 'core', uj: 700_000 },
  'intel-rapl:2': { name: 'psys', uj: 9_000_000 },
  'intel-rapl-mmio:0': { name: 'package-0', uj: 1_000_000 },
};

/** Reads sysfs files as a user who may not read the files ending in `denied` sees them (the tests run as root). */
function readDenying(denied: string): ReadText {
  return (path) => {
    if (path.endsWith(denied)) throw Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES', path });
    return readFileSync(path, 'utf8').trim();
  };
}

describe('the RAPL reader', () => {
  it('sums the package zones once: subzones, the platform zone and the MMIO copy are left out', () => {
    const fake = fakePowercap(TWO_PACKAGES);
    const meter = new UsageMeter(fake.root);
    assert.deepEqual(meter.describe(), { zones: ['package-0', 'package-1'], unavailable: null });
    const before = meter.reading();
    fake.set('intel-rapl:0', 2_500_000); // +1.5 J
    fake.set('intel-rapl:1', 2_500_000); // +0.5 J
    for (const other of ['intel-rapl:0:0', 'intel-rapl:0:2', 'intel-rapl:1:0', 'intel-rapl:2', 'intel-rapl-mmio:0']) fake.set(other, 50_000_000);
    assert.equal(meter.since(before).joules, 2);
    assert.match(meter.headline(), /^energy per token: RAPL counters of package-0, package-1 /);
  });

  it('counts a counter that wrapped past max_energy_range_uj to 0', () => {
    assert.equal(counterDelta(RANGE - 1000, 500, RANGE), 1500);
    assert.equal(counterDelta(1000, 1500, RANGE), 500);
    const fake = fakePowercap({ 'intel-rapl:0': { name: 'package-0', uj: RANGE - 400_000 } });
    const meter = new UsageMeter(fake.root);
    const before = meter.reading();
    fake.set('intel-rapl:0', 600_000);
    assert.equal(meter.since(before).joules, 1);
  });

  it('gives no energy, and says which file and why, when a package counter is unreadable; an unreadable subzone does not matter', () => {
    const fake = fakePowercap(TWO_PACKAGES);
    const denied = new UsageMeter(fake.root, readDenying('intel-rapl:1/energy_uj'));
    assert.equal(denied.zones, null);
    assert.match(denied.unavailable!, /\/class\/intel-rapl:1\/energy_uj is not readable by this user \(kernels since late 2020 let only root read RAPL counters: docs\/energy\.md says how to allow it\)$/);
    const before = denied.reading();
    assert.equal(denied.since(before).joules, null);
    assert.match(denied.headline(), /^energy not measured: .* Per token: CPU time only, which is not energy$/);

    const subzone = new UsageMeter(fake.root, readDenying('intel-rapl:0:0/energy_uj'));
    assert.deepEqual(subzone.describe().zones, ['package-0', 'package-1']);
  });

  it('says so when there is no powercap folder or no package zone in it', () => {
    const missing = join(tmpdir(), 'ternlm-no-such-powercap');
    const none = new UsageMeter(missing);
    assert.deepEqual(none.describe(), { zones: null, unavailable: `no energy counters on this host (${missing} does not exist: not Linux, a virtual machine, or no RAPL driver)` });
    const usage = none.since(none.reading());
    assert.equal(usage.joules, null);
    assert.ok(usage.cpuSeconds >= 0 && usage.wallSeconds >= 0);

    const platformOnly = fakePowercap({ 'intel-rapl:0': { name: 'psys', uj: 1 } });
    assert.equal(new UsageMeter(platformOnly.root).unavailable, `no RAPL package zone in ${platformOnly.root}`);
  });
});

describe('CPU-seconds', () => {
  it('grow with work on this thread and not while it sleeps', async () => {
    const meter = new UsageMeter(join(tmpdir(), 'ternlm-no-such-powercap'));
    const idle0 = meter.reading();
    await sleep(300);
    const idle = meter.since(idle0);
    const busy0 = meter.reading();
    for (const t = performance.now(); performance.now() - t < 300;);
    const busy = meter.since(busy0);
    assert.ok(busy.cpuSeconds > 0.05, `busy: ${busy.cpuSeconds} CPU-s in ${busy.wallSeconds} s`);
    assert.ok(idle.cpuSeconds < busy.cpuSeconds / 2, `idle ${idle.cpuSeconds} CPU-s, busy ${busy.cpuSeconds}`);
  });

  it('count the work of a worker thread (as the kernel pool\'s workers are) while this thread waits', async () => {
    const meter = new UsageMeter(join(tmpdir(), 'ternlm-no-such-powercap'));
    const before = meter.reading();
    const worker = new Worker('for (const t = performance.now(); performance.now() - t < 300;); require("node:worker_threads").parentPort.postMessage(0);', { eval: true });
    await new Promise((done) => worker.once('message', done));
    await worker.terminate();
    const u = meter.since(before);
    assert.ok(u.cpuSeconds > 0.05, `${u.cpuSeconds} CPU-s in ${u.wallSeconds} s`);
  });

  it('print per 1,000 tokens with three significant digits, joules where measured', () => {
    assert.equal(formatPer1k(0.0000875, null), '87.5 CPU-ms');
    assert.equal(formatPer1k(0.0012345, 0.0051), '1,230 CPU-ms, 5.1 J');
  });
});

describe('bench reports', () => {
  it('bench train --json: CPU-seconds per token of each thread count, joules only with counters', async () => {
    const r = await ternlm(['bench', 'train', '--steps', '1', '--batch', '2', '--seq-len', '16', '--threads', '1', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { energy: { zones: string[] | null; unavailable: string | null }; results: { tokens_per_second: number; cpu_seconds_per_token: number; joules_per_token: number | null }[] };
    assert.equal(report.energy.zones === null, typeof report.energy.unavailable === 'string');
    for (const res of report.results) {
      assert.ok(res.cpu_seconds_per_token > 0 && res.cpu_seconds_per_token < 1, `${res.cpu_seconds_per_token}`);
      if (report.energy.zones === null) assert.equal(res.joules_per_token, null);
      else assert.ok(res.joules_per_token! > 0);
    }
  });

  it('bench train prints which figure it is', async () => {
    const r = await ternlm(['bench', 'train', '--steps', '1', '--batch', '2', '--seq-len', '16', '--threads', '1']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /\n {2}energy (not measured: .*CPU time only, which is not energy|per token: RAPL counters of package-.*)\n/);
    assert.match(r.stdout, /\n {4}per 1,000 tokens: [\d.,]+ CPU-ms(, [\d.,]+ J)?\n/);
  });

  it('bench generate --batch --json: cost per new token of each batch size', { skip: needsStories }, async () => {
    const r = await ternlm(['bench', 'generate', '--model', STORIES260K, '--batch', '1,2', '--new-tokens', '4', '--reps', '1', '--threads', '1', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as { energy: { zones: string[] | null }; runs: { batches: { replies: number; cpuSecondsPerToken: number; joulesPerToken: number | null }[] }[] };
    assert.deepEqual(report.runs[0].batches.map((b) => b.replies), [1, 2]);
    for (const b of report.runs[0].batches) {
      assert.ok(b.cpuSecondsPerToken > 0 && b.cpuSecondsPerToken < 1, `${b.cpuSecondsPerToken}`);
      assert.equal(b.joulesPerToken === null, report.energy.zones === null);
    }
  });
});
