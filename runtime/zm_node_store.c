/*  =========================================================================
    zm_node_store - the node's store, per-service namespaces, the sweeper
    and the built-in "$store" service

    A node opens its store (config store.*) on first use, so a node that
    never stores anything creates no files. Every actor kind (a service's
    kind is its name) gets a handle whose default database is its name:
    zm_ctx_store. A thread of the node's sweeps expired records every
    store.sweep ms, so sweeping never holds up a reactor.

    "$store" (when store.rpc is on) serves the store over RPC on a reactor
    of its own, since every write waits for the disk: read, write, delete
    and list, with the bodies of docs/store.md. Each call passes through
    s_allowed: the access rules of type "store" (name: the database,
    endpoint: the operation).
    =========================================================================
*/
#include "zm_internal.h"
#include "zm_runtime.h"
#include "zmicro/store.h"

#include <inttypes.h>
#include <pthread.h>

#define S_SWEEP_BATCH 1000 //  records removed per sweep transaction

//  The node's store state; in node->store (created with the node)
struct _zm_node_store_t {
    pthread_mutex_t lock;   //  guards everything below
    pthread_cond_t wake;    //  the sweeper's timer; stop
    zm_store_t *store;      //  opened on first use
    int failed;             //  why the open failed (then not retried)
    zhashx_t *handles;      //  database name -> zm_store_t (per actor kind)
    pthread_t sweeper;      //  the sweeping thread
    bool sweeping;          //  it was started
    bool stop;              //  it must end
};

int
zm_node_store_new (zm_node_t *node)
{
    zm_node_store_t *self = (zm_node_store_t *) calloc (1, sizeof *self);
    if (!self)
        return ZM_ENOMEM;
    pthread_mutex_init (&self->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&self->wake, &attr);
    pthread_condattr_destroy (&attr);
    self->handles = zhashx_new ();
    if (!self->handles) {
        node->store = self;
        zm_node_store_destroy (node);
        return ZM_ENOMEM;
    }
    zhashx_set_destructor (self->handles, (zhashx_destructor_fn *) zm_store_destroy);
    node->store = self;
    return 0;
}

void
zm_node_store_destroy (zm_node_t *node)
{
    zm_node_store_t *self = node->store;
    if (!self)
        return;
    pthread_mutex_lock (&self->lock);
    self->stop = true;
    pthread_cond_signal (&self->wake);
    pthread_mutex_unlock (&self->lock);
    if (self->sweeping)
        pthread_join (self->sweeper, NULL);
    zhashx_destroy (&self->handles);
    zm_store_destroy (&self->store);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    free (self);
    node->store = NULL;
}

