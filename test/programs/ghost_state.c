/*
 * Files deleted while open, for the fd-dump tests; argv[1] is a directory to work in.
 *   fd 3: DIR/small, 100 bytes of a pattern, O_RDWR, at offset 7, then unlinked
 *   fd 4: DIR/small again, opened read-only through /proc/self/fd/3 (same inode, another open file)
 *   fd 5: DIR/big, write-only: 5000 bytes at 0 and 3000 at 200000 in a 1 MiB sparse file, unlinked
 *   fd 6: DIR/gone-dir, a directory opened and removed
 * Prints the data extents of the big file as SEEK_DATA/SEEK_HOLE find them ("extent <off> <len>")
 * and "ready", signals ready, and on SIGTERM checks both files' contents and prints PASS.
 * With argv[2] "toobig": DIR/huge, 2 MiB of data, opened and unlinked at fd 7 (over the ghost
 * limit).
 */
#include "common.h"
#include <sys/stat.h>

static unsigned char pat(long off) { return (unsigned char)(off * 13 + 1); }

static int fill(int fd, long off, long len)
{
	unsigned char buf[4096];
	for (long done = 0; done < len;) {
		long n = len - done > 4096 ? 4096 : len - done;
		for (long i = 0; i < n; i++)
			buf[i] = pat(off + done + i);
		if (pwrite(fd, buf, n, off + done) != n)
			return -1;
		done += n;
	}
	return 0;
}

static int check(int fd, long off, long len)
{
	unsigned char c;
	for (long i = 0; i < len; i++)
		if (pread(fd, &c, 1, off + i) != 1 || c != pat(off + i))
			return -1;
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	catch_term();
	char small[4096], big[4096], dir[4096], huge[4096], self[64];
	snprintf(small, sizeof small, "%s/small", argv[1]);
	snprintf(big, sizeof big, "%s/big", argv[1]);
	snprintf(dir, sizeof dir, "%s/gone-dir", argv[1]);
	snprintf(huge, sizeof huge, "%s/huge", argv[1]);
	if (open(small, O_RDWR | O_CREAT, 0640) != 3 || fill(3, 0, 100) || lseek(3, 7, SEEK_SET) != 7)
		return 3;
	if (open("/proc/self/fd/3", O_RDONLY) != 4 || unlink(small))
		return 4;
	if (open(big, O_WRONLY | O_CREAT, 0600) != 5 || ftruncate(5, 1 << 20) || fill(5, 0, 5000) || fill(5, 200000, 3000) || unlink(big))
		return 5;
	if (mkdir(dir, 0750) || open(dir, O_RDONLY | O_DIRECTORY) != 6 || rmdir(dir))
		return 6;
	if (argc > 2 && strcmp(argv[2], "toobig") == 0) {
		if (open(huge, O_RDWR | O_CREAT, 0600) != 7 || fill(7, 0, 2 << 20) || unlink(huge))
			return 7;
	}
	snprintf(self, sizeof self, "/proc/self/fd/5");
	int rd = open(self, O_RDONLY);
	for (off_t hole = 0, data; (data = lseek(rd, hole, SEEK_DATA)) >= 0; ) {
		hole = lseek(rd, data, SEEK_HOLE);
		say("extent %ld %ld\n", (long)data, (long)(hole - data));
	}
	close(rd);
	say("ready\n");
	signal_ready();
	while (!terminated)
		pause();

	rd = open(self, O_RDONLY);
	if (check(3, 0, 100) || check(4, 0, 100) || check(rd, 0, 5000) || check(rd, 200000, 3000) || lseek(3, 0, SEEK_CUR) != 7) {
		say("FAIL: contents\n");
		return 1;
	}
	say("PASS\n");
	return 0;
}
