/* What the report library costs a program, in user-space instructions (run under
 * callgrind by bench.sh): N iterations of one of
 *   file  open("/dev/null") + close()        - a close() of a descriptor never tracked
 *   conn  connect() to a loopback listener + accept() + close() of both ends
 *         - the accepted and the connected socket are each reported once
 * Usage: close_cost file|conn N
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	if (argc != 3)
		return 2;
	int n = atoi(argv[2]);
	if (strcmp(argv[1], "file") == 0) {
		for (int i = 0; i < n; i++) {
			int fd = open("/dev/null", O_RDONLY);
			if (fd < 0 || close(fd) != 0)
				return 1;
		}
		return 0;
	}
	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	int l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&addr, len) || listen(l, 16) ||
	    getsockname(l, (struct sockaddr *)&addr, &len))
		return 1;
	for (int i = 0; i < n; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);
		if (c < 0 || connect(c, (struct sockaddr *)&addr, sizeof(addr)))
			return 1;
		int a = accept(l, NULL, NULL);
		if (a < 0 || close(c) || close(a))
			return 1;
	}
	return 0;
}
