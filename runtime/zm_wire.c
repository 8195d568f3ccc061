/*  =========================================================================
    zm_wire - the RPC wire protocol v1: frames in, frames out

    docs/protocol.md is the spec; zm_wire.h the API. The decoder checks
    the cheap things first (frame sizes, limits) and only then reads the
    header, in place, in one pass over its keys that both validates and
    fills the struct. The encoder works out the header's exact size, makes
    the frame, and writes msgpack straight into it: no tree, no second
    buffer, no copy. It writes the smallest msgpack form of each value,
    which is what msgpack-c's packer writes (tests/test_wire.c checks the
    two agree), so any msgpack library reads it.

    Peer input never asserts: every malformed message is an error code and
    a static reason. Asserts below guard our own arithmetic only.
    =========================================================================
*/
#include "zm_wire.h"

#include <assert.h>
#include <endian.h>

//  Frame 0 of every message we send
static const uint8_t s_signature[3] = {'Z', 'M', ZM_WIRE_VERSION};

//  The empty msgpack map: the header of most answers
#define S_EMPTY_MAP 0x80

//  --------------------------------------------------------------------------
//  Header keys: one table drives decoding, encoding and the reasons given

typedef enum {
    K_SERVICE,
    K_ENDPOINT,
    K_CONTENT_TYPE,
    K_TIMEOUT,
    K_METADATA,
    K_TRACE_ID,
    K_SPAN_ID,
    K_CALLER,
    K_VERSION,
    K_TOPIC,
    K_ID,
    K_PUBLISHER,
    K_GROUP,
    K_TIMESTAMP,
    K_SEQ,
    K_CREDIT,
    K_COUNT
} s_key_t;

typedef struct {
    const char *name;     //  key on the wire
    uint8_t len;          //  strlen (name)
    uint16_t min;         //  shortest string value (1 for names)
    uint16_t max;         //  longest string value
    const char *missing;  //  reason: required key absent
    const char *not_str;  //  reason: value of the wrong type
    const char *empty;    //  reason: shorter than min
    const char *too_long; //  reason: longer than max
    const char *nul;      //  reason: string holds a NUL byte
} s_key_info_t;

//  Reasons are static strings, made here from the key's name
#define S_KEY(name, min, max)                                                                      \
    {                                                                                              \
        name, sizeof (name) - 1, min, max, "missing " name " in header", name " is not a string",  \
            name " is empty", name " is too long", name " holds a NUL byte"                        \
    }

static const s_key_info_t s_keys[K_COUNT] = {
    [K_SERVICE] = S_KEY ("service", 1, ZM_WIRE_MAX_NAME),
    [K_ENDPOINT] = S_KEY ("endpoint", 1, ZM_WIRE_MAX_NAME),
    [K_CONTENT_TYPE] = S_KEY ("content_type", 1, ZM_WIRE_MAX_NAME),
    [K_TIMEOUT] = S_KEY ("timeout", 0, 0),
    [K_METADATA] = S_KEY ("metadata", 0, 0),
    [K_TRACE_ID] = S_KEY ("trace_id", 0, ZM_WIRE_MAX_TRACE),
    [K_SPAN_ID] = S_KEY ("span_id", 0, ZM_WIRE_MAX_TRACE),
    [K_CALLER] = S_KEY ("caller", 0, ZM_WIRE_MAX_NAME),
    [K_VERSION] = S_KEY ("version", 0, ZM_WIRE_MAX_VERSION),
    [K_TOPIC] = S_KEY ("topic", 1, ZM_WIRE_MAX_NAME),
    [K_ID] = S_KEY ("id", 0, ZM_WIRE_MAX_ID),
    [K_PUBLISHER] = S_KEY ("publisher", 0, ZM_WIRE_MAX_ID),
    [K_GROUP] = S_KEY ("group", 0, ZM_WIRE_MAX_NAME),
    [K_TIMESTAMP] = S_KEY ("timestamp", 0, 0),
    [K_SEQ] = S_KEY ("seq", 0, 0),
    [K_CREDIT] = S_KEY ("credit", 0, 0),
};

#define S_BIT(key) (1u << (key))
#define S_REQUEST_KEYS ((1u << (K_VERSION + 1)) - 1)
#define S_REPLY_KEYS (S_BIT (K_CONTENT_TYPE) | S_BIT (K_METADATA))
#define S_EVENT_KEYS                                                                               \
    (S_BIT (K_TOPIC) | S_BIT (K_ID) | S_BIT (K_PUBLISHER) | S_BIT (K_GROUP) | S_BIT (K_TIMESTAMP)   \
     | S_BIT (K_SEQ) | S_BIT (K_CONTENT_TYPE) | S_BIT (K_METADATA) | S_BIT (K_TRACE_ID))
//  The extras map of the PUB/SUB form: the rest are fixed fields
#define S_EXTRA_KEYS (S_BIT (K_CONTENT_TYPE) | S_BIT (K_METADATA) | S_BIT (K_TRACE_ID))
#define S_UINT_KEYS (S_BIT (K_TIMEOUT) | S_BIT (K_TIMESTAMP) | S_BIT (K_SEQ) | S_BIT (K_CREDIT))
//  Required keys of a command (REQUEST, STREAM_OPEN, STREAM_CREDIT, EVENT)
#define S_REQUIRED                                                                                 \
    (S_BIT (K_SERVICE) | S_BIT (K_ENDPOINT) | S_BIT (K_TIMEOUT) | S_BIT (K_TOPIC)                 \
     | S_BIT (K_CREDIT))

//  Index of a header key, or -1 when we do not know it
static inline int
s_key_find (const char *key, size_t len)
{
    //  By length first: at most four names share one
    static const int8_t by_len[13][4] = {
        [2] = {K_ID, -1},
        [3] = {K_SEQ, -1},
        [5] = {K_TOPIC, K_GROUP, -1},
        [6] = {K_CALLER, K_CREDIT, -1},
        [7] = {K_TIMEOUT, K_SERVICE, K_VERSION, K_SPAN_ID},
        [8] = {K_ENDPOINT, K_METADATA, K_TRACE_ID, -1},
        [9] = {K_PUBLISHER, K_TIMESTAMP, -1},
        [12] = {K_CONTENT_TYPE, -1},
    };
    if (len >= 13 || !by_len[len][0])
        return -1; //  no key of that length (a row never starts with K_SERVICE, 0)
    for (int index = 0; index < 4 && by_len[len][index] >= 0; index++) {
        const char *name = s_keys[by_len[len][index]].name;
        size_t at = 0; //  names are short: no call to memcmp
        while (at < len && name[at] == key[at])
            at++;
        if (at == len)
            return by_len[len][index];
    }
    return -1;
}

//  Field of the struct a string key fills
static const char **
s_key_field (zm_wire_t *wire, int key)
{
    switch (key) {
    case K_SERVICE:
        return &wire->service;
    case K_ENDPOINT:
        return &wire->endpoint;
    case K_CONTENT_TYPE:
        return &wire->content_type;
    case K_TRACE_ID:
        return &wire->trace_id;
    case K_SPAN_ID:
        return &wire->span_id;
    case K_CALLER:
        return &wire->caller;
    case K_VERSION:
        return &wire->version;
    case K_TOPIC:
        return &wire->topic;
    case K_ID:
        return &wire->event_id;
    case K_PUBLISHER:
        return &wire->publisher;
    case K_GROUP:
        return &wire->group;
    default:
        return NULL;
    }
}

