// The one BLAS seam on Linux: OpenBLAS's CBLAS interface (Debian libopenblas-dev).
#include <cblas.h>
