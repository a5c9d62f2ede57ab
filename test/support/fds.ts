import { close } from '../../src/sys/index.js';

/** Opens fds through `keep` and closes them all at the end, even when the body throws. */
export function withFds<T>(body: (keep: (fd: number) => number) => T): T {
  const fds: number[] = [];
  try {
    return body((fd) => {
      fds.push(fd);
      return fd;
    });
  } finally {
    for (const fd of fds.reverse()) close(fd);
  }
}
