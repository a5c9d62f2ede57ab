/**
 * x86_64 `struct rt_sigframe`: the bytes `rt_sigreturn` reads to put a task back exactly as it was
 * (general registers, FPU/AVX state, blocked mask, sigaltstack). The parasite ends every run with
 * rsp = {@link Sigframe.sigreturnSp} and `rt_sigreturn`, so a task returns to its own code even
 * when its driver is gone.
 *
 * Layout (offsets from the frame; the test checks them against the kernel's uapi headers and
 * against a frame the kernel itself wrote):
 *
 *   0    pretcode             (the kernel reads the frame at rsp - 8, so rsp = frame + 8)
 *   8    struct ucontext      uc_flags, uc_link, uc_stack (stack_t), uc_mcontext (struct
 *                             sigcontext, 256 bytes), uc_sigmask (8 bytes): 304 bytes
 *   312  siginfo              128 bytes, unused by rt_sigreturn
 *   448  fpstate              64-byte aligned copy of the task's NT_X86_XSTATE, its
 *                             software-reserved bytes set (FP_XSTATE_MAGIC1, sizes, xfeatures),
 *                             then FP_XSTATE_MAGIC2 right after xstate_size bytes
 *
 * The NT_X86_XSTATE regset keeps XCR0 in the first 8 software-reserved bytes (464..471) instead of
 * the signal-frame words; {@link buildSigframe} writes the signal form.
 */

/** Registers as `NT_PRSTATUS` names them (`user_regs_struct`): the shape of `arch/`'s `Regs`. */
export type X86Regs = Readonly<Record<string, bigint>>;

/** `struct ucontext` (kernel, `asm-generic/ucontext.h`) offsets. */
export const UCONTEXT = Object.freeze({ FLAGS: 0, LINK: 8, STACK: 16, MCONTEXT: 40, SIGMASK: 296, SIZE: 304 });
/** `stack_t` offsets. */
export const STACK_T = Object.freeze({ SP: 0, FLAGS: 8, SIZE: 16, BYTES: 24 });

/** `struct sigcontext` (64-bit, `asm/sigcontext.h`): byte offset of each field. */
export const SIGCONTEXT = Object.freeze({
  r8: 0, r9: 8, r10: 16, r11: 24, r12: 32, r13: 40, r14: 48, r15: 56,
  rdi: 64, rsi: 72, rbp: 80, rbx: 88, rdx: 96, rax: 104, rcx: 112, rsp: 120, rip: 128, eflags: 136,
  cs: 144, gs: 146, fs: 148, ss: 150, err: 152, trapno: 160, oldmask: 168, cr2: 176, fpstate: 184,
  SIZE: 256,
});

/** The general registers a sigcontext carries (8 bytes each). */
const SIGCONTEXT_REGS = ['r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rdi', 'rsi', 'rbp', 'rbx', 'rdx', 'rax', 'rcx', 'rsp', 'rip', 'eflags'] as const;
/** The segment selectors it carries (2 bytes each). */
const SIGCONTEXT_SEGMENTS = ['cs', 'gs', 'fs', 'ss'] as const;

/** Offsets inside the frame. */
export const X86_64_SIGFRAME = Object.freeze({
  PRETCODE: 0,
  UC: 8,
  SIGINFO: 8 + UCONTEXT.SIZE,
  /** `sizeof(struct rt_sigframe)`: what rt_sigreturn checks is accessible. */
  FRAME_SIZE: 8 + UCONTEXT.SIZE + 128,
  /** Where the fpstate starts (64-byte aligned when the frame is). */
  FPSTATE: 448,
  /** rt_sigreturn's stack pointer, from the frame. */
  SIGRETURN_SP: 8,
});

