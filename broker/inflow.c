/* Memory bounded by what peers send. libzmq hands a multipart message over only once all its
 * frames have arrived, and nothing in libzmq 4.3 bounds the number of frames (ZMQ_MAXMSGSIZE is
 * per frame, ZMQ_RCVHWM counts whole messages): one enrolled agency sending 400 frames of 1 MiB
 * in one message grew the broker to 390 MB. So the broker keeps, per connection, the bytes it
 * received as whole messages (ZMQ_SRCFD says which connection a message came on) and compares
 * them with what libzmq read from that socket (TCP_INFO bytes received minus what still waits
 * in the kernel, SIOCINQ). When the process's anonymous memory passes max_memory_mb, the
 * connection furthest ahead — the one libzmq is buffering an unfinished message for — is cut
 * with shutdown(2): libzmq reads end of file, closes it and frees its frames. The event is
 * audited (PEER_REFUSED, ETOOLARGE). Cost: one read of /proc/self/statm per loop pass; the walk
 * over /proc/self/fd happens only over the limit. */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "broker/internal.h"
#include "common/harden.h"
#include "common/log.h"
#include "common/util.h"

/* Below this a connection is not cut even over the limit: it is at most a few whole messages
 * libzmq holds for refbus's next pass. */
#define INFLOW_MIN_CUT (2u * REFBUS_WIRE_MAX_BODY)
#define INFLOW_CHECK_MS 20u

struct broker_inflow_conn {
    int fd;
    uint8_t rid[256]; /* the routing id: a new connection on a reused fd has another one */
    size_t rid_len;
    uint64_t taken;                 /* bytes of whole messages received from it (wire_bytes) */
    struct sockaddr_storage remote; /* the peer's address: a reused fd has another one */
    int have_remote;
};

/* A descriptor libzmq reported closed (liveness.c: socket monitor): its count must not pass to
 * the next connection that gets the same number, or that connection could buffer as much as
 * the old one ever sent before it looked "ahead" and was cut. */
void broker_inflow_forget(refbus_broker *b, int fd)
{
    for (size_t i = 0; i < b->n_conns; i++)
        if (b->conns[i].fd == fd) {
            b->conns[i] = b->conns[--b->n_conns];
            return;
        }
}

void broker_inflow_note(refbus_broker *b, const refbus_wire_msg *m, const char *agency)
{
    struct broker_inflow_conn *c = NULL;
    (void)agency;
    if (m->peer_fd < 0)
        return;
    for (size_t i = 0; i < b->n_conns && !c; i++)
        if (b->conns[i].fd == m->peer_fd)
            c = &b->conns[i];
    if (!c) {
        if (b->n_conns == b->cap_conns) {
            size_t cap = b->cap_conns ? b->cap_conns * 2 : 64;
            struct broker_inflow_conn *a = realloc(b->conns, cap * sizeof *a);
            if (!a)
                return; /* not counted: this connection looks further ahead than it is */
            b->conns = a;
            b->cap_conns = cap;
        }
        c = &b->conns[b->n_conns++];
        memset(c, 0, sizeof *c);
        c->fd = m->peer_fd;
    }
    if (c->rid_len != m->rid_len || memcmp(c->rid, m->rid, m->rid_len) != 0) {
        socklen_t rl = sizeof c->remote;
        memcpy(c->rid, m->rid, m->rid_len);
        c->rid_len = m->rid_len;
        c->taken = 0;
        c->have_remote = getpeername(c->fd, (struct sockaddr *)&c->remote, &rl) == 0;
    }
    c->taken += m->wire_bytes;
}

void broker_inflow_free(refbus_broker *b)
{
    free(b->conns);
    b->conns = NULL;
    b->n_conns = b->cap_conns = 0;
}

static int bind_port(const refbus_broker *b)
{
    const char *colon = strrchr(b->cfg.bind, ':');
    if (strncmp(b->cfg.bind, "tcp://", 6) != 0 || !colon)
        return -1;
    return atoi(colon + 1);
}

/* Bytes libzmq read from `fd` when it is one of our accepted TCP connections; -1 otherwise. */
static int64_t read_by_libzmq(int fd, int port, struct sockaddr_storage *remote)
{
    struct stat st;
    struct sockaddr_storage local;
    socklen_t ll = sizeof local, pl = sizeof *remote;
    uint64_t read = 0;
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode) ||
        getsockname(fd, (struct sockaddr *)&local, &ll) != 0 ||
        refbus_sockaddr_port(&local) != port ||
        getpeername(fd, (struct sockaddr *)remote, &pl) != 0)
        return -1;
    /* not ESTABLISHED (already cut, or closing: libzmq is letting it go) is skipped */
    if (refbus_sock_bytes_read(fd, &read) != 0 || read > INT64_MAX)
        return -1;
    return (int64_t)read;
}

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family || refbus_sockaddr_port(a) != refbus_sockaddr_port(b))
        return 0;
    if (a->ss_family == AF_INET)
        return memcmp(&((const struct sockaddr_in *)a)->sin_addr,
                      &((const struct sockaddr_in *)b)->sin_addr, sizeof(struct in_addr)) == 0;
    if (a->ss_family == AF_INET6)
        return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                      &((const struct sockaddr_in6 *)b)->sin6_addr, sizeof(struct in6_addr)) == 0;
    return 0;
}

