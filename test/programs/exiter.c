/* Signals ready and exits at once (a root that is gone by the time it is frozen). */
#include "common.h"

int main(void) {
  signal_ready();
  return 0;
}
