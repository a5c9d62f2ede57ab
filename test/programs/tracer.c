/* Seizes argv[1] with PTRACE_SEIZE and holds it (never stops it) until killed: a target that is
 * already traced by someone else. */
#include "common.h"
#include <sys/ptrace.h>

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  pid_t pid = atoi(argv[1]);
  if (ptrace(PTRACE_SEIZE, pid, 0, 0) != 0) { say("FAIL seize: %s\n", strerror(errno)); return 1; }
  signal_ready();
  for (;;) pause();
}
