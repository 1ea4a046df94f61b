/* Which network namespace a socket made under seccomp mode lives in (tests/seccomp.rs).
 *
 *   private_netns private|shared dumpable|nondumpable
 *       private: unshare(CLONE_NEWUSER | CLONE_NEWNET) first, which any user may do: a
 *       network namespace of its own, whose loopback is down. nondumpable:
 *       prctl(PR_SET_DUMPABLE, 0), which denies an unprivileged supervisor /proc/PID/ns/net.
 *       Then socket(AF_INET, SOCK_STREAM, 0) and connect() to 127.0.0.1:9; prints
 *       "connect errno=E proto=P". In its own namespace 127.0.0.1 is unreachable
 *       (ENETUNREACH); in the launcher's, whose loopback is up and where nothing listens on
 *       port 9, the connection is refused (ECONNREFUSED).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: private_netns private|shared dumpable|nondumpable\n");
		return 2;
	}
	if (!strcmp(argv[1], "private") && unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
		perror("unshare");
		return 1;
	}
	if (!strcmp(argv[2], "nondumpable") && prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) {
		perror("prctl");
		return 1;
	}
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		printf("socket errno=%d\n", errno);
		return 1;
	}
	int proto = -1;
	socklen_t len = sizeof(proto);
	getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len);
	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_port = htons(9),
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int rc = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	printf("connect errno=%d proto=%d\n", rc == 0 ? 0 : errno, proto);
	return 0;
}
