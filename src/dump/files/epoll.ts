/**
 * epoll (`anon_inode:[eventpoll]`): one eventpoll_file_entry whose `tfd` list holds every target
 * the kernel lists in fdinfo (fd number, events, data, and the target's pos/inode/device), as
 * CRIU 4.x writes it (inside files.img, not in the old eventpoll-tfd.img).
 *
 * A restore adds each target again by its fd number, so every target must still be that fd of the
 * task: kcmp(KCMP_EPOLL_TFD) compares the file the epoll holds with the file behind the fd. A
 * target that was closed (the epoll keeps it while another fd holds the file) or whose number now
 * names another file is refused with FD_TARGET_MISSING. (CRIU looks such targets up among the
 * other fds of the tree; criu-ts does not yet.)
 */
import type { EventpollTfdEntry } from '../../images/generated/types.js';
import { epollTargets, type EpollTarget } from '../../proc/index.js';
import { errnoName, syscallRaw } from '../../sys/index.js';
import { FdDumpError, type FdFacts, type FdKindHandler } from './kind.js';

const KCMP_EPOLL_TFD = 7;

export const EVENTPOLL_KIND: FdKindHandler = {
  kind: 'EVENTPOLL',
  matches: (link) => link === 'anon_inode:[eventpoll]',
  dump(f, ctx) {
    const targets = epollTargets(f.info, f);
    checkTargets(f, targets);
    return ctx.files.add('EVENTPOLL', (id) => ({
      epfd: { id, flags: f.flags, fown: f.fown, tfd: targets.map((t) => tfdEntry(id, t)) },
    }));
  },
};

function tfdEntry(id: number, t: EpollTarget): EventpollTfdEntry {
  const entry: EventpollTfdEntry = { id, tfd: t.tfd, events: t.events, data: t.data };
  if (t.sdev !== undefined) {
    entry.dev = t.sdev;
    entry.inode = t.ino!;
    entry.pos = t.pos!;
  }
  return entry;
}

/**
 * `kcmp(pid, pid, KCMP_EPOLL_TFD, tfd, &{efd, tfd, toff})` for every target: 0 when fd `tfd` of
 * the task is the file the epoll watches under that number (`toff` tells apart several targets
 * added under the same number, in the kernel's order).
 */
function checkTargets(f: FdFacts, targets: readonly EpollTarget[]): void {
  const seen = new Map<number, number>();
  for (const t of targets) {
    const toff = seen.get(t.tfd) ?? 0;
    seen.set(t.tfd, toff + 1);
    const slot = Uint32Array.of(f.fd, t.tfd, toff);
    const r = syscallRaw('kcmp', f.pid, f.pid, KCMP_EPOLL_TFD, t.tfd, slot);
    if (r === 0n) continue;
    if (r < 0n && errnoName(Number(-r)) !== 'EBADF') {
      throw new FdDumpError('FD_FAILED', f.pid, f.fd, `cannot compare epoll target fd ${t.tfd} with the task's fd (kcmp: ${errnoName(Number(-r))})`);
    }
    const why = r < 0n ? 'is not open in the task' : 'now names another file';
    throw new FdDumpError('FD_TARGET_MISSING', f.pid, f.fd, `epoll target fd ${t.tfd} ${why}: the epoll watches a file the task no longer has under that number`);
  }
}
