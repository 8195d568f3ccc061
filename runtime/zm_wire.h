/*  =========================================================================
    zm_wire.h - the RPC wire protocol v1: encoding and decoding its frames

    Internal to the library (not installed). docs/protocol.md is the spec;
    this is its C form. Every protocol message is 5 ZeroMQ frames, as a
    DEALER sends and receives them (a ROUTER's identity frame is the
    caller's business, popped before decoding and pushed after encoding):

        0  "ZM" + version byte 0x01
        1  command, 1 byte (zm_cmd_t)
        2  correlation id, 8 bytes big-endian
        3  header, a msgpack map with string keys
        4  body, bytes in the header's content type

    Decoding is zero-copy: the header map is read in place from its frame
    (which the decoded header then owns) and the body frame is kept as it
    came. A decode costs one malloc (the header tree), none at all when the
    header is the empty map. Encoding packs the header straight into its
    frame and takes the body frame as it is.

    zm_wire_t is a plain struct, not an opaque class: it is a decoded value
    on the hot path, so the caller keeps it where it likes (stack, inside
    its own call context) and no allocation is spent on it. Move it by
    value; release what it owns with zm_wire_clear ().
    =========================================================================
*/
#ifndef ZM_WIRE_H_INCLUDED
#define ZM_WIRE_H_INCLUDED

#include "zm_internal.h"

#define ZM_WIRE_VERSION 1              //  the version byte of frame 0
#define ZM_WIRE_FRAMES 5               //  frames in every message
#define ZM_WIRE_MAX_HEADER (64u << 10) //  bytes of the header frame
#define ZM_WIRE_MAX_BODY (16u << 20)   //  default body limit (rpc.max_body)
#define ZM_WIRE_MAX_NAME 255           //  service, endpoint, content_type, caller
#define ZM_WIRE_MAX_TIMEOUT 3600000u   //  milliseconds (one hour)
#define ZM_WIRE_MAX_TRACE 128          //  trace_id, span_id
#define ZM_WIRE_MAX_VERSION 64         //  version
#define ZM_WIRE_MAX_ID 64              //  EVENT id, publisher
#define ZM_WIRE_MAX_META 64            //  metadata entries
#define ZM_WIRE_MAX_META_KEY 255       //  bytes of a metadata key
#define ZM_WIRE_MAX_META_VAL 4096      //  bytes of a metadata value
#define ZM_WIRE_UUID_HEX 32            //  a publisher UUID or event id in hex
#define ZM_WIRE_MAX_CREDIT 1000000u    //  credit of one STREAM_OPEN or STREAM_CREDIT
#define ZM_WIRE_DATA_PREFIX 12         //  "ZM" 0x01, 0x11, corr: before a STREAM_DATA body

//  Commands (frame 1). Values are the wire bytes and never change.
typedef enum {
    ZM_CMD_REQUEST = 0x01,       //  call an endpoint; answered by REPLY or ERROR
    ZM_CMD_REPLY = 0x02,         //  successful answer
    ZM_CMD_ERROR = 0x03,         //  failed answer; body is an error map
    ZM_CMD_CANCEL = 0x04,        //  requester gives up on a corr id (no answer)
    ZM_CMD_STREAM_OPEN = 0x10,   //  open a stream; answered by STREAM_CREDIT or ERROR
    ZM_CMD_STREAM_DATA = 0x11,   //  one message of a stream (1-frame form only)
    ZM_CMD_STREAM_END = 0x12,    //  the sender sends no more (server: the stream is over)
    ZM_CMD_STREAM_CANCEL = 0x13, //  the stream is abandoned (no answer)
    ZM_CMD_STREAM_CREDIT = 0x14, //  the receiver grants credit (0: keepalive)
    ZM_CMD_EVENT = 0x20,         //  reserved: pub/sub
    ZM_CMD_HELLO = 0x30,         //  reserved: discovery
    ZM_CMD_PING = 0x40,          //  liveness probe; answered by PONG
    ZM_CMD_PONG = 0x41,          //  answer to PING, same corr id
    ZM_CMD_SYNC_FIRST = 0x50,    //  0x50..0x5f reserved: sync (Raft)
    ZM_CMD_SYNC_LAST = 0x5f
} zm_cmd_t;

