/*  bench_store - the store API against raw LMDB calls, same workload, same run

        bench_store [records 1000..1000000]

    Each round fills two fresh directories under /tmp, one through raw
    LMDB and one through the store, and times both sides in turns, so that
    a noisy neighbour slows both alike: writes batch by batch, who goes
    first alternating; reads in four turns, ABBA (BAAB the next round),
    each after a warm-up so that the side's records are hot in the cache.
    3 rounds; one JSON line per case with the medians:

      reads          random exact reads of `records` 16-byte keys with
                     100-byte values. zmicro: zm_store_read (a list the
                     caller owns); raw: a read-only transaction, mdb_get and
                     a copy of the value into a malloc'ed buffer, as an
                     API handing back owned bytes must.
      reads_mixed    the same with values of 32 to 256 bytes (fixed per
                     key). One value size puts every LMDB node at one size,
                     and some sizes (128-byte nodes on this machine) read
                     20-30% slower than their neighbours, raw or not: the
                     store's few bytes of header can land either side of
                     such a size. Mixed sizes show the API's own cost.
      batch_writes   100 batches of 100 new records, 100-byte values.
                     zmicro: zm_batch_write x100 + zm_store_commit; raw: a
                     write transaction, 100 mdb_put, commit. Both sync on
                     commit (LMDB's default).
      single_writes  1000 writes, one transaction each (informational).
*/
#include <lmdb.h>
#include <sys/stat.h>

#include "bench_util.h"
#include "zmicro.h"

#define VALUE 100     //  the fixed value size
#define VALUE_MAX 256 //  mixed sizes: 32 to this
#define ROUNDS 3

//  The value size of record i
static size_t
s_size (long i, bool mixed)
{
    return mixed ? 32 + (size_t)(i * 7919 % (VALUE_MAX - 31)) : VALUE;
}

static char s_dirs[2][64];

static const char *
s_dir (int which)
{
    snprintf (s_dirs[which], sizeof s_dirs[which], "/tmp/zm-bench-store-XXXXXX");
    if (!mkdtemp (s_dirs[which])) {
        perror ("mkdtemp");
        exit (1);
    }
    return s_dirs[which];
}

static void
s_rmdir (int which)
{
    char command[128];
    snprintf (command, sizeof command, "rm -rf '%s'", s_dirs[which]);
    if (system (command) != 0)
        fprintf (stderr, "bench_store: could not remove %s\n", s_dirs[which]);
}

//  Key i: 16 bytes ("key-" and 12 digits) into key (KEY_BUF bytes)
#define KEY_BUF 32
static void
s_key (long i, char *key)
{
    snprintf (key, KEY_BUF, "key-%012ld", i % 1000000000000L);
}

//  --------------------------------------------------------------------------
//  Raw LMDB

typedef struct {
    MDB_env *env;
    MDB_dbi dbi;
} raw_t;

static void
s_raw_open (raw_t *raw, const char *dir)
{
    int rc = mdb_env_create (&raw->env);
    mdb_env_set_mapsize (raw->env, (size_t)1 << 30);
    mdb_env_set_maxdbs (raw->env, 4);
    if (rc == 0)
        rc = mdb_env_open (raw->env, dir, MDB_NOTLS, 0600);
    MDB_txn *txn = NULL;
    if (rc == 0)
        rc = mdb_txn_begin (raw->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open (txn, "records", MDB_CREATE, &raw->dbi);
    if (rc == 0)
        rc = mdb_txn_commit (txn);
    if (rc) {
        fprintf (stderr, "bench_store: raw LMDB: %s\n", mdb_strerror (rc));
        exit (1);
    }
}

static void
s_raw_batch (raw_t *raw, long first, int count, const char *value, bool mixed)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin (raw->env, NULL, 0, &txn);
    for (int i = 0; rc == 0 && i < count; i++) {
        char key[KEY_BUF];
        s_key (first + i, key);
        MDB_val k = {16, key}, v = {s_size (first + i, mixed), (void *)value};
        rc = mdb_put (txn, raw->dbi, &k, &v, 0);
    }
    rc = rc ? rc : mdb_txn_commit (txn);
    if (rc) {
        fprintf (stderr, "bench_store: raw write: %s\n", mdb_strerror (rc));
        exit (1);
    }
}

