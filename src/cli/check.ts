/**
 * `criu-ts check`: probes the kernel the way `criu check` does, with the same verdicts and exit
 * codes: required features only by default ("Looks good." or "Does not look good.", exit 1);
 * `--extra`/`--experimental`/`--all` add the others ("Looks good but some kernel features are
 * missing ...", exit 1, when one of those is absent); `--feature NAME` probes one feature
 * ("NAME is supported"). `--json` prints every probe's result instead.
 */
import { FEATURES, findFeature, runProbes, type FeatureProbe, type FeatureReport } from '../../kernel-check/index.js';
import { formatPythonJson, type JsonValue } from '../images/pyjson.js';

const GOOD = 'Looks good.';
const BAD = 'Does not look good.';
const MAYBE = 'Looks good but some kernel features are missing\nwhich, depending on your process tree, may cause\ndump or restore failure.';

export interface CheckOptions {
  extra?: boolean;
  experimental?: boolean;
  feature?: string;
  json?: boolean;
  verbose?: boolean;
}

export interface CheckOutput {
  stdout: string[];
  stderr: string[];
  exitCode: number;
}

/** Runs the probes `options` ask for and renders the result; does not print. */
export function runCheck(options: CheckOptions): CheckOutput {
  const out: CheckOutput = { stdout: [], stderr: [], exitCode: 0 };
  let probes: readonly FeatureProbe[];
  if (options.feature !== undefined) {
    const probe = findFeature(options.feature);
    if (!probe) {
      out.stderr.push(`Error: unknown feature ${options.feature} (known: ${FEATURES.map((f) => f.name).join(', ')})`);
      out.exitCode = 1;
      return out;
    }
    probes = [probe];
  } else {
    probes = FEATURES.filter(
      (f) => f.category === 'required' || (f.category === 'extra' && options.extra) || (f.category === 'experimental' && options.experimental),
    );
  }
  const reports = runProbes(probes);
  const requiredMissing = reports.some((r) => r.category === 'required' && !r.result.ok);
  const anyMissing = reports.some((r) => !r.result.ok);
  let verdict: string;
  if (options.feature !== undefined) {
    verdict = anyMissing ? `${options.feature} is not supported` : `${options.feature} is supported`;
  } else {
    verdict = requiredMissing ? BAD : anyMissing ? MAYBE : GOOD;
  }
  out.exitCode = anyMissing ? 1 : 0;

  if (options.json) {
    out.stdout.push(formatPythonJson({ verdict, features: reports.map(reportJson) }, 4));
    return out;
  }
  for (const r of reports) {
    if (!r.result.ok) {
      const level = r.category === 'required' ? 'Error' : 'Warn';
      out.stderr.push(`${level}: ${r.name}: ${r.result.reason}`);
    } else if (options.verbose) {
      out.stderr.push(`Info: ${r.name}: supported${r.result.detail ? ` (${r.result.detail})` : ''}`);
    }
  }
  out.stdout.push(verdict);
  return out;
}

function reportJson(r: FeatureReport): JsonValue {
  const json: Record<string, JsonValue> = { name: r.name, category: r.category, supported: r.result.ok };
  if (r.result.ok) {
    if (r.result.detail) json['detail'] = r.result.detail;
    if (r.result.value !== undefined) json['value'] = r.result.value;
  } else {
    json['reason'] = r.result.reason;
  }
  json['description'] = r.description;
  json['ms'] = Math.round(r.ms * 10) / 10;
  return json;
}
