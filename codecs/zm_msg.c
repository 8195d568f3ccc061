/*  =========================================================================
    zm_msg - codec-neutral message bodies: life cycle, arena, getters,
    builders, and the content-type table that picks a codec

    The representation is in zm_msg_internal.h. This file owns everything
    that does not depend on a wire format; zm_codec_msgpack.c,
    zm_codec_json.c and zm_codec_raw.c turn bytes into trees and back.
    =========================================================================
*/
#include "zm_msg_internal.h"

#include <pthread.h>
#include <strings.h>

const char zm_msg_empty[1] = "";

struct _zm_chunk_t {
    zm_chunk_t *next;         //  older chunk
    size_t spare;             //  unused, keeps data 16-byte aligned
    _Alignas(16) char data[]; //  the memory handed out
};

#define S_NEW_ARENA 640    //  inline arena of zm_msg_new: fits a small body
#define S_NEW_PAIRS 8      //  room in the root map of zm_msg_new
#define S_FIRST_CHUNK 4096 //  first chunk chained when the arena fills
#define S_MAX_CHUNK 65536  //  chunks double up to this size
#define S_BIG 1024         //  allocations this large get a chunk of their own

//  --------------------------------------------------------------------------
//  Arena

zm_msg_t *
zm_msg_alloc (size_t arena_size)
{
    if (arena_size > SIZE_MAX / 2)
        return NULL;
    arena_size = (arena_size + 15) & ~(size_t)15;
    zm_msg_t *self = (zm_msg_t *)malloc (sizeof (zm_msg_t) + arena_size);
    if (!self)
        return NULL;
    memset (self, 0, sizeof (zm_msg_t));
    self->cur = self->arena;
    self->end = self->arena + arena_size;
    self->next_chunk = S_FIRST_CHUNK;
    return self;
}

void *
zm_msg_arena_alloc_slow (zm_msg_t *self, size_t size)
{
    if (size > SIZE_MAX / 2)
        return NULL;
    bool big = size >= S_BIG;
    size_t chunk_size = big ? size : self->next_chunk;
    zm_chunk_t *chunk = (zm_chunk_t *)malloc (sizeof (zm_chunk_t) + chunk_size);
    if (!chunk)
        return NULL;
    chunk->next = self->chunks;
    self->chunks = chunk;
    if (big)
        return chunk->data; //  keep filling the current chunk with small things
    if (self->next_chunk < S_MAX_CHUNK)
        self->next_chunk *= 2;
    self->cur = chunk->data + size;
    self->end = chunk->data + chunk_size;
    return chunk->data;
}

//  Copy len bytes into the arena, NUL-terminated. NULL when out of memory.
static const char *
s_strdup (zm_msg_t *msg, const void *data, size_t len)
{
    if (len == 0)
        return zm_msg_empty;
    char *copy = (char *)zm_msg_arena_alloc (msg, len + 1);
    if (copy) {
        zm_copy (copy, data, len);
        copy[len] = 0;
    }
    return copy;
}

//  Make *val an empty container with room for cap values. Returns 0 or
//  ZM_ENOMEM; *val is untouched on failure.
static int
s_container_init (zm_msg_t *msg, zm_val_t *val, zm_type_t type, int depth, uint32_t cap)
{
    zm_cont_t *cont =
        (zm_cont_t *)zm_msg_arena_alloc (msg, sizeof (zm_cont_t) + (size_t)cap * sizeof (zm_val_t));
    if (!cont)
        return ZM_ENOMEM;
    cont->msg = msg;
    cont->cap = cap;
    cont->spare = 0;
    memset (val, 0, sizeof (*val));
    val->type = (uint8_t)type;
    val->depth = (uint8_t)depth;
    val->v.items = (zm_val_t *)(cont + 1);
    return 0;
}

//  Move a full container's items to an array twice as big
static __attribute__ ((noinline)) int
s_container_grow (zm_val_t *self, uint32_t slots)
{
    zm_cont_t *cont = zm_cont (self);
    uint64_t used = (uint64_t)self->n * slots;
    uint64_t cap = cont->cap < 4 ? 4 * slots : (uint64_t)cont->cap * 2;
    if (cap > UINT32_MAX)
        return ZM_ETOOBIG;
    zm_cont_t *grown = (zm_cont_t *)zm_msg_arena_alloc (
        cont->msg, sizeof (zm_cont_t) + (size_t)cap * sizeof (zm_val_t));
    if (!grown)
        return ZM_ENOMEM;
    grown->msg = cont->msg;
    grown->cap = (uint32_t)cap;
    grown->spare = 0;
    if (used)
        memcpy (grown + 1, self->v.items, (size_t)used * sizeof (zm_val_t));
    self->v.items = (zm_val_t *)(grown + 1);
    return 0;
}

