/**
 * The owner of an open file (who gets SIGIO): F_GETOWN_EX, F_GETSIG and F_GETOWNER_UIDS on a
 * local copy of the descriptor (the owner belongs to the open file description, which the copy
 * shares).
 */
import type { FownEntry } from '../../images/generated/types.js';
import { isSysError, syscall } from '../../sys/index.js';

const F_GETSIG = 11;
const F_GETOWN_EX = 16;
const F_GETOWNER_UIDS = 17;

/** The fown of the file behind local fd `fd`. */
export function readFown(fd: number): FownEntry {
  const owner = new Int32Array(2); // struct f_owner_ex { int type; pid_t pid; }
  syscall('fcntl', fd, F_GETOWN_EX, owner);
  const signum = Number(syscall('fcntl', fd, F_GETSIG, 0));
  const uids = new Uint32Array(2);
  try {
    syscall('fcntl', fd, F_GETOWNER_UIDS, uids);
  } catch (err) {
    // Only kernels with CONFIG_CHECKPOINT_RESTORE have it; without an owner the uids are 0 anyway.
    if (!isSysError(err, 'EINVAL')) throw err;
  }
  return { uid: uids[0]!, euid: uids[1]!, signum, pid_type: owner[0]!, pid: owner[1]! };
}

/** The fown of a file nobody owns (mapped files, cwd, root). */
export const NO_FOWN: FownEntry = { uid: 0, euid: 0, signum: 0, pid_type: 0, pid: 0 };
