/*  =========================================================================
    zm_codec_json - application/json: a strict RFC 8259 reader and writer

    No JSON library: jansson and friends cannot hold a uint64 above
    INT64_MAX, and JSON must carry every integer msgpack can. The reader
    parses a private copy of the text in place (strings are unescaped into
    the bytes they came from, so they need no allocation of their own)
    straight into the zm_msg tree, iteratively, with at most
    ZM_MSG_MAX_DEPTH open containers. The writer walks the tree.

    The mapping (docs/codecs.md has the full story):
    - integers without fraction or exponent are INT (negative) or UINT,
      full 64-bit range; beyond it they are read as floats
    - numbers with a fraction or exponent are FLOAT; floats are written in
      the shortest form that reads back to the same double, always with a
      '.' or an exponent so they stay floats; NaN and infinities fail
    - {"$bin": "<standard base64>"} is a binary; a map that looks like that
      but holds a string cannot be written (it would read back as binary)
    - duplicate keys in an object are an error (ZM_ECODEC)
    - strings must be valid UTF-8; \u escapes must pair surrogates
    =========================================================================
*/
#include "zm_msg_internal.h"

#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <sodium.h>

//  Numbers are read and written in the C locale whatever the process uses

static pthread_once_t s_locale_once = PTHREAD_ONCE_INIT;
static locale_t s_c_locale; //  "C", or 0 when newlocale failed

static void
s_locale_init (void)
{
    s_c_locale = newlocale (LC_ALL_MASK, "C", (locale_t)0);
}

static locale_t
s_locale (void)
{
    pthread_once (&s_locale_once, s_locale_init);
    return s_c_locale;
}

//  --------------------------------------------------------------------------
//  Reader

#define S_INLINE_VALS 64 //  values held before the stack goes to the heap

typedef struct {
    zm_msg_t *msg;                       //  message being built
    uint8_t *p;                          //  next byte to read
    uint8_t *end;                        //  end of the text; a NUL sits there
    zm_val_t *vals;                      //  values of the open containers, in order
    size_t count;                        //  values in vals
    size_t alloc;                        //  room in vals
    const char *err;                     //  reason of failure
    zm_val_t inline_vals[S_INLINE_VALS]; //  vals until it outgrows them
} s_parser_t;

static int
s_error (s_parser_t *self, int rc, const char *reason)
{
    self->err = reason;
    return rc;
}

//  Next value slot, zeroed; NULL when out of memory
static zm_val_t *
s_push (s_parser_t *self)
{
    if (self->count == self->alloc) {
        size_t alloc = self->alloc * 2;
        zm_val_t *vals;
        if (self->vals == self->inline_vals) {
            vals = (zm_val_t *)malloc (alloc * sizeof (zm_val_t));
            if (vals)
                memcpy (vals, self->vals, self->count * sizeof (zm_val_t));
        } else
            vals = (zm_val_t *)realloc (self->vals, alloc * sizeof (zm_val_t));
        if (!vals)
            return NULL;
        self->vals = vals;
        self->alloc = alloc;
    }
    zm_val_t *slot = &self->vals[self->count++];
    memset (slot, 0, sizeof (*slot));
    return slot;
}

