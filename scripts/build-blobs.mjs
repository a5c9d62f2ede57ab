#!/usr/bin/env node
// Builds the per-arch parasite blobs from parasite/<arch>/*.S with GNU binutils and writes the
// generated TypeScript modules that carry them (arch/<arch>/parasite_blob.ts): the bytes in base64,
// their size and sha256, the protocol version the source was written for, and the offset of every
// `__export_*` symbol. The built modules are committed, so that users need no toolchain.
//
//   node scripts/build-blobs.mjs           rebuild and write the modules
//   node scripts/build-blobs.mjs --check   rebuild and exit 1 if a committed module differs
//
// Steps per blob: `as` (no C preprocessor) -> refuse any relocation (the blob must be
// position-independent as assembled) -> `ld -Ttext=0` -> `objcopy -O binary -j .text`, and `nm` of
// the object for the entry offsets (checked equal to `nm` of the linked file).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** One row per blob. aarch64 is not written yet (its tools are `aarch64-linux-gnu-*`). */
export const BLOBS = Object.freeze([
  Object.freeze({
    arch: 'x86_64',
    name: 'parasite',
    constName: 'PARASITE_X86_64',
    source: 'parasite/x86_64/parasite.S',
    output: 'arch/x86_64/parasite_blob.ts',
    tools: Object.freeze({ as: 'as', ld: 'ld', objcopy: 'objcopy', nm: 'nm', readelf: 'readelf' }),
    asFlags: Object.freeze(['--64']),
    ldFlags: Object.freeze(['-m', 'elf_x86_64']),
    exportPrefix: '__export_parasite_',
    entry: '__export_parasite_daemon',
    versionSymbol: 'P_VERSION',
    contract: 'parasite/protocol.md',
  }),
  Object.freeze({
    arch: 'x86_64',
    name: 'restorer',
    constName: 'RESTORER_X86_64',
    source: 'parasite/x86_64/restorer.S',
    output: 'arch/x86_64/restorer_blob.ts',
    tools: Object.freeze({ as: 'as', ld: 'ld', objcopy: 'objcopy', nm: 'nm', readelf: 'readelf' }),
    asFlags: Object.freeze(['--64']),
    ldFlags: Object.freeze(['-m', 'elf_x86_64']),
    exportPrefix: '__export_restorer_',
    entry: '__export_restorer_batch',
    versionSymbol: 'R_VERSION',
    contract: 'parasite/restorer_protocol.ts',
  }),
]);

