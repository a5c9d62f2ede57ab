/* Installs a seccomp filter that makes getppid() fail with EPERM (everything else allowed), then
 * spins. A remote getppid() fails in this task unless seccomp is suspended for the tracer. */
#include "common.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>

int main(void) {
  struct sock_filter code[] = {
    BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
    BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
    BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog prog = { sizeof code / sizeof code[0], code };
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
    say("FAIL seccomp: %s\n", strerror(errno));
    return 2;
  }
  if (syscall(SYS_getppid) != -1 || errno != EPERM) { say("FAIL filter not active\n"); return 2; }
  catch_term();
  signal_ready();
  while (!terminated) {}
  say("PASS\n");
  return 0;
}
