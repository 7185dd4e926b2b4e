/* refbus-keys policy: who may refer to whom. Default deny; a deny rule wins over any allow;
 * "*" stands for any agency. */
#include <stdio.h>
#include <string.h>

#include "keys/tool/cli.h"

static const char policy_usage[] =
    "usage: refbus-keys -d ADMIN_DIR policy allow|deny|remove FROM TO\n"
    "  FROM, TO: an enrolled agency's id or '*' (any agency; quote it from the shell).\n"
    "  One rule per FROM -> TO pair: allow/deny set it, remove deletes it. With no rule that\n"
    "  allows it a referral is refused; any matching deny rule refuses it. Publish with 'sign'.\n";

int cmd_policy(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS, {NULL, 0, NULL, 0}};
    int c, ex;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1)
        if (!cli_common_opt(ctx, c, policy_usage))
            return cli_bad_option("policy", c, argv, opts);
    if (optind != argc - 3)
        return cli_misuse("policy", "needs an action, FROM and TO");
    const char *verb = argv[optind], *from = argv[optind + 1], *to = argv[optind + 2];
    enum refbus_policy_action action;
    if (strcmp(verb, "allow") == 0)
        action = REFBUS_POLICY_ALLOW;
    else if (strcmp(verb, "deny") == 0)
        action = REFBUS_POLICY_DENY;
    else if (strcmp(verb, "remove") == 0)
        action = REFBUS_POLICY_REMOVE;
    else
        return cli_misuse("policy", "expected allow, deny or remove");
    refbus_admin *a = NULL;
    if ((ex = cli_admin_open(ctx, &a)) != 0)
        return ex;
    int rc = refbus_admin_policy(a, from, to, action);
    refbus_admin_close(&a);
    if (rc != 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "policy %s %s %s", verb, from, to);
        return cli_fail(msg, rc);
    }
    printf("policy: %s %s -> %s\n", verb, from, to);
    return fflush(stdout) == 0 ? 0 : 1;
}