//  Sweep every store.sweep ms (read each time: it applies live) until stop
static void *
s_sweeper (void *arg)
{
    zm_node_t *node = (zm_node_t *) arg;
    zm_node_store_t *self = node->store;
    pthread_mutex_lock (&self->lock);
    while (!self->stop) {
        int64_t every = zm_config_get_int (node->config, "store.sweep", 1000);
        struct timespec until;
        clock_gettime (CLOCK_MONOTONIC, &until);
        int64_t wait = every > 0 ? every : 1000; //  0: off, look again later
        until.tv_sec += wait / 1000;
        until.tv_nsec += (wait % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait (&self->wake, &self->lock, &until);
        if (self->stop || every <= 0)
            continue;
        pthread_mutex_unlock (&self->lock);
        //  Bounded rounds: a sweep never runs away from a stop
        int removed = 0, total = 0;
        for (int round = 0; round < 100; round++) {
            removed = zm_store_sweep (self->store, S_SWEEP_BATCH);
            if (removed <= 0)
                break;
            total += removed;
            if (removed < S_SWEEP_BATCH)
                break;
        }
        if (removed < 0)
            zm_log_warning ("store: sweep failed: %s", zm_strerror (-removed));
        else if (total)
            zm_log_debug ("store: swept %d expired record(s)", total);
        pthread_mutex_lock (&self->lock);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

//  Open the store as the config says; with self->lock held
static int
s_open (zm_node_t *node)
{
    zm_node_store_t *self = node->store;
    const char *backend = zm_config_get_str (node->config, "store.backend", "lmdb");
    const zm_store_ops_t *ops = streq (backend, "memory") ? &zm_store_memory : &zm_store_lmdb;
    const char *path = zm_config_get_str (node->config, "store.path", "");
    char *own = NULL;
    if (!*path && ops == &zm_store_lmdb) {
        own = zsys_sprintf ("zm-data/%s", node->name);
        if (!own)
            return ZM_ENOMEM;
        if (zsys_dir_create ("zm-data") != 0) {
            zm_log_error ("store: cannot create the directory zm-data: %s", strerror (errno));
            free (own);
            return ZM_EIO;
        }
        path = own;
    }
    size_t map_size = (size_t) zm_config_get_int (node->config, "store.map_size", 0);
    int rc = 0;
    self->store = zm_store_open (ops, path, map_size, NULL, &rc);
    if (self->store) {
        zm_log_info ("store: %s at %s", backend, ops == &zm_store_memory ? "(memory)" : path);
        if (pthread_create (&self->sweeper, NULL, s_sweeper, node) == 0)
            self->sweeping = true;
        else
            zm_log_warning ("store: no sweeper thread: expired records stay on disk");
    }
    else
        zm_log_error ("store: cannot open the %s store at %s: %s", backend,
                      *path ? path : "(memory)", zm_strerror (rc));
    zstr_free (&own);
    return self->store ? 0 : rc;
}

//  The handle on database (NULL: the store's default), opened as needed
static zm_store_t *
s_handle (zm_node_t *node, const char *database, int *rc_p)
{
    zm_node_store_t *self = node ? node->store : NULL;
    if (!self) {
        *rc_p = ZM_EINVAL;
        return NULL;
    }
    pthread_mutex_lock (&self->lock);
    int rc = self->failed;
    if (!rc && !self->store && (rc = s_open (node)) != 0)
        self->failed = rc; //  logged once; a restart with a good config fixes it
    zm_store_t *handle = NULL;
    if (!rc && !database)
        handle = self->store;
    else if (!rc && (handle = (zm_store_t *) zhashx_lookup (self->handles, database)) == NULL) {
        handle = zm_store_with_database (self->store, database);
        if (!handle || zhashx_insert (self->handles, database, handle) != 0) {
            zm_store_destroy (&handle);
            rc = ZM_EINVAL;
        }
    }
    pthread_mutex_unlock (&self->lock);
    *rc_p = rc;
    return handle;
}

zm_store_t *
zm_node_store (zm_node_t *node)
{
    int rc;
    return s_handle (node, NULL, &rc);
}

zm_store_t *
zm_ctx_store (zm_ctx_t *ctx)
{
    if (!ctx || !ctx->actor || !ctx->actor->def || !ctx->actor->def->kind)
        return NULL;
    int rc;
    zm_store_t *store = s_handle (zm_ctx_node (ctx), ctx->actor->def->kind, &rc);
    if (!store && rc == ZM_EINVAL)
        zm_log_warning ("store: \"%s\" is not a database name (1..%d bytes of "
                        "[A-Za-z0-9_.-]): no store of its own",
                        ctx->actor->def->kind, ZM_STORE_MAX_NAME);
    return store;
}

//  --------------------------------------------------------------------------
//  The built-in "$store" service

//  May this call do op on database? The access rules of type "store"
//  (name: the database, endpoint: the operation).
static int
s_allowed (zm_ctx_t *ctx, const char *op, const char *database)
{
    const char *caller = ctx->env ? ctx->env->caller : NULL;
    return zm_auth_check (zm_ctx_node (ctx), ZM_RES_STORE, database, op, caller);
}

//  A request's optional field of type: its value, NULL when missing or
//  nil; *rc_p ZM_EINVAL (reason set, saying it must be what) for another
//  type
static const zm_val_t *
s_field (zm_ctx_t *ctx, const zm_msg_t *msg, const char *key, zm_type_t type, const char *what,
         int *rc_p)
{
    const zm_val_t *value = zm_val_get (zm_msg_root (msg), key);
    *rc_p = 0;
    if (!value || zm_val_type (value) == ZM_TYPE_NIL)
        return NULL;
    if (zm_val_type (value) != type) {
        *rc_p = zm_error (ctx, ZM_EINVAL, "\"%s\" must be %s", key, what);
        return NULL;
    }
    return value;
}

//  Optional string (without NUL), unsigned and boolean fields: 0 or ZM_EINVAL
static int
s_str (zm_ctx_t *ctx, const zm_msg_t *msg, const char *key, const char **value_p)
{
    int rc;
    size_t len = 0;
    const zm_val_t *value = s_field (ctx, msg, key, ZM_TYPE_STR, "a string", &rc);
    *value_p = value ? zm_val_str (value, NULL, &len) : NULL;
    if (*value_p && strlen (*value_p) != len) {
        *value_p = NULL;
        return zm_error (ctx, ZM_EINVAL, "\"%s\" must not hold a NUL byte", key);
    }
    return rc;
}

static int
s_uint (zm_ctx_t *ctx, const zm_msg_t *msg, const char *key, uint64_t *value_p)
{
    int rc;
    *value_p = zm_val_uint (s_field (ctx, msg, key, ZM_TYPE_UINT, "a non-negative integer", &rc),
                            0);
    return rc;
}

static int
s_bool (zm_ctx_t *ctx, const zm_msg_t *msg, const char *key, bool *value_p)
{
    int rc;
    *value_p = zm_val_bool (s_field (ctx, msg, key, ZM_TYPE_BOOL, "true or false", &rc), false);
    return rc;
}

//  What every call names: the namespace, checked against the rules, and
//  the store
typedef struct {
    const char *database; //  NULL: the store's default
    const char *table;    //  NULL: the default
    zm_store_t *store;    //  the node's
} s_where_t;

static int
s_where (zm_ctx_t *ctx, const zm_msg_t *msg, const char *op, s_where_t *where)
{
    int rc;
    if (!msg || zm_val_type (zm_msg_root (msg)) != ZM_TYPE_MAP)
        return zm_error (ctx, ZM_EINVAL, "the request must be a map");
    if ((rc = s_str (ctx, msg, "database", &where->database)) != 0
        || (rc = s_str (ctx, msg, "table", &where->table)) != 0)
        return rc;
    if ((rc = s_allowed (ctx, op, where->database ? where->database : ZM_STORE_DATABASE)) != 0)
        return zm_error (ctx, rc, "%s on database \"%s\" is not allowed for %s", op,
                         where->database ? where->database : ZM_STORE_DATABASE,
                         zm_caller_describe (ctx->env ? ctx->env->caller : NULL));
    where->store = s_handle (zm_ctx_node (ctx), NULL, &rc);
    if (!where->store)
        return zm_error (ctx, ZM_EUNAVAIL, "this node's store cannot be opened: %s",
                         zm_strerror (rc));
    return 0;
}

//  The reason for a store error, for the caller (version: what the call
//  required, ZM_STORE_ANY when nothing)
static int
s_failed (zm_ctx_t *ctx, int rc, const char *op, const char *key, uint64_t version)
{
    switch (rc) {
    case ZM_ENOTFOUND:
        return zm_error (ctx, rc, "no record \"%s\"", key ? key : "");
    case ZM_ECONFLICT:
        if (version == ZM_STORE_ABSENT)
            return zm_error (ctx, rc, "\"%s\" has a record already", key ? key : "");
        return zm_error (ctx, rc, "\"%s\" is not at version %" PRIu64 " (or has no record)",
                         key ? key : "", version);
    case ZM_EINVAL:
        return zm_error (ctx, rc, "%s: a key is 1..%d bytes, a database or table name 1..%d "
                                  "bytes of [A-Za-z0-9_.-], metadata a map of strings",
                         op, ZM_STORE_MAX_KEY, ZM_STORE_MAX_NAME);
    case ZM_ETOOBIG:
        return zm_error (ctx, rc, "%s: past a limit (key %d bytes, value %d bytes, metadata)",
                         op, ZM_STORE_MAX_KEY, ZM_STORE_MAX_VALUE);
    default:
        return zm_error (ctx, rc, "%s failed: %s", op, zm_strerror (rc));
    }
}

//  A record into a map of the reply
static int
s_put_record (zm_val_t *entry, const zm_record_t *record, bool with_value)
{
    int rc = zm_val_set_str (entry, "key", record->key);
    if (!rc && with_value)
        rc = zm_val_set_bin (entry, "value", record->value, record->size);
    if (!rc)
        rc = zm_val_set_uint (entry, "version", record->version);
    if (!rc && record->expires)
        rc = zm_val_set_int (entry, "expires", record->expires);
    const zm_val_t *meta = record->metadata ? zm_msg_root (record->metadata) : NULL;
    if (!rc && meta && zm_val_size (meta)) {
        zm_val_t *out = zm_val_set_map (entry, "metadata");
        rc = out ? 0 : ZM_ENOMEM;
        for (size_t index = 0; !rc && index < zm_val_size (meta); index++)
            rc = zm_val_set_str (out, zm_val_key_at (meta, index, NULL),
                                 zm_val_str (zm_val_at (meta, index), "", NULL));
    }
    return rc;
}

//  A list of records as the reply {"records": [...]}
static int
s_reply_records (zm_ctx_t *ctx, zm_records_t **records_p, bool with_values)
{
    zm_msg_t *reply = zm_msg_new ();
    zm_val_t *list = reply ? zm_val_set_array (zm_msg_root_mut (reply), "records") : NULL;
    int rc = list ? 0 : ZM_ENOMEM;
    for (size_t index = 0; !rc && index < zm_records_size (*records_p); index++) {
        zm_val_t *entry = zm_val_push_map (list);
        rc = entry ? s_put_record (entry, zm_records_at (*records_p, index), with_values)
                   : ZM_ENOMEM;
    }
    zm_records_destroy (records_p);
    if (rc) {
        zm_msg_destroy (&reply);
        return rc;
    }
    return zm_reply (ctx, &reply);
}

//  read {key, database?, table?, prefix?, suffix?, limit?, offset?}
//  -> {records: [{key, value, version, expires?, metadata?}]}
static int
s_store_read (zm_ctx_t *ctx, zm_msg_t *msg)
{
    s_where_t where;
    int rc = s_where (ctx, msg, "read", &where);
    if (rc)
        return rc;
    const char *key;
    zm_read_opts_t opts = {.database = where.database, .table = where.table};
    uint64_t limit, offset;
    if ((rc = s_str (ctx, msg, "key", &key)) || (rc = s_bool (ctx, msg, "prefix", &opts.prefix))
        || (rc = s_bool (ctx, msg, "suffix", &opts.suffix))
        || (rc = s_uint (ctx, msg, "limit", &limit)) || (rc = s_uint (ctx, msg, "offset", &offset)))
        return rc;
    if (!key)
        return zm_error (ctx, ZM_EINVAL, "read: \"key\" is missing");
    opts.limit = (size_t) limit;
    opts.offset = (size_t) offset;
    zm_records_t *records = NULL;
    rc = zm_store_read (where.store, key, &opts, &records);
    if (rc)
        return s_failed (ctx, rc, "read", key, ZM_STORE_ANY);
    return s_reply_records (ctx, &records, true);
}

//  The request's metadata (a map of strings) as a message, or NULL
static int
s_metadata (zm_ctx_t *ctx, const zm_msg_t *msg, zm_msg_t **meta_p)
{
    const zm_val_t *meta = zm_val_get (zm_msg_root (msg), "metadata");
    *meta_p = NULL;
    if (!meta || zm_val_type (meta) == ZM_TYPE_NIL)
        return 0;
    if (zm_val_type (meta) != ZM_TYPE_MAP)
        return zm_error (ctx, ZM_EINVAL, "\"metadata\" must be a map of strings");
    zm_msg_t *out = zm_msg_new ();
    if (!out)
        return ZM_ENOMEM;
    for (size_t index = 0; index < zm_val_size (meta); index++) {
        const char *name = zm_val_key_at (meta, index, NULL);
        const zm_val_t *value = zm_val_at (meta, index);
        if (!name || zm_val_type (value) != ZM_TYPE_STR) {
            zm_msg_destroy (&out);
            return zm_error (ctx, ZM_EINVAL, "\"metadata\" must be a map of strings");
        }
        int rc = zm_msg_set_str (out, name, zm_val_str (value, "", NULL));
        if (rc) {
            zm_msg_destroy (&out);
            return rc;
        }
    }
    *meta_p = out;
    return 0;
}

//  write {key, value (bin or str), database?, table?, ttl_ms?, expires?,
//  metadata?, version? (must be this), absent? (must not exist)}
//  -> {version}
static int
s_store_write (zm_ctx_t *ctx, zm_msg_t *msg)
{
    s_where_t where;
    int rc = s_where (ctx, msg, "write", &where);
    if (rc)
        return rc;
    const char *key;
    uint64_t ttl_ms, expires, version;
    bool absent;
    if ((rc = s_str (ctx, msg, "key", &key)) || (rc = s_uint (ctx, msg, "ttl_ms", &ttl_ms))
        || (rc = s_uint (ctx, msg, "expires", &expires))
        || (rc = s_uint (ctx, msg, "version", &version))
        || (rc = s_bool (ctx, msg, "absent", &absent)))
        return rc;
    if (!key)
        return zm_error (ctx, ZM_EINVAL, "write: \"key\" is missing");
    const zm_val_t *value = zm_val_get (zm_msg_root (msg), "value");
    size_t size = 0;
    const void *bytes = value ? zm_val_bin (value, &size) : NULL;
    if (!bytes)
        return zm_error (ctx, ZM_EINVAL, "write: \"value\" (binary or string) is missing");
    if (ttl_ms > ZM_STORE_MAX_TTL || expires > ZM_STORE_MAX_TTL || (ttl_ms && expires))
        return zm_error (ctx, ZM_EINVAL, "write: one of \"ttl_ms\" and \"expires\", in range");
    if (absent && version)
        return zm_error (ctx, ZM_EINVAL, "write: \"absent\" and \"version\" together");
    if (version == ZM_STORE_ABSENT)
        return zm_error (ctx, ZM_EINVAL, "write: \"version\" out of range");
    zm_msg_t *meta = NULL;
    if ((rc = s_metadata (ctx, msg, &meta)) != 0)
        return rc;
    zm_write_opts_t opts = {.database = where.database,
                            .table = where.table,
                            .ttl_ms = (int64_t) ttl_ms,
                            .expires = (int64_t) expires,
                            .metadata = meta,
                            .version = absent ? ZM_STORE_ABSENT : version};
    uint64_t written = 0;
    rc = zm_store_write (where.store, key, bytes, size, &opts, &written);
    zm_msg_destroy (&meta);
    if (rc)
        return s_failed (ctx, rc, "write", key, opts.version);
    zm_msg_t *reply = zm_msg_new ();
    if (!reply || zm_msg_set_uint (reply, "version", written)) {
        zm_msg_destroy (&reply);
        return ZM_ENOMEM;
    }
    return zm_reply (ctx, &reply);
}

//  delete {key, database?, table?, version?} -> {}
static int
s_store_delete (zm_ctx_t *ctx, zm_msg_t *msg)
{
    s_where_t where;
    int rc = s_where (ctx, msg, "delete", &where);
    if (rc)
        return rc;
    const char *key;
    uint64_t version;
    if ((rc = s_str (ctx, msg, "key", &key)) || (rc = s_uint (ctx, msg, "version", &version)))
        return rc;
    if (!key)
        return zm_error (ctx, ZM_EINVAL, "delete: \"key\" is missing");
    if (version == ZM_STORE_ABSENT)
        return zm_error (ctx, ZM_EINVAL, "delete: \"version\" out of range");
    zm_delete_opts_t opts = {.database = where.database, .table = where.table, .version = version};
    rc = zm_store_delete (where.store, key, &opts);
    if (rc)
        return s_failed (ctx, rc, "delete", key, version);
    zm_msg_t *reply = zm_msg_new ();
    return reply ? zm_reply (ctx, &reply) : ZM_ENOMEM;
}

//  list {database?, table?, prefix?, suffix?, limit?, offset?}
//  -> {records: [{key, version, expires?}]}
static int
s_store_list (zm_ctx_t *ctx, zm_msg_t *msg)
{
    s_where_t where;
    int rc = s_where (ctx, msg, "list", &where);
    if (rc)
        return rc;
    zm_list_opts_t opts = {.database = where.database, .table = where.table};
    uint64_t limit, offset;
    if ((rc = s_str (ctx, msg, "prefix", &opts.prefix))
        || (rc = s_str (ctx, msg, "suffix", &opts.suffix))
        || (rc = s_uint (ctx, msg, "limit", &limit)) || (rc = s_uint (ctx, msg, "offset", &offset)))
        return rc;
    opts.limit = (size_t) limit;
    opts.offset = (size_t) offset;
    zm_records_t *records = NULL;
    rc = zm_store_list (where.store, &opts, &records);
    if (rc)
        return s_failed (ctx, rc, "list", NULL, ZM_STORE_ANY);
    return s_reply_records (ctx, &records, false);
}

int
zm_node_store_service (zm_node_t *node)
{
    if (!zm_config_get_bool (node->config, "store.rpc", true))
        return 0;
    zm_service_t *self = zm_service_builtin (node, "$store");
    if (!self || zm_service_handle (self, "read", s_store_read)
        || zm_service_handle (self, "write", s_store_write)
        || zm_service_handle (self, "delete", s_store_delete)
        || zm_service_handle (self, "list", s_store_list)
        || zm_service_set_dedicated (self, true))
        return ZM_ENOMEM;
    return zm_service_start (self);
}
