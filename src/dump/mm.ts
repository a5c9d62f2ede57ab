/** A task's mm image (mm-PID.img): its memory areas and the mm fields restore sets back. */
import type { MmEntry, VmaEntry } from '../images/generated/types.js';
import { readAuxv, type ProcStat } from '../proc/index.js';
import { VMA } from './vmas.js';

export interface MmFacts {
  stat: ProcStat;
  vmas: VmaEntry[];
  exeFileId: number;
  /** From inside the task (parasite MISC): PR_GET_DUMPABLE and PR_GET_THP_DISABLE. */
  dumpable: number | undefined;
  thpDisabled: boolean;
}

/** The mm_entry of task `pid`. */
export function buildMm(pid: number, facts: MmFacts): MmEntry {
  const heap = facts.vmas.find((v) => v.status & VMA.AREA_HEAP);
  const auxv = readAuxv(pid).flatMap(([type, value]) => [type, value]);
  const mm: MmEntry = {
    mm_start_code: facts.stat.startCode,
    mm_end_code: facts.stat.endCode,
    mm_start_data: facts.stat.startData,
    mm_end_data: facts.stat.endData,
    mm_start_stack: facts.stat.startStack,
    mm_start_brk: facts.stat.startBrk,
    // The program break as the kernel keeps it, page-aligned: the end of [heap] (or its start).
    mm_brk: heap?.end ?? facts.stat.startBrk,
    mm_arg_start: facts.stat.argStart,
    mm_arg_end: facts.stat.argEnd,
    mm_env_start: facts.stat.envStart,
    mm_env_end: facts.stat.envEnd,
    exe_file_id: facts.exeFileId,
    mm_saved_auxv: auxv,
    vmas: facts.vmas,
  };
  if (facts.dumpable !== undefined) mm.dumpable = facts.dumpable;
  mm.thp_disabled = facts.thpDisabled;
  return mm;
}