static long
s_raw_reads (raw_t *raw, long records, long reads, unsigned seed)
{
    long found = 0;
    for (long n = 0; n < reads; n++) {
        char key[KEY_BUF];
        s_key ((long)(rand_r (&seed) % (unsigned)records), key);
        MDB_txn *txn = NULL;
        MDB_val k = {16, key}, v;
        if (mdb_txn_begin (raw->env, NULL, MDB_RDONLY, &txn) == 0 &&
            mdb_get (txn, raw->dbi, &k, &v) == 0) {
            void *copy = malloc (v.mv_size);
            memcpy (copy, v.mv_data, v.mv_size);
            found += ((char *)copy)[0] == 'v';
            free (copy);
        }
        mdb_txn_abort (txn);
    }
    return found;
}

//  --------------------------------------------------------------------------
//  zmicro

static void
s_zm_batch (zm_store_t *store, long first, int count, const char *value, bool mixed)
{
    zm_batch_t *batch = zm_batch_new ();
    for (int i = 0; i < count; i++) {
        char key[KEY_BUF];
        s_key (first + i, key);
        zm_batch_write (batch, key, value, s_size (first + i, mixed), NULL);
    }
    int rc = zm_store_commit (store, batch);
    zm_batch_destroy (&batch);
    if (rc) {
        fprintf (stderr, "bench_store: zmicro write: %s\n", zm_strerror (rc));
        exit (1);
    }
}

static long
s_zm_reads (zm_store_t *store, long records, long reads, unsigned seed)
{
    long found = 0;
    for (long n = 0; n < reads; n++) {
        char key[KEY_BUF];
        s_key ((long)(rand_r (&seed) % (unsigned)records), key);
        zm_records_t *list = NULL;
        if (zm_store_read (store, key, NULL, &list) == 0)
            found += ((const char *)zm_records_at (list, 0)->value)[0] == 'v';
        zm_records_destroy (&list);
    }
    return found;
}

//  --------------------------------------------------------------------------

//  One case's rates, by round
typedef struct {
    double raw[ROUNDS];   //  ops/s
    double zm[ROUNDS];    //  ops/s
    double ratio[ROUNDS]; //  zm / raw
} s_case_t;

static void
s_case_set (s_case_t *self, int round, long ops, int64_t raw_us, int64_t zm_us)
{
    self->raw[round] = raw_us > 0 ? ops * 1e6 / (double)raw_us : 0;
    self->zm[round] = zm_us > 0 ? ops * 1e6 / (double)zm_us : 0;
    self->ratio[round] = self->raw[round] > 0 ? self->zm[round] / self->raw[round] : 0;
}

static void
s_case_print (s_case_t *self, const char *name, const char *what, const char *size,
              const char *extra, const char *baseline, const char *target)
{
    char rounds[64];
    snprintf (rounds, sizeof rounds, "[%.2f,%.2f,%.2f]", self->ratio[0], self->ratio[1],
              self->ratio[2]);
    printf ("{\"bench\":\"store\",\"case\":\"%s\",%s\"value_bytes\":%s,\"rounds\":%d,"
            "\"%s\":%.0f,\"baseline\":\"%s\",\"baseline_%s\":%.0f,\"ratio\":%.2f,"
            "\"round_ratios\":%s%s%s}\n",
            name, extra, size, ROUNDS, what, s_median (self->zm, ROUNDS), baseline, what,
            s_median (self->raw, ROUNDS), s_median (self->ratio, ROUNDS), rounds,
            target ? ",\"target\":" : "", target ? target : "");
}

//  Fill both sides with records [first, first + count) in batches of batch,
//  turn by turn; adds the time each side took
static void
s_fill (raw_t *raw, zm_store_t *store, long first, long count, int batch, const char *value,
        bool mixed, int64_t *raw_us, int64_t *zm_us)
{
    for (long at = first, turn = 0; at < first + count; at += batch, turn++) {
        int size = (int)(first + count - at < batch ? first + count - at : batch);
        for (int side = 0; side < 2; side++) {
            int64_t start = s_now_us ();
            if ((side + turn) % 2 == 0) {
                s_raw_batch (raw, at, size, value, mixed);
                *raw_us += s_now_us () - start;
            }
            else {
                s_zm_batch (store, at, size, value, mixed);
                *zm_us += s_now_us () - start;
            }
        }
    }
}

