/* What a program sees of itself under mptcpize, in every mode (tests/identity.rs):
 * built static and dynamic.
 *
 *   identity owner [drop]   (drop: setgroups(0), setgid(65534), setuid(65534) first)
 *       socket(AF_INET, SOCK_STREAM, 0), then one line:
 *       "proto=P uid=U ino=I repair=RC/ERRNO proto-after=P port=N"
 *       (fstat's st_uid and st_ino; setsockopt(TCP_REPAIR, 1); SO_PROTOCOL after it; the
 *       port it listens on, 127.0.0.1), then "ready", and waits for stdin to close.
 *   identity signals FILE
 *       counts SIGINT, SIGHUP and SIGTERM, rewriting FILE after each ("INT n HUP n TERM n");
 *       prints "ready pid=P"; SIGUSR1 ends it with status 0; SIGTERM, once counted, ends it
 *       by SIGTERM (its default action).
 *   identity family
 *       forks a child; both print "ready"; on each SIGUSR1 each of them makes a TCP
 *       socket() and prints "parent proto=P" / "child proto=P" (or "… errno=E"); SIGTERM
 *       ends both.
 *   identity bad-values
 *       socket(AF_INET, SOCK_STREAM, 0), then setsockopt with values plain TCP refuses:
 *       TCP_REPAIR 5 and TCP_USER_TIMEOUT -1; prints
 *       "repair=RC/ERRNO user-timeout=RC/ERRNO proto=P" (SO_PROTOCOL after both).
 *   identity churn
 *       forks a child; both print "ready", then make TCP socket()s in a loop until SIGTERM,
 *       and then print "<who> mptcp=N tcp=N failed=N first-errno=E".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int protocol_of(int fd)
{
	int proto = -1;
	socklen_t len = sizeof(proto);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len) != 0)
		return -errno;
	return proto;
}

static int owner(int argc, char **argv)
{
	if (argc > 2 && !strcmp(argv[2], "drop")) {
		if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
			perror("drop privileges");
			return 2;
		}
	}
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		printf("socket errno=%d\n", errno);
		return 1;
	}
	int proto = protocol_of(fd);
	struct stat st;
	if (fstat(fd, &st) != 0) {
		perror("fstat");
		return 1;
	}
	int one = 1;
	int rc = setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &one, sizeof(one));
	int repair_errno = rc ? errno : 0;
	int after = protocol_of(fd);
	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0 || listen(fd, 1) != 0 ||
	    getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
		perror("bind/listen");
		return 1;
	}
	printf("proto=%d uid=%u ino=%lu repair=%d/%d proto-after=%d port=%d\nready\n", proto,
	       (unsigned)st.st_uid, (unsigned long)st.st_ino, rc, repair_errno, after,
	       ntohs(addr.sin_port));
	fflush(stdout);
	char buf[64];
	while (read(0, buf, sizeof(buf)) > 0)
		;
	return 0;
}

static const char *count_file;
static volatile sig_atomic_t counts[3]; /* INT, HUP, TERM */

static void write_counts(void)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "INT %d HUP %d TERM %d\n", (int)counts[0],
			 (int)counts[1], (int)counts[2]);
	int fd = open(count_file, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0) {
		if (write(fd, line, n) != n)
			_exit(3);
		close(fd);
	}
}

static void on_counted(int sig)
{
	counts[sig == SIGINT ? 0 : sig == SIGHUP ? 1 : 2]++;
	write_counts();
	if (sig == SIGTERM) {
		signal(SIGTERM, SIG_DFL);
		raise(SIGTERM); /* delivered when the handler returns */
	}
}

static void on_usr1(int sig)
{
	(void)sig;
	_exit(0);
}

static int signals(int argc, char **argv)
{
	if (argc < 3)
		return 2;
	count_file = argv[2];
	write_counts();
	struct sigaction sa = { 0 };
	sa.sa_handler = on_counted;
	sigfillset(&sa.sa_mask); /* one handler at a time: counts are not torn */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	printf("ready pid=%d\n", (int)getpid());
	fflush(stdout);
	for (;;)
		pause();
}

static void one_socket(const char *who)
{
	char line[64];
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	int n = fd < 0 ? snprintf(line, sizeof(line), "%s errno=%d\n", who, errno)
		       : snprintf(line, sizeof(line), "%s proto=%d\n", who, protocol_of(fd));
	if (fd >= 0)
		close(fd);
	if (write(1, line, n) != n)
		_exit(3);
}

static int family(void)
{
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	pid_t child = fork();
	const char *who = child == 0 ? "child" : "parent";
	char line[32];
	int n = snprintf(line, sizeof(line), "ready %s\n", who);
	if (write(1, line, n) != n)
		_exit(3);
	for (;;) {
		int sig;
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGTERM)
			break;
		one_socket(who);
	}
	if (child > 0) {
		kill(child, SIGTERM);
		waitpid(child, NULL, 0);
	}
	return 0;
}

static int bad_values(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		printf("socket errno=%d\n", errno);
		return 1;
	}
	int five = 5, minus_one = -1;
	int repair = setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &five, sizeof(five));
	int repair_errno = repair ? errno : 0;
	int timeout = setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &minus_one, sizeof(minus_one));
	int timeout_errno = timeout ? errno : 0;
	printf("repair=%d/%d user-timeout=%d/%d proto=%d\n", repair, repair_errno, timeout,
	       timeout_errno, protocol_of(fd));
	return 0;
}

static volatile sig_atomic_t stop;

static void on_stop(int sig)
{
	(void)sig;
	stop = 1;
}

static int churn(void)
{
	struct sigaction sa = { 0 };
	sa.sa_handler = on_stop;
	sigaction(SIGTERM, &sa, NULL);
	pid_t child = fork();
	const char *who = child == 0 ? "child" : "parent";
	char line[128];
	int n = snprintf(line, sizeof(line), "ready %s\n", who);
	if (write(1, line, n) != n)
		_exit(3);
	long mptcp = 0, tcp = 0, failed = 0;
	int first_errno = 0;
	while (!stop) {
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			if (!failed++)
				first_errno = errno;
			continue;
		}
		if (protocol_of(fd) == IPPROTO_MPTCP)
			mptcp++;
		else
			tcp++;
		close(fd);
	}
	if (child > 0)
		waitpid(child, NULL, 0);
	n = snprintf(line, sizeof(line), "%s mptcp=%ld tcp=%ld failed=%ld first-errno=%d\n", who,
		     mptcp, tcp, failed, first_errno);
	if (write(1, line, n) != n)
		_exit(3);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	/* Never outlive a test that died before ending it: SIGALRM's default action. */
	alarm(120);
	if (!strcmp(mode, "owner"))
		return owner(argc, argv);
	if (!strcmp(mode, "signals"))
		return signals(argc, argv);
	if (!strcmp(mode, "family"))
		return family();
	if (!strcmp(mode, "bad-values"))
		return bad_values();
	if (!strcmp(mode, "churn"))
		return churn();
	fprintf(stderr, "usage: identity owner [drop] | signals FILE | family | bad-values | churn\n");
	return 2;
}
