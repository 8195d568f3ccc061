/*  =========================================================================
    zmicro/msg.h - codec-neutral message bodies and the codecs behind them

    A zm_msg_t is a message body: a tree of values (nil, bool, int, uint,
    float, string, binary, array, map; nested) that handlers read and build
    without caring whether the peer sent msgpack or JSON. A received msgpack
    body is read in place (zero-copy): strings and binaries point into the
    received buffer, which the message keeps alive.

    Values inside a message are reached through zm_val_t handles. A handle is
    borrowed from its message: valid until the message is destroyed or, for
    handles into a map or array, until that container is modified (a stale
    handle still points at memory the message owns, but writes through it
    are lost). Pointers returned by getters live as long as the message.

    Codecs are chosen by content type:
        application/msgpack       (default) the canonical form
        application/json          lossless for everything JSON can express
        application/octet-stream  raw bytes, untouched: the body is one binary
    JSON cannot express binary: a binary value is written as the one-key
    object {"$bin": "<base64>"} and such an object is read back as binary.
    See docs/codecs.md for the full mapping, the limits and the zero-copy
    rules.
    =========================================================================
*/
#ifndef ZMICRO_MSG_H_INCLUDED
#define ZMICRO_MSG_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define ZM_CT_MSGPACK "application/msgpack"
#define ZM_CT_JSON    "application/json"
#define ZM_CT_RAW     "application/octet-stream"

//  Limits every decoder enforces (input over them fails with ZM_ETOOBIG).
#define ZM_MSG_MAX_DEPTH 64             //  nesting of arrays and maps
#define ZM_MSG_MAX_SIZE  (64u << 20)    //  bytes of one encoded body

typedef enum {
    ZM_TYPE_NIL = 0,
    ZM_TYPE_BOOL,
    ZM_TYPE_INT,        //  signed integer (negative values always)
    ZM_TYPE_UINT,       //  unsigned integer (non-negative values as msgpack stores them)
    ZM_TYPE_FLOAT,      //  double (float32 on the wire is widened)
    ZM_TYPE_STR,
    ZM_TYPE_BIN,
    ZM_TYPE_ARRAY,
    ZM_TYPE_MAP
} zm_type_t;

typedef struct _zm_msg_t zm_msg_t;
typedef struct _zm_val_t zm_val_t;

//  --------------------------------------------------------------------------
//  Life cycle

//  New empty message whose root is an empty map. Caller owns return value.
zm_msg_t *
    zm_msg_new (void);

//  Destroy a message; idempotent, nulls the pointer.
void
    zm_msg_destroy (zm_msg_t **self_p);

//  Deep copy. Caller owns return value; NULL when out of memory.
zm_msg_t *
    zm_msg_dup (const zm_msg_t *self);

//  Decode a body of the given content type (NULL means msgpack). The bytes
//  are copied. On success returns 0 and sets *msg_p (caller owns it); on
//  failure returns ZM_ECODEC, ZM_ETOOBIG or ZM_EINVAL (unknown content type)
//  and, when err_p is not NULL, a one-line reason in *err_p (static string).
int
    zm_msg_decode (const char *content_type, const void *data, size_t size,
                   zm_msg_t **msg_p, const char **err_p);

//  Decode taking ownership of a malloc'ed buffer, no copy: strings and
//  binaries of a msgpack or raw body point into it (strings are
//  NUL-terminated in place). On success the message owns *data_p and it
//  is nulled; on failure the caller still owns it, bytes unchanged.
int
    zm_msg_decode_owned (const char *content_type, void **data_p, size_t size,
                         zm_msg_t **msg_p, const char **err_p);

//  Frees a buffer a message took over (zm_msg_decode_inplace); hint is the
//  value given with it. Called once, on the thread that destroys the message.
typedef void (zm_msg_free_fn) (void *data, void *hint);

//  Decode in place, without copying, a buffer the caller cannot hand over as
//  malloc'ed memory (e.g. a received zframe: pass the frame as hint and a
//  function that destroys it). The buffer must be writable: strings are
//  NUL-terminated in place, overwriting bytes already decoded. On success
//  the message owns the buffer and calls free_fn (data, hint) when it no
//  longer needs it (free_fn may be NULL when the caller keeps the buffer
//  alive longer than the message). On failure nothing is called and the
//  buffer is unchanged. Only msgpack and raw bodies are zero-copy; other
//  codecs decode a copy and release the buffer at once.
int
    zm_msg_decode_inplace (const char *content_type, void *data, size_t size,
                           zm_msg_free_fn *free_fn, void *hint,
                           zm_msg_t **msg_p, const char **err_p);

