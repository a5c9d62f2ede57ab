/* Forks a child that exits at once and never reaps it: the child stays a zombie. Ready once it is.
 * Prints "child <pid>". */
#include "common.h"

int main(void) {
  pid_t c = fork();
  if (c == 0) _exit(7);
  char path[64], state = 0;
  snprintf(path, sizeof path, "/proc/%d/stat", (int)c);
  while (state != 'Z') {
    FILE *f = fopen(path, "r");
    if (f == NULL || fscanf(f, "%*d (%*[^)]) %c", &state) != 1) state = 0;
    if (f) fclose(f);
    usleep(1000);
  }
  say("child %d\n", (int)c);
  catch_term();
  signal_ready();
  while (!terminated) pause();
  say("PASS\n");
  return 0;
}