//  Append slots (1 in an array, 2 in a map) to a container; returns the
//  first new slot, uninitialised, or NULL when it cannot grow.
static inline zm_val_t *
s_container_push (zm_val_t *self, uint32_t slots)
{
    size_t used = (size_t)self->n * slots;
    if (used + slots > zm_cont (self)->cap && s_container_grow (self, slots))
        return NULL;
    self->n++;
    return self->v.items + used;
}

//  --------------------------------------------------------------------------
//  Life cycle

zm_msg_t *
zm_msg_new (void)
{
    zm_msg_t *self = zm_msg_alloc (S_NEW_ARENA);
    if (self && s_container_init (self, &self->root, ZM_TYPE_MAP, 1, 2 * S_NEW_PAIRS))
        zm_msg_destroy (&self);
    return self;
}

void
zm_msg_destroy (zm_msg_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zm_msg_t *self = *self_p;
    zm_chunk_t *chunk = self->chunks;
    while (chunk) {
        zm_chunk_t *next = chunk->next;
        free (chunk);
        chunk = next;
    }
    if (self->buffer_free)
        self->buffer_free (self->buffer, self->buffer_hint);
    free (self);
    *self_p = NULL;
}

static void
s_free (void *data, void *hint)
{
    free (data);
}

zm_msg_t *
zm_msg_dup (const zm_msg_t *self)
{
    //  A copy is the canonical encoding read back in place: one buffer, no
    //  second tree walker to keep in step with the first.
    if (!self)
        return NULL;
    void *data = NULL;
    size_t size = 0;
    zm_msg_t *copy = NULL;
    if (zm_msgpack_encode (self, &data, &size))
        return NULL;
    if (zm_msgpack_decode_into (&copy, data, size, false, s_free, NULL, NULL))
        free (data);
    return copy;
}

//  --------------------------------------------------------------------------
//  Codec table

#define S_MAX_CODECS 16

static const zm_codec_t *s_codecs[S_MAX_CODECS];                  //  registered codecs
static atomic_size_t s_ncodecs;                                   //  entries published in s_codecs
static pthread_mutex_t s_codecs_lock = PTHREAD_MUTEX_INITIALIZER; //  serialises writers

//  Does content type ct (maybe with parameters) name the type name?
static bool
s_ct_match (const char *ct, const char *name)
{
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t len = strcspn (ct, ";");
    while (len && (ct[len - 1] == ' ' || ct[len - 1] == '\t'))
        len--;
    return len == strlen (name) && strncasecmp (ct, name, len) == 0;
}

static bool
s_ct_empty (const char *ct)
{
    while (*ct == ' ' || *ct == '\t')
        ct++;
    return *ct == 0 || *ct == ';';
}

const zm_codec_t *
zm_codec_find (const char *content_type)
{
    //  Exact names first, one comparison: this runs for every message
    if (!content_type || content_type == zm_codec_msgpack.content_type)
        return &zm_codec_msgpack;
    if (content_type == zm_codec_raw.content_type) //  a decoder handed out our own name
        return &zm_codec_raw;
    if (content_type == zm_codec_json.content_type)
        return &zm_codec_json;
    static const size_t at = sizeof ("application/") - 1; //  where the three differ
    if (strncmp (content_type, "application/", at) == 0) {
        const zm_codec_t *exact = content_type[at] == 'm'   ? &zm_codec_msgpack
                                  : content_type[at] == 'j' ? &zm_codec_json
                                  : content_type[at] == 'o' ? &zm_codec_raw
                                                            : NULL;
        if (exact && strcmp (content_type + at, exact->content_type + at) == 0)
            return exact;
    }
    if (s_ct_empty (content_type))
        return &zm_codec_msgpack;
    if (s_ct_match (content_type, ZM_CT_MSGPACK))
        return &zm_codec_msgpack;
    if (s_ct_match (content_type, ZM_CT_JSON))
        return &zm_codec_json;
    if (s_ct_match (content_type, ZM_CT_RAW))
        return &zm_codec_raw;
    size_t count = atomic_load_explicit (&s_ncodecs, memory_order_acquire);
    for (size_t index = 0; index < count; index++)
        if (s_ct_match (content_type, s_codecs[index]->content_type))
            return s_codecs[index];
    return NULL;
}

