/*  bench_util.h - small helpers the benchmarks share (header-only: every
    benchmark source is one program, SConstruct builds each from its one file)
*/
#ifndef BENCH_UTIL_H_INCLUDED
#define BENCH_UTIL_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
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

//  CURVE on the raw baselines, as the runtime has it by default ("curve"),
//  or neither side ("plain": the nodes get auth.curve=false). Call
//  bench_curve_init once, then bench_curve_server / bench_curve_client on
//  a raw socket (libzmq handle) before it binds or connects.
static bool s_bench_curve = true;
static char s_bench_keys[4][41]; //  server public, secret; client public, secret

static inline int
bench_curve_init (const char *mode)
{
    if (mode && strcmp (mode, "curve") != 0 && strcmp (mode, "plain") != 0)
        return -1;
    s_bench_curve = !mode || strcmp (mode, "curve") == 0;
    if (zmq_curve_keypair (s_bench_keys[0], s_bench_keys[1]) != 0
        || zmq_curve_keypair (s_bench_keys[2], s_bench_keys[3]) != 0)
        return -1;
    return 0;
}

static inline void
bench_curve_server (void *handle)
{
    int on = 1;
    if (s_bench_curve) {
        zmq_setsockopt (handle, ZMQ_CURVE_SERVER, &on, sizeof on);
        zmq_setsockopt (handle, ZMQ_CURVE_SECRETKEY, s_bench_keys[1], 40);
    }
}

static inline void
bench_curve_client (void *handle)
{
    if (s_bench_curve) {
        zmq_setsockopt (handle, ZMQ_CURVE_SERVERKEY, s_bench_keys[0], 40);
        zmq_setsockopt (handle, ZMQ_CURVE_PUBLICKEY, s_bench_keys[2], 40);
        zmq_setsockopt (handle, ZMQ_CURVE_SECRETKEY, s_bench_keys[3], 40);
    }
}

#endif
