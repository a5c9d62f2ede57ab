/**
 * `criu-ts swrk FD`: serves the RPC protocol on FD, one end of a SOCK_SEQPACKET socketpair the
 * client made (pycriu's use_binary, go-criu, runc). Requests are answered in order; like CRIU,
 * the session ends after the first request without `keep_open`, or when the client closes its end.
 * Nothing is written to stdout (the client owns it); each request logs into its work directory.
 *
 * While waiting for a request criu-ts blocks in recvmsg with default signal actions, so a signal
 * ends it; while a dump or restore runs, SIGINT/SIGTERM/SIGHUP abandon it cleanly instead.
 */
import { fstatSync } from 'node:fs';
import { CriuTsError } from '../errors.js';
import { CriuReqType, type CriuReq, type CriuResp } from '../images/generated/types.js';
import { getPeerCred } from '../sys/index.js';
import { failure, handleRequest } from './handle.js';
import { decodeRequest, encodeResponse, recvPacket, sendPacket } from './wire.js';

const SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** Serves requests on `fd` until the session ends; returns 0 when every request succeeded. */
export async function serveSession(fd: number): Promise<number> {
  const clientPid = getPeerCred(fd).pid;
  let allOk = true;
  for (;;) {
    const packet = recvPacket(fd);
    if (packet === null) break;
    let req: CriuReq;
    let resp: CriuResp;
    try {
      req = decodeRequest(packet);
    } catch (err) {
      // As CRIU does with a request it cannot unpack: an EMPTY answer, and the session ends.
      sendPacket(fd, encodeResponse(failure(CriuReqType.EMPTY, `cannot decode the request: ${(err as Error).message}`)));
      return 1;
    }
    let stop = false;
    const onSignal = () => {
      stop = true;
    };
    for (const s of SIGNALS) process.on(s, onSignal);
    try {
      resp = await handleRequest(req, { clientPid, interrupted: () => stop });
    } finally {
      for (const s of SIGNALS) process.off(s, onSignal);
    }
    if (!resp.success) allOk = false;
    sendPacket(fd, encodeResponse(resp));
    if (!req.keep_open) break;
  }
  return allOk ? 0 : 1;
}

export async function swrkCommand(args: string[]): Promise<number> {
  if (args.length !== 1 || !/^\d+$/.test(args[0]!)) throw new CriuTsError('USAGE', 'swrk needs the fd of the socket to serve: criu-ts swrk FD');
  const fd = Number(args[0]);
  let isSocket = false;
  try {
    isSocket = fstatSync(fd).isSocket();
  } catch {
    // not open
  }
  if (!isSocket) throw new CriuTsError('USAGE', `swrk: fd ${fd} is not an open socket`);
  return serveSession(fd);
}
