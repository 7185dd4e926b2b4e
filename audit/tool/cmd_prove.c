/* refbus-audit prove: write a self-contained proof file — an inclusion proof for one record
 * against the latest (or a given) stored checkpoint, or a consistency proof between two stored
 * checkpoints (refbus_audit_prove_*). Binary output goes to -o FILE or a non-terminal stdout. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "audit/proof.h"
#include "audit/record.h"
#include "audit/tool/cli.h"
#include "common/util.h"

static const char usage_text[] =
    "usage: refbus-audit prove DIR INDEX [--at SIZE] [-o FILE]\n"
    "       refbus-audit prove DIR --consistency M [--at N] [-o FILE]\n"
    "  INDEX             the record to prove; it must be below the checkpoint's size\n"
    "  --at SIZE         against the stored checkpoint of SIZE records (default: the latest)\n"
    "  --consistency M   prove the checkpoint of size M is a prefix of the latest (or --at)\n"
    "  -o FILE           write the proof there (default: standard output, unless a terminal)\n"
    "Check it with: refbus-audit check-proof FILE --broker-pk HEX\n";

int cmd_prove(int argc, char **argv)
{
    static const struct option opts[] = {{"at", required_argument, NULL, 'a'},
                                         {"consistency", required_argument, NULL, 'c'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    uint64_t at = 0, m = 0, index = 0;
    int consistency = 0, c, rc;
    const char *outpath = NULL;
    refbus_audit_reader *r = NULL;
    uint8_t *file = NULL;
    size_t len = 0;
    while ((c = getopt_long(argc, argv, REFBUS_CLI_OPTS "ho:", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            if (cli_u64(&at, optarg) != 0 || at == 0)
                return cli_misuse("prove", "bad --at '%s'", optarg);
            break;
        case 'c':
            if (cli_u64(&m, optarg) != 0)
                return cli_misuse("prove", "bad --consistency '%s'", optarg);
            consistency = 1;
            break;
        case 'o': outpath = optarg; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: return cli_bad_option("prove", c, argv, opts);
        }
    }
    if (argc - optind != (consistency ? 1 : 2))
        return cli_misuse("prove",
                          consistency ? "give DIR only with --consistency" : "give DIR INDEX");
    if (!consistency && cli_u64(&index, argv[optind + 1]) != 0)
        return cli_misuse("prove", "bad INDEX '%s'", argv[optind + 1]);
    if (!outpath && isatty(STDOUT_FILENO))
        return cli_misuse("prove", "the proof is binary: give -o FILE or redirect standard output");
    if ((rc = cli_open("prove", argv[optind], &r)) != 0)
        return rc;
    int e = consistency ? refbus_audit_proof_consistency(r, m, at, &file, &len)
                        : refbus_audit_proof_inclusion(r, index, at, &file, &len);
    refbus_audit_reader_close(&r);
    if (e == REFBUS_EINVAL) {
        fprintf(stderr,
                "refbus-audit prove: %s %llu is not covered by that checkpoint (see "
                "refbus-audit stats for the latest checkpoint's size)\n",
                consistency ? "size" : "record", (unsigned long long)(consistency ? m : index));
        return REFBUS_EXIT_FAIL;
    }
    if (e == REFBUS_ENOTFOUND) {
        fprintf(stderr, "refbus-audit prove: no such %s in the trail\n",
                consistency || at ? "stored checkpoint" : "record or checkpoint");
        return REFBUS_EXIT_FAIL;
    }
    if (e == REFBUS_ECORRUPT) {
        fprintf(stderr, "refbus-audit prove: the stored trail does not prove itself here; run "
                        "refbus-audit verify\n");
        return REFBUS_EXIT_FAIL;
    }
    if (e != 0)
        return cli_fail("prove", argv[optind], e);
    if (outpath)
        e = refbus_file_write_atomic(outpath, file, len, 0644, 0);
    else
        e = fwrite(file, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : REFBUS_EIO;
    free(file);
    if (e != 0)
        return cli_fail("prove", outpath ? outpath : "standard output", e);
    return 0;
}
