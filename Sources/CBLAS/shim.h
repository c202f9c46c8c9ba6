// OpenBLAS's cblas interface plus its threading and build-information calls.
#ifndef GPTDIST_CBLAS_SHIM_H
#define GPTDIST_CBLAS_SHIM_H
#include <cblas.h>
#endif
