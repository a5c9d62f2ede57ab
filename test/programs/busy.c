/* Spins: advances a 64-bit LCG in a register and, in lock step, through memory, and checks they
 * agree every 2^16 steps (registers or memory changed under it would show). On SIGTERM prints
 * "PASS <steps>" or FAIL. */
#include "common.h"

static volatile uint64_t mem_state = 1;

int main(void) {
  uint64_t reg = 1, steps = 0;
  int bad = 0;
  catch_term();
  signal_ready();
  while (!terminated) {
    reg = reg * 6364136223846793005ULL + 1442695040888963407ULL;
    mem_state = mem_state * 6364136223846793005ULL + 1442695040888963407ULL;
    if ((++steps & 0xffff) == 0 && reg != mem_state) { bad = 1; break; }
  }
  say(bad ? "FAIL at %llu\n" : "PASS %llu\n", (unsigned long long)steps);
  return bad;
}