//  Keys a command's header carries
static unsigned
s_keys_of (int command)
{
    if (command == ZM_CMD_REQUEST)
        return S_REQUEST_KEYS;
    if (command == ZM_CMD_REPLY)
        return S_REPLY_KEYS;
    if (command == ZM_CMD_EVENT)
        return S_EVENT_KEYS;
    if (command == ZM_CMD_STREAM_OPEN)
        return S_REQUEST_KEYS | S_BIT (K_CREDIT);
    if (command == ZM_CMD_STREAM_CREDIT)
        return S_BIT (K_CREDIT);
    return 0;
}

//  The uint field a key fills
static uint64_t *
s_uint_field (zm_wire_t *wire, int key)
{
    return key == K_TIMESTAMP ? &wire->timestamp
           : key == K_SEQ     ? &wire->seq
           : key == K_CREDIT  ? &wire->credit
                              : NULL;
}

//  --------------------------------------------------------------------------
//  Commands

const char *
zm_wire_command_name (int command)
{
    switch (command) {
    case ZM_CMD_REQUEST:
        return "REQUEST";
    case ZM_CMD_REPLY:
        return "REPLY";
    case ZM_CMD_ERROR:
        return "ERROR";
    case ZM_CMD_CANCEL:
        return "CANCEL";
    case ZM_CMD_STREAM_OPEN:
        return "STREAM_OPEN";
    case ZM_CMD_STREAM_DATA:
        return "STREAM_DATA";
    case ZM_CMD_STREAM_END:
        return "STREAM_END";
    case ZM_CMD_STREAM_CANCEL:
        return "STREAM_CANCEL";
    case ZM_CMD_STREAM_CREDIT:
        return "STREAM_CREDIT";
    case ZM_CMD_EVENT:
        return "EVENT";
    case ZM_CMD_HELLO:
        return "HELLO";
    case ZM_CMD_PING:
        return "PING";
    case ZM_CMD_PONG:
        return "PONG";
    default:
        if (command >= ZM_CMD_SYNC_FIRST && command <= ZM_CMD_SYNC_LAST)
            return "SYNC";
        return "UNKNOWN";
    }
}

bool
zm_wire_command_known (int command)
{
    switch (command) {
    case ZM_CMD_REQUEST:
    case ZM_CMD_REPLY:
    case ZM_CMD_ERROR:
    case ZM_CMD_CANCEL:
    case ZM_CMD_STREAM_OPEN:
    case ZM_CMD_STREAM_DATA:
    case ZM_CMD_STREAM_END:
    case ZM_CMD_STREAM_CANCEL:
    case ZM_CMD_STREAM_CREDIT:
    case ZM_CMD_EVENT:
    case ZM_CMD_HELLO:
    case ZM_CMD_PING:
    case ZM_CMD_PONG:
        return true;
    default:
        return command >= ZM_CMD_SYNC_FIRST && command <= ZM_CMD_SYNC_LAST;
    }
}

//  --------------------------------------------------------------------------
//  Decoding

static inline uint64_t
s_get_be64 (const uint8_t *p)
{
    uint64_t value;
    memcpy (&value, p, 8); //  one load, then the byte order
    return be64toh (value);
}

static inline int
s_fail (zm_wire_t *wire, int rc, const char *reason)
{
    wire->reason = reason;
    return rc;
}

//  Check a metadata map: strings only, within limits, no duplicate keys.
//  Used on what we decode and on what we are asked to encode. 0 or error.
int
zm_wire_check_metadata (const zm_val_t *map, const char **reason_p)
{
    if (zm_val_type (map) != ZM_TYPE_MAP) {
        *reason_p = "metadata is not a map";
        return ZM_EPROTO;
    }
    size_t count = zm_val_size (map);
    if (count > ZM_WIRE_MAX_META) {
        *reason_p = "metadata has more than 64 entries";
        return ZM_ETOOBIG;
    }
    for (size_t index = 0; index < count; index++) {
        size_t key_len = 0, value_len = 0;
        const char *key = zm_val_key_at (map, index, &key_len);
        const zm_val_t *value = zm_val_at (map, index);
        const char *text =
            zm_val_type (value) == ZM_TYPE_STR ? zm_val_str (value, NULL, &value_len) : NULL;
        const char *reason = NULL;
        int rc = ZM_EPROTO;
        if (!key)
            reason = "metadata key is not a string";
        else if (key_len == 0)
            reason = "metadata key is empty";
        else if (memchr (key, 0, key_len))
            reason = "metadata key holds a NUL byte";
        else if (!text)
            reason = "metadata value is not a string";
        else if (memchr (text, 0, value_len))
            reason = "metadata value holds a NUL byte";
        else if (key_len > ZM_WIRE_MAX_META_KEY) {
            reason = "metadata key is too long";
            rc = ZM_ETOOBIG;
        } else if (value_len > ZM_WIRE_MAX_META_VAL) {
            reason = "metadata value is too long";
            rc = ZM_ETOOBIG;
        }
        for (size_t other = 0; !reason && other < index; other++) {
            size_t other_len = 0;
            const char *other_key = zm_val_key_at (map, other, &other_len);
            if (other_len == key_len && memcmp (other_key, key, key_len) == 0)
                reason = "duplicate metadata key";
        }
        if (reason) {
            *reason_p = reason;
            return rc;
        }
    }
    return 0;
}

//  Check a string value against its key's limits. 0 or error.
static int
s_check_str (const s_key_info_t *info, const char *text, size_t len, const char **reason_p)
{
    if (len < info->min) {
        *reason_p = info->empty;
        return ZM_EPROTO;
    }
    if (len > info->max) {
        *reason_p = info->too_long;
        return ZM_ETOOBIG;
    }
    if (memchr (text, 0, len)) {
        *reason_p = info->nul;
        return ZM_EPROTO;
    }
    return 0;
}