//  A protocol message: what zm_wire_decode fills and zm_wire_encode reads.
//  Strings are NUL-terminated and point into header (decoded) or at the
//  caller's memory (encoding); a field the message lacks is NULL.
typedef struct {
    uint8_t command; //  zm_cmd_t
    uint64_t corr;   //  correlation id
    //  REQUEST header (REPLY uses content_type and metadata only)
    const char *service;      //  service name, 1..255 bytes
    const char *endpoint;     //  endpoint name, 1..255 bytes
    const char *content_type; //  body content type; decoded: never NULL
    uint32_t timeout_ms;      //  budget left when sent, 1..3,600,000
    const zm_val_t *metadata; //  map of str -> str, or NULL
    const char *trace_id;     //  optional, <= 128 bytes
    const char *span_id;      //  optional, <= 128 bytes
    const char *caller;       //  optional, <= 255 bytes
    const char *version;      //  optional required service version, <= 64 bytes
    //  EVENT header (with content_type, metadata, trace_id)
    const char *topic;        //  the event's topic, 1..255 bytes (required)
    const char *event_id;     //  unique id of the event, <= 64 bytes
    const char *publisher;    //  publishing node's UUID, <= 64 bytes
    const char *group;        //  queue group it is sent to, point to point
    uint64_t timestamp;       //  publish time, Unix ms (0: absent)
    uint64_t seq;             //  publisher's sequence for the topic (0: absent)
    uint64_t counter;         //  PUB/SUB form: the publisher's event counter (the id)
    //  STREAM_OPEN and STREAM_CREDIT (with the REQUEST keys for OPEN)
    uint64_t credit;          //  messages granted, 0..1,000,000 (OPEN: >= 1)
    //  STREAM_DATA (1-frame form): the frame, its body at ZM_WIRE_DATA_PREFIX
    zmq_msg_t *data;
    //  Owned by a decoded message, released by zm_wire_clear
    zm_msg_t *header; //  decoded header map; NULL when it was empty
    zframe_t *body;   //  body frame (may be 0 bytes); NULL on failure
    size_t body_offset; //  PUB/SUB event: where the body starts in the event frame
    //  PUB/SUB event: topic, publisher and id, NUL-terminated, live here
    char text[ZM_WIRE_MAX_NAME + 1 + 2 * (ZM_WIRE_UUID_HEX + 1)];
    //  Set when zm_wire_decode fails
    bool answerable;    //  corr and command were readable: send an ERROR
    uint8_t proto;      //  version byte received in frame 0
    const char *reason; //  static one-line reason, NULL on success
    char *who;          //  received on a ROUTER with a peer: who sent it (the
                        //  handshake's metadata, zm_caller_from), or NULL;
                        //  never the claim in caller
} zm_wire_t;

//  Who sent a message, from the connection's ZAP metadata (zmq_msg_gets
//  on any part of it): a new caller record (zm_auth.c), NULL when the
//  connection had no ZAP (CURVE off) or out of memory.
char *zm_caller_from (zmq_msg_t *part);

