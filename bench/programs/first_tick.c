/*
 * For bench/restore.ts: the time of a restored task's first instruction. It spins reading
 * CLOCK_MONOTONIC; the first time it sees the clock jump by more than 20 ms since its previous
 * read (it was frozen, dumped, killed and restored meanwhile), it writes the new reading, in
 * nanoseconds, over the 32-byte line of argv[1] (so the file keeps its size, which restore
 * checks) and goes on spinning. The restore's own time comes from
 * the same clock (Node's process.hrtime), so the difference is from `criu-ts restore` to the
 * task running its own code again.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The file's one line, padded: "ready" at the start, then a time in nanoseconds. */
#define LINE 32

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return 3;
	char line[LINE + 1];
	snprintf(line, sizeof line, "%-*s\n", LINE - 1, "ready");
	if (write(fd, line, LINE) != LINE)
		return 4;
	int64_t last = now_ns();
	for (;;) {
		int64_t t = now_ns();
		if (t - last > 20000000) {
			snprintf(line, sizeof line, "%-*lld\n", LINE - 1, (long long)t);
			if (pwrite(fd, line, LINE, 0) != LINE)
				return 5;
		}
		last = t;
	}
}