//  One pass over the header map's keys: validate and fill the fields of
//  wanted (the keys of wire->command, or the extras of the PUB/SUB form).
//  Unknown keys, and keys other commands use, are skipped.
static int
s_read_header (zm_wire_t *wire, const zm_val_t *root, unsigned wanted)
{
    unsigned seen = 0;
    size_t pairs = zm_val_size (root);
    const char *reason = NULL;
    int rc = 0;
    for (size_t index = 0; index < pairs; index++) {
        size_t key_len = 0;
        const char *name = zm_val_key_at (root, index, &key_len);
        if (!name)
            return s_fail (wire, ZM_EPROTO, "header key is not a string");
        int key = wanted ? s_key_find (name, key_len) : -1;
        if (key < 0 || !(wanted & S_BIT (key)))
            continue; //  forward compatible: not ours, ignored
        if (seen & S_BIT (key))
            return s_fail (wire, ZM_EPROTO, "duplicate header key");
        seen |= S_BIT (key);
        const zm_val_t *value = zm_val_at (root, index);
        zm_type_t type = zm_val_type (value);
        if (type == ZM_TYPE_NIL && !(S_REQUIRED & S_BIT (key))) {
            seen &= ~S_BIT (key); //  nil means absent for optional keys
            continue;
        }
        const s_key_info_t *info = &s_keys[key];
        if (key == K_TIMEOUT) {
            if (type != ZM_TYPE_UINT)
                return s_fail (wire, ZM_EPROTO, "timeout is not an unsigned integer");
            uint64_t timeout = zm_val_uint (value, 0);
            if (timeout == 0)
                return s_fail (wire, ZM_EPROTO, "timeout is 0");
            if (timeout > ZM_WIRE_MAX_TIMEOUT)
                return s_fail (wire, ZM_EPROTO, "timeout is over one hour");
            wire->timeout_ms = (uint32_t)timeout;
        } else if (S_UINT_KEYS & S_BIT (key)) {
            if (type != ZM_TYPE_UINT)
                return s_fail (wire, ZM_EPROTO,
                               key == K_SEQ      ? "seq is not an unsigned integer"
                               : key == K_CREDIT ? "credit is not an unsigned integer"
                                                 : "timestamp is not an unsigned integer");
            *s_uint_field (wire, key) = zm_val_uint (value, 0);
            if (key == K_CREDIT && wire->credit > ZM_WIRE_MAX_CREDIT)
                return s_fail (wire, ZM_EPROTO, "credit is over 1000000");
            if (key == K_CREDIT && wire->credit == 0 && wire->command == ZM_CMD_STREAM_OPEN)
                return s_fail (wire, ZM_EPROTO, "credit is 0");
        } else if (key == K_METADATA) {
            rc = zm_wire_check_metadata (value, &reason);
            if (rc)
                return s_fail (wire, rc, reason);
            wire->metadata = value;
        } else {
            if (type != ZM_TYPE_STR)
                return s_fail (wire, ZM_EPROTO, info->not_str);
            size_t len = 0;
            const char *text = zm_val_str (value, NULL, &len);
            rc = s_check_str (info, text, len, &reason);
            if (rc)
                return s_fail (wire, rc, reason);
            *s_key_field (wire, key) = text;
        }
    }
    if (wire->command == ZM_CMD_REQUEST || wire->command == ZM_CMD_EVENT
        || wire->command == ZM_CMD_STREAM_OPEN || wire->command == ZM_CMD_STREAM_CREDIT) {
        for (int key = 0; key < K_COUNT; key++)
            if ((S_REQUIRED & wanted & S_BIT (key)) && !(seen & S_BIT (key)))
                return s_fail (wire, ZM_EPROTO, s_keys[key].missing);
        if (wire->content_type && !zm_msg_content_type_known (wire->content_type))
            return s_fail (wire, ZM_EINVAL, "unknown content type");
    }
    if (!wire->content_type)
        wire->content_type = ZM_CT_MSGPACK;
    return 0;
}

//  Frees a header frame the decoded header took over
static void
s_frame_free (void *data, void *hint)
{
    zframe_t *frame = (zframe_t *)hint;
    zframe_destroy (&frame);
}

//  Read a header zm_msg_decode* gave (rc) into wire->header: the keys
//  wanted
static int
s_read_decoded (zm_wire_t *wire, int rc, unsigned wanted)
{
    if (rc == ZM_ENOMEM)
        return s_fail (wire, rc, "out of memory");
    if (rc)
        return s_fail (wire, ZM_EPROTO, "header is not valid msgpack");
    const zm_val_t *root = zm_msg_root (wire->header);
    if (zm_val_type (root) != ZM_TYPE_MAP)
        return s_fail (wire, ZM_EPROTO, "header is not a msgpack map");
    return s_read_header (wire, root, wanted);
}

//  Decode the header frame (taken on success) and read it
static int
s_decode_header (zm_wire_t *wire, zframe_t **frame_p)
{
    zframe_t *frame = *frame_p;
    size_t size = zframe_size (frame);
    uint8_t *data = zframe_data (frame);
    if (size == 1 && data[0] == S_EMPTY_MAP) {
        //  Most answers: nothing to decode, nothing to allocate
        wire->content_type = ZM_CT_MSGPACK;
        if (wire->command == ZM_CMD_REQUEST)
            return s_fail (wire, ZM_EPROTO, s_keys[K_SERVICE].missing);
        if (wire->command == ZM_CMD_EVENT)
            return s_fail (wire, ZM_EPROTO, s_keys[K_TOPIC].missing);
        if (wire->command == ZM_CMD_STREAM_OPEN)
            return s_fail (wire, ZM_EPROTO, s_keys[K_SERVICE].missing);
        if (wire->command == ZM_CMD_STREAM_CREDIT)
            return s_fail (wire, ZM_EPROTO, s_keys[K_CREDIT].missing);
        return 0;
    }
    const char *why = NULL;
    int rc =
        zm_msg_decode_inplace (ZM_CT_MSGPACK, data, size, s_frame_free, frame, &wire->header, &why);
    if (rc == 0)
        *frame_p = NULL; //  the header owns it now
    return s_read_decoded (wire, rc, s_keys_of (wire->command));
}

//  The first three frames, read where they lie
typedef struct {
    const uint8_t *data; //  NULL: the frame is missing
    size_t size;
} s_part_t;

//  Decode one message: parts 0..2 in place, header and body as frames,
//  count the number of frames received. Takes the header frame (into
//  wire->header) and the body frame (into wire->body) on success; on
//  failure leaves both to the caller.
static int
s_decode (zm_wire_t *wire, size_t count, const s_part_t *parts, zframe_t **header_p,
          zframe_t **body_p, size_t max_body)
{
    if (max_body == 0)
        max_body = ZM_WIRE_MAX_BODY;
    int rc = 0;
    const s_part_t *sig = &parts[0], *cmd = &parts[1], *corr = &parts[2];
    if (!sig->data || sig->size != 3 || memcmp (sig->data, s_signature, 2) != 0)
        return s_fail (wire, ZM_EPROTO, "bad signature");
    wire->proto = sig->data[2];
    bool cmd_ok = cmd->data && cmd->size == 1;
    bool corr_ok = corr->data && corr->size == 8;
    if (cmd_ok)
        wire->command = cmd->data[0];
    if (corr_ok)
        wire->corr = s_get_be64 (corr->data);
    //  Only what we can answer, and never an answer: no reply loops
    //  An EVENT is never answered either: its sender reads nothing.
    bool answerable = cmd_ok && corr_ok && !zm_wire_is_answer (wire->command)
                      && wire->command != ZM_CMD_EVENT;

    if (wire->proto != ZM_WIRE_VERSION)
        rc = s_fail (wire, ZM_EPROTO, "unsupported protocol version");
    else if (count != ZM_WIRE_FRAMES)
        rc = s_fail (wire, ZM_EPROTO, "wrong frame count");
    else if (!cmd_ok)
        rc = s_fail (wire, ZM_EPROTO, "command frame is not 1 byte");
    else if (!corr_ok)
        rc = s_fail (wire, ZM_EPROTO, "correlation id is not 8 bytes");
    else if (!zm_wire_command_known (wire->command))
        rc = s_fail (wire, ZM_EPROTO, "unknown command");
    else if (wire->command == ZM_CMD_STREAM_DATA)
        rc = s_fail (wire, ZM_EPROTO, "STREAM_DATA has the 1-frame form only");
    else if (zframe_size (*header_p) > ZM_WIRE_MAX_HEADER)
        rc = s_fail (wire, ZM_ETOOBIG, "header frame is over 64 KiB");
    else if (zframe_size (*body_p) > max_body)
        rc = s_fail (wire, ZM_ETOOBIG, "body is over the size limit");
    else
        rc = s_decode_header (wire, header_p);
    if (rc) {
        wire->answerable = answerable;
        return rc;
    }
    wire->body = *body_p;
    *body_p = NULL;
    return 0;
}

