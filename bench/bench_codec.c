/*  =========================================================================
    bench_codec - zm_msg codec throughput against raw msgpack-c

    One operation = build a small map (6 keys: string, int, float, bool,
    nested map, 16-byte binary), encode it, decode it, read every field.

    - ours:  zm_msg_new + zm_msg_set_* / zm_val_set_*, zm_msg_encode,
             zm_msg_decode_owned (zero-copy), getters, destroy
    - raw:   msgpack_pack_* into a fresh msgpack_sbuffer, msgpack_unpack_next
             into a fresh msgpack_unpacked, fields found by a linear key
             scan of the msgpack_object, destroy both
    - raw_reuse: the same, but the sbuffer and msgpack_unpacked are kept
             across operations (the fastest way to use msgpack-c), shown
             for information
    - json:  ours with application/json, for information

    The sides run interleaved in rounds so drift hits both alike. Prints one
    JSON line per case. Usage: bench_codec [iterations] (default 1000000).
    =========================================================================
*/
#include <zmicro.h>

#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS 5

static const unsigned char s_blob[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static volatile uint64_t s_sink; //  keeps the reads from being optimised away

static double
s_now (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint64_t
s_ours_once (const char *content_type, uint64_t i)
{
    zm_msg_t *msg = zm_msg_new ();
    zm_msg_set_str (msg, "name", "alice");
    zm_msg_set_int (msg, "id", (int64_t)(i & 0xffff));
    zm_msg_set_float (msg, "score", 98.625);
    zm_msg_set_bool (msg, "active", true);
    zm_val_t *pos = zm_val_set_map (zm_msg_root_mut (msg), "pos");
    zm_val_set_int (pos, "x", 10);
    zm_val_set_int (pos, "y", -20);
    zm_msg_set_bin (msg, "blob", s_blob, sizeof (s_blob));
    void *data = NULL;
    size_t size = 0;
    if (zm_msg_encode (msg, content_type, &data, &size))
        abort ();
    zm_msg_destroy (&msg);

    zm_msg_t *in = NULL;
    if (zm_msg_decode_owned (content_type, &data, size, &in, NULL))
        abort ();
    uint64_t sum = 0;
    sum += strlen (zm_msg_get_str (in, "name", ""));
    sum += (uint64_t)zm_msg_get_int (in, "id", 0);
    sum += (uint64_t)zm_msg_get_float (in, "score", 0);
    sum += zm_msg_get_bool (in, "active", false);
    const zm_val_t *in_pos = zm_val_get (zm_msg_root (in), "pos");
    sum += (uint64_t)zm_val_int (zm_val_get (in_pos, "x"), 0);
    sum += (uint64_t)zm_val_int (zm_val_get (in_pos, "y"), 0);
    size_t blob_size = 0;
    const unsigned char *blob = (const unsigned char *)zm_msg_get_bin (in, "blob", &blob_size);
    sum += blob_size + (blob ? blob[3] : 0);
    zm_msg_destroy (&in);
    return sum;
}

//  Raw msgpack-c side

static void
s_pack_key (msgpack_packer *pk, const char *key)
{
    size_t len = strlen (key);
    msgpack_pack_str (pk, len);
    msgpack_pack_str_body (pk, key, len);
}

static const msgpack_object *
s_raw_get (const msgpack_object *map, const char *key)
{
    if (map->type != MSGPACK_OBJECT_MAP)
        return NULL;
    size_t len = strlen (key);
    for (uint32_t index = 0; index < map->via.map.size; index++) {
        const msgpack_object *k = &map->via.map.ptr[index].key;
        if (k->type == MSGPACK_OBJECT_STR && k->via.str.size == len &&
            memcmp (k->via.str.ptr, key, len) == 0)
            return &map->via.map.ptr[index].val;
    }
    return NULL;
}

static int64_t
s_raw_int (const msgpack_object *obj)
{
    if (obj && obj->type == MSGPACK_OBJECT_POSITIVE_INTEGER)
        return (int64_t)obj->via.u64;
    if (obj && obj->type == MSGPACK_OBJECT_NEGATIVE_INTEGER)
        return obj->via.i64;
    return 0;
}

static void
s_raw_pack (msgpack_packer *pk, uint64_t i)
{
    msgpack_pack_map (pk, 6);
    s_pack_key (pk, "name");
    s_pack_key (pk, "alice");
    s_pack_key (pk, "id");
    msgpack_pack_int64 (pk, (int64_t)(i & 0xffff));
    s_pack_key (pk, "score");
    msgpack_pack_double (pk, 98.625);
    s_pack_key (pk, "active");
    msgpack_pack_true (pk);
    s_pack_key (pk, "pos");
    msgpack_pack_map (pk, 2);
    s_pack_key (pk, "x");
    msgpack_pack_int64 (pk, 10);
    s_pack_key (pk, "y");
    msgpack_pack_int64 (pk, -20);
    s_pack_key (pk, "blob");
    msgpack_pack_bin (pk, sizeof (s_blob));
    msgpack_pack_bin_body (pk, s_blob, sizeof (s_blob));
}

static uint64_t
s_raw_read (const msgpack_object *root)
{
    uint64_t sum = 0;
    const msgpack_object *obj = s_raw_get (root, "name");
    if (obj && obj->type == MSGPACK_OBJECT_STR)
        sum += obj->via.str.size;
    sum += (uint64_t)s_raw_int (s_raw_get (root, "id"));
    obj = s_raw_get (root, "score");
    if (obj && obj->type == MSGPACK_OBJECT_FLOAT64)
        sum += (uint64_t)obj->via.f64;
    obj = s_raw_get (root, "active");
    if (obj && obj->type == MSGPACK_OBJECT_BOOLEAN)
        sum += obj->via.boolean;
    const msgpack_object *pos = s_raw_get (root, "pos");
    if (pos) {
        sum += (uint64_t)s_raw_int (s_raw_get (pos, "x"));
        sum += (uint64_t)s_raw_int (s_raw_get (pos, "y"));
    }
    obj = s_raw_get (root, "blob");
    if (obj && obj->type == MSGPACK_OBJECT_BIN)
        sum += obj->via.bin.size + (unsigned char)obj->via.bin.ptr[3];
    return sum;
}

static uint64_t
s_raw_once (uint64_t i)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    s_raw_pack (&pk, i);

    msgpack_unpacked unpacked;
    msgpack_unpacked_init (&unpacked);
    size_t offset = 0;
    if (msgpack_unpack_next (&unpacked, sbuf.data, sbuf.size, &offset) != MSGPACK_UNPACK_SUCCESS)
        abort ();
    uint64_t sum = s_raw_read (&unpacked.data);
    msgpack_unpacked_destroy (&unpacked);
    msgpack_sbuffer_destroy (&sbuf);
    return sum;
}

//  State kept across operations by the raw_reuse case
static msgpack_sbuffer s_reuse_sbuf;
static msgpack_unpacked s_reuse_unpacked;

static uint64_t
s_raw_reuse_once (uint64_t i)
{
    msgpack_sbuffer_clear (&s_reuse_sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &s_reuse_sbuf, msgpack_sbuffer_write);
    s_raw_pack (&pk, i);
    size_t offset = 0;
    if (msgpack_unpack_next (&s_reuse_unpacked, s_reuse_sbuf.data, s_reuse_sbuf.size, &offset) !=
        MSGPACK_UNPACK_SUCCESS)
        abort ();
    return s_raw_read (&s_reuse_unpacked.data);
}

typedef enum { CASE_OURS, CASE_RAW, CASE_RAW_REUSE, CASE_JSON, CASES } case_t;

static double
s_run (case_t which, uint64_t ops, uint64_t offset)
{
    uint64_t sum = 0;
    double start = s_now ();
    for (uint64_t i = offset; i < offset + ops; i++) {
        switch (which) {
        case CASE_OURS:
            sum += s_ours_once (ZM_CT_MSGPACK, i);
            break;
        case CASE_RAW:
            sum += s_raw_once (i);
            break;
        case CASE_RAW_REUSE:
            sum += s_raw_reuse_once (i);
            break;
        default:
            sum += s_ours_once (ZM_CT_JSON, i);
            break;
        }
    }
    double elapsed = s_now () - start;
    s_sink += sum;
    return elapsed;
}

int
main (int argc, char **argv)
{
    uint64_t iterations = argc > 1 ? strtoull (argv[1], NULL, 10) : 1000000;
    if (iterations < ROUNDS)
        iterations = ROUNDS;
    uint64_t per_round = iterations / ROUNDS;
    msgpack_sbuffer_init (&s_reuse_sbuf);
    msgpack_unpacked_init (&s_reuse_unpacked);

    //  Same result from both sides, or the comparison means nothing
    if (s_ours_once (ZM_CT_MSGPACK, 7) != s_raw_once (7) ||
        s_ours_once (ZM_CT_JSON, 7) != s_raw_once (7)) {
        fprintf (stderr, "bench_codec: sides disagree\n");
        return 1;
    }
    double elapsed[CASES] = {0};
    for (int c = 0; c < CASES; c++) //  warm up
        s_run ((case_t)c, per_round / 10 + 1, 0);
    for (int round = 0; round < ROUNDS; round++)
        for (int c = 0; c < CASES; c++)
            elapsed[c] += s_run ((case_t)c, per_round, round * per_round);
    uint64_t ops = per_round * ROUNDS;
    double ops_per_s[CASES];
    for (int c = 0; c < CASES; c++)
        ops_per_s[c] = (double)ops / (elapsed[c] / 1e9);

    printf ("{\"bench\":\"codec\",\"case\":\"msgpack_small_map\",\"ops\":%llu,"
            "\"ns_per_op\":%.1f,\"ops_per_s\":%.0f,\"baseline\":\"msgpack-c fresh buffers\","
            "\"baseline_ops_per_s\":%.0f,\"ratio\":%.3f,\"target\":0.8}\n",
            (unsigned long long)ops, elapsed[CASE_OURS] / (double)ops, ops_per_s[CASE_OURS],
            ops_per_s[CASE_RAW], ops_per_s[CASE_OURS] / ops_per_s[CASE_RAW]);
    printf ("{\"bench\":\"codec\",\"case\":\"msgpack_small_map_vs_reused_buffers\",\"ops\":%llu,"
            "\"ns_per_op\":%.1f,\"ops_per_s\":%.0f,\"baseline\":\"msgpack-c reused buffers\","
            "\"baseline_ops_per_s\":%.0f,\"ratio\":%.3f}\n",
            (unsigned long long)ops, elapsed[CASE_OURS] / (double)ops, ops_per_s[CASE_OURS],
            ops_per_s[CASE_RAW_REUSE], ops_per_s[CASE_OURS] / ops_per_s[CASE_RAW_REUSE]);
    printf ("{\"bench\":\"codec\",\"case\":\"json_small_map\",\"ops\":%llu,"
            "\"ns_per_op\":%.1f,\"ops_per_s\":%.0f,\"baseline\":\"ours msgpack\","
            "\"baseline_ops_per_s\":%.0f,\"ratio\":%.3f}\n",
            (unsigned long long)ops, elapsed[CASE_JSON] / (double)ops, ops_per_s[CASE_JSON],
            ops_per_s[CASE_OURS], ops_per_s[CASE_JSON] / ops_per_s[CASE_OURS]);
    msgpack_unpacked_destroy (&s_reuse_unpacked);
    msgpack_sbuffer_destroy (&s_reuse_sbuf);
    return 0;
}
