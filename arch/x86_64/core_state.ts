/**
 * x86_64 thread state in CRIU's image form (thread_info_x86) and back: general registers
 * (user_regs_struct ↔ user_x86_regs_entry), the XSAVE area of NT_X86_XSTATE (standard,
 * non-compacted format ↔ user_x86_fpregs_entry with its xsave part), and the TLS descriptors.
 *
 * Which XSAVE components go into the image: the legacy FXSAVE area always; AVX, AVX-512 opmask,
 * ZMM_Hi256 and Hi16_ZMM whenever the task's XCR0 has them (as CRIU writes them); MPX bound
 * registers and PKRU only when their state is not the initial one (bit set in xstate_bv), so
 * nothing non-default is lost while images of ordinary tasks look like CRIU's.
 */
import type { Regs } from '../arch_ops.js';
import type { UserDescT, UserX86FpregsEntry, UserX86RegsEntry, UserX86XsaveEntry } from '../../src/images/generated/types.js';

/** Image field name → user_regs_struct name, in the image's field order. */
const GPREG_NAMES: ReadonlyArray<readonly [keyof UserX86RegsEntry, string]> = [
  ['r15', 'r15'], ['r14', 'r14'], ['r13', 'r13'], ['r12', 'r12'], ['bp', 'rbp'], ['bx', 'rbx'],
  ['r11', 'r11'], ['r10', 'r10'], ['r9', 'r9'], ['r8', 'r8'], ['ax', 'rax'], ['cx', 'rcx'], ['dx', 'rdx'],
  ['si', 'rsi'], ['di', 'rdi'], ['orig_ax', 'orig_rax'], ['ip', 'rip'], ['cs', 'cs'], ['flags', 'eflags'],
  ['sp', 'rsp'], ['ss', 'ss'], ['fs_base', 'fs_base'], ['gs_base', 'gs_base'], ['ds', 'ds'], ['es', 'es'],
  ['fs', 'fs'], ['gs', 'gs'],
];

const NATIVE = 1;

/** user_regs_struct → user_x86_regs_entry (a 64-bit task). */
export function gpregsToImage(regs: Regs): UserX86RegsEntry {
  const out: Record<string, bigint | number> = {};
  for (const [image, kernel] of GPREG_NAMES) out[image] = BigInt.asUintN(64, regs[kernel] ?? 0n);
  out['mode'] = NATIVE;
  return out as unknown as UserX86RegsEntry;
}

/** user_x86_regs_entry → user_regs_struct. */
export function gpregsFromImage(entry: UserX86RegsEntry): Regs {
  const out: Record<string, bigint> = {};
  for (const [image, kernel] of GPREG_NAMES) out[kernel] = entry[image] as bigint;
  return out;
}

/** XSAVE feature bits and their places in the standard (non-compacted) format. */
const XFEATURE = { FP: 0, SSE: 1, YMM: 2, BNDREGS: 3, BNDCSR: 4, OPMASK: 5, ZMM_HI256: 6, HI16_ZMM: 7, PKRU: 9 } as const;
const COMPONENT: Record<number, { offset: number; size: number }> = {
  [XFEATURE.YMM]: { offset: 576, size: 256 },
  [XFEATURE.BNDREGS]: { offset: 960, size: 64 },
  [XFEATURE.BNDCSR]: { offset: 1024, size: 64 },
  [XFEATURE.OPMASK]: { offset: 1088, size: 64 },
  [XFEATURE.ZMM_HI256]: { offset: 1152, size: 512 },
  [XFEATURE.HI16_ZMM]: { offset: 1664, size: 1024 },
  [XFEATURE.PKRU]: { offset: 2688, size: 8 },
};
const XSAVE_HEADER = 512;
/**
 * In the NT_X86_XSTATE regset the kernel puts the task's XCR0 in the first word of the FXSAVE
 * area's software-reserved bytes (struct user_xstateregs: xstate_fx_sw[USER_XSTATE_XCR0_WORD]).
 */
const XCR0_WORD = 464;

/** The features the task's XCR0 enables. */
export function xstateFeatures(xstate: Uint8Array): bigint {
  const view = new DataView(xstate.buffer, xstate.byteOffset, xstate.byteLength);
  return view.getBigUint64(XCR0_WORD, true);
}

const has = (mask: bigint, bit: number) => (mask & (1n << BigInt(bit))) !== 0n;

function u32s(view: DataView, offset: number, count: number): number[] {
  return Array.from({ length: count }, (_, i) => view.getUint32(offset + i * 4, true));
}

function u64s(view: DataView, offset: number, count: number): bigint[] {
  return Array.from({ length: count }, (_, i) => view.getBigUint64(offset + i * 8, true));
}

