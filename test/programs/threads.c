/* Several threads: argv[1] spinners (counting), two waiting on a condition variable (futex), two
 * blocked in read() on a pipe; main sleeps. On SIGTERM checks every spinner counted and prints
 * "PASS <threads>". Ready once every thread runs. */
#include "common.h"
#include <pthread.h>

#define MAX_SPIN 16
static volatile uint64_t counters[MAX_SPIN];
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int started, pipefd[2];

static void up(void) { pthread_mutex_lock(&mu); started++; pthread_mutex_unlock(&mu); }

static void *spin(void *arg) {
  volatile uint64_t *c = arg;
  up();
  for (;;) (*c)++;
  return NULL;
}

static void *waiter(void *arg) {
  (void)arg;
  pthread_mutex_lock(&mu);
  started++;
  for (;;) pthread_cond_wait(&cv, &mu);
  return NULL;
}

static void *reader(void *arg) {
  (void)arg;
  char c;
  up();
  for (;;) if (read(pipefd[0], &c, 1) <= 0 && errno != EINTR) break;
  return NULL;
}

int main(int argc, char **argv) {
  int spinners = argc > 1 ? atoi(argv[1]) : 2;
  if (spinners > MAX_SPIN) spinners = MAX_SPIN;
  pthread_t t;
  if (pipe(pipefd)) return 2;
  catch_term();
  for (int i = 0; i < spinners; i++) pthread_create(&t, NULL, spin, (void *)&counters[i]);
  for (int i = 0; i < 2; i++) pthread_create(&t, NULL, waiter, NULL);
  for (int i = 0; i < 2; i++) pthread_create(&t, NULL, reader, NULL);
  for (;;) {
    pthread_mutex_lock(&mu);
    int n = started;
    pthread_mutex_unlock(&mu);
    if (n == spinners + 4) break;
    usleep(1000);
  }
  signal_ready();
  while (!terminated) { struct timespec ts = { 0, 50000000 }; nanosleep(&ts, NULL); }
  uint64_t before[MAX_SPIN];
  for (int i = 0; i < spinners; i++) before[i] = counters[i];
  /* Each spinner must move on; under load a thread may wait a while for a CPU, so allow 2 s. */
  for (int i = 0; i < spinners; i++) {
    int tries = 0;
    while ((counters[i] == before[i] || counters[i] == 0) && tries++ < 100) usleep(20000);
    if (counters[i] == before[i] || counters[i] == 0) { say("FAIL spinner %d stuck\n", i); return 1; }
  }
  say("PASS %d\n", spinners + 5);
  return 0;
}
