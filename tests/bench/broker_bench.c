/* refbus-broker-bench: end-to-end throughput and sender-to-ACCEPTED latency through a real
 * broker process over loopback: a sender node seals 2 KiB referrals and keeps `window` of them
 * unanswered; a recipient node verifies, opens and receipts each DELIVER. Sender, recipient and
 * broker are three processes, as on a real host.
 *   refbus-broker-bench [--count N] [--window W] [--size BYTES]
 * It builds its own test network (tests/lib/net_setup.sh) in a temp dir. Results go to
 * stdout; docs/BENCHMARKS.md records them with this command. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>
#include <zmq.h>

#include "../lib/bclient.h"
#include "common/util.h"
#include "proto/receipt.h"

typedef struct pending {
    uint8_t msg_id[16];
    uint64_t sent_us;
} pending;

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Anonymous resident memory of a process (heap, stacks: what would grow if queued messages
 * were kept in memory), from /proc (KiB), or -1. File-backed pages of the LMDB map are not
 * counted: they are the page cache, shared and reclaimable. */
static long broker_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "RssAnon: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"count", required_argument, 0, 'n'},
                                         {"window", required_argument, 0, 'w'},
                                         {"size", required_argument, 0, 's'},
                                         {"offline", no_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    long count = 20000, window = 64, size = 2048;
    int offline = 0; /* no recipient: everything waits in the broker's queue */
    int c;
    while ((c = getopt_long(argc, argv, "n:w:s:h", opts, NULL)) != -1) {
        switch (c) {
        case 'n': count = atol(optarg); break;
        case 'w': window = atol(optarg); break;
        case 's': size = atol(optarg); break;
        case 'o': offline = 1; break;
        case 'h':
            printf(
                "usage: refbus-broker-bench [--count N] [--window W] [--size BYTES] [--offline]\n");
            return 0;
        default:
            fprintf(stderr, "usage: refbus-broker-bench [--count N] [--window W] [--size BYTES]\n");
            return 2;
        }
    }
    if (count <= 0 || window <= 0 || window > 4096 || size < 0 || size > 1 << 20) {
        fprintf(stderr, "refbus-broker-bench: bad arguments\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    net n;
    net_init(&n);
    const char *opts_b[] = {"checkpoint_seconds=5", "checkpoint_records=100000", NULL};
    net_start_broker(&n, opts_b);
    int fds[2];
    if (pipe(fds) != 0)
        return 1;
    long rss_start = broker_rss_kb(n.broker);
    pid_t child = offline ? -1 : fork();
    if (child == 0) {
        /* the recipient */
        bclient rcv;
        close(fds[0]);
        if (bclient_open(&rcv, &n, "cac.chiangmai", 256, 1) != 0)
            _exit(1);
        long delivered = 0;
        zmq_pollitem_t it = {rcv.sock, 0, ZMQ_POLLIN, 0};
        while (delivered < count && zmq_poll(&it, 1, 10000) > 0) {
            refbus_wire_msg m;
            while (refbus_wire_recv(rcv.sock, 0, &m) == 0) {
                if (m.cmd == REFBUS_CMD_DELIVER) {
                    refbus_envelope_header h;
                    uint8_t *pl = NULL;
                    size_t pl_len = 0;
                    if (bclient_accept_delivery(&rcv, &n, &m, &h, &pl, &pl_len) == 0)
                        delivered++;
                    refbus_envelope_payload_free(&pl, pl_len);
                }
                refbus_wire_msg_clear(&m);
            }
        }
        uint64_t done[2] = {now_us(), (uint64_t)delivered};
        if (write(fds[1], done, sizeof done) != (ssize_t)sizeof done)
            _exit(1);
        bclient_close(&rcv);
        _exit(0);
    }
    close(fds[1]);
    bclient snd;
    if (bclient_open(&snd, &n, "ngo.hots", 64, 1) != 0) {
        fprintf(stderr, "refbus-broker-bench: cannot connect\n");
        net_free(&n);
        return 1;
    }
    char *payload = malloc((size_t)size + 1);
    memset(payload, 'r', (size_t)size);
    pending *pend = calloc((size_t)window, sizeof *pend);
    uint64_t *lat = calloc((size_t)count, sizeof *lat);
    long sent = 0, accepted = 0, delivered = 0, outstanding = 0, rejected = 0;
    usleep(300000); /* let the recipient connect */
    uint64_t t0 = now_us();
    zmq_pollitem_t items[1] = {{snd.sock, 0, ZMQ_POLLIN, 0}};
    while (accepted + rejected < count) {
        while (sent < count && outstanding < window) {
            uint8_t *env = NULL;
            size_t len = 0;
            refbus_envelope_header h;
            if (bclient_seal(&snd, &n, "cac.chiangmai", payload, (size_t)size, 0, 0, &env, &len) !=
                    0 ||
                refbus_envelope_parse(&h, env, len) != 0)
                abort();
            for (long i = 0; i < window; i++)
                if (pend[i].sent_us == 0) {
                    memcpy(pend[i].msg_id, h.msg_id, 16);
                    pend[i].sent_us = now_us();
                    break;
                }
            if (bclient_send(&snd, REFBUS_CMD_SUBMIT, env, len) != 0)
                abort();
            free(env);
            sent++;
            outstanding++;
        }
        if (zmq_poll(items, 1, 10000) <= 0) {
            fprintf(stderr, "refbus-broker-bench: stalled (sent %ld accepted %ld)\n", sent,
                    accepted);
            break;
        }
        refbus_wire_msg m;
        while (refbus_wire_recv(snd.sock, 0, &m) == 0) {
            refbus_receipt r;
            if ((m.cmd == REFBUS_CMD_ACCEPTED || m.cmd == REFBUS_CMD_REJECTED) &&
                refbus_receipt_parse(&r, m.body, m.body_len) == 0) {
                for (long i = 0; i < window; i++)
                    if (pend[i].sent_us && memcmp(pend[i].msg_id, r.msg_id, 16) == 0) {
                        if (m.cmd == REFBUS_CMD_ACCEPTED)
                            lat[accepted] = now_us() - pend[i].sent_us;
                        pend[i].sent_us = 0;
                        break;
                    }
                if (m.cmd == REFBUS_CMD_ACCEPTED)
                    accepted++;
                else
                    rejected++;
                outstanding--;
            }
            refbus_wire_msg_clear(&m);
        }
    }
    uint64_t done[2] = {0, 0};
    long rss_end = broker_rss_kb(n.broker);
    if (offline) {
        done[0] = now_us();
        printf("offline recipient: broker anonymous RSS %ld KiB before, %ld KiB with %ld queued\n",
               rss_start, rss_end, accepted);
        delivered = count; /* nothing is delivered by design */
    } else {
        if (read(fds[0], done, sizeof done) != (ssize_t)sizeof done)
            done[0] = now_us();
        delivered = (long)done[1];
        int st = 0;
        waitpid(child, &st, 0);
    }
    double secs = (double)(done[0] - t0) / 1e6;
    qsort(lat, (size_t)accepted, sizeof *lat, cmp_u64);
    double p50 = accepted ? (double)lat[accepted / 2] / 1000.0 : 0;
    double p99 = accepted ? (double)lat[(size_t)((double)accepted * 0.99)] / 1000.0 : 0;
    printf("referrals=%ld size=%ld window=%ld accepted=%ld rejected=%ld delivered=%ld "
           "seconds=%.2f end_to_end_per_s=%.0f accept_p50_ms=%.2f accept_p99_ms=%.2f\n",
           count, size, window, accepted, rejected, delivered, secs, (double)delivered / secs, p50,
           p99);
    bclient_close(&snd);
    free(payload);
    free(pend);
    free(lat);
    net_free(&n);
    return delivered == count && rejected == 0 ? 0 : 1;
}