//  A 1-frame message (data, size bytes): the STREAM_DATA form, "ZM" +
//  version, the command, the corr id, then the body to the end. take
//  (called only on success) hands the frame over to wire->data.
static int
s_decode_data (zm_wire_t *wire, const uint8_t *data, size_t size, size_t max_body)
{
    if (max_body == 0)
        max_body = ZM_WIRE_MAX_BODY;
    if (size < 3 || memcmp (data, s_signature, 2) != 0)
        return s_fail (wire, ZM_EPROTO, "bad signature");
    wire->proto = data[2];
    bool cmd_ok = size >= 4, corr_ok = size >= ZM_WIRE_DATA_PREFIX;
    if (cmd_ok)
        wire->command = data[3];
    if (corr_ok)
        wire->corr = s_get_be64 (data + 4);
    wire->answerable = cmd_ok && corr_ok && !zm_wire_is_answer (wire->command)
                       && wire->command != ZM_CMD_EVENT;
    if (wire->proto != ZM_WIRE_VERSION)
        return s_fail (wire, ZM_EPROTO, "unsupported protocol version");
    if (!corr_ok)
        return s_fail (wire, ZM_EPROTO, "1-frame message is shorter than 12 bytes");
    if (wire->command != ZM_CMD_STREAM_DATA)
        return s_fail (wire, ZM_EPROTO, "wrong frame count");
    if (size - ZM_WIRE_DATA_PREFIX > max_body)
        return s_fail (wire, ZM_ETOOBIG, "body is over the size limit");
    wire->answerable = false;
    wire->content_type = ZM_CT_MSGPACK; //  the stream's, in fact: its OPEN named it
    return 0;
}

static void
s_data_free (void *data, void *hint)
{
    free (data);
}

int
zm_wire_send_data (void *handle, const zm_wire_peer_t *peer, uint64_t corr, void *buffer,
                   size_t size, int flags)
{
    if (!handle || !buffer || size < ZM_WIRE_DATA_PREFIX) {
        free (buffer);
        return ZM_EINVAL;
    }
    uint8_t *p = (uint8_t *) buffer;
    memcpy (p, s_signature, 3);
    p[3] = ZM_CMD_STREAM_DATA;
    uint64_t be = htobe64 (corr);
    memcpy (p + 4, &be, 8);
    zmq_msg_t frame;
    if (zmq_msg_init_data (&frame, buffer, size, s_data_free, NULL) != 0) {
        free (buffer);
        return ZM_ENOMEM;
    }
    flags &= ZMQ_DONTWAIT;
    if ((peer && zmq_send (handle, peer->data, peer->size, flags | ZMQ_SNDMORE) == -1)
        || zmq_msg_send (&frame, handle, flags) == -1) {
        zmq_msg_close (&frame);
        return ZM_EUNAVAIL;
    }
    return 0;
}

//  After a failed decode keep only what the failure report needs
static int
s_failed (zm_wire_t *wire, int rc)
{
    zm_msg_destroy (&wire->header);
    if (wire->data) {
        zmq_msg_close (wire->data);
        free (wire->data);
    }
    zm_wire_t report = {.command = wire->command,
                        .corr = wire->corr,
                        .answerable = wire->answerable,
                        .proto = wire->proto,
                        .reason = wire->reason};
    *wire = report;
    return rc;
}

int
zm_wire_decode (zmsg_t **msg_p, size_t max_body, zm_wire_t *wire)
{
    assert (wire);
    memset (wire, 0, sizeof (*wire));
    if (!msg_p || !*msg_p)
        return s_fail (wire, ZM_EINVAL, "no message");
    zmsg_t *msg = *msg_p;
    *msg_p = NULL;
    size_t count = zmsg_size (msg);
    zframe_t *first = zmsg_first (msg);
    if (count == 1 && zframe_size (first) > 3) {
        int rc = s_decode_data (wire, zframe_data (first), zframe_size (first), max_body);
        if (rc == 0) {
            wire->data = (zmq_msg_t *) malloc (sizeof (zmq_msg_t));
            if (!wire->data || zmq_msg_init_size (wire->data, zframe_size (first)) != 0) {
                free (wire->data);
                wire->data = NULL;
                rc = s_fail (wire, ZM_ENOMEM, "out of memory");
            }
            else
                memcpy (zmq_msg_data (wire->data), zframe_data (first), zframe_size (first));
        }
        zmsg_destroy (&msg);
        return rc ? s_failed (wire, rc) : 0;
    }
    zframe_t *frames[ZM_WIRE_FRAMES] = {NULL};
    for (int index = 0; index < ZM_WIRE_FRAMES; index++)
        frames[index] = zmsg_pop (msg);
    zmsg_destroy (&msg); //  and any frames past the fifth
    s_part_t parts[3] = {{NULL, 0}};
    for (int index = 0; index < 3; index++)
        if (frames[index])
            parts[index] = (s_part_t) {zframe_data (frames[index]), zframe_size (frames[index])};
    int rc = s_decode (wire, count, parts, &frames[3], &frames[4], max_body);
    for (int index = 0; index < ZM_WIRE_FRAMES; index++)
        zframe_destroy (&frames[index]);
    return rc ? s_failed (wire, rc) : 0;
}