//  One round: fresh directories, writes timed (fixed sizes only), then
//  reads; the cases' rates for this round
static void
s_round (int round, long records, bool mixed, s_case_t *reads, s_case_t *batch, s_case_t *single)
{
    char value[VALUE_MAX];
    memset (value, 'v', sizeof value);
    raw_t raw;
    s_raw_open (&raw, s_dir (0));
    int rc = 0;
    zm_store_t *store = zm_store_open (&zm_store_lmdb, s_dir (1), (size_t)1 << 30, NULL, &rc);
    if (!store) {
        fprintf (stderr, "bench_store: open: %s\n", zm_strerror (rc));
        exit (1);
    }
    int64_t raw_us = 0, zm_us = 0;
    s_fill (&raw, store, 0, 10000, 100, value, mixed, &raw_us, &zm_us);
    if (batch)
        s_case_set (batch, round, 10000, raw_us, zm_us);
    raw_us = zm_us = 0;
    s_fill (&raw, store, 10000, 1000, 1, value, mixed, &raw_us, &zm_us);
    if (single)
        s_case_set (single, round, 1000, raw_us, zm_us);
    if (records > 11000) //  the rest in big batches (not timed)
        s_fill (&raw, store, 11000, records - 11000, 5000, value, mixed, &raw_us, &zm_us);
    //  Reads: each side in turn with its records hot in the cache (as a
    //  process using one store has them), in the order ABBA (BAAB the next
    //  round) so that a drift in the machine's speed weighs on both
    long slice = records / 2, found_raw = 0, found_zm = 0;
    raw_us = zm_us = 0;
    for (int turn = 0; turn < 4; turn++) {
        bool raw_turn = (turn == 0 || turn == 3) == (round % 2 == 0);
        unsigned seed = 42u + (unsigned)(round * 4 + turn);
        if (raw_turn)
            s_raw_reads (&raw, records, records / 5, seed + 1000); //  warm-up
        else
            s_zm_reads (store, records, records / 5, seed + 1000);
        int64_t start = s_now_us ();
        if (raw_turn) {
            found_raw += s_raw_reads (&raw, records, slice, seed);
            raw_us += s_now_us () - start;
        }
        else {
            found_zm += s_zm_reads (store, records, slice, seed);
            zm_us += s_now_us () - start;
        }
    }
    if (found_raw != slice * 2 || found_zm != slice * 2) {
        fprintf (stderr, "bench_store: reads found %ld (raw) and %ld (zmicro) of %ld\n", found_raw,
                 found_zm, slice * 2);
        exit (1);
    }
    s_case_set (reads, round, slice * 2, raw_us, zm_us);
    zm_store_destroy (&store);
    mdb_env_close (raw.env);
    s_rmdir (0);
    s_rmdir (1);
}

int
main (int argc, char *argv[])
{
    long records = argc > 1 ? atol (argv[1]) : 100000;
    if (records < 1000 || records > 1000000) {
        fprintf (stderr, "usage: bench_store [records 1000..1000000]\n");
        return 2;
    }
    zsys_init ();
    s_case_t reads, reads_mixed, batch, single;
    for (int round = 0; round < ROUNDS; round++) {
        s_round (round, records, false, &reads, &batch, &single);
        s_round (round, records, true, &reads_mixed, NULL, NULL);
    }
    char extra[96];
    snprintf (extra, sizeof extra, "\"records\":%ld,\"reads\":%ld,", records, records / 2 * 2);
    s_case_print (&reads, "reads", "ops_per_s", "100", extra, "raw LMDB txn + mdb_get + copy",
                  "0.8");
    s_case_print (&reads_mixed, "reads_mixed", "ops_per_s", "\"32-256\"", extra,
                  "raw LMDB txn + mdb_get + copy", "0.8");
    s_case_print (&batch, "batch_writes", "records_per_s", "100", "\"batches\":100,\"batch\":100,",
                  "raw LMDB txn + 100 mdb_put + commit", "0.8");
    s_case_print (&single, "single_writes", "writes_per_s", "100", "\"writes\":1000,",
                  "raw LMDB txn + mdb_put + commit", NULL);
    return 0;
}
