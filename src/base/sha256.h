#ifndef SBX_BASE_SHA256_H
#define SBX_BASE_SHA256_H

/*
 * SHA-256 (FIPS 180-4), incremental. For signatures that must match another
 * implementation's digest (envd's signed /files URLs), not for secrets at
 * rest: no constant-time guarantees beyond what the algorithm has.
 * Thread-safety: a context belongs to one thread; sbx_sha256 is pure.
 */

#include <stddef.h>
#include <stdint.h>

#define SBX_SHA256_LEN 32

struct sbx_sha256 {
    uint32_t h[8];
    uint64_t bits;       /* message length so far */
    unsigned char block[64];
    size_t used;         /* bytes in block */
};

void sbx_sha256_init(struct sbx_sha256 *c);
void sbx_sha256_update(struct sbx_sha256 *c, const void *data, size_t n);
/* Writes the digest; c must be initialised again before reuse. */
void sbx_sha256_final(struct sbx_sha256 *c, unsigned char out[SBX_SHA256_LEN]);
/* The digest of n bytes at data. */
void sbx_sha256(const void *data, size_t n, unsigned char out[SBX_SHA256_LEN]);

#endif
