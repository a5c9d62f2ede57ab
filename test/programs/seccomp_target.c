/*
 * Seccomp filters for the dump tests: the parent installs an allow-all filter (1 instruction);
 * its child inherits it and adds one that makes uname() fail with EPERM (4 instructions).
 * Prints "child <pid>", signals ready; on SIGTERM each checks its filters still act and the parent
 * prints PASS.
 */
#include "common.h"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>

static int install(struct sock_filter *insns, unsigned short n)
{
	struct sock_fprog prog = { .len = n, .filter = insns };
	return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

static void wait_term(void)
{
	sigset_t waitmask = block_for_wait(SIGTERM);
	signal_ready();
	wait_flag(&terminated, &waitmask);
}

int main(void)
{
	catch_term();
	prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	struct sock_filter allow[] = { BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW) };
	if (install(allow, 1))
		return 2;
	pid_t child = fork();
	if (child == 0) {
		struct sock_filter deny_uname[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_uname, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		if (install(deny_uname, 4))
			return 3;
		struct utsname u;
		while (!terminated)
			pause();
		return uname(&u) == -1 && errno == EPERM ? 0 : 1;
	}
	say("child %d\n", child);
	wait_term();
	struct utsname u;
	kill(child, SIGTERM);
	int status;
	waitpid(child, &status, 0);
	if (uname(&u) != 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		say("FAIL %d\n", status);
		return 1;
	}
	say("PASS\n");
	return 0;
}
