/*
 * timerfds for the fd-dump tests:
 *   fd 3: CLOCK_MONOTONIC, TFD_NONBLOCK|TFD_CLOEXEC, first expiration in 1000 s, then every 2.5 s
 *   fd 4: CLOCK_REALTIME, set with TFD_TIMER_ABSTIME|TFD_TIMER_CANCEL_ON_SET to now + 5000 s
 *   fd 5: CLOCK_BOOTTIME, TFD_NONBLOCK, expired once 1 ms after it was set (1 tick unread)
 * Signals ready, and on SIGTERM checks each timer (interval, time left, the tick) and prints PASS.
 */
#include "common.h"
#include <sys/timerfd.h>

int main(void)
{
	catch_term();
	struct itimerspec mono = { .it_interval = { 2, 500000000 }, .it_value = { 1000, 0 } };
	if (timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC) != 3 || timerfd_settime(3, 0, &mono, NULL))
		return 3;
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	struct itimerspec abs = { .it_value = { now.tv_sec + 5000, 0 } };
	if (timerfd_create(CLOCK_REALTIME, 0) != 4 || timerfd_settime(4, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &abs, NULL))
		return 4;
	struct itimerspec once = { .it_value = { 0, 1000000 } };
	if (timerfd_create(CLOCK_BOOTTIME, TFD_NONBLOCK) != 5 || timerfd_settime(5, 0, &once, NULL))
		return 5;
	struct timespec wait = { 0, 20000000 };
	nanosleep(&wait, NULL);
	signal_ready();
	while (!terminated)
		pause();

	struct itimerspec cur;
	timerfd_gettime(3, &cur);
	if (cur.it_interval.tv_sec != 2 || cur.it_interval.tv_nsec != 500000000 || cur.it_value.tv_sec > 1000 || cur.it_value.tv_sec < 900) {
		say("FAIL: timer 3\n");
		return 1;
	}
	timerfd_gettime(4, &cur);
	if (cur.it_value.tv_sec < 4000 || cur.it_value.tv_sec > 5000) {
		say("FAIL: timer 4\n");
		return 1;
	}
	uint64_t ticks = 0;
	if (read(5, &ticks, sizeof ticks) != sizeof ticks || ticks != 1) {
		say("FAIL: timer 5 ticks %llu\n", (unsigned long long)ticks);
		return 1;
	}
	say("PASS\n");
	return 0;
}
