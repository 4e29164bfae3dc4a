#ifndef INCRCC_CSHA256_H
#define INCRCC_CSHA256_H
#include <stddef.h>
#include <stdint.h>

/// SHA-256 through libcrypto's one-shot block functions: no provider lookup at start-up, which a process
/// that lives a few milliseconds would pay on every call, and the CPU's SHA extensions where it has them.
typedef struct {
    /// Large enough for OpenSSL's SHA256_CTX (112 bytes); checked at compile time in the C file.
    uint64_t opaque[16];
} incrcc_sha256_state;

void incrcc_sha256_init(incrcc_sha256_state *state);
void incrcc_sha256_update(incrcc_sha256_state *state, const void *bytes, size_t count);
void incrcc_sha256_final(incrcc_sha256_state *state, uint8_t out[32]);
#endif
