/* rng.c: the job-owned random number generator and the portable elementary functions
 * of rng.h.
 *
 * Generator: xoshiro256** (Blackman & Vigna, "Scrambled linear pseudorandom number
 * generators", 2021), its state filled by splitmix64 (Steele, Lea & Flood 2014).
 * Bounded integers: Lemire, "Fast random integer generation in an interval" (2019),
 * with a portable 64x64 -> 128-bit product. Normals: Marsaglia & Bray's polar method
 * (1964); only the first of the pair is used, so a tg_rng is just its 256-bit state and
 * every draw is a pure function of it.
 *
 * Portable functions: every result is a fixed sequence of IEEE double +, -, *, / (and
 * sqrt where stated), so it rounds identically on every machine with FLT_EVAL_METHOD 0
 * and no contraction of a*b+c into fma (the build uses -std=c11, where GCC defaults to
 * -ffp-contract=off). Integer <-> double conversions are exact for the values used.
 * - tg_plog: x = 2^k m with m in (sqrt(1/2), sqrt(2)] by exact power-of-2 scaling;
 *   log(m) = log(1 + f) = 2 atanh(s), s = f / (2 + f), written as f - s (f - T) with
 *   T = sum_{j=1..11} 2 s^(2j) / (2j + 1) so that the rounding of s only touches the
 *   O(f^2) correction; log x = k ln2_hi + f + (k ln2_lo - s (f - T)) with ln 2 split in
 *   a 32-bit head (k ln2_hi is exact) and a tail.
 * - tg_pexp: k = round(x / ln 2), r = (x - k ln2_hi) - k ln2_lo, |r| <= 0.3466;
 *   exp(r) = 1 + (r + r^2 sum_{j=2..14} r^(j-2) / j!) (Taylor, truncation < 1e-18), then
 *   scaled by 2^k with exact power-of-2 products (one rounding for subnormal results).
 * - tg_pexpm1 / tg_plog1p: the same series without range reduction near 0.
 * - tg_ptanh: -expm1(-2|x|) / (expm1(-2|x|) + 2), odd.
 * - tg_perf: |x| < 2.5: erf x = 2/sqrt(pi) e^(-x^2) sum_n 2^n x^(2n+1) / (2n+1)!!
 *   (Abramowitz & Stegun 7.1.6, all terms positive), e^(-x^2) evaluated from an exact
 *   Dekker split of x^2; |x| >= 2.5: 1 - erfc x.
 * - tg_perfc: x >= 1: Laplace's continued fraction (A&S 7.1.26 ff.)
 *   erfc x = e^(-x^2) / sqrt(pi) / (x + (1/2) / (x + 1 / (x + (3/2) / (x + ...)))),
 *   evaluated backwards from depth 200; below 1, 1 - erf x; for x < 0, 1 + erf(-x).
 *
 * Threading: a tg_rng belongs to one job/thread; all functions are reentrant.
 */
#include "rng.h"

#include <float.h>
#include <math.h>

#include "tg.h"

#if FLT_EVAL_METHOD != 0
#error "rng.c needs double arithmetic without excess precision (FLT_EVAL_METHOD == 0)"
#endif

/* ---- generator ----------------------------------------------------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rng_seed(tg_rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

void rng_seed_stream(tg_rng *r, uint64_t seed, uint64_t stream)
{
    /* The stream number is hashed by one splitmix64 step and folded into the seed, so
     * (seed, 0), (seed, 1), ... start far apart in the splitmix64 sequence. */
    uint64_t x = stream;
    rng_seed(r, seed ^ splitmix64(&x));
}

