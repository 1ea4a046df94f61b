/* Sets options MPTCP refuses on sockets made in every way a program makes them, and prints
 * one line per case: what setsockopt returned, errno afterwards (set to 4242 before each
 * call, so that a success must leave it there), and SO_PROTOCOL of the socket afterwards
 * (6 TCP, 262 MPTCP). Run as `options` or `options nobody` (drops to uid/gid 65534 first).
 * refused_options.rs compares the lines with and without mptcpize. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/close_range.h>
#include <unistd.h>

#define IPPROTO_MPTCP_ 262
#define SENTINEL 4242

static int protocol(int fd)
{
	int p = -1;
	socklen_t len = sizeof(p);
	if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &p, &len) != 0)
		return -errno;
	return p;
}

static void set(const char *name, int fd, int level, int option, int value)
{
	errno = SENTINEL;
	int r = setsockopt(fd, level, option, &value, sizeof(value));
	int e = errno;
	printf("case=%s ret=%d errno=%d proto=%d\n", name, r, e, protocol(fd));
}

static int raw_mptcp_socket(void)
{
	return (int)syscall(SYS_socket, AF_INET, SOCK_STREAM, IPPROTO_MPTCP_);
}

int main(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "nobody") == 0) {
		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534)) {
			perror("drop to nobody");
			return 2;
		}
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	/* TCP requests, before connecting. */
	set("tclass6", socket(AF_INET6, SOCK_STREAM, 0), IPPROTO_IPV6, IPV6_TCLASS, 0x48);
	set("ttl4", socket(AF_INET, SOCK_STREAM, 0), IPPROTO_IP, IP_TTL, 5);
	set("hops6", socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, IPPROTO_TCP), IPPROTO_IPV6,
	    IPV6_UNICAST_HOPS, 9);
	set("user_timeout4", socket(AF_INET, SOCK_STREAM, 0), IPPROTO_TCP, TCP_USER_TIMEOUT,
	    10000);
	set("quickack4", socket(AF_INET, SOCK_STREAM, 0), IPPROTO_TCP, TCP_QUICKACK, 1);
	/* Needs CAP_NET_ADMIN: EPERM as nobody, on TCP as well. */
	set("repair4", socket(AF_INET, SOCK_STREAM, 0), IPPROTO_TCP, TCP_REPAIR, 1);
	/* A value TCP refuses (EINVAL), and an IPv6 option on an IPv4 socket (ENOPROTOOPT). */
	set("ttl4_bad_value", socket(AF_INET, SOCK_STREAM, 0), IPPROTO_IP, IP_TTL, 300);
	set("tclass_on_ipv4", socket(AF_INET, SOCK_STREAM, 0), IPPROTO_IPV6, IPV6_TCLASS, 0x48);

	/* Sockets the program asked MPTCP for: never touched by mptcpize. */
	int explicit = socket(AF_INET, SOCK_STREAM, IPPROTO_MPTCP_);
	set("explicit", explicit, IPPROTO_IP, IP_TTL, 5);
	set("explicit_dup", dup(explicit), IPPROTO_IP, IP_TTL, 5);
	set("raw_syscall", raw_mptcp_socket(), IPPROTO_IP, IP_TTL, 5);

	/* The number of a TCP request's socket, closed and reused by an MPTCP socket the program
	 * made with the raw system call. */
	int made = socket(AF_INET, SOCK_STREAM, 0);
	close(made);
	int reused = raw_mptcp_socket();
	printf("case=reused_number same=%d\n", reused == made);
	set("reused_after_close", reused, IPPROTO_IP, IP_TTL, 5);
	/* Closed where the shim cannot see it (close_range, the raw close system call), and
	 * the number reused by a dup() of the program's own MPTCP socket: never swapped (that
	 * would split the program's dup pair). */
	made = socket(AF_INET, SOCK_STREAM, 0);
	close_range(made, made, 0);
	reused = dup(explicit);
	printf("case=reused_number same=%d\n", reused == made);
	set("reused_after_close_range", reused, IPPROTO_IP, IP_TTL, 5);
	made = socket(AF_INET, SOCK_STREAM, 0);
	syscall(SYS_close, made);
	reused = dup(explicit);
	printf("case=reused_number same=%d\n", reused == made);
	set("reused_after_raw_close", reused, IPPROTO_IP, IP_TTL, 5);
	/* The program's own socket is still MPTCP. */
	set("explicit_after_reuse", explicit, IPPROTO_IP, IP_TTL, 5);
	/* The same, with dup2 over it. */
	made = socket(AF_INET, SOCK_STREAM, 0);
	dup2(raw_mptcp_socket(), made);
	set("reused_after_dup2", made, IPPROTO_IP, IP_TTL, 5);
	made = socket(AF_INET, SOCK_STREAM, 0);
	dup3(raw_mptcp_socket(), made, O_CLOEXEC);
	set("reused_after_dup3", made, IPPROTO_IP, IP_TTL, 5);

	/* A connected socket is never swapped. */
	struct sockaddr_in addr = { .sin_family = AF_INET };
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t len = sizeof(addr);
	int listener = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(listener, (struct sockaddr *)&addr, sizeof(addr)) || listen(listener, 1) ||
	    getsockname(listener, (struct sockaddr *)&addr, &len)) {
		perror("listener");
		return 2;
	}
	int client = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(client, (struct sockaddr *)&addr, sizeof(addr))) {
		perror("connect");
		return 2;
	}
	set("connected", client, IPPROTO_IP, IP_TTL, 5);
	set("listening", listener, IPPROTO_IP, IP_TTL, 5);
	return 0;
}
