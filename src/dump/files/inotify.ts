/**
 * inotify (`anon_inode:inotify`): an inotify_file_entry whose `wd` list holds every watch fdinfo
 * shows (wd, inode, mask, ignored mask, superblock device, file handle), as CRIU 4.x writes it
 * (inside files.img). Each watched inode's path is looked up as CRIU does (fhandle.ts) and kept in
 * the handle's `path` when it leads back to the inode. A watch whose inode no mount can open any
 * more, or one on tmpfs/devtmpfs without a path (their inode numbers do not survive a remount), is
 * refused. Events queued but not read yet are not part of the image (CRIU drops them too).
 */
import type { InotifyWdEntry } from '../../images/generated/types.js';
import { inotifyWatches, type InotifyWatch } from '../../proc/index.js';
import { fhEntry, locateWatchedInode } from './fhandle.js';
import { FdDumpError, type FdFacts, type FdKindHandler } from './kind.js';

export const INOTIFY_KIND: FdKindHandler = {
  kind: 'INOTIFY',
  matches: (link) => link === 'anon_inode:inotify',
  dump(f, ctx) {
    const watches = inotifyWatches(f.info, f);
    const located = watches.map((w) => ({ watch: w, f_handle: watchHandle(f, w) }));
    return ctx.files.add('INOTIFY', (id) => ({
      ify: { id, flags: f.flags, fown: f.fown, wd: located.map(({ watch, f_handle }) => wdEntry(id, watch, f_handle)) },
    }));
  },
};

function wdEntry(id: number, w: InotifyWatch, f_handle: InotifyWdEntry['f_handle']): InotifyWdEntry {
  return { id, i_ino: w.ino, mask: w.mask, ignored_mask: w.ignoredMask, s_dev: w.sdev, wd: w.wd, f_handle };
}

function watchHandle(f: FdFacts, w: InotifyWatch): InotifyWdEntry['f_handle'] {
  const where = `inotify watch ${w.wd} (inode ${w.ino} on ${w.sdev >>> 20}:${w.sdev & 0xfffff})`;
  if (!w.handle) throw new FdDumpError('FD_UNSUPPORTED', f.pid, f.fd, `${where} has no file handle (its filesystem cannot export one)`);
  const entry = fhEntry(w.handle);
  const found = locateWatchedInode(f.pid, w);
  if (found.kind === 'gone') {
    throw new FdDumpError('FD_TARGET_MISSING', f.pid, f.fd, `${where}: no mount opens its file handle any more (the inode was deleted?)`);
  }
  if (found.kind === 'handle-only' && (found.fsType === 'tmpfs' || found.fsType === 'devtmpfs')) {
    throw new FdDumpError('FD_TARGET_MISSING', f.pid, f.fd, `${where}: no path leads to it, and ${found.fsType} inodes cannot be found by handle after a restore`);
  }
  if (found.kind === 'path') entry.path = found.path;
  return entry;
}
