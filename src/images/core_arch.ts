/**
 * Which machine a core image was dumped on, and a guard against restoring it on another one.
 * core_entry.mtype names the machine; the thread state sits in the field of that arch
 * (thread_info for x86_64, ti_aarch64 for aarch64).
 */
import { ImageError } from './errors.js';
import type { Image } from './framing.js';
import { CoreEntryMarch } from './generated/types.js';

export type CoreMachine = keyof typeof CoreEntryMarch;

const THREAD_INFO_FIELD: Partial<Record<CoreMachine, string>> = {
  X86_64: 'thread_info',
  AARCH64: 'ti_aarch64',
};

/** The machine of a decoded core image. */
export function coreMachine(image: Image): CoreMachine {
  const mtype = image.entries[0]?.message['mtype'];
  const entry = Object.entries(CoreEntryMarch).find(([, v]) => v === mtype);
  return (entry?.[0] ?? 'UNKNOWN') as CoreMachine;
}

/** Throws IMG_WRONG_ARCH unless `image` is a core image of `machine` with its thread state. */
export function checkCoreMachine(image: Image, machine: CoreMachine, file: string): void {
  const found = coreMachine(image);
  if (found !== machine) {
    throw new ImageError('IMG_WRONG_ARCH', { file }, `the task was dumped on ${found}, this machine is ${machine}`);
  }
  const field = THREAD_INFO_FIELD[machine];
  if (field === undefined || image.entries[0]!.message[field] === undefined) {
    throw new ImageError('IMG_WRONG_ARCH', { file }, `the core image has no ${machine} thread state`);
  }
}
