/* refbus-broker publish: hand the running broker a newly signed agency directory, which it
 * verifies (root signature, higher serial), installs without a restart, audits and pushes to
 * the connected nodes. */
#include <stdio.h>
#include <stdlib.h>

#include "broker/tool/cli.h"
#include "common/util.h"

#define DIRECTORY_FILE_MAX (16u << 20)

static const char usage_text[] =
    "usage: refbus-broker publish [-c FILE | -d DIR | -a ENDPOINT] DIRECTORY_FILE\n"
    "  Hands the running broker a signed directory (refbus-keys sign); it installs it when\n"
    "  it verifies and is newer than the one it has.\n" CLI_ADMIN_HELP;

int cmd_publish(int argc, char **argv)
{
    static const struct option opts[] = {CLI_ADMIN_OPTS, {NULL, 0, NULL, 0}};
    refbus_broker_config cfg;
    cli_conf cc = {0};
    uint8_t *bytes = NULL;
    size_t len = 0;
    int c, rc;
    while ((c = getopt_long(argc, argv, CLI_ADMIN_SHORT, opts, NULL)) != -1)
        if (!cli_conf_opt(&cc, c, usage_text))
            return cli_bad_option("publish", c, argv, opts);
    if (optind == argc)
        return cli_misuse("publish", "missing DIRECTORY_FILE");
    if (optind != argc - 1)
        return cli_misuse("publish", "unexpected argument '%s'", argv[optind + 1]);
    if ((rc = cli_conf_apply("publish", &cc, &cfg, 1)) != 0)
        return rc;
    if ((rc = refbus_file_read(&bytes, &len, argv[optind], DIRECTORY_FILE_MAX)) != 0) {
        fprintf(stderr, "refbus-broker: %s: %s\n", argv[optind], refbus_strerror(rc));
        return REFBUS_EXIT_FAIL;
    }
    rc = cli_admin("publish", &cfg, bytes, len, 10000);
    free(bytes);
    return rc;
}