bool
zm_msg_content_type_known (const char *content_type)
{
    return zm_codec_find (content_type) != NULL;
}

int
zm_codec_register (const zm_codec_t *codec)
{
    if (!codec || !codec->content_type || !codec->decode || !codec->encode ||
        s_ct_empty (codec->content_type) || strchr (codec->content_type, ';'))
        return ZM_EINVAL;
    int rc = 0;
    pthread_mutex_lock (&s_codecs_lock);
    size_t count = atomic_load_explicit (&s_ncodecs, memory_order_relaxed);
    if (zm_codec_find (codec->content_type))
        rc = ZM_ECONFLICT;
    else if (count == S_MAX_CODECS)
        rc = ZM_ETOOMANY;
    else {
        s_codecs[count] = codec;
        atomic_store_explicit (&s_ncodecs, count + 1, memory_order_release);
    }
    pthread_mutex_unlock (&s_codecs_lock);
    return rc;
}

int
zm_msg_decode_check (const void *data, size_t size, zm_msg_t **msg_p, const char **err_p)
{
    if (!msg_p || (!data && size))
        return zm_msg_fail (err_p, ZM_EINVAL, "no message pointer or no data");
    if (size > ZM_MSG_MAX_SIZE)
        return zm_msg_fail (err_p, ZM_ETOOBIG, "body larger than 64 MiB");
    return 0;
}

//  --------------------------------------------------------------------------
//  Decode and encode through the table

int
zm_msg_decode (const char *content_type, const void *data, size_t size, zm_msg_t **msg_p,
               const char **err_p)
{
    const zm_codec_t *codec = zm_codec_find (content_type);
    if (!codec)
        return zm_msg_fail (err_p, ZM_EINVAL, "unknown content type");
    int rc = zm_msg_decode_check (data, size, msg_p, err_p);
    if (rc)
        return rc;
    return codec->decode (data ? data : zm_msg_empty, size, msg_p, err_p);
}

int
zm_msg_decode_inplace (const char *content_type, void *data, size_t size, zm_msg_free_fn *free_fn,
                       void *hint, zm_msg_t **msg_p, const char **err_p)
{
    const zm_codec_t *codec = zm_codec_find (content_type);
    if (!codec)
        return zm_msg_fail (err_p, ZM_EINVAL, "unknown content type");
    if (!data)
        return zm_msg_fail (err_p, ZM_EINVAL, "no data");
    int rc = zm_msg_decode_check (data, size, msg_p, err_p);
    if (rc)
        return rc;
    if (codec == &zm_codec_msgpack)
        return zm_msgpack_decode_into (msg_p, data, size, false, free_fn, hint, err_p);
    if (codec == &zm_codec_raw) {
        zm_msg_t *msg = zm_msg_alloc (0);
        if (!msg)
            return zm_msg_fail (err_p, ZM_ENOMEM, "out of memory");
        msg->root.type = ZM_TYPE_BIN;
        msg->root.n = (uint32_t)size;
        msg->root.v.s = size ? (const char *)data : zm_msg_empty;
        msg->buffer = data;
        msg->buffer_free = free_fn;
        msg->buffer_hint = hint;
        *msg_p = msg;
        return 0;
    }
    rc = codec->decode (data, size, msg_p, err_p);
    if (rc == 0 && free_fn)
        free_fn (data, hint);
    return rc;
}

int
zm_msg_decode_owned (const char *content_type, void **data_p, size_t size, zm_msg_t **msg_p,
                     const char **err_p)
{
    if (!data_p || !*data_p)
        return zm_msg_fail (err_p, ZM_EINVAL, "no data");
    int rc = zm_msg_decode_inplace (content_type, *data_p, size, s_free, NULL, msg_p, err_p);
    if (rc == 0)
        *data_p = NULL;
    return rc;
}

int
zm_msg_encode (const zm_msg_t *self, const char *content_type, void **data_p, size_t *size_p)
{
    if (!self || !data_p || !size_p)
        return ZM_EINVAL;
    const zm_codec_t *codec = zm_codec_find (content_type);
    if (!codec)
        return ZM_EINVAL;
    return codec->encode (self, data_p, size_p);
}

