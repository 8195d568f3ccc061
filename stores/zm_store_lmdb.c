/*  =========================================================================
    zm_store_lmdb - the LMDB backend of the store (the default)

    One LMDB environment per directory per process (LMDB's rule: never open
    one twice in a process), shared by every store opened on it and kept
    in a process-wide list with a reference count. Inside it, one named
    database per namespace ("database/table": the records' own keys ->
    stored record), so a lookup compares only the key the caller gave, and
    "expiry" (8-byte big-endian expiry time + full key -> nothing), so a
    sweep reads expired records in time order instead of scanning
    everything. The store layer's full keys ("database\0table\0key") are
    split here; visit gets them back whole.

    Database handles are opened once and kept for the environment's life
    in an append-only table that readers search without a lock; opening
    one (at most S_TABLES) takes tables_lock, before any transaction, as a
    sweep does (LMDB: one thread at a time opens handles).

    Every operation is its own transaction on the calling thread (MDB_NOTLS:
    any thread, any number of readers). LMDB serialises writers. When the
    map is full the write is retried after doubling the map; changing the
    map size needs no transaction open in the process, so operations hold
    a read lock and growing holds the write lock.

    Durability is LMDB's default: a commit is synced to disk before the
    store acknowledges the write.
    =========================================================================
*/
#include "zm_internal.h"
#include "zmicro/store.h"

#include <errno.h>
#include <lmdb.h>
#include <sys/stat.h>

#define S_MAP_DEFAULT (64 * 1024 * 1024)
#define S_TABLES 63                             //  namespaces per environment
#define S_NS_MAX (2 * ZM_STORE_MAX_NAME + 2)     //  "database\0table\0"
#define S_KEY_MAX (S_NS_MAX + ZM_STORE_MAX_KEY)  //  a full key
#define S_LMDB (-1)                              //  an LMDB call failed (its code aside)

//  A namespace's database
typedef struct {
    char ns[S_NS_MAX]; //  "database\0table\0"
    size_t ns_size;    //  its bytes
    MDB_dbi dbi;       //  its handle
} s_table_t;

typedef struct s_env_t {
    char *path;                  //  realpath of the directory
    MDB_env *env;                //  the environment
    MDB_dbi expiry;              //  expires (8 bytes BE) + full key -> ""
    pthread_rwlock_t resize;     //  transactions read-lock; growing the map write-locks
    pthread_mutex_t tables_lock; //  opening a handle; a sweep
    s_table_t tables[S_TABLES];  //  handles opened: append-only
    atomic_size_t table_count;   //  tables[] published to readers
    int refs;                    //  stores opened on it (under s_envs_lock)
    struct s_env_t *next;        //  the process's list
} s_env_t;

static s_env_t *s_envs;                                         //  open environments
static pthread_mutex_t s_envs_lock = PTHREAD_MUTEX_INITIALIZER; //  guards s_envs, refs

static int
s_fail (const char *what, const char *path, int rc)
{
    if (rc == MDB_DBS_FULL) {
        zm_log_error ("store: %s at %s: more than %d tables", what, path ? path : "?",
                      S_TABLES);
        return ZM_ETOOMANY;
    }
    zm_log_error ("store: LMDB %s at %s: %s", what, path ? path : "?", mdb_strerror (rc));
    return rc == ENOMEM ? ZM_ENOMEM : ZM_EIO;
}

//  Open the environment and its two databases
static int
s_env_open (s_env_t *self, size_t map_size)
{
    int rc = mdb_env_create (&self->env);
    if (rc)
        return s_fail ("create", self->path, rc);
    mdb_env_set_maxdbs (self->env, S_TABLES + 1);
    mdb_env_set_mapsize (self->env, map_size ? map_size : S_MAP_DEFAULT);
    rc = mdb_env_open (self->env, self->path, MDB_NOTLS, 0600);
    if (rc)
        return s_fail ("open", self->path, rc);
    int dead = 0;
    mdb_reader_check (self->env, &dead); //  reader slots of killed processes
    MDB_txn *txn = NULL;
    rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open (txn, "expiry", MDB_CREATE, &self->expiry);
    if (rc == 0)
        rc = mdb_txn_commit (txn);
    else if (txn)
        mdb_txn_abort (txn);
    return rc ? s_fail ("open databases", self->path, rc) : 0;
}

