// oneDNN (Debian libdnnl-dev): fp32 and bf16 matrix products that pick AVX2 / AVX-512 / AVX512-BF16 / AMX from cpuid.
#include <oneapi/dnnl/dnnl.h>
