/* refbus-node send: queue a referral (JSON, from a file or standard input) for one or more
 * agencies; with --wait, wait for the broker's ACCEPTED. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "common/harden.h"
#include "common/util.h"
#include "nodes/client/cli.h"

static const char usage_text[] =
    "usage: refbus-node send [FILE|-] --to AGENCY[,AGENCY...] [--urgency U] [--expires-in D]\n"
    "                        [--msg-id HEX] [--wait[=SECONDS]] [options]\n"
    "  Queues the referral in FILE (default: standard input) for the agencies named.\n"
    "  -t, --to LIST              recipients, comma-separated (required)\n"
    "  -u, --urgency U            routine, urgent or immediate_danger, when the JSON has none\n"
    "  -e, --expires-in D         how long the broker keeps trying (90s, 30m, 12h, 7d)\n"
    "      --msg-id HEX           the message id (32 hex digits) chosen by the caller: after\n"
    "                             a failure look it up with 'outbox MSGID' before sending again\n"
    "  -w, --wait[=SECONDS]       wait (default 30 s) until the broker has accepted "
    "it\n" CLI_CLIENT_HELP;

/* Wait for the broker's answer about msg_id: 0 accepted, 1 failed or timed out. */
static int wait_accepted(cli_state *g, refbus_node *n, const char *msg_id, int wait_s)
{
    struct timespec ts = {0, 100 * 1000 * 1000};
    uint64_t until = refbus_mono_ms() + (uint64_t)wait_s * 1000u;
    for (;;) {
        char *reply = NULL;
        int rc = refbus_node_outbox(n, msg_id, &reply);
        json_t *j = reply ? json_loads(reply, 0, NULL) : NULL;
        const char *state = json_string_value(json_object_get(j, "state"));
        if (rc == 0 && state && strcmp(state, "pending") != 0) {
            cli_print_json(g, reply);
            int failed = strcmp(state, "failed") == 0;
            if (failed)
                fprintf(stderr, "refbus-node send: refused by the broker: %s (%s)\n",
                        json_string_value(json_object_get(j, "reason")),
                        json_string_value(json_object_get(j, "error")));
            json_decref(j);
            free(reply);
            return failed;
        }
        json_decref(j);
        free(reply);
        if (rc && rc != REFBUS_ETIMEOUT)
            return cli_fail_queued(g, "send", rc, refbus_node_last_error(n), msg_id);
        if (refbus_mono_ms() >= until) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "not accepted by the broker within %d s; still queued, "
                     "do not send it again (see `refbus-node outbox %s`)",
                     wait_s, msg_id);
            return cli_fail_queued(g, "send", REFBUS_ETIMEOUT, msg, msg_id);
        }
        nanosleep(&ts, NULL);
    }
}

static int send_referral(cli_state *g, const char *file, const char *to, const char *urgency,
                         const char *expires_in, const char *msg_id, int wait_s)
{
    refbus_node *n = NULL;
    char *text = NULL, *reply = NULL, *tos = NULL, msg[256];
    const char *list[32];
    size_t nt = 0;
    uint64_t exp = 0;
    int rc;
    refbus_node_send_opts o = {urgency, 0, msg_id};
    if (expires_in && refbus_node_config_duration(&exp, expires_in))
        return cli_fail(g, "send", REFBUS_EINVAL, "--expires-in: a duration such as 7d, 12h, 30m");
    o.expires_in_ms = exp;
    if (!to || !*to)
        return cli_fail(g, "send", REFBUS_EINVAL, "--to AGENCY[,AGENCY...] is required");
    if (!(tos = strdup(to)))
        return cli_fail(g, "send", REFBUS_ENOMEM, NULL);
    for (char *save = NULL, *t = strtok_r(tos, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        if (nt == sizeof list / sizeof list[0]) {
            free(tos);
            return cli_fail(g, "send", REFBUS_ETOOMANYRCPT, "--to: too many agencies");
        }
        list[nt++] = t;
    }
    if ((rc = cli_read_input(&text, file))) {
        snprintf(msg, sizeof msg, "%s: %s", file && strcmp(file, "-") ? file : "standard input",
                 refbus_strerror(rc));
        free(tos);
        return cli_fail(g, "send", rc, msg);
    }
    if ((rc = cli_connect(g, &n, "send"))) {
        free(tos);
        refbus_wipe_free(text);
        return rc;
    }
    rc = refbus_node_send(n, text, list, nt, &o, &reply);
    refbus_wipe_free(text);
    free(tos);
    if (rc || wait_s <= 0)
        return cli_finish(g, &n, "send", rc, reply);
    json_t *j = json_loads(reply, 0, NULL);
    const char *mid = json_string_value(json_object_get(j, "msg_id"));
    int status = mid ? wait_accepted(g, n, mid, wait_s) : cli_fail(g, "send", REFBUS_EPROTO, NULL);
    json_decref(j);
    free(reply);
    refbus_node_close(&n);
    return status;
}

int cmd_send(int argc, char **argv)
{
    static const struct option opts[] = {CLI_CLIENT_OPTS,
                                         {"to", required_argument, NULL, 't'},
                                         {"urgency", required_argument, NULL, 'u'},
                                         {"expires-in", required_argument, NULL, 'e'},
                                         {"msg-id", required_argument, NULL, OPT_MSG_ID},
                                         {"wait", optional_argument, NULL, 'w'},
                                         {NULL, 0, NULL, 0}};
    const char *to = NULL, *urgency = NULL, *expires = NULL, *msg_id = NULL;
    unsigned long long wait_s = 0;
    cli_state st = {0};
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_CLIENT_SHORT "t:u:e:w::", opts, NULL)) != -1) {
        switch (c) {
        case 't': to = optarg; break;
        case 'u': urgency = optarg; break;
        case 'e': expires = optarg; break;
        case OPT_MSG_ID: msg_id = optarg; break;
        case 'w':
            wait_s = 30;
            if (optarg && (rc = cli_number("send", "--wait: seconds", optarg, 1, 86400, &wait_s)))
                return rc;
            break;
        default:
            if ((rc = cli_opt(&st, "send", c, argv, opts, usage_text)) != 0)
                return rc;
        }
    }
    if (optind < argc - 1)
        return cli_misuse("send", "unexpected argument '%s' (one FILE at most)", argv[optind + 1]);
    if (!to)
        return cli_misuse("send", "--to AGENCY[,AGENCY...] is required");
    if ((rc = cli_ready(&st, "send")) != 0)
        return rc;
    return send_referral(&st, optind < argc ? argv[optind] : "-", to, urgency, expires, msg_id,
                         (int)wait_s);
}
