/* A statically linked test program for `mptcpize run --seccomp`: creates sockets in the
 * ways LD_PRELOAD cannot see (raw syscall, static libc, threads, fork+exec) and prints
 * what it got, one line per socket: "<what> proto=<SO_PROTOCOL> ..." or "<what> errno=<n>".
 * Built by mptcpize/tests/seccomp.rs with `gcc -static -pthread`. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

static int protocol_of(int fd)
{
	int proto = -1;
	socklen_t len = sizeof(proto);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) != 0)
		return -errno;
	return proto;
}

/* Prints "<label> proto=N" (or "errno=N") and closes the socket. */
static void report(const char *label, int fd)
{
	if (fd < 0) {
		printf("%s errno=%d\n", label, errno);
	} else {
		printf("%s proto=%d\n", label, protocol_of(fd));
		close(fd);
	}
	fflush(stdout);
}

/* Every combination of the table; its output is compared with and without mptcpize. */
static int table(void)
{
	const int domains[] = { AF_INET, AF_INET6, AF_UNIX, AF_NETLINK, AF_PACKET, AF_UNSPEC };
	const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET };
	const int flags[] = { 0, SOCK_NONBLOCK, SOCK_CLOEXEC, SOCK_NONBLOCK | SOCK_CLOEXEC };
	const int protos[] = { 0, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_MPTCP, IPPROTO_SCTP, 255 };
	char label[96];
	for (size_t d = 0; d < sizeof(domains) / sizeof(*domains); d++)
		for (size_t t = 0; t < sizeof(types) / sizeof(*types); t++)
			for (size_t f = 0; f < sizeof(flags) / sizeof(*flags); f++)
				for (size_t p = 0; p < sizeof(protos) / sizeof(*protos); p++) {
					int ty = types[t] | flags[f];
					snprintf(label, sizeof(label), "socket(%d,%d,%d)", domains[d], ty,
						 protos[p]);
					int fd = socket(domains[d], ty, protos[p]);
					if (fd < 0) {
						printf("%s errno=%d\n", label, errno);
						continue;
					}
					printf("%s nonblock=%d cloexec=%d proto=%d\n", label,
					       !!(fcntl(fd, F_GETFL) & O_NONBLOCK),
					       !!(fcntl(fd, F_GETFD) & FD_CLOEXEC), protocol_of(fd));
					close(fd);
				}
	return 0;
}

static void *thread_main(void *arg)
{
	long id = (long)arg;
	char label[32];
	for (int i = 0; i < 50; i++) {
		snprintf(label, sizeof(label), "thread%ld", id);
		/* report() prints whole lines with one printf each: stdio locks the stream. */
		report(label, socket(i % 2 ? AF_INET6 : AF_INET, SOCK_STREAM, 0));
	}
	return NULL;
}

static void on_signal(int sig)
{
	static const char usr1[] = "got SIGUSR1\n", intr[] = "got SIGINT\n";
	int ok = sig == SIGUSR1 ? write(1, usr1, sizeof(usr1) - 1) : write(1, intr, sizeof(intr) - 1);
	if (ok < 0)
		_exit(3);
}