static uint64_t rotl64(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(tg_rng *r)
{
    uint64_t *s = r->s;
    uint64_t out = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return out;
}

double rng_uniform(tg_rng *r)
{
    return (double)(rng_next(r) >> 11) * 0x1p-53;
}

/* The 128-bit product a * b as (hi, lo), from 32-bit halves (no compiler extension). */
static void mul_64x64(uint64_t a, uint64_t b, uint64_t *hi, uint64_t *lo)
{
    uint64_t a0 = a & 0xffffffffULL, a1 = a >> 32;
    uint64_t b0 = b & 0xffffffffULL, b1 = b >> 32;
    uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
    uint64_t mid = (p00 >> 32) + (p01 & 0xffffffffULL) + (p10 & 0xffffffffULL);
    *lo = (mid << 32) | (p00 & 0xffffffffULL);
    *hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
}

uint64_t rng_below(tg_rng *r, uint64_t n)
{
    uint64_t hi, lo;
    TG_ASSERT(n > 0);
    mul_64x64(rng_next(r), n, &hi, &lo);
    if (lo < n) {
        uint64_t threshold = (0 - n) % n; /* 2^64 mod n */
        while (lo < threshold)
            mul_64x64(rng_next(r), n, &hi, &lo);
    }
    return hi;
}

double rng_normal(tg_rng *r)
{
    double u, v, s;
    do {
        u = 2.0 * rng_uniform(r) - 1.0;
        v = 2.0 * rng_uniform(r) - 1.0;
        s = u * u + v * v;
    } while (s >= 1.0 || s == 0.0);
    return u * sqrt(-2.0 * tg_plog(s) / s);
}

void rng_shuffle(tg_rng *r, size_t *idx, size_t n)
{
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)rng_below(r, (uint64_t)i);
        size_t t = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = t;
    }
}

void rng_permutation(tg_rng *r, size_t *idx, size_t n)
{
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    rng_shuffle(r, idx, n);
}

/* ---- portable elementary functions --------------------------------------------------- */

#define LN2_HI 0x1.62e42feep-1           /* 32 significant bits: k * LN2_HI is exact */
#define LN2_LO 0x1.a39ef35793c76p-33     /* ln 2 - LN2_HI */
#define INV_LN2 0x1.71547652b82fep+0
#define SQRT2 0x1.6a09e667f3bcdp+0
#define TWO_OVER_SQRTPI 0x1.20dd750429b6dp+0
#define ONE_OVER_SQRTPI 0x1.20dd750429b6dp-1

/* 2^e exactly, for -1022 <= e <= 1023, by binary powering of 2 or 1/2. */
static double pow2i(int e)
{
    double p = 1.0, b = e >= 0 ? 2.0 : 0.5;
    unsigned m = (unsigned)(e >= 0 ? e : -e);
    while (m) {
        if (m & 1u)
            p *= b;
        m >>= 1;
        if (m)
            b *= b;
    }
    return p;
}

/* log(1 + f) for f in [sqrt(1/2) - 1, sqrt(2) - 1] (f exact). */
static double log1p_core(double f, double dk)
{
    double s = f / (2.0 + f);
    double z = s * s;
    double t = 2.0 / 23.0;
    t = 2.0 / 21.0 + z * t;
    t = 2.0 / 19.0 + z * t;
    t = 2.0 / 17.0 + z * t;
    t = 2.0 / 15.0 + z * t;
    t = 2.0 / 13.0 + z * t;
    t = 2.0 / 11.0 + z * t;
    t = 2.0 / 9.0 + z * t;
    t = 2.0 / 7.0 + z * t;
    t = 2.0 / 5.0 + z * t;
    t = 2.0 / 3.0 + z * t;
    t = z * t;
    double lo = dk * LN2_LO - s * (f - t);
    return (dk * LN2_HI + f) + lo;
}

double tg_plog(double x)
{
    /* Exact scalings by 2^e and 2^-e, largest first. */
    static const int es[10] = {512, 256, 128, 64, 32, 16, 8, 4, 2, 1};
    static const double up[10] = {0x1p512, 0x1p256, 0x1p128, 0x1p64, 0x1p32,
                                  0x1p16,  0x1p8,   0x1p4,   0x1p2,  0x1p1};
    static const double down[10] = {0x1p-512, 0x1p-256, 0x1p-128, 0x1p-64, 0x1p-32,
                                    0x1p-16,  0x1p-8,   0x1p-4,   0x1p-2,  0x1p-1};
    int k = 0;

    if (x != x)
        return x;
    if (x < 0.0)
        return NAN;
    if (x == 0.0)
        return -INFINITY;
    if (x == INFINITY)
        return x;
    if (x < DBL_MIN) { /* subnormal */
        x *= 0x1p54;
        k = -54;
    }
    if (x >= 1.0) {
        for (int i = 0; i < 10; i++)
            if (x >= up[i]) {
                x *= down[i];
                k += es[i];
            }
    } else {
        for (int i = 0; i < 10; i++)
            if (x < down[i]) {
                x *= up[i];
                k -= es[i];
            }
        x *= 2.0; /* [1/2, 1) -> [1, 2) */
        k -= 1;
    }
    if (x > SQRT2) {
        x *= 0.5;
        k += 1;
    }
    return log1p_core(x - 1.0, (double)k);
}

