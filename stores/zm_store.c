/*  =========================================================================
    zm_store - the store layer: records, namespaces, conditions, expiry

    Above the backends (zm_store_lmdb.c, zm_store_memory.c), which keep
    ordered byte keys and opaque values and apply batches atomically. This
    file gives them meaning, the same for every backend:

      key    database \0 table \0 key       (bytewise order within a table)
      value  head, version (V bytes BE), [expires i64 BE], [M u32 BE,
             metadata (msgpack map, M bytes)], the value's bytes
             head: 001 (the format) in bits 7-5, V - 1 in bits 4-2,
             0x02 metadata is there, 0x01 the expiry is; a plain record
             carries 2 bytes besides its value until version 256

    A record is built with room for an 8-byte version; the commit writes
    the version in as few bytes as it needs, right before the expiry, and
    the record starts that much later (zm_store_check).

    A write is a batch of one. Conditions (compare-and-swap, "must exist")
    are judged by zm_store_check inside the backend's transaction, against
    what the key holds there, so two writers racing on one version cannot
    both win. An expired record reads as absent everywhere; its version
    still counts, so a version is never reused for a key.
    =========================================================================
*/
#include "zm_internal.h"
#include "zm_wire.h"
#include "zmicro/store.h"

#include <endian.h>

#define S_FORMAT 0x20 //  the record format, in the head's bits 7-5
#define S_FORMAT_MASK 0xE0
#define S_VSIZE_MASK 0x1C //  the version's bytes - 1, in bits 4-2
#define S_EXPIRES 0x01    //  flag: an expiry follows the version
#define S_META 0x02       //  flag: metadata follows
#define S_SLOT 9          //  head and version as built: room for 8 bytes
#define S_NS_MAX (2 * ZM_STORE_MAX_NAME + 2)
#define S_KEY_MAX (S_NS_MAX + ZM_STORE_MAX_KEY)

//  A backend shared by every handle opened on it
typedef struct {
    const zm_store_ops_t *ops; //  the backend
    void *state;               //  what its open gave
    atomic_int refs;           //  handles on it
} s_backend_t;

struct _zm_store_t {
    s_backend_t *backend;                 //  shared
    char database[ZM_STORE_MAX_NAME + 1]; //  default database of this handle
    char ns[S_NS_MAX];                    //  its default table's namespace prefix
    size_t ns_size;                       //  its bytes
};

//  One record of a list and what it owns
typedef struct {
    zm_record_t record; //  what the caller reads
    zm_msg_t *meta;     //  its metadata (owned)
    char *block;        //  its key and value, one allocation
} s_slot_t;

struct _zm_records_t {
    s_slot_t *slots;    //  records: one (inline) or an array
    size_t count;       //  records held
    size_t capacity;    //  slots allocated
    s_slot_t one;       //  the first slot: no array for one record
    char *inline_block; //  the first record's block, in this allocation
};

//  One batch entry before it is applied
typedef struct {
    char key[S_KEY_MAX];               //  database \0 table \0 key, or only key when
    size_t key_size;                   //  the database is the handle's (ns_default)
    bool ns_default;                   //  the entry named no database
    char table[ZM_STORE_MAX_NAME + 1]; //  with ns_default: the table
    void *value;                       //  a write: the record; NULL: a delete
    size_t value_size;                 //  its bytes
    int64_t ttl_ms;                    //  a write: relative expiry, applied at commit
    int64_t expires;                   //  a write: absolute expiry
    uint64_t version;                  //  ZM_STORE_ANY, ZM_STORE_ABSENT or a version
    bool must_exist;                   //  a single delete: ZM_ENOTFOUND when absent
} s_item_t;

struct _zm_batch_t {
    s_item_t *items; //  entries
    size_t count;    //  entries used
    size_t capacity; //  entries allocated
    zhashx_t *keys;  //  "where" + key of every entry: a key once per batch
};

