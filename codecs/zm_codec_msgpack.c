/*  =========================================================================
    zm_codec_msgpack - application/msgpack, the default and canonical codec

    Decoding is our own zero-copy reader, iterative, in one pass (s_parse)
    that validates as it builds: every header complete, every declared
    length and element count no larger than the bytes left (each element
    takes at least one byte) before anything is allocated for it, nesting
    at most ZM_MSG_MAX_DEPTH, no ext types, nothing after the root. The
    tree lives in the message's arena; strings and binaries point into the
    buffer.

    Only when the whole body is good does s_terminate NUL-terminate each
    string in place: the byte after a string payload is the first header
    byte of a later object, already decoded, so it is free. A string
    ending at the very last byte gets a copy (in-place decoding) or the
    spare byte a private copy of the body has. A failed decode has not
    written to the buffer.

    msgpack-c's unpacker is not used: it recurses and allocates on declared
    counts. Encoding uses msgpack-c's packer into a msgpack_sbuffer, so the
    output is the library's canonical (smallest) form.
    =========================================================================
*/
#include "zm_msg_internal.h"

#include <msgpack.h>

//  One decoded header
typedef struct {
    zm_type_t type; //  value type
    uint32_t len;   //  str/bin bytes, array elements, map pairs
    union {
        bool b;
        int64_t i;
        uint64_t u;
        double f;
    } v; //  scalar value
} s_item_t;

static inline uint64_t
s_be (const uint8_t *p, int bytes)
{
    uint64_t value = 0;
    for (int index = 0; index < bytes; index++)
        value = value << 8 | p[index];
    return value;
}

//  Signed integer of 1, 2, 4 or 8 big-endian bytes
static inline int64_t
s_be_signed (const uint8_t *p, int bytes)
{
    uint64_t value = s_be (p, bytes);
    int shift = 64 - 8 * bytes;
    //  Sign-extend through an unsigned shift, then the (defined in C23,
    //  universal in practice) conversion; no signed overflow anywhere.
    if (shift && (value >> (8 * bytes - 1)))
        value |= ~(uint64_t)0 << (8 * bytes);
    int64_t result;
    memcpy (&result, &value, sizeof (result));
    return result;
}

static inline void
s_int (s_item_t *item, int64_t value)
{
    if (value < 0) {
        item->type = ZM_TYPE_INT;
        item->v.i = value;
    } else {
        item->type = ZM_TYPE_UINT;
        item->v.u = (uint64_t)value;
    }
}

//  Decode the header at p (avail >= 1 bytes there). Returns its length,
//  0 when truncated, -1 when not a value we accept (ext types, 0xc1).
static inline __attribute__ ((always_inline)) int
s_header (const uint8_t *p, size_t avail, s_item_t *item)
{
    uint8_t b = p[0];
    if (b <= 0x7f) {
        item->type = ZM_TYPE_UINT;
        item->v.u = b;
        return 1;
    }
    if (b >= 0xe0) {
        item->type = ZM_TYPE_INT;
        item->v.i = (int8_t)b;
        return 1;
    }
    if (b <= 0x8f) {
        item->type = ZM_TYPE_MAP;
        item->len = b & 0x0f;
        return 1;
    }
    if (b <= 0x9f) {
        item->type = ZM_TYPE_ARRAY;
        item->len = b & 0x0f;
        return 1;
    }
    if (b <= 0xbf) {
        item->type = ZM_TYPE_STR;
        item->len = b & 0x1f;
        return 1;
    }
    //  0xc0..0xdf: the size of what follows the first byte
    static const int8_t extra[32] = {
        0,  -1, 0,  0,      //  nil, (never used), false, true
        1,  2,  4,          //  bin 8/16/32
        -1, -1, -1,         //  ext 8/16/32
        4,  8,              //  float 32/64
        1,  2,  4,  8,      //  uint 8/16/32/64
        1,  2,  4,  8,      //  int 8/16/32/64
        -1, -1, -1, -1, -1, //  fixext 1/2/4/8/16
        1,  2,  4,          //  str 8/16/32
        2,  4,              //  array 16/32
        2,  4               //  map 16/32
    };
    int size = extra[b - 0xc0];
    if (size < 0)
        return -1;
    if (avail < (size_t)size + 1)
        return 0;
    const uint8_t *q = p + 1;
    switch (b) {
    case 0xc0:
        item->type = ZM_TYPE_NIL;
        break;
    case 0xc2:
    case 0xc3:
        item->type = ZM_TYPE_BOOL;
        item->v.b = b == 0xc3;
        break;
    case 0xc4:
    case 0xc5:
    case 0xc6:
        item->type = ZM_TYPE_BIN;
        item->len = (uint32_t)s_be (q, size);
        break;
    case 0xca: {
        uint32_t bits = (uint32_t)s_be (q, 4);
        float value;
        memcpy (&value, &bits, sizeof (value));
        item->type = ZM_TYPE_FLOAT;
        item->v.f = value;
        break;
    }
    case 0xcb: {
        uint64_t bits = s_be (q, 8);
        item->type = ZM_TYPE_FLOAT;
        memcpy (&item->v.f, &bits, sizeof (bits));
        break;
    }
    case 0xcc:
    case 0xcd:
    case 0xce:
    case 0xcf:
        item->type = ZM_TYPE_UINT;
        item->v.u = s_be (q, size);
        break;
    case 0xd0:
    case 0xd1:
    case 0xd2:
    case 0xd3:
        s_int (item, s_be_signed (q, size));
        break;
    case 0xd9:
    case 0xda:
    case 0xdb:
        item->type = ZM_TYPE_STR;
        item->len = (uint32_t)s_be (q, size);
        break;
    case 0xdc:
    case 0xdd:
        item->type = ZM_TYPE_ARRAY;
        item->len = (uint32_t)s_be (q, size);
        break;
    default: //  0xde, 0xdf
        item->type = ZM_TYPE_MAP;
        item->len = (uint32_t)s_be (q, size);
        break;
    }
    return size + 1;
}

