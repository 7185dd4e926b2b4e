/* What an attacker with write access to the broker's data file can do to the trail, written
 * with plain LMDB calls (no audit library logic): change bytes, delete, renumber, swap, cut the
 * tail, forge checkpoints, and recompute the stored tree hashes to cover their tracks. */
#ifndef REFBUS_AUDIT_TAMPER_H
#define REFBUS_AUDIT_TAMPER_H

#include <stdint.h>

#include <lmdb.h>

/* Each returns 0 or -1 and commits its own write transaction on `env` (the audit DBs must
 * exist). */
int tamper_flip(MDB_env *env, uint64_t index, uint64_t byte_offset, uint8_t mask);
int tamper_delete(MDB_env *env, uint64_t index, int renumber);
int tamper_swap(MDB_env *env, uint64_t i, uint64_t j);
/* Delete records >= from; with `tree` also their tree hashes, with `cps` also checkpoints of a
 * size > from (a careful attacker). */
int tamper_truncate(MDB_env *env, uint64_t from, int tree, int cps);
/* The stored checkpoint of `size`: flip a byte of its root and keep the old signature
 * (resign_sk NULL), or change the root and re-sign it with `resign_sk`. */
int tamper_forge_checkpoint(MDB_env *env, uint64_t size, const uint8_t *resign_sk);
/* Flip one byte of the stored tree hash (last, level). */
int tamper_tree(MDB_env *env, uint64_t last, unsigned level);
/* Rebuild every stored tree hash from the records as they are now (covering tracks). */
int tamper_rehash(MDB_env *env);

#endif
