#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <openssl/sha.h>
#include "CSHA256.h"

_Static_assert(sizeof(SHA256_CTX) <= sizeof(incrcc_sha256_state), "SHA256_CTX does not fit");

void incrcc_sha256_init(incrcc_sha256_state *state) { SHA256_Init((SHA256_CTX *)state); }

void incrcc_sha256_update(incrcc_sha256_state *state, const void *bytes, size_t count) {
    SHA256_Update((SHA256_CTX *)state, bytes, count);
}

void incrcc_sha256_final(incrcc_sha256_state *state, uint8_t out[32]) { SHA256_Final(out, (SHA256_CTX *)state); }
