/*  =========================================================================
    test_node_store - a node's store: per-service databases (zm_ctx_store),
    the store config, the background sweep and the built-in "$store"
    service over real RPC sockets, with bad requests refused
    =========================================================================
*/
#include <czmq.h>
#include <criterion/criterion.h>

#include "zmicro.h"
#include "support.h"

static char s_dir[64];

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

//  A quiet node without beacons; backend "memory" or "lmdb" (in s_dir)
static zm_node_t *
s_node (const char *backend, const char *extra_key, const char *extra_value)
{
    zm_config_t *config = zm_config_new ();
    zm_config_set (config, "auth.keys", ":memory:", NULL); //  no key files
    cr_assert_not_null (config);
    zm_config_set (config, "registry.beacon", "false", NULL);
    zm_config_set (config, "log.level", "error", NULL);
    zm_config_set (config, "store.backend", backend, NULL);
    if (streq (backend, "lmdb")) {
        if (!*s_dir) {
            snprintf (s_dir, sizeof s_dir, "/tmp/zm-nstore-XXXXXX");
            cr_assert_not_null (mkdtemp (s_dir));
        }
        zm_config_set (config, "store.path", s_dir, NULL);
    }
    if (extra_key)
        zm_config_set (config, extra_key, extra_value, NULL);
    zm_node_t *node = zm_node_new (&config);
    cr_assert_not_null (node);
    return node;
}

//  A call to this node; returns the code, *rep_p the reply, detail the
//  error's detail
static int
s_call (zm_node_t *node, const char *service, const char *endpoint, zm_msg_t *req,
        zm_msg_t **rep_p, char *detail, size_t size)
{
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    char address[64];
    snprintf (address, sizeof address, "tcp://127.0.0.1:%d", zm_node_rpc_port (node, 0));
    opts.address = address;
    opts.timeout_ms = 5000;
    zm_msg_t *rep = NULL;
    zm_error_t *error = NULL;
    int rc = zm_call (node, service, endpoint, &req, &rep, &error, &opts);
    if (detail)
        snprintf (detail, size, "%s", error ? zm_error_detail (error) : "");
    zm_error_destroy (&error);
    if (rep_p)
        *rep_p = rep;
    else
        zm_msg_destroy (&rep);
    return rc;
}

//  kv.Put {key, value}: into the service's own database
static int
s_kv_put (zm_ctx_t *ctx, zm_msg_t *msg)
{
    zm_store_t *store = zm_ctx_store (ctx);
    if (!store)
        return zm_error (ctx, ZM_EUNAVAIL, "no store");
    const char *value = zm_msg_get_str (msg, "value", "");
    uint64_t version = 0;
    int rc = zm_store_write (store, zm_msg_get_str (msg, "key", ""), value, strlen (value), NULL,
                             &version);
    if (rc)
        return zm_error (ctx, rc, "write failed");
    zm_msg_t *reply = zm_msg_new ();
    zm_msg_set_uint (reply, "version", version);
    zm_msg_set_str (reply, "database", zm_store_database (store));
    return zm_reply (ctx, &reply);
}

static zm_service_t *
s_kv_service (zm_node_t *node)
{
    zm_service_t *kv = zm_service_new (node, "kv", "1.0.0");
    cr_assert_not_null (kv);
    cr_assert_eq (zm_service_handle (kv, "Put", s_kv_put), 0);
    cr_assert_eq (zm_service_start (kv), 0);
    return kv;
}

static int
s_kv_call (zm_node_t *node, const char *key, const char *value, zm_msg_t **rep_p)
{
    zm_msg_t *req = zm_msg_new ();
    zm_msg_set_str (req, "key", key);
    zm_msg_set_str (req, "value", value);
    return s_call (node, "kv", "Put", req, rep_p, NULL, 0);
}

//  $store read of key in database (NULL: default); the value or NULL
static char *
s_store_get (zm_node_t *node, const char *database, const char *key, int *rc_p)
{
    zm_msg_t *req = zm_msg_new ();
    zm_msg_set_str (req, "key", key);
    if (database)
        zm_msg_set_str (req, "database", database);
    zm_msg_t *rep = NULL;
    *rc_p = s_call (node, "$store", "read", req, &rep, NULL, 0);
    char *value = NULL;
    if (*rc_p == 0) {
        const zm_val_t *records = zm_val_get (zm_msg_root (rep), "records");
        cr_assert_eq (zm_val_size (records), 1);
        size_t size = 0;
        const void *bytes = zm_val_bin (zm_val_get (zm_val_at (records, 0), "value"), &size);
        cr_assert_not_null (bytes);
        value = (char *) calloc (1, size + 1); //  the bytes as they are, NUL added
        cr_assert_not_null (value);
        memcpy (value, bytes, size);
    }
    zm_msg_destroy (&rep);
    return value;
}

