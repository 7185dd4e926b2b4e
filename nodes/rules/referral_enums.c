/* The names of the referral enums (nodes/rules/referral.proto) as they appear in referral JSON. */
#include "nodes/rules/referral_enums.h"

#include <stdio.h>
#include <string.h>

const refbus_enum_tab refbus_referral_types[] = {{"sexual_exploitation", 1},
                                                 {"trafficking", 2},
                                                 {"online_sexual_exploitation", 3},
                                                 {"abuse", 4},
                                                 {"missing_child", 5},
                                                 {"other", 6},
                                                 {NULL, 0}};
const refbus_enum_tab refbus_referral_urgencies[] = {{"routine", 1},
                                                     {"urgent", 2},
                                                     {"immediate_danger", 3},
                                                     {NULL, 0}};
const refbus_enum_tab refbus_referral_genders[] = {
    {"female", 1}, {"male", 2}, {"other", 3}, {"unknown", 4}, {NULL, 0}};
const refbus_enum_tab refbus_referral_services[] = {
    {"forensic_interview", 1}, {"medical", 2},       {"shelter", 3},      {"legal_aid", 4},
    {"psychosocial", 5},       {"investigation", 6}, {"repatriation", 7}, {NULL, 0}};
const refbus_enum_tab refbus_referral_consent_bases[] = {
    {"child", 1}, {"parent", 2}, {"guardian", 3}, {"override", 4}, {NULL, 0}};

const char *refbus_referral_enum_name(const refbus_enum_tab *t, int v)
{
    for (; t->name; t++)
        if (t->value == v)
            return t->name;
    return NULL;
}

int refbus_referral_enum_value(const refbus_enum_tab *t, const char *s)
{
    for (; t->name; t++)
        if (strcmp(t->name, s) == 0)
            return t->value;
    return -1;
}

void refbus_referral_enum_list(char *buf, size_t len, const refbus_enum_tab *t)
{
    size_t o = 0;
    buf[0] = 0;
    for (; t->name && o < len; t++)
        o += (size_t)snprintf(buf + o, len - o, "%s%s", o ? ", " : "", t->name);
}