static void
s_env_free (s_env_t *self)
{
    if (self->env)
        mdb_env_close (self->env);
    pthread_rwlock_destroy (&self->resize);
    pthread_mutex_destroy (&self->tables_lock);
    free (self->path);
    free (self);
}

static int
s_open (const char *path, size_t map_size, void **state_p)
{
    if (!path || !*path)
        return ZM_EINVAL;
    if (mkdir (path, 0700) && errno != EEXIST) {
        zm_log_error ("store: cannot create %s: %s", path, strerror (errno));
        return ZM_EIO;
    }
    char *real = realpath (path, NULL);
    struct stat info;
    if (!real || stat (real, &info) || !S_ISDIR (info.st_mode)) {
        zm_log_error ("store: %s is not a directory I can use", path);
        free (real);
        return ZM_EIO;
    }
    pthread_mutex_lock (&s_envs_lock);
    s_env_t *self = s_envs;
    while (self && strcmp (self->path, real) != 0)
        self = self->next;
    int rc = 0;
    if (self) {
        self->refs++;
        free (real);
    }
    else if ((self = (s_env_t *) calloc (1, sizeof *self)) == NULL) {
        free (real);
        rc = ZM_ENOMEM;
    }
    else {
        self->path = real;
        pthread_rwlock_init (&self->resize, NULL);
        pthread_mutex_init (&self->tables_lock, NULL);
        rc = s_env_open (self, map_size);
        if (rc)
            s_env_free (self);
        else {
            self->refs = 1;
            self->next = s_envs;
            s_envs = self;
        }
    }
    pthread_mutex_unlock (&s_envs_lock);
    if (rc == 0)
        *state_p = self;
    return rc;
}

static void
s_close (void **state_p)
{
    s_env_t *self = (s_env_t *) *state_p;
    *state_p = NULL;
    if (!self)
        return;
    pthread_mutex_lock (&s_envs_lock);
    bool last = --self->refs == 0;
    if (last) {
        s_env_t **link = &s_envs;
        while (*link != self)
            link = &(*link)->next;
        *link = self->next;
    }
    pthread_mutex_unlock (&s_envs_lock);
    if (last)
        s_env_free (self);
}

//  The map is full, or another process grew it: adopt or double its size.
//  Called with no transaction open by this thread.
static int
s_grow (s_env_t *self, bool full)
{
    pthread_rwlock_wrlock (&self->resize);
    MDB_envinfo info;
    mdb_env_info (self->env, &info);
    size_t size = full ? info.me_mapsize * 2 : 0; //  0: adopt the size on disk
    int rc = mdb_env_set_mapsize (self->env, size);
    pthread_rwlock_unlock (&self->resize);
    if (rc)
        return s_fail ("grow the map", self->path, rc);
    if (full)
        zm_log_info ("store: LMDB map at %s grown to %zu KiB", self->path, size >> 10);
    return 0;
}

//  Bytes of the namespace ("database\0table\0") that starts key, or 0
static size_t
s_ns_size (const void *key, size_t key_size)
{
    const char *bytes = (const char *) key;
    size_t limit = key_size < S_NS_MAX ? key_size : S_NS_MAX;
    const char *end = (const char *) memchr (bytes, 0, limit);
    end = end ? (const char *) memchr (end + 1, 0, limit - (size_t) (end + 1 - bytes)) : NULL;
    return end ? (size_t) (end + 1 - bytes) : 0;
}

//  The database name of a namespace: "database/table"
static void
s_table_name (const void *ns, size_t ns_size, char *name)
{
    memcpy (name, ns, ns_size - 1);
    name[strlen (name)] = '/';
    name[ns_size - 1] = 0;
}

//  The handle of namespace ns when it is open, or 0. No lock: a table is
//  written before the count that publishes it.
static MDB_dbi
s_table_find (s_env_t *self, const void *ns, size_t ns_size)
{
    size_t count = atomic_load_explicit (&self->table_count, memory_order_acquire);
    for (size_t index = 0; index < count; index++) {
        const s_table_t *table = &self->tables[index];
        if (table->ns_size == ns_size && memcmp (table->ns, ns, ns_size) == 0)
            return table->dbi;
    }
    return 0;
}

