/* A client that sets TCP_USER_TIMEOUT before connecting, as gRPC does, and carries on with
 * a warning when the option fails: `user_timeout_client HOST PORT` sends its stdin to
 * HOST:PORT, shuts its side down, and reads until the server closes. It prints the
 * socket's SO_PROTOCOL at the end (6 TCP, 262 MPTCP). */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s HOST PORT\n", argv[0]);
		return 2;
	}
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai;
	int e = getaddrinfo(argv[1], argv[2], &hints, &ai);
	if (e) {
		fprintf(stderr, "getaddrinfo: %s\n", gai_strerror(e));
		return 2;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM, 0);
	int timeout_ms = 20000;
	if (setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &timeout_ms, sizeof(timeout_ms)))
		fprintf(stderr, "warning: setsockopt(TCP_USER_TIMEOUT): %s\n", strerror(errno));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen)) {
		perror("connect");
		return 1;
	}
	char buf[65536];
	ssize_t n;
	while ((n = read(0, buf, sizeof(buf))) > 0) {
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(fd, buf + off, n - off);
			if (w < 0) {
				perror("write");
				return 1;
			}
			off += w;
		}
	}
	shutdown(fd, SHUT_WR);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		;
	int proto = -1;
	socklen_t len = sizeof(proto);
	getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &proto, &len);
	fprintf(stderr, "user_timeout_client: SO_PROTOCOL %d\n", proto);
	return n < 0;
}
