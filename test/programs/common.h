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

/*
 * Blocks `sig` in this thread and returns the mask to wait in (the old one without `sig`), for
 * wait_flag(). A `while (!flag) pause()` loses a signal that lands between the check and pause(),
 * a window a checkpoint widens (a task stopped inside pause() resumes by re-executing it);
 * sigsuspend() with the signal blocked outside it cannot.
 */
__attribute__((unused)) static sigset_t block_for_wait(int sig) {
  sigset_t one, waitmask;
  sigemptyset(&one);
  sigaddset(&one, sig);
  pthread_sigmask(SIG_BLOCK, &one, &waitmask);
  sigdelset(&waitmask, sig);
  return waitmask;
}

/* Sleeps in sigsuspend(`waitmask`) until a handler sets `*flag`. */
__attribute__((unused)) static void wait_flag(volatile sig_atomic_t *flag, const sigset_t *waitmask) {
  while (!*flag) sigsuspend(waitmask);
}
#endif
