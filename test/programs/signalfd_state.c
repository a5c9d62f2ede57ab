/*
 * signalfds for the fd-dump tests: SIGUSR1, SIGUSR2 and SIGRTMIN+3 blocked;
 *   fd 3: signalfd for {SIGUSR1, SIGRTMIN+3} (SFD_NONBLOCK|SFD_CLOEXEC)
 *   fd 4: signalfd for {SIGUSR2}
 * Prints "masks <hex mask of fd 3> <hex mask of fd 4>" (bit N-1 for signal N), signals ready, and
 * on SIGTERM raises SIGUSR1 and SIGUSR2, reads each from its signalfd and prints PASS.
 */
#include "common.h"
#include <sys/signalfd.h>

static unsigned long long bits(const sigset_t *set)
{
	unsigned long long out = 0;
	for (int sig = 1; sig <= 64; sig++)
		if (sigismember(set, sig) == 1)
			out |= 1ULL << (sig - 1);
	return out;
}

static int got(int fd, int sig)
{
	struct signalfd_siginfo si;
	return read(fd, &si, sizeof si) == sizeof si && (int)si.ssi_signo == sig;
}

int main(void)
{
	catch_term();
	sigset_t blocked, a, b;
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGUSR1);
	sigaddset(&blocked, SIGUSR2);
	sigaddset(&blocked, SIGRTMIN + 3);
	sigprocmask(SIG_BLOCK, &blocked, NULL);
	sigemptyset(&a);
	sigaddset(&a, SIGUSR1);
	sigaddset(&a, SIGRTMIN + 3);
	sigemptyset(&b);
	sigaddset(&b, SIGUSR2);
	if (signalfd(-1, &a, SFD_NONBLOCK | SFD_CLOEXEC) != 3 || signalfd(-1, &b, 0) != 4)
		return 3;
	say("masks %llx %llx\n", bits(&a), bits(&b));
	signal_ready();
	while (!terminated)
		pause();
	raise(SIGUSR1);
	raise(SIGUSR2);
	if (!got(3, SIGUSR1) || !got(4, SIGUSR2)) {
		say("FAIL: signals not delivered through the signalfds\n");
		return 1;
	}
	say("PASS\n");
	return 0;
}
