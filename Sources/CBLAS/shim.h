// OpenBLAS's cblas interface plus its threading and build-information calls, and the one CPU
// question the release build's kernels need answered before they run.
#ifndef GPTDIST_CBLAS_SHIM_H
#define GPTDIST_CBLAS_SHIM_H
#include <cblas.h>

#if defined(__x86_64__)
#include <cpuid.h>
#endif

// 1 when this CPU (and the OS, which must save the YMM registers) runs the x86-64 "haswell"
// instruction set the release build compiles the GPT kernels for: AVX, AVX2, FMA, F16C, BMI1/2,
// LZCNT and MOVBE. Always 1 on other architectures.
static inline int gptdist_cpu_supports_haswell(void) {
#if defined(__x86_64__)
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    const unsigned leaf1 = (1u << 12) | (1u << 22) | (1u << 27) | (1u << 28) | (1u << 29); // FMA MOVBE OSXSAVE AVX F16C
    if ((c & leaf1) != leaf1) return 0;
    unsigned xcr0_lo, xcr0_hi;
    __asm__ volatile("xgetbv" : "=a"(xcr0_lo), "=d"(xcr0_hi) : "c"(0));
    if ((xcr0_lo & 6u) != 6u) return 0; // XMM and YMM state enabled by the OS
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return 0;
    const unsigned leaf7 = (1u << 3) | (1u << 5) | (1u << 8); // BMI1 AVX2 BMI2
    if ((b & leaf7) != leaf7) return 0;
    if (!__get_cpuid(0x80000001u, &a, &b, &c, &d)) return 0;
    return (c >> 5) & 1u; // LZCNT
#else
    return 1;
#endif
}
#endif
