#ifndef STOWAGE_MD5_H
#define STOWAGE_MD5_H

#include <stddef.h>
#include <stdint.h>

/// MD5's block function (RFC 1321 §3.4), run on up to STOWAGE_MD5_LANES independent
/// streams at once: stream i's running state `states[i]` (A, B, C, D) takes the 64-byte
/// blocks at `data[i]`, `blocks` of them, for every i < `lanes`. Padding and the length
/// are the caller's: this is only the compression of whole blocks.
///
/// The streams share SIMD registers, one 32-bit lane each, so eight streams cost about
/// what one does: MD5 is a chain of dependent additions and rotations, bound by their
/// latency, not by the core's width.
#define STOWAGE_MD5_LANES 8

/// Which code runs the lanes.
typedef enum {
    /// One stream after another, in portable C.
    stowage_md5_kernel_scalar = 0,
    /// AVX2: eight lanes in a 256-bit register.
    stowage_md5_kernel_avx2 = 1,
    /// AVX-512VL on 256-bit registers: the rotation and MD5's boolean functions are one
    /// instruction each (vprold, vpternlogd), which shortens the chain a step waits on.
    stowage_md5_kernel_avx512 = 2,
} stowage_md5_kernel;

/// The best kernel this CPU runs.
stowage_md5_kernel stowage_md5_best_kernel(void);

/// Whether this CPU runs `kernel`.
int stowage_md5_supports(stowage_md5_kernel kernel);

/// Compresses `blocks` blocks of each of `lanes` (1…STOWAGE_MD5_LANES) streams with
/// `kernel`, which the CPU must support.
void stowage_md5_blocks(stowage_md5_kernel kernel, uint32_t *const states[], const uint8_t *const data[],
                        int lanes, size_t blocks);

/// Compresses `blocks` blocks of one stream, with the scalar kernel: a lone stream's
/// fastest (its chain of dependent steps is shorter in general-purpose registers than in
/// vector ones on the CPUs measured; docs/BENCHMARKS.md).
void stowage_md5_stream(uint32_t state[4], const uint8_t *data, size_t blocks);

#endif