//  Decode the 5 frames of one message (the ROUTER identity already popped).
//  Takes ownership of *msg_p in every case and nulls it. max_body limits
//  the body frame (0 means ZM_WIRE_MAX_BODY). Fills *wire (caller's
//  storage, overwritten) and returns 0, or a zm_err_t: ZM_EPROTO (framing,
//  header), ZM_ETOOBIG (a limit), ZM_EINVAL (unknown content type of a
//  REQUEST, or no message), ZM_ENOMEM. On failure wire->reason says why,
//  wire->command and wire->corr hold what was readable, wire->answerable
//  tells whether the peer gets an ERROR (see zm_wire_answer) or the message
//  is dropped and counted, and nothing is left to clear.
//  Success does not mean the command is one the receiver handles: a server
//  drops (never answers) REPLY, ERROR and PONG, and answers a reserved
//  command it does not implement with an ERROR.
int zm_wire_decode (zmsg_t **msg_p, size_t max_body, zm_wire_t *wire);

//  A ROUTER peer's routing id, kept by value (libzmq ids are 1..255 bytes)
typedef struct {
    uint8_t data[255];
    uint8_t size; //  0: none
} zm_wire_peer_t;

//  Receive one whole message from handle (a libzmq socket) without waiting
//  and decode it as zm_wire_decode does, without building a zmsg: the
//  first frames are read where libzmq keeps them, only the header and body
//  become frames. peer non-NULL: handle is a ROUTER and the routing id is
//  copied into *peer. Returns -1 when no message was waiting (nothing to
//  clear), else what zm_wire_decode returns for the message.
int zm_wire_recv (void *handle, zm_wire_peer_t *peer, size_t max_body, zm_wire_t *wire);

//  Encode wire as zm_wire_encode does and send it on handle (a libzmq
//  socket) straight from the stack, no zmsg: peer non-NULL sends its
//  routing id first (ROUTER). body (body_size bytes) is copied by libzmq.
//  flags: 0 or ZMQ_DONTWAIT. Returns 0, what zm_wire_encode returns for a
//  bad field, or ZM_EUNAVAIL when the socket refused the message (nothing
//  of it was sent).
int zm_wire_send (void *handle, const zm_wire_peer_t *peer, const zm_wire_t *wire,
                  const void *body, size_t body_size, int flags);

//  The PUB/SUB form of an EVENT (docs/protocol.md section 18.2): two
//  frames, the topic (libzmq's subscription filter matches on it) and one
//  event frame holding the rest, fixed fields first:
//
//      0..2    "ZM" + version byte 0x01
//      3       command 0x20 (EVENT)
//      4..19   publisher: its UUID, 16 bytes (all zero: none)
//      20..27  counter: the publisher's event counter, uint64 big-endian
//      28..35  timestamp: Unix ms, uint64 big-endian (0: none)
//      36..43  seq: per topic, uint64 big-endian (0: none)
//      44..47  H, the extras' length, 4 bytes big-endian (1..64 KiB)
//      48..    extras: a msgpack map of content_type, metadata, trace_id
//              (0x80 when none)
//      48+H..  the body, to the end of the frame
//
//  The topic is the topic frame; the event id is the publisher's first 8
//  bytes and the counter (as text: 16 + 16 hex digits). Two frames where
//  the 5-frame form makes six, and fixed fields where the 5-frame header
//  is a map: libzmq's cost is per frame, a subscriber's is per key.
#define ZM_WIRE_EVENT_PREFIX 48

//  A header checked and sized before anything is written: the fields
//  are zm_wire.c's business; a caller keeps a plan on its stack.
typedef struct {
    int key;          //  header key
    const char *text; //  value
    size_t len;       //  strlen (text)
} zm_wire_field_t;

typedef struct {
    zm_wire_field_t fields[16]; //  string fields
    size_t count;               //  entries in fields
    bool timeout;               //  the timeout goes in
    bool timestamp;             //  the timestamp goes in (EVENT, non-zero)
    bool seq;                   //  the seq goes in (EVENT, non-zero)
    bool credit;                //  the credit goes in (STREAM_OPEN, STREAM_CREDIT)
    const zm_val_t *metadata;   //  metadata map going in, or NULL
    size_t meta_count;          //  its entries
    size_t pairs;               //  entries of the header map
    size_t size;                //  bytes of the packed header (PUB/SUB: extras)
    size_t room;                //  PUB/SUB form: fixed fields and extras bytes
    size_t topic_len;           //  PUB/SUB form: strlen (topic)
    uint8_t publisher[16];      //  PUB/SUB form: the publisher UUID's bytes
} zm_wire_plan_t;

