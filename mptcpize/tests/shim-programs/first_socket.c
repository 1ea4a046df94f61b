/* The first socket() of a process made where the dynamic loader must not be entered (and
 * the process's first dup2(), dup3() and close(), also hooked by the shim, right after it):
 *
 *   first_socket signal N   N times, in a fresh child: the first socket() is made by a
 *                           SIGALRM handler that interrupts the main thread while it opens
 *                           and closes a library (dlopen/dlclose, the loader's lock held);
 *   first_socket fork N     N times: fork while four threads open and close a library; the
 *                           child's first call is socket();
 *   first_socket constructor 1 LIBRARY
 *                           the first socket() while another thread is in the constructor
 *                           of LIBRARY (slow_constructor.c), which holds the loader's lock
 *                           until that socket() returns: a shim that looked its functions
 *                           up on first use would wait 5 s for that lock.
 *
 * Each socket's SO_PROTOCOL is checked against the expected protocol (argv[3]: 262 under
 * mptcpize with MPTCP enabled). Every child has 10 s before it is killed, so a deadlock
 * fails instead of hanging. Prints "ok N" and exits 0 when every run was right. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static int expected;
/* Shared with slow_constructor.c (the program is linked with -rdynamic). */
volatile int in_constructor, socket_done;
static volatile sig_atomic_t protocol = -1;
static volatile sig_atomic_t done;

/* The process's first socket(), and its first dup2(), dup3() and close(), which the shim
 * hooks too: each must go on without the loader. Returns the socket's SO_PROTOCOL, or a
 * negative errno (-2000 - errno: dup2/dup3/close failed). */
static int socket_protocol(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -errno;
	int value = -1;
	socklen_t len = sizeof(value);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &value, &len) != 0)
		value = -1000 - errno;
	int copy = dup(fd);
	if (copy < 0 || dup2(fd, copy) != copy || dup3(fd, copy, O_CLOEXEC) != copy ||
	    close(copy) != 0)
		value = -2000 - errno;
	close(fd);
	return value;
}

static void on_alarm(int sig)
{
	(void)sig;
	if (!done) {
		protocol = socket_protocol();
		done = 1;
	}
}

/* Opens and closes a library the program does not link, so the loader works (and holds its
 * lock) most of the time. */
static void churn_loader(void)
{
	void *h = dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
	if (h) {
		(void)dlsym(h, "cos");
		dlclose(h);
	}
}

static int signal_child(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	/* A real-time timer every 200 µs: it fires while the loop below is in the loader. */
	struct itimerval every = {{0, 200}, {0, 200}};
	setitimer(ITIMER_REAL, &every, NULL);
	while (!done)
		churn_loader();
	struct itimerval off = {{0, 0}, {0, 0}};
	setitimer(ITIMER_REAL, &off, NULL);
	if (protocol != expected) {
		fprintf(stderr, "signal handler: SO_PROTOCOL %d, expected %d\n", (int)protocol, expected);
		return 1;
	}
	return 0;
}

static void *churn_thread(void *arg)
{
	(void)arg;
	for (;;)
		churn_loader();
	return NULL;
}

static int forked_child(void)
{
	int p = socket_protocol();
	if (p != expected) {
		fprintf(stderr, "forked child: SO_PROTOCOL %d, expected %d\n", p, expected);
		return 1;
	}
	return 0;
}

/* Waits up to 10 s for `pid` (then kills it: a deadlock); 0 when it exited 0. */
static int check_child(pid_t pid, const char *what)
{
	int status;
	pid_t r = 0;
	for (int ms = 0; ms < 10000 && r == 0; ms++) {
		r = waitpid(pid, &status, WNOHANG);
		if (r == 0)
			usleep(1000);
	}
	if (r == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		fprintf(stderr, "%s: child still running after 10 s (deadlocked), killed\n", what);
		return 1;
	}
	if (r != pid) {
		perror("waitpid");
		return 1;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	if (WIFSIGNALED(status))
		fprintf(stderr, "%s: child killed by signal %d\n", what, WTERMSIG(status));
	else
		fprintf(stderr, "%s: child exited %d\n", what, WEXITSTATUS(status));
	return 1;
}

static void *open_library(void *path)
{
	if (!dlopen(path, RTLD_NOW))
		fprintf(stderr, "dlopen: %s\n", dlerror());
	return NULL;
}

static int constructor_test(char *library)
{
	pthread_t opener;
	pthread_create(&opener, NULL, open_library, library);
	while (!in_constructor)
		usleep(100);
	struct timespec start, end;
	clock_gettime(CLOCK_MONOTONIC, &start);
	int p = socket_protocol();
	clock_gettime(CLOCK_MONOTONIC, &end);
	socket_done = 1;
	pthread_join(opener, NULL);
	double seconds = (end.tv_sec - start.tv_sec) + (end.tv_nsec - start.tv_nsec) / 1e9;
	if (p != expected || seconds > 1.0) {
		fprintf(stderr, "constructor: SO_PROTOCOL %d (expected %d) after %.3f s\n", p, expected,
			seconds);
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "constructor") == 0) {
		expected = atoi(argv[3]);
		if (constructor_test(argv[4]))
			return 1;
		printf("ok 1\n");
		return 0;
	}
	if (argc != 4) {
		fprintf(stderr, "usage: %s signal|fork RUNS EXPECTED_PROTOCOL\n", argv[0]);
		return 2;
	}
	int runs = atoi(argv[2]);
	expected = atoi(argv[3]);
	int failures = 0;
	if (strcmp(argv[1], "signal") == 0) {
		for (int i = 0; i < runs; i++) {
			/* A fresh process each time: its first socket() is the handler's. */
			pid_t pid = fork();
			if (pid == 0) {
				char *args[] = {argv[0], "signal-child", argv[2], argv[3], NULL};
				execv("/proc/self/exe", args);
				_exit(127);
			}
			failures += check_child(pid, "signal");
		}
	} else if (strcmp(argv[1], "signal-child") == 0) {
		return signal_child();
	} else if (strcmp(argv[1], "fork") == 0) {
		pthread_t threads[4];
		for (int i = 0; i < 4; i++)
			pthread_create(&threads[i], NULL, churn_thread, NULL);
		for (int i = 0; i < runs; i++) {
			pid_t pid = fork();
			if (pid == 0)
				_exit(forked_child());
			failures += check_child(pid, "fork");
		}
	} else {
		fprintf(stderr, "unknown mode %s\n", argv[1]);
		return 2;
	}
	if (failures) {
		fprintf(stderr, "%d of %d runs failed\n", failures, runs);
		return 1;
	}
	printf("ok %d\n", runs);
	return 0;
}
