// What a timed section of a benchmark costs: CPU-seconds of this process (every thread: the main
// one and the kernel pool's workers) and, where Linux exposes them to this user, joules from the
// RAPL package counters of the powercap interface (docs/energy.md).
//
// The powercap tree, as /sys/class/powercap lists it (each entry a link to its zone's folder):
//   intel-rapl:0      name "package-0": a whole CPU package (AMD's counters use the same driver)
//   intel-rapl:0:0    name "core": a part of package 0 (also "uncore", "dram"), not summed
//   intel-rapl:1      name "package-1", or "psys" (the platform, packages included: not summed)
//   intel-rapl-mmio:0 the same package counter again through MMIO: not summed
// Each zone folder holds energy_uj (a counter in microjoules; root-only on kernels since late
// 2020) and max_energy_range_uj (where the counter wraps to 0).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export const POWERCAP = '/sys/class/powercap';

/** One RAPL package counter: its zone folder, its name and where it wraps, in microjoules. */
export interface RaplZone {
  path: string;
  name: string;
  rangeUj: number;
}

/** What happened between two readings: wall time, CPU time of this process, joules (null: no counters). */
export interface Usage {
  wallSeconds: number;
  cpuSeconds: number;
  joules: number | null;
}

/** A reading: wall clock (ms), this process's user + system CPU time (µs), each zone's counter (µJ). */
export interface Reading {
  wallMs: number;
  cpuMicros: number;
  energyUj: number[];
}

/** Reads one sysfs file as trimmed text (tests pass their own to fake a file this user cannot read). */
export type ReadText = (path: string) => string;

const readText: ReadText = (path) => readFileSync(path, 'utf8').trim();

/** Microjoules a counter advanced from `before` to `after`, counting one wrap past `rangeUj` to 0. */
export function counterDelta(before: number, after: number, rangeUj: number): number {
  return after >= before ? after - before : after + rangeUj - before;
}

/** The package zones under `root` whose counters can be read, or why energy cannot be measured. */
export function findPackageZones(root: string, read: ReadText): { zones: RaplZone[]; unavailable: null } | { zones: null; unavailable: string } {
  const none = (unavailable: string) => ({ zones: null, unavailable });
  if (!existsSync(root)) return none(`no energy counters on this host (${root} does not exist: not Linux, a virtual machine, or no RAPL driver)`);
  try {
    const top = readdirSync(root).filter((e) => /^intel-rapl:\d+$/.test(e)).sort((a, b) => a.localeCompare(b, 'en', { numeric: true }));
    const zones: RaplZone[] = [];
    for (const entry of top) {
      const path = join(root, entry);
      const name = read(join(path, 'name'));
      if (!name.startsWith('package')) continue;
      read(join(path, 'energy_uj'));
      zones.push({ path, name, rangeUj: Number(read(join(path, 'max_energy_range_uj'))) });
    }
    if (zones.length === 0) return none(`no RAPL package zone in ${root}`);
    return { zones, unavailable: null };
  } catch (err) {
    // File-system errors name the file they failed on.
    const { code, path = root, message } = err as NodeJS.ErrnoException;
    if (code === 'EACCES' || code === 'EPERM') return none(`${path} is not readable by this user (kernels since late 2020 let only root read RAPL counters: docs/energy.md says how to allow it)`);
    return none(`cannot read ${path}: ${message}`);
  }
}

/**
 * Meters sections of work: take a `reading()` before, then `since(before)` after. Energy is the
 * sum over the package zones found at construction, or null with `unavailable` saying why.
 */
export class UsageMeter {
  readonly zones: RaplZone[] | null;
  readonly unavailable: string | null;
  private readonly read: ReadText;

  constructor(root = POWERCAP, read: ReadText = readText) {
    const found = findPackageZones(root, read);
    this.zones = found.zones;
    this.unavailable = found.unavailable;
    this.read = read;
  }

  reading(): Reading {
    const cpu = process.cpuUsage();
    return {
      wallMs: performance.now(),
      cpuMicros: cpu.user + cpu.system,
      energyUj: (this.zones ?? []).map((z) => Number(this.read(join(z.path, 'energy_uj')))),
    };
  }

  since(before: Reading): Usage {
    const now = this.reading();
    const zones = this.zones;
    return {
      wallSeconds: (now.wallMs - before.wallMs) / 1000,
      cpuSeconds: (now.cpuMicros - before.cpuMicros) / 1e6,
      joules: zones === null ? null : zones.reduce((s, z, i) => s + counterDelta(before.energyUj[i], now.energyUj[i], z.rangeUj), 0) / 1e6,
    };
  }

  /** For a report's JSON: the zones summed, or why there is no energy figure. */
  describe(): { zones: string[] | null; unavailable: string | null } {
    return { zones: this.zones?.map((z) => z.name) ?? null, unavailable: this.unavailable };
  }

  /** One line for a text report: which figure it is and where it comes from. */
  headline(): string {
    return this.zones === null
      ? `energy not measured: ${this.unavailable}. Per token: CPU time only, which is not energy`
      : `energy per token: RAPL counters of ${this.zones.map((z) => z.name).join(', ')} (the CPU packages alone: no memory, disks, cooling or power supply), and CPU time`;
  }
}

/** A section's cost per token: CPU-seconds, and joules where counters were read. */
export function perToken(u: Usage, tokens: number): { cpuSecondsPerToken: number; joulesPerToken: number | null } {
  return { cpuSecondsPerToken: u.cpuSeconds / tokens, joulesPerToken: u.joules === null ? null : u.joules / tokens };
}

/** The cost of 1,000 tokens as reports print it: "105 CPU-ms", and ", 5.12 J" where energy was read. */
export function formatPer1k(cpuSecondsPerToken: number, joulesPerToken: number | null): string {
  const sig3 = (x: number) => x.toLocaleString('en-US', { maximumSignificantDigits: 3 });
  const cpu = `${sig3(cpuSecondsPerToken * 1e6)} CPU-ms`;
  return joulesPerToken === null ? cpu : `${cpu}, ${sig3(joulesPerToken * 1000)} J`;
}