/** NT_X86_XSTATE bytes → user_x86_fpregs_entry. */
export function xstateToImage(xstate: Uint8Array): UserX86FpregsEntry {
  const v = new DataView(xstate.buffer, xstate.byteOffset, xstate.byteLength);
  const entry: UserX86FpregsEntry = {
    cwd: v.getUint16(0, true),
    swd: v.getUint16(2, true),
    twd: v.getUint16(4, true),
    fop: v.getUint16(6, true),
    rip: v.getBigUint64(8, true),
    rdp: v.getBigUint64(16, true),
    mxcsr: v.getUint32(24, true),
    mxcsr_mask: v.getUint32(28, true),
    st_space: u32s(v, 32, 32),
    xmm_space: u32s(v, 160, 64),
  };
  if (xstate.length <= XSAVE_HEADER) return entry;
  const features = xstateFeatures(xstate);
  const bv = v.getBigUint64(XSAVE_HEADER, true);
  const xsave: UserX86XsaveEntry = { xstate_bv: bv };
  const part = (bit: number) => COMPONENT[bit]!;
  const present = (bit: number) => has(features, bit) && part(bit).offset + part(bit).size <= xstate.length;
  if (present(XFEATURE.YMM)) xsave.ymmh_space = u32s(v, part(XFEATURE.YMM).offset, 64);
  if (present(XFEATURE.BNDREGS) && has(bv, XFEATURE.BNDREGS)) xsave.bndreg_state = u64s(v, part(XFEATURE.BNDREGS).offset, 8);
  if (present(XFEATURE.BNDCSR) && has(bv, XFEATURE.BNDCSR)) xsave.bndcsr_state = u64s(v, part(XFEATURE.BNDCSR).offset, 2);
  if (present(XFEATURE.OPMASK)) xsave.opmask_reg = u64s(v, part(XFEATURE.OPMASK).offset, 8);
  if (present(XFEATURE.ZMM_HI256)) xsave.zmm_upper = u64s(v, part(XFEATURE.ZMM_HI256).offset, 64);
  if (present(XFEATURE.HI16_ZMM)) xsave.hi16_zmm = u64s(v, part(XFEATURE.HI16_ZMM).offset, 128);
  if (present(XFEATURE.PKRU) && has(bv, XFEATURE.PKRU)) xsave.pkru = u32s(v, part(XFEATURE.PKRU).offset, 2);
  xsave.cet = { cet: 0n, ssp: 0n }; // user shadow stack state travels in its own regset
  entry.xsave = xsave;
  return entry;
}

/**
 * user_x86_fpregs_entry → NT_X86_XSTATE bytes of `size` bytes (the size this machine's kernel
 * uses): the legacy area, the header's xstate_bv (components absent from the image are left in
 * their initial state) and each component the image holds.
 */
export function xstateFromImage(entry: UserX86FpregsEntry, size: number): Uint8Array {
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint16(0, entry.cwd, true);
  v.setUint16(2, entry.swd, true);
  v.setUint16(4, entry.twd, true);
  v.setUint16(6, entry.fop, true);
  v.setBigUint64(8, entry.rip, true);
  v.setBigUint64(16, entry.rdp, true);
  v.setUint32(24, entry.mxcsr, true);
  v.setUint32(28, entry.mxcsr_mask, true);
  (entry.st_space ?? []).forEach((w, i) => v.setUint32(32 + i * 4, w, true));
  (entry.xmm_space ?? []).forEach((w, i) => v.setUint32(160 + i * 4, w, true));
  const xsave = entry.xsave;
  if (xsave === undefined || size <= XSAVE_HEADER) return out;
  let bv = xsave.xstate_bv & 3n; // x87 and SSE come from the legacy area
  const put32 = (bit: number, words: number[] | undefined) => {
    if (!words || COMPONENT[bit]!.offset + words.length * 4 > size) return;
    words.forEach((w, i) => v.setUint32(COMPONENT[bit]!.offset + i * 4, w, true));
    if (has(xsave.xstate_bv, bit)) bv |= 1n << BigInt(bit);
  };
  const put64 = (bit: number, words: bigint[] | undefined) => {
    if (!words || COMPONENT[bit]!.offset + words.length * 8 > size) return;
    words.forEach((w, i) => v.setBigUint64(COMPONENT[bit]!.offset + i * 8, w, true));
    if (has(xsave.xstate_bv, bit)) bv |= 1n << BigInt(bit);
  };
  put32(XFEATURE.YMM, xsave.ymmh_space);
  put64(XFEATURE.BNDREGS, xsave.bndreg_state);
  put64(XFEATURE.BNDCSR, xsave.bndcsr_state);
  put64(XFEATURE.OPMASK, xsave.opmask_reg);
  put64(XFEATURE.ZMM_HI256, xsave.zmm_upper);
  put64(XFEATURE.HI16_ZMM, xsave.hi16_zmm);
  put32(XFEATURE.PKRU, xsave.pkru);
  v.setBigUint64(XSAVE_HEADER, bv, true);
  return out;
}

/** The three GDT TLS slots of x86 (GDT_ENTRY_TLS_MIN = 12) as user_desc_t, from 16-byte user_desc. */
export function tlsToImage(descs: Uint8Array[]): UserDescT[] {
  return descs.map((d) => {
    const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
    const bits = v.getUint32(12, true);
    const bit = (n: number) => ((bits >> n) & 1) === 1;
    return {
      entry_number: v.getUint32(0, true),
      base_addr: v.getUint32(4, true),
      limit: v.getUint32(8, true),
      seg_32bit: bit(0),
      contents_h: bit(2),
      contents_l: bit(1),
      read_exec_only: bit(3),
      limit_in_pages: bit(4),
      seg_not_present: bit(5),
      usable: bit(6),
    };
  });
}