function run(tool, args) {
  return execFileSync(tool, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** `nm` of a file: the exported symbols (`__export_parasite_*` by default), name (without the prefix) -> offset. */
export function exportedSymbols(nmTool, file, prefix = '__export_parasite_') {
  const out = {};
  for (const line of run(nmTool, ['--defined-only', file]).split('\n')) {
    const m = /^([0-9a-f]+) [Tt] (\S+)$/.exec(line.trim());
    if (m === null || !m[2].startsWith(prefix)) continue;
    out[m[2].slice(prefix.length)] = Number.parseInt(m[1], 16);
  }
  return out;
}

/** The `.equ P_VERSION, N` (or the spec's version symbol) of a source. */
function protocolVersion(source, symbol = 'P_VERSION') {
  const m = new RegExp(`^\\s*\\.equ\\s+${symbol}\\s*,\\s*(\\d+)\\s*$`, 'm').exec(source);
  if (m === null) throw new Error(`The blob source does not define ${symbol}`);
  return Number(m[1]);
}

/**
 * Assembles, links and extracts one blob in `workDir`. Returns its bytes, entry offsets and
 * protocol version; throws if the object has relocations or the linked offsets differ.
 */
export function buildBlob(spec, workDir) {
  const src = join(REPO_ROOT, spec.source);
  const obj = join(workDir, `${spec.arch}-${spec.name}.o`);
  const elf = join(workDir, `${spec.arch}-${spec.name}.elf`);
  const bin = join(workDir, `${spec.arch}-${spec.name}.bin`);
  const t = spec.tools;
  run(t.as, [...spec.asFlags, '--fatal-warnings', '-o', obj, src]);
  const relocs = run(t.readelf, ['-rW', obj]);
  if (!/There are no relocations in this file/.test(relocs)) {
    throw new Error(`${spec.source} assembles with relocations: the blob must be position-independent\n${relocs}`);
  }
  run(t.ld, [...spec.ldFlags, '-static', '-nostdlib', '--build-id=none', '-Ttext=0', `-e${spec.entry}`, '-o', elf, obj]);
  run(t.objcopy, ['-O', 'binary', '-j', '.text', elf, bin]);
  const entries = exportedSymbols(t.nm, obj, spec.exportPrefix);
  const linked = exportedSymbols(t.nm, elf, spec.exportPrefix);
  if (JSON.stringify(entries) !== JSON.stringify(linked)) {
    throw new Error(`Entry offsets moved in linking: ${JSON.stringify(entries)} vs ${JSON.stringify(linked)}`);
  }
  const bytes = readFileSync(bin);
  return { bytes, entries, version: protocolVersion(readFileSync(src, 'utf8'), spec.versionSymbol) };
}

/** The generated module's text. */
export function renderBlobModule(spec, blob) {
  const sha256 = createHash('sha256').update(blob.bytes).digest('hex');
  const b64 = blob.bytes.toString('base64');
  const lines = [];
  for (let i = 0; i < b64.length; i += 96) lines.push(`    '${b64.slice(i, i + 96)}',`);
  const entries = Object.entries(blob.entries)
    .sort((a, b) => a[1] - b[1])
    .map(([name, off]) => `    ${name}: 0x${off.toString(16)},`);
  return [
    '// Code generated by scripts/build-blobs.mjs. DO NOT EDIT.',
    '// Command: node scripts/build-blobs.mjs',
    `// Source: ${spec.source} (${spec.tools.as} ${spec.asFlags.join(' ')}; ${spec.tools.ld} -Ttext=0; ${spec.tools.objcopy} -O binary -j .text)`,
    '',
    `/** The ${spec.arch} ${spec.name} blob: position-independent, no relocations (${spec.contract}). */`,
    `export const ${spec.constName} = Object.freeze({`,
    `  arch: '${spec.arch}',`,
    spec.name === 'parasite'
      ? `  /** The protocol version the source implements (parasite/protocol.ts PROTOCOL_VERSION). */`
      : `  /** The protocol version the source implements (${spec.contract} ${spec.versionSymbol}). */`,
    `  version: ${blob.version},`,
    `  size: ${blob.bytes.length},`,
    `  sha256: '${sha256}',`,
    `  /** Offsets of the exported entry points (\`${spec.exportPrefix}<name>\`) from the start of the blob. */`,
    '  entries: Object.freeze({',
    ...entries,
    '  }),',
    '  base64: [',
    ...lines,
    "  ].join(''),",
    '});',
    '',
  ].join('\n');
}

function main() {
  const check = process.argv.includes('--check');
  const work = mkdtempSync(join(tmpdir(), 'criu-ts-blobs-'));
  let drift = false;
  try {
    for (const spec of BLOBS) {
      const text = renderBlobModule(spec, buildBlob(spec, work));
      const out = join(REPO_ROOT, spec.output);
      if (check) {
        let old = '';
        try {
          old = readFileSync(out, 'utf8');
        } catch {
          // missing counts as drift
        }
        if (old !== text) {
          console.error(`${spec.output} is out of date: run node scripts/build-blobs.mjs`);
          drift = true;
        }
      } else {
        writeFileSync(out, text);
        console.log(`${spec.output}: ${spec.arch} ${spec.name}, ${readFileSync(join(work, `${spec.arch}-${spec.name}.bin`)).length} bytes`);
      }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  if (drift) process.exit(1);
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
