/**
 * The receive queue of a Unix socket, read without taking anything out of it (as CRIU does):
 * `SO_PEEK_OFF` set to 0 makes every `recvmsg(MSG_PEEK)` move a peek offset past what it
 * returned, so successive peeks walk the queue; the task's offset is put back afterwards. Stream
 * sockets give chunks of bytes; datagram and seqpacket sockets one message per peek, whose
 * boundaries the image keeps (one sk_packet_entry per message).
 */
import { MSG, SO, SOL, close, getsockoptInt, isSysError, recvmsg, setsockopt } from '../../sys/index.js';
import { FdDumpError } from './kind.js';

/** The most fds one message can carry (`SCM_MAX_FD`). */
const SCM_MAX_FD = 253;
const MIN_BUFFER = 64 * 1024;

/** The socket whose queue is read: its owner and fd (for errors) and our copy of it. */
export interface QueueSocket {
  pid: number;
  fd: number;
  local: number;
}

/**
 * The messages queued to be read on `sk.local`, in order, each as its bytes. With `datagrams`,
 * a message longer than the buffer is peeked again whole (`MSG_TRUNC` tells its length).
 * A message that carries fds (`SCM_RIGHTS`) is refused (FD_UNSUPPORTED); the fds the peek
 * installed here are closed. Zero-length datagrams end the walk, as in CRIU.
 */
export function peekQueue(sk: QueueSocket, opts: { datagrams: boolean }): Buffer[] {
  const fd = sk.local;
  const peekOpt = { level: SOL.SOCKET, name: SO.PEEK_OFF };
  const original = getsockoptInt(fd, peekOpt);
  let size = Math.max(getsockoptInt(fd, { level: SOL.SOCKET, name: SO.SNDBUF }), getsockoptInt(fd, { level: SOL.SOCKET, name: SO.RCVBUF }), MIN_BUFFER);
  const flags = MSG.PEEK | MSG.DONTWAIT | MSG.CMSG_CLOEXEC | (opts.datagrams ? MSG.TRUNC : 0);
  const out: Buffer[] = [];
  let offset = 0;
  setsockopt(fd, { ...peekOpt, value: 0 });
  try {
    let buf = Buffer.alloc(size);
    for (;;) {
      let got;
      try {
        got = recvmsg(fd, buf, { flags, maxFds: SCM_MAX_FD, wantCredentials: true });
      } catch (err) {
        if (isSysError(err, 'EAGAIN')) break; // the whole queue was walked
        throw err;
      }
      for (const passed of got.fds) close(passed);
      if (got.fds.length > 0) {
        throw new FdDumpError('FD_UNSUPPORTED', sk.pid, sk.fd, `a message queued on the socket carries ${got.fds.length} file descriptor(s) (SCM_RIGHTS), which are not dumped yet`);
      }
      if ((got.flags & MSG.CTRUNC) !== 0) {
        throw new FdDumpError('FD_FAILED', sk.pid, sk.fd, 'a message queued on the socket carries control data that did not fit');
      }
      if (got.bytes === 0) break; // the peer shut down: nothing more comes
      if (got.bytes > size) {
        // A datagram longer than the buffer: peek it again from its start with room for it.
        size = got.bytes;
        buf = Buffer.alloc(size);
        setsockopt(fd, { ...peekOpt, value: offset });
        continue;
      }
      out.push(Buffer.from(buf.subarray(0, got.bytes)));
      offset += got.bytes;
    }
  } finally {
    setsockopt(fd, { ...peekOpt, value: original });
  }
  return out;
}
