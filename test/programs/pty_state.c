/*
 * Pseudo-terminals for the fd-dump tests. This program stands for the shell: it opens a pty master
 * and forks the child that is the tree to dump. The child becomes a session leader, closes the
 * master and opens the slave, which becomes its controlling terminal (the master stays outside).
 * In the child:
 *   fd 3: the slave, O_RDWR; fd 4: the slave again, O_RDWR|O_NONBLOCK (another open file);
 *         termios changed (no ECHO, no ICANON, VMIN 3, VTIME 7, VINTR ^G), ECHO locked, window
 *         33x111 (1x2 px), then TIOCEXCL
 *   fd 5: a pty master of its own, in packet mode, locked again after fd 6 was opened
 *   fd 6: its slave, O_RDWR|O_NOCTTY
 *   fd 8: the slave of a third pty whose master (fd 7) was closed: hung up
 * Prints "child <pid> shell <index> own <index> dead <index>" and the child's termios as the C library reads
 * it ("termios <iflag> <oflag> <cflag> <lflag> <line> <c_cc[0..18] in hex>", "locked <lflag>"),
 * signals ready from the child, and on SIGTERM the child checks its settings, sends a line through
 * its own pair and prints PASS; the parent waits for it.
 *
 * With argv[1] "job", the child is a job of that shell instead, as a shell with job control runs
 * one: the parent leads the session and the slave is its controlling terminal; the child stays in
 * that session, in a process group of its own that is the terminal's foreground group, and after
 * printing what it set up its stdin, stdout and stderr are the terminal too (so PASS goes there).
 * On SIGTERM it checks that the terminal of fds 0-4 is its session's controlling terminal.
 */
#include "common.h"
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>

static int child_main(const char *shell_pts, int job)
{
	if (job) {
		if (setpgid(0, 0) || close(4))
			return 3;
	} else if (setsid() < 0) {
		return 3;
	}
	if (close(3) || open(shell_pts, O_RDWR) != 3 || open(shell_pts, O_RDWR | O_NONBLOCK) != 4)
		return 3;
	while (job && tcgetpgrp(3) != getpgrp()) /* the shell puts the job in the foreground */
		usleep(1000);
	struct termios t;
	tcgetattr(3, &t);
	t.c_lflag &= ~(ECHO | ICANON);
	t.c_cc[VMIN] = 3;
	t.c_cc[VTIME] = 7;
	t.c_cc[VINTR] = 7;
	if (tcsetattr(3, TCSANOW, &t))
		return 4;
	struct termios lock;
	memset(&lock, 0, sizeof lock);
	lock.c_lflag = ECHO;
	struct winsize ws = { .ws_row = 33, .ws_col = 111, .ws_xpixel = 1, .ws_ypixel = 2 };
	if (ioctl(3, TIOCSLCKTRMIOS, &lock) || ioctl(3, TIOCSWINSZ, &ws) || ioctl(3, TIOCEXCL))
		return 5;
	int on = 1;
	if (posix_openpt(O_RDWR | O_NOCTTY) != 5 || grantpt(5) || unlockpt(5) || ioctl(5, TIOCPKT, &on))
		return 6;
	int own = -1;
	ioctl(5, TIOCGPTN, &own);
	if (open(ptsname(5), O_RDWR | O_NOCTTY) != 6 || ioctl(5, TIOCSPTLCK, &on))
		return 7;
	int dead = -1;
	if (posix_openpt(O_RDWR | O_NOCTTY) != 7 || grantpt(7) || unlockpt(7) || ioctl(7, TIOCGPTN, &dead))
		return 8;
	if (open(ptsname(7), O_RDWR | O_NOCTTY) != 8 || close(7))
		return 8;
	int shell = atoi(strrchr(shell_pts, '/') + 1);
	say("child %d shell %d own %d dead %d\n", (int)getpid(), shell, own, dead);
	tcgetattr(3, &t);
	say("termios %x %x %x %x %x", t.c_iflag, t.c_oflag, t.c_cflag, t.c_lflag, t.c_line);
	for (int i = 0; i < 19; i++)
		say(" %02x", t.c_cc[i]);
	say("\n");
	ioctl(3, TIOCGLCKTRMIOS, &lock);
	say("locked %x\n", lock.c_lflag);
	if (job && (dup2(3, 0) != 0 || dup2(3, 1) != 1 || dup2(3, 2) != 2))
		return 9;
	signal_ready();
	while (!terminated)
		pause();

	struct termios now;
	struct winsize w;
	int excl = 0;
	tcgetattr(3, &now);
	ioctl(4, TIOCGWINSZ, &w);
	ioctl(3, TIOCGEXCL, &excl);
	if (now.c_lflag != t.c_lflag || now.c_cc[VMIN] != 3 || w.ws_col != 111 || !excl) {
		say("FAIL: terminal settings\n");
		return 1;
	}
	if (job) {
		struct stat st3, st;
		fstat(3, &st3);
		for (int fd = 0; fd <= 4; fd++)
			if (fstat(fd, &st) || st.st_rdev != st3.st_rdev) {
				say("FAIL: fd %d is not the terminal of fd 3\n", fd);
				return 1;
			}
		if (tcgetsid(3) != getsid(0)) {
			say("FAIL: the terminal is not the controlling terminal of the session (%d, %d)\n", (int)tcgetsid(3), (int)getsid(0));
			return 1;
		}
	} else if (tcgetpgrp(3) != getpid()) {
		say("FAIL: not the foreground group of its terminal\n");
		return 1;
	}
	char buf[16] = { 0 };
	if (read(8, buf, 1) != 0) { /* end of file: the other end is gone */
		say("FAIL: the hung-up pty reads\n");
		return 1;
	}
	if (write(6, "pong\n", 5) != 5 || read(5, buf, sizeof buf) < 6 || memcmp(buf + 1, "pong", 4)) {
		say("FAIL: own pair\n");
		return 1;
	}
	say("PASS\n");
	return 0;
}

int main(int argc, char **argv)
{
	int job = argc > 1 && strcmp(argv[1], "job") == 0;
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master != 3 || grantpt(master) || unlockpt(master))
		return 2;
	char pts[64];
	snprintf(pts, sizeof pts, "%s", ptsname(master));
	/* A shell with job control: the slave controls its session (it leads one: setsid ran it). */
	if (job && open(pts, O_RDWR) != 4)
		return 2;
	pid_t child = fork();
	if (child == 0) {
		catch_term();
		return child_main(pts, job);
	}
	if (job && (setpgid(child, child) || tcsetpgrp(4, child)))
		return 2;
	int status = 0;
	waitpid(child, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