#define S_LISTED 32 //  strings remembered for termination

//  Strings s_parse saw, so that small bodies are terminated without a walk
typedef struct {
    zm_val_t *list[S_LISTED]; //  the first strings' values
    size_t count;             //  strings seen
    zm_val_t *last;           //  the string ending at the last byte, or NULL
} s_strings_t;

//  Read the body at p..end into msg->root, validating as we go. Writes
//  nothing into the body.
static int
s_parse (zm_msg_t *msg, const uint8_t *p, const uint8_t *end, s_strings_t *strings,
         const char **err_p)
{
    struct {
        zm_val_t *items; //  the container's values
        uint32_t next;   //  index being filled
        uint32_t count;  //  values in the container
    } stack[ZM_MSG_MAX_DEPTH];
    int depth = 0;
    zm_val_t *slot = &msg->root;
    for (;;) {
        if (p == end)
            return zm_msg_fail (err_p, ZM_ECODEC, "truncated msgpack");
        s_item_t item;
        int header = s_header (p, (size_t)(end - p), &item);
        if (header == 0)
            return zm_msg_fail (err_p, ZM_ECODEC, "truncated msgpack");
        if (header < 0)
            return zm_msg_fail (err_p, ZM_ECODEC,
                                *p == 0xc1 ? "invalid msgpack byte 0xc1"
                                           : "msgpack ext types are not supported");
        p += header;
        size_t avail = (size_t)(end - p);
        memset (slot, 0, sizeof (*slot));
        slot->type = (uint8_t)item.type;
        switch (item.type) {
        case ZM_TYPE_STR:
        case ZM_TYPE_BIN:
            if (item.len > avail)
                return zm_msg_fail (err_p, ZM_ECODEC, "msgpack length runs past the end");
            slot->n = item.len;
            slot->first = item.len ? p[0] : 0;
            slot->v.s = item.len ? (const char *)p : zm_msg_empty;
            p += item.len;
            if (item.type == ZM_TYPE_STR && item.len) {
                if (strings->count < S_LISTED)
                    strings->list[strings->count] = slot;
                strings->count++;
                if (p == end)
                    strings->last = slot;
            }
            break;
        case ZM_TYPE_ARRAY:
        case ZM_TYPE_MAP: {
            if (depth == ZM_MSG_MAX_DEPTH)
                return zm_msg_fail (err_p, ZM_ETOOBIG, "msgpack nested deeper than 64");
            //  Every value takes at least one byte: a count is checked
            //  against the bytes left before anything is allocated.
            uint64_t count = (uint64_t)item.len * (item.type == ZM_TYPE_MAP ? 2 : 1);
            if (count > avail)
                return zm_msg_fail (err_p, ZM_ECODEC, "msgpack count runs past the end");
            zm_cont_t *cont = (zm_cont_t *)zm_msg_arena_alloc (
                msg, sizeof (zm_cont_t) + (size_t)count * sizeof (zm_val_t));
            if (!cont)
                return zm_msg_fail (err_p, ZM_ENOMEM, "out of memory");
            cont->msg = msg;
            cont->cap = (uint32_t)count;
            cont->spare = 0;
            slot->n = item.len;
            slot->depth = (uint8_t)(depth + 1);
            slot->v.items = (zm_val_t *)(cont + 1);
            if (count) {
                stack[depth].items = slot->v.items;
                stack[depth].next = 0;
                stack[depth].count = (uint32_t)count;
                depth++;
                slot = stack[depth - 1].items;
                continue;
            }
            break;
        }
        case ZM_TYPE_BOOL:
            slot->v.b = item.v.b;
            break;
        case ZM_TYPE_NIL:
            break;
        default:
            slot->v.u = item.v.u; //  INT, UINT, FLOAT: the same 8 bytes
            break;
        }
        //  A value is complete: so may be the containers it closes
        while (depth > 0) {
            if (++stack[depth - 1].next < stack[depth - 1].count) {
                slot = &stack[depth - 1].items[stack[depth - 1].next];
                break;
            }
            depth--;
        }
        if (depth == 0)
            break;
    }
    if (p != end)
        return zm_msg_fail (err_p, ZM_ECODEC, "bytes after the msgpack body");
    return 0;
}

