/**
 * `--shell-job` on restore, as CRIU's prepare_pstree_for_shell_job() does it: a tree whose root
 * did not lead its session was a job of some shell, and comes back as a job of the shell criu-ts
 * runs in. Every task of the root's session moves into criu-ts's session; when the root did not
 * lead its process group either, every task of that group moves into criu-ts's group. The root
 * is then born in that session (src/restore/seed.ts keeps the seed in it) and, when it led its
 * own group, makes a new group there, as a shell's job does. The terminal of the old shell is
 * the one criu-ts runs on (src/restore/files/tty.ts).
 */
import { O, close, dup3, open, syscall, ttyGetTermios } from '../sys/index.js';
import type { RestorePlan } from './plan.js';

/** The session and group of criu-ts that a shell job joins, and those it had. */
export interface ShellSession {
  sid: number;
  pgid: number;
  /** The root's session in the images. */
  fromSid: number;
  /** The root's group in the images, when it was not its own (then moved too). */
  fromPgid?: number;
}

/** `getsid(0)` and `getpgid(0)`: the session and group criu-ts runs in. */
export function ownSession(): { sid: number; pgid: number } {
  return { sid: Number(syscall('getsid', 0)), pgid: Number(syscall('getpgid', 0)) };
}

/**
 * Moves the tree of `plan` into the session (and, when the root did not lead its group, the
 * group) `own`; undefined, and nothing moved, when the root leads its session.
 */
export function joinShellSession(plan: RestorePlan, own = ownSession()): ShellSession | undefined {
  const root = plan.root;
  if (root.sid === root.pid) return undefined;
  const fromSid = root.sid;
  for (const task of plan.tasks) if (task.sid === fromSid) task.sid = own.sid;
  if (root.pgid === root.pid) return { sid: own.sid, pgid: own.pgid, fromSid };
  const fromPgid = root.pgid;
  for (const task of plan.tasks) if (task.pgid === fromPgid) task.pgid = own.pgid;
  return { sid: own.sid, pgid: own.pgid, fromSid, fromPgid };
}

/**
 * Keeps the terminal settings a shell job was given (src/restore/files/tty.ts) after criu-ts
 * exits: Node puts back, at exit, the termios its stdin, stdout and stderr had when it started
 * (when they are still the same files). On `exit`, each of fds 0-2 that is a terminal is pointed
 * at /dev/null first, so Node leaves the terminal as the restored tree has it (as CRIU, a C
 * program, does). Nothing is written after the exit event.
 */
export function keepTerminalSettingsAtExit(): void {
  process.once('exit', () => {
    let nul: number | undefined;
    try {
      for (const fd of [0, 1, 2]) {
        try {
          ttyGetTermios(fd);
        } catch {
          continue; // not a terminal
        }
        nul ??= open('/dev/null', { flags: O.RDWR | O.CLOEXEC });
        dup3(nul, fd);
      }
    } catch {
      // best effort: at worst Node resets the terminal
    } finally {
      if (nul !== undefined) close(nul);
    }
  });
}