Test (node_store, each_service_writes_its_own_database, .fini = s_teardown, .timeout = 30)
{
    zm_node_t *node = s_node ("memory", NULL, NULL);
    s_kv_service (node);
    zm_msg_t *rep = NULL;
    cr_assert_eq (s_kv_call (node, "colour", "blue", &rep), 0);
    cr_assert_eq (zm_msg_get_uint (rep, "version", 0), 1);
    cr_assert_str_eq (zm_msg_get_str (rep, "database", ""), "kv");
    zm_msg_destroy (&rep);

    int rc;
    char *value = s_store_get (node, "kv", "colour", &rc);
    cr_assert_eq (rc, 0);
    cr_assert_str_eq (value, "blue");
    free (value);
    cr_assert_null (s_store_get (node, NULL, "colour", &rc), "not in the default database");
    cr_assert_eq (rc, ZM_ENOTFOUND);
    //  The node's own handle sees the default database, and the service's
    //  records when it names the database
    zm_store_t *store = zm_node_store (node);
    cr_assert_not_null (store);
    cr_assert_str_eq (zm_store_database (store), ZM_STORE_DATABASE);
    zm_records_t *records = NULL;
    cr_assert_eq (zm_store_read (store, "colour", &(zm_read_opts_t) {.database = "kv"}, &records),
                  0);
    cr_assert_eq (zm_records_at (records, 0)->version, 1);
    zm_records_destroy (&records);
    zm_node_destroy (&node);
}

Test (node_store, the_store_round_trips_over_rpc, .fini = s_teardown, .timeout = 30)
{
    zm_node_t *node = s_node ("lmdb", NULL, NULL);
    //  write with metadata and a ttl, then read, list, compare-and-swap, delete
    zm_msg_t *req = zm_msg_new ();
    zm_msg_set_str (req, "key", "user/1");
    zm_msg_set_bin (req, "value", "\x00\x01\x02", 3);
    zm_val_set_str (zm_val_set_map (zm_msg_root_mut (req), "metadata"), "owner", "ada");
    zm_msg_set_uint (req, "ttl_ms", 600000);
    zm_msg_t *rep = NULL;
    char detail[256];
    cr_assert_eq (s_call (node, "$store", "write", req, &rep, detail, sizeof detail), 0, "%s",
                  detail);
    cr_assert_eq (zm_msg_get_uint (rep, "version", 0), 1);
    zm_msg_destroy (&rep);
    req = zm_msg_new ();
    zm_msg_set_str (req, "key", "user/2");
    zm_msg_set_str (req, "value", "two");
    cr_assert_eq (s_call (node, "$store", "write", req, NULL, NULL, 0), 0);

    req = zm_msg_new ();
    zm_msg_set_str (req, "key", "user/");
    zm_msg_set_bool (req, "prefix", true);
    cr_assert_eq (s_call (node, "$store", "read", req, &rep, NULL, 0), 0);
    const zm_val_t *records = zm_val_get (zm_msg_root (rep), "records");
    cr_assert_eq (zm_val_size (records), 2);
    const zm_val_t *first = zm_val_at (records, 0);
    cr_assert_str_eq (zm_val_str (zm_val_get (first, "key"), "", NULL), "user/1");
    size_t size = 0;
    const void *bytes = zm_val_bin (zm_val_get (first, "value"), &size);
    cr_assert (size == 3 && memcmp (bytes, "\x00\x01\x02", 3) == 0);
    cr_assert_str_eq (zm_val_str (zm_val_get (zm_val_get (first, "metadata"), "owner"), "", NULL),
                      "ada");
    cr_assert_gt (zm_val_int (zm_val_get (first, "expires"), 0), (int64_t) zclock_time ());
    zm_msg_destroy (&rep);

    req = zm_msg_new ();
    zm_msg_set_str (req, "prefix", "user/");
    zm_msg_set_uint (req, "offset", 1);
    cr_assert_eq (s_call (node, "$store", "list", req, &rep, NULL, 0), 0);
    records = zm_val_get (zm_msg_root (rep), "records");
    cr_assert_eq (zm_val_size (records), 1);
    cr_assert_str_eq (zm_val_str (zm_val_get (zm_val_at (records, 0), "key"), "", NULL),
                      "user/2");
    cr_assert_null (zm_val_get (zm_val_at (records, 0), "value"), "list gives no values");
    zm_msg_destroy (&rep);

    //  Compare-and-swap: a stale version and "absent" on an existing key
    req = zm_msg_new ();
    zm_msg_set_str (req, "key", "user/2");
    zm_msg_set_str (req, "value", "stale");
    zm_msg_set_uint (req, "version", 7);
    cr_assert_eq (s_call (node, "$store", "write", req, NULL, detail, sizeof detail),
                  ZM_ECONFLICT);
    cr_assert (strstr (detail, "not at version 7"), "%s", detail);
    req = zm_msg_new ();
    zm_msg_set_str (req, "key", "user/2");
    zm_msg_set_str (req, "value", "again");
    zm_msg_set_bool (req, "absent", true);
    cr_assert_eq (s_call (node, "$store", "write", req, NULL, detail, sizeof detail),
                  ZM_ECONFLICT);
    cr_assert (strstr (detail, "has a record already"), "%s", detail);

    req = zm_msg_new ();
    zm_msg_set_str (req, "key", "user/2");
    cr_assert_eq (s_call (node, "$store", "delete", req, NULL, NULL, 0), 0);
    req = zm_msg_new ();
    zm_msg_set_str (req, "key", "user/2");
    cr_assert_eq (s_call (node, "$store", "delete", req, NULL, detail, sizeof detail),
                  ZM_ENOTFOUND);
    cr_assert (strstr (detail, "user/2"), "the detail names the key: %s", detail);
    zm_node_destroy (&node);

    //  The store outlives the node: a new node on the same path reads it
    node = s_node ("lmdb", NULL, NULL);
    int rc;
    char *value = s_store_get (node, NULL, "user/1", &rc);
    cr_assert_eq (rc, 0);
    cr_assert (value && memcmp (value, "\x00\x01\x02", 3) == 0);
    free (value);
    cr_assert_null (s_store_get (node, NULL, "user/2", &rc));
    zm_node_destroy (&node);
}

