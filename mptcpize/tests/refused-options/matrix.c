/* The refused-options matrix: every option MPTCP refuses (mptcp_policy::refused_options::
 * REFUSED_OPTIONS), with the values that matter (the kernel's default, what a fresh socket
 * has, a real value), on a client socket (unbound), on a listener to be (bound to a port)
 * and on a listening socket, each set once on a new socket. One line per case:
 *   option=NAME value=LABEL role=client|listener|listening ret=R errno=E proto=P tos=T
 * ret and errno are setsockopt's (errno set to 4242 before, so a success leaves it), proto
 * is SO_PROTOCOL afterwards (6 TCP, 262 MPTCP), tos is IP_TOS afterwards (the equivalent
 * mptcpize sets for IPV6_TCLASS). refused_options.rs compares the lines with and without
 * mptcpize, and writes the README's table from them. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/net_tstamp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SENTINEL 4242
#ifndef TCP_TX_DELAY
#define TCP_TX_DELAY 37
#endif
#ifndef TCP_ULP
#define TCP_ULP 31
#endif
#ifndef SO_TXTIME
#define SO_TXTIME 61
#endif

static int int_option(int fd, int level, int option)
{
	int v = -12345;
	socklen_t len = sizeof(v);
	if (getsockopt(fd, level, option, &v, &len) != 0)
		return -errno;
	return v;
}

/* A new socket of `family` in `role`: "client" (unbound), "listener" (bound to the
 * loopback address, port chosen by the kernel) or "listening" (bound, and listening). */
static int new_socket(int family, const char *role)
{
	int fd = socket(family, SOCK_STREAM, 0);
	if (fd < 0) {
		perror("socket");
		exit(2);
	}
	if (strcmp(role, "client") != 0) {
		struct sockaddr_storage ss = { 0 };
		socklen_t len;
		if (family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&ss;
			a->sin_family = AF_INET;
			a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			len = sizeof(*a);
		} else {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
			a->sin6_family = AF_INET6;
			a->sin6_addr = in6addr_loopback;
			len = sizeof(*a);
		}
		if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
			perror("bind");
			exit(2);
		}
		if (strcmp(role, "listening") == 0 && listen(fd, 1) != 0) {
			perror("listen");
			exit(2);
		}
	}
	return fd;
}

static void one(const char *name, int family, int level, int option, const char *label,
		const void *value, socklen_t len)
{
	const char *roles[] = { "client", "listener", "listening" };
	for (int i = 0; i < 3; i++) {
		int fd = new_socket(family, roles[i]);
		errno = SENTINEL;
		int r = setsockopt(fd, level, option, value, len);
		int e = errno;
		printf("option=%s value=%s role=%s ret=%d errno=%d proto=%d tos=%d\n", name, label,
		       roles[i], r, e, int_option(fd, SOL_SOCKET, SO_PROTOCOL),
		       int_option(fd, IPPROTO_IP, IP_TOS));
		close(fd);
	}
}

static void ints(const char *name, int family, int level, int option, const char *label,
		 int value)
{
	one(name, family, level, option, label, &value, sizeof(value));
}

static int sysctl(const char *path)
{
	FILE *f = fopen(path, "r");
	int v = -1;
	if (!f || fscanf(f, "%d", &v) != 1) {
		perror(path);
		exit(2);
	}
	fclose(f);
	return v;
}

