/* libFuzzer: the referral JSON parser (agency systems' input) and the payload decoder (another
 * agency's plaintext after opening). Must never crash or leak; whatever the JSON parser
 * accepts must decode again, inspect cleanly and print as JSON that parses back to the same
 * payload bytes. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nodes/rules/referral_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const uint8_t TID[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void as_payload(const uint8_t *data, size_t size)
{
    static refbus_payload_info info;
    json_t *j = NULL;
    (void)refbus_payload_inspect(&info, data, size);
    if (refbus_payload_to_json(&j, data, size) == 0) {
        char *s = json_dumps(j, 0);
        free(s);
        json_decref(j);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static refbus_payload_info info;
    char err[REFBUS_JSON_ERR_MAX];
    json_t *j = NULL, *back = NULL;
    uint8_t *pl = NULL, *pl2 = NULL;
    size_t len = 0, len2 = 0;
    int urg = 0;
    as_payload(data, size);
    if (refbus_referral_json_parse_text(&j, (const char *)data, size, err) != 0)
        return 0;
    if (refbus_referral_from_json(&pl, &len, &urg, j, TID, err) == 0) {
        if (refbus_payload_inspect(&info, pl, len) != 0 || info.urgency != urg)
            abort(); /* what we encode we must be able to read */
        if (refbus_payload_to_json(&back, pl, len) != 0)
            abort();
        json_t *r = json_object_get(back, "referral");
        json_object_del(r, "thread_id");
        if (refbus_referral_from_json(&pl2, &len2, &urg, r, TID, err) != 0 || len2 != len ||
            memcmp(pl, pl2, len) != 0)
            abort(); /* JSON out -> JSON in must give the same payload */
    }
    free(pl);
    free(pl2);
    json_decref(back);
    json_decref(j);
    return 0;
}
