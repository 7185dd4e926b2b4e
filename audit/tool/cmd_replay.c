/* refbus-audit replay: the history as a timeline or JSON lines (refbus_audit_replay), with
 * filters by agency, message id, event, time and index range, optionally grouped per message. */
#include <stdlib.h>
#include <string.h>

#include "audit/record.h"
#include "audit/replay.h"
#include "audit/tool/cli.h"
#include "common/util.h"
#include "proto/envelope.h"

static const char usage_text[] =
    "usage: refbus-audit replay DIR [--agency ID] [--msg HEX] [--event NAME] [--since T]\n"
    "                           [--until T] [--from INDEX] [--to INDEX] [--group]\n"
    "                           [--format text|jsonl | --json]\n"
    "  --agency ID     events whose sender, a recipient or subject agency is ID\n"
    "  --msg HEX       events of one message (its 32-hex-digit id, or a prefix of 8 or more)\n"
    "  --event NAME    one event type (ACCEPTED, DELIVERED, REJECTED, ...)\n"
    "  --since T       events at or after T; --until T: before T. T: Unix milliseconds or\n"
    "                  ISO-8601 UTC (2026-03-14, 2026-03-14T09:30, 2026-03-14T09:30:00.250Z)\n"
    "  --from/--to     index range [from, to)\n"
    "  --group         message by message (each message's events together)\n"
    "  --format F      text (one line per event, the default) or jsonl (one JSON object per\n"
    "                  record, every field); --json is --format jsonl\n";

int cmd_replay(int argc, char **argv)
{
    static const struct option opts[] = {
        {"agency", required_argument, NULL, 'a'}, {"msg", required_argument, NULL, 'm'},
        {"event", required_argument, NULL, 'e'},  {"since", required_argument, NULL, 's'},
        {"until", required_argument, NULL, 'u'},  {"from", required_argument, NULL, 'F'},
        {"to", required_argument, NULL, 'T'},     {"group", no_argument, NULL, 'g'},
        {"format", required_argument, NULL, 'f'}, {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    refbus_replay_filter f;
    enum refbus_replay_format fmt = REFBUS_REPLAY_TEXT;
    uint8_t msg[REFBUS_MSG_ID_BYTES];
    int group = 0, c, rc;
    refbus_audit_reader *r = NULL;
    refbus_replay_filter_init(&f);
    while ((c = getopt_long(argc, argv, REFBUS_CLI_OPTS "h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': f.agency = optarg; break;
        case 'm': {
            size_t hl = strlen(optarg);
            if (hl < 8 || hl > 2 * REFBUS_MSG_ID_BYTES || hl % 2 ||
                refbus_unhex(msg, hl / 2, optarg) != 0)
                return cli_misuse("replay", "bad --msg '%s' (8 to 32 hex digits, even)", optarg);
            f.msg_id = msg;
            f.msg_id_len = hl / 2;
            break;
        }
        case 'e':
            if ((f.event = refbus_audit_event_parse(optarg)) < 0)
                return cli_misuse("replay", "unknown --event '%s'", optarg);
            break;
        case 's':
        case 'u':
            if (refbus_audit_time_parse(optarg, c == 's' ? &f.since_ms : &f.until_ms) != 0)
                return cli_misuse("replay", "bad time '%s'", optarg);
            break;
        case 'F':
        case 'T':
            if (cli_u64(c == 'F' ? &f.from_index : &f.to_index, optarg) != 0)
                return cli_misuse("replay", "bad index '%s'", optarg);
            break;
        case 'g': group = 1; break;
        case 'f':
            if (strcmp(optarg, "text") == 0)
                fmt = REFBUS_REPLAY_TEXT;
            else if (strcmp(optarg, "jsonl") == 0)
                fmt = REFBUS_REPLAY_JSONL;
            else
                return cli_misuse("replay", "--format is text or jsonl");
            break;
        case 'j': fmt = REFBUS_REPLAY_JSONL; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: return cli_bad_option("replay", c, argv, opts);
        }
    }
    if (optind + 1 != argc)
        return cli_misuse("replay", "give exactly one DIR");
    if (f.until_ms && f.until_ms <= f.since_ms)
        return cli_misuse("replay", "--until must be after --since");
    if ((rc = cli_open("replay", argv[optind], &r)) != 0)
        return rc;
    uint64_t n = 0;
    int e = refbus_audit_replay(r, &f, fmt, group, stdout, &n);
    refbus_audit_reader_close(&r);
    if (e != 0)
        return cli_fail("replay", argv[optind], e);
    return 0;
}
