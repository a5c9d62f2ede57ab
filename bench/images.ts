/**
 * Image codec and syscall-boundary figures: how fast we decode/encode CRIU images (all of
 * test/fixtures/conformance, our copy of ../shared/conformance) and what one system call costs.
 *
 *   npm run build && node dist/bench/images.js
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { imageToJson } from '../src/images/crit_json.js';
import { decodeImage, encodeImage } from '../src/images/framing.js';
import { IMAGE_FILES, imageFileKind } from '../src/images/image_files.js';
import { formatPythonJson } from '../src/images/pyjson.js';
import { getpid, resetSyscallCounts, syscallCounts } from '../src/sys/index.js';

const conformance = resolve(process.argv[2] ?? join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'conformance'));

function images(): Buffer[] {
  const out: Buffer[] = [];
  if (!existsSync(conformance)) return out;
  for (const set of readdirSync(conformance)) {
    const dir = join(conformance, set, 'images');
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      const kind = imageFileKind(name);
      if (kind && IMAGE_FILES[kind.key].magic !== 'RAW') out.push(readFileSync(join(dir, name)));
    }
  }
  return out;
}

function timeIt(label: string, bytes: number, rounds: number, fn: () => void): void {
  fn(); // warm up
  const start = process.hrtime.bigint();
  for (let i = 0; i < rounds; i++) fn();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const mib = (bytes * rounds) / (1 << 20);
  console.log(`${label.padEnd(34)} ${(mib / seconds).toFixed(1).padStart(8)} MiB/s  ${((seconds / rounds) * 1e3).toFixed(2).padStart(8)} ms/round`);
}

const files = images();
const total = files.reduce((n, b) => n + b.length, 0);
console.log(`${files.length} conformance images, ${(total / 1024).toFixed(1)} KiB`);
const decoded = files.map((b) => decodeImage(b));
timeIt('decode (binary -> objects)', total, 50, () => files.forEach((b) => decodeImage(b)));
timeIt('encode (objects -> binary)', total, 50, () => decoded.forEach((i) => encodeImage(i)));
timeIt('crit JSON (--pretty text)', total, 20, () => decoded.forEach((i) => formatPythonJson(imageToJson(i, { pretty: true }), 4)));

const calls = 1_000_000;
resetSyscallCounts();
const start = process.hrtime.bigint();
for (let i = 0; i < calls; i++) getpid();
const ns = Number(process.hrtime.bigint() - start) / calls;
console.log(`getpid() through koffi: ${ns.toFixed(0)} ns per call (${syscallCounts()['getpid']} calls counted)`);
