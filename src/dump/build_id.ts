/**
 * The GNU build-id of an ELF file (its NT_GNU_BUILD_ID note), which CRIU stores with every
 * regular file so that restore can tell the same binary from another one of the same size.
 * Stored as the note's bytes read as little-endian u32 words, as CRIU's reg_file_entry.build_id.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

const NT_GNU_BUILD_ID = 3;
const PT_NOTE = 4;

/** The build-id words of the ELF file at `path` (opened as given), or undefined if it has none. */
export function readBuildId(path: string): number[] | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    if (!fstatSync(fd).isFile()) return undefined;
    const header = Buffer.alloc(64);
    if (readSync(fd, header, 0, 64, 0) < 64 || header.readUInt32BE(0) !== 0x7f454c46) return undefined;
    if (header[4] !== 2 || header[5] !== 1) return undefined; // 64-bit little-endian only
    const phoff = Number(header.readBigUInt64LE(32));
    const phentsize = header.readUInt16LE(54);
    const phnum = header.readUInt16LE(56);
    const table = Buffer.alloc(phentsize * phnum);
    readSync(fd, table, 0, table.length, phoff);
    for (let i = 0; i < phnum; i++) {
      const ph = table.subarray(i * phentsize);
      if (ph.readUInt32LE(0) !== PT_NOTE) continue;
      const offset = Number(ph.readBigUInt64LE(8));
      const size = Number(ph.readBigUInt64LE(32));
      if (size > 1 << 16) continue;
      const notes = Buffer.alloc(size);
      readSync(fd, notes, 0, size, offset);
      const id = findBuildIdNote(notes);
      if (id) return id;
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

function findBuildIdNote(notes: Buffer): number[] | undefined {
  const align = (n: number) => (n + 3) & ~3;
  for (let at = 0; at + 12 <= notes.length; ) {
    const nameSize = notes.readUInt32LE(at);
    const descSize = notes.readUInt32LE(at + 4);
    const type = notes.readUInt32LE(at + 8);
    const name = notes.subarray(at + 12, at + 12 + nameSize).toString('latin1');
    const desc = at + 12 + align(nameSize);
    if (type === NT_GNU_BUILD_ID && name === 'GNU\0' && desc + descSize <= notes.length) {
      const bytes = notes.subarray(desc, desc + descSize);
      return Array.from({ length: Math.floor(descSize / 4) }, (_, i) => bytes.readUInt32LE(i * 4));
    }
    at = desc + align(descSize);
  }
  return undefined;
}
