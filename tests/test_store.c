/*  Store: one suite, two backends (docs/store.md).

    Every STORE_TEST body runs twice, as store_lmdb/<name> and
    store_memory/<name>, on a fresh store (LMDB in a fresh directory).
    Tests of what only LMDB has (files, reopening, the map growing, a
    full disk, a corrupt file, a killed writer) follow the suite.
*/
#include <criterion/criterion.h>
#include <czmq.h>
#include <inttypes.h>
#include <lmdb.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "zmicro.h"
#include "support.h"

static char s_dir[64];

//  A fresh directory for an LMDB store, removed by s_teardown
static const char *
s_new_dir (void)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/zm-store-XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
    return s_dir;
}

static void
s_teardown (void)
{
    if (*s_dir) {
        char command[128];
        snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
        cr_assert_eq (system (command), 0);
        *s_dir = 0;
    }
}

typedef void (s_body_fn) (zm_store_t *store);

static void
s_run (const zm_store_ops_t *ops, s_body_fn *body)
{
    int rc = -1;
    zm_store_t *store = zm_store_open (ops, s_new_dir (), 0, NULL, &rc);
    cr_assert_not_null (store, "open: %s", zm_strerror (rc));
    cr_assert_eq (rc, 0);
    cr_assert_str_eq (zm_store_backend (store), ops->name);
    body (store);
    zm_store_destroy (&store);
    cr_assert_null (store);
    zm_store_destroy (&store); //  idempotent
}

