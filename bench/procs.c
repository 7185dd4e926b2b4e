/* The processes refbus-bench starts (broker, nodes, redis-server, refbus-keys): spawning with a
 * log file, CPU time and peak memory from /proc, flush counts from the sync shim's page, and a
 * bounded stop. */
#include "bench/bench.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench/sync_counts.h"

uint64_t bench_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int bench_pct_of(bench_pct *out, const uint64_t *lat, size_t n)
{
    uint64_t *v = malloc((n ? n : 1) * sizeof *v);
    size_t k = 0;
    memset(out, 0, sizeof *out);
    if (!v)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (lat[i])
            v[k++] = lat[i];
    if (k) {
        qsort(v, k, sizeof *v, cmp_u64);
        /* nearest rank: the smallest value with at least p% of the samples at or below it */
        out->p50 = v[(k * 50 + 99) / 100 - 1];
        out->p99 = v[(k * 99 + 99) / 100 - 1];
        out->max = v[k - 1];
    }
    out->n = k;
    free(v);
    return 0;
}

uint64_t bench_proc_ticks(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long ut = 0, st = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    /* fields after the command name, which may hold spaces: state is field 3, utime 14 */
    char *p = strrchr(buf, ')');
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (uint64_t)ut + st;
}

long bench_proc_hwm_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

uint64_t bench_proc_syncs(const char *sync_dir, pid_t pid)
{
    char path[PATH_MAX];
    refbus_bench_sync_counts c = {0, 0};
    snprintf(path, sizeof path, "%s/%d.sync", sync_dir, (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    if (pread(fd, &c, sizeof c, 0) != (ssize_t)sizeof c)
        memset(&c, 0, sizeof c);
    close(fd);
    return c.fsyncs + c.dsync_writes;
}

void bench_snap(bench_proc *p, int which, const char *sync_dir)
{
    if (!p->pid)
        return;
    p->ticks[which] = bench_proc_ticks(p->pid);
    p->syncs[which] = sync_dir ? bench_proc_syncs(sync_dir, p->pid) : 0;
}

static pid_t spawn(char *const argv[], char *const env[], const char *log)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    /* Killed with us: a benchmark stopped by a signal leaves no daemon behind (the main thread
     * spawns everything, and the parent-death signal follows the thread that forked). */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    int in = open("/dev/null", O_RDONLY);
    int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
    if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0 || dup2(out, 2) < 0)
        _exit(127);
    for (size_t i = 0; env && env[i]; i++)
        putenv(env[i]);
    execv(argv[0], argv);
    dprintf(2, "refbus-bench: cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
}

int bench_spawn(bench_proc *p, const char *name, char *const argv[], char *const env[],
                const char *log)
{
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->hwm_kb = -1;
    pid_t pid = spawn(argv, env, log);
    if (pid < 0)
        return -1;
    p->pid = pid;
    return 0;
}

int bench_run(char *const argv[], const char *log, int timeout_s)
{
    pid_t pid = spawn(argv, NULL, log);
    int st = 0;
    if (pid < 0)
        return -1;
    for (long i = 0; i < (long)timeout_s * 100; i++) {
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (r < 0)
            return -1;
        usleep(10000);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &st, 0);
    return -1;
}

int bench_alive(bench_proc *p)
{
    int st;
    if (p->pid > 0 && waitpid(p->pid, &st, WNOHANG) != 0)
        p->pid = 0; /* reaped: never signal that pid again */
    return p->pid > 0;
}

void bench_stop(bench_proc *p)
{
    int st;
    if (p->pid <= 0)
        return;
    long hwm = bench_proc_hwm_kb(p->pid);
    if (hwm >= 0)
        p->hwm_kb = hwm;
    kill(p->pid, SIGTERM);
    for (int i = 0; i < 1000; i++) { /* 10 s */
        pid_t r = waitpid(p->pid, &st, WNOHANG);
        if (r == p->pid || r < 0) {
            p->pid = 0;
            return;
        }
        usleep(10000);
    }
    kill(p->pid, SIGKILL);
    waitpid(p->pid, &st, 0);
    p->pid = 0;
}

int bench_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path) == 0 || errno == ENOENT ? 0 : -1;
}

int bench_rm_rf(const char *dir)
{
    return nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

char *bench_referral_json(const char *case_ref, long size)
{
    static const char head[] = "{\"case_ref\":\"%s\",\"type\":\"other\",\"urgency\":\"urgent\","
                               "\"child\":{\"pseudonym\":\"bench\"},\"consent\":{\"basis\":"
                               "\"child\",\"given_by\":\"child\"},\"summary\":\"";
    size_t cap = sizeof head + strlen(case_ref) + (size_t)size + 8;
    char *s = malloc(cap);
    if (!s)
        return NULL;
    int n = snprintf(s, cap, head, case_ref);
    if (n < 0) {
        free(s);
        return NULL;
    }
    memset(s + n, 'r', (size_t)size);
    memcpy(s + n + size, "\"}", 3);
    return s;
}