int
zm_wire_recv (void *handle, zm_wire_peer_t *peer, size_t max_body, zm_wire_t *wire)
{
    assert (wire);
    memset (wire, 0, sizeof (*wire));
    if (peer)
        peer->size = 0;
    zmq_msg_t parts[4]; //  identity (ROUTER), signature, command, correlation id
    int first = peer ? 0 : 1, received = first;
    zmq_msg_init (&parts[first]);
    if (!handle || zmq_msg_recv (&parts[first], handle, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&parts[first]);
        return -1;
    }
    //  The rest of a message is there once its first part is: no waiting
    bool more = zmq_msg_more (&parts[first]);
    received++;
    while (more && received < 4) {
        zmq_msg_init (&parts[received]);
        if (zmq_msg_recv (&parts[received], handle, 0) == -1) {
            zmq_msg_close (&parts[received]);
            more = false;
            break;
        }
        more = zmq_msg_more (&parts[received++]);
    }
    if (received == 2 && !more && zmq_msg_size (&parts[1]) > 3) {
        //  One frame: the STREAM_DATA form
        if (peer) {
            size_t size = zmq_msg_size (&parts[0]);
            if (size <= sizeof peer->data) {
                memcpy (peer->data, zmq_msg_data (&parts[0]), size);
                peer->size = (uint8_t) size;
            }
            zmq_msg_close (&parts[0]);
        }
        int rc = s_decode_data (wire, (const uint8_t *) zmq_msg_data (&parts[1]),
                                zmq_msg_size (&parts[1]), max_body);
        if (rc == 0 && !(wire->data = (zmq_msg_t *) malloc (sizeof (zmq_msg_t))))
            rc = s_fail (wire, ZM_ENOMEM, "out of memory");
        if (rc == 0) {
            zmq_msg_init (wire->data);
            zmq_msg_move (wire->data, &parts[1]);
        }
        zmq_msg_close (&parts[1]);
        return rc ? s_failed (wire, rc) : 0;
    }
    zframe_t *header = more ? zframe_recv (handle) : NULL;
    more = header && zframe_more (header);
    zframe_t *body = more ? zframe_recv (handle) : NULL;
    more = body && zframe_more (body);
    size_t count = (size_t) (received - 1) + (header ? 1 : 0) + (body ? 1 : 0);
    while (more) { //  frames past the fifth: counted and dropped
        zmq_msg_t extra;
        zmq_msg_init (&extra);
        more = zmq_msg_recv (&extra, handle, 0) != -1 && zmq_msg_more (&extra);
        zmq_msg_close (&extra);
        count++;
    }
    if (peer) {
        size_t size = zmq_msg_size (&parts[0]);
        if (size <= sizeof peer->data) {
            memcpy (peer->data, zmq_msg_data (&parts[0]), size);
            peer->size = (uint8_t) size;
        }
    }
    s_part_t view[3] = {{NULL, 0}};
    for (int index = 1; index < received; index++)
        view[index - 1] = (s_part_t) {(const uint8_t *) zmq_msg_data (&parts[index]),
                                      zmq_msg_size (&parts[index])};
    int rc = s_decode (wire, count, view, &header, &body, max_body);
    if (rc == 0 && peer && received > 1)
        wire->who = zm_caller_from (&parts[1]);
    for (int index = first; index < received; index++)
        zmq_msg_close (&parts[index]);
    zframe_destroy (&header);
    zframe_destroy (&body);
    return rc ? s_failed (wire, rc) : 0;
}

void
zm_wire_clear (zm_wire_t *wire)
{
    if (!wire)
        return;
    zm_msg_destroy (&wire->header);
    zframe_destroy (&wire->body);
    if (wire->data) {
        zmq_msg_close (wire->data);
        free (wire->data);
    }
    free (wire->who);
    memset (wire, 0, sizeof (*wire));
}

//  --------------------------------------------------------------------------
//  Encoding: the smallest msgpack form, written into a frame of exact size

static inline size_t
s_str_size (size_t len)
{
    return len + (len < 32 ? 1 : len < 256 ? 2 : len < 65536 ? 3 : 5);
}

static inline size_t
s_uint_size (uint64_t value)
{
    return value < 128 ? 1 : value < 256 ? 2 : value < 65536 ? 3 : value <= UINT32_MAX ? 5 : 9;
}

static inline size_t
s_map_size (size_t count)
{
    return count < 16 ? 1 : count < 65536 ? 3 : 5;
}

static inline uint8_t *
s_put_be (uint8_t *p, uint64_t value, int bytes)
{
    for (int index = bytes - 1; index >= 0; index--) {
        p[index] = (uint8_t)value;
        value >>= 8;
    }
    return p + bytes;
}

static uint8_t *
s_put_str (uint8_t *p, const char *text, size_t len)
{
    if (len < 32)
        *p++ = (uint8_t)(0xa0 | len);
    else if (len < 256) {
        *p++ = 0xd9;
        *p++ = (uint8_t)len;
    } else if (len < 65536) {
        *p++ = 0xda;
        p = s_put_be (p, len, 2);
    } else {
        *p++ = 0xdb;
        p = s_put_be (p, len, 4);
    }
    memcpy (p, text, len);
    return p + len;
}

static uint8_t *
s_put_uint (uint8_t *p, uint64_t value)
{
    if (value < 128) {
        *p++ = (uint8_t)value;
        return p;
    }
    if (value < 256) {
        *p++ = 0xcc;
        return s_put_be (p, value, 1);
    }
    if (value < 65536) {
        *p++ = 0xcd;
        return s_put_be (p, value, 2);
    }
    if (value <= UINT32_MAX) {
        *p++ = 0xce;
        return s_put_be (p, value, 4);
    }
    *p++ = 0xcf;
    return s_put_be (p, value, 8);
}

static uint8_t *
s_put_map (uint8_t *p, size_t count)
{
    if (count < 16) {
        *p++ = (uint8_t)(0x80 | count);
        return p;
    }
    if (count < 65536) {
        *p++ = 0xde;
        return s_put_be (p, count, 2);
    }
    *p++ = 0xdf;
    return s_put_be (p, count, 4);
}

typedef zm_wire_field_t s_field_t;
_Static_assert (K_COUNT <= 16, "zm_wire_plan_t holds every string field");

//  Collect the string fields of keys that wire sets, checking each
static int
s_collect (const zm_wire_t *wire, unsigned keys, s_field_t *fields, size_t *count_p)
{
    size_t count = 0;
    for (int key = 0; key < K_COUNT; key++) {
        if (!(keys & S_BIT (key)) || (S_UINT_KEYS & S_BIT (key)) || key == K_METADATA)
            continue;
        //  s_key_field gives a writable slot; we only read it here
        const char *text = *s_key_field ((zm_wire_t *)wire, key);
        if (key == K_CONTENT_TYPE && text && strcmp (text, ZM_CT_MSGPACK) == 0)
            text = NULL; //  the default goes unsaid
        if (!text) {
            if (S_REQUIRED & keys & S_BIT (key))
                return ZM_EINVAL;
            continue;
        }
        //  A C string holds no NUL: only the length needs checking
        size_t len = strlen (text);
        if (len < s_keys[key].min)
            return ZM_EINVAL;
        if (len > s_keys[key].max)
            return ZM_ETOOBIG;
        fields[count].key = key;
        fields[count].text = text;
        fields[count].len = len;
        count++;
    }
    *count_p = count;
    return 0;
}

typedef zm_wire_plan_t s_plan_t;

