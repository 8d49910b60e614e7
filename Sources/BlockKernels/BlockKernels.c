// Block layouts (GGUF): Q8_0 = f16 d, int8 q[32]            x = d·q
//                       Q4_0 = f16 d, u8 nibbles[16]        x = d·(n − 8)
//                       Q4_1 = f16 d, f16 m, u8 nibbles[16] x = d·n + m
// byte j holds element j in its low nibble and element j + 16 in its high nibble.
//
// Per block b with activations x ≈ s_b·q (q int16):  Σ w·x = d·s_b·Σ n·q + (−8·d or m)·(s_b·Σ q)
// so the integer part is one product of int16 pairs summed into int32 (`vpdpwssd` / `vpmaddwd`), and the offset
// term uses the activation block sums computed once per vector. |n·q| ≤ 128 · 32767, so a lane's two products
// never overflow int32.
#include "BlockKernels.h"

#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

static float half_to_float(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    uint32_t sign = (uint32_t)(h >> 15) << 31, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF, bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {  // subnormal: normalise
            exponent = 127 - 15 + 1;
            while (!(mantissa & 0x400)) {
                mantissa <<= 1;
                exponent--;
            }
            bits = sign | (exponent << 23) | ((mantissa & 0x3FF) << 13);
        }
    } else if (exponent == 31) {
        bits = sign | 0x7F800000 | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static size_t block_bytes(int type) {
    switch (type) {
    case TAILOR_BLOCK_Q4_0: return 18;
    case TAILOR_BLOCK_Q4_1: return 20;
    case TAILOR_BLOCK_Q8_0: return 34;
    default: return 0;
    }
}

// The nibbles start after the scale (and the minimum for Q4_1).
static size_t nibble_offset(int type) { return type == TAILOR_BLOCK_Q4_1 ? 4 : 2; }

// MARK: portable

static float dot_row_portable(int type, const uint8_t *row, size_t blocks, tailor_int16_blocks x) {
    const size_t bytes = block_bytes(type);
    float total = 0;
    for (size_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + b * bytes;
        const int16_t *q = x.q + 32 * b;
        const float d = half_to_float(block);
        int32_t sum = 0;
        if (type == TAILOR_BLOCK_Q8_0) {
            const int8_t *w = (const int8_t *)(block + 2);
            for (int j = 0; j < 32; j++) sum += (int32_t)w[j] * q[j];
            total += d * x.scale[b] * (float)sum;
        } else {
            const uint8_t *n = block + nibble_offset(type);
            for (int j = 0; j < 16; j++) sum += (int32_t)(n[j] & 15) * q[j] + (int32_t)(n[j] >> 4) * q[j + 16];
            const float offset = type == TAILOR_BLOCK_Q4_1 ? half_to_float(block + 2) : -8 * d;
            total += d * x.scale[b] * (float)sum + offset * x.sum[b];
        }
    }
    return total;
}

// MARK: x86-64

#if defined(__x86_64__)

#define TAILOR_AVX2 __attribute__((target("avx2,fma,f16c")))
#define TAILOR_VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512vl,avx512vnni")))

TAILOR_AVX2 static inline float half_to_float_f16c(const uint8_t *p) {
    uint16_t h;
    memcpy(&h, p, 2);
    return _cvtsh_ss(h);
}

TAILOR_AVX2 static inline float horizontal_sum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

// AVX2: a block as two halves of 16 int16 weights, each against 16 activations.
TAILOR_AVX2 static float dot_row_avx2(int type, const uint8_t *row, size_t blocks, tailor_int16_blocks x) {
    const size_t bytes = block_bytes(type), offset = nibble_offset(type);
    const __m128i low4 = _mm_set1_epi8(15);
    __m256 acc = _mm256_setzero_ps();
    float extra = 0;
    for (size_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + b * bytes;
        const __m256i q0 = _mm256_loadu_si256((const __m256i *)(x.q + 32 * b));
        const __m256i q1 = _mm256_loadu_si256((const __m256i *)(x.q + 32 * b + 16));
        const float d = half_to_float_f16c(block);
        __m256i w0, w1;
        if (type == TAILOR_BLOCK_Q8_0) {
            w0 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(block + 2)));
            w1 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(block + 18)));
        } else {
            const __m128i raw = _mm_loadu_si128((const __m128i *)(block + offset));
            w0 = _mm256_cvtepu8_epi16(_mm_and_si128(raw, low4));
            w1 = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(raw, 4), low4));
            extra += (type == TAILOR_BLOCK_Q4_1 ? half_to_float_f16c(block + 2) : -8 * d) * x.sum[b];
        }
        const __m256i sums = _mm256_add_epi32(_mm256_madd_epi16(w0, q0), _mm256_madd_epi16(w1, q1));
        acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_set1_ps(d * x.scale[b]), acc);
    }
    return horizontal_sum(acc) + extra;
}

