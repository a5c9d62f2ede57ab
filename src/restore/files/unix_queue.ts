/**
 * The data queued on Unix sockets (sk-queues.img), put back as CRIU does it: every packet that
 * waited on socket X is sent again, in order, by a socket connected to X (X's peer, or a helper
 * end made for that), so it waits on X again. Datagram and seqpacket messages keep their
 * boundaries (one send each); stream bytes may go in several sends. The sender's buffer is made
 * large enough first (the packets sat in the queue within the original's limits, which the
 * socket options restored afterwards put back).
 */
import type { ImageDir } from '../../images/image_dir.js';
import { imageFileName } from '../../images/image_files.js';
import { readEntriesWithExtra } from '../../images/typed.js';
import { ImageError } from '../../images/errors.js';
import { MSG, SO, SOL, isSysError, sendmsg, setsockopt } from '../../sys/index.js';

/** The largest buffer the kernel grants (`INT_MAX / 2`, doubled by the kernel). */
const HUGE_BUFFER = 0x3fffffff;

/** One packet of sk-queues.img. */
export interface QueuedPacket {
  data: Uint8Array;
  /** Files passed with it (SCM_RIGHTS): restore does not send those yet. */
  fds: number;
}

/** The packets of sk-queues.img by the file id they wait on, in image order; empty without the image. */
export function queuedPackets(images: ImageDir): Map<number, QueuedPacket[]> {
  const out = new Map<number, QueuedPacket[]>();
  if (!images.has(imageFileName('skQueues'))) return out;
  for (const { entry, extra } of readEntriesWithExtra(images, 'skQueues')) {
    const data = extra instanceof Uint8Array ? extra : new Uint8Array(0);
    if (data.byteLength !== entry.length) {
      throw new ImageError('IMG_TRUNCATED', { file: `${images.path}/${imageFileName('skQueues')}` }, `a packet for file ${entry.id_for} has ${data.byteLength} bytes, its entry says ${entry.length}`);
    }
    const fds = (entry.scm ?? []).reduce((n, scm) => n + (scm.rights?.length ?? 0), 0);
    const list = out.get(entry.id_for) ?? [];
    list.push({ data, fds });
    out.set(entry.id_for, list);
  }
  return out;
}

/**
 * `sendmsg(sender, packet, MSG_DONTWAIT | MSG_NOSIGNAL)` for each packet, in order (after
 * `SO_SNDBUFFORCE` to the largest size). A stream carries a packet in as many sends as it takes;
 * a message must go in one. Throws when the queue does not fit (EAGAIN) or the kernel refuses.
 */
export function sendQueue(sender: number, packets: readonly QueuedPacket[], opts: { stream: boolean }): void {
  setsockopt(sender, { level: SOL.SOCKET, name: SO.SNDBUFFORCE, value: HUGE_BUFFER });
  let total = 0;
  for (const p of packets) {
    let done = 0;
    do {
      let n: number;
      try {
        n = sendmsg(sender, { data: p.data.subarray(done) }, { flags: MSG.DONTWAIT | MSG.NOSIGNAL });
      } catch (err) {
        if (isSysError(err, 'EAGAIN')) throw new Error(`the queued data does not fit in the socket again (${total + done} bytes in, ${p.data.byteLength - done} of a packet left)`, { cause: err });
        throw err;
      }
      if (!opts.stream && n !== p.data.byteLength) throw new Error(`a queued message of ${p.data.byteLength} bytes went out as ${n}`);
      done += n;
    } while (done < p.data.byteLength);
    total += done;
  }
}