//  Plan wire (an EVENT) in the PUB/SUB form: plan->room is the bytes its
//  fixed fields and extras take (seq is a fixed field: the room is known
//  before seq is). wire->publisher is NULL or a UUID in 32 hex digits; the
//  id this form carries is wire->counter (wire->event_id and group are not
//  sent). Returns 0, ZM_EINVAL (not an EVENT, a bad topic, publisher or
//  field) or ZM_ETOOBIG (a field over its limit).
int zm_wire_event_plan (const zm_wire_t *wire, zm_wire_plan_t *plan);

//  Send wire (an EVENT, planned by zm_wire_event_plan; only seq may have
//  changed since) on handle, a PUB socket, in the PUB/SUB form. buffer
//  (malloc'ed) holds plan->room bytes then the body, body_size bytes
//  (zm_msg_encode_room makes such a buffer). The fixed fields and extras
//  are written into the room and libzmq sends the buffer as it is and frees
//  it. Takes buffer in every case. flags: 0 or ZMQ_DONTWAIT. Returns 0,
//  ZM_EINVAL, ZM_ENOMEM, or ZM_EUNAVAIL when the socket refused the message
//  (nothing was sent).
int zm_wire_publish (void *handle, const zm_wire_t *wire, const zm_wire_plan_t *plan,
                     void *buffer, size_t body_size, int flags);

//  Receive one PUB/SUB event from handle (a SUB socket) without waiting
//  and decode it. The topic, publisher and id (in hex) are copied into
//  wire->text, the extras decoded into wire->header (NULL when they are
//  the empty map: content_type is then msgpack); the event frame
//  stays in *frame (initialized here; the caller closes it after reading
//  the body: zm_wire_event_body). Returns -1 when no message was waiting,
//  0, or as zm_wire_decode a failure, with wire->reason: wrong frame count,
//  bad signature, version, not an EVENT, a topic frame empty, over 255
//  bytes or holding a NUL, extras that overrun the frame or do not decode,
//  a body over max_body (0: ZM_WIRE_MAX_BODY). On -1 and failure *frame is
//  empty (closing it is harmless) and nothing is left to clear.
int zm_wire_recv_event (void *handle, size_t max_body, zm_wire_t *wire, zmq_msg_t *frame);

//  Decode an event frame (data, size bytes) that came after topic frame
//  topic (topic_size bytes), as zm_wire_recv_event does: fills *wire (the
//  extras copied into wire->header; the body is at wire->body_offset in
//  data), returns 0 or a failure as zm_wire_recv_event, with nothing left
//  to clear.
int zm_wire_decode_event (const void *topic, size_t topic_size, const void *data, size_t size,
                          size_t max_body, zm_wire_t *wire);

//  The body of an event zm_wire_recv_event decoded: its bytes, and size
static inline void *
zm_wire_event_body (const zm_wire_t *wire, zmq_msg_t *frame, size_t *size_p)
{
    *size_p = zmq_msg_size (frame) - wire->body_offset;
    return (uint8_t *) zmq_msg_data (frame) + wire->body_offset;
}

//  Check a metadata map (section 5): strings only, at most 64 entries, keys
//  1..255 bytes, values 0..4096 bytes, no NUL, no key twice. Returns 0, or
//  ZM_EPROTO / ZM_ETOOBIG with a static reason in *reason_p. Also used by
//  the store, whose record metadata follows the same rules.
int zm_wire_check_metadata (const zm_val_t *map, const char **reason_p);

