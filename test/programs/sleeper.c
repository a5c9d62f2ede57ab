/* Sleeps in nanosleep (clock_nanosleep) for argv[1] ms at a time and checks every sleep lasted at
 * least that long (an interrupted sleep must be restarted, not cut short). Prints "slept N ms" after
 * each; on SIGTERM prints PASS (or FAIL if a sleep came back short or with an error). */
#include "common.h"

int main(int argc, char **argv) {
  long ms = argc > 1 ? atol(argv[1]) : 100;
  int bad = 0;
  catch_term();
  signal_ready();
  while (!terminated) {
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    int64_t t0 = now_ms();
    int r = nanosleep(&ts, NULL);
    if (r != 0 && !terminated) { say("FAIL nanosleep: %s\n", strerror(errno)); bad = 1; }
    if (terminated) break;
    int64_t dt = now_ms() - t0;
    if (dt < ms) { say("FAIL slept %lld ms of %ld\n", (long long)dt, ms); bad = 1; }
    say("slept %lld ms\n", (long long)dt);
  }
  say(bad ? "FAIL\n" : "PASS\n");
  return bad;
}
