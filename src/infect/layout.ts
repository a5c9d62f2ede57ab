/**
 * The shared area's layout (parasite/protocol.md): where the blob, the control blocks, the
 * args/results areas, the stacks and the sigframes sit, as offsets from the area's start. Pure.
 *
 *   blob | control blocks (daemon, thread) | args | thread result slot | daemon stack |
 *   thread stack | daemon sigframe | thread sigframe
 *
 * Threads run one at a time, so they share one control block, slot, stack and frame.
 */

import { CTL, MISC, PARASITE_STACK_MIN } from '../../parasite/protocol.js';

/** Offsets (bytes from the area's start) and sizes of everything in the area. */
export interface AreaLayout {
  size: number;
  blob: number;
  ctl: number;
  threadCtl: number;
  args: number;
  argsSize: number;
  threadArgs: number;
  threadArgsSize: number;
  /** Stack tops (the stacks grow down from here). */
  stackTop: number;
  threadStackTop: number;
  frame: number;
  threadFrame: number;
  frameSize: number;
}

/** What the layout depends on. */
export interface LayoutInput {
  blobSize: number;
  page: number;
  /** Bytes of the daemon's args/results area (rounded up to pages). */
  argsSize: number;
  /** Bytes of one sigframe, and the alignment it needs. */
  frameSize: number;
  frameAlign: number;
  /** Bytes of each parasite stack; 64 KiB when absent, at least PARASITE_STACK_MIN. */
  stackSize?: number;
}

/** Lays the area out. */
export function areaLayout(input: LayoutInput): AreaLayout {
  const page = input.page;
  const up = (n: number, to: number): number => Math.ceil(n / to) * to;
  const stackSize = up(Math.max(input.stackSize ?? 65536, PARASITE_STACK_MIN), page);
  const blob = 0;
  const ctl = up(input.blobSize, page);
  const threadCtl = ctl + CTL.SIZE;
  const args = ctl + page;
  const argsSize = up(Math.max(input.argsSize, MISC.SIZE), page);
  const threadArgs = args + argsSize;
  const threadArgsSize = page;
  const stackTop = threadArgs + threadArgsSize + stackSize;
  const threadStackTop = stackTop + stackSize;
  const frameSize = up(input.frameSize, input.frameAlign);
  const frame = up(threadStackTop, input.frameAlign);
  const threadFrame = frame + frameSize;
  const size = up(threadFrame + frameSize, page);
  return { size, blob, ctl, threadCtl, args, argsSize, threadArgs, threadArgsSize, stackTop, threadStackTop, frame, threadFrame, frameSize };
}