//  What zm_store_check reads while a backend applies a batch
typedef struct {
    const s_item_t *items; //  the batch
    int64_t now;           //  Unix ms of the commit
} s_checks_t;

//  --------------------------------------------------------------------------
//  Names, keys and records

static inline void
s_put_be (uint8_t *p, uint64_t value, int bytes)
{
    for (int at = bytes - 1; at >= 0; at--, value >>= 8)
        p[at] = (uint8_t)value;
}

static inline uint64_t
s_get_be64 (const uint8_t *p)
{
    uint64_t value;
    memcpy (&value, p, sizeof value);
    return be64toh (value);
}

static inline uint32_t
s_get_be32 (const uint8_t *p)
{
    uint32_t value;
    memcpy (&value, p, sizeof value);
    return be32toh (value);
}

//  Is name a valid database or table name?
static bool
s_name_ok (const char *name)
{
    size_t len = name ? strlen (name) : 0;
    if (len == 0 || len > ZM_STORE_MAX_NAME)
        return false;
    for (size_t at = 0; at < len; at++) {
        char c = name[at];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '.' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

//  Check a key: 0, ZM_EINVAL (NULL or empty) or ZM_ETOOBIG
static int
s_key_check (const char *key, bool allow_empty)
{
    if (!key)
        return ZM_EINVAL;
    size_t len = strnlen (key, ZM_STORE_MAX_KEY + 1);
    if (len == 0 && !allow_empty)
        return ZM_EINVAL;
    return len > ZM_STORE_MAX_KEY ? ZM_ETOOBIG : 0;
}

//  The namespace prefix "database\0table\0" into out; its length, or 0
//  when a name is invalid
static size_t
s_ns (const zm_store_t *self, const char *database, const char *table, char *out)
{
    if (!database && !table && self->ns_size) { //  the usual case, checked once
        memcpy (out, self->ns, self->ns_size);
        return self->ns_size;
    }
    database = database ? database : self->database;
    table = table ? table : ZM_STORE_TABLE;
    if (!s_name_ok (database) || !s_name_ok (table))
        return 0;
    size_t db_len = strlen (database), table_len = strlen (table);
    memcpy (out, database, db_len + 1);
    memcpy (out + db_len + 1, table, table_len + 1);
    return db_len + table_len + 2;
}

//  Bytes of a stored record's head and version, or 0 when it is not a record
static inline size_t
s_head_size (const uint8_t *data, size_t size)
{
    if (!data || size < 2 || (data[0] & S_FORMAT_MASK) != S_FORMAT)
        return 0;
    size_t head = 2 + ((data[0] & S_VSIZE_MASK) >> 2);
    return head <= size ? head : 0;
}

int64_t
zm_store_expires (const void *value, size_t value_size)
{
    const uint8_t *data = (const uint8_t *)value;
    size_t head = s_head_size (data, value_size);
    if (!head)
        return -1;
    if (!(data[0] & S_EXPIRES))
        return 0;
    if (value_size - head < 8)
        return -1;
    int64_t expires = (int64_t)s_get_be64 (data + head);
    return expires > 0 ? expires : -1;
}

//  A stored record's parts: its metadata and value. False when the bytes
//  are not a record.
static bool
s_parts (const void *stored, size_t size, const uint8_t **meta_p, size_t *meta_size_p,
         const uint8_t **value_p, size_t *value_size_p)
{
    const uint8_t *data = (const uint8_t *)stored;
    if (zm_store_expires (stored, size) < 0)
        return false;
    size_t at = s_head_size (data, size) + (data[0] & S_EXPIRES ? 8 : 0);
    size_t meta_size = 0;
    if (data[0] & S_META) {
        if (size - at < 4)
            return false;
        meta_size = s_get_be32 (data + at);
        at += 4;
        if (meta_size == 0 || meta_size > size - at)
            return false;
    }
    *meta_p = data + at;
    *meta_size_p = meta_size;
    *value_p = data + at + meta_size;
    *value_size_p = size - at - meta_size;
    return true;
}

//  The version of a stored record (0 when the bytes are not a record)
static uint64_t
s_version (const void *value, size_t value_size)
{
    if (zm_store_expires (value, value_size) < 0)
        return 0;
    const uint8_t *data = (const uint8_t *)value;
    size_t head = s_head_size (data, value_size);
    uint64_t version = 0;
    for (size_t at = 1; at < head; at++)
        version = version << 8 | data[at];
    return version;
}

static inline bool
s_live (const void *value, size_t value_size, int64_t now)
{
    int64_t expires = zm_store_expires (value, value_size);
    return expires == 0 || expires > now;
}

//  Build a stored record: metadata checked and packed, value copied. The
//  version is set at commit (zm_store_check).
static int
s_record_new (const void *value, size_t size, const zm_msg_t *metadata, bool expires,
              void **record_p, size_t *record_size_p)
{
    if (size > ZM_STORE_MAX_VALUE)
        return ZM_ETOOBIG;
    if (size && !value)
        return ZM_EINVAL;
    void *packed = NULL;
    size_t packed_size = 0;
    if (metadata) {
        const char *reason = NULL;
        int rc = zm_wire_check_metadata (zm_msg_root (metadata), &reason);
        if (rc)
            return rc == ZM_ETOOBIG ? rc : ZM_EINVAL;
        if (zm_msg_encode (metadata, ZM_CT_MSGPACK, &packed, &packed_size))
            return ZM_ENOMEM;
    }
    if (packed_size && packed_size > UINT32_MAX - 1) {
        free (packed);
        return ZM_ETOOBIG;
    }
    size_t header = S_SLOT + (expires ? 8 : 0) + (packed_size ? 4 : 0);
    uint8_t *record = (uint8_t *)malloc (header + packed_size + size + 1);
    if (!record) {
        free (packed);
        return ZM_ENOMEM;
    }
    record[0] = S_FORMAT | S_VSIZE_MASK | (expires ? S_EXPIRES : 0) | (packed_size ? S_META : 0);
    memset (record + 1, 0, header - 1); //  version (and expiry): set at commit
    if (packed_size) {
        s_put_be (record + header - 4, packed_size, 4);
        memcpy (record + header, packed, packed_size);
    }
    if (size)
        memcpy (record + header + packed_size, value, size);
    free (packed);
    *record_p = record;
    *record_size_p = header + packed_size + size;
    return 0;
}

//  --------------------------------------------------------------------------
//  Record lists

static void
s_records_free (zm_records_t *self)
{
    for (size_t index = 0; index < self->count; index++) {
        zm_msg_destroy (&self->slots[index].meta);
        if (self->slots[index].block != self->inline_block)
            free (self->slots[index].block);
    }
    if (self->slots != &self->one)
        free (self->slots);
    free (self);
}

//  A new list with room for a first block of block_size bytes in the same
//  allocation (an exact read costs one malloc, as a raw read's copy does)
static zm_records_t *
s_records_new (size_t block_size)
{
    zm_records_t *self = (zm_records_t *)malloc (sizeof *self + block_size);
    if (self) {
        self->slots = &self->one;
        self->count = 0;
        self->capacity = 1;
        self->inline_block = block_size ? (char *)(self + 1) : NULL;
    }
    return self;
}

void
zm_records_destroy (zm_records_t **self_p)
{
    if (self_p && *self_p) {
        s_records_free (*self_p);
        *self_p = NULL;
    }
}

size_t
zm_records_size (const zm_records_t *self)
{
    return self ? self->count : 0;
}

const zm_record_t *
zm_records_at (const zm_records_t *self, size_t index)
{
    return self && index < self->count ? &self->slots[index].record : NULL;
}

//  Add a record: key (key_size bytes, without the namespace), the stored
//  record, with its value and metadata unless keys_only. 0, or ZM_EIO when
//  the stored bytes are not a record, ZM_ENOMEM.
static int
s_records_add (zm_records_t **self_p, const void *key, size_t key_size, const void *stored,
               size_t stored_size, bool keys_only)
{
    const uint8_t *meta_data, *value_data;
    size_t meta_size, value_size;
    if (!s_parts (stored, stored_size, &meta_data, &meta_size, &value_data, &value_size))
        return ZM_EIO;
    if (keys_only)
        value_size = 0;
    size_t block_size = key_size + 1 + value_size + 1;
    if (!*self_p && (*self_p = s_records_new (block_size)) == NULL)
        return ZM_ENOMEM;
    zm_records_t *self = *self_p;
    if (self->count == self->capacity) {
        size_t capacity = self->capacity < 8 ? 8 : self->capacity * 2;
        s_slot_t *slots = (s_slot_t *)(self->slots == &self->one
                                           ? malloc (capacity * sizeof *slots)
                                           : realloc (self->slots, capacity * sizeof *slots));
        if (!slots)
            return ZM_ENOMEM;
        if (self->slots == &self->one)
            memcpy (slots, &self->one, self->count * sizeof *slots);
        self->slots = slots;
        self->capacity = capacity;
    }
    char *block =
        self->count == 0 && self->inline_block ? self->inline_block : (char *)malloc (block_size);
    if (!block)
        return ZM_ENOMEM;
    memcpy (block, key, key_size);
    block[key_size] = 0;
    char *value = block + key_size + 1;
    if (value_size)
        memcpy (value, value_data, value_size);
    value[value_size] = 0;
    zm_msg_t *meta = NULL;
    if (!keys_only && meta_size &&
        zm_msg_decode (ZM_CT_MSGPACK, meta_data, meta_size, &meta, NULL)) {
        if (block != self->inline_block)
            free (block);
        return ZM_EIO;
    }
    s_slot_t *slot = &self->slots[self->count];
    slot->record.key = block;
    slot->record.value = value;
    slot->record.size = value_size;
    slot->record.metadata = meta;
    slot->record.expires = zm_store_expires (stored, stored_size);
    slot->record.version = s_version (stored, stored_size);
    slot->meta = meta;
    slot->block = block;
    self->count++;
    return 0;
}

//  --------------------------------------------------------------------------
//  Stores

zm_store_t *
zm_store_open (const zm_store_ops_t *ops, const char *path, size_t map_size, const char *database,
               int *rc_p)
{
    int rc = 0;
    zm_store_t *self = NULL;
    s_backend_t *backend = NULL;
    database = database ? database : ZM_STORE_DATABASE;
    if (!ops || !ops->open || !ops->scan || !ops->apply || !s_name_ok (database)) {
        rc = ZM_EINVAL;
        goto fail;
    }
    self = (zm_store_t *)calloc (1, sizeof *self);
    backend = (s_backend_t *)calloc (1, sizeof *backend);
    if (!self || !backend) {
        rc = ZM_ENOMEM;
        goto fail;
    }
    rc = ops->open (path, map_size, &backend->state);
    if (rc)
        goto fail;
    backend->ops = ops;
    atomic_init (&backend->refs, 1);
    self->backend = backend;
    snprintf (self->database, sizeof self->database, "%s", database);
    self->ns_size = s_ns (self, NULL, ZM_STORE_TABLE, self->ns);
    if (rc_p)
        *rc_p = 0;
    return self;
fail:
    free (backend);
    free (self);
    if (rc_p)
        *rc_p = rc;
    return NULL;
}

zm_store_t *
zm_store_with_database (zm_store_t *self, const char *database)
{
    if (!self || !s_name_ok (database))
        return NULL;
    zm_store_t *copy = (zm_store_t *)calloc (1, sizeof *copy);
    if (!copy)
        return NULL;
    copy->backend = self->backend;
    atomic_fetch_add (&copy->backend->refs, 1);
    snprintf (copy->database, sizeof copy->database, "%s", database);
    copy->ns_size = s_ns (copy, NULL, ZM_STORE_TABLE, copy->ns);
    return copy;
}

void
zm_store_destroy (zm_store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zm_store_t *self = *self_p;
    s_backend_t *backend = self->backend;
    if (atomic_fetch_sub (&backend->refs, 1) == 1) {
        if (backend->ops->close)
            backend->ops->close (&backend->state);
        free (backend);
    }
    free (self);
    *self_p = NULL;
}

const char *
zm_store_backend (const zm_store_t *self)
{
    return self ? self->backend->ops->name : NULL;
}

const char *
zm_store_database (const zm_store_t *self)
{
    return self ? self->database : NULL;
}

//  A scan's selection and where its records go
typedef struct {
    zm_records_t *records; //  the result
    size_t ns_size;        //  bytes of the namespace prefix to strip
    const char *exact;     //  only this key (an exact read), or NULL
    size_t exact_size;     //  its bytes
    const char *suffix;    //  only keys that end with it, or NULL
    size_t suffix_size;    //  its bytes
    size_t offset;         //  matches still to skip
    size_t limit;          //  matches wanted; 0: all
    bool keys_only;        //  no values, no metadata
    int64_t now;           //  Unix ms: what expired is not live (0: not read yet)
} s_scan_t;

static int
s_visit (void *arg, const void *key, size_t key_size, const void *value, size_t value_size)
{
    s_scan_t *scan = (s_scan_t *)arg;
    const char *own = (const char *)key + scan->ns_size;
    size_t own_size = key_size - scan->ns_size;
    if (scan->exact && (own_size != scan->exact_size || memcmp (own, scan->exact, own_size)))
        return -1; //  every key here starts with it: the shortest, itself, came first
    if (scan->suffix && (own_size < scan->suffix_size || memcmp (own + own_size - scan->suffix_size,
                                                                 scan->suffix, scan->suffix_size)))
        return 0;
    int64_t expires = zm_store_expires (value, value_size);
    if (expires && scan->now == 0)
        scan->now = (int64_t)zclock_time (); //  once, and only when a record can expire
    if (expires < 0 || (expires && expires <= scan->now))
        return 0;
    if (scan->offset) {
        scan->offset--;
        return 0;
    }
    int rc = s_records_add (&scan->records, own, own_size, value, value_size, scan->keys_only);
    if (rc)
        return rc;
    return scan->limit && scan->records->count >= scan->limit ? -1 : 0;
}

//  Scan the namespace for keys starting with prefix, as scan says
static int
s_scan (zm_store_t *self, const char *database, const char *table, const char *prefix,
        s_scan_t *scan, zm_records_t **records_p)
{
    char start[S_KEY_MAX];
    size_t ns_size = s_ns (self, database, table, start);
    if (!ns_size)
        return ZM_EINVAL;
    size_t prefix_size = prefix ? strlen (prefix) : 0;
    memcpy (start + ns_size, prefix ? prefix : "", prefix_size);
    scan->ns_size = ns_size;
    scan->now = 0;        //  the clock is read when a record has an expiry
    scan->records = NULL; //  made by the first record
    s_backend_t *backend = self->backend;
    const zm_store_ops_t *ops = backend->ops;
    int rc = scan->exact && ops->get
                 ? ops->get (backend->state, start, ns_size + prefix_size, s_visit, scan)
                 : ops->scan (backend->state, start, ns_size + prefix_size, s_visit, scan);
    if (rc) {
        zm_records_destroy (&scan->records);
        return rc;
    }
    if (!scan->records && !scan->exact && (scan->records = s_records_new (0)) == NULL)
        return ZM_ENOMEM;
    *records_p = scan->records;
    return 0;
}

int
zm_store_read (zm_store_t *self, const char *key, const zm_read_opts_t *opts,
               zm_records_t **records_p)
{
    static const zm_read_opts_t defaults = {0};
    opts = opts ? opts : &defaults;
    bool many = opts->prefix || opts->suffix;
    if (!self || !records_p)
        return ZM_EINVAL;
    int rc = s_key_check (key, many);
    if (rc)
        return rc;
    s_scan_t scan = {.offset = opts->offset, .limit = opts->limit};
    if (!many) {
        scan.exact = key;
        scan.exact_size = strlen (key);
        scan.offset = 0;
        scan.limit = 1;
    }
    else if (opts->suffix) { //  with prefix too: the key starts and ends with it
        scan.suffix = key;
        scan.suffix_size = strlen (key);
    }
    zm_records_t *records = NULL;
    rc = s_scan (self, opts->database, opts->table, opts->prefix || !many ? key : NULL, &scan,
                 &records);
    if (rc)
        return rc;
    if (!many && !records)
        return ZM_ENOTFOUND;
    *records_p = records;
    return 0;
}

int
zm_store_list (zm_store_t *self, const zm_list_opts_t *opts, zm_records_t **keys_p)
{
    static const zm_list_opts_t defaults = {0};
    opts = opts ? opts : &defaults;
    if (!self || !keys_p)
        return ZM_EINVAL;
    int rc = 0;
    if ((opts->prefix && (rc = s_key_check (opts->prefix, true)) != 0) ||
        (opts->suffix && (rc = s_key_check (opts->suffix, true)) != 0))
        return rc;
    s_scan_t scan = {.offset = opts->offset, .limit = opts->limit, .keys_only = true};
    if (opts->suffix && *opts->suffix) {
        scan.suffix = opts->suffix;
        scan.suffix_size = strlen (opts->suffix);
    }
    return s_scan (self, opts->database, opts->table, opts->prefix, &scan, keys_p);
}

int
zm_store_sweep (zm_store_t *self, size_t max)
{
    if (!self)
        return ZM_EINVAL;
    s_backend_t *backend = self->backend;
    if (!backend->ops->sweep)
        return 0;
    return backend->ops->sweep (backend->state, (int64_t)zclock_time (), max);
}

//  --------------------------------------------------------------------------
//  Batches

zm_batch_t *
zm_batch_new (void)
{
    return (zm_batch_t *)calloc (1, sizeof (zm_batch_t));
}

void
zm_batch_destroy (zm_batch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zm_batch_t *self = *self_p;
    for (size_t index = 0; index < self->count; index++)
        free (self->items[index].value);
    free (self->items);
    zhashx_destroy (&self->keys);
    free (self);
    *self_p = NULL;
}

size_t
zm_batch_size (const zm_batch_t *self)
{
    return self ? self->count : 0;
}

//  An entry's namespace and key as one string, into out (S_KEY_MAX + 4
//  bytes): names hold no \x01 and none starts with \x02; keys hold no NUL
static const char *
s_where (const s_item_t *item, char *out)
{
    size_t at = 0;
    if (item->ns_default) {
        out[at++] = '\x02';
        size_t len = strlen (item->table);
        memcpy (out + at, item->table, len);
        at += len;
        out[at++] = '\x01';
    }
    for (size_t index = 0; index < item->key_size; index++)
        out[at++] = item->key[index] ? item->key[index] : '\x01';
    out[at] = 0;
    return out;
}

//  A new entry for key in database/table (NULL database: the committing
//  handle's). Checks the names and the key; refuses a key twice.
static int
s_batch_add (zm_batch_t *self, const char *database, const char *table, const char *key,
             s_item_t **item_p)
{
    if (!self)
        return ZM_EINVAL;
    int rc = s_key_check (key, false);
    if (rc)
        return rc;
    table = table ? table : ZM_STORE_TABLE;
    if ((database && !s_name_ok (database)) || !s_name_ok (table))
        return ZM_EINVAL;
    s_item_t item = {.ns_default = !database};
    size_t key_len = strlen (key);
    if (database) {
        size_t db_len = strlen (database), table_len = strlen (table);
        memcpy (item.key, database, db_len + 1);
        memcpy (item.key + db_len + 1, table, table_len + 1);
        memcpy (item.key + db_len + table_len + 2, key, key_len);
        item.key_size = db_len + table_len + 2 + key_len;
    }
    else {
        snprintf (item.table, sizeof item.table, "%s", table);
        memcpy (item.key, key, key_len);
        item.key_size = key_len;
    }
    //  A key once per batch (the order of two entries would matter),
    //  through a hash from the second entry on
    char where[S_KEY_MAX + 4];
    if (self->count == 1) {
        if ((self->keys = zhashx_new ()) == NULL)
            return ZM_ENOMEM;
        if (zhashx_insert (self->keys, s_where (&self->items[0], where), (void *)1)) {
            zhashx_destroy (&self->keys);
            return ZM_ENOMEM;
        }
    }
    if (self->keys && zhashx_lookup (self->keys, s_where (&item, where)))
        return ZM_EINVAL;
    if (self->count == self->capacity) {
        size_t capacity = self->capacity ? self->capacity * 2 : 4;
        s_item_t *items = (s_item_t *)realloc (self->items, capacity * sizeof *items);
        if (!items)
            return ZM_ENOMEM;
        self->items = items;
        self->capacity = capacity;
    }
    if (self->keys && zhashx_insert (self->keys, where, (void *)1))
        return ZM_ENOMEM;
    self->items[self->count] = item;
    *item_p = &self->items[self->count];
    return 0;
}

int
zm_batch_write (zm_batch_t *self, const char *key, const void *value, size_t size,
                const zm_write_opts_t *opts)
{
    static const zm_write_opts_t defaults = {0};
    opts = opts ? opts : &defaults;
    if (opts->ttl_ms < 0 || opts->expires < 0 || (opts->ttl_ms && opts->expires) ||
        opts->ttl_ms > ZM_STORE_MAX_TTL || opts->expires > ZM_STORE_MAX_TTL)
        return ZM_EINVAL;
    void *record = NULL;
    size_t record_size = 0;
    int rc = s_record_new (value, size, opts->metadata, opts->ttl_ms || opts->expires, &record,
                           &record_size);
    if (rc)
        return rc;
    s_item_t *item = NULL;
    rc = s_batch_add (self, opts->database, opts->table, key, &item);
    if (rc) {
        free (record);
        return rc;
    }
    item->value = record;
    item->value_size = record_size;
    item->ttl_ms = opts->ttl_ms;
    item->expires = opts->expires;
    item->version = opts->version;
    self->count++;
    return 0;
}

int
zm_batch_delete (zm_batch_t *self, const char *key, const zm_delete_opts_t *opts)
{
    static const zm_delete_opts_t defaults = {0};
    opts = opts ? opts : &defaults;
    if (opts->version == ZM_STORE_ABSENT)
        return ZM_EINVAL; //  deleting what must not exist: nothing to do
    s_item_t *item = NULL;
    int rc = s_batch_add (self, opts->database, opts->table, key, &item);
    if (rc)
        return rc;
    item->version = opts->version;
    self->count++;
    return 0;
}

int
zm_store_check (const void *checks, size_t index, zm_store_entry_t *entry, const void *current,
                size_t current_size)
{
    const s_checks_t *batch = (const s_checks_t *)checks;
    const s_item_t *item = &batch->items[index];
    uint64_t version = current ? s_version (current, current_size) : 0;
    bool live = current && s_live (current, current_size, batch->now);
    if (item->version == ZM_STORE_ABSENT && live)
        return ZM_ECONFLICT;
    if (item->version != ZM_STORE_ANY && item->version != ZM_STORE_ABSENT)
        if (!live || version != item->version)
            return live || !item->must_exist ? ZM_ECONFLICT : ZM_ENOTFOUND;
    if (item->must_exist && !live)
        return ZM_ENOTFOUND;
    if (entry->value) { //  the version, in as few bytes as it takes, before the expiry
        uint8_t *built = (uint8_t *)item->value;
        uint64_t next = version + 1;
        int bytes = 1;
        while (bytes < 8 && next >> (8 * bytes))
            bytes++;
        uint8_t *head = built + (8 - bytes);
        head[0] = (uint8_t)((built[0] & ~S_VSIZE_MASK) | (bytes - 1) << 2);
        s_put_be (head + 1, next, bytes);
        entry->value = head;
        entry->value_size = item->value_size - (size_t)(8 - bytes);
    }
    return 0;
}

//  Apply batch with self's default database; versions_p (when given)
//  gets the version of the first entry
static int
s_commit (zm_store_t *self, const zm_batch_t *batch, uint64_t *version_p)
{
    if (!self || !batch)
        return ZM_EINVAL;
    if (batch->count == 0)
        return 0;
    int64_t now = (int64_t)zclock_time ();
    zm_store_entry_t stack[8];
    char stack_keys[8][S_KEY_MAX];
    zm_store_entry_t *entries =
        batch->count <= 8 ? stack : (zm_store_entry_t *)calloc (batch->count, sizeof *entries);
    char (*keys)[S_KEY_MAX] =
        batch->count <= 8 ? stack_keys : (char (*)[S_KEY_MAX])malloc (batch->count * sizeof *keys);
    int rc = entries && keys ? 0 : ZM_ENOMEM;
    for (size_t index = 0; rc == 0 && index < batch->count; index++) {
        const s_item_t *item = &batch->items[index];
        zm_store_entry_t *entry = &entries[index];
        if (item->ns_default) {
            size_t ns_size = s_ns (self, NULL, item->table, keys[index]);
            memcpy (keys[index] + ns_size, item->key, item->key_size);
            entry->key = keys[index];
            entry->key_size = ns_size + item->key_size;
        }
        else {
            entry->key = item->key;
            entry->key_size = item->key_size;
        }
        entry->value = item->value;
        entry->value_size = item->value_size;
        entry->expires = item->ttl_ms ? now + item->ttl_ms : item->expires;
        if (entry->expires) //  the batch's records are ours to fill in
            s_put_be ((uint8_t *)entry->value + S_SLOT, (uint64_t)entry->expires, 8);
    }
    s_checks_t checks = {batch->items, now};
    if (rc == 0) {
        s_backend_t *backend = self->backend;
        rc = backend->ops->apply (backend->state, entries, batch->count, &checks);
    }
    if (rc == 0 && version_p)
        *version_p = s_version (entries[0].value, entries[0].value_size);
    if (entries != stack)
        free (entries);
    if (keys != stack_keys)
        free (keys);
    return rc;
}

int
zm_store_commit (zm_store_t *self, const zm_batch_t *batch)
{
    return s_commit (self, batch, NULL);
}

int
zm_store_write (zm_store_t *self, const char *key, const void *value, size_t size,
                const zm_write_opts_t *opts, uint64_t *version_p)
{
    if (!self)
        return ZM_EINVAL;
    zm_batch_t batch = {0};
    int rc = zm_batch_write (&batch, key, value, size, opts);
    if (rc == 0)
        rc = s_commit (self, &batch, version_p);
    free (batch.count ? batch.items[0].value : NULL);
    free (batch.items);
    zhashx_destroy (&batch.keys);
    return rc;
}

int
zm_store_delete (zm_store_t *self, const char *key, const zm_delete_opts_t *opts)
{
    if (!self)
        return ZM_EINVAL;
    zm_batch_t batch = {0};
    int rc = zm_batch_delete (&batch, key, opts);
    if (rc == 0) {
        batch.items[0].must_exist = true;
        rc = s_commit (self, &batch, NULL);
    }
    free (batch.items);
    zhashx_destroy (&batch.keys);
    return rc;
}
