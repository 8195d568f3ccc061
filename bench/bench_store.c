/*  bench_store - the store API against raw LMDB calls, same workload, same run

        bench_store [records 1000..1000000]

    Each case runs on a fresh directory under /tmp, 3 rounds alternating
    raw and zmicro, and prints one JSON line with the medians:

      reads          random exact reads of `records` 16-byte keys with
                     100-byte values. zmicro: zm_store_read (a list the
                     caller owns); raw: a read-only transaction, mdb_get and
                     a copy of the value into a malloc'ed buffer, as an
                     API handing back owned bytes must.
      batch_writes   100 batches of 100 new records. zmicro: zm_batch_write
                     x100 + zm_store_commit; raw: a write transaction, 100
                     mdb_put, commit. Both sync on commit (LMDB's default).
      single_writes  1000 writes, one transaction each (informational).
*/
#include <lmdb.h>
#include <sys/stat.h>

#include "bench_util.h"
#include "zmicro.h"

#define VALUE 100
#define ROUNDS 3

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
    mdb_env_set_mapsize (raw->env, (size_t) 1 << 30);
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
s_raw_batch (raw_t *raw, long first, int count, const char *value)
{
    MDB_txn *txn = NULL;
    int rc = mdb_txn_begin (raw->env, NULL, 0, &txn);
    for (int i = 0; rc == 0 && i < count; i++) {
        char key[KEY_BUF];
        s_key (first + i, key);
        MDB_val k = {16, key}, v = {VALUE, (void *) value};
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
        s_key ((long) (rand_r (&seed) % (unsigned) records), key);
        MDB_txn *txn = NULL;
        MDB_val k = {16, key}, v;
        if (mdb_txn_begin (raw->env, NULL, MDB_RDONLY, &txn) == 0
            && mdb_get (txn, raw->dbi, &k, &v) == 0) {
            void *copy = malloc (v.mv_size);
            memcpy (copy, v.mv_data, v.mv_size);
            found += ((char *) copy)[0] == 'v';
            free (copy);
        }
        mdb_txn_abort (txn);
    }
    return found;
}

//  --------------------------------------------------------------------------
//  zmicro

static void
s_zm_batch (zm_store_t *store, long first, int count, const char *value)
{
    zm_batch_t *batch = zm_batch_new ();
    for (int i = 0; i < count; i++) {
        char key[KEY_BUF];
        s_key (first + i, key);
        zm_batch_write (batch, key, value, VALUE, NULL);
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
        s_key ((long) (rand_r (&seed) % (unsigned) records), key);
        zm_records_t *list = NULL;
        if (zm_store_read (store, key, NULL, &list) == 0)
            found += ((const char *) zm_records_at (list, 0)->value)[0] == 'v';
        zm_records_destroy (&list);
    }
    return found;
}

//  --------------------------------------------------------------------------

