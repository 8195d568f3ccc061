/*  =========================================================================
    zm_msg_internal.h - the representation behind zm_msg_t, shared by codecs

    A message is one malloc'ed block: the zm_msg_t header, then an inline
    arena. Every value, container array and builder string is bump-allocated
    from that arena (more chunks are chained when it fills), and nothing is
    freed until the message is destroyed. That keeps building and decoding a
    small body at one malloc and one free.

    A value is 16 bytes. Strings and binaries hold a pointer and a length:
    into the arena (built), into the message's buffer (decoded, zero-copy),
    or to a static "" (empty). A container holds a pointer to its items:
    n values for an array, 2n for a map (key, value, key, value...).

    Every container's items are preceded by a zm_cont_t header that leads
    back to the message (so a handle alone can allocate) and holds the
    capacity. Decoded containers have capacity exactly n; pushing past
    capacity copies the items to a bigger array in the arena. The old array
    stays until the message dies, which is why a stale handle (see msg.h)
    is a lost write, never a use-after-free.
    =========================================================================
*/
#ifndef ZM_MSG_INTERNAL_H_INCLUDED
#define ZM_MSG_INTERNAL_H_INCLUDED

#include "zm_internal.h"

struct _zm_val_t {
    uint8_t type;  //  zm_type_t
    uint8_t flags; //  unused for now, zero
    uint8_t depth; //  container: nesting level, 1 for a root container
    uint8_t first; //  STR/BIN: first byte (0 when empty), see zm_str_word
    uint32_t n;    //  bytes of str/bin, elements of array, pairs of map
    union {
        bool b;          //  ZM_TYPE_BOOL
        int64_t i;       //  ZM_TYPE_INT
        uint64_t u;      //  ZM_TYPE_UINT
        double f;        //  ZM_TYPE_FLOAT
        const char *s;   //  ZM_TYPE_STR / ZM_TYPE_BIN bytes (STR: NUL-terminated)
        zm_val_t *items; //  ZM_TYPE_ARRAY / ZM_TYPE_MAP
    } v;                 //  payload, by type
};

typedef struct _zm_chunk_t zm_chunk_t;

//  The first 8 bytes of a value as one word. For a string these are
//  type, flags (0), depth (0), first byte and length: map lookups compare
//  this word before the bytes, so a key of another length or first byte
//  costs one comparison. Every string value must keep first up to date.
static inline uint64_t
zm_val_word (const zm_val_t *val)
{
    uint64_t word;
    memcpy (&word, val, sizeof (word));
    return word;
}

//  The word zm_val_word gives for a string value holding bytes[0..len)
static inline uint64_t
zm_str_word (const char *bytes, uint32_t len)
{
    zm_val_t val = {.type = ZM_TYPE_STR, .first = len ? (uint8_t)bytes[0] : 0, .n = len};
    return zm_val_word (&val);
}

//  Copy len bytes, short ones without a call: most keys and headers are
//  a few bytes, where memcpy's call and dispatch cost more than the copy.
static inline void
zm_copy (void *dst, const void *src, size_t len)
{
    char *d = (char *)dst;
    const char *s = (const char *)src;
    if (len >= 8 && len <= 16) {
        memcpy (d, s, 8);
        memcpy (d + len - 8, s + len - 8, 8);
    } else if (len >= 4 && len < 8) {
        memcpy (d, s, 4);
        memcpy (d + len - 4, s + len - 4, 4);
    } else if (len < 4) {
        for (size_t index = 0; index < len; index++)
            d[index] = s[index];
    } else
        memcpy (d, s, len);
}

//  Header in front of every container's items
typedef struct {
    zm_msg_t *msg;  //  message whose arena holds the container
    uint32_t cap;   //  values the items array can hold (2 per map pair)
    uint32_t spare; //  unused, keeps items 16-byte aligned
} zm_cont_t;

static inline zm_cont_t *
zm_cont (const zm_val_t *container)
{
    return (zm_cont_t *)container->v.items - 1;
}

struct _zm_msg_t {
    zm_val_t root;               //  the root value
    char *cur;                   //  next free byte of the current arena chunk
    char *end;                   //  end of the current arena chunk
    zm_chunk_t *chunks;          //  extra chunks, freed on destroy
    size_t next_chunk;           //  size of the next small-object chunk
    void *buffer;                //  received buffer the values point into, or NULL
    zm_msg_free_fn *buffer_free; //  frees buffer on destroy, or NULL
    void *buffer_hint;           //  second argument to buffer_free
    _Alignas(16) char arena[];   //  inline arena, size chosen at allocation
};

//  New message with an inline arena of at least arena_size bytes. The root
//  is nil. NULL when out of memory.
zm_msg_t *zm_msg_alloc (size_t arena_size);

//  Arena allocation (8-byte aligned), NULL when out of memory.
void *zm_msg_arena_alloc_slow (zm_msg_t *self, size_t size);

static inline void *
zm_msg_arena_alloc (zm_msg_t *self, size_t size)
{
    size = (size + 7) & ~(size_t)7;
    if ((size_t)(self->end - self->cur) >= size) {
        void *p = self->cur;
        self->cur += size;
        return p;
    }
    return zm_msg_arena_alloc_slow (self, size);
}

//  Set *err_p (when not NULL) to reason; returns rc
static inline int
zm_msg_fail (const char **err_p, int rc, const char *reason)
{
    if (err_p)
        *err_p = reason;
    return rc;
}

//  The checks every decoder makes before reading: a place for the message,
//  data unless size is 0, size within ZM_MSG_MAX_SIZE. 0 or the error.
int zm_msg_decode_check (const void *data, size_t size, zm_msg_t **msg_p, const char **err_p);

//  Empty strings and binaries point here (never NULL).
extern const char zm_msg_empty[1];

//  Length of the valid UTF-8 sequence starting at p (p < end), or 0.
size_t zm_utf8_seq (const uint8_t *p, const uint8_t *end);

//  Is bytes[0..len) valid UTF-8 (RFC 3629: no overlongs, no surrogates,
//  nothing above U+10FFFF)?
bool zm_utf8_valid (const uint8_t *bytes, size_t len);

//  Does the map hold the same string key twice? Keys that are not strings
//  are ignored. Returns -1 when out of memory.
int zm_map_has_dup_keys (const zm_val_t *map);

//  The built-in codecs' entry points.
int zm_msgpack_decode_into (zm_msg_t **msg_p, void *data, size_t size, bool copy,
                            zm_msg_free_fn *free_fn, void *hint, const char **err_p);
int zm_msgpack_encode (const zm_msg_t *msg, void **data_p, size_t *size_p);
//  The same, with room bytes left free before the encoding (see
//  zm_msg_encode_room); *size_p does not count them
int zm_msgpack_encode_room (const zm_msg_t *msg, size_t room, void **data_p, size_t *size_p);
int zm_json_decode (const void *data, size_t size, zm_msg_t **msg_p, const char **err_p);
int zm_json_encode (const zm_msg_t *msg, void **data_p, size_t *size_p);
int zm_json_encode_room (const zm_msg_t *msg, size_t room, void **data_p, size_t *size_p);

#endif
