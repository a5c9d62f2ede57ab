/*
 * Sessions and process groups for the restore tests. The root R is a child subreaper and leads
 * its session; under it:
 *
 *   A  setsid(): session A. Its children: B (session A, group A); C (its own group C);
 *      D (joins group C, led by its sibling); X, made by a child E of A that exited and was
 *      reaped: X fell to R, still in session A (an adopted member of a living session).
 *   P  made Q (which stays in R's session and group), then called setsid(): session P.
 *   Z  setsid(), made Y (group Z) and W (its own group W), then exited: a zombie leading a session
 *      and a group; Y and W fell to R. Z's exit code is 3.
 *   G  its own group G, which M (a child of R) joined; then G exited: a zombie group leader
 *      (exit code 4).
 *   L  made by K, which led group K and was reaped: L fell to R, in a group without a leader.
 *   T  made by S, which called setsid() and was reaped: T fell to R, in a session and group
 *      whose leader is gone.
 *
 * Every process writes its pid, parent, group and session into a shared table. Prints
 * "tree R A B ..." (the pids, in the order of the table) and signals ready. On SIGTERM R asks each
 * living one (SIGTERM) to check that its parent, group and session are what it wrote, checks the
 * zombies' exit codes (3 and 4), kills and reaps the rest, and prints PASS, or FAIL and what
 * differs.
 */
#include "common.h"
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>

enum { R_, A_, B_, C_, D_, X_, P_, Q_, Z_, Y_, W_, G_, M_, L_, T_, N_ROLES };
static const char *names = "RABCDXPQZYWGMLT";

struct slot {
	volatile int pid, ppid, pgid, sid, ready, verdict;
};
static struct slot *tab;

static void record(int role)
{
	tab[role].pid = getpid();
	tab[role].ppid = getppid();
	tab[role].pgid = getpgrp();
	tab[role].sid = getsid(0);
	__sync_synchronize();
	tab[role].ready = 1;
}

static void wait_until(volatile int *flag)
{
	int64_t deadline = now_ms() + 10000;
	while (!*flag && now_ms() < deadline)
		usleep(1000);
}

/* Waits to be adopted by R (its parent died). */
static void wait_adopted(void)
{
	int64_t deadline = now_ms() + 10000;
	while (getppid() != tab[R_].pid && now_ms() < deadline)
		usleep(1000);
}

/* Records, waits for SIGTERM, checks the ids it recorded, writes its verdict, waits for its end. */
static void serve(int role)
{
	sigset_t waitmask = block_for_wait(SIGTERM);
	record(role);
	wait_flag(&terminated, &waitmask);
	struct slot *s = &tab[role];
	int v = 1;
	if (getpid() != s->pid)
		v = 2;
	else if (getppid() != s->ppid)
		v = 3;
	else if (getpgrp() != s->pgid)
		v = 4;
	else if (getsid(0) != s->sid)
		v = 5;
	s->verdict = v;
	for (;;) /* until R kills it: its children must not lose their parent before they check */
		pause();
}

static void session_a(void)
{
	setsid();
	if (fork() == 0)
		serve(B_);
	if (fork() == 0) {
		setpgid(0, 0);
		serve(C_);
	}
	if (fork() == 0) {
		wait_until(&tab[C_].ready);
		setpgid(0, tab[C_].pid);
		serve(D_);
	}
	pid_t e = fork();
	if (e == 0) {
		if (fork() == 0) {
			wait_adopted();
			serve(X_);
		}
		_exit(0);
	}
	waitpid(e, NULL, 0);
	serve(A_);
}

static void born_before_setsid(void)
{
	if (fork() == 0)
		serve(Q_);
	wait_until(&tab[Q_].ready);
	setsid();
	serve(P_);
}

static void zombie_session(void)
{
	setsid();
	tab[Z_].pid = getpid();
	if (fork() == 0) {
		wait_adopted();
		serve(Y_);
	}
	if (fork() == 0) {
		setpgid(0, 0);
		wait_adopted();
		serve(W_);
	}
	_exit(3);
}

static void gone_group_leader(void)
{
	setpgid(0, 0);
	if (fork() == 0) {
		wait_adopted();
		serve(L_);
	}
	_exit(0);
}

static void gone_session_leader(void)
{
	setsid();
	if (fork() == 0) {
		wait_adopted();
		serve(T_);
	}
	_exit(0);
}

static char state_of(int pid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return '?';
	size_t n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' ? p[2] : '?';
}

int main(void)
{
	catch_term();
	tab = mmap(NULL, sizeof(struct slot) * N_ROLES, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (tab == MAP_FAILED)
		return 2;
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	record(R_);
	if (fork() == 0)
		session_a();
	if (fork() == 0)
		born_before_setsid();
	if (fork() == 0)
		zombie_session();
	pid_t g = fork();
	if (g == 0) {
		setpgid(0, 0);
		tab[G_].pid = getpid();
		tab[G_].ready = 1;
		wait_until(&tab[M_].ready);
		_exit(4);
	}
	if (fork() == 0) {
		wait_until(&tab[G_].ready);
		setpgid(0, tab[G_].pid);
		serve(M_);
	}
	pid_t k = fork();
	if (k == 0)
		gone_group_leader();
	waitpid(k, NULL, 0);
	pid_t s = fork();
	if (s == 0)
		gone_session_leader();
	waitpid(s, NULL, 0);

	for (int i = 0; i < N_ROLES; i++) {
		if (i == Z_ || i == G_)
			continue;
		wait_until(&tab[i].ready);
		if (!tab[i].ready) {
			say("FAIL %c never got ready\n", names[i]);
			return 1;
		}
	}
	int64_t deadline = now_ms() + 10000;
	while ((state_of(tab[Z_].pid) != 'Z' || state_of(g) != 'Z') && now_ms() < deadline)
		usleep(1000);
	say("tree");
	for (int i = 0; i < N_ROLES; i++)
		say(" %d", tab[i].pid);
	say("\n");

	sigset_t waitmask = block_for_wait(SIGTERM);
	signal_ready();
	wait_flag(&terminated, &waitmask);

	const char *fail = NULL;
	char what[128];
	if (getsid(0) != tab[R_].pid || getpgrp() != tab[R_].pid)
		fail = "R: its session or group";
	int status;
	if (!fail && (waitpid(tab[Z_].pid, &status, WNOHANG) != tab[Z_].pid || !WIFEXITED(status) || WEXITSTATUS(status) != 3))
		fail = "Z: not a zombie with exit code 3";
	if (!fail && (waitpid(g, &status, WNOHANG) != g || !WIFEXITED(status) || WEXITSTATUS(status) != 4))
		fail = "G: not a zombie with exit code 4";
	for (int i = 1; i < N_ROLES; i++)
		if (i != Z_ && i != G_)
			kill(tab[i].pid, SIGTERM);
	for (int i = 1; i < N_ROLES && !fail; i++) {
		if (i == Z_ || i == G_)
			continue;
		wait_until(&tab[i].verdict);
		static const char *why[] = { "no verdict", "", "pid", "parent", "group", "session" };
		if (tab[i].verdict != 1) {
			snprintf(what, sizeof what, "%c (pid %d): its %s changed", names[i], tab[i].pid, why[tab[i].verdict]);
			fail = what;
		}
	}
	for (int i = 1; i < N_ROLES; i++)
		if (i != Z_ && i != G_)
			kill(tab[i].pid, SIGKILL);
	while (waitpid(-1, NULL, __WALL) > 0 || errno == EINTR)
		;
	if (fail) {
		say("FAIL %s\n", fail);
		return 1;
	}
	say("PASS\n");
	return 0;
}