static void audit_cut(refbus_broker *b, const char *agency, const char *text)
{
    MDB_txn *txn = NULL;
    Refbus__V1__AuditRecord r;
    if (!broker_audit_budget(b, agency))
        return;
    if (mdb_txn_begin(b->store->env, NULL, 0, &txn) != 0)
        return;
    broker_audit_init(&r, REFBUS__V1__EVENT_TYPE__EVENT_PEER_REFUSED);
    r.agency = (char *)agency;
    r.reason = REFBUS_ETOOLARGE;
    r.reason_text = (char *)text;
    int rc = broker_audit(b, txn, &r);
    if (rc != 0)
        mdb_txn_abort(txn); /* never after a failed commit: the commit freed the txn */
    else
        rc = mdb_txn_commit(txn);
    if (rc != 0) {
        b->txn_error = 0;
        broker_sync_audit_size(b, NULL);
        log_error("the audit record of a cut connection was not written");
    }
}

void broker_inflow_check(refbus_broker *b)
{
    uint64_t now = refbus_mono_ms(), limit = (uint64_t)b->cfg.max_memory_mb << 20;
    if (now < b->inflow_next_ms)
        return;
    b->inflow_next_ms = now + INFLOW_CHECK_MS;
    uint64_t anon = refbus_mem_anon_bytes();
    if (anon <= limit)
        return;
    malloc_trim(0); /* what a cut connection left behind, before blaming anyone else */
    if ((anon = refbus_mem_anon_bytes()) <= limit)
        return;
    int port = bind_port(b), best_fd = -1;
    uint64_t best = 0;
    struct sockaddr_storage best_peer;
    memset(&best_peer, 0, sizeof best_peer);
    DIR *dir = port > 0 ? opendir("/proc/self/fd") : NULL;
    for (struct dirent *e; dir && (e = readdir(dir));) {
        struct sockaddr_storage remote;
        int fd = atoi(e->d_name);
        if (e->d_name[0] < '0' || e->d_name[0] > '9' || fd == dirfd(dir))
            continue;
        int64_t read = read_by_libzmq(fd, port, &remote);
        if (read < 0)
            continue;
        uint64_t taken = 0;
        for (size_t i = 0; i < b->n_conns; i++)
            if (b->conns[i].fd == fd && b->conns[i].have_remote &&
                same_addr(&b->conns[i].remote, &remote))
                taken = b->conns[i].taken; /* else a new connection on a reused fd: none yet */
        uint64_t ahead = (uint64_t)read > taken ? (uint64_t)read - taken : 0;
        if (ahead > best) {
            best = ahead;
            best_fd = fd;
            best_peer = remote;
        }
    }
    if (dir)
        closedir(dir);
    if (best_fd < 0 || best < INFLOW_MIN_CUT) {
        if (now - b->inflow_warned_ms >= 60000) {
            b->inflow_warned_ms = now;
            log_warn("memory %llu MiB is over max_memory_mb %u and no connection holds an "
                     "unfinished message to blame%s",
                     (unsigned long long)(anon >> 20), b->cfg.max_memory_mb,
                     port > 0 ? "" : " (only tcp:// binds are watched)");
        }
        return;
    }
    /* Which agency: the routing id of the connection's last whole message, if any. */
    const char *agency = "";
    for (size_t i = 0; i < b->n_conns; i++) {
        if (b->conns[i].fd != best_fd)
            continue;
        peer *p = broker_peer_by_rid(b, b->conns[i].rid, b->conns[i].rid_len);
        if (p)
            agency = p->agency;
        b->conns[i] = b->conns[--b->n_conns];
        break;
    }
    char addr[64] = "?", text[256];
    if (best_peer.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&best_peer)->sin_addr, addr, sizeof addr);
    else if (best_peer.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&best_peer)->sin6_addr, addr, sizeof addr);
    snprintf(text, sizeof text,
             "connection from %s:%d cut: %llu MiB sent without finishing a message while the "
             "broker held %llu MiB (max_memory_mb %u)",
             addr, refbus_sockaddr_port(&best_peer), (unsigned long long)(best >> 20),
             (unsigned long long)(anon >> 20), b->cfg.max_memory_mb);
    /* libzmq owns the descriptor: shutdown (not close) makes it read end of file and close
     * it itself, dropping what it buffered for that connection. */
    if (shutdown(best_fd, SHUT_RDWR) != 0) {
        log_error("%s: shutdown failed: %s", text, strerror(errno));
        return;
    }
    b->inflow_cuts++;
    log_error("%s%s%s", agency[0] ? agency : "", agency[0] ? ": " : "", text);
    audit_cut(b, agency, text);
}