//  Plan the header map of the keys of wire that keys names
static int
s_header_plan (const zm_wire_t *wire, s_plan_t *plan, unsigned keys)
{
    memset (plan, 0, sizeof (*plan));
    int rc = s_collect (wire, keys, plan->fields, &plan->count);
    if (rc)
        return rc;
    plan->timeout = keys & S_BIT (K_TIMEOUT);
    plan->metadata = (keys & S_BIT (K_METADATA)) ? wire->metadata : NULL;
    if (plan->timeout && (wire->timeout_ms == 0 || wire->timeout_ms > ZM_WIRE_MAX_TIMEOUT))
        return ZM_EINVAL;
    if (plan->metadata) {
        const char *reason = NULL;
        rc = zm_wire_check_metadata (plan->metadata, &reason);
        if (rc)
            return rc == ZM_EPROTO ? ZM_EINVAL : rc;
    }
    plan->timestamp = (keys & S_BIT (K_TIMESTAMP)) && wire->timestamp;
    plan->seq = (keys & S_BIT (K_SEQ)) && wire->seq;
    plan->credit = keys & S_BIT (K_CREDIT);
    if (plan->credit && wire->credit > ZM_WIRE_MAX_CREDIT)
        return ZM_EINVAL;
    plan->pairs = plan->count + (plan->timeout ? 1 : 0) + (plan->metadata ? 1 : 0)
                  + (plan->timestamp ? 1 : 0) + (plan->seq ? 1 : 0) + (plan->credit ? 1 : 0);
    size_t size = s_map_size (plan->pairs);
    for (size_t index = 0; index < plan->count; index++)
        size += s_str_size (s_keys[plan->fields[index].key].len)
                + s_str_size (plan->fields[index].len);
    if (plan->timeout)
        size += s_str_size (s_keys[K_TIMEOUT].len) + s_uint_size (wire->timeout_ms);
    if (plan->timestamp)
        size += s_str_size (s_keys[K_TIMESTAMP].len) + s_uint_size (wire->timestamp);
    if (plan->seq)
        size += s_str_size (s_keys[K_SEQ].len) + s_uint_size (wire->seq);
    if (plan->credit)
        size += s_str_size (s_keys[K_CREDIT].len) + s_uint_size (wire->credit);
    plan->meta_count = zm_val_size (plan->metadata);
    if (plan->metadata) {
        size += s_str_size (s_keys[K_METADATA].len) + s_map_size (plan->meta_count);
        for (size_t index = 0; index < plan->meta_count; index++) {
            size_t key_len = 0;
            zm_val_key_at (plan->metadata, index, &key_len);
            size += s_str_size (key_len)
                    + s_str_size (zm_val_size (zm_val_at (plan->metadata, index)));
        }
    }
    if (size > ZM_WIRE_MAX_HEADER)
        return ZM_ETOOBIG;
    plan->size = size;
    return 0;
}

//  Pack the planned header into start (plan->size bytes)
static void
s_header_write (const zm_wire_t *wire, const s_plan_t *plan, uint8_t *start)
{
    uint8_t *p = s_put_map (start, plan->pairs);
    for (size_t index = 0; index < plan->count; index++) {
        const s_key_info_t *info = &s_keys[plan->fields[index].key];
        p = s_put_str (p, info->name, info->len);
        p = s_put_str (p, plan->fields[index].text, plan->fields[index].len);
    }
    if (plan->timeout) {
        p = s_put_str (p, s_keys[K_TIMEOUT].name, s_keys[K_TIMEOUT].len);
        p = s_put_uint (p, wire->timeout_ms);
    }
    if (plan->timestamp) {
        p = s_put_str (p, s_keys[K_TIMESTAMP].name, s_keys[K_TIMESTAMP].len);
        p = s_put_uint (p, wire->timestamp);
    }
    if (plan->seq) {
        p = s_put_str (p, s_keys[K_SEQ].name, s_keys[K_SEQ].len);
        p = s_put_uint (p, wire->seq);
    }
    if (plan->credit) {
        p = s_put_str (p, s_keys[K_CREDIT].name, s_keys[K_CREDIT].len);
        p = s_put_uint (p, wire->credit);
    }
    if (plan->metadata) {
        p = s_put_str (p, s_keys[K_METADATA].name, s_keys[K_METADATA].len);
        p = s_put_map (p, plan->meta_count);
        for (size_t index = 0; index < plan->meta_count; index++) {
            size_t key_len = 0, value_len = 0;
            const char *key = zm_val_key_at (plan->metadata, index, &key_len);
            const char *value = zm_val_str (zm_val_at (plan->metadata, index), NULL, &value_len);
            p = s_put_str (p, key, key_len);
            p = s_put_str (p, value, value_len);
        }
    }
    assert ((size_t)(p - start) == plan->size); //  our own sizing, not input
}

//  The header frame of a command, packed in place
static int
s_encode_header (const zm_wire_t *wire, zframe_t **frame_p)
{
    s_plan_t plan;
    int rc = s_header_plan (wire, &plan, s_keys_of (wire->command));
    if (rc)
        return rc;
    zframe_t *frame = zframe_new (NULL, plan.size);
    if (!frame)
        return ZM_ENOMEM;
    s_header_write (wire, &plan, zframe_data (frame));
    *frame_p = frame;
    return 0;
}

//  Assemble the 5 frames; takes header (always) and *body_p (on success)
static int
s_assemble (uint8_t command, uint64_t corr, zframe_t *header, zframe_t **body_p, zmsg_t **msg_p)
{
    uint8_t corr_bytes[8];
    s_put_be (corr_bytes, corr, 8);
    zmsg_t *msg = zmsg_new ();
    zframe_t *frames[4] = {zframe_new (s_signature, sizeof (s_signature)), zframe_new (&command, 1),
                           zframe_new (corr_bytes, 8), header};
    zframe_t *body = body_p && *body_p ? *body_p : zframe_new_empty ();
    bool ok = msg && body && frames[0] && frames[1] && frames[2] && frames[3];
    for (int index = 0; ok && index < 4; index++)
        ok = zmsg_append (msg, &frames[index]) == 0;
    if (ok)
        ok = zmsg_append (msg, &body) == 0;
    if (!ok) {
        for (int index = 0; index < 4; index++)
            zframe_destroy (&frames[index]);
        if (!(body_p && body == *body_p))
            zframe_destroy (&body);
        zmsg_destroy (&msg);
        return ZM_ENOMEM;
    }
    if (body_p)
        *body_p = NULL;
    *msg_p = msg;
    return 0;
}

int
zm_wire_encode (const zm_wire_t *wire, zframe_t **body_p, zmsg_t **msg_p)
{
    if (!wire || !msg_p || !zm_wire_command_known (wire->command))
        return ZM_EINVAL;
    zframe_t *header = NULL;
    int rc = s_encode_header (wire, &header);
    if (rc)
        return rc;
    return s_assemble (wire->command, wire->corr, header, body_p, msg_p);
}