//  Send one STREAM_DATA in its 1-frame form (docs/protocol.md section 20)
//  on handle; peer non-NULL sends its routing id first (ROUTER). buffer
//  (malloc'ed) holds size bytes: ZM_WIRE_DATA_PREFIX bytes of room, which
//  this fills, then the body; libzmq sends it without a copy and frees it.
//  Takes buffer in every case. Returns 0, ZM_EINVAL, ZM_ENOMEM, or
//  ZM_EUNAVAIL when the socket refused it.
int zm_wire_send_data (void *handle, const zm_wire_peer_t *peer, uint64_t corr, void *buffer,
                       size_t size, int flags);

//  The body of a decoded STREAM_DATA: its bytes, and *size_p
static inline const void *
zm_wire_data_body (const zm_wire_t *wire, size_t *size_p)
{
    *size_p = zmq_msg_size (wire->data) - ZM_WIRE_DATA_PREFIX;
    return (const uint8_t *) zmq_msg_data (wire->data) + ZM_WIRE_DATA_PREFIX;
}

//  Release what a decoded message owns (header, body) and zero the struct.
//  Safe on a zeroed, failed or cleared struct.
void zm_wire_clear (zm_wire_t *wire);

//  Build the 5 frames of wire->command from the fields that command uses
//  (REQUEST: its header fields; EVENT: topic, id, publisher, group,
//  timestamp and seq when non-zero, content_type, metadata, trace_id;
//  REPLY: content_type, metadata; others: an
//  empty header). A content_type of NULL or "application/msgpack" is left
//  out (it is the default). Takes *body_p on success and nulls it (NULL or
//  *body_p NULL: empty body); on failure the caller still owns it. Returns
//  0 and *msg_p (caller owns), or ZM_EINVAL (missing or empty service or
//  endpoint, timeout 0, a string with a NUL byte, metadata not a map of
//  strings), ZM_ETOOBIG (a field over its limit), ZM_ENOMEM. What it
//  builds, zm_wire_decode accepts.
int zm_wire_encode (const zm_wire_t *wire, zframe_t **body_p, zmsg_t **msg_p);

//  Shorthands for zm_wire_encode. Return NULL on failure (when out of
//  memory, or content_type too long), leaving *body_p to the caller.
//  Caller owns return value.
zmsg_t *zm_wire_reply (uint64_t corr, const char *content_type, zframe_t **body_p);
zmsg_t *zm_wire_ping (uint64_t corr);
zmsg_t *zm_wire_pong (uint64_t corr);
zmsg_t *zm_wire_cancel (uint64_t corr);

//  An ERROR message carrying error (body: the map of zm_error_to_msg).
//  NULL when out of memory or error is NULL or has no error code (ZM_OK).
//  Caller owns return value.
zmsg_t *zm_wire_error (uint64_t corr, const zm_error_t *error);

//  The ERROR answering a failed decode: rc's code, wire->reason as detail
//  (naming both versions for a version mismatch), id "zmicro.wire", sent
//  with wire->corr. NULL when the failure is not answerable or out of
//  memory. Caller owns return value.
zmsg_t *zm_wire_answer (const zm_wire_t *wire, int rc);

//  The error an ERROR (or a STREAM_CANCEL with a body) carries. A body that is not a valid error
//  map gives ZM_EPROTO "malformed ERROR body". NULL only when out of
//  memory or wire is not an ERROR. Caller owns return value.
zm_error_t *zm_wire_error_value (const zm_wire_t *wire);

//  Is command one of the answers (REPLY, ERROR, PONG)? A server drops
//  those, so that two peers can never answer each other forever.
static inline bool
zm_wire_is_answer (int command)
{
    return command == ZM_CMD_REPLY || command == ZM_CMD_ERROR || command == ZM_CMD_PONG;
}

//  Is command assigned in v1 (defined or reserved)?
bool zm_wire_command_known (int command);

//  Name of a command ("REQUEST"), "UNKNOWN" when unassigned.
const char *zm_wire_command_name (int command);

#endif