#define STORE_TEST(name, seconds)                                                                  \
    static void s_##name (zm_store_t *store);                                                      \
    Test (store_lmdb, name, .fini = s_teardown, .timeout = seconds)                                \
    {                                                                                              \
        s_run (&zm_store_lmdb, s_##name);                                                          \
    }                                                                                              \
    Test (store_memory, name, .fini = s_teardown, .timeout = seconds)                              \
    {                                                                                              \
        s_run (&zm_store_memory, s_##name);                                                        \
    }                                                                                              \
    static void s_##name (zm_store_t *store)

//  Write a string value, assert success, return the version
static uint64_t
s_put (zm_store_t *store, const char *key, const char *value, const zm_write_opts_t *opts)
{
    uint64_t version = 0;
    int rc = zm_store_write (store, key, value, strlen (value), opts, &version);
    cr_assert_eq (rc, 0, "write %s: %s", key, zm_strerror (rc));
    return version;
}

//  The value of key as a string ("" when absent: rc_p says why)
static const char *
s_get (zm_store_t *store, const char *key, const zm_read_opts_t *opts, char *out, size_t size)
{
    zm_records_t *records = NULL;
    int rc = zm_store_read (store, key, opts, &records);
    *out = 0;
    if (rc == 0) {
        cr_assert_eq (zm_records_size (records), 1);
        const zm_record_t *record = zm_records_at (records, 0);
        cr_assert_str_eq (record->key, key);
        snprintf (out, size, "%.*s", (int)record->size, (const char *)record->value);
        zm_records_destroy (&records);
    }
    return out;
}

//  The keys of records, joined with spaces
static const char *
s_keys (zm_records_t *records, char *out, size_t size)
{
    *out = 0;
    for (size_t index = 0; index < zm_records_size (records); index++) {
        size_t len = strlen (out);
        snprintf (out + len, size - len, "%s%s", index ? " " : "",
                  zm_records_at (records, index)->key);
    }
    return out;
}

STORE_TEST (write_read_round_trip, 10)
{
    char value[64];
    cr_assert_eq (s_put (store, "user:1", "ada", NULL), 1);
    cr_assert_str_eq (s_get (store, "user:1", NULL, value, sizeof value), "ada");
    cr_assert_eq (s_put (store, "user:1", "ada lovelace", NULL), 2, "every write bumps it");

    zm_records_t *records = NULL;
    cr_assert_eq (zm_store_read (store, "user:1", NULL, &records), 0);
    const zm_record_t *record = zm_records_at (records, 0);
    cr_assert_eq (record->size, 12);
    cr_assert_eq (memcmp (record->value, "ada lovelace", 12), 0);
    cr_assert_eq (record->version, 2);
    cr_assert_eq (record->expires, 0);
    cr_assert_null (record->metadata);
    cr_assert_null (zm_records_at (records, 1));
    zm_records_destroy (&records);
    zm_records_destroy (&records);

    //  Bytes, NULs included; an empty value; metadata
    const uint8_t bytes[] = {0, 1, 2, 0, 255};
    zm_msg_t *meta = zm_msg_new ();
    zm_msg_set_str (meta, "owner", "billing");
    zm_msg_set_str (meta, "empty", "");
    zm_write_opts_t opts = {.metadata = meta};
    cr_assert_eq (zm_store_write (store, "blob", bytes, sizeof bytes, &opts, NULL), 0);
    zm_msg_destroy (&meta);
    cr_assert_eq (zm_store_write (store, "nothing", NULL, 0, NULL, NULL), 0);
    cr_assert_eq (zm_store_read (store, "blob", NULL, &records), 0);
    record = zm_records_at (records, 0);
    cr_assert_eq (record->size, sizeof bytes);
    cr_assert_eq (memcmp (record->value, bytes, sizeof bytes), 0);
    cr_assert_str_eq (zm_msg_get_str (record->metadata, "owner", NULL), "billing");
    cr_assert_str_eq (zm_msg_get_str (record->metadata, "empty", NULL), "");
    zm_records_destroy (&records);
    cr_assert_eq (zm_store_read (store, "nothing", NULL, &records), 0);
    cr_assert_eq (zm_records_at (records, 0)->size, 0);
    cr_assert_not_null (zm_records_at (records, 0)->value);
    zm_records_destroy (&records);

    //  A 1 MiB value
    size_t big_size = 1 << 20;
    char *big = (char *)malloc (big_size);
    for (size_t at = 0; at < big_size; at++)
        big[at] = (char)(at * 7);
    cr_assert_eq (zm_store_write (store, "big", big, big_size, NULL, NULL), 0);
    cr_assert_eq (zm_store_read (store, "big", NULL, &records), 0);
    cr_assert_eq (zm_records_at (records, 0)->size, big_size);
    cr_assert_eq (memcmp (zm_records_at (records, 0)->value, big, big_size), 0);
    zm_records_destroy (&records);
    free (big);
}

STORE_TEST (missing_keys_and_deletes, 10)
{
    zm_records_t *records = NULL;
    cr_assert_eq (zm_store_read (store, "ghost", NULL, &records), ZM_ENOTFOUND);
    cr_assert_null (records);
    cr_assert_eq (zm_store_delete (store, "ghost", NULL), ZM_ENOTFOUND);
    s_put (store, "a", "1", NULL);
    s_put (store, "ab", "2", NULL);
    //  An exact read is exact: "a" is not "ab"
    cr_assert_eq (zm_store_delete (store, "a", NULL), 0);
    cr_assert_eq (zm_store_read (store, "a", NULL, &records), ZM_ENOTFOUND);
    char value[16];
    cr_assert_str_eq (s_get (store, "ab", NULL, value, sizeof value), "2");
    cr_assert_eq (zm_store_delete (store, "a", NULL), ZM_ENOTFOUND);
    //  Written again after a delete: a new record
    s_put (store, "a", "3", NULL);
    cr_assert_str_eq (s_get (store, "a", NULL, value, sizeof value), "3");
}

STORE_TEST (prefix_suffix_limit_offset, 10)
{
    const char *keys[] = {"b1", "a3", "a1", "ab", "a2", "c", "a10"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        s_put (store, keys[i], keys[i], NULL);
    char text[256];
    zm_records_t *records = NULL;
    zm_read_opts_t opts = {.prefix = true};
    cr_assert_eq (zm_store_read (store, "a", &opts, &records), 0);
    cr_assert_str_eq (s_keys (records, text, sizeof text), "a1 a10 a2 a3 ab", "in key order");
    cr_assert_str_eq ((const char *)zm_records_at (records, 1)->value, "a10");
    zm_records_destroy (&records);
    opts = (zm_read_opts_t){.prefix = true, .offset = 1, .limit = 2};
    cr_assert_eq (zm_store_read (store, "a", &opts, &records), 0);
    cr_assert_str_eq (s_keys (records, text, sizeof text), "a10 a2");
    zm_records_destroy (&records);
    opts = (zm_read_opts_t){.suffix = true};
    cr_assert_eq (zm_store_read (store, "1", &opts, &records), 0);
    cr_assert_str_eq (s_keys (records, text, sizeof text), "a1 b1");
    zm_records_destroy (&records);
    opts = (zm_read_opts_t){.prefix = true, .suffix = true};
    cr_assert_eq (zm_store_read (store, "c", &opts, &records), 0);
    cr_assert_str_eq (s_keys (records, text, sizeof text), "c");
    zm_records_destroy (&records);
    //  Nothing matches: an empty list, not an error
    opts = (zm_read_opts_t){.prefix = true};
    cr_assert_eq (zm_store_read (store, "zz", &opts, &records), 0);
    cr_assert_eq (zm_records_size (records), 0);
    zm_records_destroy (&records);
    //  Past the end
    opts = (zm_read_opts_t){.prefix = true, .offset = 100};
    cr_assert_eq (zm_store_read (store, "", &opts, &records), 0);
    cr_assert_eq (zm_records_size (records), 0);
    zm_records_destroy (&records);

    //  List: keys only
    cr_assert_eq (zm_store_list (store, NULL, &records), 0);
    cr_assert_str_eq (s_keys (records, text, sizeof text), "a1 a10 a2 a3 ab b1 c");
    cr_assert_eq (zm_records_at (records, 0)->size, 0, "no values in a list");
    cr_assert_eq (zm_records_at (records, 0)->version, 1);
    zm_records_destroy (&records);
    zm_list_opts_t list = {.prefix = "a", .suffix = "0"};
    cr_assert_eq (zm_store_list (store, &list, &records), 0);
    cr_assert_str_eq (s_keys (records, text, sizeof text), "a10");
    zm_records_destroy (&records);
    list = (zm_list_opts_t){.offset = 5, .limit = 10};
    cr_assert_eq (zm_store_list (store, &list, &records), 0);
    cr_assert_str_eq (s_keys (records, text, sizeof text), "b1 c");
    zm_records_destroy (&records);
}

STORE_TEST (databases_and_tables_are_namespaces, 10)
{
    zm_write_opts_t in_orders = {.database = "shop", .table = "orders"};
    zm_write_opts_t in_order = {.database = "shop", .table = "order"};
    zm_write_opts_t other_db = {.database = "shop2", .table = "orders"};
    s_put (store, "k", "default", NULL);
    s_put (store, "k", "orders", &in_orders);
    s_put (store, "k", "order", &in_order);
    s_put (store, "k2", "order", &in_order);
    s_put (store, "k", "shop2", &other_db);
    char value[32];
    cr_assert_str_eq (s_get (store, "k", NULL, value, sizeof value), "default");
    zm_read_opts_t read = {.database = "shop", .table = "orders"};
    cr_assert_str_eq (s_get (store, "k", &read, value, sizeof value), "orders");
    read.table = "order";
    cr_assert_str_eq (s_get (store, "k", &read, value, sizeof value), "order");
    read = (zm_read_opts_t){.database = "shop2", .table = "orders"};
    cr_assert_str_eq (s_get (store, "k", &read, value, sizeof value), "shop2");
    //  A table's list holds its own keys only ("order" is a prefix of
    //  "orders" as a name, not as a namespace)
    zm_records_t *records = NULL;
    zm_list_opts_t list = {.database = "shop", .table = "orders"};
    cr_assert_eq (zm_store_list (store, &list, &records), 0);
    char text[64];
    cr_assert_str_eq (s_keys (records, text, sizeof text), "k");
    zm_records_destroy (&records);
    //  A handle with another default database shares the backend
    zm_store_t *shop = zm_store_with_database (store, "shop");
    cr_assert_not_null (shop);
    cr_assert_str_eq (zm_store_database (shop), "shop");
    cr_assert_str_eq (zm_store_database (store), ZM_STORE_DATABASE);
    read = (zm_read_opts_t){.table = "orders"};
    cr_assert_str_eq (s_get (shop, "k", &read, value, sizeof value), "orders");
    cr_assert_eq (zm_store_delete (shop, "k", &(zm_delete_opts_t){.table = "orders"}), 0);
    cr_assert_eq (zm_store_read (store, "k",
                                 &(zm_read_opts_t){.database = "shop", .table = "orders"},
                                 &records),
                  ZM_ENOTFOUND);
    zm_store_destroy (&shop);
    cr_assert_str_eq (s_get (store, "k", NULL, value, sizeof value), "default");
    cr_assert_null (zm_store_with_database (store, "no/slash"));
}

STORE_TEST (expired_records_are_never_returned_and_swept, 10)
{
    zm_write_opts_t ttl = {.ttl_ms = 150};
    s_put (store, "session", "s1", &ttl);
    s_put (store, "keep", "k", NULL);
    zm_write_opts_t past = {.expires = (int64_t)zclock_time () - 1000};
    s_put (store, "stale", "x", &past);
    zm_records_t *records = NULL;
    cr_assert_eq (zm_store_read (store, "stale", NULL, &records), ZM_ENOTFOUND);
    cr_assert_eq (zm_store_read (store, "session", NULL, &records), 0);
    int64_t expires = zm_records_at (records, 0)->expires;
    zm_records_destroy (&records);
    cr_assert (expires > (int64_t)zclock_time () && expires <= (int64_t)zclock_time () + 150);
    //  Rewritten without a TTL: the old expiry must not remove it
    zm_write_opts_t short_ttl = {.ttl_ms = 50};
    s_put (store, "renewed", "r1", &short_ttl);
    s_put (store, "renewed", "r2", NULL);
    zclock_sleep (200);
    cr_assert_eq (zm_store_read (store, "session", NULL, &records), ZM_ENOTFOUND);
    zm_read_opts_t all = {.prefix = true};
    cr_assert_eq (zm_store_read (store, "", &all, &records), 0);
    char text[64];
    cr_assert_str_eq (s_keys (records, text, sizeof text), "keep renewed");
    zm_records_destroy (&records);
    cr_assert_eq (zm_store_list (store, NULL, &records), 0);
    cr_assert_str_eq (s_keys (records, text, sizeof text), "keep renewed");
    zm_records_destroy (&records);
    //  The sweep removes both expired records and nothing else
    cr_assert_eq (zm_store_sweep (store, 0), 2);
    cr_assert_eq (zm_store_sweep (store, 0), 0);
    char value[16];
    cr_assert_str_eq (s_get (store, "renewed", NULL, value, sizeof value), "r2");
    //  A bounded sweep
    for (int i = 0; i < 5; i++) {
        char key[16];
        snprintf (key, sizeof key, "t%d", i);
        s_put (store, key, "v", &past);
    }
    cr_assert_eq (zm_store_sweep (store, 3), 3);
    cr_assert_eq (zm_store_sweep (store, 0), 2);
    //  Both a TTL and an expiry time, or negative ones: refused
    zm_write_opts_t both = {.ttl_ms = 10, .expires = 10};
    cr_assert_eq (zm_store_write (store, "x", "v", 1, &both, NULL), ZM_EINVAL);
    zm_write_opts_t negative = {.ttl_ms = -1};
    cr_assert_eq (zm_store_write (store, "x", "v", 1, &negative, NULL), ZM_EINVAL);
}

STORE_TEST (compare_and_swap_on_version, 10)
{
    zm_write_opts_t create = {.version = ZM_STORE_ABSENT};
    cr_assert_eq (s_put (store, "lock", "a", &create), 1);
    cr_assert_eq (zm_store_write (store, "lock", "b", 1, &create, NULL), ZM_ECONFLICT);
    zm_write_opts_t swap = {.version = 1};
    cr_assert_eq (s_put (store, "lock", "c", &swap), 2);
    //  A stale version loses, and changes nothing
    cr_assert_eq (zm_store_write (store, "lock", "d", 1, &swap, NULL), ZM_ECONFLICT);
    char value[16];
    cr_assert_str_eq (s_get (store, "lock", NULL, value, sizeof value), "c");
    //  On a missing key a version cannot hold
    cr_assert_eq (zm_store_write (store, "nokey", "x", 1, &swap, NULL), ZM_ECONFLICT);
    //  Delete with a version
    cr_assert_eq (zm_store_delete (store, "lock", &(zm_delete_opts_t){.version = 1}), ZM_ECONFLICT);
    cr_assert_eq (zm_store_delete (store, "lock", &(zm_delete_opts_t){.version = 2}), 0);
    cr_assert_eq (zm_store_delete (store, "lock", &(zm_delete_opts_t){.version = 2}), ZM_ENOTFOUND);
    //  An expired record is absent for ABSENT, and its version is not reused
    zm_write_opts_t expired = {.expires = (int64_t)zclock_time () - 1};
    cr_assert_eq (s_put (store, "lease", "old", &expired), 1);
    cr_assert_eq (s_put (store, "lease", "new", &create), 2);
    cr_assert_eq (zm_store_delete (store, "x", &(zm_delete_opts_t){.version = ZM_STORE_ABSENT}),
                  ZM_EINVAL);
}

//  Versions are stored in as few bytes as they need: a record whose
//  version grows past one byte keeps its value, expiry and metadata
STORE_TEST (versions_past_one_byte_keep_the_record_whole, 30)
{
    zm_msg_t *meta = zm_msg_new ();
    zm_msg_set_str (meta, "owner", "ada");
    int64_t expires = (int64_t)zclock_time () + 3600 * 1000;
    for (uint64_t round = 1; round <= 300; round++) {
        char text[32];
        snprintf (text, sizeof text, "value %" PRIu64, round);
        zm_write_opts_t opts = {.version = round == 1 ? ZM_STORE_ABSENT : round - 1};
        if (round % 2) {
            opts.metadata = meta;
            opts.expires = expires;
        }
        cr_assert_eq (s_put (store, "grows", text, &opts), round);
        zm_records_t *records = NULL;
        cr_assert_eq (zm_store_read (store, "grows", NULL, &records), 0);
        const zm_record_t *record = zm_records_at (records, 0);
        cr_assert_eq (record->version, round);
        cr_assert_eq (record->size, strlen (text));
        cr_assert_eq (memcmp (record->value, text, record->size), 0);
        cr_assert_eq (record->expires, round % 2 ? expires : 0);
        if (round % 2)
            cr_assert_str_eq (zm_msg_get_str (record->metadata, "owner", NULL), "ada");
        else
            cr_assert_null (record->metadata);
        zm_records_destroy (&records);
    }
    zm_msg_destroy (&meta);
    //  A batch committed twice writes twice: its records are rebuilt each time
    zm_batch_t *batch = zm_batch_new ();
    cr_assert_eq (zm_batch_write (batch, "other", "x", 1, NULL), 0);
    cr_assert_eq (zm_batch_write (batch, "grows", "y", 1, NULL), 0);
    cr_assert_eq (zm_store_commit (store, batch), 0);
    cr_assert_eq (zm_store_commit (store, batch), 0, "a batch can be committed again");
    zm_batch_destroy (&batch);
    zm_records_t *records = NULL;
    cr_assert_eq (zm_store_read (store, "grows", NULL, &records), 0);
    cr_assert_eq (zm_records_at (records, 0)->version, 302);
    cr_assert_eq (zm_records_at (records, 0)->size, 1);
    zm_records_destroy (&records);
    cr_assert_eq (zm_store_read (store, "other", NULL, &records), 0);
    cr_assert_eq (zm_records_at (records, 0)->version, 2);
    zm_records_destroy (&records);
}

//  Threads adding to one counter by compare-and-swap
typedef struct {
    zm_store_t *store;
    int adds;      //  increments to make
    int conflicts; //  lost races, retried
} s_adder_t;

static void *
s_adder (void *arg)
{
    s_adder_t *self = (s_adder_t *)arg;
    for (int done = 0; done < self->adds;) {
        zm_records_t *records = NULL;
        int rc = zm_store_read (self->store, "counter", NULL, &records);
        if (rc)
            return (void *)"read failed";
        const zm_record_t *record = zm_records_at (records, 0);
        long n = strtol ((const char *)record->value, NULL, 10);
        char text[32];
        snprintf (text, sizeof text, "%ld", n + 1);
        zm_write_opts_t opts = {.version = record->version};
        rc = zm_store_write (self->store, "counter", text, strlen (text), &opts, NULL);
        zm_records_destroy (&records);
        if (rc == 0)
            done++;
        else if (rc == ZM_ECONFLICT)
            self->conflicts++;
        else
            return (void *)"write failed";
    }
    return NULL;
}

STORE_TEST (compare_and_swap_races_lose_no_update, 60)
{
    s_put (store, "counter", "0", NULL);
    enum { THREADS = 4, ADDS = 150 };
    pthread_t threads[THREADS];
    s_adder_t adders[THREADS];
    for (int i = 0; i < THREADS; i++) {
        adders[i] = (s_adder_t){store, ADDS, 0};
        cr_assert_eq (pthread_create (&threads[i], NULL, s_adder, &adders[i]), 0);
    }
    int conflicts = 0;
    for (int i = 0; i < THREADS; i++) {
        void *failed = NULL;
        pthread_join (threads[i], &failed);
        cr_assert_null (failed, "%s", (const char *)failed);
        conflicts += adders[i].conflicts;
    }
    zm_records_t *records = NULL;
    cr_assert_eq (zm_store_read (store, "counter", NULL, &records), 0);
    const zm_record_t *record = zm_records_at (records, 0);
    cr_assert_eq (strtol ((const char *)record->value, NULL, 10), THREADS * ADDS,
                  "every add counted (%d conflicts retried)", conflicts);
    cr_assert_eq (record->version, 1 + THREADS * ADDS);
    zm_records_destroy (&records);
}

STORE_TEST (batches_are_all_or_nothing, 10)
{
    s_put (store, "a", "1", NULL);
    s_put (store, "b", "1", NULL);
    zm_batch_t *batch = zm_batch_new ();
    cr_assert_eq (zm_batch_write (batch, "a", "2", 1, &(zm_write_opts_t){.version = 1}), 0);
    cr_assert_eq (zm_batch_delete (batch, "b", NULL), 0);
    cr_assert_eq (zm_batch_write (batch, "c", "new", 3, NULL), 0);
    cr_assert_eq (zm_batch_delete (batch, "missing", NULL), 0, "deleting nothing is fine");
    zm_write_opts_t elsewhere = {.database = "other", .table = "t"};
    cr_assert_eq (zm_batch_write (batch, "a", "other", 5, &elsewhere), 0, "another namespace");
    //  A key once per batch
    cr_assert_eq (zm_batch_write (batch, "a", "x", 1, NULL), ZM_EINVAL);
    cr_assert_eq (zm_batch_delete (batch, "c", NULL), ZM_EINVAL);
    cr_assert_eq (zm_batch_size (batch), 5);
    cr_assert_eq (zm_store_commit (store, batch), 0);
    char value[16];
    cr_assert_str_eq (s_get (store, "a", NULL, value, sizeof value), "2");
    cr_assert_str_eq (s_get (store, "c", NULL, value, sizeof value), "new");
    zm_records_t *records = NULL;
    cr_assert_eq (zm_store_read (store, "b", NULL, &records), ZM_ENOTFOUND);
    zm_read_opts_t read = {.database = "other", .table = "t"};
    cr_assert_str_eq (s_get (store, "a", &read, value, sizeof value), "other");
    //  Committed again: "a" is at version 2 now, so the whole batch fails
    cr_assert_eq (zm_store_commit (store, batch), ZM_ECONFLICT);
    cr_assert_str_eq (s_get (store, "c", NULL, value, sizeof value), "new");
    cr_assert_eq (zm_store_read (store, "c", NULL, &records), 0);
    cr_assert_eq (zm_records_at (records, 0)->version, 1, "c was not written again");
    zm_records_destroy (&records);
    zm_batch_destroy (&batch);
    zm_batch_destroy (&batch);

    //  A failing condition last: the entries before it are not applied
    batch = zm_batch_new ();
    cr_assert_eq (zm_batch_write (batch, "d", "4", 1, NULL), 0);
    cr_assert_eq (zm_batch_delete (batch, "a", &(zm_delete_opts_t){.version = 1}), 0);
    cr_assert_eq (zm_store_commit (store, batch), ZM_ECONFLICT);
    cr_assert_eq (zm_store_read (store, "d", NULL, &records), ZM_ENOTFOUND);
    zm_batch_destroy (&batch);
    //  An empty batch commits nothing
    batch = zm_batch_new ();
    cr_assert_eq (zm_store_commit (store, batch), 0);
    zm_batch_destroy (&batch);
}

STORE_TEST (bad_input_is_refused, 10)
{
    char long_key[300];
    memset (long_key, 'k', sizeof long_key);
    long_key[ZM_STORE_MAX_KEY] = 0;
    cr_assert_eq (zm_store_write (store, long_key, "v", 1, NULL, NULL), 0, "255 bytes is fine");
    long_key[ZM_STORE_MAX_KEY] = 'k';
    long_key[ZM_STORE_MAX_KEY + 1] = 0;
    cr_assert_eq (zm_store_write (store, long_key, "v", 1, NULL, NULL), ZM_ETOOBIG);
    zm_records_t *records = NULL;
    cr_assert_eq (zm_store_read (store, long_key, NULL, &records), ZM_ETOOBIG);
    cr_assert_eq (zm_store_write (store, "", "v", 1, NULL, NULL), ZM_EINVAL);
    cr_assert_eq (zm_store_write (store, NULL, "v", 1, NULL, NULL), ZM_EINVAL);
    cr_assert_eq (zm_store_read (store, "", NULL, &records), ZM_EINVAL);
    cr_assert_eq (zm_store_read (store, "k", NULL, NULL), ZM_EINVAL);
    cr_assert_eq (zm_store_delete (store, "", NULL), ZM_EINVAL);
    cr_assert_eq (zm_store_write (store, "k", NULL, 3, NULL, NULL), ZM_EINVAL);
    cr_assert_eq (zm_store_write (NULL, "k", "v", 1, NULL, NULL), ZM_EINVAL);
    //  Names
    const char *names[] = {"", "a/b", "a b", "a\nb",
                           "x123456789x123456789x123456789x123456789x123456789x123456789x1234"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        zm_write_opts_t opts = {.table = names[i]};
        cr_assert_eq (zm_store_write (store, "k", "v", 1, &opts, NULL), ZM_EINVAL, "%s", names[i]);
        opts = (zm_write_opts_t){.database = names[i]};
        cr_assert_eq (zm_store_write (store, "k", "v", 1, &opts, NULL), ZM_EINVAL, "%s", names[i]);
        zm_read_opts_t read = {.database = names[i]};
        cr_assert_eq (zm_store_read (store, "k", &read, &records), ZM_EINVAL);
    }
    //  A value over 16 MiB (never read: the size is checked first)
    static const char one = 'x';
    cr_assert_eq (zm_store_write (store, "k", &one, ZM_STORE_MAX_VALUE + 1, NULL, NULL),
                  ZM_ETOOBIG);
    //  Metadata: strings only, within limits
    zm_msg_t *meta = zm_msg_new ();
    zm_msg_set_int (meta, "n", 1);
    zm_write_opts_t opts = {.metadata = meta};
    cr_assert_eq (zm_store_write (store, "k", "v", 1, &opts, NULL), ZM_EINVAL);
    zm_msg_destroy (&meta);
    meta = zm_msg_new ();
    for (int i = 0; i < 65; i++) {
        char key[16];
        snprintf (key, sizeof key, "key%d", i);
        zm_msg_set_str (meta, key, "v");
    }
    opts.metadata = meta;
    cr_assert_eq (zm_store_write (store, "k", "v", 1, &opts, NULL), ZM_ETOOBIG);
    zm_msg_destroy (&meta);
    //  Nothing of it was stored
    cr_assert_eq (zm_store_list (store, NULL, &records), 0);
    cr_assert_eq (zm_records_size (records), 1, "only the 255-byte key");
    zm_records_destroy (&records);
}

//  ---------------------------------------------------------------------------
//  LMDB only: files, one environment per process, the map, crashes

Test (store_lmdb, reopened_store_keeps_every_record, .fini = s_teardown, .timeout = 10)
{
    const char *dir = s_new_dir ();
    zm_store_t *store = zm_store_open (&zm_store_lmdb, dir, 0, NULL, NULL);
    cr_assert_not_null (store);
    for (int i = 0; i < 100; i++) {
        char key[16];
        snprintf (key, sizeof key, "k%03d", i);
        s_put (store, key, key, NULL);
    }
    s_put (store, "k000", "again", NULL);
    zm_store_destroy (&store);
    store = zm_store_open (&zm_store_lmdb, dir, 0, NULL, NULL);
    cr_assert_not_null (store);
    zm_records_t *records = NULL;
    cr_assert_eq (zm_store_list (store, NULL, &records), 0);
    cr_assert_eq (zm_records_size (records), 100);
    zm_records_destroy (&records);
    cr_assert_eq (zm_store_read (store, "k000", NULL, &records), 0);
    cr_assert_eq (zm_records_at (records, 0)->version, 2, "versions survive too");
    zm_records_destroy (&records);
    zm_store_destroy (&store);
}

Test (store_lmdb, one_environment_per_directory_per_process, .fini = s_teardown, .timeout = 10)
{
    const char *dir = s_new_dir ();
    zm_store_t *one = zm_store_open (&zm_store_lmdb, dir, 0, NULL, NULL);
    char other_spelling[128];
    snprintf (other_spelling, sizeof other_spelling, "%s/./", dir);
    zm_store_t *two = zm_store_open (&zm_store_lmdb, other_spelling, 0, "app", NULL);
    cr_assert (one && two);
    s_put (one, "k", "from one", &(zm_write_opts_t){.database = "app"});
    char value[16];
    cr_assert_str_eq (s_get (two, "k", NULL, value, sizeof value), "from one");
    zm_store_destroy (&one); //  the environment stays open for two
    s_put (two, "k2", "v", NULL);
    cr_assert_str_eq (s_get (two, "k2", NULL, value, sizeof value), "v");
    zm_store_destroy (&two);
}

//  A reader thread that keeps its read transaction between reads while
//  the main thread closes and reopens the store under it
typedef struct {
    zm_store_t *_Atomic store; //  the store to read now; NULL: stop
    atomic_int reads;          //  reads that found the record
    atomic_int generation;     //  bumped by the main thread per reopen
    atomic_int seen;           //  the generation the reader last read in
} s_keeper_t;

static void *
s_keeper (void *arg)
{
    s_keeper_t *self = (s_keeper_t *)arg;
    for (int rounds = 0; rounds < 100000; rounds++) {
        int generation = atomic_load (&self->generation);
        if (generation < 0)
            break;
        if (generation == atomic_load (&self->seen)) {
            zclock_sleep (1);
            continue;
        }
        zm_store_t *store = atomic_load (&self->store);
        char value[16];
        for (int n = 0; n < 10; n++)
            if (strcmp (s_get (store, "k", NULL, value, sizeof value), "v") == 0)
                atomic_fetch_add (&self->reads, 1);
        atomic_store (&self->seen, generation);
    }
    return NULL;
}

static void *
s_read_once (void *arg)
{
    intptr_t found = 0;
    for (int n = 0; n < 10; n++) {
        zm_records_t *records = NULL;
        found += zm_store_read ((zm_store_t *)arg, "k", NULL, &records) == 0;
        zm_records_destroy (&records);
    }
    return (void *)found;
}

Test (store_lmdb, kept_read_transactions_outlive_no_store, .fini = s_teardown, .timeout = 30)
{
    const char *dir = s_new_dir ();
    s_keeper_t keeper = {0};
    pthread_t thread;
    cr_assert_eq (pthread_create (&thread, NULL, s_keeper, &keeper), 0);
    for (int generation = 1; generation <= 20; generation++) {
        zm_store_t *store = zm_store_open (&zm_store_lmdb, dir, 0, NULL, NULL);
        cr_assert_not_null (store);
        if (generation == 1)
            s_put (store, "k", "v", NULL);
        char value[16];
        cr_assert_str_eq (s_get (store, "k", NULL, value, sizeof value), "v");
        atomic_store (&keeper.store, store);
        atomic_store (&keeper.generation, generation);
        while (atomic_load (&keeper.seen) != generation)
            zclock_sleep (1);
        //  The reader's transaction is kept (reset) while the store closes
        zm_store_destroy (&store);
    }
    atomic_store (&keeper.generation, -1);
    pthread_join (thread, NULL);
    cr_assert_eq (atomic_load (&keeper.reads), 200, "every read in every generation found it");
    //  Many threads, each reading and ending: their kept reader slots go
    //  with them, so 3 waves of 400 never fill the table (1022 slots)
    zm_store_t *store = zm_store_open (&zm_store_lmdb, dir, 0, NULL, NULL);
    for (int wave = 0; wave < 3; wave++) {
        pthread_t threads[400];
        for (int index = 0; index < 400; index++)
            cr_assert_eq (pthread_create (&threads[index], NULL, s_read_once, store), 0);
        for (int index = 0; index < 400; index++) {
            void *found = NULL;
            pthread_join (threads[index], &found);
            cr_assert_eq ((intptr_t)found, 10, "wave %d thread %d", wave, index);
        }
    }
    zm_store_destroy (&store);
}

Test (store_lmdb, thousands_of_tables_each_keep_their_records, .fini = s_teardown, .timeout = 60)
{
    //  More namespaces than the backend caches ids for (1024): the rest are
    //  read from its namespaces database, in one batch and one by one
    zm_store_t *store = zm_store_open (&zm_store_lmdb, s_new_dir (), 0, NULL, NULL);
    cr_assert_not_null (store);
    enum { TABLES = 1500 };
    zm_batch_t *batch = zm_batch_new ();
    char table[16];
    for (int i = 0; i < TABLES; i++) {
        snprintf (table, sizeof table, "t%d", i);
        cr_assert_eq (
            zm_batch_write (batch, "k", table, strlen (table), &(zm_write_opts_t){.table = table}),
            0);
    }
    cr_assert_eq (zm_store_commit (store, batch), 0);
    zm_batch_destroy (&batch);
    for (int round = 0; round < 2; round++) { //  the second from what the first cached
        for (int i = 0; i < TABLES; i++) {
            snprintf (table, sizeof table, "t%d", i);
            char value[16];
            cr_assert_str_eq (
                s_get (store, "k", &(zm_read_opts_t){.table = table}, value, sizeof value), table);
        }
    }
    s_put (store, "k2", "late", &(zm_write_opts_t){.table = "t1499"});
    zm_records_t *records = NULL;
    cr_assert_eq (zm_store_list (store, &(zm_list_opts_t){.table = "t1499"}, &records), 0);
    cr_assert_eq (zm_records_size (records), 2);
    zm_records_destroy (&records);
    cr_assert_eq (zm_store_list (store, &(zm_list_opts_t){.table = "t1500"}, &records), 0);
    cr_assert_eq (zm_records_size (records), 0, "a table never written is empty");
    zm_records_destroy (&records);
    zm_store_destroy (&store);
}

Test (store_lmdb, the_map_grows_when_full, .fini = s_teardown, .timeout = 60)
{
    zm_store_t *store = zm_store_open (&zm_store_lmdb, s_new_dir (), 1 << 20, NULL, NULL);
    cr_assert_not_null (store);
    size_t size = 256 * 1024;
    char *value = (char *)malloc (size);
    for (int i = 0; i < 40; i++) { //  10 MiB into a 1 MiB map
        memset (value, 'a' + i % 26, size);
        char key[16];
        snprintf (key, sizeof key, "big%02d", i);
        int rc = zm_store_write (store, key, value, size, NULL, NULL);
        cr_assert_eq (rc, 0, "write %d: %s", i, zm_strerror (rc));
    }
    zm_records_t *records = NULL;
    cr_assert_eq (zm_store_read (store, "big39", NULL, &records), 0);
    cr_assert_eq (zm_records_at (records, 0)->size, size);
    cr_assert_eq (((const char *)zm_records_at (records, 0)->value)[size - 1], 'a' + 39 % 26);
    zm_records_destroy (&records);
    free (value);
    zm_store_destroy (&store);
}

//  A full disk: a 2 MiB tmpfs mounted on s_dir, the store in it. The test
//  takes a mount namespace of its own when it can, so that not even a
//  crash leaves the tmpfs mounted; s_full_teardown unmounts it anyway.
#define S_FULL_VALUE 4096 //  bytes of each record's value
#define S_FULL_MAX 4000   //  writes at most: 16 MiB, far past the disk

static zm_store_t *s_full_store;
static bool s_full_mounted;

static void
s_full_teardown (void)
{
    zm_store_destroy (&s_full_store);
    if (s_full_mounted) {
        char command[192];
        snprintf (command, sizeof command, "umount '%s' || umount -l '%s'", s_dir, s_dir);
        s_full_mounted = false;
        cr_assert_eq (system (command), 0, "cannot unmount %s", s_dir);
    }
    s_teardown ();
}

//  The value of record i: its key, then bytes that depend on i
static void
s_full_value (int i, uint8_t *value)
{
    for (size_t j = 0; j < S_FULL_VALUE; j++)
        value[j] = (uint8_t)((i * 31 + (int)j * 7) & 0xff);
    snprintf ((char *)value, 16, "k%08d", i);
}

//  Open the store in the tmpfs (a 256 KiB map: it must grow)
static zm_store_t *
s_full_open (void)
{
    char path[128];
    snprintf (path, sizeof path, "%s/store", s_dir);
    int rc = -1;
    zm_store_t *store = zm_store_open (&zm_store_lmdb, path, 256 * 1024, NULL, &rc);
    cr_assert_not_null (store, "open %s: %s", path, zm_strerror (rc));
    return store;
}

//  The store holds records 0 .. acked - 1, each whole, and maybe record
//  acked (the write that failed, whole too), nothing else
static void
s_full_check (zm_store_t *store, int acked, const char *when)
{
    zm_records_t *records = NULL;
    int rc = zm_store_read (store, "k", &(zm_read_opts_t){.prefix = true}, &records);
    cr_assert_eq (rc, 0, "%s: read: %s", when, zm_strerror (rc));
    size_t count = zm_records_size (records);
    cr_assert (count == (size_t)acked || count == (size_t)acked + 1,
               "%s: %zu records, %d acknowledged", when, count, acked);
    uint8_t expected[S_FULL_VALUE];
    for (size_t i = 0; i < count; i++) {
        const zm_record_t *record = zm_records_at (records, i);
        char key[32];
        snprintf (key, sizeof key, "k%08zu", i);
        cr_assert_str_eq (record->key, key, "%s: records are 0..n-1, in order", when);
        s_full_value ((int)i, expected);
        cr_assert (record->size == S_FULL_VALUE &&
                       memcmp (record->value, expected, S_FULL_VALUE) == 0,
                   "%s: record %zu is whole (%zu bytes)", when, i, record->size);
    }
    zm_records_destroy (&records);
}

Test (store_lmdb, a_full_disk_is_a_clear_error_and_loses_nothing_acknowledged,
      .fini = s_full_teardown, .timeout = 60)
{
    if (geteuid () != 0)
        cr_skip_test ("a full disk needs root to mount a tmpfs: run as root");
    const char *dir = s_new_dir ();
    if (unshare (CLONE_NEWNS) == 0) //  mounts of our own, gone when we are
        mount ("none", "/", NULL, MS_REC | MS_PRIVATE, NULL);
    zt_must ("mount -t tmpfs -o size=2m zmicro-full '%s'", dir);
    s_full_mounted = true;
    s_full_store = s_full_open ();

    //  Fill the disk: the map grows from 256 KiB until the disk says no
    uint8_t value[S_FULL_VALUE];
    char key[16];
    int acked = 0, rc = 0;
    while (acked < S_FULL_MAX) {
        snprintf (key, sizeof key, "k%08d", acked);
        s_full_value (acked, value);
        rc = zm_store_write (s_full_store, key, value, sizeof value, NULL, NULL);
        if (rc)
            break;
        acked++;
    }
    cr_assert_eq (rc, ZM_EIO, "write %d on a full disk: %s (%d), not ZM_EIO", acked,
                  zm_strerror (rc), rc);
    cr_assert_gt (acked, 64, "only %d writes before the disk was full: the map did not grow",
                  acked);

    //  Every acknowledged write is there, with this handle and after reopening
    s_full_check (s_full_store, acked, "same handle");
    zm_store_destroy (&s_full_store);
    s_full_store = s_full_open ();
    s_full_check (s_full_store, acked, "reopened");

    //  Still full: a write fails the same way, or squeezes in
    snprintf (key, sizeof key, "k%08d", acked);
    s_full_value (acked, value);
    rc = zm_store_write (s_full_store, key, value, sizeof value, NULL, NULL);
    cr_assert (rc == 0 || rc == ZM_EIO, "write on a full disk, reopened: %s (%d)", zm_strerror (rc),
               rc);
    acked += rc == 0;

    //  Room again: writes succeed, on the same handle
    zt_must ("mount -o remount,size=8m '%s'", dir);
    for (int i = 0; i < 64; i++, acked++) {
        snprintf (key, sizeof key, "k%08d", acked);
        s_full_value (acked, value);
        rc = zm_store_write (s_full_store, key, value, sizeof value, NULL, NULL);
        cr_assert_eq (rc, 0, "write %d with room again: %s", acked, zm_strerror (rc));
    }
    s_full_check (s_full_store, acked, "with room again");
    zm_store_destroy (&s_full_store);
    s_full_store = s_full_open ();
    s_full_check (s_full_store, acked, "with room again, reopened");
    zm_records_t *records = NULL;
    cr_assert_eq (zm_store_read (s_full_store, "k", &(zm_read_opts_t){.prefix = true}, &records),
                  0);
    cr_assert_eq (zm_records_size (records), (size_t)acked, "nothing unacknowledged is left");
    zm_records_destroy (&records);
    zm_store_destroy (&s_full_store);
}

Test (store_lmdb, a_corrupt_or_unusable_path_is_a_clear_error, .fini = s_teardown, .timeout = 10)
{
    const char *dir = s_new_dir ();
    char path[128];
    snprintf (path, sizeof path, "%s/data.mdb", dir);
    FILE *file = fopen (path, "wb");
    cr_assert_not_null (file);
    for (int i = 0; i < 65536; i++)
        fputc ((i * 131 + 7) & 0xff, file);
    fclose (file);
    int rc = 0;
    cr_assert_null (zm_store_open (&zm_store_lmdb, dir, 0, NULL, &rc));
    cr_assert_eq (rc, ZM_EIO);
    //  A file where the directory should be
    cr_assert_null (zm_store_open (&zm_store_lmdb, path, 0, NULL, &rc));
    cr_assert_eq (rc, ZM_EIO);
    cr_assert_null (zm_store_open (&zm_store_lmdb, "", 0, NULL, &rc));
    cr_assert_eq (rc, ZM_EINVAL);
    cr_assert_null (zm_store_open (&zm_store_lmdb, dir, 0, "bad name", &rc));
    cr_assert_eq (rc, ZM_EINVAL);
    cr_assert_null (zm_store_open (NULL, dir, 0, NULL, &rc));
    cr_assert_eq (rc, ZM_EINVAL);
}

//  Put key -> value into the namespaces database of a raw LMDB
//  environment at dir (made if new); LMDB's code
static int
s_raw_namespace (const char *dir, const void *key, size_t key_size, const char *value)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    int rc = mdb_env_create (&env);
    mdb_env_set_maxdbs (env, 3);
    if (rc == 0)
        rc = mdb_env_open (env, dir, 0, 0600);
    if (rc == 0)
        rc = mdb_txn_begin (env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open (txn, "namespaces", MDB_CREATE, &dbi);
    MDB_val k = {key_size, (void *)key}, v = {strlen (value), (void *)value};
    if (rc == 0)
        rc = mdb_put (txn, dbi, &k, &v, 0);
    rc = rc == 0 ? mdb_txn_commit (txn) : (mdb_txn_abort (txn), rc);
    mdb_env_close (env);
    return rc;
}

Test (store_lmdb, data_of_another_format_is_refused_and_left_alone, .fini = s_teardown,
      .timeout = 10)
{
    const char *dir = s_new_dir ();
    //  Format 1 had namespaces but no format key
    cr_assert_eq (s_raw_namespace (dir, "zmicro\0default\0", 16, "\1\2\3\4"), 0);
    int rc = 0;
    cr_assert_null (zm_store_open (&zm_store_lmdb, dir, 0, NULL, &rc));
    cr_assert_eq (rc, ZM_EIO);
    cr_assert_null (zm_store_open (&zm_store_lmdb, dir, 0, NULL, &rc), "still refused");
    //  A format from the future
    cr_assert_eq (s_raw_namespace (dir, "\0format", 7, "9"), 0);
    cr_assert_null (zm_store_open (&zm_store_lmdb, dir, 0, NULL, &rc));
    cr_assert_eq (rc, ZM_EIO);
    //  A fresh environment records its format, and opens again
    s_teardown ();
    dir = s_new_dir ();
    zm_store_t *store = zm_store_open (&zm_store_lmdb, dir, 0, NULL, &rc);
    cr_assert_not_null (store);
    s_put (store, "k", "v", NULL);
    zm_store_destroy (&store);
    store = zm_store_open (&zm_store_lmdb, dir, 0, NULL, &rc);
    cr_assert_not_null (store, "reopened: %s", zm_strerror (rc));
    char value[8];
    cr_assert_str_eq (s_get (store, "k", NULL, value, sizeof value), "v");
    zm_store_destroy (&store);
}

//  The expected value of store_writer's record i
static bool
s_writer_record_ok (long i, const zm_record_t *record)
{
    size_t size = 64 + (size_t)((i * 37) % 2000);
    if (record->size != size)
        return false;
    for (size_t j = 0; j < size; j++)
        if (((const uint8_t *)record->value)[j] != (uint8_t)((i * 31 + (long)j) & 0xff))
            return false;
    char text[16];
    snprintf (text, sizeof text, "%ld", i);
    return streq (zm_msg_get_str (record->metadata, "i", ""), text);
}

//  Kill -9 a writer in the middle of acknowledged writes; every
//  acknowledged record is there and whole, and nothing torn is
static void
s_crash (const char *mode)
{
    const char *dir = s_new_dir ();
    char program[4200];
    snprintf (program, sizeof program, "%s/tests/helpers/store_writer", zt_build_dir ());
    const char *argv[] = {program, dir, mode, NULL};
    zt_proc_t writer = zt_spawn (argv, NULL);
    cr_assert (writer.pid > 0);
    cr_assert_eq (zt_ready (&writer, 10000), 1);
    char line[64];
    long acked = -1;
    int64_t deadline = zt_clock () + 20000;
    while (acked < 300 && zt_clock () < deadline && zt_read_line (&writer, line, sizeof line, 5000))
        sscanf (line, "ACK %ld", &acked);
    cr_assert_geq (acked, 300, "the writer acknowledged %ld writes", acked);
    kill (writer.pid, SIGKILL);
    cr_assert_eq (zt_wait (&writer, 5000), 128 + SIGKILL);
    //  Acknowledgements already in the pipe count too
    while (zt_read_line (&writer, line, sizeof line, 1000))
        sscanf (line, "ACK %ld", &acked);
    zt_kill (&writer, SIGKILL);

    zm_store_t *store = zm_store_open (&zm_store_lmdb, dir, 0, NULL, NULL);
    cr_assert_not_null (store);
    zm_records_t *records = NULL;
    zm_read_opts_t all = {.prefix = true};
    cr_assert_eq (zm_store_read (store, "k", &all, &records), 0);
    size_t count = zm_records_size (records);
    cr_assert_geq (count, (size_t)acked + 1, "%zu records, %ld acknowledged", count, acked + 1);
    for (size_t i = 0; i < count; i++) {
        const zm_record_t *record = zm_records_at (records, i);
        char key[32];
        snprintf (key, sizeof key, "k%08zu", i);
        cr_assert_str_eq (record->key, key, "records are 0..n-1, in order");
        cr_assert (s_writer_record_ok ((long)i, record), "record %zu is whole", i);
    }
    //  At most what was in flight is there beyond the acknowledged
    cr_assert_leq (count, (size_t)acked + 1 + (streq (mode, "batch") ? 10 : 1));
    zm_records_destroy (&records);
    zm_store_destroy (&store);
}

Test (store_lmdb, a_killed_writer_loses_no_acknowledged_write, .fini = s_teardown, .timeout = 60)
{
    s_crash ("single");
}

Test (store_lmdb, a_killed_batch_writer_loses_no_acknowledged_batch, .fini = s_teardown,
      .timeout = 60)
{
    s_crash ("batch");
}
