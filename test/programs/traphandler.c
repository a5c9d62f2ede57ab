/* Catches SIGTRAP with a handler that counts, and spins. On SIGTERM checks that the handler is
 * still installed (a forced SIGTRAP would have reset it to SIG_DFL) and prints "PASS traps=N". */
#include "common.h"

static volatile sig_atomic_t traps;
static void on_trap(int sig) { (void)sig; traps++; }

int main(void) {
  struct sigaction sa, now;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_trap;
  sigaction(SIGTRAP, &sa, NULL);
  catch_term();
  signal_ready();
  while (!terminated) {}
  sigaction(SIGTRAP, NULL, &now);
  if (now.sa_handler != on_trap) { say("FAIL handler reset\n"); return 1; }
  say("PASS traps=%d\n", (int)traps);
  return 0;
}
