/**
 * The registry of fd kinds, in the order they are tried (first match wins). A kind lives in a
 * module of its own; add it here. Anything no kind takes is refused with FD_UNSUPPORTED.
 */
import { EVENTFD_KIND, PIPE_KIND, REG_KIND } from './basic_kinds.js';
import { EVENTPOLL_KIND } from './epoll.js';
import { FIFO_KIND } from './fifo.js';
import { INOTIFY_KIND } from './inotify.js';
import type { FdKindHandler } from './kind.js';
import { HUGETLB_MEMFD_KIND, MEMFD_KIND } from './memfd.js';
import { DELETED_FILE_KIND } from './path_file.js';
import { SIGNALFD_KIND } from './signalfd.js';
import { SOCKET_KINDS } from './socket.js';
import { TIMERFD_KIND } from './timerfd.js';
import { OTHER_TTY_KIND, TTY_KIND } from './tty.js';

export const FD_KINDS: readonly FdKindHandler[] = [
  PIPE_KIND,
  EVENTFD_KIND,
  EVENTPOLL_KIND,
  SIGNALFD_KIND,
  TIMERFD_KIND,
  INOTIFY_KIND,
  ...SOCKET_KINDS,
  MEMFD_KIND,
  HUGETLB_MEMFD_KIND,
  FIFO_KIND,
  TTY_KIND,
  OTHER_TTY_KIND,
  DELETED_FILE_KIND,
  REG_KIND,
];
