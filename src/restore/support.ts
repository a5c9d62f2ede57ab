/**
 * What this restore can bring back, checked on the plan before any task is touched: anything else
 * is `RESTORE_UNSUPPORTED`, naming the task, the image and the object.
 */
import { FdTypes } from '../images/generated/types.js';
import { imageFileName } from '../images/image_files.js';
import { VMA } from './constants.js';
import { RestoreError } from './errors.js';
import { checkRemaps } from './files/ghost.js';
import { checkSeccomp } from './seccomp.js';
import { planBirths } from './births.js';
import { checkSharing, shareFlags } from './shared.js';
import type { RestorePlan, TaskPlan } from './plan.js';

/** The fd kinds restore opens (src/restore/files). */
export const SUPPORTED_FD_TYPES: ReadonlySet<number> = new Set([
  FdTypes.REG, FdTypes.PIPE, FdTypes.FIFO, FdTypes.EVENTFD, FdTypes.SIGNALFD, FdTypes.TIMERFD, FdTypes.EVENTPOLL, FdTypes.MEMFD,
  FdTypes.UNIXSK, FdTypes.INOTIFY, FdTypes.TTY,
  FdTypes.INETSK,
  FdTypes.PACKETSK, FdTypes.NETLINKSK,
]);

const FD_TYPE_NAME = new Map<number, string>(Object.entries(FdTypes).map(([k, v]) => [v, k]));

const UNSUPPORTED_VMA: ReadonlyArray<[number, string]> = [
  [VMA.AREA_SYSVIPC, 'SysV shared memory'],
  [VMA.AREA_SOCKET, 'a packet socket ring'],
  [VMA.AREA_AIORING, 'an AIO ring'],
  [VMA.AREA_MEMFD, 'a memfd mapping'],
  [VMA.UNSUPP, 'an area CRIU could not classify'],
];

/** Throws RESTORE_UNSUPPORTED for the first thing of the plan restore cannot do. */
export function checkSupported(plan: RestorePlan): void {
  const root = plan.root;
  // A shell job's root (not its session's leader) moved into criu-ts's session (src/restore/shell_job.ts).
  if (plan.shellJob === undefined && (root.sid !== root.pid || root.pgid !== root.pid)) {
    throw new RestoreError('RESTORE_UNSUPPORTED', `The root task ${root.pid} is not the leader of its session and process group (sid ${root.sid}, pgid ${root.pgid}): it was a job of a shell, restore it with --shell-job`, { pid: root.pid, image: 'pstree.img' });
  }
  checkRemaps(plan);
  checkSharing(plan);
  checkBirths(plan);
  for (const task of plan.tasks) {
    if (task.zombie) continue;
    checkTask(plan, task);
  }
}

const SIGEV_THREAD_ID = 4;

function unsupported(task: TaskPlan, image: string, what: string): never {
  throw new RestoreError('RESTORE_UNSUPPORTED', `Task ${task.pid} (${image}): ${what}`, { pid: task.pid, image });
}

/**
 * Sessions and groups the birth of the tree can make (src/restore/births.ts); a task made by
 * another than its parent (an adopted one) cannot share its fd table or fs with that parent.
 */
function checkBirths(plan: RestorePlan): void {
  for (const b of planBirths(plan).births) {
    if (b.task !== undefined && b.creator !== 0 && b.creator !== b.task.ppid && shareFlags(plan, b.task) !== 0n) {
      unsupported(b.task, imageFileName('ids', b.pid), `it was adopted by its parent ${b.task.ppid} and shares its fd table or fs with it, which cannot be made again`);
    }
  }
}

function checkTask(plan: RestorePlan, task: TaskPlan): void {
  const leaderCore = task.threads[0]!;
  for (const timer of leaderCore.core.tc?.timers?.posix ?? []) {
    const tid = timer.notify_thread_id;
    if (timer.it_sigev_notify === SIGEV_THREAD_ID && !task.threads.some((t) => t.tid === tid)) {
      unsupported(task, leaderCore.image, `POSIX timer ${timer.it_id} signals thread ${tid ?? '(none)'}, which is not a thread of the task`);
    }
  }
  for (const t of task.threads) {
    const mode = t.core.thread_info?.gpregs.mode;
    if (mode !== undefined && mode !== 1) unsupported(task, t.image, `thread ${t.tid} runs 32-bit (compat) code, which is not restored`);
  }
  checkSeccomp(plan, task);
  const mmImage = imageFileName('mm', task.pid);
  for (const vma of task.mm!.vmas ?? []) {
    for (const [bit, what] of UNSUPPORTED_VMA) {
      if (vma.status & bit) unsupported(task, mmImage, `the area 0x${vma.start.toString(16)}-0x${vma.end.toString(16)} is ${what}, which is not restored yet`);
    }
    if (vma.status & (VMA.FILE_PRIVATE | VMA.FILE_SHARED)) {
      const file = plan.files.get(Number(vma.shmid));
      if (file?.reg === undefined) unsupported(task, mmImage, `the area 0x${vma.start.toString(16)} maps file ${vma.shmid}, which is not a regular file in files.img`);
    }
  }
  const fdImage = imageFileName('fdinfo', task.ids!.files_id);
  for (const fd of task.fds!) {
    const file = plan.files.get(fd.id);
    if (file === undefined) unsupported(task, fdImage, `fd ${fd.fd} refers to file ${fd.id}, which files.img does not have`);
    if (!SUPPORTED_FD_TYPES.has(file.type) || file.type !== fd.type) {
      unsupported(task, fdImage, `fd ${fd.fd} is a ${FD_TYPE_NAME.get(file.type) ?? `type ${file.type}`} file, which restore cannot open yet`);
    }
    if (file.fifo !== undefined && plan.files.get(file.fifo.regf_id ?? -1)?.reg === undefined) unsupported(task, fdImage, `fd ${fd.fd} is a fifo without its path in files.img`);
    if (file.memfd !== undefined) {
      const inode = plan.memfds.get(file.memfd.inode_id);
      if (inode === undefined) unsupported(task, fdImage, `fd ${fd.fd} is memfd inode ${file.memfd.inode_id}, which memfd.img does not have`);
      if ((inode.hugetlb_flag ?? 0) !== 0) unsupported(task, 'memfd.img', `fd ${fd.fd} is a hugetlbfs memfd, which is not restored`);
    }
  }
  for (const id of [task.fs!.cwd_id, task.fs!.root_id, task.mm!.exe_file_id]) {
    if (plan.files.get(id)?.reg === undefined) unsupported(task, imageFileName('fs', task.pid), `file ${id} (cwd, root or exe) is not a regular file in files.img`);
  }
  const root = plan.files.get(task.fs!.root_id)!.reg!.name;
  if (root !== '/') unsupported(task, imageFileName('fs', task.pid), `its root is ${root}: restoring a chroot is not supported yet`);
}