int
zm_msg_encode_room (const zm_msg_t *self, const char *content_type, size_t room, void **data_p,
                    size_t *size_p)
{
    if (!self || !data_p || !size_p || room > 1u << 20)
        return ZM_EINVAL;
    const zm_codec_t *codec = zm_codec_find (content_type);
    if (!codec)
        return ZM_EINVAL;
    if (codec == &zm_codec_msgpack)
        return zm_msgpack_encode_room (self, room, data_p, size_p);
    if (codec == &zm_codec_json)
        return zm_json_encode_room (self, room, data_p, size_p);
    if (codec == &zm_codec_raw) {
        const zm_val_t *root = &self->root;
        if (root->type != ZM_TYPE_BIN && root->type != ZM_TYPE_STR)
            return ZM_ECODEC;
        char *data = (char *)malloc (room + root->n + 1);
        if (!data)
            return ZM_ENOMEM;
        if (root->n)
            memcpy (data + room, root->v.s, root->n);
        *data_p = data;
        *size_p = root->n;
        return 0;
    }
    //  A registered codec encodes on its own: one copy more
    void *bytes = NULL;
    size_t size = 0;
    int rc = codec->encode (self, &bytes, &size);
    if (rc)
        return rc;
    char *data = (char *)malloc (room + size + 1);
    if (data && size)
        memcpy (data + room, bytes, size);
    free (bytes);
    if (!data)
        return ZM_ENOMEM;
    *data_p = data;
    *size_p = size;
    return 0;
}

//  --------------------------------------------------------------------------
//  Reading values

const zm_val_t *
zm_msg_root (const zm_msg_t *self)
{
    return self ? &self->root : NULL;
}

zm_type_t
zm_val_type (const zm_val_t *self)
{
    return self ? (zm_type_t)self->type : ZM_TYPE_NIL;
}

size_t
zm_val_size (const zm_val_t *self)
{
    if (self && self->type >= ZM_TYPE_STR)
        return self->n;
    return 0;
}

//  Value slot for a string key in a map, or NULL
static zm_val_t *
s_map_find (const zm_val_t *map, const char *key, size_t len)
{
    if (len > UINT32_MAX)
        return NULL;
    uint64_t word = zm_str_word (key, (uint32_t)len);
    zm_val_t *item = map->v.items;
    for (uint32_t index = 0; index < map->n; index++, item += 2)
        if (zm_val_word (item) == word && memcmp (item->v.s, key, len) == 0)
            return item + 1;
    return NULL;
}

const zm_val_t *
zm_val_get (const zm_val_t *self, const char *key)
{
    if (!self || !key || self->type != ZM_TYPE_MAP)
        return NULL;
    return s_map_find (self, key, strlen (key));
}

const zm_val_t *
zm_val_at (const zm_val_t *self, size_t index)
{
    if (!self || index >= self->n)
        return NULL;
    if (self->type == ZM_TYPE_ARRAY)
        return &self->v.items[index];
    if (self->type == ZM_TYPE_MAP)
        return &self->v.items[2 * index + 1];
    return NULL;
}

const zm_val_t *
zm_val_key_val_at (const zm_val_t *self, size_t index)
{
    if (!self || self->type != ZM_TYPE_MAP || index >= self->n)
        return NULL;
    return &self->v.items[2 * index];
}

const char *
zm_val_key_at (const zm_val_t *self, size_t index, size_t *len_p)
{
    const zm_val_t *key = zm_val_key_val_at (self, index);
    if (!key || key->type != ZM_TYPE_STR)
        return NULL;
    if (len_p)
        *len_p = key->n;
    return key->v.s;
}

bool
zm_val_bool (const zm_val_t *self, bool fallback)
{
    return self && self->type == ZM_TYPE_BOOL ? self->v.b : fallback;
}

int64_t
zm_val_int (const zm_val_t *self, int64_t fallback)
{
    if (self && self->type == ZM_TYPE_INT)
        return self->v.i;
    if (self && self->type == ZM_TYPE_UINT && self->v.u <= (uint64_t)INT64_MAX)
        return (int64_t)self->v.u;
    return fallback;
}

uint64_t
zm_val_uint (const zm_val_t *self, uint64_t fallback)
{
    if (self && self->type == ZM_TYPE_UINT)
        return self->v.u;
    if (self && self->type == ZM_TYPE_INT && self->v.i >= 0)
        return (uint64_t)self->v.i;
    return fallback;
}