/* exp(r) - 1 - r for |r| <= 0.36: r^2 sum_{j=2..14} r^(j-2) / j!. */
static double expm1_tail(double r)
{
    double q = 1.0 / 87178291200.0;
    q = 1.0 / 6227020800.0 + r * q;
    q = 1.0 / 479001600.0 + r * q;
    q = 1.0 / 39916800.0 + r * q;
    q = 1.0 / 3628800.0 + r * q;
    q = 1.0 / 362880.0 + r * q;
    q = 1.0 / 40320.0 + r * q;
    q = 1.0 / 5040.0 + r * q;
    q = 1.0 / 720.0 + r * q;
    q = 1.0 / 120.0 + r * q;
    q = 1.0 / 24.0 + r * q;
    q = 1.0 / 6.0 + r * q;
    q = 1.0 / 2.0 + r * q;
    return r * r * q;
}

double tg_pexp(double x)
{
    if (x != x)
        return x;
    if (x > 709.782712893384)
        return INFINITY;
    if (x < -745.1332191019412)
        return 0.0;
    double t = x * INV_LN2;
    int k = (int)(t < 0.0 ? t - 0.5 : t + 0.5);
    double dk = (double)k;
    double r = (x - dk * LN2_HI) - dk * LN2_LO;
    double y = 1.0 + (r + expm1_tail(r));
    if (k > 1023)
        return y * pow2i(1023) * pow2i(k - 1023);
    if (k < -1021) /* subnormal result: one rounding, in the last product */
        return y * pow2i(-1000) * pow2i(k + 1000);
    return y * pow2i(k);
}

double tg_pexpm1(double x)
{
    if (x != x)
        return x;
    if (x > -0.35 && x < 0.35)
        return x + expm1_tail(x);
    if (x < -40.0)
        return -1.0;
    return tg_pexp(x) - 1.0;
}

double tg_plog1p(double x)
{
    if (x != x)
        return x;
    if (x > -0.29 && x < 0.41) /* 1 + x within (sqrt(1/2), sqrt(2)): no reduction */
        return log1p_core(x, 0.0);
    return tg_plog(1.0 + x);
}

double tg_ptanh(double x)
{
    double a = x < 0.0 ? -x : x;
    double t;
    if (x != x)
        return x;
    if (a > 22.0) {
        t = 1.0;
    } else {
        double em = tg_pexpm1(-2.0 * a);
        t = -em / (em + 2.0);
    }
    return x < 0.0 ? -t : t;
}

/* e^(-a^2) for a >= 0 with a^2 = ahi^2 + (2 ahi alo + alo^2) from a Dekker split, so
 * that the rounding of a^2 does not enter the exponent. */
static double exp_minus_sq(double a)
{
    double c = 134217729.0 * a; /* 2^27 + 1 */
    double ahi = c - (c - a);
    double alo = a - ahi;
    return tg_pexp(-(ahi * ahi)) * tg_pexp(-(2.0 * ahi * alo + alo * alo));
}

/* erf(a) for 0 <= a < 2.5 by the positive series. */
static double erf_series(double a)
{
    double a2 = 2.0 * a * a;
    double term = a, sum = a;
    for (int n = 1; n < 200; n++) {
        term = term * a2 / (double)(2 * n + 1);
        sum += term;
        if (term < sum * 1e-17)
            break;
    }
    return TWO_OVER_SQRTPI * exp_minus_sq(a) * sum;
}

/* erfc(a) for a >= 1 by the continued fraction, evaluated backwards (depth 200 converges
 * to below 2e-16 relative from a = 1 on). */
static double erfc_cf(double a)
{
    if (a > 27.3)
        return 0.0;
    double t = a;
    for (int k = 200; k >= 1; k--)
        t = a + ((double)k * 0.5) / t;
    return ONE_OVER_SQRTPI * exp_minus_sq(a) / t;
}

double tg_perf(double x)
{
    double a = x < 0.0 ? -x : x;
    double e;
    if (x != x)
        return x;
    if (a < 2.5)
        e = erf_series(a);
    else if (a > 6.0)
        e = 1.0;
    else
        e = 1.0 - erfc_cf(a);
    return x < 0.0 ? -e : e;
}

double tg_perfc(double x)
{
    if (x != x)
        return x;
    if (x < 0.0)
        return 1.0 + tg_perf(-x);
    if (x < 1.0)
        return 1.0 - erf_series(x);
    return erfc_cf(x);
}
