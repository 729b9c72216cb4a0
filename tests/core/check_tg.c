/* check_tg.c: the shared layer of every module (core/tg.c): the keep-list of the big
 * allocations (tg_alloc_big, tg_free_big, tg_big_keep, tg_big_trim, tg_big_kept). */
#include <check.h>

#include "../suite.h"
#include "core/tg.h"

/* tg_alloc_big keeps freed blocks (up to the limit) for a request of the same size, and a
 * request of another size frees them first; trim frees by age. */
START_TEST(big_blocks_are_kept_for_reuse)
{
    const size_t big = (size_t)80 << 20;
    tg_big_keep(3 * big);
    double *p = tg_alloc_big(big), *q = tg_alloc_big(big);
    ck_assert_ptr_nonnull(p);
    ck_assert_ptr_nonnull(q);
    p[0] = 1.0;
    q[0] = 2.0;
    tg_free_big(p);
    tg_free_big(q);
    ck_assert_uint_eq(tg_big_kept(), 2 * big);
    double *p2 = tg_alloc_big(big);
    ck_assert(p2 == p || p2 == q);
    ck_assert_uint_eq(tg_big_kept(), big);
    double *r = tg_alloc_big(big + ((size_t)2 << 20)); /* another size: the kept one goes */
    ck_assert_ptr_nonnull(r);
    ck_assert_uint_eq(tg_big_kept(), 0);
    tg_free_big(p2);
    tg_free_big(r);
    ck_assert_uint_eq(tg_big_kept(), 2 * big + ((size_t)2 << 20));
    tg_big_trim(3600.0); /* too young */
    ck_assert_uint_eq(tg_big_kept(), 2 * big + ((size_t)2 << 20));
    tg_big_trim(0.0);
    ck_assert_uint_eq(tg_big_kept(), 0);
    /* A lowered limit frees what is kept beyond it; over the limit, freed at once. */
    p = tg_alloc_big(big);
    tg_free_big(p);
    ck_assert_uint_eq(tg_big_kept(), big);
    tg_big_keep(big / 2);
    ck_assert_uint_eq(tg_big_kept(), 0);
    p = tg_alloc_big(big);
    tg_free_big(p);
    ck_assert_uint_eq(tg_big_kept(), 0);
    tg_big_keep(0);
}
END_TEST

Suite *tg_suite(void)
{
    return SUITE_TCASE(suite_create("tg"), "big", 0, big_blocks_are_kept_for_reuse);
}