static long long now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	if (!strcmp(mode, "table"))
		return table();
	if (!strcmp(mode, "libc")) {
		report("libc", socket(AF_INET, SOCK_STREAM, 0));
		return 0;
	}
	if (!strcmp(mode, "raw")) {
		report("raw", (int)syscall(SYS_socket, AF_INET6, SOCK_STREAM, IPPROTO_TCP));
		/* The kernel reads int arguments: garbage in the high half is ignored. */
		report("raw-high-bits", (int)syscall(SYS_socket, 0xdead00000000L | AF_INET,
						     0xbeef00000000L | SOCK_STREAM, 0L));
		return 0;
	}
	if (!strcmp(mode, "udp-unix")) {
		report("udp", socket(AF_INET, SOCK_DGRAM, 0));
		report("unix", socket(AF_UNIX, SOCK_STREAM, 0));
		report("mptcp", socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP));
		return 0;
	}
	if (!strcmp(mode, "threads")) {
		int n = argc > 2 ? atoi(argv[2]) : 8;
		pthread_t th[64];
		for (long i = 0; i < n && i < 64; i++)
			pthread_create(&th[i], NULL, thread_main, (void *)i);
		for (long i = 0; i < n && i < 64; i++)
			pthread_join(th[i], NULL);
		return 0;
	}
	if (!strcmp(mode, "fork-exec")) {
		/* Two generations: a forked child that creates a socket without exec, and an
		 * exec'd grandchild (this program again in "libc" mode). */
		report("parent", socket(AF_INET, SOCK_STREAM, 0));
		pid_t child = fork();
		if (child == 0) {
			report("forked", socket(AF_INET, SOCK_STREAM, 0));
			pid_t grandchild = fork();
			if (grandchild == 0) {
				execl("/proc/self/exe", argv[0], "libc", (char *)NULL);
				_exit(127);
			}
			int status;
			waitpid(grandchild, &status, 0);
			_exit(WIFEXITED(status) ? WEXITSTATUS(status) : 1);
		}
		int status;
		waitpid(child, &status, 0);
		return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	}
	if (!strcmp(mode, "exit"))
		return argc > 2 ? atoi(argv[2]) : 0;
	if (!strcmp(mode, "raise")) {
		raise(argc > 2 ? atoi(argv[2]) : SIGTERM);
		return 99;
	}
	if (!strcmp(mode, "wait")) {
		/* Waits for signals: SIGUSR1 and SIGINT are caught and reported, anything else
		 * keeps its default action. */
		struct sigaction sa = { .sa_handler = on_signal, .sa_flags = SA_RESTART };
		sigaction(SIGUSR1, &sa, NULL);
		sigaction(SIGINT, &sa, NULL);
		printf("ready pid=%d\n", getpid());
		fflush(stdout);
		for (;;)
			pause();
	}
	if (!strcmp(mode, "orphan")) {
		/* Leaves a child behind that creates a socket after this process has exited. */
		pid_t child = fork();
		if (child == 0) {
			usleep(2000 * 1000);
			report("orphan", socket(AF_INET, SOCK_STREAM, 0));
			_exit(0);
		}
		return 0;
	}
	if (!strcmp(mode, "options")) {
		/* Options MPTCP refuses (TCP_USER_TIMEOUT), set before and after connecting, on
		 * sockets mptcpize made MPTCP and on one the program asked MPTCP for itself. */
		int one = 1, timeout = 12345, ttl = 7, v;
		socklen_t len = sizeof(v);
		struct sockaddr_in addr = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		struct sockaddr_in before, after;
		socklen_t alen = sizeof(before);
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		bind(fd, (struct sockaddr *)&addr, sizeof(addr));
		getsockname(fd, (struct sockaddr *)&before, &alen);
		int rc = setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, sizeof(timeout));
		int err = rc ? errno : 0;
		getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &v, &len);
		int reuse = 0;
		len = sizeof(reuse);
		getsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &reuse, &len);
		alen = sizeof(after);
		getsockname(fd, (struct sockaddr *)&after, &alen);
		printf("before-connect rc=%d errno=%d proto=%d timeout=%d reuseaddr=%d same-address=%d cloexec=%d nonblock=%d\n",
		       rc, err, protocol_of(fd), v, reuse,
		       before.sin_port == after.sin_port && before.sin_port != 0,
		       !!(fcntl(fd, F_GETFD) & FD_CLOEXEC), !!(fcntl(fd, F_GETFL) & O_NONBLOCK));
		/* The swapped socket works: listen on it, connect to it. */
		listen(fd, 1);
		int c = socket(AF_INET, SOCK_STREAM, 0);
		int connected = connect(c, (struct sockaddr *)&after, sizeof(after)) == 0;
		printf("listen-connect connected=%d client-proto=%d\n", connected, protocol_of(c));
		rc = setsockopt(c, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, sizeof(timeout));
		printf("after-connect rc=%d errno=%d proto=%d\n", rc, rc ? errno : 0, protocol_of(c));
		int m = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP);
		rc = setsockopt(m, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout, sizeof(timeout));
		printf("explicit-mptcp rc=%d errno=%d proto=%d\n", rc, rc ? errno : 0, protocol_of(m));
		int u = socket(AF_INET, SOCK_DGRAM, 0);
		rc = setsockopt(u, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl));
		len = sizeof(v);
		getsockopt(u, IPPROTO_IP, IP_TTL, &v, &len);
		printf("udp-ttl rc=%d ttl=%d proto=%d\n", rc, v, protocol_of(u));
		return 0;
	}
	if (!strcmp(mode, "deny-seccomp") && argc > 3) {
		/* A sandbox that refuses seccomp(2) with errno argv[2], then runs argv[3...]:
		 * what a container profile or an older kernel looks like to mptcpize. */
		struct sock_filter insns[] = {
			BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
			BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_seccomp, 0, 1),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | (atoi(argv[2]) & SECCOMP_RET_DATA)),
			BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		};
		struct sock_fprog prog = { sizeof(insns) / sizeof(*insns), insns };
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog)) {
			perror("deny-seccomp");
			return 1;
		}
		execvp(argv[3], argv + 3);
		perror("execvp");
		return 127;
	}
	if (!strncmp(mode, "bench-", 6)) {
		/* Benchmarks: N x (socket(AF_INET, SOCK_STREAM, 0) + close), the same with
		 * IPPROTO_MPTCP asked for directly (bench-mptcp), N x setsockopt(IP_TTL) on a UDP
		 * socket (bench-ttl), or N x getppid (a system call the filter lets through),
		 * timed inside the program. */
		long n = argc > 2 ? atol(argv[2]) : 10000;
		int sockets = strcmp(mode, "bench-syscall") != 0 && strcmp(mode, "bench-ttl") != 0;
		int udp = socket(AF_INET, SOCK_DGRAM, 0), ttl = 9;
		int proto = !strcmp(mode, "bench-mptcp") ? IPPROTO_MPTCP : 0;
		long long start = now_ns();
		for (long i = 0; i < n; i++) {
			if (sockets) {
				int fd = socket(AF_INET, SOCK_STREAM, proto);
				if (fd < 0)
					return 1;
				close(fd);
			} else if (!strcmp(mode, "bench-ttl")) {
				/* A setsockopt the filter watches, on a UDP socket. */
				if (setsockopt(udp, IPPROTO_IP, IP_TTL, &ttl, sizeof(ttl)))
					return 1;
			} else {
				syscall(SYS_getppid);
			}
		}
		printf("%s n=%ld ns_per_iteration=%.1f\n", mode, n, (double)(now_ns() - start) / n);
		return 0;
	}
	fprintf(stderr, "usage: %s table|libc|raw|udp-unix|threads [N]|fork-exec|exit N|raise SIG|wait|orphan|options|bench-socket|bench-mptcp|bench-ttl|bench-syscall N|deny-seccomp ERRNO PROG...\n",
		argv[0]);
	return 2;
}