//  Encode to the given content type (NULL means msgpack). On success returns
//  0 and sets *data_p (malloc'ed, caller frees) and *size_p. Fails with
//  ZM_ECODEC when the value cannot be expressed (JSON: non-string map key,
//  duplicate key, NaN or infinite float, string that is not UTF-8, a map
//  {"$bin": <string>} that would read back as binary; raw: root is not
//  binary or string), ZM_ETOOBIG when the output would exceed
//  ZM_MSG_MAX_SIZE, ZM_EINVAL for an unknown content type.
int
    zm_msg_encode (const zm_msg_t *self, const char *content_type,
                   void **data_p, size_t *size_p);

//  Is this content type known to a codec? (parameters after ';' ignored)
bool
    zm_msg_content_type_known (const char *content_type);

//  --------------------------------------------------------------------------
//  Reading the root map: fallback when the key is missing or of another type.
//  Integers convert between int and uint when the value fits, and to float
//  when the double holds them exactly; floats do not turn into integers.
//  Strings returned are NUL-terminated and live as long as the message.
//  With duplicate keys (msgpack allows them) the first one is found.

const char *
    zm_msg_get_str (const zm_msg_t *self, const char *key, const char *fallback);
int64_t
    zm_msg_get_int (const zm_msg_t *self, const char *key, int64_t fallback);
uint64_t
    zm_msg_get_uint (const zm_msg_t *self, const char *key, uint64_t fallback);
double
    zm_msg_get_float (const zm_msg_t *self, const char *key, double fallback);
bool
    zm_msg_get_bool (const zm_msg_t *self, const char *key, bool fallback);
//  Binary (or string) bytes; NULL when missing. *size_p gets the length.
const void *
    zm_msg_get_bin (const zm_msg_t *self, const char *key, size_t *size_p);
//  Is the key present in the root map?
bool
    zm_msg_has (const zm_msg_t *self, const char *key);

//  --------------------------------------------------------------------------
//  Building the root map. Setting a key that exists replaces its value.
//  Keys and values are copied. Non-negative integers are stored as UINT,
//  whichever setter stored them. Return 0, or ZM_ENOMEM, ZM_EINVAL (root is
//  not a map, NULL key or value), ZM_ETOOBIG (string or binary larger
//  than ZM_MSG_MAX_SIZE).

int zm_msg_set_str (zm_msg_t *self, const char *key, const char *value);
int zm_msg_setf (zm_msg_t *self, const char *key, const char *format, ...)
    __attribute__ ((format (printf, 3, 4)));
int zm_msg_set_int (zm_msg_t *self, const char *key, int64_t value);
int zm_msg_set_uint (zm_msg_t *self, const char *key, uint64_t value);
int zm_msg_set_float (zm_msg_t *self, const char *key, double value);
int zm_msg_set_bool (zm_msg_t *self, const char *key, bool value);
int zm_msg_set_nil (zm_msg_t *self, const char *key);
int zm_msg_set_bin (zm_msg_t *self, const char *key, const void *data, size_t size);
//  Remove a key; ZM_ENOTFOUND when absent.
int zm_msg_del (zm_msg_t *self, const char *key);

//  --------------------------------------------------------------------------
//  Values: reading any node of the tree

//  The root value (a map for zm_msg_new, anything for a decoded body).
const zm_val_t *
    zm_msg_root (const zm_msg_t *self);

//  Type of a value; ZM_TYPE_NIL for a NULL handle.
zm_type_t
    zm_val_type (const zm_val_t *self);
//  Elements of an array or map, bytes of a string or binary, else 0.
size_t
    zm_val_size (const zm_val_t *self);
//  Map lookup by key; NULL when not a map or missing.
const zm_val_t *
    zm_val_get (const zm_val_t *self, const char *key);
//  Array element, or map value, at index; NULL when out of range.
const zm_val_t *
    zm_val_at (const zm_val_t *self, size_t index);
//  Map key at index (NUL-terminated, *len_p gets its length); NULL when not
//  a map, out of range, or the key is not a string.
const char *
    zm_val_key_at (const zm_val_t *self, size_t index, size_t *len_p);
//  Map key at index as a value (for maps with non-string keys).
const zm_val_t *
    zm_val_key_val_at (const zm_val_t *self, size_t index);

