/* Room in the store. A full map must not stop the work that frees it (DELIVERED receipts,
 * acks, expiry all write a little: LMDB copies every page it touches), so new messages are
 * refused, transiently, once the live data would pass a high-water share of the map, and one
 * sending agency may hold only its quota of queued bytes (one agency flooding an offline one
 * must not stop everyone). Storage errors are logged at most once per LOG_EVERY_MS each. */
#include "broker/internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"

#define LOG_EVERY_MS 10000u
/* What one accepted message costs beyond its bytes: queue, expiry, pending, dedup entries and
 * the pages their trees copy, plus its audit record; rounded up generously. */
#define PER_MESSAGE 4096u
#define PER_RECIPIENT 1024u

void broker_room_begin(refbus_broker *b, MDB_txn *txn)
{
    uint64_t used = 0, map = 0, limit;
    limit = (b->cfg.map_size_mb << 20) / 100u * b->cfg.high_water_percent;
    b->room_batch = 0;
    if (refbus_bstore_usage(b->store, txn, limit / 2, &used, &map) != 0) {
        b->room_used = UINT64_MAX; /* cannot tell: accept nothing new this pass */
        return;
    }
    b->room_used = used;
    b->room_limit = map / 100u * b->cfg.high_water_percent;
    b->room_map = map;
}

int broker_room_admit(refbus_broker *b, MDB_txn *txn, const refbus_envelope_header *h, size_t len,
                      char *why, size_t whylen)
{
    if (b->full_level > 0) {
        int rc = b->full_err ? b->full_err : REFBUS_EMAPFULL;
        snprintf(why, whylen, "%s",
                 rc == REFBUS_ENOSPC ? "broker disk full: try again later"
                                     : "broker storage full: try again later");
        return rc;
    }
    uint64_t cost = len + PER_MESSAGE + PER_RECIPIENT * h->n_recipients;
    if (b->room_used == UINT64_MAX || b->room_used + b->room_batch + cost > b->room_limit) {
        if (!b->above_high_water)
            log_warn("storage above its high-water mark (%llu of %llu bytes in use, %u%% "
                     "allowed for new messages): refusing new messages, still delivering",
                     (unsigned long long)b->room_used, (unsigned long long)b->room_map,
                     b->cfg.high_water_percent);
        b->above_high_water = 1;
        snprintf(why, whylen, "broker storage full (above %u%% of its map): try again later",
                 b->cfg.high_water_percent);
        return REFBUS_EMAPFULL;
    }
    uint64_t quota = b->cfg.agency_quota_mb ? b->cfg.agency_quota_mb << 20 : b->room_map / 4u;
    uint64_t queued = 0;
    int rc = broker_txn_check(b, refbus_bstore_queued_bytes(b->store, txn, h->sender, &queued));
    if (rc != 0) {
        snprintf(why, whylen, "%s", refbus_strerror(rc));
        return rc;
    }
    /* An agency with nothing queued may always send one message (the high-water mark still
     * holds): a quota below one envelope must not refuse it for ever, "later" never comes. */
    if (queued > 0 && queued + len > quota) {
        snprintf(why, whylen,
                 "agency %s has %llu bytes queued for recipients that have not taken them "
                 "(quota %llu): try again later",
                 h->sender, (unsigned long long)queued, (unsigned long long)quota);
        return REFBUS_EQUOTA;
    }
    if (b->above_high_water)
        log_info("storage below its high-water mark again: accepting new messages");
    b->above_high_water = 0;
    b->room_batch += cost;
    return 0;
}

void broker_storage_log(refbus_broker *b, int rc, const char *fmt, ...)
{
    char text[400];
    uint64_t now = refbus_mono_ms();
    if (rc == b->slog.rc && now - b->slog.at_ms < LOG_EVERY_MS) {
        b->slog.suppressed++;
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    if (b->slog.suppressed)
        log_error("%s (%u more like this in the last %u s)", text, b->slog.suppressed,
                  LOG_EVERY_MS / 1000u);
    else
        log_error("%s", text);
    b->slog.rc = rc;
    b->slog.at_ms = now;
    b->slog.suppressed = 0;
}