//  The handle of namespace ns (of a full key): found, or opened in a
//  transaction of its own (created when create says; otherwise 0 and
//  MDB_NOTFOUND when it has never been written). With no transaction of
//  the caller's open; returns an LMDB code.
static int
s_table (s_env_t *self, const void *key, size_t key_size, bool create, MDB_dbi *dbi_p)
{
    size_t ns_size = s_ns_size (key, key_size);
    if (!ns_size)
        return EINVAL;
    if ((*dbi_p = s_table_find (self, key, ns_size)) != 0)
        return 0;
    pthread_mutex_lock (&self->tables_lock);
    int rc = 0;
    size_t count = atomic_load_explicit (&self->table_count, memory_order_relaxed);
    if ((*dbi_p = s_table_find (self, key, ns_size)) == 0) {
        char name[S_NS_MAX];
        s_table_name (key, ns_size, name);
        MDB_txn *txn = NULL;
        if (count == S_TABLES) //  none more can be there to read
            rc = create ? MDB_DBS_FULL : MDB_NOTFOUND;
        else
            rc = mdb_txn_begin (self->env, NULL, create ? 0 : MDB_RDONLY, &txn);
        if (rc == 0)
            rc = mdb_dbi_open (txn, name, create ? MDB_CREATE : 0, dbi_p);
        if (rc == 0)
            rc = mdb_txn_commit (txn); //  the handle stays open (read-only too)
        else if (txn)
            mdb_txn_abort (txn);
        if (rc == 0) {
            s_table_t *table = &self->tables[count];
            memcpy (table->ns, key, ns_size);
            table->ns_size = ns_size;
            table->dbi = *dbi_p;
            atomic_store_explicit (&self->table_count, count + 1, memory_order_release);
        }
        else
            *dbi_p = 0;
    }
    pthread_mutex_unlock (&self->tables_lock);
    return rc;
}

//  One read transaction: the record of key (exact), or the records whose
//  key starts with it, to visit. Retried when another process grew the map.
static int
s_read (s_env_t *self, const void *key, size_t key_size, bool exact, zm_store_visit_fn *visit,
        void *arg)
{
    for (;;) {
        pthread_rwlock_rdlock (&self->resize);
        MDB_dbi dbi = 0;
        int rc = s_table (self, key, key_size, false, &dbi);
        size_t ns_size = s_ns_size (key, key_size);
        MDB_txn *txn = NULL;
        MDB_cursor *cursor = NULL;
        MDB_val name = {key_size - ns_size, (char *) key + ns_size}, data;
        int result = 0;
        if (rc == 0)
            rc = mdb_txn_begin (self->env, NULL, MDB_RDONLY, &txn);
        if (rc == 0 && exact) {
            rc = mdb_get (txn, dbi, &name, &data);
            if (rc == 0)
                result = visit (arg, key, key_size, data.mv_data, data.mv_size);
        }
        else if (rc == 0) {
            char full[S_KEY_MAX]; //  the namespace, then each key found
            memcpy (full, key, ns_size);
            size_t prefix_size = name.mv_size;
            rc = mdb_cursor_open (txn, dbi, &cursor);
            if (rc == 0)
                rc = prefix_size ? mdb_cursor_get (cursor, &name, &data, MDB_SET_RANGE)
                                 : mdb_cursor_get (cursor, &name, &data, MDB_FIRST);
            while (rc == 0 && name.mv_size >= prefix_size
                   && memcmp (name.mv_data, (const char *) key + ns_size, prefix_size) == 0) {
                if (name.mv_size <= ZM_STORE_MAX_KEY) { //  written by the store: always
                    memcpy (full + ns_size, name.mv_data, name.mv_size);
                    result = visit (arg, full, ns_size + name.mv_size, data.mv_data,
                                    data.mv_size);
                    if (result)
                        break;
                }
                rc = mdb_cursor_get (cursor, &name, &data, MDB_NEXT);
            }
        }
        if (cursor)
            mdb_cursor_close (cursor);
        if (txn)
            mdb_txn_abort (txn);
        pthread_rwlock_unlock (&self->resize);
        if (rc == MDB_MAP_RESIZED) {
            if ((rc = s_grow (self, false)) != 0)
                return rc;
            continue;
        }
        if (rc && rc != MDB_NOTFOUND)
            return s_fail ("read", self->path, rc);
        return result > 0 ? result : 0;
    }
}

static int
s_scan (void *state, const void *prefix, size_t prefix_size, zm_store_visit_fn *visit, void *arg)
{
    return s_read ((s_env_t *) state, prefix, prefix_size, false, visit, arg);
}