//  NUL-terminate a string in place when it points into lo..hi
static inline void
s_terminate_one (zm_val_t *val, uintptr_t lo, uintptr_t hi)
{
    if ((uintptr_t)val->v.s >= lo && (uintptr_t)val->v.s < hi)
        ((char *)val->v.s)[val->n] = 0;
}

//  NUL-terminate, in place, every string of a decoded tree that points
//  into start..end. The byte after a string payload is the first header
//  byte of a later object, already decoded, or the byte past the end
//  (which the caller made writable or moved the string away from).
static void
s_terminate (zm_val_t *root, const s_strings_t *strings, const char *start, const char *end)
{
    uintptr_t lo = (uintptr_t)start, hi = (uintptr_t)end;
    if (strings->count <= S_LISTED) {
        for (size_t index = 0; index < strings->count; index++)
            s_terminate_one (strings->list[index], lo, hi);
        return;
    }
    struct {
        zm_val_t *next; //  next value to visit
        zm_val_t *stop; //  past the container's last value
    } stack[ZM_MSG_MAX_DEPTH];
    int depth = 0;
    zm_val_t *val = root;
    for (;;) {
        if (val->type == ZM_TYPE_STR) {
            if (val->n)
                s_terminate_one (val, lo, hi);
        } else if (val->type >= ZM_TYPE_ARRAY && val->n) {
            stack[depth].next = val->v.items;
            stack[depth].stop = val->v.items + val->n * (val->type == ZM_TYPE_MAP ? 2 : 1);
            depth++;
        }
        while (depth > 0 && stack[depth - 1].next == stack[depth - 1].stop)
            depth--;
        if (depth == 0)
            return;
        val = stack[depth - 1].next++;
    }
}

int
zm_msgpack_decode_into (zm_msg_t **msg_p, void *data, size_t size, bool copy,
                        zm_msg_free_fn *free_fn, void *hint, const char **err_p)
{
    if (size == 0)
        return zm_msg_fail (err_p, ZM_ECODEC, "empty msgpack body");
    //  One allocation for the copy and, usually, the tree: small bodies
    //  hold about one value per 3 bytes, each 16 bytes in the tree. More
    //  arena chunks follow when the guess is short.
    size_t tree = size <= 4096 ? 6 * size + 64 : 2 * size;
    //  A map or array says how many entries it has: 16 bytes each, and
    //  room for what they hold at one value per 16 bytes. Headers, with
    //  their long strings, need a fifth of the guess above (and stay in
    //  malloc's per-thread cache).
    const uint8_t *first = (const uint8_t *)data;
    size_t entries = (*first & 0xf0) == 0x80 ? 2u * (*first & 0x0f)
                     : (*first & 0xf0) == 0x90 ? (size_t)(*first & 0x0f)
                                               : SIZE_MAX;
    if (entries != SIZE_MAX && 16 * (1 + entries) + size < tree)
        tree = 16 * (1 + entries) + size;
    zm_msg_t *msg = zm_msg_alloc ((copy ? size + 8 : 0) + tree);
    if (!msg)
        return zm_msg_fail (err_p, ZM_ENOMEM, "out of memory");
    char *bytes = (char *)data;
    if (copy) {
        //  The byte past the copy stays writable for a final string's NUL
        bytes = (char *)zm_msg_arena_alloc (msg, size + 1);
        memcpy (bytes, data, size);
    }
    s_strings_t strings;
    strings.count = 0;
    strings.last = NULL;
    int rc = s_parse (msg, (const uint8_t *)bytes, (const uint8_t *)bytes + size, &strings, err_p);
    zm_val_t *last = strings.last;
    if (rc == 0 && last && !copy) {
        //  No byte of the caller's after this string: give it a copy
        char *moved = (char *)zm_msg_arena_alloc (msg, (size_t)last->n + 1);
        if (moved) {
            memcpy (moved, last->v.s, last->n);
            moved[last->n] = 0;
        } else
            rc = zm_msg_fail (err_p, ZM_ENOMEM, "out of memory");
        last->v.s = moved;
    }
    if (rc) {
        zm_msg_destroy (&msg);
        return rc;
    }
    //  Past here nothing fails: the caller's buffer is only written on success
    s_terminate (&msg->root, &strings, bytes, bytes + size);
    if (!copy) {
        msg->buffer = data;
        msg->buffer_free = free_fn;
        msg->buffer_hint = hint;
    }
    *msg_p = msg;
    return 0;
}

