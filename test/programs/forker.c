/* Forks children continuously (every ~2 ms; every third child forks a grandchild), each child lives
 * 5-30 ms and exits; reaps them without waiting. A second thread creates short-lived threads
 * continuously. Exercises the freeze race: tasks and threads appear and vanish under the tracer. */
#include "common.h"
#include <pthread.h>
#include <sys/wait.h>

static void *nothing(void *arg) { return arg; }

static void *churn(void *arg) {
  (void)arg;
  for (;;) {
    pthread_t t;
    if (pthread_create(&t, NULL, nothing, NULL) == 0) pthread_join(t, NULL);
    usleep(500);
  }
  return NULL;
}

static void child(unsigned n) {
  if (n % 3 == 0 && fork() == 0) { usleep(10000); _exit(0); }
  usleep(5000 + (n * 7919) % 25000);
  _exit(0);
}

int main(void) {
  pthread_t t;
  unsigned n = 0;
  catch_term();
  pthread_create(&t, NULL, churn, NULL);
  signal_ready();
  while (!terminated) {
    pid_t p = fork();
    if (p == 0) child(n);
    n++;
    while (waitpid(-1, NULL, WNOHANG) > 0) {}
    usleep(2000);
  }
  say("PASS %u\n", n);
  return 0;
}
