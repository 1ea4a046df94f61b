/* A library whose constructor holds the dynamic loader's lock (the loader runs constructors
 * with it held) until the program's first socket() has returned, or 5 s have passed. Used
 * by first_socket.c's "constructor" mode. */
#include <time.h>

extern volatile int in_constructor, socket_done;

__attribute__((constructor)) static void wait_for_socket(void)
{
	in_constructor = 1;
	struct timespec tick = {0, 1000000};
	for (int i = 0; i < 5000 && !socket_done; i++)
		nanosleep(&tick, NULL);
}