/** The fxsave area's software-reserved bytes (`struct _fpx_sw_bytes`) and the XSAVE header. */
export const FPSTATE = Object.freeze({ LEGACY_SIZE: 512, SW_RESERVED: 464, XSTATE_BV: 512, HEADER_SIZE: 64 });
export const FP_XSTATE_MAGIC1 = 0x46505853;
export const FP_XSTATE_MAGIC2 = 0x46505845;
export const UC_FP_XSTATE = 0x1;
export const UC_SIGCONTEXT_SS = 0x2;
export const UC_STRICT_RESTORE_SS = 0x4;
/** `SS_DISABLE`: no alternate signal stack. */
export const SS_DISABLE = 2;

/** A sigaltstack as `stack_t` holds it. */
export interface AltStack {
  sp: bigint;
  flags: number;
  size: bigint;
}

/** What a frame is built from. */
export interface SigframeInput {
  /**
   * The task's registers. Fix a task stopped inside a syscall up first (`restartForImage`):
   * rt_sigreturn sets orig_rax = -1, so the kernel will not restart anything by itself.
   */
  regs: X86Regs;
  /** The blocked mask to restore: bit n - 1 for signal n (PTRACE_GETSIGMASK). */
  sigmask: bigint;
  /** The task's `NT_X86_XSTATE` regset bytes (512 bytes: an fxsave area only). */
  xstate: Uint8Array;
  /** uc_stack. The parasite overwrites it with the task's own at entry; disabled when absent. */
  altstack?: AltStack;
  /** The task address the frame will be at: a multiple of 64. */
  address: bigint;
}

/** A built frame. */
export interface Sigframe {
  bytes: Uint8Array;
  address: bigint;
  /** The stack pointer for rt_sigreturn: `ctl.sigreturn_sp`. */
  sigreturnSp: bigint;
  /** Task address of the fpstate. */
  fpstate: bigint;
}

/** Bytes a frame needs for an xstate of `xstateSize` bytes (a multiple of 64). */
export function sigframeSize(xstateSize: number): number {
  return roundUp(X86_64_SIGFRAME.FPSTATE + xstateSize + 4, 64);
}

function roundUp(n: number, to: number): number {
  return Math.ceil(n / to) * to;
}

function reg(regs: X86Regs, name: string): bigint {
  const v = regs[name];
  if (v === undefined) throw new RangeError(`The sigframe needs register ${name}`);
  return BigInt.asUintN(64, v);
}

/**
 * Builds the frame. With an XSAVE-format xstate (at least 576 bytes) the fpstate gets the
 * software-reserved words the kernel checks (magic1, extended_size = size + 4, xfeatures = the
 * regset's XCR0, xstate_size = size) and FP_XSTATE_MAGIC2 after it, and uc_flags has
 * UC_FP_XSTATE: rt_sigreturn then restores every user xstate component (AVX, AVX-512, PKRU).
 */