double
zm_val_float (const zm_val_t *self, double fallback)
{
    if (!self)
        return fallback;
    if (self->type == ZM_TYPE_FLOAT)
        return self->v.f;
    //  Integers convert when the double holds them exactly; the range
    //  checks keep the cast back to an integer defined.
    if (self->type == ZM_TYPE_INT) {
        double value = (double)self->v.i;
        if (value >= -9223372036854775808.0 && value < 9223372036854775808.0 &&
            (int64_t)value == self->v.i)
            return value;
    }
    if (self->type == ZM_TYPE_UINT) {
        double value = (double)self->v.u;
        if (value < 18446744073709551616.0 && (uint64_t)value == self->v.u)
            return value;
    }
    return fallback;
}

const char *
zm_val_str (const zm_val_t *self, const char *fallback, size_t *len_p)
{
    if (self && self->type == ZM_TYPE_STR) {
        if (len_p)
            *len_p = self->n;
        return self->v.s;
    }
    if (len_p)
        *len_p = fallback ? strlen (fallback) : 0;
    return fallback;
}

const void *
zm_val_bin (const zm_val_t *self, size_t *size_p)
{
    if (self && (self->type == ZM_TYPE_BIN || self->type == ZM_TYPE_STR)) {
        if (size_p)
            *size_p = self->n;
        return self->v.s;
    }
    if (size_p)
        *size_p = 0;
    return NULL;
}

//  Root-map getters are the same calls on the root value

static const zm_val_t *
s_root_get (const zm_msg_t *self, const char *key)
{
    return self ? zm_val_get (&self->root, key) : NULL;
}

const char *
zm_msg_get_str (const zm_msg_t *self, const char *key, const char *fallback)
{
    return zm_val_str (s_root_get (self, key), fallback, NULL);
}

int64_t
zm_msg_get_int (const zm_msg_t *self, const char *key, int64_t fallback)
{
    return zm_val_int (s_root_get (self, key), fallback);
}

uint64_t
zm_msg_get_uint (const zm_msg_t *self, const char *key, uint64_t fallback)
{
    return zm_val_uint (s_root_get (self, key), fallback);
}

double
zm_msg_get_float (const zm_msg_t *self, const char *key, double fallback)
{
    return zm_val_float (s_root_get (self, key), fallback);
}

bool
zm_msg_get_bool (const zm_msg_t *self, const char *key, bool fallback)
{
    return zm_val_bool (s_root_get (self, key), fallback);
}

const void *
zm_msg_get_bin (const zm_msg_t *self, const char *key, size_t *size_p)
{
    return zm_val_bin (s_root_get (self, key), size_p);
}

bool
zm_msg_has (const zm_msg_t *self, const char *key)
{
    return s_root_get (self, key) != NULL;
}

//  --------------------------------------------------------------------------
//  Building

//  Slot for key in map self, added (nil) when missing. NULL with *rc_p set
//  on a bad argument or when out of memory.
static zm_val_t *
s_map_slot (zm_val_t *self, const char *key, int *rc_p)
{
    if (!self || !key || self->type != ZM_TYPE_MAP) {
        *rc_p = ZM_EINVAL;
        return NULL;
    }
    size_t len = strlen (key);
    zm_val_t *slot = s_map_find (self, key, len);
    if (slot)
        return slot;
    if (len > ZM_MSG_MAX_SIZE) {
        *rc_p = ZM_ETOOBIG;
        return NULL;
    }
    const char *copy = s_strdup (zm_cont (self)->msg, key, len);
    if (!copy || !(slot = s_container_push (self, 2))) {
        *rc_p = ZM_ENOMEM;
        return NULL;
    }
    slot[0] =
        (zm_val_t){.type = ZM_TYPE_STR, .first = (uint8_t)copy[0], .n = (uint32_t)len, .v.s = copy};
    slot[1] = (zm_val_t){.type = ZM_TYPE_NIL};
    return slot + 1;
}

//  Slot appended to array self, or NULL with *rc_p set
static zm_val_t *
s_array_slot (zm_val_t *self, int *rc_p)
{
    if (!self || self->type != ZM_TYPE_ARRAY) {
        *rc_p = ZM_EINVAL;
        return NULL;
    }
    zm_val_t *slot = s_container_push (self, 1);
    if (!slot)
        *rc_p = ZM_ENOMEM;
    return slot;
}

//  The setters and pushers below share one shape: make what the value
//  needs first, then get the slot (which may add a key) and fill it, so a
//  failure leaves the container as it was.

