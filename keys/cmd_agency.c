/* refbus-keys agency add / broker add: enrol an agency or the broker at epoch 1, writing the
 * key bundle to hand to it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys/cmd.h"
#include "keys/passphrase.h"

enum { OPT_NAME = OPT_FIRST_LOCAL, OPT_KIND, OPT_OUT, OPT_ENDPOINT };

static const char agency_usage[] =
    "usage: refbus-keys -d ADMIN_DIR agency add ID --name NAME --kind KIND --out BUNDLE\n"
    "                   [--bundle-passphrase-file F] [--kdf COST] [--allow-weak-passphrase]\n"
    "  ID: [a-z0-9.-], 1 to 64 characters, starting with a letter or digit. NAME: display\n"
    "  name in any language (UTF-8).\n"
    "  KIND: cac, police, welfare, ngo, health, court or other. BUNDLE is created (never\n"
    "  replaced), mode 0600, encrypted under the bundle passphrase. Publish with 'sign'.\n";

static const char broker_usage[] =
    "usage: refbus-keys -d ADMIN_DIR broker add ID --out BUNDLE [--endpoint URL]...\n"
    "                   [--bundle-passphrase-file F] [--kdf COST] [--allow-weak-passphrase]\n"
    "  Enrols the broker (one per directory) with the endpoints nodes connect to.\n";

/* What enrolling an agency and the broker share: the KDF cost, the new bundle's passphrase
 * (asked twice on a terminal), the administrator's state (locked). On success the caller owns
 * *pass (refbus_passphrase_free) and *a (released by finish()). Returns 0 or an exit code. */
static int enrol_begin(cmd_ctx *ctx, const char *id, refbus_kdf *kdf, char **pass, size_t *len,
                       refbus_admin **a)
{
    int ex;
    if ((ex = cmd_kdf(ctx, kdf)) != 0 || (ex = cmd_bundle_pass(ctx, NULL, id, pass, len, 1)))
        return ex;
    if ((ex = cmd_new_pass_ok(ctx, *pass, *len, "bundle passphrase")) != 0) {
        refbus_passphrase_free(pass, *len);
        return ex;
    }
    if ((ex = cmd_admin_open(ctx, a)) != 0) {
        refbus_passphrase_free(pass, *len);
        return ex;
    }
    return 0;
}

static int finish(const cmd_ctx *ctx, const char *what, const char *id, const char *out,
                  refbus_admin *a, int rc)
{
    (void)ctx;
    if (rc == 0) {
        printf("%s %s enrolled at epoch 1; bundle written to %s (directory serial %llu + 1 "
               "after 'refbus-keys sign')\n",
               what, id, out, (unsigned long long)refbus_admin_serial(a));
        rc = fflush(stdout) == 0 ? 0 : 1;
    } else {
        char msg[128];
        snprintf(msg, sizeof msg, "%s add %s", what, id);
        rc = cmd_fail(msg, rc);
    }
    refbus_admin_close(&a);
    return rc;
}

int cmd_agency(cmd_ctx *ctx, int argc, char **argv)
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
        return cmd_misuse(agency_usage, "agency: expected 'add'");
    }
    argc--, argv++;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1) {
        if (c == OPT_NAME)
            name = optarg;
        else if (c == OPT_KIND)
            kind_s = optarg;
        else if (c == OPT_OUT)
            out = optarg;
        else if (!cmd_common_opt(ctx, c, agency_usage))
            return cmd_misuse(agency_usage, NULL);
    }
    if (optind != argc - 1 || !name || !kind_s || !out)
        return cmd_misuse(agency_usage, "agency add needs ID, --name, --kind and --out");
    const char *id = argv[optind];
    enum refbus_agency_kind kind = refbus_agency_kind_parse(kind_s);
    if (!kind)
        return cmd_misuse(agency_usage, "unknown --kind");
    if (!refbus_agency_id_valid(id))
        return cmd_fail(id, REFBUS_EBADID);
    refbus_kdf kdf;
    refbus_admin *a = NULL;
    char *pass = NULL;
    size_t len = 0;
    if ((ex = enrol_begin(ctx, id, &kdf, &pass, &len, &a)) != 0)
        return ex;
    int rc = refbus_admin_agency_add(a, id, name, kind, out, pass, len, &kdf);
    refbus_passphrase_free(&pass, len);
    if (rc == REFBUS_EINVAL)
        fprintf(stderr, "refbus-keys: the name must be 1 to 256 bytes of printable UTF-8\n");
    return finish(ctx, "agency", id, out, a, rc);
}

int cmd_broker(cmd_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {COMMON_OPTS,
                                         {"out", required_argument, NULL, OPT_OUT},
                                         {"endpoint", required_argument, NULL, OPT_ENDPOINT},
                                         {NULL, 0, NULL, 0}};
    const char *out = NULL, *eps[REFBUS_DIR_MAX_ENDPOINTS];
    size_t n_eps = 0;
    int c, ex;
    if (argc < 2 || strcmp(argv[1], "add") != 0) {
        if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0))
            return fputs(broker_usage, stdout) < 0;
        return cmd_misuse(broker_usage, "broker: expected 'add'");
    }
    argc--, argv++;
    while ((c = getopt_long(argc, argv, COMMON_SHORT, opts, NULL)) != -1) {
        if (c == OPT_OUT) {
            out = optarg;
        } else if (c == OPT_ENDPOINT) {
            if (n_eps == REFBUS_DIR_MAX_ENDPOINTS)
                return cmd_misuse(broker_usage, "at most 16 endpoints");
            eps[n_eps++] = optarg;
        } else if (!cmd_common_opt(ctx, c, broker_usage)) {
            return cmd_misuse(broker_usage, NULL);
        }
    }
    if (optind != argc - 1 || !out)
        return cmd_misuse(broker_usage, "broker add needs ID and --out");
    const char *id = argv[optind];
    if (!refbus_agency_id_valid(id))
        return cmd_fail(id, REFBUS_EBADID);
    refbus_kdf kdf;
    refbus_admin *a = NULL;
    char *pass = NULL;
    size_t len = 0;
    if ((ex = enrol_begin(ctx, id, &kdf, &pass, &len, &a)) != 0)
        return ex;
    int rc = refbus_admin_broker_add(a, id, eps, n_eps, out, pass, len, &kdf);
    refbus_passphrase_free(&pass, len);
    if (rc == REFBUS_EINVAL)
        fprintf(stderr, "refbus-keys: endpoints must be 1 to 255 printable ASCII characters\n");
    return finish(ctx, "broker", id, out, a, rc);
}
