/**
 * kernel-check: what this kernel and machine offer criu-ts, as a named table of real probes.
 * `criu-ts check` prints it the way `criu check` does; tests gate on the names.
 */
import { CPU_PROBES } from './features/cpu.js';
import { MEMORY_PROBES } from './features/memory.js';
import { NETWORK_PROBES } from './features/network.js';
import { PROCESS_PROBES } from './features/process.js';
import { PTRACE_PROBES } from './features/ptrace.js';
import { ProbeContext } from './context.js';
import type { FeatureCategory, FeatureProbe, ProbeResult } from './probe.js';

export type { FeatureCategory, FeatureProbe, ProbeResult } from './probe.js';

const CATEGORY_ORDER: Record<FeatureCategory, number> = { required: 0, extra: 1, experimental: 2 };

/** Every probe, required ones first, in the order `check` runs them. */
export const FEATURES: readonly FeatureProbe[] = [
  ...PTRACE_PROBES,
  ...PROCESS_PROBES,
  ...MEMORY_PROBES,
  ...NETWORK_PROBES,
  ...CPU_PROBES,
].sort((a, b) => CATEGORY_ORDER[a.category] - CATEGORY_ORDER[b.category]);

export type FeatureName = string;

export interface FeatureReport {
  name: string;
  category: FeatureCategory;
  description: string;
  result: ProbeResult;
  /** How long the probe took, in milliseconds. */
  ms: number;
}

/** Looks a probe up by name; undefined for a name we do not know. */
export function findFeature(name: string): FeatureProbe | undefined {
  return FEATURES.find((f) => f.name === name);
}

/** Runs the given probes (all by default) and reports each; never throws for a missing feature. */
export function runProbes(probes: readonly FeatureProbe[] = FEATURES): FeatureReport[] {
  const ctx = new ProbeContext();
  try {
    return probes.map((probe) => {
      const start = performance.now();
      let result: ProbeResult;
      try {
        result = probe.probe(ctx);
      } catch (err) {
        result = { ok: false, reason: (err as Error).message };
      }
      return { name: probe.name, category: probe.category, description: probe.description, result, ms: performance.now() - start };
    });
  } finally {
    ctx.dispose();
  }
}

const cache = new Map<string, ProbeResult>();

/**
 * Whether this machine has a feature (probed once per process). Tests gate on it:
 * `describe.runIf(hasFeature('uffd_wp'))(...)`.
 */
export function hasFeature(name: FeatureName): boolean {
  let result = cache.get(name);
  if (result === undefined) {
    const probe = findFeature(name);
    if (!probe) throw new Error(`unknown kernel feature '${name}'`);
    result = runProbes([probe])[0]!.result;
    cache.set(name, result);
  }
  return result.ok;
}
