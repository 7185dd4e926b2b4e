/* The names of the referral enums (nodes/rules/referral.proto) as they appear in referral JSON;
 * each table ends with {NULL, 0}. */
#ifndef REFBUS_NODES_REFERRAL_ENUMS_H
#define REFBUS_NODES_REFERRAL_ENUMS_H

#include <stddef.h>

typedef struct refbus_enum_tab {
    const char *name;
    int value;
} refbus_enum_tab;

extern const refbus_enum_tab refbus_referral_types[];
extern const refbus_enum_tab refbus_referral_urgencies[];
extern const refbus_enum_tab refbus_referral_genders[];
extern const refbus_enum_tab refbus_referral_services[];
extern const refbus_enum_tab refbus_referral_consent_bases[];

/* The name of value `v`, or NULL. */
const char *refbus_referral_enum_name(const refbus_enum_tab *t, int v);
/* The value named `s`, or -1. */
int refbus_referral_enum_value(const refbus_enum_tab *t, const char *s);
/* "a, b, c" into buf (for error messages). */
void refbus_referral_enum_list(char *buf, size_t len, const refbus_enum_tab *t);

#endif
