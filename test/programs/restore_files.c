/*
 * Named pipes and memfds for the restore tests; argv[1] is a fifo path (made by the test).
 *   fd 3: the fifo opened O_RDWR, with "fifo data 123" buffered in it
 *   fd 4: the fifo opened O_WRONLY|O_NONBLOCK (another open file of it)
 *   fd 5: memfd "criu-ts memfd" (MFD_ALLOW_SEALING), 45156 bytes: pages 0-1 a pattern, 100 bytes
 *         at 40960, the rest a hole; mode 0640; sealed F_SEAL_SHRINK|F_SEAL_GROW; at offset 1234
 *   fd 6: the same memfd opened again read-only through /proc/self/fd/5
 *   fd 7: memfd "empty" (no sealing allowed: F_SEAL_SEAL)
 * Signals ready; on SIGTERM checks all of that and prints PASS, or FAIL and what differs.
 */
#include "common.h"
#include <sys/mman.h>
#include <sys/stat.h>

#define SIZE (40960 + 100 + 4096)

static unsigned char byte_at(long off) { return (unsigned char)(off * 7 + 3); }

static int fail(const char *what)
{
	say("FAIL %s\n", what);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	catch_term();
	if (open(argv[1], O_RDWR) != 3 || write(3, "fifo data 123", 13) != 13)
		return 3;
	if (open(argv[1], O_WRONLY | O_NONBLOCK) != 4)
		return 4;
	if (memfd_create("criu-ts memfd", MFD_ALLOW_SEALING) != 5 || ftruncate(5, SIZE))
		return 5;
	unsigned char buf[8192];
	for (long i = 0; i < 8192; i++)
		buf[i] = byte_at(i);
	if (pwrite(5, buf, 8192, 0) != 8192)
		return 5;
	for (long i = 0; i < 100; i++)
		buf[i] = byte_at(40960 + i);
	if (pwrite(5, buf, 100, 40960) != 100 || fchmod(5, 0640) || fcntl(5, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		return 5;
	lseek(5, 1234, SEEK_SET);
	if (open("/proc/self/fd/5", O_RDONLY) != 6 || memfd_create("empty", 0) != 7)
		return 6;
	signal_ready();
	while (!terminated)
		pause();

	char text[32] = { 0 };
	if (read(3, text, sizeof text) != 13 || memcmp(text, "fifo data 123", 13))
		return fail("fifo data");
	if ((fcntl(4, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) != (O_WRONLY | O_NONBLOCK))
		return fail("fifo flags");
	struct stat st;
	if (fstat(5, &st) || st.st_size != SIZE || (st.st_mode & 0777) != 0640)
		return fail("memfd size or mode");
	if (lseek(5, 0, SEEK_CUR) != 1234 || (fcntl(6, F_GETFL) & O_ACCMODE) != O_RDONLY)
		return fail("memfd offset or flags");
	if (fcntl(5, F_GET_SEALS) != (F_SEAL_SHRINK | F_SEAL_GROW) || fcntl(7, F_GET_SEALS) != F_SEAL_SEAL)
		return fail("memfd seals");
	unsigned char back[SIZE];
	if (pread(6, back, SIZE, 0) != SIZE)
		return fail("memfd read");
	for (long i = 0; i < SIZE; i++) {
		unsigned char want = i < 8192 || (i >= 40960 && i < 40960 + 100) ? byte_at(i) : 0;
		if (back[i] != want)
			return fail("memfd contents");
	}
	say("PASS\n");
	return 0;
}