//  One bad request and the code and words it must get back
typedef struct {
    const char *endpoint;
    const char *json;
    int code;
    const char *detail;
} s_bad_t;

Test (node_store, bad_requests_get_clear_errors, .fini = s_teardown, .timeout = 30)
{
    zm_node_t *node = s_node ("memory", NULL, NULL);
    static const s_bad_t bad[] = {
        {"read", "[1, 2]", ZM_EINVAL, "must be a map"},
        {"read", "{}", ZM_EINVAL, "\"key\" is missing"},
        {"read", "{\"key\": 5}", ZM_EINVAL, "\"key\" must be a string"},
        {"read", "{\"key\": \"k\", \"database\": \"no spaces\"}", ZM_EINVAL, "database"},
        {"read", "{\"key\": \"k\", \"table\": 3}", ZM_EINVAL, "\"table\" must be a string"},
        {"read", "{\"key\": \"k\", \"limit\": -1}", ZM_EINVAL, "\"limit\" must be"},
        {"read", "{\"key\": \"k\", \"prefix\": \"yes\"}", ZM_EINVAL, "\"prefix\" must be"},
        {"write", "{\"key\": \"k\"}", ZM_EINVAL, "\"value\""},
        {"write", "{\"key\": \"k\", \"value\": 1}", ZM_EINVAL, "\"value\""},
        {"write", "{\"key\": \"\", \"value\": \"v\"}", ZM_EINVAL, "key"},
        {"write", "{\"key\": \"k\", \"value\": \"v\", \"ttl_ms\": 5, \"expires\": 5}", ZM_EINVAL,
         "ttl_ms"},
        {"write", "{\"key\": \"k\", \"value\": \"v\", \"version\": 2, \"absent\": true}",
         ZM_EINVAL, "absent"},
        {"write", "{\"key\": \"k\", \"value\": \"v\", \"metadata\": {\"a\": 1}}", ZM_EINVAL,
         "metadata"},
        {"write", "{\"key\": \"k\", \"value\": \"v\", \"metadata\": [\"a\"]}", ZM_EINVAL,
         "metadata"},
        {"delete", "{}", ZM_EINVAL, "\"key\" is missing"},
        {"list", "{\"limit\": \"ten\"}", ZM_EINVAL, "\"limit\" must be"},
        {"read", "{\"key\": \"missing\"}", ZM_ENOTFOUND, "missing"},
        {"write", "{\"key\": \"a\\u0000b\", \"value\": \"v\"}", ZM_EINVAL, "NUL"},
        {"write", "{\"key\": \"k\", \"value\": \"v\", \"ttl_ms\": 9223372036854775807}",
         ZM_EINVAL, "ttl_ms"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        zm_msg_t *req = NULL;
        cr_assert_eq (zm_msg_decode (ZM_CT_JSON, bad[i].json, strlen (bad[i].json), &req, NULL),
                      0, "%s", bad[i].json);
        char detail[256];
        int rc = s_call (node, "$store", bad[i].endpoint, req, NULL, detail, sizeof detail);
        cr_assert_eq (rc, bad[i].code, "%s %s: %d (%s)", bad[i].endpoint, bad[i].json, rc,
                      detail);
        cr_assert (strstr (detail, bad[i].detail), "%s %s: detail \"%s\"", bad[i].endpoint,
                   bad[i].json, detail);
    }
    //  A key past the limit
    char key[300];
    memset (key, 'k', sizeof key - 1);
    key[sizeof key - 1] = 0;
    zm_msg_t *req = zm_msg_new ();
    zm_msg_set_str (req, "key", key);
    zm_msg_set_str (req, "value", "v");
    cr_assert_eq (s_call (node, "$store", "write", req, NULL, NULL, 0), ZM_ETOOBIG);
    //  Nothing was written by any of them
    zm_records_t *records = NULL;
    cr_assert_eq (zm_store_list (zm_node_store (node), NULL, &records), 0);
    cr_assert_eq (zm_records_size (records), 0);
    zm_records_destroy (&records);
    zm_node_destroy (&node);
}

Test (node_store, expired_records_are_swept_in_the_background, .fini = s_teardown,
      .timeout = 30)
{
    //  The short records live 3 s: writing them (each one synced to the
    //  disk) must not outlast them even on a loaded machine
    zm_node_t *node = s_node ("lmdb", "store.sweep", "50");
    zm_store_t *store = zm_node_store (node);
    cr_assert_not_null (store);
    for (int i = 0; i < 20; i++) {
        char key[32];
        snprintf (key, sizeof key, "short-%02d", i);
        cr_assert_eq (zm_store_write (store, key, "v", 1, &(zm_write_opts_t) {.ttl_ms = 3000},
                                      NULL),
                      0);
    }
    cr_assert_eq (zm_store_write (store, "long", "v", 1, &(zm_write_opts_t) {.ttl_ms = 600000},
                                  NULL),
                  0);
    zm_records_t *records = NULL;
    cr_assert_eq (zm_store_list (store, NULL, &records), 0);
    cr_assert_eq (zm_records_size (records), 21);
    zm_records_destroy (&records);
    //  The node's sweeper (every 50 ms) removes them well within 2 s of
    //  their expiry: then nothing is left for a sweep of ours
    zclock_sleep (5000);
    cr_assert_eq (zm_store_list (store, NULL, &records), 0);
    cr_assert_eq (zm_records_size (records), 1, "expired records are never listed");
    zm_records_destroy (&records);
    cr_assert_eq (zm_store_sweep (store, 0), 0, "the background sweep removed all 20");
    cr_assert_eq (zm_store_read (store, "long", NULL, &records), 0, "the live one stays");
    zm_records_destroy (&records);
    zm_node_destroy (&node);
}

Test (node_store, store_rpc_off_serves_no_store, .fini = s_teardown, .timeout = 30)
{
    zm_node_t *node = s_node ("memory", "store.rpc", "false");
    zm_msg_t *req = zm_msg_new ();
    zm_msg_set_str (req, "key", "k");
    cr_assert_eq (s_call (node, "$store", "read", req, NULL, NULL, 0), ZM_ENOTFOUND);
    cr_assert_not_null (zm_node_store (node), "the node's own store is there");
    cr_assert_null (zm_service_new (node, "$store", "1.0.0"), "'$' names stay the runtime's");
    zm_node_destroy (&node);
}

Test (node_store, an_unusable_path_fails_once_and_clearly, .fini = s_teardown, .timeout = 30)
{
    zm_node_t *node = s_node ("lmdb", "store.path", "/proc/zmicro-cannot-be-here");
    cr_assert_null (zm_node_store (node));
    cr_assert_null (zm_node_store (node), "and again, without retrying");
    zm_msg_t *req = zm_msg_new ();
    zm_msg_set_str (req, "key", "k");
    char detail[256];
    cr_assert_eq (s_call (node, "$store", "read", req, NULL, detail, sizeof detail),
                  ZM_EUNAVAIL);
    cr_assert (strstr (detail, "cannot be opened"), "%s", detail);
    zm_node_destroy (&node);
}
