// Integer dot products of GGUF weight blocks with int16-quantized activations, for generation's matrix-vector
// products. Written in C because they need the CPU's integer multiply-add instructions (AVX512-VNNI `vpdpwssd`,
// AVX2 `vpmaddwd`), which Swift's SIMD types do not reach; each path is chosen at run time from cpuid.
#ifndef TAILOR_BLOCK_KERNELS_H
#define TAILOR_BLOCK_KERNELS_H

#include <stddef.h>
#include <stdint.h>

// Block encodings these kernels read (values of GGUF's ggml_type).
enum {
    TAILOR_BLOCK_Q4_0 = 2,
    TAILOR_BLOCK_Q4_1 = 3,
    TAILOR_BLOCK_Q8_0 = 8,
};

// x quantized in blocks of 32: x[32b + j] ≈ scale[b] · q[32b + j]; sum[b] = scale[b] · Σ_j q[32b + j].
typedef struct {
    const int16_t *q;
    const float *scale;
    const float *sum;
} tailor_int16_blocks;

/// 1 when this CPU has an integer path (AVX2 or AVX512-VNNI on x86-64), else 0 (then use the float kernels).
int tailor_block_kernels_available(void);

/// The instruction set the kernels run with: "avx512_vnni", "avx2" or "none".
const char *tailor_block_kernels_isa(void);

/// y[r] (+)= Σ_c W[r, c] · x[c] for r < rows, W's rows `row_bytes` apart, each `blocks` blocks of `type`.
/// Returns 0 when `type` has no integer kernel (nothing written).
int tailor_block_dot_rows(int type, const void *w, size_t row_bytes, size_t rows, size_t blocks,
                          tailor_int16_blocks x, float *y, int accumulate);

/// `tailor_block_dot_rows` on one named path (tests compare the paths); returns 0 when this CPU lacks it.
enum { TAILOR_ISA_PORTABLE = 0, TAILOR_ISA_AVX2 = 1, TAILOR_ISA_AVX512_VNNI = 2 };
int tailor_block_dot_rows_on(int isa, int type, const void *w, size_t row_bytes, size_t rows, size_t blocks,
                             tailor_int16_blocks x, float *y, int accumulate);

#endif