typedef enum { S_BY_KEY, S_BY_PUSH } s_where_t;

static zm_val_t *
s_slot (zm_val_t *self, s_where_t where, const char *key, int *rc_p)
{
    return where == S_BY_KEY ? s_map_slot (self, key, rc_p) : s_array_slot (self, rc_p);
}

static int
s_put_bytes (zm_val_t *self, s_where_t where, const char *key, zm_type_t type, const void *data,
             size_t len)
{
    int rc;
    if (!self || (!data && len) || self->type < ZM_TYPE_ARRAY)
        return ZM_EINVAL;
    if (len > ZM_MSG_MAX_SIZE)
        return ZM_ETOOBIG;
    const char *copy = s_strdup (zm_cont (self)->msg, data, len);
    if (!copy)
        return ZM_ENOMEM;
    zm_val_t *slot = s_slot (self, where, key, &rc);
    if (!slot)
        return rc;
    *slot = (zm_val_t){
        .type = (uint8_t)type, .first = (uint8_t)copy[0], .n = (uint32_t)len, .v.s = copy};
    return 0;
}

static int
s_put_scalar (zm_val_t *self, s_where_t where, const char *key, const zm_val_t *value)
{
    int rc;
    zm_val_t *slot = s_slot (self, where, key, &rc);
    if (!slot)
        return rc;
    *slot = *value;
    return 0;
}

static zm_val_t *
s_put_container (zm_val_t *self, s_where_t where, const char *key, zm_type_t type)
{
    int rc;
    if (!self || self->type < ZM_TYPE_ARRAY || self->depth >= ZM_MSG_MAX_DEPTH)
        return NULL;
    zm_val_t value;
    if (s_container_init (zm_cont (self)->msg, &value, type, self->depth + 1, 0))
        return NULL;
    zm_val_t *slot = s_slot (self, where, key, &rc);
    if (slot)
        *slot = value;
    return slot;
}

static zm_val_t
s_int (int64_t value)
{
    //  Non-negative integers are UINT whoever built them, as msgpack
    //  stores them: one value, one representation.
    zm_val_t val = {.type = value < 0 ? ZM_TYPE_INT : ZM_TYPE_UINT};
    val.v.i = value;
    return val;
}

static zm_val_t
s_uint (uint64_t value)
{
    zm_val_t val = {.type = ZM_TYPE_UINT};
    val.v.u = value;
    return val;
}

static zm_val_t
s_float (double value)
{
    zm_val_t val = {.type = ZM_TYPE_FLOAT};
    val.v.f = value;
    return val;
}

static zm_val_t
s_bool (bool value)
{
    zm_val_t val = {.type = ZM_TYPE_BOOL};
    val.v.b = value;
    return val;
}

static const zm_val_t s_nil = {.type = ZM_TYPE_NIL};

zm_val_t *
zm_val_set_map (zm_val_t *self, const char *key)
{
    return s_put_container (self, S_BY_KEY, key, ZM_TYPE_MAP);
}

zm_val_t *
zm_val_set_array (zm_val_t *self, const char *key)
{
    return s_put_container (self, S_BY_KEY, key, ZM_TYPE_ARRAY);
}

int
zm_val_set_str (zm_val_t *self, const char *key, const char *value)
{
    if (!value)
        return ZM_EINVAL;
    return s_put_bytes (self, S_BY_KEY, key, ZM_TYPE_STR, value, strlen (value));
}

int
zm_val_set_strn (zm_val_t *self, const char *key, const char *value, size_t len)
{
    return s_put_bytes (self, S_BY_KEY, key, ZM_TYPE_STR, value, len);
}

int
zm_val_set_bin (zm_val_t *self, const char *key, const void *data, size_t size)
{
    return s_put_bytes (self, S_BY_KEY, key, ZM_TYPE_BIN, data, size);
}

int
zm_val_set_int (zm_val_t *self, const char *key, int64_t value)
{
    zm_val_t val = s_int (value);
    return s_put_scalar (self, S_BY_KEY, key, &val);
}

int
zm_val_set_uint (zm_val_t *self, const char *key, uint64_t value)
{
    zm_val_t val = s_uint (value);
    return s_put_scalar (self, S_BY_KEY, key, &val);
}

int
zm_val_set_float (zm_val_t *self, const char *key, double value)
{
    zm_val_t val = s_float (value);
    return s_put_scalar (self, S_BY_KEY, key, &val);
}

