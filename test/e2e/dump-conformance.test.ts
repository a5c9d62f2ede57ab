/**
 * Our dump of each conformance workload next to CRIU 4.2's dump of the same workload: the same
 * image files, the same entries' fields with the same kinds of values. Only what differs between
 * two runs of a process may differ (addresses, inodes, PIDs, counts) — and, deliberately, we keep
 * PKRU in the xsave state when it is not in its initial state (CRIU 4.2 drops it).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dumpTree } from '../../src/dump/dump.js';
import { imageToJson } from '../../src/images/crit_json.js';
import { decodeImage } from '../../src/images/framing.js';
import { IMAGE_FILES, imageFileKind } from '../../src/images/image_files.js';
import type { JsonValue } from '../../src/images/pyjson.js';
import { CONFORMANCE_DIR } from '../support/paths.js';
import { pause } from '../support/programs.js';

const scratch = mkdtempSync(join(tmpdir(), 'criu-ts-dumpconf-'));
const started: number[] = [];
afterAll(() => {
  for (const pid of started) spawnSync('sh', ['-c', `kill -9 -- -${pid} 2>/dev/null; kill -9 ${pid} 2>/dev/null`]);
  rmSync(scratch, { recursive: true, force: true });
});

/** Field path → kind of value, over every entry of an image. */
function shape(value: JsonValue, path = '', out = new Map<string, string>()): Map<string, string> {
  if (Array.isArray(value)) {
    out.set(path, 'list');
    for (const item of value) if (typeof item === 'object' && item !== null) shape(item, `${path}[]`, out);
  } else if (typeof value === 'object' && value !== null) {
    for (const [k, v] of Object.entries(value)) shape(v, `${path}.${k}`, out);
  } else {
    out.set(path, typeof value === 'string' && value.startsWith('0x') ? 'hex' : typeof value === 'bigint' ? 'number' : typeof value);
  }
  return out;
}

const generic = (name: string) => name.replace(/-\d+\.img/, '-N.img').replace(/\.json$/, '');

/** kind-of-image → merged shape, for a directory of images or of crit's JSON. */
function shapes(files: Array<{ name: string; json: JsonValue }>): Map<string, Map<string, string>> {
  const out = new Map<string, Map<string, string>>();
  for (const f of files) {
    const key = generic(f.name);
    shape(f.json, '', out.get(key) ?? out.set(key, new Map()).get(key));
  }
  return out;
}

function ours(dir: string) {
  return readdirSync(dir)
    .filter((n) => {
      const k = imageFileKind(n);
      return k !== undefined && IMAGE_FILES[k.key].magic !== 'RAW';
    })
    .map((name) => ({ name, json: imageToJson(decodeImage(readFileSync(join(dir, name))), { pretty: true }) as JsonValue }));
}

function criu(set: string) {
  const dir = join(CONFORMANCE_DIR, set, 'decoded');
  return readdirSync(dir).map((name) => ({ name, json: JSON.parse(readFileSync(join(dir, name), 'utf8')) as JsonValue }));
}

const WORKLOADS: Record<string, string> = {
  sleep: 'sleep 1000',
  'bash-loop': `bash -c 'i=0; while :; do echo $i > /tmp/cnt; i=$((i+1)); sleep 0.1; done'`,
  pipeline: `bash -c 'yes conformance | (while read l; do sleep 0.2; done)'`,
};

describe('dumps of the conformance workloads look like CRIU 4.2 dumps', () => {
  for (const [set, command] of Object.entries(WORKLOADS)) {
    it(set, async () => {
      const pid = Number(spawnSync('sh', ['-c', `setsid ${command} </dev/null >/dev/null 2>&1 & echo $!`], { encoding: 'utf8' }).stdout.trim());
      started.push(pid);
      pause(700);
      const dir = join(scratch, set);
      await dumpTree(pid, { imagesDir: dir, after: 'leave-running' });
      const theirs = shapes(criu(set));
      const mine = shapes(ours(dir));
      expect([...mine.keys()].sort()).toEqual([...theirs.keys()].sort());
      for (const [image, fields] of theirs) {
        const differences = [...new Set([...fields.keys(), ...mine.get(image)!.keys()])]
          .filter((path) => fields.get(path) !== mine.get(image)!.get(path))
          .filter((path) => !path.endsWith('.xsave.pkru'))
          .map((path) => `${path}: CRIU ${fields.get(path)}, ours ${mine.get(image)!.get(path)}`);
        expect(differences, image).toEqual([]);
      }
    });
  }
});
