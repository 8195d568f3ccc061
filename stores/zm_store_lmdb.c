/*  =========================================================================
    zm_store_lmdb - the LMDB backend of the store (the default)

    One LMDB environment per directory per process (LMDB's rule: never open
    one twice in a process), shared by every store opened on it and kept
    in a process-wide list with a reference count. Three databases inside:

      namespaces  "database\0table\0" -> id (u32 BE, 1, 2, 3 ... never reused),
                  and "\0format" -> the layout's number ("2") in ASCII: an
                  environment of another layout is refused, left untouched
      records     prefix + the record's own key -> stored record
      expiry      expires (i64 BE) + prefix + key -> nothing

    A namespace's prefix is its id in a prefix-free code: the first byte
    says how long it is (0xxxxxxx: ids below 128 in one byte; 10xxxxxx +1
    byte; 110xxxxx +2 bytes; 11100000 + u32 BE), so no namespace's keys
    can start with another's prefix. A namespace costs its records one
    byte of key (for the first 127) instead of its name, and there is no
    limit on how many there are (named LMDB databases would
    cost every transaction a slot per database). The store layer's full
    keys ("database\0table\0key") are mapped here; visit gets them back
    whole. Ids found in committed state are cached in an append-only table
    that readers search without a lock. The expiry index lets a sweep read
    expired records in time order instead of scanning everything.

    Every operation is its own transaction on the calling thread (MDB_NOTLS:
    any thread, any number of readers). LMDB serialises writers. A thread
    keeps its read transaction between reads, reset (it holds a reader
    slot, not a snapshot), and renews it for the next read: that saves the
    allocation and the reader table's lock of every read. The environment
    keeps a list of its threads' kept transactions and aborts them when it
    closes; a thread's end aborts its own. When the
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
#define S_CACHED 1024  //  namespace ids cached per environment
#define S_READERS 1022 //  reader slots: a thread keeps one per environment (64 KiB)
#define S_NS_MAX (2 * ZM_STORE_MAX_NAME + 2)    //  "database\0table\0"
#define S_KEY_MAX (S_NS_MAX + ZM_STORE_MAX_KEY) //  a full key
#define S_ID 5                                  //  bytes of a namespace prefix, at most
#define S_FORMAT 2                              //  the data's layout (records and keys)
#define S_FORMAT_KEY "\0format"                 //  where it is, among the namespaces
#define S_LMDB (-1)                             //  an LMDB call failed (its code aside)

//  A namespace's key prefix: its id, coded
typedef struct {
    uint8_t size;        //  1 to S_ID
    uint8_t bytes[S_ID]; //  the code
} s_id_t;

//  A namespace's id
typedef struct {
    char ns[S_NS_MAX]; //  "database\0table\0"
    size_t ns_size;    //  its bytes
    s_id_t id;         //  its prefix
} s_cached_t;

typedef struct s_reader_t s_reader_t;

typedef struct s_env_t {
    char *path;                 //  realpath of the directory
    MDB_env *env;               //  the environment
    MDB_dbi namespaces;         //  "database\0table\0" -> id
    MDB_dbi records;            //  id + key -> stored record
    MDB_dbi expiry;             //  expires (8 bytes BE) + id + key -> ""
    pthread_rwlock_t resize;    //  transactions read-lock; growing the map write-locks
    pthread_mutex_t cache_lock; //  adding to cache
    s_cached_t cache[S_CACHED]; //  ids known committed: append-only
    atomic_size_t cached;       //  cache[] published to readers
    int refs;                   //  stores opened on it (under s_envs_lock)
    s_reader_t *readers;        //  threads' kept read transactions (under s_envs_lock)
    struct s_env_t *next;       //  the process's list
} s_env_t;

static s_env_t *s_envs;                                         //  open environments
static pthread_mutex_t s_envs_lock = PTHREAD_MUTEX_INITIALIZER; //  guards s_envs, refs, readers

//  A thread's read transaction on an environment, kept between reads
struct s_reader_t {
    _Atomic (s_env_t *) env;        //  NULL once dropped (the thread frees it then)
    MDB_txn *txn;                   //  reset between reads
    struct s_reader_t *next;        //  the thread's list
    struct s_reader_t *next_in_env; //  the environment's list (under s_envs_lock)
};

static __thread s_reader_t *s_readers; //  this thread's
static pthread_key_t s_readers_key;    //  ends them when the thread ends
static pthread_once_t s_readers_once = PTHREAD_ONCE_INIT;

//  Drop a kept transaction: abort it, take it off its environment's
//  list. Under s_envs_lock.
static void
s_reader_drop (s_reader_t *reader)
{
    s_env_t *env = atomic_load_explicit (&reader->env, memory_order_relaxed);
    if (!env)
        return;
    s_reader_t **link = &env->readers;
    while (*link != reader)
        link = &(*link)->next_in_env;
    *link = reader->next_in_env;
    mdb_txn_abort (reader->txn);
    reader->txn = NULL;
    atomic_store_explicit (&reader->env, NULL, memory_order_release);
}

//  The thread ends: its kept transactions go
static void
s_readers_end (void *arg)
{
    pthread_mutex_lock (&s_envs_lock);
    for (s_reader_t *reader = (s_reader_t *)arg, *next; reader; reader = next) {
        next = reader->next;
        s_reader_drop (reader);
        free (reader);
    }
    pthread_mutex_unlock (&s_envs_lock);
    s_readers = NULL;
}

static void
s_readers_init (void)
{
    pthread_key_create (&s_readers_key, s_readers_end);
}

//  This thread's kept transaction on env, or NULL. Frees the dropped
//  ones it passes.
static s_reader_t *
s_reader_find (s_env_t *env)
{
    s_reader_t **link = &s_readers;
    bool freed = false;
    while (*link) {
        s_reader_t *reader = *link;
        s_env_t *owner = atomic_load_explicit (&reader->env, memory_order_acquire);
        if (owner == env)
            return reader;
        if (owner) {
            link = &reader->next;
            continue;
        }
        *link = reader->next; //  dropped: only this thread still knows it
        free (reader);
        freed = true;
    }
    if (freed)
        pthread_setspecific (s_readers_key, s_readers);
    return NULL;
}

//  Keep txn (a read transaction just used on env) for the thread's next
//  read; aborts it when it cannot be kept
static void
s_reader_keep (s_env_t *env, MDB_txn *txn)
{
    s_reader_t *reader = (s_reader_t *)calloc (1, sizeof *reader);
    if (!reader || pthread_once (&s_readers_once, s_readers_init) != 0) {
        free (reader);
        mdb_txn_abort (txn);
        return;
    }
    mdb_txn_reset (txn);
    reader->txn = txn;
    pthread_mutex_lock (&s_envs_lock);
    atomic_init (&reader->env, env);
    reader->next_in_env = env->readers;
    env->readers = reader;
    pthread_mutex_unlock (&s_envs_lock);
    reader->next = s_readers;
    s_readers = reader;
    pthread_setspecific (s_readers_key, s_readers);
}

//  A read transaction on env: the thread's kept one renewed, or a new one
static int
s_reader_begin (s_env_t *env, MDB_txn **txn_p, bool *kept_p)
{
    s_reader_t *reader = s_reader_find (env);
    *kept_p = reader != NULL;
    if (reader) {
        int rc = mdb_txn_renew (reader->txn);
        if (rc == 0) {
            *txn_p = reader->txn;
            return 0;
        }
        pthread_mutex_lock (&s_envs_lock); //  failed: left reset, dropped
        s_reader_drop (reader);
        pthread_mutex_unlock (&s_envs_lock);
        *kept_p = false;
    }
    return mdb_txn_begin (env->env, NULL, MDB_RDONLY, txn_p);
}

//  The read is over: reset the transaction for the next, or keep it
static void
s_reader_end (s_env_t *env, MDB_txn *txn, bool kept)
{
    if (kept)
        mdb_txn_reset (txn);
    else
        s_reader_keep (env, txn);
}

static int
s_fail (const char *what, const char *path, int rc)
{
    zm_log_error ("store: LMDB %s at %s: %s", what, path ? path : "?", mdb_strerror (rc));
    return rc == ENOMEM ? ZM_ENOMEM : ZM_EIO;
}

//  Open the environment and its two databases
//  The format of the data in txn: the one written under S_FORMAT_KEY
//  (written now when the environment is new); 1 for data from before it
//  was recorded, -1 when it cannot be read
static int
s_format (s_env_t *self, MDB_txn *txn)
{
    MDB_val key = {sizeof S_FORMAT_KEY - 1, (void *)S_FORMAT_KEY}, data;
    int rc = mdb_get (txn, self->namespaces, &key, &data);
    if (rc == 0) {
        char text[8] = "";
        if (data.mv_size < sizeof text)
            memcpy (text, data.mv_data, data.mv_size);
        int format = atoi (text);
        return format > 0 ? format : -1;
    }
    MDB_stat stat;
    if (rc != MDB_NOTFOUND || mdb_stat (txn, self->namespaces, &stat) != 0)
        return -1;
    if (stat.ms_entries > 0)
        return 1; //  namespaces but no format: written before formats were
    char text[8];
    snprintf (text, sizeof text, "%d", S_FORMAT);
    data = (MDB_val){strlen (text), text};
    return mdb_put (txn, self->namespaces, &key, &data, 0) == 0 ? S_FORMAT : -1;
}

static int
s_env_open (s_env_t *self, size_t map_size)
{
    int rc = mdb_env_create (&self->env);
    if (rc)
        return s_fail ("create", self->path, rc);
    mdb_env_set_maxdbs (self->env, 3);
    mdb_env_set_maxreaders (self->env, S_READERS);
    mdb_env_set_mapsize (self->env, map_size ? map_size : S_MAP_DEFAULT);
    rc = mdb_env_open (self->env, self->path, MDB_NOTLS, 0600);
    if (rc)
        return s_fail ("open", self->path, rc);
    int dead = 0;
    mdb_reader_check (self->env, &dead); //  reader slots of killed processes
    MDB_txn *txn = NULL;
    rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_dbi_open (txn, "namespaces", MDB_CREATE, &self->namespaces);
    if (rc == 0)
        rc = mdb_dbi_open (txn, "records", MDB_CREATE, &self->records);
    if (rc == 0)
        rc = mdb_dbi_open (txn, "expiry", MDB_CREATE, &self->expiry);
    int format = rc == 0 ? s_format (self, txn) : 0;
    if (rc == 0 && format == S_FORMAT)
        rc = mdb_txn_commit (txn);
    else if (txn)
        mdb_txn_abort (txn);
    if (rc == 0 && format != S_FORMAT) {
        zm_log_error ("store: %s holds store format %d, this zmicro reads format %d: "
                      "left as it is",
                      self->path, format, S_FORMAT);
        return ZM_EIO;
    }
    return rc ? s_fail ("open databases", self->path, rc) : 0;
}

static void
s_env_free (s_env_t *self)
{
    if (self->env)
        mdb_env_close (self->env);
    pthread_rwlock_destroy (&self->resize);
    pthread_mutex_destroy (&self->cache_lock);
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
    else if ((self = (s_env_t *)calloc (1, sizeof *self)) == NULL) {
        free (real);
        rc = ZM_ENOMEM;
    }
    else {
        self->path = real;
        pthread_rwlock_init (&self->resize, NULL);
        pthread_mutex_init (&self->cache_lock, NULL);
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
    s_env_t *self = (s_env_t *)*state_p;
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
        while (self->readers) //  other threads' too: none is reading now
            s_reader_drop (self->readers);
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
    const char *bytes = (const char *)key;
    size_t limit = key_size < S_NS_MAX ? key_size : S_NS_MAX;
    const char *end = (const char *)memchr (bytes, 0, limit);
    end = end ? (const char *)memchr (end + 1, 0, limit - (size_t)(end + 1 - bytes)) : NULL;
    return end ? (size_t)(end + 1 - bytes) : 0;
}

//  The id of namespace ns when it is cached
static bool
s_cache_find (s_env_t *self, const void *ns, size_t ns_size, s_id_t *id)
{
    size_t count = atomic_load_explicit (&self->cached, memory_order_acquire);
    for (size_t index = 0; index < count; index++) {
        const s_cached_t *entry = &self->cache[index];
        if (entry->ns_size == ns_size && memcmp (entry->ns, ns, ns_size) == 0) {
            *id = entry->id;
            return true;
        }
    }
    return false;
}

//  Remember a committed id (while there is room: past it, ids are read
//  from the namespaces database)
static void
s_cache_add (s_env_t *self, const void *ns, size_t ns_size, const s_id_t *id)
{
    pthread_mutex_lock (&self->cache_lock);
    size_t count = atomic_load_explicit (&self->cached, memory_order_relaxed);
    s_id_t known;
    if (count < S_CACHED && !s_cache_find (self, ns, ns_size, &known)) {
        s_cached_t *entry = &self->cache[count];
        memcpy (entry->ns, ns, ns_size);
        entry->ns_size = ns_size;
        entry->id = *id;
        atomic_store_explicit (&self->cached, count + 1, memory_order_release);
    }
    pthread_mutex_unlock (&self->cache_lock);
}

//  The id of namespace ns in txn: cached, read, or (create, in a write
//  txn) made. Returns 0, MDB_NOTFOUND (no such namespace), or an LMDB
//  error. Only what a read transaction found may be cached: a write's
//  may still be rolled back.
//  The key prefix of namespace id number
static void
s_id_code (uint32_t number, s_id_t *id)
{
    uint8_t *out = id->bytes;
    if (number < 0x80) {
        out[0] = (uint8_t)number;
        id->size = 1;
    }
    else if (number < 0x4000) {
        out[0] = (uint8_t)(0x80 | number >> 8);
        out[1] = (uint8_t)number;
        id->size = 2;
    }
    else if (number < 0x200000) {
        out[0] = (uint8_t)(0xC0 | number >> 16);
        out[1] = (uint8_t)(number >> 8);
        out[2] = (uint8_t)number;
        id->size = 3;
    }
    else {
        out[0] = 0xE0;
        for (int at = 4; at >= 1; at--, number >>= 8)
            out[at] = (uint8_t)number;
        id->size = 5;
    }
}

static int
s_ns_id (s_env_t *self, MDB_txn *txn, const void *ns, size_t ns_size, bool create, s_id_t *id)
{
    if (s_cache_find (self, ns, ns_size, id))
        return 0;
    MDB_val name = {ns_size, (void *)ns}, data;
    int rc = mdb_get (txn, self->namespaces, &name, &data);
    if (rc == 0 && data.mv_size == 4) {
        const uint8_t *bytes = (const uint8_t *)data.mv_data;
        s_id_code ((uint32_t)bytes[0] << 24 | (uint32_t)bytes[1] << 16 | (uint32_t)bytes[2] << 8 |
                       bytes[3],
                   id);
        return 0;
    }
    if (rc == 0)
        return MDB_CORRUPTED;
    if (rc != MDB_NOTFOUND || !create)
        return rc;
    MDB_stat stat;
    if ((rc = mdb_stat (txn, self->namespaces, &stat)) != 0)
        return rc;
    if (stat.ms_entries >= UINT32_MAX)
        return MDB_MAP_FULL;
    uint32_t next = (uint32_t)stat.ms_entries + 1; //  never deleted: never reused
    s_id_code (next, id);
    uint8_t number[4];
    for (int at = 3; at >= 0; at--, next >>= 8)
        number[at] = (uint8_t)next;
    data = (MDB_val){sizeof number, number};
    return mdb_put (txn, self->namespaces, &name, &data, MDB_NOOVERWRITE);
}

//  One read transaction: the record of key (exact), or the records whose
//  key starts with it, to visit. Retried when another process grew the map.
static int
s_read (s_env_t *self, const void *key, size_t key_size, bool exact, zm_store_visit_fn *visit,
        void *arg)
{
    size_t ns_size = s_ns_size (key, key_size);
    if (!ns_size || key_size - ns_size > ZM_STORE_MAX_KEY)
        return s_fail ("read", self->path, EINVAL);
    for (;;) {
        pthread_rwlock_rdlock (&self->resize);
        MDB_txn *txn = NULL;
        MDB_cursor *cursor = NULL;
        uint8_t id_key[S_ID + ZM_STORE_MAX_KEY]; //  prefix + the own key (or its prefix)
        size_t own_size = key_size - ns_size;
        s_id_t id;
        int result = 0;
        bool cached = s_cache_find (self, key, ns_size, &id), kept = false;
        int rc = s_reader_begin (self, &txn, &kept);
        if (rc == 0 && !cached && (rc = s_ns_id (self, txn, key, ns_size, false, &id)) == 0)
            s_cache_add (self, key, ns_size, &id); //  read from committed state
        if (rc == 0) {
            memcpy (id_key, id.bytes, id.size);
            memcpy (id_key + id.size, (const char *)key + ns_size, own_size);
        }
        MDB_val name = {rc == 0 ? id.size + own_size : 0, id_key}, data;
        if (rc == 0 && exact) {
            rc = mdb_get (txn, self->records, &name, &data);
            if (rc == 0)
                result = visit (arg, key, key_size, data.mv_data, data.mv_size);
        }
        else if (rc == 0) {
            char full[S_KEY_MAX]; //  the namespace, then each key found
            memcpy (full, key, ns_size);
            size_t prefix_size = name.mv_size;
            rc = mdb_cursor_open (txn, self->records, &cursor);
            if (rc == 0)
                rc = mdb_cursor_get (cursor, &name, &data, MDB_SET_RANGE);
            while (rc == 0 && name.mv_size >= prefix_size &&
                   memcmp (name.mv_data, id_key, prefix_size) == 0) {
                size_t found = name.mv_size - id.size;
                if (found <= ZM_STORE_MAX_KEY) { //  written by the store: always
                    memcpy (full + ns_size, (const char *)name.mv_data + id.size, found);
                    result = visit (arg, full, ns_size + found, data.mv_data, data.mv_size);
                    if (result)
                        break;
                }
                rc = mdb_cursor_get (cursor, &name, &data, MDB_NEXT);
            }
        }
        if (cursor)
            mdb_cursor_close (cursor);
        if (txn)
            s_reader_end (self, txn, kept);
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
    return s_read ((s_env_t *)state, prefix, prefix_size, false, visit, arg);
}

static int
s_get (void *state, const void *key, size_t key_size, zm_store_visit_fn *visit, void *arg)
{
    return s_read ((s_env_t *)state, key, key_size, true, visit, arg);
}

//  The expiry index key of a record key (id + own key)
static size_t
s_expiry_key (uint8_t *out, int64_t expires, const void *key, size_t key_size)
{
    uint64_t value = (uint64_t)expires;
    for (int at = 7; at >= 0; at--, value >>= 8)
        out[at] = (uint8_t)value;
    memcpy (out + 8, key, key_size);
    return 8 + key_size;
}

//  Apply every entry in txn. Returns 0, a zm_err_t from a check, or
//  S_LMDB with the LMDB error in *mdb_rc
static int
s_apply_txn (s_env_t *self, MDB_txn *txn, zm_store_entry_t *entries, size_t count,
             const void *checks, int *mdb_rc)
{
    const void *last_ns = NULL; //  the namespace of the entry before, usually the same
    size_t last_size = 0;
    int last_rc = 0;
    uint8_t id_key[S_ID + ZM_STORE_MAX_KEY]; //  prefix + own key
    s_id_t id = {0};
    for (size_t index = 0; index < count; index++) {
        zm_store_entry_t *entry = &entries[index];
        size_t ns_size = s_ns_size (entry->key, entry->key_size);
        size_t own_size = entry->key_size - ns_size;
        if (!ns_size || own_size > ZM_STORE_MAX_KEY)
            return *mdb_rc = EINVAL, S_LMDB;
        if (!last_ns || ns_size != last_size || memcmp (entry->key, last_ns, ns_size) ||
            (last_rc == MDB_NOTFOUND && entry->value)) {
            last_rc = s_ns_id (self, txn, entry->key, ns_size, entry->value != NULL, &id);
            if (last_rc && last_rc != MDB_NOTFOUND)
                return *mdb_rc = last_rc, S_LMDB;
            last_ns = entry->key;
            last_size = ns_size;
        }
        memcpy (id_key, id.bytes, id.size);
        memcpy (id_key + id.size, (const char *)entry->key + ns_size, own_size);
        MDB_val key = {id.size + own_size, id_key}, current;
        int rc = 0;
        bool exists = false, stored = false;
        if (last_rc == MDB_NOTFOUND)
            ; //  a delete in a namespace never written: nothing there
        else if (entry->value && zm_store_check (checks, index, entry, NULL, 0) == 0) {
            //  A write that may create: one search when the key is new (the
            //  usual batch); LMDB hands back what is there otherwise
            MDB_val data = {entry->value_size, entry->value};
            rc = mdb_put (txn, self->records, &key, &data, MDB_NOOVERWRITE);
            stored = rc == 0;
            exists = rc == MDB_KEYEXIST;
            if (exists)
                current = data;
            else if (rc)
                return *mdb_rc = rc, S_LMDB;
        }
        else {
            rc = mdb_get (txn, self->records, &key, &current);
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
        uint8_t index_key[8 + S_ID + ZM_STORE_MAX_KEY];
        int64_t old_expires = exists ? zm_store_expires (current.mv_data, current.mv_size) : 0;
        if (old_expires > 0) {
            MDB_val old = {s_expiry_key (index_key, old_expires, key.mv_data, key.mv_size),
                           index_key};
            rc = mdb_del (txn, self->expiry, &old, NULL);
            if (rc && rc != MDB_NOTFOUND)
                return *mdb_rc = rc, S_LMDB;
        }
        if (entry->value) {
            MDB_val data = {entry->value_size, entry->value};
            rc = stored ? 0 : mdb_put (txn, self->records, &key, &data, 0);
            if (rc == 0 && entry->expires > 0) {
                MDB_val when = {s_expiry_key (index_key, entry->expires, key.mv_data, key.mv_size),
                                index_key};
                MDB_val none = {0, (void *)""};
                rc = mdb_put (txn, self->expiry, &when, &none, 0);
            }
        }
        else if (exists)
            rc = mdb_del (txn, self->records, &key, NULL);
        if (rc)
            return *mdb_rc = rc, S_LMDB;
    }
    return 0;
}

static int
s_apply (void *state, zm_store_entry_t *entries, size_t count, const void *checks)
{
    s_env_t *self = (s_env_t *)state;
    for (;;) {
        pthread_rwlock_rdlock (&self->resize);
        int rc = 0, mdb_rc = 0;
        MDB_txn *txn = NULL;
        if ((mdb_rc = mdb_txn_begin (self->env, NULL, 0, &txn)) != 0)
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
    s_env_t *self = (s_env_t *)state;
    pthread_rwlock_rdlock (&self->resize);
    MDB_txn *txn = NULL;
    MDB_cursor *cursor = NULL;
    int rc = mdb_txn_begin (self->env, NULL, 0, &txn);
    if (rc == 0)
        rc = mdb_cursor_open (txn, self->expiry, &cursor);
    MDB_val key, data;
    if (rc == 0)
        rc = mdb_cursor_get (cursor, &key, &data, MDB_FIRST);
    int removed = 0;
    while (rc == 0 && (max == 0 || (size_t)removed < max) && key.mv_size > 8) {
        const uint8_t *bytes = (const uint8_t *)key.mv_data;
        uint64_t expires = 0;
        for (int at = 0; at < 8; at++)
            expires = expires << 8 | bytes[at];
        if ((int64_t)expires > now)
            break; //  in time order: the rest are later
        MDB_val record = {key.mv_size - 8, (void *)(bytes + 8)}, current;
        rc = mdb_get (txn, self->records, &record, &current);
        if (rc == 0 && zm_store_expires (current.mv_data, current.mv_size) == (int64_t)expires)
            rc = mdb_del (txn, self->records, &record, NULL);
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
