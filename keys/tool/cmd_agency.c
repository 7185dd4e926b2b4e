/* refbus-keys agency add: enrol an agency at key epoch 1, writing the key bundle to hand to it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys/tool/cli.h"
#include "keys/passphrase.h"

enum { OPT_NAME = OPT_FIRST_LOCAL, OPT_KIND, OPT_OUT };

static const char agency_usage[] =
    "usage: refbus-keys -d ADMIN_DIR agency add ID --name NAME --kind KIND --out BUNDLE\n"
    "                   [--bundle-passphrase-file F] [--kdf COST] [--allow-weak-passphrase]\n"
    "  ID: [a-z0-9.-], 1 to 64 characters, starting with a letter or digit. NAME: display\n"
    "  name in any language (UTF-8).\n"
    "  KIND: cac, police, welfare, ngo, health, court or other. BUNDLE is created (never\n"
    "  replaced), mode 0600, encrypted under the bundle passphrase. Publish with 'sign'.\n";

int cmd_agency(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS,
                                         {"name", required_argument, NULL, OPT_NAME},
                                         {"kind", required_argument, NULL, OPT_KIND},
                                         {"out", required_argument, NULL, OPT_OUT},
                                         {NULL, 0, NULL, 0}};
    const char *name = NULL, *kind_s = NULL, *out = NULL;
    int c, ex;
    if (argc < 2 || strcmp(argv[1], "add") != 0) {
        if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
            return fputs(agency_usage, stdout) < 0;
        return cli_misuse("agency", "expected 'add'");
    }
    argc--, argv++;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1) {
        if (c == OPT_NAME)
            name = optarg;
        else if (c == OPT_KIND)
            kind_s = optarg;
        else if (c == OPT_OUT)
            out = optarg;
        else if (!cli_common_opt(ctx, c, agency_usage))
            return cli_bad_option("agency", c, argv, opts);
    }
    if (optind != argc - 1 || !name || !kind_s || !out)
        return cli_misuse("agency", "'add' needs ID, --name, --kind and --out");
    const char *id = argv[optind];
    enum refbus_agency_kind kind = refbus_agency_kind_parse(kind_s);
    if (!kind)
        return cli_misuse("agency",
                          "unknown --kind '%s' (cac, police, welfare, ngo, health, "
                          "court, other)",
                          kind_s);
    if (!refbus_agency_id_valid(id))
        return cli_fail(id, REFBUS_EBADID);
    refbus_kdf kdf;
    refbus_admin *a = NULL;
    char *pass = NULL;
    size_t len = 0;
    if ((ex = cli_enrol_begin(ctx, id, &kdf, &pass, &len, &a)) != 0)
        return ex;
    int rc = refbus_admin_agency_add(a, id, name, kind, out, pass, len, &kdf);
    refbus_passphrase_free(&pass, len);
    if (rc == REFBUS_EINVAL)
        fprintf(stderr, "refbus-keys: the name must be 1 to 256 bytes of printable UTF-8\n");
    return cli_enrol_finish("agency", id, out, a, rc);
}