int
zm_wire_send (void *handle, const zm_wire_peer_t *peer, const zm_wire_t *wire, const void *body,
              size_t body_size, int flags)
{
    if (!handle || !wire || !zm_wire_command_known (wire->command) || (body_size && !body))
        return ZM_EINVAL;
    s_plan_t plan;
    int rc = s_header_plan (wire, &plan, s_keys_of (wire->command));
    if (rc)
        return rc;
    uint8_t stack[512];
    uint8_t *header = plan.size <= sizeof stack ? stack : (uint8_t *) malloc (plan.size);
    if (!header)
        return ZM_ENOMEM;
    s_header_write (wire, &plan, header);
    uint8_t corr[8], command = wire->command;
    s_put_be (corr, wire->corr, 8);
    flags &= ZMQ_DONTWAIT;
    int more = flags | ZMQ_SNDMORE;
    //  Parts of a message go together: only the first can be refused
    bool sent = (!peer || zmq_send (handle, peer->data, peer->size, more) != -1)
                && zmq_send (handle, s_signature, sizeof s_signature, more) != -1
                && zmq_send (handle, &command, 1, more) != -1
                && zmq_send (handle, corr, sizeof corr, more) != -1
                && zmq_send (handle, header, plan.size, more) != -1
                && zmq_send (handle, body_size ? body : "", body_size, flags) != -1;
    if (header != stack)
        free (header);
    return sent ? 0 : ZM_EUNAVAIL;
}

//  --------------------------------------------------------------------------
//  The PUB/SUB form of an EVENT: a topic frame and one event frame