bool        zm_val_bool (const zm_val_t *self, bool fallback);
int64_t     zm_val_int (const zm_val_t *self, int64_t fallback);
uint64_t    zm_val_uint (const zm_val_t *self, uint64_t fallback);
double      zm_val_float (const zm_val_t *self, double fallback);
//  String (NUL-terminated; *len_p may be NULL) or fallback (then *len_p is
//  its strlen, 0 for NULL).
const char *zm_val_str (const zm_val_t *self, const char *fallback, size_t *len_p);
//  Binary or string bytes, NULL otherwise (an empty binary is not NULL).
const void *zm_val_bin (const zm_val_t *self, size_t *size_p);

//  --------------------------------------------------------------------------
//  Values: building nested trees. A message whose root is not the default
//  map is built with zm_msg_set_root_* then filled through the handle.
//  Mutating a decoded message is allowed: it is the same tree, whose
//  decoded strings keep pointing into the buffer the message holds.
//  Nesting stops at ZM_MSG_MAX_DEPTH: the container builders return NULL
//  there, as they do for the wrong container kind or out of memory.

//  Replace the root with an empty array / map; returns its handle or NULL.
zm_val_t *zm_msg_set_root_array (zm_msg_t *self);
zm_val_t *zm_msg_set_root_map (zm_msg_t *self);
//  Mutable handle to the root, converting a decoded message if needed.
zm_val_t *zm_msg_root_mut (zm_msg_t *self);

//  In a map: set key to a new empty map / array and return its handle.
zm_val_t *zm_val_set_map (zm_val_t *self, const char *key);
zm_val_t *zm_val_set_array (zm_val_t *self, const char *key);
//  In a map: set a scalar. Return 0 or ZM_EINVAL / ZM_ENOMEM / ZM_ETOOBIG.
int zm_val_set_str (zm_val_t *self, const char *key, const char *value);
int zm_val_set_strn (zm_val_t *self, const char *key, const char *value, size_t len);
int zm_val_set_int (zm_val_t *self, const char *key, int64_t value);
int zm_val_set_uint (zm_val_t *self, const char *key, uint64_t value);
int zm_val_set_float (zm_val_t *self, const char *key, double value);
int zm_val_set_bool (zm_val_t *self, const char *key, bool value);
int zm_val_set_nil (zm_val_t *self, const char *key);
int zm_val_set_bin (zm_val_t *self, const char *key, const void *data, size_t size);
//  In a map: remove a key. 0, ZM_ENOTFOUND when absent, ZM_EINVAL when not a map.
int zm_val_del (zm_val_t *self, const char *key);

//  In an array: append. The container variants return the new handle.
zm_val_t *zm_val_push_map (zm_val_t *self);
zm_val_t *zm_val_push_array (zm_val_t *self);
int zm_val_push_str (zm_val_t *self, const char *value);
int zm_val_push_strn (zm_val_t *self, const char *value, size_t len);
int zm_val_push_int (zm_val_t *self, int64_t value);
int zm_val_push_uint (zm_val_t *self, uint64_t value);
int zm_val_push_float (zm_val_t *self, double value);
int zm_val_push_bool (zm_val_t *self, bool value);
int zm_val_push_nil (zm_val_t *self);
int zm_val_push_bin (zm_val_t *self, const void *data, size_t size);

//  --------------------------------------------------------------------------
//  Codecs are pluggable: an ops struct per content type (as nng does for
//  transports). The built-in ones are below; zm_codec_register adds more.

typedef struct {
    const char *content_type;   //  e.g. "application/json"
    //  Decode size bytes at data into a new message. Must not keep data
    //  after returning. Returns 0 or a zm_err_t, reason in *err_p.
    //  Runs on the caller's thread; must not block.
    int (*decode) (const void *data, size_t size, zm_msg_t **msg_p, const char **err_p);
    //  Encode msg into a malloc'ed buffer. Returns 0 or a zm_err_t.
    int (*encode) (const zm_msg_t *msg, void **data_p, size_t *size_p);
} zm_codec_t;

extern const zm_codec_t zm_codec_msgpack;
extern const zm_codec_t zm_codec_json;
extern const zm_codec_t zm_codec_raw;

//  Codec for a content type (parameters after ';' ignored, case-insensitive);
//  NULL when unknown. NULL or "" means msgpack.
const zm_codec_t *
    zm_codec_find (const char *content_type);

//  Add a codec (process-wide, up to 16; call before starting nodes).
//  The struct must outlive the process. Returns 0, ZM_ECONFLICT, ZM_ETOOMANY.
int
    zm_codec_register (const zm_codec_t *codec);

#ifdef __cplusplus
}
#endif

#endif
