/* Sealed files (attachments: interview recordings, photos, documents), docs/PROTOCOL.md §2.11:
 * a file is cut into 64 KiB chunks, each sealed with XChaCha20-Poly1305 under the file's own
 * fresh key, and named by a file id (a Merkle root over the chunk ciphertexts), so every chunk
 * verifies alone, uploads resume at any chunk and any byte range decrypts on its own.
 * Memory is bounded: one chunk and O(log n) hashes, whatever the file's size. */
#ifndef REFBUS_PROTO_SFILE_H
#define REFBUS_PROTO_SFILE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define REFBUS_SFILE_CHUNK 65536u /* plaintext bytes per chunk (not the last) */
#define REFBUS_SFILE_TAG 16u      /* Poly1305 tag per chunk */
#define REFBUS_SFILE_KEYBYTES 32u
#define REFBUS_SFILE_IDBYTES 32u
#define REFBUS_SFILE_HASHBYTES 32u /* BLAKE2b-256: the leaf and node hashes of the chunk tree */
#define REFBUS_SFILE_HEADER 48u    /* sealed-file header: magic, size, id */
#define REFBUS_SFILE_MAX_SIZE ((uint64_t)1 << 40) /* format limit (1 TiB); policy is lower */
#define REFBUS_SFILE_MAX_DEPTH 24u                /* inclusion path length at the limit */
#define REFBUS_SFILE_NO_CHUNK UINT64_MAX          /* *bad when no chunk is to blame */

/* Chunks of a file of `size` bytes: max(1, ceil(size / REFBUS_SFILE_CHUNK)). */
uint64_t refbus_sfile_chunks(uint64_t size);
/* Bytes of the sealed file: header, n leaf hashes, size plaintext bytes plus n tags. */
uint64_t refbus_sfile_sealed_size(uint64_t size);

/* Seal the regular file in_fd (read from offset 0, whole) into out_fd (an empty regular file,
 * written with pwrite from offset 0; not fsynced: the caller decides durability). Draws a
 * fresh file key into key_out (the caller's, ideally sodium_malloc memory) and writes the file
 * id to id_out. Memory: one chunk. Errors: REFBUS_EIO (read/write failed, or in_fd changed
 * size while being read), REFBUS_ETOOLARGE (over REFBUS_SFILE_MAX_SIZE), REFBUS_EINVAL
 * (in_fd not a regular file), REFBUS_ENOMEM. On error key_out and id_out are wiped. */
REFBUS_WUR int refbus_sfile_seal(uint8_t id_out[REFBUS_SFILE_IDBYTES],
                                 uint8_t key_out[REFBUS_SFILE_KEYBYTES], int out_fd, int in_fd);
/* The same under a given key: for test vectors only. One key MUST NEVER seal two different
 * plaintexts (the nonces are per index, so a second plaintext would reuse them). */
REFBUS_WUR int refbus_sfile_seal_key(uint8_t id_out[REFBUS_SFILE_IDBYTES],
                                     const uint8_t key[REFBUS_SFILE_KEYBYTES], int out_fd,
                                     int in_fd);

/* One sealed chunk on its own (the wire, item 2 of issue 13): c (clen bytes) is chunk `index`
 * of a file of `size` bytes named `id`, proven by `path` (depth hashes, bottom up, as made by
 * refbus_sfile_path). Needs no key: the broker can check. 0 or REFBUS_EFILECHUNK. */
REFBUS_WUR int refbus_sfile_chunk_check(const uint8_t id[REFBUS_SFILE_IDBYTES], uint64_t size,
                                        uint64_t index, const uint8_t *c, size_t clen,
                                        const uint8_t (*path)[REFBUS_SFILE_HASHBYTES],
                                        unsigned depth);
/* Decrypt chunk `index` of a file of `size` bytes: pt receives clen - 16 bytes (at most
 * REFBUS_SFILE_CHUNK). Checks the chunk's length for its index. 0 or REFBUS_EFILECHUNK (wrong
 * length, wrong key, wrong index, wrong last flag, wrong file size, any changed byte). */
REFBUS_WUR int refbus_sfile_chunk_open(uint8_t *pt, size_t *pt_len,
                                       const uint8_t key[REFBUS_SFILE_KEYBYTES], uint64_t size,
                                       uint64_t index, const uint8_t *c, size_t clen);

typedef struct refbus_sfile refbus_sfile;

/* Open the sealed file in fd (the caller keeps fd open until close; not closed here). id: the
 * file id the referral names (required); key: the file key, or NULL to verify ciphertext only
 * (the broker). Checks the header and that the leaf hashes make `id`. A file shorter than its
 * size says is accepted (chunks present so far can be read: resume). On success *out is the
 * caller's, to refbus_sfile_close. Errors: REFBUS_EFILEFORMAT (bad magic, size over the limit,
 * header or leaves cut short, bytes after the last chunk), REFBUS_EFILEID (the header's id or
 * the leaves do not make `id`), REFBUS_EIO, REFBUS_ENOMEM. */
REFBUS_WUR int refbus_sfile_open(refbus_sfile **out, int fd, const uint8_t id[REFBUS_SFILE_IDBYTES],
                                 const uint8_t *key);
/* Plaintext size and chunk count of an open file. */
uint64_t refbus_sfile_size(const refbus_sfile *f);

/* Verify chunk `index` against the leaves (hence the id) and, with a key, decrypt it into pt
 * (REFBUS_SFILE_CHUNK bytes of room; pt may be NULL when opened without key). Errors:
 * REFBUS_EFILECHUNK (tampered, reordered, dropped, duplicated, from another file, forged last
 * flag), REFBUS_EFILEINCOMPLETE (the chunk is not, or not wholly, in the file yet),
 * REFBUS_EINVAL (index out of range; pt NULL with a key), REFBUS_EIO. */
REFBUS_WUR int refbus_sfile_chunk(refbus_sfile *f, uint64_t index, uint8_t *pt, size_t *pt_len);
/* Verify every chunk (and decrypt each, if opened with a key, discarding the plaintext);
 * *bad (may be NULL) names the first failing chunk, REFBUS_SFILE_NO_CHUNK when none is to blame.
 * Errors: those of refbus_sfile_chunk. */
REFBUS_WUR int refbus_sfile_verify(refbus_sfile *f, uint64_t *bad);
/* Write the plaintext bytes [off, off + len) to out_fd, decrypting only the chunks they touch.
 * Needs a key. *bad as for verify. Errors: those of refbus_sfile_chunk, REFBUS_EINVAL (range
 * beyond the file, no key), REFBUS_EIO (writing out_fd). */
REFBUS_WUR int refbus_sfile_read(refbus_sfile *f, uint64_t off, uint64_t len, int out_fd,
                                 uint64_t *bad);
/* The inclusion path of chunk `index` (RFC 6962 audit path, bottom up) into path, its length
 * into *depth. Reads the leaves once; memory O(log n). Errors: REFBUS_EINVAL, REFBUS_EIO. */
REFBUS_WUR int refbus_sfile_path(refbus_sfile *f, uint64_t index,
                                 uint8_t path[REFBUS_SFILE_MAX_DEPTH][REFBUS_SFILE_HASHBYTES],
                                 unsigned *depth);
/* Wipes the key and frees. Accepts NULL; sets *f to NULL. */
void refbus_sfile_close(refbus_sfile **f);

#endif