int
zm_val_set_bool (zm_val_t *self, const char *key, bool value)
{
    zm_val_t val = s_bool (value);
    return s_put_scalar (self, S_BY_KEY, key, &val);
}

int
zm_val_set_nil (zm_val_t *self, const char *key)
{
    return s_put_scalar (self, S_BY_KEY, key, &s_nil);
}

int
zm_val_del (zm_val_t *self, const char *key)
{
    if (!self || !key || self->type != ZM_TYPE_MAP)
        return ZM_EINVAL;
    zm_val_t *slot = s_map_find (self, key, strlen (key));
    if (!slot)
        return ZM_ENOTFOUND;
    zm_val_t *pair = slot - 1;
    zm_val_t *after = self->v.items + 2 * (size_t)self->n;
    memmove (pair, pair + 2, (size_t)(after - pair - 2) * sizeof (zm_val_t));
    self->n--;
    return 0;
}

zm_val_t *
zm_val_push_map (zm_val_t *self)
{
    return s_put_container (self, S_BY_PUSH, NULL, ZM_TYPE_MAP);
}

zm_val_t *
zm_val_push_array (zm_val_t *self)
{
    return s_put_container (self, S_BY_PUSH, NULL, ZM_TYPE_ARRAY);
}

int
zm_val_push_str (zm_val_t *self, const char *value)
{
    if (!value)
        return ZM_EINVAL;
    return s_put_bytes (self, S_BY_PUSH, NULL, ZM_TYPE_STR, value, strlen (value));
}

int
zm_val_push_strn (zm_val_t *self, const char *value, size_t len)
{
    return s_put_bytes (self, S_BY_PUSH, NULL, ZM_TYPE_STR, value, len);
}

int
zm_val_push_bin (zm_val_t *self, const void *data, size_t size)
{
    return s_put_bytes (self, S_BY_PUSH, NULL, ZM_TYPE_BIN, data, size);
}

int
zm_val_push_int (zm_val_t *self, int64_t value)
{
    zm_val_t val = s_int (value);
    return s_put_scalar (self, S_BY_PUSH, NULL, &val);
}

int
zm_val_push_uint (zm_val_t *self, uint64_t value)
{
    zm_val_t val = s_uint (value);
    return s_put_scalar (self, S_BY_PUSH, NULL, &val);
}

int
zm_val_push_float (zm_val_t *self, double value)
{
    zm_val_t val = s_float (value);
    return s_put_scalar (self, S_BY_PUSH, NULL, &val);
}

int
zm_val_push_bool (zm_val_t *self, bool value)
{
    zm_val_t val = s_bool (value);
    return s_put_scalar (self, S_BY_PUSH, NULL, &val);
}

int
zm_val_push_nil (zm_val_t *self)
{
    return s_put_scalar (self, S_BY_PUSH, NULL, &s_nil);
}

//  Root-map setters

static zm_val_t *
s_root_mut (zm_msg_t *self)
{
    return self ? &self->root : NULL;
}

int
zm_msg_set_str (zm_msg_t *self, const char *key, const char *value)
{
    return zm_val_set_str (s_root_mut (self), key, value);
}

int
zm_msg_setf (zm_msg_t *self, const char *key, const char *format, ...)
{
    if (!self || !format)
        return ZM_EINVAL;
    char small[256];
    va_list args;
    va_start (args, format);
    int len = vsnprintf (small, sizeof (small), format, args);
    va_end (args);
    if (len < 0)
        return ZM_EINVAL;
    if ((size_t)len < sizeof (small))
        return zm_val_set_strn (&self->root, key, small, (size_t)len);
    if ((size_t)len > ZM_MSG_MAX_SIZE)
        return ZM_ETOOBIG;
    char *big = (char *)malloc ((size_t)len + 1);
    if (!big)
        return ZM_ENOMEM;
    va_start (args, format);
    vsnprintf (big, (size_t)len + 1, format, args);
    va_end (args);
    int rc = zm_val_set_strn (&self->root, key, big, (size_t)len);
    free (big);
    return rc;
}

int
zm_msg_set_int (zm_msg_t *self, const char *key, int64_t value)
{
    return zm_val_set_int (s_root_mut (self), key, value);
}

int
zm_msg_set_uint (zm_msg_t *self, const char *key, uint64_t value)
{
    return zm_val_set_uint (s_root_mut (self), key, value);
}

