/**
 * A kernel feature probe: one named, real test of what this kernel (and machine) offers.
 * Categories follow `criu check`: `required` features must all be there for dump/restore to
 * work at all; `extra` ones are needed only by some process trees or options; `experimental`
 * ones only by experimental paths.
 */
import type { JsonValue } from '../src/images/pyjson.js';
import type { ProbeContext } from './context.js';

export type FeatureCategory = 'required' | 'extra' | 'experimental';

export type ProbeResult =
  | { ok: true; detail?: string; value?: JsonValue }
  | { ok: false; reason: string };

export interface FeatureProbe {
  /** Stable name: `criu-ts check --feature NAME`, and what tests gate on. CRIU's where it has one. */
  name: string;
  category: FeatureCategory;
  /** One line: what is probed and why criu-ts needs it. */
  description: string;
  probe(ctx: ProbeContext): ProbeResult;
}

export const supported = (detail?: string, value?: JsonValue): ProbeResult =>
  value === undefined ? (detail === undefined ? { ok: true } : { ok: true, detail }) : { ok: true, detail: detail ?? '', value };

export const missing = (reason: string): ProbeResult => ({ ok: false, reason });
