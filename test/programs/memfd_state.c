/*
 * memfds for the fd-dump tests:
 *   fd 3: memfd "criu-ts memfd" (MFD_ALLOW_SEALING|MFD_CLOEXEC), 45156 bytes: pages 0-1 written
 *         with a pattern, page 10 with 100 bytes at 40960, the rest a hole; sealed
 *         F_SEAL_SHRINK|F_SEAL_GROW; mode 0640; at offset 1234
 *   fd 4: the same memfd opened again read-only through /proc/self/fd/3 (another open file)
 *   fd 5: memfd "mapped", 8192 bytes of 0x5a, also mapped MAP_SHARED (dumped with the mapping)
 *   fd 6: memfd "empty", nothing written
 * Prints "memfd <size>", signals ready, and on SIGTERM checks the contents, seals and offset of
 * fd 3 and the mapping, and prints PASS.
 */
#include "common.h"
#include <sys/mman.h>
#include <sys/stat.h>

#define SIZE (40960 + 100 + 4096)

static unsigned char byte_at(long off) { return (unsigned char)(off * 7 + 3); }

int main(void)
{
	catch_term();
	if (memfd_create("criu-ts memfd", MFD_ALLOW_SEALING | MFD_CLOEXEC) != 3)
		return 3;
	unsigned char buf[8192];
	for (long i = 0; i < 8192; i++)
		buf[i] = byte_at(i);
	if (ftruncate(3, SIZE) || pwrite(3, buf, 8192, 0) != 8192)
		return 3;
	for (long i = 0; i < 100; i++)
		buf[i] = byte_at(40960 + i);
	if (pwrite(3, buf, 100, 40960) != 100 || fchmod(3, 0640) || fcntl(3, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW))
		return 3;
	lseek(3, 1234, SEEK_SET);
	if (open("/proc/self/fd/3", O_RDONLY) != 4)
		return 4;
	if (memfd_create("mapped", 0) != 5 || ftruncate(5, 8192))
		return 5;
	unsigned char *map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, 5, 0);
	if (map == MAP_FAILED)
		return 5;
	memset(map, 0x5a, 8192);
	if (memfd_create("empty", 0) != 6)
		return 6;
	say("memfd %d\n", SIZE);
	signal_ready();
	while (!terminated)
		pause();

	unsigned char got[SIZE];
	if (pread(3, got, SIZE, 0) != SIZE)
		return 7;
	for (long i = 0; i < SIZE; i++) {
		int data = i < 8192 || (i >= 40960 && i < 41060);
		if (got[i] != (data ? byte_at(i) : 0)) {
			say("FAIL: byte %ld\n", i);
			return 1;
		}
	}
	if (fcntl(3, F_GET_SEALS) != (F_SEAL_SHRINK | F_SEAL_GROW) || lseek(3, 0, SEEK_CUR) != 1234 || map[8191] != 0x5a) {
		say("FAIL: seals, offset or mapping\n");
		return 1;
	}
	say("PASS\n");
	return 0;
}