int
zm_msg_set_float (zm_msg_t *self, const char *key, double value)
{
    return zm_val_set_float (s_root_mut (self), key, value);
}

int
zm_msg_set_bool (zm_msg_t *self, const char *key, bool value)
{
    return zm_val_set_bool (s_root_mut (self), key, value);
}

int
zm_msg_set_nil (zm_msg_t *self, const char *key)
{
    return zm_val_set_nil (s_root_mut (self), key);
}

int
zm_msg_set_bin (zm_msg_t *self, const char *key, const void *data, size_t size)
{
    return zm_val_set_bin (s_root_mut (self), key, data, size);
}

int
zm_msg_del (zm_msg_t *self, const char *key)
{
    return zm_val_del (s_root_mut (self), key);
}

static zm_val_t *
s_set_root (zm_msg_t *self, zm_type_t type)
{
    if (!self || s_container_init (self, &self->root, type, 1, 0))
        return NULL;
    return &self->root;
}

zm_val_t *
zm_msg_set_root_array (zm_msg_t *self)
{
    return s_set_root (self, ZM_TYPE_ARRAY);
}

zm_val_t *
zm_msg_set_root_map (zm_msg_t *self)
{
    return s_set_root (self, ZM_TYPE_MAP);
}

zm_val_t *
zm_msg_root_mut (zm_msg_t *self)
{
    return s_root_mut (self);
}

//  --------------------------------------------------------------------------
//  Helpers the codecs share

//  Length of the valid UTF-8 sequence at p, or 0 (RFC 3629 table 3-7)
static inline size_t
s_utf8_seq (const uint8_t *p, const uint8_t *end)
{
    uint8_t c = p[0];
    if (c < 0x80)
        return 1;
    if (c < 0xc2 || c > 0xf4)
        return 0;
    size_t len = c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    if ((size_t)(end - p) < len)
        return 0;
    uint8_t lo = 0x80, hi = 0xbf; //  range of the second byte
    if (c == 0xe0)
        lo = 0xa0;
    else if (c == 0xed)
        hi = 0x9f;
    else if (c == 0xf0)
        lo = 0x90;
    else if (c == 0xf4)
        hi = 0x8f;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t index = 2; index < len; index++)
        if ((p[index] & 0xc0) != 0x80)
            return 0;
    return len;
}

size_t
zm_utf8_seq (const uint8_t *p, const uint8_t *end)
{
    return s_utf8_seq (p, end);
}

bool
zm_utf8_valid (const uint8_t *bytes, size_t len)
{
    const uint8_t *end = bytes + len;
    while (bytes < end) {
        if (*bytes < 0x80) {
            bytes++;
            continue;
        }
        size_t seq = s_utf8_seq (bytes, end);
        if (!seq)
            return false;
        bytes += seq;
    }
    return true;
}

//  Order of string values: by length, then bytes
static int
s_str_cmp (const zm_val_t *a, const zm_val_t *b)
{
    if (a->n != b->n)
        return a->n < b->n ? -1 : 1;
    return memcmp (a->v.s, b->v.s, a->n);
}

static int
s_key_cmp (const void *a, const void *b)
{
    return s_str_cmp (*(const zm_val_t *const *)a, *(const zm_val_t *const *)b);
}

int
zm_map_has_dup_keys (const zm_val_t *map)
{
    const zm_val_t *items = map->v.items;
    size_t count = map->n;
    if (count <= 16) {
        for (size_t i = 0; i < count; i++)
            for (size_t j = i + 1; j < count; j++)
                if (items[2 * i].type == ZM_TYPE_STR && items[2 * j].type == ZM_TYPE_STR &&
                    s_str_cmp (&items[2 * i], &items[2 * j]) == 0)
                    return 1;
        return 0;
    }
    //  Large maps: sort pointers to the string keys, compare neighbours
    const zm_val_t **keys = (const zm_val_t **)malloc (count * sizeof (*keys));
    if (!keys)
        return -1;
    size_t strings = 0;
    for (size_t index = 0; index < count; index++)
        if (items[2 * index].type == ZM_TYPE_STR)
            keys[strings++] = &items[2 * index];
    qsort (keys, strings, sizeof (*keys), s_key_cmp);
    int dup = 0;
    for (size_t index = 1; index < strings && !dup; index++)
        dup = s_key_cmp (&keys[index - 1], &keys[index]) == 0;
    free (keys);
    return dup;
}