export function buildSigframe(input: SigframeInput): Sigframe {
  if (input.address % 64n !== 0n) throw new RangeError(`A sigframe must be 64-byte aligned, got 0x${input.address.toString(16)}`);
  const xsize = input.xstate.byteLength;
  const xsave = xsize >= FPSTATE.LEGACY_SIZE + FPSTATE.HEADER_SIZE;
  if (!xsave && xsize !== FPSTATE.LEGACY_SIZE) throw new RangeError(`An xstate is 512 bytes or at least 576, got ${xsize}`);
  const bytes = new Uint8Array(sigframeSize(xsize));
  const v = new DataView(bytes.buffer);
  const uc = X86_64_SIGFRAME.UC;
  const mc = uc + UCONTEXT.MCONTEXT;
  const fpAt = X86_64_SIGFRAME.FPSTATE;
  const fpstate = input.address + BigInt(fpAt);

  v.setBigUint64(uc + UCONTEXT.FLAGS, BigInt((xsave ? UC_FP_XSTATE : 0) | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS), true);
  const alt = input.altstack ?? { sp: 0n, flags: SS_DISABLE, size: 0n };
  v.setBigUint64(uc + UCONTEXT.STACK + STACK_T.SP, alt.sp, true);
  v.setInt32(uc + UCONTEXT.STACK + STACK_T.FLAGS, alt.flags, true);
  v.setBigUint64(uc + UCONTEXT.STACK + STACK_T.SIZE, alt.size, true);
  for (const name of SIGCONTEXT_REGS) v.setBigUint64(mc + SIGCONTEXT[name], reg(input.regs, name), true);
  for (const name of SIGCONTEXT_SEGMENTS) v.setUint16(mc + SIGCONTEXT[name], Number(reg(input.regs, name) & 0xffffn), true);
  v.setBigUint64(mc + SIGCONTEXT.fpstate, fpstate, true);
  v.setBigUint64(uc + UCONTEXT.SIGMASK, BigInt.asUintN(64, input.sigmask), true);

  bytes.set(input.xstate, fpAt);
  if (xsave) {
    const sw = fpAt + FPSTATE.SW_RESERVED;
    const xcr0 = new DataView(input.xstate.buffer, input.xstate.byteOffset).getBigUint64(FPSTATE.SW_RESERVED, true);
    bytes.fill(0, sw, sw + 48);
    v.setUint32(sw, FP_XSTATE_MAGIC1, true);
    v.setUint32(sw + 4, xsize + 4, true);
    v.setBigUint64(sw + 8, xcr0, true);
    v.setUint32(sw + 16, xsize, true);
    v.setUint32(fpAt + xsize, FP_XSTATE_MAGIC2, true);
  }
  return { bytes, address: input.address, sigreturnSp: input.address + BigInt(X86_64_SIGFRAME.SIGRETURN_SP), fpstate };
}

/** A frame read back (from our builder, or one the kernel wrote). */
export interface DecodedSigframe {
  ucFlags: bigint;
  altstack: AltStack;
  /** The sigcontext's registers, under `NT_PRSTATUS` names. */
  regs: Record<string, bigint>;
  sigmask: bigint;
  fpstate: bigint;
  /** The fpstate's software-reserved words (magic1 0 for a legacy frame). */
  sw: { magic1: number; extendedSize: number; xfeatures: bigint; xstateSize: number };
}

/** Decodes a frame's bytes (`bytes[0]` is the pretcode). */
export function decodeSigframe(bytes: Uint8Array, address: bigint): DecodedSigframe {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const uc = X86_64_SIGFRAME.UC;
  const mc = uc + UCONTEXT.MCONTEXT;
  const regs: Record<string, bigint> = {};
  for (const name of SIGCONTEXT_REGS) regs[name] = v.getBigUint64(mc + SIGCONTEXT[name], true);
  for (const name of SIGCONTEXT_SEGMENTS) regs[name] = BigInt(v.getUint16(mc + SIGCONTEXT[name], true));
  const fpstate = v.getBigUint64(mc + SIGCONTEXT.fpstate, true);
  const fpAt = Number(fpstate - address);
  const sw = { magic1: 0, extendedSize: 0, xfeatures: 0n, xstateSize: 0 };
  if (fpstate !== 0n && fpAt >= 0 && fpAt + FPSTATE.LEGACY_SIZE <= bytes.byteLength) {
    const at = fpAt + FPSTATE.SW_RESERVED;
    Object.assign(sw, { magic1: v.getUint32(at, true), extendedSize: v.getUint32(at + 4, true), xfeatures: v.getBigUint64(at + 8, true), xstateSize: v.getUint32(at + 16, true) });
  }
  return {
    ucFlags: v.getBigUint64(uc + UCONTEXT.FLAGS, true),
    altstack: {
      sp: v.getBigUint64(uc + UCONTEXT.STACK + STACK_T.SP, true),
      flags: v.getInt32(uc + UCONTEXT.STACK + STACK_T.FLAGS, true),
      size: v.getBigUint64(uc + UCONTEXT.STACK + STACK_T.SIZE, true),
    },
    regs,
    sigmask: v.getBigUint64(uc + UCONTEXT.SIGMASK, true),
    fpstate,
    sw,
  };
}