int main(void)
{
	setvbuf(stdout, NULL, _IONBF, 0);
	const int v4 = AF_INET, v6 = AF_INET6, tcp = IPPROTO_TCP, ip = IPPROTO_IP,
		  ip6 = IPPROTO_IPV6, sol = SOL_SOCKET;
	/* What a fresh TCP socket reports, from the sysctls it follows. */
	int ttl = sysctl("/proc/sys/net/ipv4/ip_default_ttl");
	int hops = sysctl("/proc/sys/net/ipv6/conf/default/hop_limit");
	int syn_retries = sysctl("/proc/sys/net/ipv4/tcp_syn_retries");
	int fin_timeout = sysctl("/proc/sys/net/ipv4/tcp_fin_timeout");
	int pmtudisc = sysctl("/proc/sys/net/ipv4/ip_no_pmtu_disc") ? IP_PMTUDISC_DONT
								    : IP_PMTUDISC_WANT;

	ints("TCP_USER_TIMEOUT", v4, tcp, TCP_USER_TIMEOUT, "0", 0);
	ints("TCP_USER_TIMEOUT", v4, tcp, TCP_USER_TIMEOUT, "120000", 120000);
	ints("TCP_QUICKACK", v4, tcp, TCP_QUICKACK, "1", 1);
	ints("TCP_QUICKACK", v4, tcp, TCP_QUICKACK, "0", 0);
	ints("TCP_SYNCNT", v4, tcp, TCP_SYNCNT, "sysctl", syn_retries);
	ints("TCP_SYNCNT", v4, tcp, TCP_SYNCNT, "2", 2);
	ints("TCP_WINDOW_CLAMP", v4, tcp, TCP_WINDOW_CLAMP, "0", 0);
	ints("TCP_WINDOW_CLAMP", v4, tcp, TCP_WINDOW_CLAMP, "65535", 65535);
	ints("TCP_LINGER2", v4, tcp, TCP_LINGER2, "0", 0);
	ints("TCP_LINGER2", v4, tcp, TCP_LINGER2, "sysctl", fin_timeout);
	ints("TCP_LINGER2", v4, tcp, TCP_LINGER2, "30", 30);
	ints("TCP_LINGER2", v4, tcp, TCP_LINGER2, "-1", -1);
	ints("TCP_SAVE_SYN", v4, tcp, TCP_SAVE_SYN, "0", 0);
	ints("TCP_SAVE_SYN", v4, tcp, TCP_SAVE_SYN, "1", 1);
	ints("TCP_TX_DELAY", v4, tcp, TCP_TX_DELAY, "0", 0);
	ints("TCP_TX_DELAY", v4, tcp, TCP_TX_DELAY, "1000", 1000);
	ints("TCP_THIN_LINEAR_TIMEOUTS", v4, tcp, TCP_THIN_LINEAR_TIMEOUTS, "0", 0);
	ints("TCP_THIN_LINEAR_TIMEOUTS", v4, tcp, TCP_THIN_LINEAR_TIMEOUTS, "1", 1);
	{
		struct tcp_md5sig md5 = { 0 };
		struct sockaddr_in *peer = (struct sockaddr_in *)&md5.tcpm_addr;
		peer->sin_family = AF_INET;
		peer->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		one("TCP_MD5SIG", v4, tcp, TCP_MD5SIG, "delete", &md5, sizeof(md5));
		md5.tcpm_keylen = 6;
		memcpy(md5.tcpm_key, "secret", 6);
		one("TCP_MD5SIG", v4, tcp, TCP_MD5SIG, "key", &md5, sizeof(md5));
	}
	ints("TCP_REPAIR", v4, tcp, TCP_REPAIR, "0", 0);
	ints("TCP_REPAIR", v4, tcp, TCP_REPAIR, "1", 1);
	one("TCP_ULP", v4, tcp, TCP_ULP, "tls", "tls", 3);
	ints("IP_TTL", v4, ip, IP_TTL, "-1", -1);
	ints("IP_TTL", v4, ip, IP_TTL, "sysctl", ttl);
	ints("IP_TTL", v4, ip, IP_TTL, "5", 5);
	ints("IP_RECVERR", v4, ip, IP_RECVERR, "0", 0);
	ints("IP_RECVERR", v4, ip, IP_RECVERR, "1", 1);
	ints("IP_MTU_DISCOVER", v4, ip, IP_MTU_DISCOVER, "sysctl", pmtudisc);
	ints("IP_MTU_DISCOVER", v4, ip, IP_MTU_DISCOVER, "DO", IP_PMTUDISC_DO);
	ints("IP_PKTINFO", v4, ip, IP_PKTINFO, "0", 0);
	ints("IP_PKTINFO", v4, ip, IP_PKTINFO, "1", 1);
	ints("IP_MINTTL", v4, ip, IP_MINTTL, "0", 0);
	ints("IP_MINTTL", v4, ip, IP_MINTTL, "5", 5);
	ints("IPV6_TCLASS", v6, ip6, IPV6_TCLASS, "-1", -1);
	ints("IPV6_TCLASS", v6, ip6, IPV6_TCLASS, "0", 0);
	ints("IPV6_TCLASS", v6, ip6, IPV6_TCLASS, "0x88", 0x88);
	ints("IPV6_UNICAST_HOPS", v6, ip6, IPV6_UNICAST_HOPS, "-1", -1);
	ints("IPV6_UNICAST_HOPS", v6, ip6, IPV6_UNICAST_HOPS, "sysctl", hops);
	ints("IPV6_UNICAST_HOPS", v6, ip6, IPV6_UNICAST_HOPS, "9", 9);
	ints("IPV6_RECVERR", v6, ip6, IPV6_RECVERR, "0", 0);
	ints("IPV6_RECVERR", v6, ip6, IPV6_RECVERR, "1", 1);
	ints("IPV6_MTU_DISCOVER", v6, ip6, IPV6_MTU_DISCOVER, "WANT", IPV6_PMTUDISC_WANT);
	ints("IPV6_MTU_DISCOVER", v6, ip6, IPV6_MTU_DISCOVER, "DO", IPV6_PMTUDISC_DO);
	ints("SO_ZEROCOPY", v4, sol, SO_ZEROCOPY, "0", 0);
	ints("SO_ZEROCOPY", v4, sol, SO_ZEROCOPY, "1", 1);
	ints("SO_MAX_PACING_RATE", v4, sol, SO_MAX_PACING_RATE, "~0", -1);
	ints("SO_MAX_PACING_RATE", v4, sol, SO_MAX_PACING_RATE, "1000000", 1000000);
	ints("SO_OOBINLINE", v4, sol, SO_OOBINLINE, "0", 0);
	ints("SO_OOBINLINE", v4, sol, SO_OOBINLINE, "1", 1);
	ints("SO_PEEK_OFF", v4, sol, SO_PEEK_OFF, "-1", -1);
	ints("SO_PEEK_OFF", v4, sol, SO_PEEK_OFF, "0", 0);
	{
		struct sock_txtime txtime = { .clockid = CLOCK_MONOTONIC, .flags = 0 };
		one("SO_TXTIME", v4, sol, SO_TXTIME, "MONOTONIC", &txtime, sizeof(txtime));
	}
	return 0;
}
