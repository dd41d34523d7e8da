/* timeclock.c: guest checking time and randomness calls: clocks move
 * forward, sleeps never return early, realtime clocks agree, getrandom
 * gives fresh bytes, uname names Linux on x86_64. Prints only verdicts. */
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/time.h>
#include <sys/utsname.h>
#include <time.h>

static double secs(const struct timespec *t)
{
	return (double)t->tv_sec + (double)t->tv_nsec / 1e9;
}

int main(void)
{
	struct timespec a, b, req = {0, 20 * 1000 * 1000};
	struct timeval tv;
	struct utsname u;
	unsigned char r1[16], r2[16];
	time_t t;

	clock_gettime(CLOCK_MONOTONIC, &a);
	nanosleep(&req, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("nanosleep 20 ms not early: %s\n",
	       secs(&b) - secs(&a) >= 0.0199 ? "yes" : "NO");
	clock_gettime(CLOCK_MONOTONIC, &a);
	clock_nanosleep(CLOCK_MONOTONIC, 0, &req, NULL);
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("clock_nanosleep not early: %s\n",
	       secs(&b) - secs(&a) >= 0.0199 ? "yes" : "NO");
	clock_gettime(CLOCK_REALTIME, &a);
	gettimeofday(&tv, NULL);
	t = time(NULL);
	printf("realtime clocks agree: %s\n",
	       (tv.tv_sec - a.tv_sec) <= 2 && (t - a.tv_sec) <= 2 &&
			       a.tv_sec > 1600000000
		       ? "yes"
		       : "NO");
	printf("getrandom: %s\n", getrandom(r1, 16, 0) == 16 &&
						  getrandom(r2, 16, 0) == 16 &&
						  memcmp(r1, r2, 16)
					  ? "fresh"
					  : "STALE");
	if (uname(&u))
		return 1;
	printf("uname: %s %s\n", u.sysname, u.machine);
	return 0;
}
