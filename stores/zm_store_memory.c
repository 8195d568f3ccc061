/*  =========================================================================
    zm_store_memory - the in-memory backend of the store

    The same semantics as LMDB in this process's memory: a sorted array of
    (key, record) under a read-write lock. A lookup or a scan's start is a
    binary search; an insert moves the tail of the array (memmove of
    pointers: fast up to hundreds of thousands of keys). A batch checks
    every entry first, allocates everything it needs, then changes the
    array: all or nothing, also when memory runs out. A sweep is one pass
    over the array. Each open is a store of its own; path is ignored.
    =========================================================================
*/
#include "zm_internal.h"
#include "zmicro/store.h"

typedef struct {
    void *key;      //  full key
    size_t key_size;
    void *value;    //  stored record
    size_t value_size;
} s_pair_t;

typedef struct {
    s_pair_t *pairs;        //  sorted by key, bytewise
    size_t count;           //  pairs used
    size_t capacity;        //  pairs allocated
    pthread_rwlock_t lock;  //  readers scan, a batch or a sweep writes
} s_memory_t;

static int
s_compare (const void *a, size_t a_size, const void *b, size_t b_size)
{
    int rc = memcmp (a, b, a_size < b_size ? a_size : b_size);
    return rc ? rc : a_size < b_size ? -1 : a_size > b_size ? 1 : 0;
}

//  Index of the first pair whose key is >= key
static size_t
s_lower (const s_memory_t *self, const void *key, size_t key_size)
{
    size_t low = 0, high = self->count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (s_compare (self->pairs[mid].key, self->pairs[mid].key_size, key, key_size) < 0)
            low = mid + 1;
        else
            high = mid;
    }
    return low;
}

//  The pair holding key, or NULL
static s_pair_t *
s_find (s_memory_t *self, const void *key, size_t key_size)
{
    size_t at = s_lower (self, key, key_size);
    if (at < self->count && self->pairs[at].key_size == key_size
        && memcmp (self->pairs[at].key, key, key_size) == 0)
        return &self->pairs[at];
    return NULL;
}

static int
s_open (const char *path, size_t map_size, void **state_p)
{
    s_memory_t *self = (s_memory_t *) calloc (1, sizeof *self);
    if (!self)
        return ZM_ENOMEM;
    pthread_rwlock_init (&self->lock, NULL);
    *state_p = self;
    return 0;
}

static void
s_close (void **state_p)
{
    s_memory_t *self = (s_memory_t *) *state_p;
    *state_p = NULL;
    if (!self)
        return;
    for (size_t index = 0; index < self->count; index++) {
        free (self->pairs[index].key);
        free (self->pairs[index].value);
    }
    free (self->pairs);
    pthread_rwlock_destroy (&self->lock);
    free (self);
}

static int
s_scan (void *state, const void *prefix, size_t prefix_size, zm_store_visit_fn *visit, void *arg)
{
    s_memory_t *self = (s_memory_t *) state;
    pthread_rwlock_rdlock (&self->lock);
    int result = 0;
    for (size_t at = s_lower (self, prefix, prefix_size); at < self->count; at++) {
        const s_pair_t *pair = &self->pairs[at];
        if (pair->key_size < prefix_size || memcmp (pair->key, prefix, prefix_size) != 0)
            break;
        result = visit (arg, pair->key, pair->key_size, pair->value, pair->value_size);
        if (result)
            break;
    }
    pthread_rwlock_unlock (&self->lock);
    return result > 0 ? result : 0;
}

static int
s_get (void *state, const void *key, size_t key_size, zm_store_visit_fn *visit, void *arg)
{
    s_memory_t *self = (s_memory_t *) state;
    pthread_rwlock_rdlock (&self->lock);
    const s_pair_t *pair = s_find (self, key, key_size);
    int result = pair ? visit (arg, pair->key, pair->key_size, pair->value, pair->value_size) : 0;
    pthread_rwlock_unlock (&self->lock);
    return result > 0 ? result : 0;
}