//  The value of one hex digit, or -1
static inline int
s_hex_value (char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

//  count bytes as hex digits (czmq's zuuid_str form: upper case)
static inline char *
s_put_hex (char *p, const uint8_t *bytes, size_t count)
{
    for (size_t index = 0; index < count; index++) {
        *p++ = "0123456789ABCDEF"[bytes[index] >> 4];
        *p++ = "0123456789ABCDEF"[bytes[index] & 15];
    }
    return p;
}

int
zm_wire_event_plan (const zm_wire_t *wire, zm_wire_plan_t *plan)
{
    if (!wire || !plan || wire->command != ZM_CMD_EVENT || !wire->topic)
        return ZM_EINVAL;
    size_t topic_len = strlen (wire->topic);
    if (topic_len == 0 || topic_len > ZM_WIRE_MAX_NAME)
        return ZM_EINVAL;
    uint8_t publisher[16] = {0};
    if (wire->publisher) {
        //  A UUID, 32 hex digits: it travels as its 16 bytes
        const char *text = wire->publisher;
        for (int index = 0; index < 2 * 16; index++) {
            int digit = s_hex_value (text[index]); //  a shorter string stops at its NUL
            if (digit < 0)
                return ZM_EINVAL;
            publisher[index / 2] = (uint8_t) (publisher[index / 2] << 4 | digit);
        }
        if (text[2 * 16])
            return ZM_EINVAL;
    }
    int rc = s_header_plan (wire, plan, S_EXTRA_KEYS);
    if (rc)
        return rc;
    plan->room = ZM_WIRE_EVENT_PREFIX + plan->size;
    plan->topic_len = topic_len;
    memcpy (plan->publisher, publisher, sizeof publisher);
    return 0;
}

static void
s_free_buffer (void *data, void *hint)
{
    free (data);
}

int
zm_wire_publish (void *handle, const zm_wire_t *wire, const zm_wire_plan_t *plan, void *buffer,
                 size_t body_size, int flags)
{
    int rc = !handle || !buffer || !wire || !plan || !plan->room || !plan->topic_len ? ZM_EINVAL
                                                                                      : 0;
    zmq_msg_t event;
    if (rc == 0 && zmq_msg_init_data (&event, buffer, plan->room + body_size, s_free_buffer, NULL))
        rc = ZM_ENOMEM;
    if (rc) {
        free (buffer);
        return rc;
    }
    uint8_t *data = (uint8_t *) buffer;
    memcpy (data, s_signature, sizeof s_signature);
    data[3] = ZM_CMD_EVENT;
    memcpy (data + 4, plan->publisher, 16);
    s_put_be (data + 20, wire->counter, 8);
    s_put_be (data + 28, wire->timestamp, 8);
    s_put_be (data + 36, wire->seq, 8);
    s_put_be (data + 44, plan->size, 4);
    s_header_write (wire, plan, data + ZM_WIRE_EVENT_PREFIX);
    flags &= ZMQ_DONTWAIT;
    //  Parts of a message go together: only the first can be refused
    bool sent = zmq_send (handle, wire->topic, plan->topic_len, flags | ZMQ_SNDMORE) != -1
                && zmq_msg_send (&event, handle, flags) != -1;
    if (!sent)
        zmq_msg_close (&event); //  frees buffer
    return sent ? 0 : ZM_EUNAVAIL;
}

//  The built-in codec whose content type is the only entry of extras
//  (size bytes), packed as zmicro packs it ({"content_type": fixstr}), or
//  NULL: anything else is decoded as a map.
static const zm_codec_t *
s_extras_codec (const uint8_t *extras, size_t size)
{
    static const char key[] = "\x81\xac" "content_type";
    const size_t key_size = sizeof key - 1;
    if (size <= key_size + 1 || memcmp (extras, key, key_size) != 0
        || extras[key_size] != (0xa0 | (size - key_size - 1)))
        return NULL; //  not one pair, or not a fixstr that fills the rest
    const zm_codec_t *codecs[] = {&zm_codec_raw, &zm_codec_json, &zm_codec_msgpack};
    const uint8_t *name = extras + key_size + 1;
    size_t len = size - key_size - 1;
    for (size_t index = 0; index < sizeof codecs / sizeof codecs[0]; index++)
        if (strlen (codecs[index]->content_type) == len
            && memcmp (codecs[index]->content_type, name, len) == 0)
            return codecs[index];
    return NULL;
}

//  Decode one event frame (data, size bytes) after its topic frame
static int
s_decode_event (zm_wire_t *wire, const void *topic, size_t topic_size, const uint8_t *data,
                size_t size, size_t max_body)
{
    if (!data)
        return s_fail (wire, ZM_EINVAL, "no message");
    if (max_body == 0)
        max_body = ZM_WIRE_MAX_BODY;
    if (size < 4 || memcmp (data, s_signature, 2) != 0)
        return s_fail (wire, ZM_EPROTO, "bad signature");
    wire->proto = data[2];
    wire->command = data[3];
    if (wire->proto != ZM_WIRE_VERSION)
        return s_fail (wire, ZM_EPROTO, "unsupported protocol version");
    if (wire->command != ZM_CMD_EVENT)
        return s_fail (wire, ZM_EPROTO, "not an EVENT");
    if (size < ZM_WIRE_EVENT_PREFIX + 1)
        return s_fail (wire, ZM_EPROTO, "event frame is too short");
    //  The topic frame is the topic
    const char *reason = NULL;
    int rc = s_check_str (&s_keys[K_TOPIC], (const char *) topic, topic_size, &reason);
    if (rc)
        return s_fail (wire, rc, reason);
    char *text = wire->text;
    memcpy (text, topic, topic_size);
    text[topic_size] = 0;
    wire->topic = text;
    text += topic_size + 1;
    //  The fixed fields
    wire->counter = s_get_be64 (data + 20);
    static const uint8_t none[16] = {0};
    if (memcmp (data + 4, none, 16) != 0) {
        wire->publisher = text;
        text = s_put_hex (text, data + 4, 16);
        *text++ = 0;
        //  The id: the publisher's first 8 bytes, then the counter (as
        //  zm_publish gives it)
        wire->event_id = text;
        text = s_put_hex (text, data + 4, 8);
        uint64_t counter = wire->counter;
        for (int digit = 15; digit >= 0; digit--, counter >>= 4)
            text[digit] = "0123456789abcdef"[counter & 15];
        text[16] = 0;
    }
    wire->timestamp = s_get_be64 (data + 28);
    wire->seq = s_get_be64 (data + 36);
    size_t extras = ((size_t) data[44] << 24) | ((size_t) data[45] << 16)
                    | ((size_t) data[46] << 8) | data[47];
    if (extras > ZM_WIRE_MAX_HEADER)
        return s_fail (wire, ZM_ETOOBIG, "header frame is over 64 KiB");
    if (extras > size - ZM_WIRE_EVENT_PREFIX)
        return s_fail (wire, ZM_EPROTO, "header runs past the event frame");
    if (size - ZM_WIRE_EVENT_PREFIX - extras > max_body)
        return s_fail (wire, ZM_ETOOBIG, "body is over the size limit");
    wire->body_offset = ZM_WIRE_EVENT_PREFIX + extras;
    const uint8_t *map = data + ZM_WIRE_EVENT_PREFIX;
    if (extras == 1 && map[0] == S_EMPTY_MAP) {
        wire->content_type = zm_codec_msgpack.content_type; //  nothing to decode
        return 0;
    }
    //  Only a built-in content type, as zmicro packs it: no tree either
    const zm_codec_t *codec = s_extras_codec (map, extras);
    if (codec) {
        wire->content_type = codec->content_type; //  zm_codec_find knows this pointer
        return 0;
    }
    //  The extras are copied out: the body stays in the frame
    const char *why = NULL;
    rc = extras ? zm_msg_decode (ZM_CT_MSGPACK, map, extras, &wire->header, &why) : ZM_ECODEC;
    return s_read_decoded (wire, rc, S_EXTRA_KEYS);
}

int
zm_wire_decode_event (const void *topic, size_t topic_size, const void *data, size_t size,
                      size_t max_body, zm_wire_t *wire)
{
    assert (wire);
    memset (wire, 0, sizeof (*wire));
    int rc = s_decode_event (wire, topic, topic_size, (const uint8_t *) data, size, max_body);
    return rc ? s_failed (wire, rc) : 0;
}

int
zm_wire_recv_event (void *handle, size_t max_body, zm_wire_t *wire, zmq_msg_t *frame)
{
    assert (wire && frame);
    memset (wire, 0, sizeof (*wire));
    zmq_msg_init (frame);
    zmq_msg_t topic;
    zmq_msg_init (&topic);
    if (!handle || zmq_msg_recv (&topic, handle, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&topic);
        return -1;
    }
    //  The rest of a message is there once its first part is: no waiting
    size_t count = 1;
    bool more = zmq_msg_more (&topic);
    if (more) {
        more = zmq_msg_recv (frame, handle, 0) != -1;
        count += more;
        more = more && zmq_msg_more (frame);
    }
    while (more) { //  frames past the second: counted and dropped
        zmq_msg_t extra;
        zmq_msg_init (&extra);
        more = zmq_msg_recv (&extra, handle, 0) != -1 && zmq_msg_more (&extra);
        zmq_msg_close (&extra);
        count++;
    }
    int rc = count != 2 ? s_fail (wire, ZM_EPROTO, "wrong frame count")
                        : s_decode_event (wire, zmq_msg_data (&topic), zmq_msg_size (&topic),
                                          (const uint8_t *) zmq_msg_data (frame),
                                          zmq_msg_size (frame), max_body);
    zmq_msg_close (&topic);
    if (rc) {
        zmq_msg_close (frame);
        zmq_msg_init (frame);
        return s_failed (wire, rc);
    }
    return 0;
}

//  Encode a command with no fields besides content_type
static zmsg_t *
s_simple (int command, uint64_t corr, const char *content_type, zframe_t **body_p)
{
    zm_wire_t wire = {.command = (uint8_t)command, .corr = corr, .content_type = content_type};
    zmsg_t *msg = NULL;
    return zm_wire_encode (&wire, body_p, &msg) == 0 ? msg : NULL;
}

zmsg_t *
zm_wire_reply (uint64_t corr, const char *content_type, zframe_t **body_p)
{
    return s_simple (ZM_CMD_REPLY, corr, content_type, body_p);
}

zmsg_t *
zm_wire_ping (uint64_t corr)
{
    return s_simple (ZM_CMD_PING, corr, NULL, NULL);
}

zmsg_t *
zm_wire_pong (uint64_t corr)
{
    return s_simple (ZM_CMD_PONG, corr, NULL, NULL);
}

zmsg_t *
zm_wire_cancel (uint64_t corr)
{
    return s_simple (ZM_CMD_CANCEL, corr, NULL, NULL);
}

zmsg_t *
zm_wire_error (uint64_t corr, const zm_error_t *error)
{
    //  Not the hot path: the error map has one definition, zm_error_to_msg
    zm_msg_t *map = NULL;
    void *data = NULL;
    size_t size = 0;
    zframe_t *body = NULL;
    zmsg_t *msg = NULL;
    if (zm_error_to_msg (error, &map))
        goto fail;
    if (zm_msg_encode (map, ZM_CT_MSGPACK, &data, &size))
        goto fail;
    body = zframe_new (data, size);
    if (!body)
        goto fail;
    msg = s_simple (ZM_CMD_ERROR, corr, NULL, &body);
fail:
    zframe_destroy (&body);
    free (data);
    zm_msg_destroy (&map);
    return msg;
}

zmsg_t *
zm_wire_answer (const zm_wire_t *wire, int rc)
{
    if (!wire || !wire->answerable || rc == ZM_OK)
        return NULL;
    const char *reason = wire->reason ? wire->reason : zm_strerror (rc);
    zm_error_t *error = NULL;
    if (wire->proto != ZM_WIRE_VERSION)
        error = zm_error_new (rc, "zmicro.wire", "%s: received version %u, this peer speaks %u",
                              reason, wire->proto, ZM_WIRE_VERSION);
    else
        error = zm_error_new (rc, "zmicro.wire", "%s", reason);
    zmsg_t *msg = zm_wire_error (wire->corr, error);
    zm_error_destroy (&error);
    return msg;
}

zm_error_t *
zm_wire_error_value (const zm_wire_t *wire)
{
    if (!wire || (wire->command != ZM_CMD_ERROR && wire->command != ZM_CMD_STREAM_CANCEL))
        return NULL;
    zm_msg_t *map = NULL;
    zm_error_t *error = NULL;
    if (wire->body && zframe_size (wire->body) > 0 &&
        zm_msg_decode (ZM_CT_MSGPACK, zframe_data (wire->body), zframe_size (wire->body), &map,
                       NULL) == 0)
        error = zm_error_from_msg (map);
    zm_msg_destroy (&map);
    if (!error)
        error = zm_error_new (ZM_EPROTO, "zmicro.wire", "malformed ERROR body");
    return error;
}