static int
s_get (void *state, const void *key, size_t key_size, zm_store_visit_fn *visit, void *arg)
{
    return s_read ((s_env_t *) state, key, key_size, true, visit, arg);
}

//  The expiry index key of a record key
static size_t
s_expiry_key (uint8_t *out, int64_t expires, const void *key, size_t key_size)
{
    uint64_t value = (uint64_t) expires;
    for (int at = 7; at >= 0; at--, value >>= 8)
        out[at] = (uint8_t) value;
    memcpy (out + 8, key, key_size);
    return 8 + key_size;
}

//  Apply every entry in txn; their namespaces' handles are open, or the
//  namespace was never written (a delete's). Returns 0, a zm_err_t from a
//  check, or S_LMDB with the LMDB error in *mdb_rc
static int
s_apply_txn (s_env_t *self, MDB_txn *txn, zm_store_entry_t *entries, size_t count,
             const void *checks, int *mdb_rc)
{
    const void *last_ns = NULL; //  the namespace of the entry before, usually the same
    size_t last_size = 0;
    MDB_dbi dbi = 0;
    for (size_t index = 0; index < count; index++) {
        zm_store_entry_t *entry = &entries[index];
        size_t ns_size = s_ns_size (entry->key, entry->key_size);
        if (!last_ns || ns_size != last_size || memcmp (entry->key, last_ns, ns_size)) {
            dbi = s_table_find (self, entry->key, ns_size);
            last_ns = entry->key;
            last_size = ns_size;
        }
        MDB_val key = {entry->key_size - ns_size, (char *) entry->key + ns_size}, current;
        int rc = 0;
        bool exists = false, stored = false;
        if (!dbi)
            ; //  a namespace never written: nothing there
        else if (entry->value && zm_store_check (checks, index, entry, NULL, 0) == 0) {
            //  A write that may create: one search when the key is new (the
            //  usual batch); LMDB hands back what is there otherwise
            MDB_val data = {entry->value_size, entry->value};
            rc = mdb_put (txn, dbi, &key, &data, MDB_NOOVERWRITE);
            stored = rc == 0;
            exists = rc == MDB_KEYEXIST;
            if (exists)
                current = data;
            else if (rc)
                return *mdb_rc = rc, S_LMDB;
        }
        else {
            rc = mdb_get (txn, dbi, &key, &current);
            if (rc && rc != MDB_NOTFOUND)
                return *mdb_rc = rc, S_LMDB;
            exists = rc == 0;
        }
        if (!stored) {
            rc = zm_store_check (checks, index, entry, exists ? current.mv_data : NULL,
                                 exists ? current.mv_size : 0);
            if (rc)
                return rc;
        }
        uint8_t index_key[8 + S_KEY_MAX];
        int64_t old_expires = exists ? zm_store_expires (current.mv_data, current.mv_size) : 0;
        if (old_expires > 0) {
            MDB_val old = {s_expiry_key (index_key, old_expires, entry->key, entry->key_size),
                           index_key};
            rc = mdb_del (txn, self->expiry, &old, NULL);
            if (rc && rc != MDB_NOTFOUND)
                return *mdb_rc = rc, S_LMDB;
        }
        if (entry->value) {
            MDB_val data = {entry->value_size, entry->value};
            rc = stored ? 0 : mdb_put (txn, dbi, &key, &data, 0);
            if (rc == 0 && entry->expires > 0) {
                MDB_val when = {s_expiry_key (index_key, entry->expires, entry->key,
                                              entry->key_size),
                                index_key};
                MDB_val none = {0, (void *) ""};
                rc = mdb_put (txn, self->expiry, &when, &none, 0);
            }
        }
        else if (exists)
            rc = mdb_del (txn, dbi, &key, NULL);
        if (rc)
            return *mdb_rc = rc, S_LMDB;
    }
    return 0;
}

