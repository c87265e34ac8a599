// MD5's block function on several independent streams at once (see stowage_md5.h).
//
// Written from RFC 1321 (the steps, their shifts and message words, T[i] = the integer
// part of 2^32 * |sin(i + 1)|). The tests check every kernel against swift-crypto's MD5.
// Used for S3 ETags, a fingerprint of the bytes a client sent: nothing here is a
// security boundary.

#include "stowage_md5.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

// The 64 steps: STEP(function, a, b, c, d, message word, shift, T[i]), in order.
#define MD5_STEPS(STEP) \
    STEP(F, a, b, c, d,  0,  7, 0xd76aa478u) \
    STEP(F, d, a, b, c,  1, 12, 0xe8c7b756u) \
    STEP(F, c, d, a, b,  2, 17, 0x242070dbu) \
    STEP(F, b, c, d, a,  3, 22, 0xc1bdceeeu) \
    STEP(F, a, b, c, d,  4,  7, 0xf57c0fafu) \
    STEP(F, d, a, b, c,  5, 12, 0x4787c62au) \
    STEP(F, c, d, a, b,  6, 17, 0xa8304613u) \
    STEP(F, b, c, d, a,  7, 22, 0xfd469501u) \
    STEP(F, a, b, c, d,  8,  7, 0x698098d8u) \
    STEP(F, d, a, b, c,  9, 12, 0x8b44f7afu) \
    STEP(F, c, d, a, b, 10, 17, 0xffff5bb1u) \
    STEP(F, b, c, d, a, 11, 22, 0x895cd7beu) \
    STEP(F, a, b, c, d, 12,  7, 0x6b901122u) \
    STEP(F, d, a, b, c, 13, 12, 0xfd987193u) \
    STEP(F, c, d, a, b, 14, 17, 0xa679438eu) \
    STEP(F, b, c, d, a, 15, 22, 0x49b40821u) \
    STEP(G, a, b, c, d,  1,  5, 0xf61e2562u) \
    STEP(G, d, a, b, c,  6,  9, 0xc040b340u) \
    STEP(G, c, d, a, b, 11, 14, 0x265e5a51u) \
    STEP(G, b, c, d, a,  0, 20, 0xe9b6c7aau) \
    STEP(G, a, b, c, d,  5,  5, 0xd62f105du) \
    STEP(G, d, a, b, c, 10,  9, 0x02441453u) \
    STEP(G, c, d, a, b, 15, 14, 0xd8a1e681u) \
    STEP(G, b, c, d, a,  4, 20, 0xe7d3fbc8u) \
    STEP(G, a, b, c, d,  9,  5, 0x21e1cde6u) \
    STEP(G, d, a, b, c, 14,  9, 0xc33707d6u) \
    STEP(G, c, d, a, b,  3, 14, 0xf4d50d87u) \
    STEP(G, b, c, d, a,  8, 20, 0x455a14edu) \
    STEP(G, a, b, c, d, 13,  5, 0xa9e3e905u) \
    STEP(G, d, a, b, c,  2,  9, 0xfcefa3f8u) \
    STEP(G, c, d, a, b,  7, 14, 0x676f02d9u) \
    STEP(G, b, c, d, a, 12, 20, 0x8d2a4c8au) \
    STEP(H, a, b, c, d,  5,  4, 0xfffa3942u) \
    STEP(H, d, a, b, c,  8, 11, 0x8771f681u) \
    STEP(H, c, d, a, b, 11, 16, 0x6d9d6122u) \
    STEP(H, b, c, d, a, 14, 23, 0xfde5380cu) \
    STEP(H, a, b, c, d,  1,  4, 0xa4beea44u) \
    STEP(H, d, a, b, c,  4, 11, 0x4bdecfa9u) \
    STEP(H, c, d, a, b,  7, 16, 0xf6bb4b60u) \
    STEP(H, b, c, d, a, 10, 23, 0xbebfbc70u) \
    STEP(H, a, b, c, d, 13,  4, 0x289b7ec6u) \
    STEP(H, d, a, b, c,  0, 11, 0xeaa127fau) \
    STEP(H, c, d, a, b,  3, 16, 0xd4ef3085u) \
    STEP(H, b, c, d, a,  6, 23, 0x04881d05u) \
    STEP(H, a, b, c, d,  9,  4, 0xd9d4d039u) \
    STEP(H, d, a, b, c, 12, 11, 0xe6db99e5u) \
    STEP(H, c, d, a, b, 15, 16, 0x1fa27cf8u) \
    STEP(H, b, c, d, a,  2, 23, 0xc4ac5665u) \
    STEP(I, a, b, c, d,  0,  6, 0xf4292244u) \
    STEP(I, d, a, b, c,  7, 10, 0x432aff97u) \
    STEP(I, c, d, a, b, 14, 15, 0xab9423a7u) \
    STEP(I, b, c, d, a,  5, 21, 0xfc93a039u) \
    STEP(I, a, b, c, d, 12,  6, 0x655b59c3u) \
    STEP(I, d, a, b, c,  3, 10, 0x8f0ccc92u) \
    STEP(I, c, d, a, b, 10, 15, 0xffeff47du) \
    STEP(I, b, c, d, a,  1, 21, 0x85845dd1u) \
    STEP(I, a, b, c, d,  8,  6, 0x6fa87e4fu) \
    STEP(I, d, a, b, c, 15, 10, 0xfe2ce6e0u) \
    STEP(I, c, d, a, b,  6, 15, 0xa3014314u) \
    STEP(I, b, c, d, a, 13, 21, 0x4e0811a1u) \
    STEP(I, a, b, c, d,  4,  6, 0xf7537e82u) \
    STEP(I, d, a, b, c, 11, 10, 0xbd3af235u) \
    STEP(I, c, d, a, b,  2, 15, 0x2ad7d2bbu) \
    STEP(I, b, c, d, a,  9, 21, 0xeb86d391u)

