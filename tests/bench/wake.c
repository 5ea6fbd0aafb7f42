/* tests/bench/wake.c — what waking a sleeping process costs on this machine.
 *
 *   wake [--cores A,B] [--rounds N]
 *
 * Two processes pass one byte back and forth over a socketpair, each
 * sleeping in poll() until the other's byte arrives: the shape of every hop
 * of a relayed request (client, gateway, upstream), without the work. Run
 * twice: the two on cores A and B, then both on A. Prints one JSON line:
 *   {"cores":"A,B","rounds":N,"cross_p50_us":..,"cross_p99_us":..,
 *    "same_p50_us":..,"same_p99_us":..}
 * A round trip is two wake-ups. On one core the sender's own sleep hands
 * the CPU over; across cores an idle CPU must be woken, which in a VM that
 * halts its idle vCPUs at once (no guest halt polling) is a trip through the
 * hypervisor each time. The benchmark prints both next to the gateways'
 * added latency, which pays four such wake-ups per request.
 * Dependency-free C11; a benchmark helper, it times and checks nothing.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WARMUP 500

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int pin(int core)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(core, &s);
    return sched_setaffinity(0, sizeof s, &s);
}

/* sleep until fd has a byte, then take it: 0, or -1 when the peer is gone */
static int take(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char b;
    for (;;) {
        int n = poll(&p, 1, -1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return -1;
        ssize_t r = read(fd, &b, 1);
        if (r == 1) return 0;
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        return -1;
    }
}

static int give(int fd)
{
    char b = 1;
    ssize_t w;
    do w = write(fd, &b, 1);
    while (w < 0 && errno == EINTR);
    return w == 1 ? 0 : -1;
}

static int cmp_ll(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

/* round trips between this process on core a and a child on core b:
 * their p50 and p99 in µs, or -1 on a failure (said on stderr) */
static int ping_pong(int a, int b, int rounds, double *p50, double *p99)
{
    int sv[2], rc = -1;
    long long *rtt = NULL;
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) {
        fprintf(stderr, "wake: socketpair: %s\n", strerror(errno));
        return -1;
    }
    pid_t child = fork();
    if (child < 0) {
        fprintf(stderr, "wake: fork: %s\n", strerror(errno));
        goto out;
    }
    if (child == 0) {
        close(sv[0]);
        if (pin(b) != 0) _exit(3);
        while (take(sv[1]) == 0 && give(sv[1]) == 0) {}
        _exit(0);
    }
    close(sv[1]);
    sv[1] = -1;
    if (pin(a) != 0) {
        fprintf(stderr, "wake: cannot run on core %d: %s\n", a, strerror(errno));
        goto out;
    }
    rtt = malloc((size_t)rounds * sizeof *rtt);
    if (!rtt) goto out;
    for (int i = -WARMUP; i < rounds; i++) {
        long long t0 = now_ns();
        if (give(sv[0]) != 0 || take(sv[0]) != 0) {
            fprintf(stderr, "wake: the process on core %d stopped answering (is there a core %d?)\n", b, b);
            goto out;
        }
        if (i >= 0) rtt[i] = now_ns() - t0;
    }
    qsort(rtt, (size_t)rounds, sizeof *rtt, cmp_ll);
    *p50 = rtt[rounds / 2] / 1000.0;
    *p99 = rtt[(int)((long long)rounds * 99 / 100)] / 1000.0;
    rc = 0;
out:
    free(rtt);
    close(sv[0]); /* the child's take() sees the end and it exits */
    if (sv[1] >= 0) close(sv[1]);
    if (child > 0) waitpid(child, NULL, 0);
    return rc;
}

static int usage(void)
{
    fprintf(stderr, "usage: wake [--cores A,B] [--rounds N]   (N from 1,000 to 10,000,000)\n");
    return 2;
}

int main(int argc, char **argv)
{
    int a = 1, b = 0, rounds = 20000;
    for (int i = 1; i < argc; i++) {
        char *end;
        if (!strcmp(argv[i], "--cores") && i + 1 < argc) {
            if (sscanf(argv[++i], "%d,%d", &a, &b) != 2 || a < 0 || b < 0 || a >= CPU_SETSIZE || b >= CPU_SETSIZE)
                return usage();
        } else if (!strcmp(argv[i], "--rounds") && i + 1 < argc) {
            long n = strtol(argv[++i], &end, 10);
            if (*end || n < 1000 || n > 10000000) return usage();
            rounds = (int)n;
        } else {
            return usage();
        }
    }
    signal(SIGPIPE, SIG_IGN);
    double c50, c99, s50, s99;
    if (ping_pong(a, b, rounds, &c50, &c99) != 0 || ping_pong(a, a, rounds, &s50, &s99) != 0) return 1;
    printf("{\"cores\":\"%d,%d\",\"rounds\":%d,\"cross_p50_us\":%.1f,\"cross_p99_us\":%.1f,"
           "\"same_p50_us\":%.1f,\"same_p99_us\":%.1f}\n", a, b, rounds, c50, c99, s50, s99);
    return 0;
}