static int
s_apply (void *state, zm_store_entry_t *entries, size_t count, const void *checks)
{
    s_env_t *self = (s_env_t *) state;
    for (;;) {
        pthread_rwlock_rdlock (&self->resize);
        //  Every namespace written has its database before the transaction
        int rc = 0, mdb_rc = 0;
        const void *last_ns = NULL;
        size_t last_size = 0;
        for (size_t index = 0; rc == 0 && index < count; index++) {
            const zm_store_entry_t *entry = &entries[index];
            size_t ns_size = s_ns_size (entry->key, entry->key_size);
            if (!entry->value
                || (last_ns && ns_size == last_size && !memcmp (entry->key, last_ns, ns_size)))
                continue;
            MDB_dbi dbi;
            mdb_rc = s_table (self, entry->key, entry->key_size, true, &dbi);
            rc = mdb_rc ? S_LMDB : 0;
            last_ns = entry->key;
            last_size = ns_size;
        }
        MDB_txn *txn = NULL;
        if (rc == 0 && (mdb_rc = mdb_txn_begin (self->env, NULL, 0, &txn)) != 0)
            rc = S_LMDB;
        if (rc == 0)
            rc = s_apply_txn (self, txn, entries, count, checks, &mdb_rc);
        if (rc == 0 && (mdb_rc = mdb_txn_commit (txn)) != 0) //  frees txn
            rc = S_LMDB;
        else if (rc && txn)
            mdb_txn_abort (txn);
        pthread_rwlock_unlock (&self->resize);
        if (rc == S_LMDB && (mdb_rc == MDB_MAP_FULL || mdb_rc == MDB_MAP_RESIZED)) {
            if ((rc = s_grow (self, mdb_rc == MDB_MAP_FULL)) != 0)
                return rc;
            continue;
        }
        return rc == S_LMDB ? s_fail ("write", self->path, mdb_rc) : rc;
    }
}

static int
s_sweep (void *state, int64_t now, size_t max)
{
    s_env_t *self = (s_env_t *) state;
    pthread_rwlock_rdlock (&self->resize);
    pthread_mutex_lock (&self->tables_lock); //  handles are opened in the sweep's txn
    MDB_txn *txn = NULL;
    MDB_cursor *cursor = NULL;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_cursor_open (txn, self->expiry, &cursor);
    MDB_val key, data;
    if (rc == 0)
        rc = mdb_cursor_get (cursor, &key, &data, MDB_FIRST);
    int removed = 0;
    while (rc == 0 && (max == 0 || (size_t) removed < max) && key.mv_size > 8) {
        const uint8_t *bytes = (const uint8_t *) key.mv_data;
        uint64_t expires = 0;
        for (int at = 0; at < 8; at++)
            expires = expires << 8 | bytes[at];
        if ((int64_t) expires > now)
            break; //  in time order: the rest are later
        size_t ns_size = s_ns_size (bytes + 8, key.mv_size - 8);
        MDB_dbi dbi = s_table_find (self, bytes + 8, ns_size);
        MDB_val record = {key.mv_size - 8 - ns_size, (void *) (bytes + 8 + ns_size)}, current;
        if (!ns_size)
            rc = MDB_NOTFOUND; //  not the store's: drop the index entry
        else if (!dbi) { //  not opened in this process yet: here, kept when committed
            char name[S_NS_MAX];
            s_table_name (bytes + 8, ns_size, name);
            rc = mdb_dbi_open (txn, name, 0, &dbi);
        }
        if (rc == 0)
            rc = mdb_get (txn, dbi, &record, &current);
        if (rc == 0 && zm_store_expires (current.mv_data, current.mv_size) == (int64_t) expires)
            rc = mdb_del (txn, dbi, &record, NULL);
        if (rc == 0 || rc == MDB_NOTFOUND)
            rc = mdb_cursor_del (cursor, 0);
        if (rc == 0) {
            removed++;
            rc = mdb_cursor_get (cursor, &key, &data, MDB_GET_CURRENT);
            if (rc == EINVAL) //  deleted the last one
                rc = MDB_NOTFOUND;
        }
    }
    if (cursor)
        mdb_cursor_close (cursor);
    if (rc == 0 || rc == MDB_NOTFOUND)
        rc = txn ? mdb_txn_commit (txn) : 0;
    else if (txn)
        mdb_txn_abort (txn);
    pthread_mutex_unlock (&self->tables_lock);
    pthread_rwlock_unlock (&self->resize);
    if (rc == MDB_MAP_FULL) //  nothing removed; the next sweep, after a write grew it
        return 0;
    return rc ? -s_fail ("sweep", self->path, rc) : removed;
}

const zm_store_ops_t zm_store_lmdb = {
    .name = "lmdb",
    .open = s_open,
    .close = s_close,
    .scan = s_scan,
    .get = s_get,
    .apply = s_apply,
    .sweep = s_sweep,
};