static inline uint32_t load_le32(const uint8_t *p) {
    uint32_t v;
    memcpy(&v, p, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

// ---- One stream at a time ----

// Each function as a part that does not wait on b (added to a with the message word and
// T) and a part that does, so that the newest word's chain is as short as it can be: G's
// two halves have no bit in common, so G = (c & ~d) + (b & d), one AND on b's chain
// instead of XOR, AND, XOR.
#define SF_EARLY(b, c, d) 0
#define SF_LATE(b, c, d) ((d) ^ ((b) & ((c) ^ (d))))
#define SG_EARLY(b, c, d) ((c) & ~(d))
#define SG_LATE(b, c, d) ((b) & (d))
#define SH_EARLY(b, c, d) 0
#define SH_LATE(b, c, d) ((b) ^ ((c) ^ (d)))
#define SI_EARLY(b, c, d) 0
#define SI_LATE(b, c, d) ((c) ^ ((b) | ~(d)))
#define SSTEP(f, a, b, c, d, k, s, t)                 \
    a += x[k] + (t) + S##f##_EARLY(b, c, d);          \
    __asm__("" : "+r"(a));                            \
    a += S##f##_LATE(b, c, d);                        \
    a = (a << (s)) | (a >> (32 - (s)));               \
    a += b;

void stowage_md5_stream(uint32_t state[4], const uint8_t *data, size_t blocks) {
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    for (size_t n = 0; n < blocks; n++, data += 64) {
        uint32_t x[16];
        for (int i = 0; i < 16; i++) x[i] = load_le32(data + 4 * i);
        const uint32_t aa = a, bb = b, cc = c, dd = d;
        MD5_STEPS(SSTEP)
        a += aa; b += bb; c += cc; d += dd;
    }
    state[0] = a; state[1] = b; state[2] = c; state[3] = d;
}

static void md5_scalar(uint32_t *const states[], const uint8_t *const data[], int lanes, size_t blocks) {
    for (int i = 0; i < lanes; i++) stowage_md5_stream(states[i], data[i], blocks);
}

#if defined(__x86_64__)

// ---- Eight streams in the lanes of a 256-bit register ----

// Lanes beyond `lanes` hash lane 0's bytes again into a state nobody reads: the register
// is as wide either way, and every lane reads memory that exists.
#define LANES_PROLOGUE                                                              \
    uint32_t spare[4];                                                              \
    uint32_t *st[8];                                                                \
    const uint8_t *p[8];                                                            \
    for (int i = 0; i < 8; i++) {                                                   \
        st[i] = i < lanes ? states[i] : spare;                                      \
        p[i] = i < lanes ? data[i] : data[0];                                       \
    }                                                                               \
    memcpy(spare, states[0], sizeof spare);                                         \
    __m256i a = _mm256_setr_epi32((int)st[0][0], (int)st[1][0], (int)st[2][0], (int)st[3][0], \
                                  (int)st[4][0], (int)st[5][0], (int)st[6][0], (int)st[7][0]); \
    __m256i b = _mm256_setr_epi32((int)st[0][1], (int)st[1][1], (int)st[2][1], (int)st[3][1], \
                                  (int)st[4][1], (int)st[5][1], (int)st[6][1], (int)st[7][1]); \
    __m256i c = _mm256_setr_epi32((int)st[0][2], (int)st[1][2], (int)st[2][2], (int)st[3][2], \
                                  (int)st[4][2], (int)st[5][2], (int)st[6][2], (int)st[7][2]); \
    __m256i d = _mm256_setr_epi32((int)st[0][3], (int)st[1][3], (int)st[2][3], (int)st[3][3], \
                                  (int)st[4][3], (int)st[5][3], (int)st[6][3], (int)st[7][3]);

#define LANES_EPILOGUE                                                              \
    uint32_t out[4][8] __attribute__((aligned(32)));                               \
    _mm256_store_si256((__m256i *)out[0], a);                                       \
    _mm256_store_si256((__m256i *)out[1], b);                                       \
    _mm256_store_si256((__m256i *)out[2], c);                                       \
    _mm256_store_si256((__m256i *)out[3], d);                                       \
    for (int i = 0; i < lanes; i++)                                                 \
        for (int j = 0; j < 4; j++) states[i][j] = out[j][i];

// Words `first`…`first + 7` of the block at `offset` of each lane, one word per register:
// an 8 × 8 transposition of 32-bit words.
#define TRANSPOSE_HALF(w, first, offset)                                            \
    {                                                                               \
        __m256i r0 = _mm256_loadu_si256((const __m256i *)(p[0] + (offset)));        \
        __m256i r1 = _mm256_loadu_si256((const __m256i *)(p[1] + (offset)));        \
        __m256i r2 = _mm256_loadu_si256((const __m256i *)(p[2] + (offset)));        \
        __m256i r3 = _mm256_loadu_si256((const __m256i *)(p[3] + (offset)));        \
        __m256i r4 = _mm256_loadu_si256((const __m256i *)(p[4] + (offset)));        \
        __m256i r5 = _mm256_loadu_si256((const __m256i *)(p[5] + (offset)));        \
        __m256i r6 = _mm256_loadu_si256((const __m256i *)(p[6] + (offset)));        \
        __m256i r7 = _mm256_loadu_si256((const __m256i *)(p[7] + (offset)));        \
        __m256i t0 = _mm256_unpacklo_epi32(r0, r1), t1 = _mm256_unpackhi_epi32(r0, r1); \
        __m256i t2 = _mm256_unpacklo_epi32(r2, r3), t3 = _mm256_unpackhi_epi32(r2, r3); \
        __m256i t4 = _mm256_unpacklo_epi32(r4, r5), t5 = _mm256_unpackhi_epi32(r4, r5); \
        __m256i t6 = _mm256_unpacklo_epi32(r6, r7), t7 = _mm256_unpackhi_epi32(r6, r7); \
        __m256i u0 = _mm256_unpacklo_epi64(t0, t2), u1 = _mm256_unpackhi_epi64(t0, t2); \
        __m256i u2 = _mm256_unpacklo_epi64(t1, t3), u3 = _mm256_unpackhi_epi64(t1, t3); \
        __m256i u4 = _mm256_unpacklo_epi64(t4, t6), u5 = _mm256_unpackhi_epi64(t4, t6); \
        __m256i u6 = _mm256_unpacklo_epi64(t5, t7), u7 = _mm256_unpackhi_epi64(t5, t7); \
        w[(first) + 0] = _mm256_permute2x128_si256(u0, u4, 0x20);                   \
        w[(first) + 1] = _mm256_permute2x128_si256(u1, u5, 0x20);                   \
        w[(first) + 2] = _mm256_permute2x128_si256(u2, u6, 0x20);                   \
        w[(first) + 3] = _mm256_permute2x128_si256(u3, u7, 0x20);                   \
        w[(first) + 4] = _mm256_permute2x128_si256(u0, u4, 0x31);                   \
        w[(first) + 5] = _mm256_permute2x128_si256(u1, u5, 0x31);                   \
        w[(first) + 6] = _mm256_permute2x128_si256(u2, u6, 0x31);                   \
        w[(first) + 7] = _mm256_permute2x128_si256(u3, u7, 0x31);                   \
    }

// A step waits on b, the newest word, only through the function and what follows it; the
// sum of a, the message word and T does not wait on b and must be ready before. The
// compiler, free to reassociate the additions, put the function first (a chain one addition
// longer: 5 instead of 4 dependent instructions a step). An empty asm makes the sum a value
// it cannot reorder.
#define OPAQUE(x) __asm__("" : "+v"(x))

#define LANES_LOOP(STEP)                                                            \
    for (size_t n = 0; n < blocks; n++) {                                           \
        __m256i w[16];                                                              \
        TRANSPOSE_HALF(w, 0, n * 64)                                                \
        TRANSPOSE_HALF(w, 8, n * 64 + 32)                                           \
        const __m256i aa = a, bb = b, cc = c, dd = d;                               \
        MD5_STEPS(STEP)                                                             \
        a = _mm256_add_epi32(a, aa);                                                \
        b = _mm256_add_epi32(b, bb);                                                \
        c = _mm256_add_epi32(c, cc);                                                \
        d = _mm256_add_epi32(d, dd);                                                \
    }

// AVX2: the functions and the rotation from plain boolean and shift instructions.
#define AF(b, c, d) _mm256_xor_si256(d, _mm256_and_si256(b, _mm256_xor_si256(c, d)))
#define AG(b, c, d) _mm256_and_si256(b, d)
#define AH(b, c, d) _mm256_xor_si256(b, _mm256_xor_si256(c, d))
#define AI(b, c, d) _mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, _mm256_set1_epi32(-1))))
// G's early half, c & ~d (see the scalar steps); the others have none.
#define AF_EARLY(a, b, c, d) a
#define AG_EARLY(a, b, c, d) _mm256_add_epi32(a, _mm256_andnot_si256(d, c))
#define AH_EARLY(a, b, c, d) a
#define AI_EARLY(a, b, c, d) a
#define AVX2_STEP(f, a, b, c, d, k, s, t)                                           \
    a = _mm256_add_epi32(A##f##_EARLY(a, b, c, d), _mm256_add_epi32(w[k], _mm256_set1_epi32((int)(t)))); \
    OPAQUE(a);                                                                      \
    a = _mm256_add_epi32(a, A##f(b, c, d));                                         \
    a = _mm256_or_si256(_mm256_slli_epi32(a, s), _mm256_srli_epi32(a, 32 - (s))); \
    a = _mm256_add_epi32(a, b);

__attribute__((target("avx2")))
static void md5_avx2(uint32_t *const states[], const uint8_t *const data[], int lanes, size_t blocks) {
    LANES_PROLOGUE
    LANES_LOOP(AVX2_STEP)
    LANES_EPILOGUE
}

// AVX-512VL: each function is one vpternlogd (its truth table as the immediate, for the
// operands b, c, d), the rotation one vprold.
#define XF(b, c, d) _mm256_ternarylogic_epi32(b, c, d, 0xca)
#define XG(b, c, d) _mm256_ternarylogic_epi32(b, c, d, 0xe4)
#define XH(b, c, d) _mm256_ternarylogic_epi32(b, c, d, 0x96)
#define XI(b, c, d) _mm256_ternarylogic_epi32(b, c, d, 0x39)
#define AVX512_STEP(f, a, b, c, d, k, s, t)                                         \
    a = _mm256_add_epi32(a, _mm256_add_epi32(w[k], _mm256_set1_epi32((int)(t))));  \
    OPAQUE(a);                                                                      \
    a = _mm256_add_epi32(a, X##f(b, c, d));                                         \
    a = _mm256_rol_epi32(a, s);                                                     \
    a = _mm256_add_epi32(a, b);

__attribute__((target("avx2,avx512f,avx512vl")))
static void md5_avx512(uint32_t *const states[], const uint8_t *const data[], int lanes, size_t blocks) {
    LANES_PROLOGUE
    LANES_LOOP(AVX512_STEP)
    LANES_EPILOGUE
}

#endif

int stowage_md5_supports(stowage_md5_kernel kernel) {
    switch (kernel) {
    case stowage_md5_kernel_scalar:
        return 1;
#if defined(__x86_64__)
    case stowage_md5_kernel_avx2:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2");
    case stowage_md5_kernel_avx512:
        __builtin_cpu_init();
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512vl");
#endif
    default:
        return 0;
    }
}

stowage_md5_kernel stowage_md5_best_kernel(void) {
    if (stowage_md5_supports(stowage_md5_kernel_avx512)) return stowage_md5_kernel_avx512;
    if (stowage_md5_supports(stowage_md5_kernel_avx2)) return stowage_md5_kernel_avx2;
    return stowage_md5_kernel_scalar;
}

void stowage_md5_blocks(stowage_md5_kernel kernel, uint32_t *const states[], const uint8_t *const data[],
                        int lanes, size_t blocks) {
    if (lanes <= 0 || blocks == 0) return;
    if (lanes > STOWAGE_MD5_LANES) lanes = STOWAGE_MD5_LANES;
    switch (kernel) {
#if defined(__x86_64__)
    case stowage_md5_kernel_avx512:
        md5_avx512(states, data, lanes, blocks);
        return;
    case stowage_md5_kernel_avx2:
        md5_avx2(states, data, lanes, blocks);
        return;
#endif
    default:
        md5_scalar(states, data, lanes, blocks);
        return;
    }
}
