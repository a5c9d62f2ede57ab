/**
 * Typed access to the images dump and restore use: `readSingle(dir, 'core', pid)` is a
 * `CoreEntry`, `readEntries(dir, 'pstree')` a `PstreeEntry[]`, and `writeEntries` /
 * `writeSingle` stage them with the right magic and message type. The interfaces are generated
 * from our .proto files (src/images/generated/types.ts).
 */
import { ImageError } from './errors.js';
import type { Image, ImageEntry } from './framing.js';
import { LAYOUTS } from './formats.js';
import type * as T from './generated/types.js';
import type { ImageDir, ImageDirWriter } from './image_dir.js';
import { IMAGE_FILES, imageFileName, type ImageFileKey } from './image_files.js';
import type { MagicName } from './magic.js';
import type { PbMessage } from './wire.js';

/** The entry type of each image kind with one message type per entry. */
export interface ImageEntryTypes {
  inventory: T.InventoryEntry;
  pstree: T.PstreeEntry;
  core: T.CoreEntry;
  ids: T.TaskKobjIdsEntry;
  mm: T.MmEntry;
  fs: T.FsEntry;
  files: T.FileEntry;
  fdinfo: T.FdinfoEntry;
  creds: T.CredsEntry;
  pipesData: T.PipeDataEntry;
  fifoData: T.PipeDataEntry;
  skQueues: T.SkPacketEntry;
  tcpStream: T.TcpStreamEntry;
  seccomp: T.SeccompEntry;
  timens: T.TimensEntry;
  tty: T.TtyFileEntry;
  ttyInfo: T.TtyInfoEntry;
  ttyData: T.TtyDataEntry;
  stats: T.StatsEntry;
  memfd: T.MemfdInodeEntry;
  regFiles: T.RegFileEntry;
  eventpollTfd: T.EventpollTfdEntry;
  inotifyWd: T.InotifyWdEntry;
  remapFpath: T.RemapFilePathEntry;
  fileLocks: T.FileLockEntry;
  signalPrivate: T.SiginfoEntry;
  signalShared: T.SiginfoEntry;
  utsns: T.UtsnsEntry;
  ipcVar: T.IpcVarEntry;
  cgroup: T.CgroupEntry;
  mountpoints: T.MntEntry;
  netdev: T.NetDeviceEntry;
  netns: T.NetnsEntry;
  userns: T.UsernsEntry;
  pidns: T.PidnsEntry;
  cpuinfo: T.CpuinfoEntry;
  sigacts: T.SaEntry;
  itimers: T.ItimerEntry;
  posixTimers: T.PosixTimerEntry;
  rlimit: T.RlimitEntry;
  vmas: T.VmaEntry;
}

export type TypedKey = keyof ImageEntryTypes;

/** A pagemap image: its head, then one entry per run of pages. */
export interface Pagemap {
  head: T.PagemapHead;
  entries: T.PagemapEntry[];
}

type Arg = number | bigint | string | undefined;

function plainLayout(key: ImageFileKey, file: string): { magic: MagicName; entry: string } {
  const magic = IMAGE_FILES[key].magic;
  const layout = magic === 'RAW' ? undefined : LAYOUTS[magic];
  if (magic === 'RAW' || layout?.kind !== 'plain') {
    throw new ImageError('IMG_UNKNOWN_KIND', { file }, `${key} images do not hold plain entries`);
  }
  return { magic, entry: layout.entry };
}

/** Every entry of an image, typed. */
export function readEntries<K extends TypedKey>(dir: ImageDir, key: K, arg?: Arg): ImageEntryTypes[K][] {
  return dir.readKind(key, arg).entries.map((e) => e.message as unknown as ImageEntryTypes[K]);
}

/** The one entry of a single-entry image (core, mm, ids, fs, inventory, ...). */
export function readSingle<K extends TypedKey>(dir: ImageDir, key: K, arg?: Arg): ImageEntryTypes[K] {
  const entries = readEntries(dir, key, arg);
  if (entries.length !== 1) {
    throw new ImageError('IMG_TRAILING_BYTES', { file: imageFileName(key, arg) }, `expected one entry, found ${entries.length}`);
  }
  return entries[0]!;
}

/** An image's entries with their extra data (pipe buffers, socket queues). */
export function readEntriesWithExtra<K extends TypedKey>(dir: ImageDir, key: K, arg?: Arg): Array<{ entry: ImageEntryTypes[K]; extra: ImageEntry['extra'] }> {
  return dir.readKind(key, arg).entries.map((e) => ({ entry: e.message as unknown as ImageEntryTypes[K], extra: e.extra }));
}

/** The pagemap of a task. */
export function readPagemap(dir: ImageDir, pid: number): Pagemap {
  const [head, ...entries] = dir.readKind('pagemap', pid).entries;
  return { head: head!.message as unknown as T.PagemapHead, entries: entries.map((e) => e.message as unknown as T.PagemapEntry) };
}

/** The number of pages of a pagemap entry: `nr_pages` (field 5) first, then the 3.17 field. */
export function pagemapEntryPages(entry: T.PagemapEntry): bigint {
  return entry.nr_pages ?? BigInt(entry.compat_nr_pages);
}

/** Builds an image of `key` from typed entries (and their extra data, when the kind has it). */
export function buildImage<K extends TypedKey>(key: K, entries: Array<ImageEntryTypes[K] | { entry: ImageEntryTypes[K]; extra: NonNullable<ImageEntry['extra']> }>, arg?: Arg): Image {
  const { magic, entry: type } = plainLayout(key, imageFileName(key, arg));
  return {
    magic,
    entries: entries.map((e) =>
      'extra' in e && 'entry' in e
        ? { type, message: e.entry as unknown as PbMessage, extra: e.extra }
        : { type, message: e as unknown as PbMessage },
    ),
  };
}

/** Stages an image of typed entries. */
export function writeEntries<K extends TypedKey>(writer: ImageDirWriter, key: K, arg: Arg, entries: Parameters<typeof buildImage<K>>[1]): void {
  writer.writeKind(key, arg, buildImage(key, entries, arg));
}

/** Stages a single-entry image. */
export function writeSingle<K extends TypedKey>(writer: ImageDirWriter, key: K, arg: Arg, entry: ImageEntryTypes[K]): void {
  writeEntries(writer, key, arg, [entry]);
}

/** Stages a pagemap image: a task's (`pagemap-PID.img`) or a shared segment's (`pagemap-shmem-ID.img`). */
export function writePagemap(writer: ImageDirWriter, id: number | bigint, pagemap: Pagemap, key: 'pagemap' | 'shmemPagemap' = 'pagemap'): void {
  writer.writeKind(key, id, {
    magic: 'PAGEMAP',
    entries: [
      { type: 'pagemap_head', message: pagemap.head as unknown as PbMessage },
      ...pagemap.entries.map((e) => ({ type: 'pagemap_entry', message: e as unknown as PbMessage })),
    ],
  });
}
