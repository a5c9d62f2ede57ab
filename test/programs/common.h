/* Shared by the ptrace/remote test programs: signal readiness, SIGTERM as "verify and finish". */
#ifndef CRIU_TS_TEST_COMMON_H
#define CRIU_TS_TEST_COMMON_H
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t terminated;

__attribute__((unused)) static void on_term(int sig) { (void)sig; terminated = 1; }

/* SIGTERM sets `terminated` (no SA_RESTART: blocking calls return EINTR). */
__attribute__((unused)) static void catch_term(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
}

/* Writes "ready <pid>\n" to $READY_FILE (through a rename, so the harness never sees half a line). */
__attribute__((unused)) static void signal_ready(void) {
  const char *path = getenv("READY_FILE");
  if (path == NULL) return;
  char tmp[4096];
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  FILE *f = fopen(tmp, "w");
  if (f == NULL) { perror("ready"); exit(2); }
  fprintf(f, "ready %d\n", (int)getpid());
  fclose(f);
  rename(tmp, path);
}

__attribute__((unused)) static int64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

__attribute__((unused, format(printf, 1, 2))) static void say(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  fflush(stdout);
}
#endif