static inline void
s_skip_ws (s_parser_t *self)
{
    uint8_t *p = self->p;
    while (p < self->end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    self->p = p;
}

static int
s_hex4 (const uint8_t *p, uint32_t *value_p)
{
    uint32_t value = 0;
    for (int index = 0; index < 4; index++) {
        uint8_t c = p[index];
        uint32_t digit;
        if (c >= '0' && c <= '9')
            digit = c - '0';
        else if (c >= 'a' && c <= 'f')
            digit = c - 'a' + 10;
        else if (c >= 'A' && c <= 'F')
            digit = c - 'A' + 10;
        else
            return -1;
        value = value << 4 | digit;
    }
    *value_p = value;
    return 0;
}

//  Write code point cp (a scalar value) as UTF-8; returns the bytes written
static size_t
s_utf8_put (uint8_t *w, uint32_t cp)
{
    if (cp < 0x80) {
        w[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        w[0] = (uint8_t)(0xc0 | cp >> 6);
        w[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        w[0] = (uint8_t)(0xe0 | cp >> 12);
        w[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
        w[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    w[0] = (uint8_t)(0xf0 | cp >> 18);
    w[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3f));
    w[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3f));
    w[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

//  Decode one \ escape at r (r[0] is the backslash) to w. Returns the
//  bytes consumed, 0 on a bad escape; *written_p gets the bytes written,
//  never more than consumed.
static size_t
s_escape (s_parser_t *self, const uint8_t *r, uint8_t *w, size_t *written_p)
{
    size_t avail = (size_t)(self->end - r);
    if (avail < 2)
        return 0;
    static const char from[] = "\"\\/bfnrt";
    static const char to[] = "\"\\/\b\f\n\r\t";
    const char *simple = r[1] ? strchr (from, r[1]) : NULL;
    if (simple) {
        *w = (uint8_t)to[simple - from];
        *written_p = 1;
        return 2;
    }
    uint32_t cp, low;
    if (r[1] != 'u' || avail < 6 || s_hex4 (r + 2, &cp))
        return 0;
    size_t used = 6;
    if (cp >= 0xdc00 && cp <= 0xdfff)
        return 0; //  a low surrogate with no high one before it
    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (avail < 12 || r[6] != '\\' || r[7] != 'u' || s_hex4 (r + 8, &low) || low < 0xdc00 ||
            low > 0xdfff)
            return 0; //  a high surrogate with no low one after it
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        used = 12;
    }
    *written_p = s_utf8_put (w, cp);
    return used;
}

//  Plain string bytes: ASCII other than controls, '"' and '\'
static inline bool
s_plain (uint8_t c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

//  String after its opening quote, unescaped in place into slot
static int
s_string (s_parser_t *self, zm_val_t *slot)
{
    uint8_t *start = self->p;
    uint8_t *r = start; //  read position
    uint8_t *w = start; //  write position, never past r
    uint8_t *end = self->end;
    for (;;) {
        uint8_t *run = r;
        while (r < end && s_plain (*r))
            r++;
        if (w != run)
            memmove (w, run, (size_t)(r - run));
        w += r - run;
        if (r == end)
            return s_error (self, ZM_ECODEC, "unterminated JSON string");
        uint8_t c = *r;
        if (c == '"')
            break;
        if (c == '\\') {
            size_t written;
            size_t used = s_escape (self, r, w, &written);
            if (!used)
                return s_error (self, ZM_ECODEC, "bad escape in JSON string");
            r += used;
            w += written;
        } else if (c >= 0x80) {
            size_t len = zm_utf8_seq (r, end);
            if (!len)
                return s_error (self, ZM_ECODEC, "invalid UTF-8 in JSON string");
            memmove (w, r, len);
            r += len;
            w += len;
        } else
            return s_error (self, ZM_ECODEC, "control character in JSON string");
    }
    *w = 0; //  w <= r, the closing quote: already read
    self->p = r + 1;
    slot->type = ZM_TYPE_STR;
    slot->first = start[0]; //  the NUL when empty
    slot->n = (uint32_t)(w - start);
    slot->v.s = w > start ? (const char *)start : zm_msg_empty;
    return 0;
}

static int
s_number (s_parser_t *self, zm_val_t *slot)
{
    uint8_t *start = self->p, *p = start, *end = self->end;
    bool negative = p < end && *p == '-';
    if (negative)
        p++;
    uint64_t magnitude = 0;
    bool overflow = false;
    if (p < end && *p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9')
            return s_error (self, ZM_ECODEC, "leading zero in JSON number");
    } else if (p < end && *p >= '1' && *p <= '9') {
        while (p < end && *p >= '0' && *p <= '9') {
            unsigned digit = *p++ - '0';
            if (magnitude > (UINT64_MAX - digit) / 10)
                overflow = true;
            else
                magnitude = magnitude * 10 + digit;
        }
    } else
        return s_error (self, ZM_ECODEC, "bad JSON number");
    bool fraction = false;
    if (p < end && *p == '.') {
        p++;
        if (p == end || *p < '0' || *p > '9')
            return s_error (self, ZM_ECODEC, "bad JSON number fraction");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        fraction = true;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        if (p < end && (*p == '+' || *p == '-'))
            p++;
        if (p == end || *p < '0' || *p > '9')
            return s_error (self, ZM_ECODEC, "bad JSON number exponent");
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        fraction = true;
    }
    self->p = p;
    if (!fraction && !overflow) {
        if (!negative || magnitude == 0) {
            slot->type = ZM_TYPE_UINT;
            slot->v.u = magnitude;
            return 0;
        }
        if (magnitude <= (uint64_t)INT64_MAX + 1) {
            slot->type = ZM_TYPE_INT;
            slot->v.i = magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)magnitude;
            return 0;
        }
    }
    //  A float, or an integer beyond 64 bits. The text is ours: terminate
    //  the number for strtod and put the byte back.
    uint8_t saved = *p;
    *p = 0;
    locale_t locale = s_locale ();
    double value =
        locale ? strtod_l ((const char *)start, NULL, locale) : strtod ((const char *)start, NULL);
    *p = saved;
    if (!isfinite (value))
        return s_error (self, ZM_ECODEC, "JSON number out of double range");
    slot->type = ZM_TYPE_FLOAT;
    slot->v.f = value;
    return 0;
}

static int
s_scalar (s_parser_t *self)
{
    zm_val_t *slot = s_push (self);
    if (!slot)
        return s_error (self, ZM_ENOMEM, "out of memory");
    uint8_t c = *self->p;
    if (c == '"') {
        self->p++;
        return s_string (self, slot);
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return s_number (self, slot);
    static const struct {
        const char *text; //  the literal
        size_t len;       //  its length
        zm_type_t type;   //  its type
        bool value;       //  its value, for booleans
    } literals[] = {
        {"true", 4, ZM_TYPE_BOOL, true},
        {"false", 5, ZM_TYPE_BOOL, false},
        {"null", 4, ZM_TYPE_NIL, false},
    };
    size_t avail = (size_t)(self->end - self->p);
    for (size_t index = 0; index < 3; index++)
        if (avail >= literals[index].len &&
            memcmp (self->p, literals[index].text, literals[index].len) == 0) {
            slot->type = (uint8_t)literals[index].type;
            slot->v.b = literals[index].value;
            self->p += literals[index].len;
            return 0;
        }
    return s_error (self, ZM_ECODEC, "unexpected character in JSON");
}

//  {"$bin": "<base64>"} read from the value stack at first: replace it
//  with the binary it holds.
static int
s_close_binary (s_parser_t *self, zm_val_t *first)
{
    const zm_val_t *text = &first[1];
    size_t max = text->n / 4 * 3;
    unsigned char *bin = (unsigned char *)zm_msg_arena_alloc (self->msg, max + 1);
    if (!bin)
        return s_error (self, ZM_ENOMEM, "out of memory");
    size_t len = 0;
    const char *b64_end = NULL;
    if (text->n && (sodium_base642bin (bin, max + 1, text->v.s, text->n, NULL, &len, &b64_end,
                                       sodium_base64_VARIANT_ORIGINAL) != 0 ||
                    b64_end != text->v.s + text->n))
        return s_error (self, ZM_ECODEC, "\"$bin\" is not standard base64");
    memset (first, 0, sizeof (*first));
    first->type = ZM_TYPE_BIN;
    first->n = (uint32_t)len;
    first->v.s = len ? (const char *)bin : zm_msg_empty;
    self->count -= 1;
    return 0;
}

//  Close the container whose values start at vals[start]: move them into
//  the arena and leave the container in their place.
static int
s_close (s_parser_t *self, size_t start, bool object, int depth)
{
    size_t values = self->count - start;
    zm_val_t *first = &self->vals[start];
    if (object && values == 2 && first[0].n == 4 && memcmp (first[0].v.s, "$bin", 4) == 0 &&
        first[1].type == ZM_TYPE_STR)
        return s_close_binary (self, first);
    zm_cont_t *cont = (zm_cont_t *)zm_msg_arena_alloc (self->msg, sizeof (zm_cont_t) +
                                                                      values * sizeof (zm_val_t));
    if (!cont)
        return s_error (self, ZM_ENOMEM, "out of memory");
    cont->msg = self->msg;
    cont->cap = (uint32_t)values;
    cont->spare = 0;
    if (values)
        memcpy (cont + 1, first, values * sizeof (zm_val_t));
    self->count = start;
    zm_val_t *val = s_push (self);
    if (!val)
        return s_error (self, ZM_ENOMEM, "out of memory");
    val->type = object ? ZM_TYPE_MAP : ZM_TYPE_ARRAY;
    val->n = (uint32_t)(object ? values / 2 : values);
    val->depth = (uint8_t)depth;
    val->v.items = (zm_val_t *)(cont + 1);
    if (object && values > 2) {
        int dup = zm_map_has_dup_keys (val);
        if (dup < 0)
            return s_error (self, ZM_ENOMEM, "out of memory");
        if (dup)
            return s_error (self, ZM_ECODEC, "duplicate key in JSON object");
    }
    return 0;
}

static int
s_parse (s_parser_t *self)
{
    struct {
        size_t start; //  index in vals of the container's first value
        bool object;  //  object (else array)
    } frames[ZM_MSG_MAX_DEPTH];
    int depth = 0;
    enum { S_VALUE, S_KEY, S_AFTER } state = S_VALUE;
    int rc;
    for (;;) {
        s_skip_ws (self);
        bool at_end = self->p == self->end;
        uint8_t c = at_end ? 0 : *self->p;
        switch (state) {
        case S_VALUE:
            if (at_end)
                return s_error (self, ZM_ECODEC, "truncated JSON: expected a value");
            if (c == '{' || c == '[') {
                if (depth == ZM_MSG_MAX_DEPTH)
                    return s_error (self, ZM_ETOOBIG, "JSON nested deeper than 64");
                frames[depth].start = self->count;
                frames[depth].object = c == '{';
                depth++;
                self->p++;
                state = c == '{' ? S_KEY : S_VALUE;
                s_skip_ws (self);
                if (self->p < self->end && *self->p == (c == '{' ? '}' : ']')) {
                    self->p++;
                    if ((rc = s_close (self, self->count, c == '{', depth)))
                        return rc;
                    depth--;
                    state = S_AFTER;
                }
            } else {
                if ((rc = s_scalar (self)))
                    return rc;
                state = S_AFTER;
            }
            break;
        case S_KEY: {
            if (c != '"')
                return s_error (self, ZM_ECODEC, "expected a string key in JSON object");
            self->p++;
            zm_val_t *slot = s_push (self);
            if (!slot)
                return s_error (self, ZM_ENOMEM, "out of memory");
            if ((rc = s_string (self, slot)))
                return rc;
            s_skip_ws (self);
            if (self->p == self->end || *self->p != ':')
                return s_error (self, ZM_ECODEC, "expected ':' in JSON object");
            self->p++;
            state = S_VALUE;
            break;
        }
        case S_AFTER: {
            if (depth == 0) {
                if (!at_end)
                    return s_error (self, ZM_ECODEC, "bytes after the JSON value");
                return 0;
            }
            bool object = frames[depth - 1].object;
            if (c == ',') {
                self->p++;
                state = object ? S_KEY : S_VALUE;
            } else if (c == (object ? '}' : ']')) {
                self->p++;
                if ((rc = s_close (self, frames[depth - 1].start, object, depth)))
                    return rc;
                depth--;
            } else
                return s_error (self, ZM_ECODEC,
                                at_end   ? "truncated JSON"
                                : object ? "expected ',' or '}' in JSON object"
                                         : "expected ',' or ']' in JSON array");
            break;
        }
        }
    }
}

int
zm_json_decode (const void *data, size_t size, zm_msg_t **msg_p, const char **err_p)
{
    int rc = zm_msg_decode_check (data, size, msg_p, err_p);
    if (rc)
        return rc;
    //  Room for the text and, usually, the tree (a value is 16 bytes, a
    //  small JSON value a few); more arena chunks follow if needed.
    size_t tree = size < (1u << 20) ? 3 * size : 3u << 20;
    zm_msg_t *msg = zm_msg_alloc (size + 1 + tree + 64);
    if (!msg)
        return zm_msg_fail (err_p, ZM_ENOMEM, "out of memory");
    uint8_t *text = (uint8_t *)zm_msg_arena_alloc (msg, size + 1);
    if (size)
        memcpy (text, data, size);
    text[size] = 0;
    s_parser_t parser;
    parser.msg = msg;
    parser.p = text;
    parser.end = text + size;
    parser.vals = parser.inline_vals;
    parser.count = 0;
    parser.alloc = S_INLINE_VALS;
    parser.err = NULL;
    rc = s_parse (&parser);
    if (rc == 0)
        msg->root = parser.vals[0];
    if (parser.vals != parser.inline_vals)
        free (parser.vals);
    if (rc) {
        zm_msg_destroy (&msg);
        return zm_msg_fail (err_p, rc, parser.err);
    }
    *msg_p = msg;
    return 0;
}

//  --------------------------------------------------------------------------
//  Writer

typedef struct {
    char *data;   //  text so far (malloc'ed)
    size_t size;  //  bytes used
    size_t alloc; //  bytes allocated
} s_buf_t;

//  Make room for more bytes; ZM_ETOOBIG rather than grow past the limit
static int
s_reserve (s_buf_t *buf, size_t more)
{
    if (buf->alloc - buf->size >= more)
        return 0;
    if (more > ZM_MSG_MAX_SIZE || buf->size + more > (size_t)ZM_MSG_MAX_SIZE + 64)
        return ZM_ETOOBIG;
    size_t alloc = buf->alloc * 2;
    while (alloc - buf->size < more)
        alloc *= 2;
    char *data = (char *)realloc (buf->data, alloc);
    if (!data)
        return ZM_ENOMEM;
    buf->data = data;
    buf->alloc = alloc;
    return 0;
}

static int
s_put (s_buf_t *buf, const void *data, size_t len)
{
    int rc = s_reserve (buf, len);
    if (rc == 0 && len) {
        memcpy (buf->data + buf->size, data, len);
        buf->size += len;
    }
    return rc;
}

static int
s_put_uint (s_buf_t *buf, uint64_t value, bool negative)
{
    char digits[24];
    char *p = digits + sizeof (digits);
    do {
        *--p = (char)('0' + value % 10);
        value /= 10;
    } while (value);
    if (negative)
        *--p = '-';
    return s_put (buf, p, (size_t)(digits + sizeof (digits) - p));
}

static int
s_put_float (s_buf_t *buf, double value)
{
    if (!isfinite (value))
        return ZM_ECODEC;
    //  The shortest of %.15g, %.16g and %.17g that reads back exactly
    //  (%.17g always does), in the C locale.
    char text[40];
    int len = 0;
    locale_t locale = s_locale ();
    locale_t previous = locale ? uselocale (locale) : (locale_t)0;
    for (int precision = 15; precision <= 17; precision++) {
        len = snprintf (text, sizeof (text) - 2, "%.*g", precision, value);
        if (strtod (text, NULL) == value)
            break;
    }
    if (locale)
        uselocale (previous);
    //  Keep a float a float: 1.0 must not read back as the integer 1
    if (!strpbrk (text, ".e")) {
        text[len++] = '.';
        text[len++] = '0';
    }
    return s_put (buf, text, (size_t)len);
}

static int
s_put_string (s_buf_t *buf, const char *string, size_t len)
{
    const uint8_t *p = (const uint8_t *)string;
    if (!zm_utf8_valid (p, len))
        return ZM_ECODEC;
    const uint8_t *end = p + len, *run = p;
    int rc = s_put (buf, "\"", 1);
    while (rc == 0 && p < end) {
        uint8_t c = *p;
        if (c >= 0x20 && c != '"' && c != '\\') {
            p++;
            continue;
        }
        rc = s_put (buf, run, (size_t)(p - run));
        char escape[8] = {'\\', 0};
        size_t size = 2;
        switch (c) {
        case '"':
            escape[1] = '"';
            break;
        case '\\':
            escape[1] = '\\';
            break;
        case '\b':
            escape[1] = 'b';
            break;
        case '\f':
            escape[1] = 'f';
            break;
        case '\n':
            escape[1] = 'n';
            break;
        case '\r':
            escape[1] = 'r';
            break;
        case '\t':
            escape[1] = 't';
            break;
        default:
            snprintf (escape, sizeof (escape), "\\u%04x", c);
            size = 6;
        }
        if (rc == 0)
            rc = s_put (buf, escape, size);
        run = ++p;
    }
    if (rc == 0)
        rc = s_put (buf, run, (size_t)(p - run));
    if (rc == 0)
        rc = s_put (buf, "\"", 1);
    return rc;
}

static int
s_put_binary (s_buf_t *buf, const void *data, size_t len)
{
    size_t b64_size = sodium_base64_ENCODED_LEN (len, sodium_base64_VARIANT_ORIGINAL);
    int rc = s_put (buf, "{\"$bin\":\"", 9);
    if (rc == 0)
        rc = s_reserve (buf, b64_size);
    if (rc == 0) {
        sodium_bin2base64 (buf->data + buf->size, b64_size, (const unsigned char *)data, len,
                           sodium_base64_VARIANT_ORIGINAL);
        buf->size += b64_size - 1; //  not the NUL
        rc = s_put (buf, "\"}", 2);
    }
    return rc;
}

//  Can this map be written as a JSON object that reads back the same?
static int
s_map_writable (const zm_val_t *map)
{
    const zm_val_t *items = map->v.items;
    for (uint32_t index = 0; index < map->n; index++)
        if (items[2 * index].type != ZM_TYPE_STR)
            return ZM_ECODEC; //  JSON keys are strings
    //  {"$bin": "..."} would read back as a binary
    if (map->n == 1 && items[0].n == 4 && memcmp (items[0].v.s, "$bin", 4) == 0 &&
        items[1].type == ZM_TYPE_STR)
        return ZM_ECODEC;
    int dup = zm_map_has_dup_keys (map);
    return dup < 0 ? ZM_ENOMEM : dup ? ZM_ECODEC : 0;
}

static int
s_put_value (s_buf_t *buf, const zm_val_t *val, int depth)
{
    switch (val->type) {
    case ZM_TYPE_NIL:
        return s_put (buf, "null", 4);
    case ZM_TYPE_BOOL:
        return val->v.b ? s_put (buf, "true", 4) : s_put (buf, "false", 5);
    case ZM_TYPE_INT:
        return s_put_uint (buf, val->v.i < 0 ? 0 - (uint64_t)val->v.i : (uint64_t)val->v.i,
                           val->v.i < 0);
    case ZM_TYPE_UINT:
        return s_put_uint (buf, val->v.u, false);
    case ZM_TYPE_FLOAT:
        return s_put_float (buf, val->v.f);
    case ZM_TYPE_STR:
        return s_put_string (buf, val->v.s, val->n);
    case ZM_TYPE_BIN:
        return s_put_binary (buf, val->v.s, val->n);
    case ZM_TYPE_ARRAY:
    case ZM_TYPE_MAP: {
        if (depth >= ZM_MSG_MAX_DEPTH)
            return ZM_ETOOBIG;
        bool map = val->type == ZM_TYPE_MAP;
        int rc = map ? s_map_writable (val) : 0;
        if (rc == 0)
            rc = s_put (buf, map ? "{" : "[", 1);
        size_t count = map ? 2 * (size_t)val->n : val->n;
        for (size_t index = 0; index < count && rc == 0; index++) {
            const char *separator = index == 0 ? "" : map && index % 2 ? ":" : ",";
            rc = s_put (buf, separator, *separator ? 1 : 0);
            if (rc == 0)
                rc = s_put_value (buf, &val->v.items[index], depth + 1);
        }
        if (rc == 0)
            rc = s_put (buf, map ? "}" : "]", 1);
        return rc;
    }
    default:
        return ZM_EINTERNAL;
    }
}

int
zm_json_encode_room (const zm_msg_t *msg, size_t room, void **data_p, size_t *size_p)
{
    if (!msg || !data_p || !size_p || room > 1u << 20)
        return ZM_EINVAL;
    s_buf_t buf = {.data = (char *)malloc (room + 256), .size = room, .alloc = room + 256};
    if (!buf.data)
        return ZM_ENOMEM;
    int rc = s_put_value (&buf, &msg->root, 0);
    if (rc == 0 && buf.size - room > ZM_MSG_MAX_SIZE)
        rc = ZM_ETOOBIG;
    if (rc) {
        free (buf.data);
        return rc;
    }
    *data_p = buf.data;
    *size_p = buf.size - room;
    return 0;
}

int
zm_json_encode (const zm_msg_t *msg, void **data_p, size_t *size_p)
{
    return zm_json_encode_room (msg, 0, data_p, size_p);
}

const zm_codec_t zm_codec_json = {
    .content_type = ZM_CT_JSON,
    .decode = zm_json_decode,
    .encode = zm_json_encode,
};
