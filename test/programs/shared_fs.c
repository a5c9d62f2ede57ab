/*
 * Processes sharing their fd table and fs struct (clone without CLONE_VM), for the restore tests:
 *
 *   main           cwd DIR, umask 022, fd 7 open on DIR/main-file
 *   A = clone(CLONE_FILES | CLONE_FS) by main     shares main's fd table and fs
 *   B = clone(CLONE_FILES) by A                   shares the fd table, its own fs (cwd DIR/b)
 *   C = clone(CLONE_FS) by main                   shares main's fs, its own fd table
 *   D = fork() by main                            shares nothing (cwd /)
 *
 * Usage: shared_fs DIR (with DIR/a and DIR/b made). Prints "tasks A B C D" and signals ready.
 * On SIGTERM main asks each child in turn (SIGUSR1) to open a file and change directory, and
 * checks what it sees: an fd opened by A or B is open in main on the same file, one opened by C
 * or D is not; A's chdir and umask and C's chdir are main's, B's and D's are not. Prints PASS, or
 * FAIL and what differs.
 */
#include "common.h"
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>

static const char *dir;
static int report[2]; /* children write the fd they opened here */
static volatile sig_atomic_t go;
static void on_usr1(int sig) { (void)sig; go = 1; }

static void wait_go(void)
{
	sigset_t waitmask = block_for_wait(SIGUSR1);
	wait_flag(&go, &waitmask);
	go = 0;
}

/* Opens DIR/NAME, changes directory to `to` (and the umask if not 0), reports the fd, waits. */
static void act(const char *name, const char *to, mode_t mask)
{
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	int fd = open(path, O_CREAT | O_RDWR, 0600);
	if (to != NULL && chdir(to))
		_exit(3);
	if (mask)
		umask(mask);
	if (write(report[1], &fd, sizeof fd) != sizeof fd)
		_exit(4);
	for (;;)
		pause();
}

static pid_t pid_b;

static int child_b(void *arg)
{
	(void)arg;
	char to[4096];
	snprintf(to, sizeof to, "%s/b", dir);
	if (chdir(to))
		return 5;
	wait_go();
	act("b-file", "/", 0);
	return 0;
}

static char stack_b[65536], stack_a[65536], stack_c[65536];

static int child_a(void *arg)
{
	(void)arg;
	pid_b = clone(child_b, stack_b + sizeof stack_b, CLONE_FILES | SIGCHLD, NULL);
	if (write(report[1], &pid_b, sizeof pid_b) != sizeof pid_b)
		return 6;
	wait_go();
	char to[4096];
	snprintf(to, sizeof to, "%s/a", dir);
	act("a-file", to, 077);
	return 0;
}

static int child_c(void *arg)
{
	(void)arg;
	wait_go();
	act("c-file", dir, 0);
	return 0;
}

/* The fd a child reported: is it open here, on DIR/NAME? */
static int sees(int fd, const char *name)
{
	char path[4096];
	struct stat here, there;
	snprintf(path, sizeof path, "%s/%s", dir, name);
	if (stat(path, &there) || fstat(fd, &here))
		return 0;
	return here.st_ino == there.st_ino && here.st_dev == there.st_dev;
}

static int read_fd(void)
{
	int fd = -1;
	if (read(report[0], &fd, sizeof fd) != sizeof fd)
		return -1;
	return fd;
}

static int cwd_is(const char *want)
{
	char cwd[4096];
	return getcwd(cwd, sizeof cwd) != NULL && strcmp(cwd, want) == 0;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return 2;
	dir = argv[1];
	catch_term();
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	if (chdir(dir) || pipe(report))
		return 2;
	umask(022);
	char path[4096];
	snprintf(path, sizeof path, "%s/main-file", dir);
	int fd = open(path, O_CREAT | O_RDWR, 0600);
	if (fd < 0 || dup2(fd, 7) != 7)
		return 2;
	close(fd);
	pid_t a = clone(child_a, stack_a + sizeof stack_a, CLONE_FILES | CLONE_FS | SIGCHLD, NULL);
	pid_t b = 0;
	if (read(report[0], &b, sizeof b) != sizeof b)
		return 2;
	pid_t c = clone(child_c, stack_c + sizeof stack_c, CLONE_FS | SIGCHLD, NULL);
	pid_t d = fork();
	if (d == 0) {
		if (chdir("/"))
			_exit(7);
		wait_go();
		act("d-file", "/tmp", 0);
	}
	say("tasks %d %d %d %d\n", a, b, c, d);

	sigset_t waitmask = block_for_wait(SIGTERM);
	signal_ready();
	wait_flag(&terminated, &waitmask);

	const char *fail = NULL;
	char want[4096];
	if (!sees(7, "main-file"))
		fail = "fd 7 is not main-file any more";
	kill(a, SIGUSR1);
	int fa = read_fd();
	snprintf(want, sizeof want, "%s/a", dir);
	if (!fail && !sees(fa, "a-file"))
		fail = "the fd A opened is not open in main";
	if (!fail && !cwd_is(want))
		fail = "A's chdir is not main's";
	mode_t old = umask(022);
	if (!fail && old != 077)
		fail = "A's umask is not main's";
	kill(b, SIGUSR1);
	int fb = read_fd();
	if (!fail && !sees(fb, "b-file"))
		fail = "the fd B opened is not open in main";
	if (!fail && !cwd_is(want))
		fail = "B's chdir changed main's cwd";
	kill(c, SIGUSR1);
	int fc = read_fd();
	if (!fail && sees(fc, "c-file"))
		fail = "the fd C opened is open in main";
	if (!fail && !cwd_is(dir))
		fail = "C's chdir is not main's";
	kill(d, SIGUSR1);
	int fd_d = read_fd();
	if (!fail && sees(fd_d, "d-file"))
		fail = "the fd D opened is open in main";
	if (!fail && !cwd_is(dir))
		fail = "D's chdir changed main's cwd";
	pid_t all[] = { a, b, c, d };
	for (int i = 0; i < 4; i++)
		kill(all[i], SIGKILL);
	while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR)
		;
	if (fail) {
		say("FAIL %s\n", fail);
		return 1;
	}
	say("PASS\n");
	return 0;
}
