/*  =========================================================================
    zmicro/store.h - records in databases and tables, over pluggable backends

    A store holds records: a key, value bytes, string metadata, an optional
    expiry and a version. Records live in namespaces, a database and a
    table ("orders" / "default"); a key is unique within its namespace and
    records come back in bytewise key order.

    Two backends come with zmicro, behind one ops struct:
      - zm_store_lmdb (the default): persistent and crash-safe. A write is
        acknowledged once LMDB has committed it; the map grows when it is
        full instead of failing. One LMDB environment per path per process,
        shared by every store opened on it and usable from any thread.
      - zm_store_memory: the same semantics, in this process's memory.

    Beyond a plain key-value store:
      - compare-and-swap: a write or delete can require the record's
        current version (every write bumps it: 1, 2, 3 ...), or that the
        key is absent: ZM_ECONFLICT otherwise, and nothing changes;
      - batches: writes and deletes applied all together or not at all.

    Expired records are never returned, and a sweep removes them
    (zm_store_sweep; a node runs it in the background).

    Limits: a key is 1..255 bytes without NUL; a database or table name is
    1..64 bytes of [A-Za-z0-9_.-]; a value at most 16 MiB; metadata at most
    64 entries (key 1..255 bytes, value 0..4096 bytes). Anything past them
    is refused with ZM_EINVAL or ZM_ETOOBIG. See docs/store.md.
    =========================================================================
*/
#ifndef ZMICRO_STORE_H_INCLUDED
#define ZMICRO_STORE_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "zmicro/msg.h"
#include "zmicro/node.h"

