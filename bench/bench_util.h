/*  bench_util.h - small helpers the benchmarks share (header-only: every
    benchmark source is one program, SConstruct builds each from its one file)
*/
#ifndef BENCH_UTIL_H_INCLUDED
#define BENCH_UTIL_H_INCLUDED

#include <czmq.h>
#include <stdint.h>
#include <stdlib.h>

static inline int64_t
s_now_us (void)
{
    return zclock_usecs ();
}

//  qsort comparators: int64_t and double, ascending
static inline int
s_cmp (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y ? -1 : x > y;
}

static inline int
s_cmp_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

//  Median of count values (count odd); sorts values
static inline double
s_median (double *values, int count)
{
    qsort (values, (size_t) count, sizeof (double), s_cmp_double);
    return values[count / 2];
}

#endif
