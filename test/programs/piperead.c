/* Blocks in read() on the FIFO argv[1] (opened O_RDWR so that open does not wait for a writer).
 * Prints "got <data>" when data arrives, then waits for SIGTERM and prints PASS; FAIL if read()
 * returned an error or nothing. */
#include "common.h"

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int fd = open(argv[1], O_RDWR);
  if (fd < 0) { say("FAIL open: %s\n", strerror(errno)); return 2; }
  catch_term();
  signal_ready();
  char buf[256];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  if (n <= 0) { say("FAIL read %zd: %s\n", n, strerror(errno)); return 1; }
  buf[n] = 0;
  say("got %s\n", buf);
  while (!terminated) pause();
  say("PASS\n");
  return 0;
}
