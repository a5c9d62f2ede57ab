/**
 * Our dump of each conformance workload next to CRIU 4.2's dump of the same workload: the same
 * image files, the same entries' fields with the same kinds of values. Only what differs between
 * two runs of a process may differ (addresses, inodes, PIDs, counts) — and, deliberately, we keep
 * PKRU in the xsave state when it is not in its initial state (CRIU 4.2 drops it). The Python
 * workload (threads, a pipe, a file, a socketpair, an eventfd, a listener and an established
 * connection) is dumped with --tcp-established, as CRIU's was.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { dumpTree } from '../../src/dump/dump.js';
import { imageToJson } from '../../src/images/crit_json.js';
import { decodeImage } from '../../src/images/framing.js';
import { IMAGE_FILES, imageFileKind } from '../../src/images/image_files.js';
import type { JsonValue } from '../../src/images/pyjson.js';
import { close, O, pipe2 } from '../../src/sys/index.js';
import { CONFORMANCE_DIR } from '../support/paths.js';
import { pause } from '../support/programs.js';

const scratch = mkdtempSync(join(tmpdir(), 'criu-ts-dumpconf-'));
const started: number[] = [];
const readEnds: number[] = [];
afterAll(() => {
  for (const fd of readEnds.splice(0)) close(fd);
  // Each workload is its own process group (setsid): the whole group goes, pipeline and all.
  for (const pid of started) {
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }
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

const generic = (name: string) => name.replace(/^tcp-stream-[0-9a-f]+\.img/, 'tcp-stream-N.img').replace(/-\d+\.img/, '-N.img').replace(/\.json$/, '');

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

/**
 * The Python workload, on a port of its own: the restore test of the same set may hold 47001
 * meanwhile, and the port number changes nothing in the images' shape.
 */
function pythonScript(): string {
  const port = 47001 + 1 + (process.pid % 1000);
  const path = join(scratch, 'state.py');
  writeFileSync(path, readFileSync(join(CONFORMANCE_DIR, 'python-state', 'state.py'), 'utf8').replaceAll('47001', String(port)));
  mkdirSync('/tmp/conformance', { recursive: true });
  return path;
}

/**
 * Starts `command` as CRIU's harness did: a session of its own, stdio on /dev/null and, at fd 251,
 * the write end of a pipe (every CRIU 4.2 set has it: the harness's, inherited); the test holds the
 * read end.
 */
function startWorkload(command: string): number {
  const [readEnd, writeEnd] = pipe2({ flags: O.CLOEXEC });
  readEnds.push(readEnd);
  const stdio: Array<'ignore' | number> = Array(252).fill('ignore');
  stdio[251] = writeEnd;
  const child = spawn('/bin/sh', ['-c', `exec ${command}`], { detached: true, stdio });
  child.unref();
  close(writeEnd);
  return child.pid!;
}

const WORKLOADS: Record<string, () => string> = {
  sleep: () => 'sleep 1000',
  'bash-loop': () => `bash -c 'i=0; while :; do echo $i > /tmp/cnt; i=$((i+1)); sleep 0.1; done'`,
  pipeline: () => `bash -c 'yes conformance | (while read l; do sleep 0.2; done)'`,
  'python-state': () => `/usr/bin/python3 ${pythonScript()}`,
};

describe('dumps of the conformance workloads look like CRIU 4.2 dumps', () => {
  for (const [set, command] of Object.entries(WORKLOADS)) {
    it(set, async () => {
      const pid = startWorkload(command());
      started.push(pid);
      pause(700);
      const dir = join(scratch, set);
      // CRIU dumped python-state with --tcp-established; so do we (the others hold no connection).
      await dumpTree(pid, { imagesDir: dir, after: 'leave-running', tcpEstablished: set === 'python-state' });
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