static double
s_rate (long ops, int64_t start)
{
    int64_t elapsed = s_now_us () - start;
    return elapsed > 0 ? ops * 1e6 / (double) elapsed : 0;
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
    char value[VALUE];
    memset (value, 'v', sizeof value);
    double raw_reads[ROUNDS], zm_reads[ROUNDS], raw_batch[ROUNDS], zm_batch[ROUNDS],
        raw_single[ROUNDS], zm_single[ROUNDS], ratio_reads[ROUNDS], ratio_batch[ROUNDS];
    long reads = records * 2;
    for (int round = 0; round < ROUNDS; round++) {
        raw_t raw;
        s_raw_open (&raw, s_dir (0));
        int rc = 0;
        zm_store_t *store = zm_store_open (&zm_store_lmdb, s_dir (1), (size_t) 1 << 30, NULL, &rc);
        if (!store) {
            fprintf (stderr, "bench_store: open: %s\n", zm_strerror (rc));
            return 1;
        }
        //  Batched writes: the first 100 x 100 records
        int64_t start = s_now_us ();
        for (int b = 0; b < 100; b++)
            s_raw_batch (&raw, b * 100, 100, value);
        raw_batch[round] = s_rate (10000, start);
        start = s_now_us ();
        for (int b = 0; b < 100; b++)
            s_zm_batch (store, b * 100, 100, value);
        zm_batch[round] = s_rate (10000, start);
        //  Single writes
        start = s_now_us ();
        for (int i = 0; i < 1000; i++)
            s_raw_batch (&raw, 10000 + i, 1, value);
        raw_single[round] = s_rate (1000, start);
        start = s_now_us ();
        for (int i = 0; i < 1000; i++)
            s_zm_batch (store, 10000 + i, 1, value);
        zm_single[round] = s_rate (1000, start);
        //  The rest of the records, in big batches (not timed)
        for (long first = 11000; first < records; first += 5000) {
            int count = (int) (records - first < 5000 ? records - first : 5000);
            s_raw_batch (&raw, first, count, value);
            s_zm_batch (store, first, count, value);
        }
        //  Reads
        unsigned seed = 42u + (unsigned) round;
        long found_raw = 0, found_zm = 0;
        for (int turn = 0; turn < 2; turn++) { //  who goes first alternates by round
            start = s_now_us ();
            if ((turn + round) % 2 == 0) {
                found_raw = s_raw_reads (&raw, records, reads, seed);
                raw_reads[round] = s_rate (reads, start);
            }
            else {
                found_zm = s_zm_reads (store, records, reads, seed);
                zm_reads[round] = s_rate (reads, start);
            }
        }
        if (found_raw != reads || found_zm != reads) {
            fprintf (stderr, "bench_store: reads found %ld (raw) and %ld (zmicro) of %ld\n",
                     found_raw, found_zm, reads);
            return 1;
        }
        ratio_reads[round] = zm_reads[round] / raw_reads[round];
        ratio_batch[round] = zm_batch[round] / raw_batch[round];
        zm_store_destroy (&store);
        mdb_env_close (raw.env);
        s_rmdir (0);
        s_rmdir (1);
    }
    double rr[ROUNDS], rb[ROUNDS];
    memcpy (rr, ratio_reads, sizeof rr);
    memcpy (rb, ratio_batch, sizeof rb);
    printf ("{\"bench\":\"store\",\"case\":\"reads\",\"records\":%ld,\"reads\":%ld,"
            "\"value_bytes\":%d,\"rounds\":%d,\"ops_per_s\":%.0f,\"baseline\":\"raw LMDB "
            "txn + mdb_get + copy\",\"baseline_ops_per_s\":%.0f,\"ratio\":%.2f,"
            "\"round_ratios\":[%.2f,%.2f,%.2f],\"target\":0.8}\n",
            records, reads, VALUE, ROUNDS, s_median (zm_reads, ROUNDS),
            s_median (raw_reads, ROUNDS), s_median (rr, ROUNDS), ratio_reads[0], ratio_reads[1],
            ratio_reads[2]);
    printf ("{\"bench\":\"store\",\"case\":\"batch_writes\",\"batches\":100,\"batch\":100,"
            "\"value_bytes\":%d,\"rounds\":%d,\"records_per_s\":%.0f,\"baseline\":\"raw LMDB "
            "txn + 100 mdb_put + commit\",\"baseline_records_per_s\":%.0f,\"ratio\":%.2f,"
            "\"round_ratios\":[%.2f,%.2f,%.2f],\"target\":0.8}\n",
            VALUE, ROUNDS, s_median (zm_batch, ROUNDS), s_median (raw_batch, ROUNDS),
            s_median (rb, ROUNDS), ratio_batch[0], ratio_batch[1], ratio_batch[2]);
    double zs = s_median (zm_single, ROUNDS), rs = s_median (raw_single, ROUNDS);
    printf ("{\"bench\":\"store\",\"case\":\"single_writes\",\"writes\":1000,"
            "\"value_bytes\":%d,\"rounds\":%d,\"writes_per_s\":%.0f,\"baseline\":\"raw LMDB "
            "txn + mdb_put + commit\",\"baseline_writes_per_s\":%.0f,\"ratio\":%.2f}\n",
            VALUE, ROUNDS, zs, rs, rs > 0 ? zs / rs : 0);
    return 0;
}
