/*
 * An inotify instance for the fd-dump tests; argv[1] is a directory to work in.
 *   fd 3: inotify_init1(IN_NONBLOCK|IN_CLOEXEC) watching
 *     DIR/watched      IN_CREATE|IN_DELETE|IN_ONLYDIR
 *     DIR/watched/file IN_MODIFY|IN_CLOSE_WRITE
 *     /dev/null        IN_ATTRIB (on devtmpfs)
 * Prints "wd <wd> <path>" for each, signals ready, and on SIGTERM creates DIR/watched/new and
 * writes DIR/watched/file, reads the events (IN_CREATE "new" on the first watch, IN_MODIFY on the
 * second) and prints PASS.
 * With argv[2] "gap": a watch on DIR is added and removed between the second and the third, so the
 * numbers are 1, 2, 4 (the kernel does not reuse 3): restore must give them back as they were.
 * With argv[2] "deleted": also watches /dev/shm/criu-ts-inotify-PID (IN_ATTRIB), kept open, then
 * unlinks it: the watch keeps an inode that no path leads to any more, on tmpfs.
 */
#include "common.h"
#include <sys/inotify.h>
#include <sys/stat.h>

static int watch(int fd, const char *path, uint32_t mask)
{
	int wd = inotify_add_watch(fd, path, mask);
	if (wd < 0) {
		perror(path);
		exit(4);
	}
	say("wd %d %s\n", wd, path);
	return wd;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	catch_term();
	char dir[4096], file[4200], made[4200], gone[256];
	snprintf(dir, sizeof dir, "%s/watched", argv[1]);
	snprintf(file, sizeof file, "%s/file", dir);
	snprintf(made, sizeof made, "%s/new", dir);
	if (mkdir(dir, 0755) || close(open(file, O_CREAT | O_WRONLY, 0644)))
		return 3;
	if (inotify_init1(IN_NONBLOCK | IN_CLOEXEC) != 3)
		return 3;
	int wd_dir = watch(3, dir, IN_CREATE | IN_DELETE | IN_ONLYDIR);
	int wd_file = watch(3, file, IN_MODIFY | IN_CLOSE_WRITE);
	if (argc > 2 && strcmp(argv[2], "gap") == 0) {
		int gone = inotify_add_watch(3, argv[1], IN_ATTRIB);
		if (gone < 0 || inotify_rm_watch(3, gone))
			return 7;
	}
	watch(3, "/dev/null", IN_ATTRIB);
	if (argc > 2 && strcmp(argv[2], "deleted") == 0) {
		snprintf(gone, sizeof gone, "/dev/shm/criu-ts-inotify-%d", (int)getpid());
		if (open(gone, O_CREAT | O_WRONLY, 0644) < 0) /* kept open: the watch lives on */
			return 6;
		watch(3, gone, IN_ATTRIB);
		unlink(gone);
	}
	signal_ready();
	while (!terminated)
		pause();

	char buf[4096] __attribute__((aligned(8)));
	while (read(3, buf, sizeof buf) > 0) /* events before SIGTERM are not ours to check */
		;
	int f = open(made, O_CREAT | O_WRONLY, 0644);
	close(f);
	f = open(file, O_WRONLY);
	if (write(f, "x", 1) != 1)
		return 5;
	close(f);
	int created = 0, modified = 0;
	ssize_t n = read(3, buf, sizeof buf);
	for (char *p = buf; n > 0 && p < buf + n;) {
		struct inotify_event *ev = (struct inotify_event *)p;
		if (ev->wd == wd_dir && (ev->mask & IN_CREATE) && ev->len && strcmp(ev->name, "new") == 0)
			created = 1;
		if (ev->wd == wd_file && (ev->mask & IN_MODIFY))
			modified = 1;
		p += sizeof *ev + ev->len;
	}
	if (!created || !modified) {
		say("FAIL: created %d modified %d\n", created, modified);
		return 1;
	}
	say("PASS\n");
	return 0;
}