#ifdef __cplusplus
extern "C" {
#endif

#define ZM_STORE_MAX_KEY 255                  //  bytes of a key
#define ZM_STORE_MAX_NAME 64                  //  bytes of a database or table name
#define ZM_STORE_MAX_VALUE (16 * 1024 * 1024) //  bytes of a value
#define ZM_STORE_MAX_TTL (INT64_C (1) << 50)   //  ms of ttl_ms, and of expires (35,000 years)
#define ZM_STORE_DATABASE "zmicro"            //  default database
#define ZM_STORE_TABLE "default"              //  default table

//  Compare-and-swap conditions (zm_write_opts_t.version, zm_delete_opts_t)
#define ZM_STORE_ANY 0                //  whatever is there (the default)
#define ZM_STORE_ABSENT UINT64_MAX    //  only when the key has no live record

typedef struct _zm_store_t zm_store_t;
typedef struct _zm_records_t zm_records_t;
typedef struct _zm_batch_t zm_batch_t;
typedef struct _zm_store_ops_t zm_store_ops_t;

//  One record, as reads give it (pointers valid until its list is destroyed)
typedef struct {
    const char *key;          //  the key, NUL-terminated
    const void *value;        //  value bytes (non-NULL, maybe 0 bytes)
    size_t size;              //  value length
    const zm_msg_t *metadata; //  map str -> str, or NULL when none
    int64_t expires;          //  Unix ms when it expires; 0: never
    uint64_t version;         //  1 on creation, +1 on every write
} zm_record_t;

//  Where and how to read. Zero-initialise; NULL names are the defaults.
typedef struct {
    const char *database; //  NULL: the store's default database
    const char *table;    //  NULL: ZM_STORE_TABLE
    bool prefix;          //  the key is a prefix: every record that starts with it
    bool suffix;          //  the key is a suffix: every record that ends with it
    size_t limit;         //  at most this many records; 0: no limit
    size_t offset;        //  skip this many first (in key order)
} zm_read_opts_t;

//  Where and how to write. Zero-initialise.
typedef struct {
    const char *database;     //  NULL: the store's default database
    const char *table;        //  NULL: ZM_STORE_TABLE
    int64_t ttl_ms;           //  > 0: expires this long after the write
    int64_t expires;          //  > 0: expires at this Unix ms (not with ttl_ms)
    const zm_msg_t *metadata; //  map of str -> str, copied; NULL: none
    uint64_t version;         //  ZM_STORE_ANY, ZM_STORE_ABSENT, or the version
                              //  the record must have now (compare-and-swap)
} zm_write_opts_t;

//  Where and how to delete. Zero-initialise.
typedef struct {
    const char *database; //  NULL: the store's default database
    const char *table;    //  NULL: ZM_STORE_TABLE
    uint64_t version;     //  ZM_STORE_ANY, or the version the record must have
} zm_delete_opts_t;

//  Where and what to list. Zero-initialise.
typedef struct {
    const char *database; //  NULL: the store's default database
    const char *table;    //  NULL: ZM_STORE_TABLE
    const char *prefix;   //  only keys that start with it; NULL: all
    const char *suffix;   //  only keys that end with it; NULL: all
    size_t limit;         //  at most this many keys; 0: no limit
    size_t offset;        //  skip this many first (in key order)
} zm_list_opts_t;

//  --------------------------------------------------------------------------
//  Stores

//  Open a store on backend ops (zm_store_lmdb, zm_store_memory, or your
//  own) at path (a directory for LMDB, created when missing; ignored by
//  memory). map_size is LMDB's initial map size in bytes (0: 64 MiB; it
//  grows when full). database is the default database of this handle
//  (NULL: ZM_STORE_DATABASE). Returns NULL on failure, with *rc_p (when
//  given) ZM_EINVAL (bad argument or name), ZM_EIO (cannot create, open
//  or read the files: the log says why, e.g. a corrupt data file) or
//  ZM_ENOMEM. Caller owns return value.
zm_store_t *zm_store_open (const zm_store_ops_t *ops, const char *path, size_t map_size,
                           const char *database, int *rc_p);

//  A second handle on the same backend with another default database
//  (each service gets one named after it). Shares the backend; destroying
//  either is safe in any order. NULL on failure. Caller owns return value.
zm_store_t *zm_store_with_database (zm_store_t *self, const char *database);

//  Close; idempotent, nulls the pointer. The backend closes with its last
//  handle.
void zm_store_destroy (zm_store_t **self_p);

//  The backend's name ("lmdb", "memory"), and the handle's default database
const char *zm_store_backend (const zm_store_t *self);
const char *zm_store_database (const zm_store_t *self);

//  Read the record of key, or with opts->prefix / suffix every record whose
//  key starts / ends with it, in key order. opts may be NULL. Returns 0 and
//  *records_p (caller owns; may be empty for a prefix or suffix read),
//  ZM_ENOTFOUND (an exact key without a live record), ZM_EINVAL, ZM_EIO,
//  ZM_ENOMEM. Thread-safe; may block on disk.
int zm_store_read (zm_store_t *self, const char *key, const zm_read_opts_t *opts,
                   zm_records_t **records_p);

//  Write value (size bytes, copied) under key. opts may be NULL. Returns
//  0 and, when version_p is given, the record's new version; ZM_ECONFLICT
//  when opts->version does not hold (nothing written), ZM_EINVAL,
//  ZM_ETOOBIG, ZM_EIO (nothing acknowledged), ZM_ENOMEM. Once it returns 0
//  the write survives a crash of the process (LMDB).
int zm_store_write (zm_store_t *self, const char *key, const void *value, size_t size,
                    const zm_write_opts_t *opts, uint64_t *version_p);

//  Delete the record of key. opts may be NULL. Returns 0, ZM_ENOTFOUND
//  (no live record), ZM_ECONFLICT (opts->version does not hold), ZM_EINVAL,
//  ZM_EIO.
int zm_store_delete (zm_store_t *self, const char *key, const zm_delete_opts_t *opts);

//  The live records that opts selects (opts may be NULL: all of the
//  default table), in key order, without their values or metadata (value
//  is 0 bytes; key, expires and version are set). Returns 0 and *keys_p
//  (caller owns; may be empty), or an error as zm_store_read.
int zm_store_list (zm_store_t *self, const zm_list_opts_t *opts, zm_records_t **keys_p);

//  Remove expired records, at most max of them (0: all). Returns how many
//  went, or a negative zm_err_t. A node runs this every store.sweep ms.
int zm_store_sweep (zm_store_t *self, size_t max);

//  --------------------------------------------------------------------------
//  A node's store

//  The node's store (config store.backend, store.path, store.map_size),
//  opened on first use, with the default database ZM_STORE_DATABASE.
//  Expired records are swept every store.sweep ms by a thread of the node.
//  NULL when it cannot be opened (logged once; the node does not retry).
//  The node owns it; any thread.
zm_store_t *zm_node_store (zm_node_t *node);

//  Inside a handler: the node's store with the handler's own database, the
//  name of its service (or actor kind): each service has its own
//  namespace unless it names another database. NULL when the store cannot
//  be opened or the name is not a database name (logged). The node owns
//  it. A write waits for the disk: a service that writes often is best
//  given a reactor of its own (zm_service_set_dedicated).
zm_store_t *zm_ctx_store (zm_ctx_t *ctx);

//  --------------------------------------------------------------------------
//  Batches: writes and deletes applied together or not at all

//  A new, empty batch. Caller owns return value. NULL when out of memory.
zm_batch_t *zm_batch_new (void);

//  Add a write (as zm_store_write; value copied) or a delete (as
//  zm_store_delete, except that deleting a missing record is fine in a
//  batch, unless a version is required: then the batch fails with
//  ZM_ECONFLICT). A key may appear once per batch. Returns 0, ZM_EINVAL (bad
//  argument, a key already in the batch), ZM_ETOOBIG, ZM_ENOMEM.
int zm_batch_write (zm_batch_t *self, const char *key, const void *value, size_t size,
                    const zm_write_opts_t *opts);
int zm_batch_delete (zm_batch_t *self, const char *key, const zm_delete_opts_t *opts);

//  Entries in the batch
size_t zm_batch_size (const zm_batch_t *self);

//  Apply every entry atomically (a store handle's default database fills
//  the entries' NULL databases). Returns 0, or ZM_ECONFLICT /
//  ZM_ENOTFOUND when a condition fails, ZM_EIO, ZM_ENOMEM: then nothing
//  was applied. The batch is left as it was (commit it again, or destroy).
int zm_store_commit (zm_store_t *self, const zm_batch_t *batch);

//  Destroy; idempotent, nulls the pointer.
void zm_batch_destroy (zm_batch_t **self_p);

//  --------------------------------------------------------------------------
//  Record lists

size_t zm_records_size (const zm_records_t *self);

//  Record at index, or NULL past the end
const zm_record_t *zm_records_at (const zm_records_t *self, size_t index);

//  Destroy; idempotent, nulls the pointer.
void zm_records_destroy (zm_records_t **self_p);

//  --------------------------------------------------------------------------
//  Backends

//  What a backend stores: ordered byte keys and opaque byte values. The
//  store layer owns the meaning: a key is the namespace and the record's
//  key ("database\0table\0key"), a value the record (version, expiry,
//  metadata, bytes), and it builds and reads both; a backend orders keys
//  bytewise, applies a batch atomically, and asks the store layer to
//  judge each entry's condition against what it holds (zm_store_check).

//  One entry of a batch, as a backend applies it
typedef struct {
    const void *key;   //  the full key
    size_t key_size;   //  its bytes
    void *value;       //  a write: the record to store (NULL: a delete)
    size_t value_size; //  its bytes
    int64_t expires;   //  a write: Unix ms when it expires; 0: never
} zm_store_entry_t;

//  A backend scan's consumer: called for each record in key order, with
//  the full key and the stored record. Returns 0 to go on, -1 to stop, or
//  a zm_err_t that ends the scan (scan returns it).
typedef int(zm_store_visit_fn) (void *arg, const void *key, size_t key_size, const void *value,
                                size_t value_size);

struct _zm_store_ops_t {
    const char *name; //  "lmdb", "memory"

    //  Open the backend at path (map_size as zm_store_open) into *state_p.
    //  Returns 0 or a zm_err_t; logs why it failed. Caller's thread.
    int (*open) (const char *path, size_t map_size, void **state_p);

    //  Close what open gave; nulls *state_p.
    void (*close) (void **state_p);

    //  Call visit for the records whose key starts with prefix
    //  (prefix_size bytes), in key order, until it returns non-zero.
    //  Returns 0 (also when visit stopped it) or a zm_err_t. Sees one
    //  consistent state. Any thread; may block on disk; visit must not
    //  call back into the backend.
    int (*scan) (void *state, const void *prefix, size_t prefix_size, zm_store_visit_fn *visit,
                 void *arg);

    //  Optional (NULL: scan does it): call visit once with the record of
    //  key (key_size bytes) when there is one. Returns as scan. Any thread.
    int (*get) (void *state, const void *key, size_t key_size, zm_store_visit_fn *visit,
                void *arg);

    //  Apply entries (count of them; keys are distinct) atomically: for
    //  each, call zm_store_check with what the key holds now (NULL:
    //  nothing), which returns an error (then apply nothing and return it)
    //  or 0 and sets the version in the entry's value; then store a copy
    //  of the value, or delete the key. Returns 0 (durable then) or a
    //  zm_err_t. Any thread; may block on disk.
    int (*apply) (void *state, zm_store_entry_t *entries, size_t count, const void *checks);

    //  Remove records that expired at or before now (Unix ms), at most max
    //  (0: all). Returns how many went, or a negative zm_err_t.
    int (*sweep) (void *state, int64_t now, size_t max);
};

//  For backends: judge entry index of a batch (checks, as apply got it)
//  against the record its key holds now (current, current_size; NULL:
//  none). Returns 0 (and sets the new version in the entry's value), or
//  ZM_ECONFLICT / ZM_ENOTFOUND.
int zm_store_check (const void *checks, size_t index, zm_store_entry_t *entry,
                    const void *current, size_t current_size);

//  For backends: when a stored record expires (0: never), or -1 when the
//  bytes are not a record
int64_t zm_store_expires (const void *value, size_t value_size);

extern const zm_store_ops_t zm_store_lmdb;
extern const zm_store_ops_t zm_store_memory;

#ifdef __cplusplus
}
#endif

#endif