// AVX512-VNNI: a block's 32 int16 weights in one register, multiplied and pair-summed by `vpdpwssd`.
TAILOR_VNNI static float dot_row_vnni(int type, const uint8_t *row, size_t blocks, tailor_int16_blocks x) {
    const size_t bytes = block_bytes(type), offset = nibble_offset(type);
    const __m128i low4 = _mm_set1_epi8(15);
    __m512 acc = _mm512_setzero_ps();
    float extra = 0;
    for (size_t b = 0; b < blocks; b++) {
        const uint8_t *block = row + b * bytes;
        const __m512i q = _mm512_loadu_si512((const void *)(x.q + 32 * b));
        const float d = half_to_float_f16c(block);
        __m512i w;
        if (type == TAILOR_BLOCK_Q8_0) {
            w = _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(block + 2)));
        } else {
            const __m128i raw = _mm_loadu_si128((const __m128i *)(block + offset));
            const __m256i both = _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(raw, 4), low4), _mm_and_si128(raw, low4));
            w = _mm512_cvtepu8_epi16(both);
            extra += (type == TAILOR_BLOCK_Q4_1 ? half_to_float_f16c(block + 2) : -8 * d) * x.sum[b];
        }
        const __m512i sums = _mm512_dpwssd_epi32(_mm512_setzero_si512(), w, q);
        acc = _mm512_fmadd_ps(_mm512_cvtepi32_ps(sums), _mm512_set1_ps(d * x.scale[b]), acc);
    }
    return _mm512_reduce_add_ps(acc) + extra;
}

static int has_vnni(void) {
    return __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw");
}

static int has_avx2(void) {
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

#endif

int tailor_block_kernels_available(void) {
#if defined(__x86_64__)
    return has_avx2();
#else
    return 0;
#endif
}

const char *tailor_block_kernels_isa(void) {
#if defined(__x86_64__)
    if (has_vnni()) return "avx512_vnni";
    if (has_avx2()) return "avx2";
#endif
    return "none";
}

int tailor_block_dot_rows_on(int isa, int type, const void *w, size_t row_bytes, size_t rows, size_t blocks,
                             tailor_int16_blocks x, float *y, int accumulate) {
    if (block_bytes(type) == 0) return 0;
    float (*dot_row)(int, const uint8_t *, size_t, tailor_int16_blocks) = dot_row_portable;
    switch (isa) {
    case TAILOR_ISA_PORTABLE: break;
#if defined(__x86_64__)
    case TAILOR_ISA_AVX2:
        if (!has_avx2()) return 0;
        dot_row = dot_row_avx2;
        break;
    case TAILOR_ISA_AVX512_VNNI:
        if (!has_vnni()) return 0;
        dot_row = dot_row_vnni;
        break;
#endif
    default: return 0;
    }
    const uint8_t *base = (const uint8_t *)w;
    for (size_t r = 0; r < rows; r++) {
        const float value = dot_row(type, base + r * row_bytes, blocks, x);
        y[r] = accumulate ? y[r] + value : value;
    }
    return 1;
}

int tailor_block_dot_rows(int type, const void *w, size_t row_bytes, size_t rows, size_t blocks,
                          tailor_int16_blocks x, float *y, int accumulate) {
    int isa = TAILOR_ISA_PORTABLE;
#if defined(__x86_64__)
    if (has_vnni()) {
        isa = TAILOR_ISA_AVX512_VNNI;
    } else if (has_avx2()) {
        isa = TAILOR_ISA_AVX2;
    }
#endif
    return tailor_block_dot_rows_on(isa, type, w, row_bytes, rows, blocks, x, y, accumulate);
}
