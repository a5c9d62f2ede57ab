/**
 * Regular files (and directories and devices opened like files): reg_file_entry records for
 * mapped files, open fds, cwd and root.
 */
import type { BigIntStats } from 'node:fs';
import type { FownEntry, RegFileEntry } from '../../images/generated/types.js';
import { readBuildId } from '../build_id.js';
import { NO_FOWN } from './fown.js';
import type { FileTable } from './table.js';

const S_IFMT = 0o170000n;
const S_IFREG = 0o100000n;

export interface RegFileFacts {
  /** The path the task sees. */
  path: string;
  stat: BigIntStats;
  /** Open flags without O_CLOEXEC (that one is per fd, in fdinfo). */
  flags: number;
  pos: bigint;
  fown: FownEntry;
  /** A path through which the file can be opened to read its build-id (e.g. /proc/PID/fd/N). */
  openPath: string;
}

/** The reg_file_entry of a file: size, mode and build-id for regular files, as CRIU writes. */
export function regFileEntry(id: number, facts: RegFileFacts): RegFileEntry {
  const entry: RegFileEntry = { id, flags: facts.flags, pos: facts.pos, fown: facts.fown, name: facts.path };
  const isRegular = (facts.stat.mode & S_IFMT) === S_IFREG;
  if (isRegular) entry.size = facts.stat.size;
  entry.mode = Number(facts.stat.mode);
  if (isRegular) {
    const buildId = readBuildId(facts.openPath);
    if (buildId) entry.build_id = buildId;
  }
  return entry;
}

/** Registers a mapped file once per (dev, ino) for the whole dump; returns its id. */
export function addMappedFile(table: FileTable, facts: { path: string; stat: BigIntStats; openPath: string }): number {
  const key = `map:${facts.stat.dev}:${facts.stat.ino}`;
  return table.add('REG', (id) => ({ reg: regFileEntry(id, { ...facts, flags: 0, pos: 0n, fown: NO_FOWN }) }), key);
}

/** Registers a directory a task stands in (cwd or root): always a new entry, as CRIU does. */
export function addDirectory(table: FileTable, facts: { path: string; stat: BigIntStats; openPath: string }): number {
  return table.add('REG', (id) => ({ reg: regFileEntry(id, { ...facts, flags: 0, pos: 0n, fown: NO_FOWN }) }));
}