static int
s_decode (const void *data, size_t size, zm_msg_t **msg_p, const char **err_p)
{
    int rc = zm_msg_decode_check (data, size, msg_p, err_p);
    if (rc)
        return rc;
    return zm_msgpack_decode_into (msg_p, (void *)data, size, true, NULL, NULL, err_p);
}

//  --------------------------------------------------------------------------
//  Encoding

//  Pack one value; returns 0, or -1 when the buffer cannot grow or the
//  tree is deeper than any decoder would accept.
static int
s_pack (msgpack_packer *pk, const zm_val_t *val, int depth)
{
    switch (val->type) {
    case ZM_TYPE_NIL:
        return msgpack_pack_nil (pk);
    case ZM_TYPE_BOOL:
        return val->v.b ? msgpack_pack_true (pk) : msgpack_pack_false (pk);
    case ZM_TYPE_INT:
        return msgpack_pack_int64 (pk, val->v.i);
    case ZM_TYPE_UINT:
        return msgpack_pack_uint64 (pk, val->v.u);
    case ZM_TYPE_FLOAT:
        return msgpack_pack_double (pk, val->v.f);
    case ZM_TYPE_STR:
        if (msgpack_pack_str (pk, val->n))
            return -1;
        return val->n ? msgpack_pack_str_body (pk, val->v.s, val->n) : 0;
    case ZM_TYPE_BIN:
        if (msgpack_pack_bin (pk, val->n))
            return -1;
        return val->n ? msgpack_pack_bin_body (pk, val->v.s, val->n) : 0;
    case ZM_TYPE_ARRAY:
    case ZM_TYPE_MAP: {
        if (depth >= ZM_MSG_MAX_DEPTH)
            return -1;
        size_t count = val->n;
        if (val->type == ZM_TYPE_MAP) {
            if (msgpack_pack_map (pk, val->n))
                return -1;
            count *= 2;
        } else if (msgpack_pack_array (pk, val->n))
            return -1;
        for (size_t index = 0; index < count; index++)
            if (s_pack (pk, &val->v.items[index], depth + 1))
                return -1;
        return 0;
    }
    default:
        return -1;
    }
}

//  msgpack_sbuffer_write, with the room check first and short writes (most
//  are headers of 1 to 9 bytes) copied without a call to memcpy
static int
s_sbuffer_write (void *data, const char *buf, size_t len)
{
    msgpack_sbuffer *sbuf = (msgpack_sbuffer *)data;
    if (sbuf->alloc - sbuf->size < len)
        return msgpack_sbuffer_write (data, buf, len);
    zm_copy (sbuf->data + sbuf->size, buf, len);
    sbuf->size += len;
    return 0;
}

int
zm_msgpack_encode_room (const zm_msg_t *msg, size_t room, void **data_p, size_t *size_p)
{
    if (!msg || !data_p || !size_p || room > 1u << 20)
        return ZM_EINVAL;
    //  Start small: msgpack_sbuffer would allocate 8 KiB for the first byte
    msgpack_sbuffer sbuf;
    sbuf.size = room;
    sbuf.alloc = room + 256;
    sbuf.data = (char *)malloc (sbuf.alloc);
    if (!sbuf.data)
        return ZM_ENOMEM;
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, s_sbuffer_write);
    //  Builders and decoders keep trees within ZM_MSG_MAX_DEPTH, so a
    //  failure here is the buffer failing to grow.
    int rc = 0;
    if (s_pack (&pk, &msg->root, 0))
        rc = ZM_ENOMEM;
    else if (sbuf.size - room > ZM_MSG_MAX_SIZE)
        rc = ZM_ETOOBIG;
    if (rc) {
        msgpack_sbuffer_destroy (&sbuf);
        return rc;
    }
    *data_p = sbuf.data;
    *size_p = sbuf.size - room;
    return 0;
}

int
zm_msgpack_encode (const zm_msg_t *msg, void **data_p, size_t *size_p)
{
    return zm_msgpack_encode_room (msg, 0, data_p, size_p);
}

const zm_codec_t zm_codec_msgpack = {
    .content_type = ZM_CT_MSGPACK,
    .decode = s_decode,
    .encode = zm_msgpack_encode,
};
