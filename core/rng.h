/* rng.h: the job-owned random number generator (xoshiro256**, seeded through
 * splitmix64) and the portable elementary functions that make generated data identical
 * across machines: tg_plog/tg_pexp use only +, -, *, / on IEEE doubles, so they round
 * the same everywhere (unlike libm, whose last bits vary between implementations).
 *
 * Threading: a tg_rng is owned by one job/thread; the functions are reentrant.
 */
#ifndef TG_RNG_H
#define TG_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct tg_rng {
    uint64_t s[4];
} tg_rng;

/* Seeds the generator: s[0..3] = four successive splitmix64 outputs from seed. */
void rng_seed(tg_rng *r, uint64_t seed);
/* A derived, independent stream: seeded from (seed, stream) (e.g. per-purpose RNGs). */
void rng_seed_stream(tg_rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(tg_rng *r);
/* Uniform double in [0, 1): (next >> 11) * 2^-53. */
double rng_uniform(tg_rng *r);
/* Uniform integer in [0, n) without modulo bias (Lemire's rejection); n > 0. */
uint64_t rng_below(tg_rng *r, uint64_t n);
/* Standard normal by Marsaglia's polar method with tg_plog (deterministic): u, v =
 * 2 rng_uniform - 1 until 0 < s = u^2 + v^2 < 1, then u sqrt(-2 log(s) / s); the second
 * normal of the pair is not kept (a tg_rng is only its state). */
double rng_normal(tg_rng *r);
/* Fisher-Yates shuffle of idx[0..n) (i from n-1 down to 1, j = rng_below(i + 1)). */
void rng_shuffle(tg_rng *r, size_t *idx, size_t n);
/* idx[i] = i, then shuffled. */
void rng_permutation(tg_rng *r, size_t *idx, size_t n);

/* Portable natural log and exp (relative error below 1e-15), using only +, -, *, /.
 * Special values as in C99 Annex F: tg_plog(0) = -inf, tg_plog(x < 0) = NaN,
 * tg_pexp overflows to +inf and underflows to 0 (subnormal results may differ from libm
 * in the last bits, but are still identical on every IEEE machine). */
double tg_plog(double x);
double tg_pexp(double x);

/* Further portable functions built the same way (only +, -, *, / and sqrt on doubles),
 * for generators that need them (the teacher's activations). tg_pexpm1 / tg_plog1p are
 * accurate near 0 (relative error below 1e-15); tg_ptanh below 1e-15; tg_perf and
 * tg_perfc below 1e-14 relative (erfc until it underflows near x = 27). */
double tg_pexpm1(double x);
double tg_plog1p(double x);
double tg_ptanh(double x);
double tg_perf(double x);
double tg_perfc(double x);

#endif