static int
s_apply (void *state, zm_store_entry_t *entries, size_t count, const void *checks)
{
    s_memory_t *self = (s_memory_t *) state;
    pthread_rwlock_wrlock (&self->lock);
    //  1. Every condition, against the state before the batch (keys are
    //  distinct, so no entry sees another's change)
    int rc = 0;
    for (size_t index = 0; rc == 0 && index < count; index++) {
        const s_pair_t *pair = s_find (self, entries[index].key, entries[index].key_size);
        rc = zm_store_check (checks, index, &entries[index], pair ? pair->value : NULL,
                             pair ? pair->value_size : 0);
    }
    //  2. Everything that can fail: room for new keys, copies of values
    size_t grow = 0;
    for (size_t index = 0; rc == 0 && index < count; index++)
        grow += entries[index].value != NULL;
    if (rc == 0 && self->count + grow > self->capacity) {
        size_t capacity = self->capacity ? self->capacity : 64;
        while (capacity < self->count + grow)
            capacity *= 2;
        s_pair_t *pairs = (s_pair_t *) realloc (self->pairs, capacity * sizeof *pairs);
        if (pairs) {
            self->pairs = pairs;
            self->capacity = capacity;
        }
        else
            rc = ZM_ENOMEM;
    }
    s_pair_t stack[8];
    s_pair_t *copies = count <= 8 ? stack : (s_pair_t *) calloc (count, sizeof *copies);
    if (rc == 0 && !copies)
        rc = ZM_ENOMEM;
    for (size_t index = 0; rc == 0 && index < count; index++) {
        zm_store_entry_t *entry = &entries[index];
        copies[index] = (s_pair_t) {NULL, entry->key_size, NULL, entry->value_size};
        if (!entry->value)
            continue;
        copies[index].key = malloc (entry->key_size);
        copies[index].value = malloc (entry->value_size ? entry->value_size : 1);
        if (!copies[index].key || !copies[index].value) {
            rc = ZM_ENOMEM;
            for (size_t undo = 0; undo <= index; undo++) {
                free (copies[undo].key);
                free (copies[undo].value);
            }
            break;
        }
        memcpy (copies[index].key, entry->key, entry->key_size);
        memcpy (copies[index].value, entry->value, entry->value_size);
    }
    //  3. Change the array: nothing here can fail
    for (size_t index = 0; rc == 0 && index < count; index++) {
        zm_store_entry_t *entry = &entries[index];
        size_t at = s_lower (self, entry->key, entry->key_size);
        bool exists = at < self->count && self->pairs[at].key_size == entry->key_size
                      && memcmp (self->pairs[at].key, entry->key, entry->key_size) == 0;
        if (entry->value && exists) {
            free (self->pairs[at].value);
            free (copies[index].key);
            self->pairs[at].value = copies[index].value;
            self->pairs[at].value_size = copies[index].value_size;
        }
        else if (entry->value) {
            memmove (&self->pairs[at + 1], &self->pairs[at],
                     (self->count - at) * sizeof (s_pair_t));
            self->pairs[at] = copies[index];
            self->count++;
        }
        else if (exists) {
            free (self->pairs[at].key);
            free (self->pairs[at].value);
            memmove (&self->pairs[at], &self->pairs[at + 1],
                     (self->count - at - 1) * sizeof (s_pair_t));
            self->count--;
        }
    }
    if (copies != stack)
        free (copies);
    pthread_rwlock_unlock (&self->lock);
    return rc;
}

static int
s_sweep (void *state, int64_t now, size_t max)
{
    s_memory_t *self = (s_memory_t *) state;
    pthread_rwlock_wrlock (&self->lock);
    size_t kept = 0;
    int removed = 0;
    for (size_t index = 0; index < self->count; index++) {
        s_pair_t *pair = &self->pairs[index];
        int64_t expires = zm_store_expires (pair->value, pair->value_size);
        if (expires > 0 && expires <= now && (max == 0 || (size_t) removed < max)) {
            free (pair->key);
            free (pair->value);
            removed++;
        }
        else
            self->pairs[kept++] = *pair;
    }
    self->count = kept;
    pthread_rwlock_unlock (&self->lock);
    return removed;
}

const zm_store_ops_t zm_store_memory = {
    .name = "memory",
    .open = s_open,
    .close = s_close,
    .scan = s_scan,
    .get = s_get,
    .apply = s_apply,
    .sweep = s_sweep,
};
