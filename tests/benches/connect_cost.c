/* What one connection costs over loopback, TCP against MPTCP: the CPU time (user and
 * system, CLOCK_PROCESS_CPUTIME_ID) per connect() + accept() + close() of both ends, in one
 * process. Over loopback the kernel runs the whole handshake in this process's system
 * calls (softirq on its way out), so this is the kernel's work for a connection plus
 * six system calls; CPU time, unlike wall time, holds on a machine busy with other work. The client closes
 * with SO_LINGER 0 (a reset, no TIME_WAIT), so that thousands of connections do not run
 * out of ports. Prints, for each protocol, the median of RUNS runs of COUNT connections.
 *
 *   gcc -O2 -Wall -o /tmp/connect_cost tests/benches/connect_cost.c
 *   unshare -n sh -c 'ip link set lo up && /tmp/connect_cost'     # as root: a quiet netns
 *
 * Cited by BENCHMARKS.md ("For scale: an MPTCP connection costs …"). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif

enum { COUNT = 2000, RUNS = 9 };

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static void die(const char *what) {
    perror(what);
    exit(1);
}

/* Microseconds per connection over COUNT connections of `protocol` to `listener`. */
static double one_run(int protocol, int listener, const struct sockaddr_in *addr) {
    struct linger abort_on_close = {.l_onoff = 1, .l_linger = 0};
    double start = now_us();
    for (int i = 0; i < COUNT; i++) {
        int client = socket(AF_INET, SOCK_STREAM, protocol);
        if (client < 0) die("socket");
        if (connect(client, (const struct sockaddr *)addr, sizeof *addr) < 0) die("connect");
        int server = accept(listener, NULL, NULL);
        if (server < 0) die("accept");
        if (setsockopt(client, SOL_SOCKET, SO_LINGER, &abort_on_close,
                       sizeof abort_on_close) < 0)
            die("SO_LINGER");
        close(client);
        close(server);
    }
    return (now_us() - start) / COUNT;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_us(int protocol) {
    int listener = socket(AF_INET, SOCK_STREAM, protocol);
    if (listener < 0) die("socket (listener)");
    struct sockaddr_in addr = {.sin_family = AF_INET};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (bind(listener, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (listen(listener, 128) < 0) die("listen");
    if (getsockname(listener, (struct sockaddr *)&addr, &len) < 0) die("getsockname");
    one_run(protocol, listener, &addr); /* warm-up */
    double runs[RUNS];
    for (int r = 0; r < RUNS; r++) runs[r] = one_run(protocol, listener, &addr);
    close(listener);
    qsort(runs, RUNS, sizeof runs[0], by_value);
    return runs[RUNS / 2];
}

int main(void) {
    double tcp = median_us(IPPROTO_TCP);
    double mptcp = median_us(IPPROTO_MPTCP);
    printf("CPU time per connect+accept+close over loopback (median of %d runs of %d):\n",
           RUNS, COUNT);
    printf("  TCP    %.1f us\n  MPTCP  %.1f us\n", tcp, mptcp);
    return 0;
}
