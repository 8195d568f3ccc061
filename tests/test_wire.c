/*  =========================================================================
    test_wire - the RPC wire protocol v1 (runtime/zm_wire.h, docs/protocol.md)

    Round trips of every command, every row of the malformed-input table in
    docs/protocol.md, fields at their limits and one past, the error map,
    and a real DEALER/ROUTER exchange over TCP.
    =========================================================================
*/
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <ctype.h>
#include <string.h>

#include "zm_runtime.h"
#include "zm_wire.h"

//  --------------------------------------------------------------------------
//  Helpers

//  A string of len copies of c; caller frees
static char *
s_repeat (char c, size_t len)
{
    char *text = (char *)malloc (len + 1);
    cr_assert_not_null (text);
    memset (text, c, len);
    text[len] = 0;
    return text;
}

//  Encode, asserting success; caller owns the message
static zmsg_t *
s_encode (const zm_wire_t *wire, zframe_t **body_p)
{
    zmsg_t *msg = NULL;
    int rc = zm_wire_encode (wire, body_p, &msg);
    cr_assert_eq (rc, 0, "encode failed: %s", zm_strerror (rc));
    cr_assert_eq (zmsg_size (msg), 5);
    return msg;
}

//  A valid REQUEST with the given corr and a small body
static zmsg_t *
s_request (uint64_t corr)
{
    zm_wire_t wire = {.command = ZM_CMD_REQUEST,
                      .corr = corr,
                      .service = "greeter",
                      .endpoint = "Say.Hello",
                      .timeout_ms = 500};
    zframe_t *body = zframe_new ("\x80", 1);
    return s_encode (&wire, &body);
}

//  Frame index of msg (borrowed)
static zframe_t *
s_frame_at (zmsg_t *msg, size_t index)
{
    zframe_t *frame = zmsg_first (msg);
    for (size_t at = 0; at < index; at++)
        frame = zmsg_next (msg);
    cr_assert_not_null (frame);
    return frame;
}

//  Replace frame index of msg with size bytes of data
static void
s_replace (zmsg_t *msg, size_t index, const void *data, size_t size)
{
    zframe_reset (s_frame_at (msg, index), data, size);
}

//  Replace the header frame with the msgpack encoding of map
static void
s_set_header (zmsg_t *msg, const zm_msg_t *map)
{
    void *data = NULL;
    size_t size = 0;
    cr_assert_eq (zm_msg_encode (map, ZM_CT_MSGPACK, &data, &size), 0);
    s_replace (msg, 3, data, size);
    free (data);
}

//  A REQUEST header map with the required keys
static zm_msg_t *
s_request_header (void)
{
    zm_msg_t *map = zm_msg_new ();
    zm_msg_set_str (map, "service", "greeter");
    zm_msg_set_str (map, "endpoint", "Say.Hello");
    zm_msg_set_uint (map, "timeout", 500);
    return map;
}

//  Decode a REQUEST carrying map as its header (corr 42)
static int
s_decode_header (const zm_msg_t *map, zm_wire_t *wire)
{
    zmsg_t *msg = s_request (42);
    s_set_header (msg, map);
    int rc = zm_wire_decode (&msg, 0, wire);
    cr_assert_null (msg);
    return rc;
}

//  An inproc DEALER -> ROUTER pair, made once per test process
static zsock_t *s_pair_dealer = NULL, *s_pair_router = NULL;

static void
s_pair (void)
{
    if (s_pair_dealer)
        return;
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "inproc://wire-%d", (int) getpid ());
    s_pair_router = zsock_new_router (endpoint);
    s_pair_dealer = zsock_new_dealer (endpoint);
    cr_assert (s_pair_router && s_pair_dealer);
    zsock_set_rcvtimeo (s_pair_router, 5000);
}

static void
s_pair_end (void)
{
    zsock_destroy (&s_pair_dealer);
    zsock_destroy (&s_pair_router);
}

TestSuite (wire, .fini = s_pair_end);

//  The same bytes through a socket and zm_wire_recv: the socket decoder
//  must give what zm_wire_decode gives.
static void
s_expect_recv_fail (zmsg_t *msg, size_t max_body, int expected_rc, bool answerable,
                    uint64_t corr, const char *reason)
{
    s_pair ();
    cr_assert_eq (zmsg_send (&msg, s_pair_dealer), 0);
    zmq_pollitem_t item = {zsock_resolve (s_pair_router), 0, ZMQ_POLLIN, 0};
    cr_assert_eq (zmq_poll (&item, 1, 5000), 1);
    zm_wire_peer_t peer;
    zm_wire_t wire;
    int rc = zm_wire_recv (zsock_resolve (s_pair_router), &peer, max_body, &wire);
    cr_assert_eq (rc, expected_rc, "recv: expected %s, got %s (%s); want reason '%s'",
                  zm_strerror (expected_rc), zm_strerror (rc), wire.reason, reason);
    cr_assert_gt (peer.size, 0, "the routing id is kept");
    cr_assert_eq (wire.answerable, answerable, "recv: answerable for '%s'", reason);
    cr_assert (wire.reason && strstr (wire.reason, reason), "recv: reason '%s' lacks '%s'",
               wire.reason, reason);
    cr_assert_null (wire.header);
    cr_assert_null (wire.body);
    if (answerable)
        cr_assert_eq (wire.corr, corr);
    //  Nothing of the message is left behind in the socket
    cr_assert_eq (zm_wire_recv (zsock_resolve (s_pair_router), &peer, 0, &wire), -1);
}

//  Decode and check the outcome of a malformed message
static void
s_expect_fail (zmsg_t *msg, size_t max_body, int expected_rc, bool answerable, uint64_t corr,
               const char *reason)
{
    if (zmsg_size (msg) > 0)
        s_expect_recv_fail (zmsg_dup (msg), max_body, expected_rc, answerable, corr, reason);
    zm_wire_t wire;
    int rc = zm_wire_decode (&msg, max_body, &wire);
    cr_assert_null (msg, "decode must take the message");
    cr_assert_eq (rc, expected_rc, "expected %s, got %s (%s); want reason '%s'",
                  zm_strerror (expected_rc), zm_strerror (rc), wire.reason, reason);
    cr_assert_eq (wire.answerable, answerable, "answerable for '%s'", reason);
    cr_assert_not_null (wire.reason);
    cr_assert (strstr (wire.reason, reason), "reason '%s' lacks '%s'", wire.reason, reason);
    cr_assert_null (wire.header);
    cr_assert_null (wire.body);
    if (answerable) {
        cr_assert_eq (wire.corr, corr);
        //  The answer is an ERROR with the same corr and rc's code
        zmsg_t *answer = zm_wire_answer (&wire, rc);
        cr_assert_not_null (answer);
        zm_wire_t back;
        cr_assert_eq (zm_wire_decode (&answer, 0, &back), 0);
        cr_assert_eq (back.command, ZM_CMD_ERROR);
        cr_assert_eq (back.corr, corr);
        zm_error_t *error = zm_wire_error_value (&back);
        cr_assert_eq (zm_error_err (error), expected_rc);
        cr_assert (strstr (zm_error_detail (error), reason));
        zm_error_destroy (&error);
        zm_wire_clear (&back);
    } else
        cr_assert_null (zm_wire_answer (&wire, rc));
    zm_wire_clear (&wire);
}

//  A valid REQUEST on corr with frame index replaced, expected to fail
//  with ZM_EPROTO
static void
s_expect_frame_fail (size_t index, const void *data, size_t size, bool answerable, uint64_t corr,
                     const char *reason)
{
    zmsg_t *msg = s_request (corr);
    s_replace (msg, index, data, size);
    s_expect_fail (msg, 0, ZM_EPROTO, answerable, corr, reason);
}

//  Decode a header map expected to fail
static void
s_expect_header_fail (const zm_msg_t *map, int expected_rc, const char *reason)
{
    zmsg_t *msg = s_request (42);
    s_set_header (msg, map);
    s_expect_fail (msg, 0, expected_rc, true, 42, reason);
}

//  --------------------------------------------------------------------------
//  Round trips

Test (wire, request_round_trip_all_fields, .timeout = 10)
{
    zm_msg_t *meta = zm_msg_new ();
    zm_msg_set_str (meta, "user", "alice");
    zm_msg_set_str (meta, "tenant", "acme");
    zm_wire_t out = {.command = ZM_CMD_REQUEST,
                     .corr = 0x0102030405060708ull,
                     .service = "greeter",
                     .endpoint = "Say.Hello",
                     .content_type = ZM_CT_JSON,
                     .timeout_ms = 1500,
                     .metadata = zm_msg_root (meta),
                     .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
                     .span_id = "00f067aa0ba902b7",
                     .caller = "frontend",
                     .version = "1.2.0"};
    zframe_t *body = zframe_new ("{\"name\":\"Bob\"}", 14);
    zframe_t *body_sent = body;
    zmsg_t *msg = s_encode (&out, &body);
    cr_assert_null (body, "encode takes the body");
    zm_msg_destroy (&meta); //  encoded: the message no longer needs it

    //  Frames 0..2 byte for byte
    zframe_t *frame = zmsg_first (msg);
    cr_assert (zframe_size (frame) == 3 && memcmp (zframe_data (frame), "ZM\x01", 3) == 0);
    frame = zmsg_next (msg);
    cr_assert (zframe_size (frame) == 1 && zframe_data (frame)[0] == 0x01);
    frame = zmsg_next (msg);
    cr_assert (zframe_size (frame) == 8 &&
               memcmp (zframe_data (frame), "\x01\x02\x03\x04\x05\x06\x07\x08", 8) == 0);

    zm_wire_t in;
    cr_assert_eq (zm_wire_decode (&msg, 0, &in), 0, "%s", in.reason);
    cr_assert_null (msg);
    cr_assert_null (in.reason);
    cr_assert_eq (in.command, ZM_CMD_REQUEST);
    cr_assert_eq (in.corr, 0x0102030405060708ull);
    cr_assert_str_eq (in.service, "greeter");
    cr_assert_str_eq (in.endpoint, "Say.Hello");
    cr_assert_str_eq (in.content_type, ZM_CT_JSON);
    cr_assert_eq (in.timeout_ms, 1500);
    cr_assert_str_eq (in.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    cr_assert_str_eq (in.span_id, "00f067aa0ba902b7");
    cr_assert_str_eq (in.caller, "frontend");
    cr_assert_str_eq (in.version, "1.2.0");
    cr_assert_eq (zm_val_size (in.metadata), 2);
    cr_assert_str_eq (zm_val_str (zm_val_get (in.metadata, "user"), NULL, NULL), "alice");
    cr_assert_str_eq (zm_val_str (zm_val_get (in.metadata, "tenant"), NULL, NULL), "acme");
    //  Zero copy: the very frame we handed in
    cr_assert_eq (in.body, body_sent);
    cr_assert (zframe_streq (in.body, "{\"name\":\"Bob\"}"));
    zm_wire_clear (&in);
    cr_assert_null (in.header);
    zm_wire_clear (&in); //  idempotent
}

Test (wire, request_defaults_and_minimal_header, .timeout = 10)
{
    zm_wire_t out = {.command = ZM_CMD_REQUEST,
                     .corr = 7,
                     .service = "s",
                     .endpoint = "e",
                     .content_type = ZM_CT_MSGPACK,
                     .timeout_ms = 1};
    zmsg_t *msg = s_encode (&out, NULL);
    //  The default content type is left out; the body is empty
    zframe_t *header = zmsg_first (msg);
    for (int index = 0; index < 3; index++)
        header = zmsg_next (msg);
    const char expected[] = "\x83\xa7service\xa1s\xa8"
                            "endpoint\xa1"
                            "e\xa7timeout\x01";
    cr_assert_eq (zframe_size (header), sizeof (expected) - 1);
    cr_assert (memcmp (zframe_data (header), expected, sizeof (expected) - 1) == 0);
    cr_assert_eq (zframe_size (zmsg_last (msg)), 0);

    zm_wire_t in;
    cr_assert_eq (zm_wire_decode (&msg, 0, &in), 0);
    cr_assert_str_eq (in.content_type, ZM_CT_MSGPACK);
    cr_assert_eq (in.timeout_ms, 1);
    cr_assert_null (in.metadata);
    cr_assert_null (in.trace_id);
    cr_assert_null (in.span_id);
    cr_assert_null (in.caller);
    cr_assert_null (in.version);
    cr_assert_eq (zframe_size (in.body), 0);
    zm_wire_clear (&in);
}

Test (wire, every_command_round_trips, .timeout = 10)
{
    const int commands[] = {ZM_CMD_REQUEST,     ZM_CMD_REPLY,
                            ZM_CMD_ERROR,       ZM_CMD_CANCEL,
                            ZM_CMD_STREAM_OPEN, ZM_CMD_STREAM_CREDIT,
                            ZM_CMD_STREAM_END,  ZM_CMD_STREAM_CANCEL,
                            ZM_CMD_EVENT,       ZM_CMD_HELLO,
                            ZM_CMD_PING,        ZM_CMD_PONG,
                            ZM_CMD_SYNC_FIRST,  0x57,
                            ZM_CMD_SYNC_LAST};
    for (size_t index = 0; index < sizeof (commands) / sizeof (commands[0]); index++) {
        int command = commands[index];
        cr_assert (zm_wire_command_known (command));
        cr_assert_str_neq (zm_wire_command_name (command), "UNKNOWN");
        zm_wire_t out = {.command = (uint8_t)command,
                         .corr = UINT64_MAX - index,
                         .service = "svc",
                         .endpoint = "ep",
                         .timeout_ms = 100,
                         .credit = 7,
                         .topic = "t.x"};
        zframe_t *body = zframe_new ("payload", 7);
        zmsg_t *msg = s_encode (&out, &body);
        zm_wire_t in;
        cr_assert_eq (zm_wire_decode (&msg, 0, &in), 0, "%s: %s", zm_wire_command_name (command),
                      in.reason);
        cr_assert_eq (in.command, command);
        cr_assert_eq (in.corr, UINT64_MAX - index);
        cr_assert (zframe_streq (in.body, "payload"));
        cr_assert_str_eq (in.content_type, ZM_CT_MSGPACK);
        if (command == ZM_CMD_REQUEST || command == ZM_CMD_STREAM_OPEN)
            cr_assert_str_eq (in.service, "svc");
        else
            cr_assert_null (in.service, "only a REQUEST and a STREAM_OPEN carry service");
        bool credit = command == ZM_CMD_STREAM_OPEN || command == ZM_CMD_STREAM_CREDIT;
        cr_assert_eq (in.credit, credit ? 7u : 0u);
        if (command == ZM_CMD_EVENT)
            cr_assert_str_eq (in.topic, "t.x");
        else
            cr_assert_null (in.topic, "only an EVENT carries topic");
        zm_wire_clear (&in);
    }
    cr_assert_not (zm_wire_command_known (0x00));
    cr_assert_not (zm_wire_command_known (0x05));
    cr_assert_not (zm_wire_command_known (0x60));
    cr_assert_not (zm_wire_command_known (0xff));
    cr_assert (zm_wire_is_answer (ZM_CMD_REPLY) && zm_wire_is_answer (ZM_CMD_ERROR) &&
               zm_wire_is_answer (ZM_CMD_PONG));
    cr_assert_not (zm_wire_is_answer (ZM_CMD_REQUEST) || zm_wire_is_answer (ZM_CMD_PING));
}

Test (wire, shorthands, .timeout = 10)
{
    struct {
        zmsg_t *msg;
        int command;
    } cases[] = {{zm_wire_ping (1), ZM_CMD_PING},
                 {zm_wire_pong (2), ZM_CMD_PONG},
                 {zm_wire_cancel (3), ZM_CMD_CANCEL}};
    for (size_t index = 0; index < 3; index++) {
        cr_assert_not_null (cases[index].msg);
        //  Empty header map, empty body
        zframe_t *header = zmsg_first (cases[index].msg);
        for (int at = 0; at < 3; at++)
            header = zmsg_next (cases[index].msg);
        cr_assert (zframe_size (header) == 1 && zframe_data (header)[0] == 0x80);
        zm_wire_t in;
        cr_assert_eq (zm_wire_decode (&cases[index].msg, 0, &in), 0);
        cr_assert_eq (in.command, cases[index].command);
        cr_assert_eq (in.corr, index + 1);
        cr_assert_null (in.header, "the empty map costs no decode");
        cr_assert_eq (zframe_size (in.body), 0);
        zm_wire_clear (&in);
    }
    zframe_t *body = zframe_new ("\x81\xa1x\x01", 4);
    zmsg_t *msg = zm_wire_reply (9, ZM_CT_JSON, &body);
    cr_assert_null (body);
    zm_wire_t in;
    cr_assert_eq (zm_wire_decode (&msg, 0, &in), 0);
    cr_assert_eq (in.command, ZM_CMD_REPLY);
    cr_assert_str_eq (in.content_type, ZM_CT_JSON);
    cr_assert_eq (zframe_size (in.body), 4);
    zm_wire_clear (&in);
    //  A reply in the default content type has an empty header
    msg = zm_wire_reply (9, NULL, NULL);
    cr_assert_eq (zframe_size (s_frame_at (msg, 3)), 1);
    zmsg_destroy (&msg);
    //  A reply whose content type is too long is refused, body kept
    char *long_ct = s_repeat ('c', 256);
    body = zframe_new ("x", 1);
    cr_assert_null (zm_wire_reply (9, long_ct, &body));
    cr_assert_not_null (body);
    zframe_destroy (&body);
    free (long_ct);
}

Test (wire, reply_with_metadata, .timeout = 10)
{
    zm_msg_t *meta = zm_msg_new ();
    zm_msg_set_str (meta, "cache", "hit");
    zm_wire_t out = {.command = ZM_CMD_REPLY,
                     .corr = 5,
                     .metadata = zm_msg_root (meta),
                     .service = "ignored for a reply"};
    zmsg_t *msg = s_encode (&out, NULL);
    zm_msg_destroy (&meta);
    zm_wire_t in;
    cr_assert_eq (zm_wire_decode (&msg, 0, &in), 0);
    cr_assert_null (in.service);
    cr_assert_str_eq (zm_val_str (zm_val_get (in.metadata, "cache"), NULL, NULL), "hit");
    zm_wire_clear (&in);
}

Test (wire, error_round_trip, .timeout = 10)
{
    zm_error_t *error = zm_error_new (ZM_ETOOBIG, "greeter.Say.Hello", "body of %d bytes", 99);
    zmsg_t *msg = zm_wire_error (77, error);
    cr_assert_not_null (msg);
    zm_wire_t in;
    cr_assert_eq (zm_wire_decode (&msg, 0, &in), 0);
    cr_assert_eq (in.command, ZM_CMD_ERROR);
    cr_assert_eq (in.corr, 77);
    zm_error_t *back = zm_wire_error_value (&in);
    cr_assert_eq (zm_error_err (back), ZM_ETOOBIG, "the exact code survives");
    cr_assert_eq (zm_error_code (back), 400);
    cr_assert_str_eq (zm_error_id (back), "greeter.Say.Hello");
    cr_assert_str_eq (zm_error_detail (back), "body of 99 bytes");
    zm_error_destroy (&back);
    zm_wire_clear (&in);
    zm_error_destroy (&error);

    //  No error to send
    cr_assert_null (zm_wire_error (1, NULL));
    zm_error_t *ok = zm_error_new (ZM_OK, NULL, NULL);
    cr_assert_null (zm_wire_error (1, ok));
    zm_error_destroy (&ok);

    //  An ERROR whose body is not an error map still yields an error
    const char *bodies[] = {"", "\x80",
                            "\xa3"
                            "abc",
                            "\x81\xa4"
                            "code\xcc\xc8",
                            "\xc1"};
    const size_t sizes[] = {0, 1, 4, 8, 1};
    for (size_t index = 0; index < 5; index++) {
        zframe_t *body = zframe_new (bodies[index], sizes[index]);
        zm_wire_t raw = {.command = ZM_CMD_ERROR, .corr = 3};
        msg = s_encode (&raw, &body);
        cr_assert_eq (zm_wire_decode (&msg, 0, &in), 0);
        back = zm_wire_error_value (&in);
        cr_assert_eq (zm_error_err (back), ZM_EPROTO, "body %zu", index);
        cr_assert_str_eq (zm_error_detail (back), "malformed ERROR body");
        zm_error_destroy (&back);
        zm_wire_clear (&in);
    }
    //  Not an ERROR: no error value
    msg = zm_wire_pong (1);
    cr_assert_eq (zm_wire_decode (&msg, 0, &in), 0);
    cr_assert_null (zm_wire_error_value (&in));
    zm_wire_clear (&in);
}

//  Our header packing is byte for byte msgpack-c's (the canonical form),
//  across every length and integer width a header can use
Test (wire, header_bytes_match_msgpack_c, .timeout = 10)
{
    const size_t name_lens[] = {1, 31, 32, 255};
    const uint32_t timeouts[] = {1, 127, 128, 255, 256, 65535, 65536, ZM_WIRE_MAX_TIMEOUT};
    const size_t meta_counts[] = {0, 1, 15, 16, 64};
    for (size_t n = 0; n < 4; n++) {
        for (size_t t = 0; t < 8; t++) {
            size_t m = (n + t) % 5;
            char *name = s_repeat ('n', name_lens[n]);
            char *value = s_repeat ('v', n == 3 ? 300 : name_lens[n]); //  300: str16
            zm_msg_t *meta = zm_msg_new ();
            for (size_t index = 0; index < meta_counts[m]; index++) {
                char key[24];
                snprintf (key, sizeof (key), "k%zu", index);
                zm_msg_set_str (meta, key, value);
            }
            zm_wire_t out = {.command = ZM_CMD_REQUEST,
                             .corr = 1,
                             .service = name,
                             .endpoint = "e",
                             .content_type = "application/json",
                             .timeout_ms = timeouts[t],
                             .metadata = meta_counts[m] ? zm_msg_root (meta) : NULL,
                             .trace_id = "t",
                             .caller = name,
                             .version = "1"};
            //  Same keys, same order, through msgpack-c's packer
            zm_msg_t *tree = zm_msg_new ();
            zm_msg_set_str (tree, "service", name);
            zm_msg_set_str (tree, "endpoint", "e");
            zm_msg_set_str (tree, "content_type", "application/json");
            zm_msg_set_str (tree, "trace_id", "t");
            zm_msg_set_str (tree, "caller", name);
            zm_msg_set_str (tree, "version", "1");
            zm_msg_set_uint (tree, "timeout", timeouts[t]);
            if (meta_counts[m]) {
                zm_val_t *map = zm_val_set_map (zm_msg_root_mut (tree), "metadata");
                for (size_t index = 0; index < meta_counts[m]; index++) {
                    char key[24];
                    snprintf (key, sizeof (key), "k%zu", index);
                    zm_val_set_str (map, key, value);
                }
            }
            void *packed = NULL;
            size_t packed_size = 0;
            cr_assert_eq (zm_msg_encode (tree, ZM_CT_MSGPACK, &packed, &packed_size), 0);
            zmsg_t *msg = s_encode (&out, NULL);
            zframe_t *header = s_frame_at (msg, 3);
            cr_assert_eq (zframe_size (header), packed_size, "name %zu timeout %u meta %zu",
                          name_lens[n], timeouts[t], meta_counts[m]);
            cr_assert (memcmp (zframe_data (header), packed, packed_size) == 0);
            zm_wire_t in;
            cr_assert_eq (zm_wire_decode (&msg, 0, &in), 0, "%s", in.reason);
            cr_assert_eq (in.timeout_ms, timeouts[t]);
            cr_assert_eq (zm_val_size (in.metadata), meta_counts[m]);
            zm_wire_clear (&in);
            free (packed);
            zm_msg_destroy (&tree);
            zm_msg_destroy (&meta);
            free (value);
            free (name);
        }
    }
}

//  --------------------------------------------------------------------------
//  Malformed input: one test per row group of the table in docs/protocol.md

Test (wire, malformed_framing, .timeout = 10)
{
    //  No message at all
    zm_wire_t wire;
    zmsg_t *none = NULL;
    cr_assert_eq (zm_wire_decode (&none, 0, &wire), ZM_EINVAL);
    cr_assert_not (wire.answerable);
    cr_assert_eq (zm_wire_decode (NULL, 0, &wire), ZM_EINVAL);

    //  Empty message
    s_expect_fail (zmsg_new (), 0, ZM_EPROTO, false, 0, "bad signature");

    //  Bad signature: wrong bytes, wrong size, dropped even with a good corr
    s_expect_frame_fail (0, "ZX\x01", 3, false, 1, "bad signature");
    s_expect_frame_fail (0, "ZM", 2, false, 1, "bad signature");
    s_expect_frame_fail (0, "ZM\x01\x00", 4, false, 1, "bad signature");

    //  Unknown version: answered when frames 1-2 are readable, in v1
    zmsg_t *msg = s_request (11);
    s_replace (msg, 0, "ZM\x02", 3);
    zm_wire_t failed;
    cr_assert_eq (zm_wire_decode (&msg, 0, &failed), ZM_EPROTO);
    cr_assert (failed.answerable);
    cr_assert_eq (failed.proto, 2);
    zmsg_t *answer = zm_wire_answer (&failed, ZM_EPROTO);
    cr_assert (zframe_streq (zmsg_first (answer), "ZM\x01"), "answered in v1 framing");
    cr_assert_eq (zm_wire_decode (&answer, 0, &wire), 0);
    zm_error_t *error = zm_wire_error_value (&wire);
    cr_assert_str_eq (zm_error_detail (error),
                      "unsupported protocol version: received version 2, this peer speaks 1");
    zm_error_destroy (&error);
    zm_wire_clear (&wire);
    //  ... but dropped when the corr id is not readable
    msg = s_request (11);
    s_replace (msg, 0, "ZM\x00", 3);
    s_replace (msg, 2, "1234567", 7);
    s_expect_fail (msg, 0, ZM_EPROTO, false, 0, "unsupported protocol version");
    //  A future version with more frames is still answered
    msg = s_request (12);
    s_replace (msg, 0, "ZM\xff", 3);
    zmsg_addstr (msg, "extra");
    s_expect_fail (msg, 0, ZM_EPROTO, true, 12, "unsupported protocol version");

    //  Wrong frame count
    msg = s_request (13);
    zframe_t *last = zmsg_last (msg);
    zmsg_remove (msg, last);
    zframe_destroy (&last);
    s_expect_fail (msg, 0, ZM_EPROTO, true, 13, "wrong frame count");
    msg = s_request (14);
    zmsg_addstr (msg, "sixth");
    s_expect_fail (msg, 0, ZM_EPROTO, true, 14, "wrong frame count");
    msg = zmsg_new ();
    zmsg_addmem (msg, "ZM\x01", 3);
    zmsg_addmem (msg, "\x01", 1);
    s_expect_fail (msg, 0, ZM_EPROTO, false, 0, "wrong frame count");
    msg = zmsg_new ();
    zmsg_addmem (msg, "ZM\x01", 3);
    s_expect_fail (msg, 0, ZM_EPROTO, false, 0, "wrong frame count");

    //  Command frame not 1 byte: dropped (we cannot tell an answer from a request)
    s_expect_frame_fail (1, "\x01\x00", 2, false, 15, "command frame");
    s_expect_frame_fail (1, "", 0, false, 15, "command frame");

    //  Corr id not 8 bytes: dropped
    const size_t corr_sizes[] = {0, 7, 9};
    for (size_t index = 0; index < 3; index++) {
        s_expect_frame_fail (2, "123456789", corr_sizes[index], false, 16, "correlation id");
    }

    //  Unknown command: answered
    const uint8_t unknown[] = {0x00, 0x05, 0x0f, 0x15, 0x21, 0x31, 0x42, 0x60, 0xff};
    for (size_t index = 0; index < sizeof (unknown); index++) {
        s_expect_frame_fail (1, &unknown[index], 1, true, 17, "unknown command");
    }
}

Test (wire, malformed_answers_are_never_answered, .timeout = 10)
{
    //  A broken REPLY, ERROR or PONG is dropped: no reply loops
    const uint8_t answers[] = {ZM_CMD_REPLY, ZM_CMD_ERROR, ZM_CMD_PONG};
    for (size_t index = 0; index < 3; index++) {
        zmsg_t *msg = s_request (21);
        s_replace (msg, 1, &answers[index], 1);
        s_replace (msg, 3, "\xc1", 1);
        s_expect_fail (msg, 0, ZM_EPROTO, false, 0, "header is not valid msgpack");
        msg = s_request (21);
        s_replace (msg, 1, &answers[index], 1);
        s_replace (msg, 0, "ZM\x07", 3);
        s_expect_fail (msg, 0, ZM_EPROTO, false, 0, "unsupported protocol version");
    }
    //  ... while a broken PING or CANCEL is answered
    const uint8_t others[] = {ZM_CMD_PING, ZM_CMD_CANCEL, ZM_CMD_STREAM_OPEN};
    for (size_t index = 0; index < 3; index++) {
        zmsg_t *msg = s_request (22);
        s_replace (msg, 1, &others[index], 1);
        s_replace (msg, 3, "\x90", 1);
        s_expect_fail (msg, 0, ZM_EPROTO, true, 22, "header is not a msgpack map");
    }
}

Test (wire, malformed_header_frame, .timeout = 10)
{
    //  Not decodable, or not a map
    const struct {
        const char *bytes;
        size_t size;
        const char *reason;
    } cases[] = {{"", 0, "header is not valid msgpack"},
                 {"\x81", 1, "header is not valid msgpack"},
                 {"\x81\xa1", 2, "header is not valid msgpack"},
                 {"\xc1", 1, "header is not valid msgpack"},
                 {"\x80\x80", 2, "header is not valid msgpack"},
                 {"\xd4\x01\x02", 3, "header is not valid msgpack"},
                 {"\x90", 1, "header is not a msgpack map"},
                 {"\xa3"
                  "abc",
                  4, "header is not a msgpack map"},
                 {"\x01", 1, "header is not a msgpack map"},
                 {"\xc0", 1, "header is not a msgpack map"},
                 {"\x81\x01\xa1x", 4, "header key is not a string"},
                 {"\x81\xc4\x01x\x01", 5, "header key is not a string"},
                 {"\x80", 1, "missing service"}};
    for (size_t index = 0; index < sizeof (cases) / sizeof (cases[0]); index++) {
        zmsg_t *msg = s_request (31);
        s_replace (msg, 3, cases[index].bytes, cases[index].size);
        s_expect_fail (msg, 0, ZM_EPROTO, true, 31, cases[index].reason);
    }
    //  Nested deeper than the decoder allows
    char deep[80];
    memset (deep, 0x91, 70);
    deep[70] = 0x01;
    zmsg_t *msg = s_request (32);
    s_replace (msg, 3, deep, 71);
    s_expect_fail (msg, 0, ZM_EPROTO, true, 32, "header is not valid msgpack");
}

Test (wire, malformed_request_keys, .timeout = 10)
{
    struct {
        const char *key;
        int kind; //  0 str, 1 uint, 2 int, 3 bool, 4 bin, 5 map, 6 nil, 7 float
        const char *str;
        int64_t number;
        int rc;
        const char *reason;
    } cases[] = {
        {"service", 1, NULL, 5, ZM_EPROTO, "service is not a string"},
        {"service", 4, "greeter", 0, ZM_EPROTO, "service is not a string"},
        {"service", 6, NULL, 0, ZM_EPROTO, "service is not a string"},
        {"service", 0, "", 0, ZM_EPROTO, "service is empty"},
        {"endpoint", 0, "", 0, ZM_EPROTO, "endpoint is empty"},
        {"endpoint", 5, NULL, 0, ZM_EPROTO, "endpoint is not a string"},
        {"content_type", 0, "", 0, ZM_EPROTO, "content_type is empty"},
        {"content_type", 1, NULL, 1, ZM_EPROTO, "content_type is not a string"},
        {"content_type", 0, "text/x-unknown", 0, ZM_EINVAL, "unknown content type"},
        {"timeout", 1, NULL, 0, ZM_EPROTO, "timeout is 0"},
        {"timeout", 1, NULL, ZM_WIRE_MAX_TIMEOUT + 1, ZM_EPROTO, "timeout is over one hour"},
        {"timeout", 1, NULL, (int64_t)1 << 40, ZM_EPROTO, "timeout is over one hour"},
        {"timeout", 2, NULL, -5, ZM_EPROTO, "timeout is not an unsigned integer"},
        {"timeout", 0, "500", 0, ZM_EPROTO, "timeout is not an unsigned integer"},
        {"timeout", 7, NULL, 0, ZM_EPROTO, "timeout is not an unsigned integer"},
        {"timeout", 6, NULL, 0, ZM_EPROTO, "timeout is not an unsigned integer"},
        {"trace_id", 1, NULL, 1, ZM_EPROTO, "trace_id is not a string"},
        {"span_id", 3, NULL, 0, ZM_EPROTO, "span_id is not a string"},
        {"caller", 4, "x", 0, ZM_EPROTO, "caller is not a string"},
        {"version", 1, NULL, 2, ZM_EPROTO, "version is not a string"},
        {"metadata", 0, "a=b", 0, ZM_EPROTO, "metadata is not a map"},
        {"metadata", 1, NULL, 0, ZM_EPROTO, "metadata is not a map"},
    };
    for (size_t index = 0; index < sizeof (cases) / sizeof (cases[0]); index++) {
        zm_msg_t *map = s_request_header ();
        const char *key = cases[index].key;
        switch (cases[index].kind) {
        case 0:
            zm_msg_set_str (map, key, cases[index].str);
            break;
        case 1:
            zm_msg_set_uint (map, key, (uint64_t)cases[index].number);
            break;
        case 2:
            zm_msg_set_int (map, key, cases[index].number);
            break;
        case 3:
            zm_msg_set_bool (map, key, true);
            break;
        case 4:
            zm_msg_set_bin (map, key, cases[index].str, strlen (cases[index].str));
            break;
        case 5:
            zm_val_set_map (zm_msg_root_mut (map), key);
            break;
        case 6:
            zm_msg_set_nil (map, key);
            break;
        default:
            zm_msg_set_float (map, key, 1.5);
            break;
        }
        s_expect_header_fail (map, cases[index].rc, cases[index].reason);
        zm_msg_destroy (&map);
    }
    //  Missing required keys
    const char *required[] = {"service", "endpoint", "timeout"};
    for (size_t index = 0; index < 3; index++) {
        zm_msg_t *map = s_request_header ();
        zm_msg_del (map, required[index]);
        char reason[64];
        snprintf (reason, sizeof (reason), "missing %s", required[index]);
        s_expect_header_fail (map, ZM_EPROTO, reason);
        zm_msg_destroy (&map);
    }
    //  NUL bytes in names
    zm_msg_t *map = s_request_header ();
    zm_val_set_strn (zm_msg_root_mut (map), "service", "gre\0ter", 7);
    s_expect_header_fail (map, ZM_EPROTO, "service holds a NUL byte");
    zm_msg_destroy (&map);
    //  A known key twice (msgpack allows it; we do not guess which wins)
    const char dup[] = "\x84\xa7service\xa1s\xa8"
                       "endpoint\xa1"
                       "e\xa7timeout\x01"
                       "\xa7service\xa1t";
    zmsg_t *msg = s_request (33);
    s_replace (msg, 3, dup, sizeof (dup) - 1);
    s_expect_fail (msg, 0, ZM_EPROTO, true, 33, "duplicate header key");
}

Test (wire, malformed_metadata, .timeout = 10)
{
    //  Wrong types inside
    zm_msg_t *map = s_request_header ();
    zm_val_t *meta = zm_val_set_map (zm_msg_root_mut (map), "metadata");
    zm_val_set_uint (meta, "n", 1);
    s_expect_header_fail (map, ZM_EPROTO, "metadata value is not a string");
    zm_msg_destroy (&map);

    map = s_request_header ();
    meta = zm_val_set_map (zm_msg_root_mut (map), "metadata");
    zm_val_set_str (meta, "", "x");
    s_expect_header_fail (map, ZM_EPROTO, "metadata key is empty");
    zm_msg_destroy (&map);

    map = s_request_header ();
    meta = zm_val_set_map (zm_msg_root_mut (map), "metadata");
    zm_val_set_strn (meta, "k", "a\0b", 3);
    s_expect_header_fail (map, ZM_EPROTO, "metadata value holds a NUL byte");
    zm_msg_destroy (&map);

    //  Raw bytes for what builders will not make: a non-string key, a
    //  duplicate key, a NUL in a key
    const struct {
        const char *bytes;
        size_t size;
        const char *reason;
    } raw[] = {
        {"\x84\xa7service\xa1s\xa8"
         "endpoint\xa1"
         "e\xa7timeout\x01\xa8metadata\x81\x01\xa1x",
         44, "metadata key is not a string"},
        {"\x84\xa7service\xa1s\xa8"
         "endpoint\xa1"
         "e\xa7timeout\x01\xa8metadata\x82\xa1k\xa1x\xa1k"
         "\xa1y",
         49, "duplicate metadata key"},
        {"\x84\xa7service\xa1s\xa8"
         "endpoint\xa1"
         "e\xa7timeout\x01\xa8metadata\x81\xa2k\x00\xa1x",
         46, "metadata key holds a NUL byte"},
    };
    for (size_t index = 0; index < 3; index++) {
        zmsg_t *msg = s_request (34);
        s_replace (msg, 3, raw[index].bytes, raw[index].size);
        s_expect_fail (msg, 0, ZM_EPROTO, true, 34, raw[index].reason);
    }
}

//  --------------------------------------------------------------------------
//  Limits: at the limit decodes, one past fails

//  Decode a REQUEST whose header has key set to a string of len bytes
static int
s_string_at (const char *key, size_t len, zm_wire_t *wire)
{
    zm_msg_t *map = s_request_header ();
    char *text = s_repeat ('x', len);
    if (strcmp (key, "content_type") == 0 && len >= 21)
        memcpy (text, "application/json;p=", 19); //  parameters keep it known
    zm_msg_set_str (map, key, text);
    free (text);
    int rc = s_decode_header (map, wire);
    zm_msg_destroy (&map);
    return rc;
}

Test (wire, string_limits, .timeout = 10)
{
    const struct {
        const char *key;
        size_t max;
        size_t min;
    } limits[] = {{"service", 255, 1},  {"endpoint", 255, 1}, {"content_type", 255, 21},
                  {"trace_id", 128, 0}, {"span_id", 128, 0},  {"caller", 255, 0},
                  {"version", 64, 0}};
    for (size_t index = 0; index < sizeof (limits) / sizeof (limits[0]); index++) {
        zm_wire_t wire;
        const char *key = limits[index].key;
        cr_assert_eq (s_string_at (key, limits[index].max, &wire), 0, "%s at limit: %s", key,
                      wire.reason);
        zm_wire_clear (&wire);
        if (limits[index].min == 0) {
            cr_assert_eq (s_string_at (key, 0, &wire), 0, "%s may be empty", key);
            zm_wire_clear (&wire);
        }
        cr_assert_eq (s_string_at (key, limits[index].max + 1, &wire), ZM_ETOOBIG, "%s", key);
        cr_assert (wire.answerable);
        cr_assert (strstr (wire.reason, "is too long"), "%s", wire.reason);
        zm_wire_clear (&wire);
    }
}

Test (wire, timeout_limits, .timeout = 10)
{
    const struct {
        uint64_t timeout;
        int rc;
    } cases[] = {
        {0, ZM_EPROTO}, {1, 0}, {ZM_WIRE_MAX_TIMEOUT, 0}, {ZM_WIRE_MAX_TIMEOUT + 1, ZM_EPROTO}};
    for (size_t index = 0; index < 4; index++) {
        zm_msg_t *map = s_request_header ();
        zm_msg_set_uint (map, "timeout", cases[index].timeout);
        zm_wire_t wire;
        cr_assert_eq (s_decode_header (map, &wire), cases[index].rc, "timeout %lu",
                      (unsigned long)cases[index].timeout);
        if (cases[index].rc == 0)
            cr_assert_eq (wire.timeout_ms, cases[index].timeout);
        zm_wire_clear (&wire);
        zm_msg_destroy (&map);
    }
    //  A signed msgpack int with a positive value is the same number
    const char signed_timeout[] = "\x83\xa7service\xa1s\xa8"
                                  "endpoint\xa1"
                                  "e\xa7timeout\xd1\x01\xf4";
    zmsg_t *msg = s_request (1);
    s_replace (msg, 3, signed_timeout, sizeof (signed_timeout) - 1);
    zm_wire_t wire;
    cr_assert_eq (zm_wire_decode (&msg, 0, &wire), 0);
    cr_assert_eq (wire.timeout_ms, 500);
    zm_wire_clear (&wire);
}

//  A REQUEST header with count metadata entries of key_len / value_len bytes
static zm_msg_t *
s_meta_header (size_t count, size_t key_len, size_t value_len)
{
    zm_msg_t *map = s_request_header ();
    zm_val_t *meta = zm_val_set_map (zm_msg_root_mut (map), "metadata");
    char *key = s_repeat ('k', key_len);
    char *value = s_repeat ('v', value_len);
    for (size_t index = 0; index < count; index++) {
        char prefix[8];
        int len = snprintf (prefix, sizeof (prefix), "%zu", index);
        memcpy (key, prefix, (size_t)len < key_len ? (size_t)len : key_len);
        zm_val_set_str (meta, key, value);
    }
    free (key);
    free (value);
    return map;
}

Test (wire, metadata_limits, .timeout = 10)
{
    const struct {
        size_t count, key_len, value_len;
        int rc;
        const char *reason;
    } cases[] = {{ZM_WIRE_MAX_META, 3, 10, 0, NULL},
                 {ZM_WIRE_MAX_META + 1, 3, 10, ZM_ETOOBIG, "more than 64 entries"},
                 {1, ZM_WIRE_MAX_META_KEY, 1, 0, NULL},
                 {1, ZM_WIRE_MAX_META_KEY + 1, 1, ZM_ETOOBIG, "metadata key is too long"},
                 {1, 1, ZM_WIRE_MAX_META_VAL, 0, NULL},
                 {1, 1, ZM_WIRE_MAX_META_VAL + 1, ZM_ETOOBIG, "metadata value is too long"},
                 {1, 1, 0, 0, NULL},
                 {0, 1, 1, 0, NULL}};
    for (size_t index = 0; index < sizeof (cases) / sizeof (cases[0]); index++) {
        zm_msg_t *map =
            s_meta_header (cases[index].count, cases[index].key_len, cases[index].value_len);
        zm_wire_t wire;
        int rc = s_decode_header (map, &wire);
        cr_assert_eq (rc, cases[index].rc, "case %zu: %s", index, wire.reason);
        if (rc)
            cr_assert (strstr (wire.reason, cases[index].reason), "%s", wire.reason);
        else
            cr_assert_eq (zm_val_size (wire.metadata), cases[index].count);
        zm_wire_clear (&wire);
        //  The encoder refuses what the decoder would refuse
        if (rc == 0) {
            zm_msg_destroy (&map);
            continue;
        }
        zm_val_t *meta = (zm_val_t *)zm_val_get (zm_msg_root (map), "metadata");
        zm_wire_t out = {.command = ZM_CMD_REQUEST,
                         .corr = 1,
                         .service = "s",
                         .endpoint = "e",
                         .timeout_ms = 1,
                         .metadata = meta};
        zmsg_t *msg = NULL;
        cr_assert_eq (zm_wire_encode (&out, NULL, &msg), ZM_ETOOBIG);
        cr_assert_null (msg);
        zm_msg_destroy (&map);
    }
}

Test (wire, frame_size_limits, .timeout = 10)
{
    //  Header frame: exactly 64 KiB decodes, one byte more does not.
    //  An unknown key holding a binary pads the header to the size wanted.
    for (int extra = 0; extra <= 1; extra++) {
        zm_msg_t *map = s_request_header ();
        void *data = NULL;
        size_t base = 0;
        zm_msg_set_bin (map, "padding", "", 0);
        cr_assert_eq (zm_msg_encode (map, ZM_CT_MSGPACK, &data, &base), 0);
        free (data);
        //  the bin8 header (2 bytes) becomes a bin16 one (3 bytes)
        size_t pad = ZM_WIRE_MAX_HEADER + extra - base - 1;
        char *padding = s_repeat ('p', pad);
        zm_msg_set_bin (map, "padding", padding, pad);
        free (padding);
        size_t size = 0;
        cr_assert_eq (zm_msg_encode (map, ZM_CT_MSGPACK, &data, &size), 0);
        cr_assert_eq (size, ZM_WIRE_MAX_HEADER + extra);
        free (data);
        zmsg_t *msg = s_request (51);
        s_set_header (msg, map);
        zm_msg_destroy (&map);
        if (extra == 0) {
            zm_wire_t wire;
            cr_assert_eq (zm_wire_decode (&msg, 0, &wire), 0, "%s", wire.reason);
            zm_wire_clear (&wire);
        } else
            s_expect_fail (msg, 0, ZM_ETOOBIG, true, 51, "header frame is over 64 KiB");
    }
    //  Body: the limit given, and the default
    for (int extra = 0; extra <= 1; extra++) {
        zmsg_t *msg = s_request (52);
        char *body = s_repeat ('b', 100 + extra);
        s_replace (msg, 4, body, 100 + extra);
        free (body);
        if (extra == 0) {
            zm_wire_t wire;
            cr_assert_eq (zm_wire_decode (&msg, 100, &wire), 0);
            cr_assert_eq (zframe_size (wire.body), 100);
            zm_wire_clear (&wire);
        } else
            s_expect_fail (msg, 100, ZM_ETOOBIG, true, 52, "body is over the size limit");
    }
    zmsg_t *msg = s_request (53);
    zframe_t *big = zframe_new (NULL, ZM_WIRE_MAX_BODY + 1);
    zframe_t *last = zmsg_last (msg);
    zmsg_remove (msg, last);
    zframe_destroy (&last);
    zmsg_append (msg, &big);
    s_expect_fail (msg, 0, ZM_ETOOBIG, true, 53, "body is over the size limit");
}

Test (wire, unknown_keys_and_nil_optionals, .timeout = 10)
{
    zm_msg_t *map = s_request_header ();
    zm_msg_set_str (map, "priority", "high");
    zm_val_t *nested = zm_val_set_map (zm_msg_root_mut (map), "future");
    zm_val_set_uint (nested, "x", 1);
    zm_val_push_uint (zm_val_set_array (nested, "list"), 2);
    zm_msg_set_nil (map, "trace_id");
    zm_msg_set_nil (map, "metadata");
    zm_msg_set_nil (map, "content_type");
    zm_msg_set_uint (map, "deadline", 12345);
    zm_wire_t wire;
    cr_assert_eq (s_decode_header (map, &wire), 0, "%s", wire.reason);
    cr_assert_str_eq (wire.service, "greeter");
    cr_assert_null (wire.trace_id, "nil means absent");
    cr_assert_null (wire.metadata);
    cr_assert_str_eq (wire.content_type, ZM_CT_MSGPACK);
    zm_wire_clear (&wire);
    zm_msg_destroy (&map);

    //  A REPLY ignores REQUEST keys, whatever their type
    zmsg_t *msg = zm_wire_reply (8, NULL, NULL);
    map = zm_msg_new ();
    zm_msg_set_uint (map, "service", 1);
    zm_msg_set_str (map, "timeout", "soon");
    s_set_header (msg, map);
    zm_msg_destroy (&map);
    cr_assert_eq (zm_wire_decode (&msg, 0, &wire), 0, "%s", wire.reason);
    cr_assert_null (wire.service);
    cr_assert_eq (wire.timeout_ms, 0);
    zm_wire_clear (&wire);

    //  A REPLY's content type is not checked against the codecs (the
    //  client decides what to do with it)
    msg = zm_wire_reply (8, "text/x-whatever", NULL);
    cr_assert_eq (zm_wire_decode (&msg, 0, &wire), 0);
    cr_assert_str_eq (wire.content_type, "text/x-whatever");
    zm_wire_clear (&wire);
}

Test (wire, encoder_refuses_what_decoders_refuse, .timeout = 10)
{
    char *long_name = s_repeat ('n', 256);
    char *long_version = s_repeat ('v', 65);
    const zm_wire_t bad[] = {
        {.command = ZM_CMD_REQUEST, .endpoint = "e", .timeout_ms = 1},
        {.command = ZM_CMD_REQUEST, .service = "s", .timeout_ms = 1},
        {.command = ZM_CMD_REQUEST, .service = "", .endpoint = "e", .timeout_ms = 1},
        {.command = ZM_CMD_REQUEST, .service = "s", .endpoint = "e", .timeout_ms = 0},
        {.command = ZM_CMD_REQUEST,
         .service = "s",
         .endpoint = "e",
         .timeout_ms = ZM_WIRE_MAX_TIMEOUT + 1},
        {.command = ZM_CMD_REQUEST, .service = long_name, .endpoint = "e", .timeout_ms = 1},
        {.command = ZM_CMD_REQUEST,
         .service = "s",
         .endpoint = "e",
         .timeout_ms = 1,
         .version = long_version},
        {.command = 0x07},
    };
    const int expected[] = {ZM_EINVAL, ZM_EINVAL,  ZM_EINVAL,  ZM_EINVAL,
                            ZM_EINVAL, ZM_ETOOBIG, ZM_ETOOBIG, ZM_EINVAL};
    for (size_t index = 0; index < sizeof (bad) / sizeof (bad[0]); index++) {
        zframe_t *body = zframe_new ("keep", 4);
        zmsg_t *msg = NULL;
        cr_assert_eq (zm_wire_encode (&bad[index], &body, &msg), expected[index], "case %zu",
                      index);
        cr_assert_null (msg);
        cr_assert_not_null (body, "the caller keeps the body on failure");
        zframe_destroy (&body);
    }
    //  Metadata that is not a map of strings
    zm_msg_t *meta = zm_msg_new ();
    zm_msg_set_uint (meta, "n", 1);
    zm_wire_t out = {.command = ZM_CMD_REQUEST,
                     .service = "s",
                     .endpoint = "e",
                     .timeout_ms = 1,
                     .metadata = zm_msg_root (meta)};
    zmsg_t *msg = NULL;
    cr_assert_eq (zm_wire_encode (&out, NULL, &msg), ZM_EINVAL);
    zm_msg_destroy (&meta);
    cr_assert_eq (zm_wire_encode (NULL, NULL, &msg), ZM_EINVAL);
    free (long_name);
    free (long_version);
}

//  --------------------------------------------------------------------------
//  The error map

Test (wire, error_to_msg_and_back, .timeout = 10)
{
    for (int err = ZM_EINVAL; err < ZM_ERR_MAX_; err++) {
        zm_error_t *error = zm_error_new (err, "svc.Ep", "detail %d", err);
        zm_msg_t *map = NULL;
        cr_assert_eq (zm_error_to_msg (error, &map), 0);
        cr_assert_str_eq (zm_msg_get_str (map, "id", NULL), "svc.Ep");
        cr_assert_eq (zm_msg_get_uint (map, "code", 0), (uint64_t)zm_err_http (err));
        cr_assert_str_eq (zm_msg_get_str (map, "detail", NULL), zm_error_detail (error));
        cr_assert_str_eq (zm_msg_get_str (map, "status", NULL), zm_error_status (error));
        cr_assert_eq (zm_msg_get_uint (map, "err", 0), (uint64_t)err);
        zm_error_t *back = zm_error_from_msg (map);
        cr_assert_not_null (back);
        cr_assert_eq (zm_error_err (back), err, "exact code %d", err);
        cr_assert_str_eq (zm_error_id (back), "svc.Ep");
        cr_assert_str_eq (zm_error_detail (back), zm_error_detail (error));
        zm_error_destroy (&back);
        zm_msg_destroy (&map);
        zm_error_destroy (&error);
    }
    //  Not errors
    zm_msg_t *map = NULL;
    cr_assert_eq (zm_error_to_msg (NULL, &map), ZM_EINVAL);
    zm_error_t *ok = zm_error_new (ZM_OK, NULL, NULL);
    cr_assert_eq (zm_error_to_msg (ok, &map), ZM_EINVAL);
    cr_assert_null (map);
    zm_error_destroy (&ok);
}

Test (wire, error_from_msg_validation, .timeout = 10)
{
    cr_assert_null (zm_error_from_msg (NULL));
    //  From another implementation: only "code", unknown code, no "err"
    zm_msg_t *map = zm_msg_new ();
    zm_msg_set_uint (map, "code", 404);
    zm_error_t *error = zm_error_from_msg (map);
    cr_assert_eq (zm_error_err (error), ZM_ENOTFOUND);
    cr_assert_str_eq (zm_error_id (error), "");
    cr_assert_str_eq (zm_error_detail (error), "");
    zm_error_destroy (&error);
    zm_msg_set_uint (map, "code", 418);
    error = zm_error_from_msg (map);
    cr_assert_eq (zm_error_err (error), ZM_EINVAL, "unknown 4xx maps via zm_err_from_http");
    zm_error_destroy (&error);
    zm_msg_set_uint (map, "code", 502);
    error = zm_error_from_msg (map);
    cr_assert_eq (zm_error_err (error), ZM_EINTERNAL);
    zm_error_destroy (&error);
    //  "err" that disagrees with "code" is ignored
    zm_msg_set_uint (map, "code", 404);
    zm_msg_set_uint (map, "err", ZM_ETIMEOUT);
    error = zm_error_from_msg (map);
    cr_assert_eq (zm_error_err (error), ZM_ENOTFOUND);
    zm_error_destroy (&error);
    zm_msg_set_uint (map, "err", 999);
    error = zm_error_from_msg (map);
    cr_assert_eq (zm_error_err (error), ZM_ENOTFOUND);
    zm_error_destroy (&error);
    //  nil strings are absent
    zm_msg_set_nil (map, "detail");
    error = zm_error_from_msg (map);
    cr_assert_not_null (error);
    zm_error_destroy (&error);
    zm_msg_destroy (&map);

    //  Invalid maps
    const struct {
        const char *key;
        int kind; //  0 str, 1 uint, 2 int, 3 delete
        int64_t number;
    } bad[] = {{"code", 3, 0},   {"code", 0, 0},   {"code", 1, 200},
               {"code", 1, 399}, {"code", 1, 600}, {"code", 2, -1},
               {"id", 1, 5},     {"detail", 1, 5}, {"status", 1, 5}};
    for (size_t index = 0; index < sizeof (bad) / sizeof (bad[0]); index++) {
        map = zm_msg_new ();
        zm_msg_set_str (map, "id", "x");
        zm_msg_set_uint (map, "code", 500);
        zm_msg_set_str (map, "detail", "d");
        if (bad[index].kind == 0)
            zm_msg_set_str (map, bad[index].key, "500");
        else if (bad[index].kind == 1)
            zm_msg_set_uint (map, bad[index].key, (uint64_t)bad[index].number);
        else if (bad[index].kind == 2)
            zm_msg_set_int (map, bad[index].key, bad[index].number);
        else
            zm_msg_del (map, bad[index].key);
        cr_assert_null (zm_error_from_msg (map), "case %zu", index);
        zm_msg_destroy (&map);
    }
    //  Root not a map
    map = zm_msg_new ();
    zm_msg_set_root_array (map);
    cr_assert_null (zm_error_from_msg (map));
    zm_msg_destroy (&map);
}

//  --------------------------------------------------------------------------
//  Real sockets: a DEALER calls a ROUTER over TCP

//  Receive on the ROUTER, split off the identity, decode
static int
s_router_recv (zsock_t *router, zframe_t **identity_p, zm_wire_t *wire)
{
    zmsg_t *msg = zmsg_recv (router);
    cr_assert_not_null (msg);
    *identity_p = zmsg_pop (msg);
    return zm_wire_decode (&msg, 0, wire);
}

//  Send an answer back through the ROUTER to identity
static void
s_router_send (zsock_t *router, zframe_t *identity, zmsg_t **msg_p)
{
    zframe_t *copy = zframe_dup (identity);
    zmsg_prepend (*msg_p, &copy);
    cr_assert_eq (zmsg_send (msg_p, router), 0);
}

//  zm_wire_send writes the bytes zm_wire_encode makes, and zm_wire_recv
//  reads them back as zm_wire_decode does, routing id included.
Test (wire, send_and_recv_without_zmsg, .timeout = 20)
{
    s_pair ();
    void *dealer = zsock_resolve (s_pair_dealer), *router = zsock_resolve (s_pair_router);
    zm_msg_t *meta = zm_msg_new ();
    zm_msg_set_str (meta, "user", "alice");
    zm_wire_t out = {.command = ZM_CMD_REQUEST,
                     .corr = 0x0102030405060708ull,
                     .service = "greeter",
                     .endpoint = "Say.Hello",
                     .content_type = ZM_CT_JSON,
                     .timeout_ms = 1500,
                     .metadata = zm_msg_root (meta),
                     .trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
                     .caller = "frontend",
                     .version = "1.2.0"};
    const char *json = "{\"name\":\"Bob\"}";
    //  Bytes: the same as the zmsg encoder's
    cr_assert_eq (zm_wire_send (dealer, NULL, &out, json, strlen (json), 0), 0);
    zmsg_t *sent = zmsg_recv (s_pair_router);
    cr_assert_not_null (sent);
    zframe_t *identity = zmsg_pop (sent);
    zframe_t *body = zframe_new (json, strlen (json));
    zmsg_t *encoded = s_encode (&out, &body);
    cr_assert_eq (zmsg_size (sent), zmsg_size (encoded));
    for (zframe_t *a = zmsg_first (sent), *b = zmsg_first (encoded); a;
         a = zmsg_next (sent), b = zmsg_next (encoded))
        cr_assert (zframe_eq (a, b), "frames differ");
    zmsg_destroy (&sent);
    zmsg_destroy (&encoded);

    //  Decoded fields and the routing id
    cr_assert_eq (zm_wire_send (dealer, NULL, &out, json, strlen (json), ZMQ_DONTWAIT), 0);
    zmq_pollitem_t item = {router, 0, ZMQ_POLLIN, 0};
    cr_assert_eq (zmq_poll (&item, 1, 5000), 1);
    zm_wire_peer_t peer;
    zm_wire_t in;
    cr_assert_eq (zm_wire_recv (router, &peer, 0, &in), 0, "%s", in.reason);
    cr_assert_eq (peer.size, zframe_size (identity));
    cr_assert (memcmp (peer.data, zframe_data (identity), peer.size) == 0);
    cr_assert_eq (in.command, ZM_CMD_REQUEST);
    cr_assert_eq (in.corr, 0x0102030405060708ull);
    cr_assert_str_eq (in.service, "greeter");
    cr_assert_str_eq (in.endpoint, "Say.Hello");
    cr_assert_str_eq (in.content_type, ZM_CT_JSON);
    cr_assert_eq (in.timeout_ms, 1500);
    cr_assert_str_eq (in.caller, "frontend");
    cr_assert_str_eq (in.version, "1.2.0");
    cr_assert_str_eq (zm_val_str (zm_val_get (in.metadata, "user"), NULL, NULL), "alice");
    cr_assert (zframe_streq (in.body, json));
    zm_wire_clear (&in);
    zm_msg_destroy (&meta);
    zframe_destroy (&identity);

    //  The answer goes back through the routing id; an empty body is fine
    zm_wire_t reply = {.command = ZM_CMD_REPLY, .corr = 7};
    cr_assert_eq (zm_wire_send (router, &peer, &reply, NULL, 0, 0), 0);
    item.socket = dealer;
    cr_assert_eq (zmq_poll (&item, 1, 5000), 1);
    cr_assert_eq (zm_wire_recv (dealer, NULL, 0, &in), 0, "%s", in.reason);
    cr_assert_eq (in.command, ZM_CMD_REPLY);
    cr_assert_eq (in.corr, 7);
    cr_assert_eq (zframe_size (in.body), 0);
    zm_wire_clear (&in);

    //  Nothing waiting: -1, nothing to clear; bad fields refused unsent
    cr_assert_eq (zm_wire_recv (dealer, NULL, 0, &in), -1);
    zm_wire_t bad = {.command = ZM_CMD_REQUEST, .corr = 1, .service = "s", .timeout_ms = 5};
    cr_assert_eq (zm_wire_send (dealer, NULL, &bad, NULL, 0, 0), ZM_EINVAL);
    cr_assert_eq (zm_wire_send (dealer, NULL, &reply, NULL, 3, 0), ZM_EINVAL);
    cr_assert_eq (zm_wire_send (NULL, NULL, &reply, NULL, 0, 0), ZM_EINVAL);
    cr_assert_eq (zmq_poll (&item, 1, 0) >= 0, true);
    item.socket = router;
    cr_assert_eq (zmq_poll (&item, 1, 100), 0, "a refused message sends nothing");

    //  A DEALER with no peer refuses at once with ZMQ_DONTWAIT (ZMQ_IMMEDIATE)
    zsock_t *lonely = zsock_new (ZMQ_DEALER);
    zsock_set_immediate (lonely, 1);
    zsock_connect (lonely, "tcp://127.0.0.1:1"); //  nobody listens on port 1
    cr_assert_eq (zm_wire_send (zsock_resolve (lonely), NULL, &reply, NULL, 0, ZMQ_DONTWAIT),
                  ZM_EUNAVAIL);
    zsock_destroy (&lonely);
}

Test (wire, dealer_router_over_tcp, .timeout = 20)
{
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    cr_assert_not_null (router);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    cr_assert_gt (port, 0);
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    cr_assert_eq (zsock_connect (dealer, "tcp://127.0.0.1:%d", port), 0);
    zsock_set_rcvtimeo (dealer, 5000);
    zsock_set_rcvtimeo (router, 5000);

    //  1. A REQUEST and its REPLY
    zm_msg_t *meta = zm_msg_new ();
    zm_msg_set_str (meta, "user", "alice");
    zm_wire_t call = {.command = ZM_CMD_REQUEST,
                      .corr = 1001,
                      .service = "greeter",
                      .endpoint = "Say.Hello",
                      .timeout_ms = 2000,
                      .metadata = zm_msg_root (meta),
                      .caller = "test"};
    zframe_t *body = zframe_new ("\x81\xa4name\xa3"
                                 "Bob",
                                 10);
    zmsg_t *msg = s_encode (&call, &body);
    zm_msg_destroy (&meta);
    cr_assert_eq (zmsg_send (&msg, dealer), 0);

    zframe_t *identity = NULL;
    zm_wire_t request;
    cr_assert_eq (s_router_recv (router, &identity, &request), 0, "%s", request.reason);
    cr_assert_eq (request.command, ZM_CMD_REQUEST);
    cr_assert_eq (request.corr, 1001);
    cr_assert_str_eq (request.service, "greeter");
    cr_assert_str_eq (request.endpoint, "Say.Hello");
    cr_assert_str_eq (request.caller, "test");
    cr_assert_eq (request.timeout_ms, 2000);
    cr_assert_str_eq (zm_val_str (zm_val_get (request.metadata, "user"), NULL, NULL), "alice");
    zm_msg_t *args = NULL;
    cr_assert_eq (zm_msg_decode (request.content_type, zframe_data (request.body),
                                 zframe_size (request.body), &args, NULL),
                  0);
    char greeting[64];
    snprintf (greeting, sizeof (greeting), "Hello %s", zm_msg_get_str (args, "name", "?"));
    zm_msg_destroy (&args);
    zm_msg_t *result = zm_msg_new ();
    zm_msg_set_str (result, "greeting", greeting);
    void *packed = NULL;
    size_t packed_size = 0;
    cr_assert_eq (zm_msg_encode (result, ZM_CT_MSGPACK, &packed, &packed_size), 0);
    zm_msg_destroy (&result);
    zframe_t *reply_body = zframe_new (packed, packed_size);
    free (packed);
    zmsg_t *reply = zm_wire_reply (request.corr, NULL, &reply_body);
    s_router_send (router, identity, &reply);
    zm_wire_clear (&request);

    msg = zmsg_recv (dealer);
    zm_wire_t answer;
    cr_assert_eq (zm_wire_decode (&msg, 0, &answer), 0);
    cr_assert_eq (answer.command, ZM_CMD_REPLY);
    cr_assert_eq (answer.corr, 1001);
    zm_msg_t *decoded = NULL;
    cr_assert_eq (zm_msg_decode (answer.content_type, zframe_data (answer.body),
                                 zframe_size (answer.body), &decoded, NULL),
                  0);
    cr_assert_str_eq (zm_msg_get_str (decoded, "greeting", NULL), "Hello Bob");
    zm_msg_destroy (&decoded);
    zm_wire_clear (&answer);

    //  2. A PING gets a PONG with its corr id
    msg = zm_wire_ping (1002);
    cr_assert_eq (zmsg_send (&msg, dealer), 0);
    zframe_destroy (&identity);
    zm_wire_t ping;
    cr_assert_eq (s_router_recv (router, &identity, &ping), 0);
    cr_assert_eq (ping.command, ZM_CMD_PING);
    zmsg_t *pong = zm_wire_pong (ping.corr);
    s_router_send (router, identity, &pong);
    zm_wire_clear (&ping);
    msg = zmsg_recv (dealer);
    cr_assert_eq (zm_wire_decode (&msg, 0, &answer), 0);
    cr_assert_eq (answer.command, ZM_CMD_PONG);
    cr_assert_eq (answer.corr, 1002);
    zm_wire_clear (&answer);

    //  3. A malformed request is answered with an ERROR on its corr id
    msg = s_request (1003);
    s_replace (msg, 3, "\x92\x01\x02", 3);
    cr_assert_eq (zmsg_send (&msg, dealer), 0);
    zframe_destroy (&identity);
    zm_wire_t bad;
    int rc = s_router_recv (router, &identity, &bad);
    cr_assert_eq (rc, ZM_EPROTO);
    zmsg_t *error_msg = zm_wire_answer (&bad, rc);
    cr_assert_not_null (error_msg);
    s_router_send (router, identity, &error_msg);
    msg = zmsg_recv (dealer);
    cr_assert_eq (zm_wire_decode (&msg, 0, &answer), 0);
    cr_assert_eq (answer.command, ZM_CMD_ERROR);
    cr_assert_eq (answer.corr, 1003);
    zm_error_t *error = zm_wire_error_value (&answer);
    cr_assert_eq (zm_error_err (error), ZM_EPROTO);
    cr_assert_eq (zm_error_code (error), 400);
    cr_assert_str_eq (zm_error_detail (error), "header is not a msgpack map");
    zm_error_destroy (&error);
    zm_wire_clear (&answer);

    //  4. Garbage is dropped: nothing comes back
    zstr_send (dealer, "hello?");
    zframe_destroy (&identity);
    rc = s_router_recv (router, &identity, &bad);
    cr_assert_eq (rc, ZM_EPROTO);
    cr_assert_not (bad.answerable);
    cr_assert_null (zm_wire_answer (&bad, rc));
    zsock_set_rcvtimeo (dealer, 100);
    msg = zmsg_recv (dealer);
    cr_assert_null (msg, "a dropped message gets no answer");

    zframe_destroy (&identity);
    zsock_destroy (&dealer);
    zsock_destroy (&router);
}

Test (wire, event_header_round_trips_and_is_checked, .timeout = 10)
{
    zm_msg_t *meta = zm_msg_new ();
    zm_msg_set_str (meta, "tenant", "acme");
    zm_wire_t out = {.command = ZM_CMD_EVENT,
                     .topic = "orders.created",
                     .event_id = "0123456789abcdef0123456789abcdef",
                     .publisher = "fedcba9876543210fedcba9876543210",
                     .group = "billing",
                     .timestamp = 1763700000000ull,
                     .seq = 42,
                     .content_type = ZM_CT_JSON,
                     .metadata = zm_msg_root (meta),
                     .trace_id = "trace-1"};
    zframe_t *body = zframe_new ("{}", 2);
    zmsg_t *msg = s_encode (&out, &body);
    zm_wire_t in;
    cr_assert_eq (zm_wire_decode (&msg, 0, &in), 0, "%s", in.reason);
    cr_assert_str_eq (in.topic, "orders.created");
    cr_assert_str_eq (in.event_id, out.event_id);
    cr_assert_str_eq (in.publisher, out.publisher);
    cr_assert_str_eq (in.group, "billing");
    cr_assert_eq (in.timestamp, 1763700000000ull);
    cr_assert_eq (in.seq, 42);
    cr_assert_str_eq (in.content_type, ZM_CT_JSON);
    cr_assert_str_eq (in.trace_id, "trace-1");
    cr_assert_str_eq (zm_val_str (zm_val_get (in.metadata, "tenant"), "", NULL), "acme");
    cr_assert_null (in.service);
    zm_wire_clear (&in);
    zm_msg_destroy (&meta);

    //  No topic: refused by the encoder, and by the decoder (never answered)
    zm_wire_t none = {.command = ZM_CMD_EVENT};
    zmsg_t *made = NULL;
    cr_assert_eq (zm_wire_encode (&none, NULL, &made), ZM_EINVAL);
    uint8_t corr[8] = {0};
    const uint8_t empty = 0x80, sig[3] = {'Z', 'M', 1}, event = ZM_CMD_EVENT;
    msg = zmsg_new ();
    zmsg_addmem (msg, sig, 3);
    zmsg_addmem (msg, &event, 1);
    zmsg_addmem (msg, corr, 8);
    zmsg_addmem (msg, &empty, 1);
    zmsg_addmem (msg, "", 0);
    cr_assert_eq (zm_wire_decode (&msg, 0, &in), ZM_EPROTO);
    cr_assert_str_eq (in.reason, "missing topic in header");
    cr_assert_not (in.answerable, "an EVENT is never answered");
    //  seq must be an unsigned integer: {"topic": "a", "seq": "x"}
    const uint8_t bad_seq[] = {0x82, 0xa5, 't', 'o', 'p', 'i', 'c', 0xa1, 'a',
                               0xa3, 's',  'e', 'q', 0xa1, 'x'};
    msg = zmsg_new ();
    zmsg_addmem (msg, sig, 3);
    zmsg_addmem (msg, &event, 1);
    zmsg_addmem (msg, corr, 8);
    zmsg_addmem (msg, bad_seq, sizeof bad_seq);
    zmsg_addmem (msg, "", 0);
    cr_assert_eq (zm_wire_decode (&msg, 0, &in), ZM_EPROTO);
    cr_assert_str_eq (in.reason, "seq is not an unsigned integer");
}

//  An event frame of the PUB/SUB form (protocol.md 18.2) into frame:
//  "ZM", version, command, the fixed fields (publisher 0x11 x 16, counter
//  5, timestamp 6, seq 7), extras length H, then tail (extras and body).
//  Returns its size.
static size_t
s_event_frame (uint8_t *frame, uint8_t version, uint8_t command, uint32_t extras,
               const void *tail, size_t tail_size)
{
    memcpy (frame, "ZM", 2);
    frame[2] = version;
    frame[3] = command;
    memset (frame + 4, 0x11, 16);
    for (int field = 0; field < 3; field++) {
        memset (frame + 20 + 8 * field, 0, 8);
        frame[27 + 8 * field] = (uint8_t) (5 + field);
    }
    for (int at = 0; at < 4; at++)
        frame[44 + at] = (uint8_t) (extras >> (24 - 8 * at));
    memcpy (frame + ZM_WIRE_EVENT_PREFIX, tail, tail_size);
    return ZM_WIRE_EVENT_PREFIX + tail_size;
}

//  Send topic and frame on pub; what the SUB decodes of it, into *in
static int
s_event_roundtrip (zsock_t *pub, zsock_t *sub, zpoller_t *poller, const void *topic,
                   size_t topic_size, const void *data, size_t size, size_t max_body,
                   zm_wire_t *in, zmq_msg_t *frame)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, topic, topic_size);
    zmsg_addmem (msg, data, size);
    cr_assert_eq (zmsg_send (&msg, pub), 0);
    cr_assert_not_null (zpoller_wait (poller, 2000));
    return zm_wire_recv_event (zsock_resolve (sub), max_body, in, frame);
}

//  The PUB/SUB form (protocol.md 18.2): the body encoded after room for
//  the framing, published on a PUB, received and checked on a SUB.
Test (wire, event_pub_sub_form_round_trips_and_is_checked, .timeout = 10)
{
    zsock_t *pub = zsock_new_pub ("tcp://127.0.0.1:*");
    cr_assert_not_null (pub);
    char endpoint[64];
    char *bound = zsock_last_endpoint (pub); //  the caller's to free
    cr_assert_not_null (bound);
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", atoi (strrchr (bound, ':') + 1));
    zstr_free (&bound);
    zsock_t *sub = zsock_new_sub (endpoint, "");
    cr_assert_not_null (sub);
    zpoller_t *poller = zpoller_new (sub, NULL);

    zm_msg_t *meta = zm_msg_new ();
    zm_msg_set_str (meta, "tenant", "acme");
    //  The publisher in lower case: it travels as bytes, comes back upper
    zm_wire_t out = {.command = ZM_CMD_EVENT,
                     .topic = "orders.created",
                     .counter = 0x0123456789abcdefull,
                     .event_id = "not sent: the counter is the id",
                     .publisher = "fedcba9876543210fedcba9876543210",
                     .timestamp = 1763700000000ull,
                     .content_type = ZM_CT_JSON,
                     .metadata = zm_msg_root (meta),
                     .trace_id = "trace-1"};
    zm_wire_plan_t plan;
    cr_assert_eq (zm_wire_event_plan (&out, &plan), 0);
    zm_msg_t *body = NULL;
    cr_assert_eq (zm_msg_decode (ZM_CT_JSON, "{\"n\":7}", 7, &body, NULL), 0);
    void *buffer = NULL;
    size_t size = 0;
    cr_assert_eq (zm_msg_encode_room (body, ZM_CT_JSON, plan.room, &buffer, &size), 0);
    cr_assert_eq (size, 7);
    cr_assert_eq (memcmp ((char *) buffer + plan.room, "{\"n\":7}", 7), 0);
    zm_msg_destroy (&body);
    //  The room does not depend on seq: set after planning, as under the
    //  publisher's lock
    out.seq = UINT64_MAX - 1;
    //  Until the SUB has joined, events go nowhere: send until one arrives
    zm_wire_t in;
    zmq_msg_t frame;
    int rc = -1;
    for (int tries = 0; tries < 100 && rc == -1; tries++) {
        void *copy = malloc (plan.room + size);
        memcpy (copy, buffer, plan.room + size);
        cr_assert_eq (zm_wire_publish (zsock_resolve (pub), &out, &plan, copy, size, 0), 0);
        if (zpoller_wait (poller, 50))
            rc = zm_wire_recv_event (zsock_resolve (sub), 0, &in, &frame);
    }
    free (buffer);
    cr_assert_eq (rc, 0, "%s", in.reason);
    cr_assert_str_eq (in.topic, "orders.created");
    cr_assert_str_eq (in.publisher, "FEDCBA9876543210FEDCBA9876543210");
    cr_assert_str_eq (in.event_id, "FEDCBA98765432100123456789abcdef");
    cr_assert_eq (in.counter, 0x0123456789abcdefull);
    cr_assert_eq (in.timestamp, 1763700000000ull);
    cr_assert_eq (in.seq, UINT64_MAX - 1);
    cr_assert_str_eq (in.content_type, ZM_CT_JSON);
    cr_assert_str_eq (in.trace_id, "trace-1");
    cr_assert_str_eq (zm_val_str (zm_val_get (in.metadata, "tenant"), "", NULL), "acme");
    cr_assert_null (in.group, "the PUB/SUB form has no group");
    size_t got = 0;
    void *bytes = zm_wire_event_body (&in, &frame, &got);
    cr_assert_eq (got, 7);
    cr_assert_eq (memcmp (bytes, "{\"n\":7}", 7), 0);
    cr_assert_eq (in.body_offset, zmq_msg_size (&frame) - 7);
    zmq_msg_close (&frame);
    zm_wire_clear (&in);
    //  Drain the extra copies the joining loop sent
    while (zm_wire_recv_event (zsock_resolve (sub), 0, &in, &frame) != -1) {
        zmq_msg_close (&frame);
        zm_wire_clear (&in);
    }
    zmq_msg_close (&frame);

    //  The usual event: no publisher, empty extras, nothing decoded;
    //  unknown extras keys are skipped
    uint8_t data[600];
    size = s_event_frame (data, 1, 0x20, 1, "\x80" "body", 5);
    memset (data + 4, 0, 16);
    cr_assert_eq (s_event_roundtrip (pub, sub, poller, "a.b", 3, data, size, 0, &in, &frame), 0,
                  "%s", in.reason);
    cr_assert_str_eq (in.topic, "a.b");
    cr_assert_null (in.publisher);
    cr_assert_null (in.event_id);
    cr_assert_eq (in.counter, 5);
    cr_assert_eq (in.timestamp, 6);
    cr_assert_eq (in.seq, 7);
    cr_assert_null (in.header);
    cr_assert_str_eq (in.content_type, ZM_CT_MSGPACK);
    bytes = zm_wire_event_body (&in, &frame, &got);
    cr_assert_eq (got, 4);
    cr_assert_eq (memcmp (bytes, "body", 4), 0);
    zmq_msg_close (&frame);
    zm_wire_clear (&in);
    //  {"topic": 1, "later": nil}: keys the extras do not define
    size = s_event_frame (data, 1, 0x20, 15, "\x82\xa5topic\x01\xa5later\xc0", 15);
    cr_assert_eq (s_event_roundtrip (pub, sub, poller, "a.b", 3, data, size, 0, &in, &frame), 0,
                  "%s", in.reason);
    cr_assert_str_eq (in.topic, "a.b");
    cr_assert_str_eq (in.publisher, "11111111111111111111111111111111");
    cr_assert_str_eq (in.event_id, "11111111111111110000000000000005");
    bytes = zm_wire_event_body (&in, &frame, &got);
    cr_assert_eq (got, 0);
    zmq_msg_close (&frame);
    zm_wire_clear (&in);

    //  Bad frames: each refused with its reason, nothing to clear
    char long_topic[257];
    memset (long_topic, 'a', 256);
    long_topic[256] = 0;
    struct {
        const char *topic;
        size_t topic_size;
        uint8_t version, command;
        uint32_t extras;
        const char *tail;
        size_t tail_size;
        const char *reason;
    } cases[] = {
        {"orders.x", 8, 2, 0x20, 1, "\x80", 1, "unsupported protocol version"},
        {"orders.x", 8, 1, 0x01, 1, "\x80", 1, "not an EVENT"},
        {"orders.x", 8, 1, 0x20, 0, "", 0, "event frame is too short"},
        {"orders.x", 8, 1, 0x20, 9, "\x80", 1, "header runs past the event frame"},
        {"orders.x", 8, 1, 0x20, 0x10001, "\x80", 1, "header frame is over 64 KiB"},
        {"orders.x", 8, 1, 0x20, 0, "\x80", 1, "header is not valid msgpack"},
        {"orders.x", 8, 1, 0x20, 1, "\x93", 1, "header is not valid msgpack"},
        {"orders.x", 8, 1, 0x20, 4, "\x93\x01\x02\x03", 4, "header is not a msgpack map"},
        {"orders.x", 8, 1, 0x20, 3, "\x81\x01\x02", 3, "header key is not a string"},
        {"orders.x", 8, 1, 0x20, 15, "\x81\xac" "content_type\x07", 15,
         "content_type is not a string"},
        {"orders.x", 8, 1, 0x20, 20, "\x81\xac" "content_type\xa5x/y/z", 20,
         "unknown content type"},
        {"orders.x", 8, 1, 0x20, 21, "\x82\xa8trace_id\xa0\xa8trace_id\xa0", 21,
         "duplicate header key"},
        {"orders.x", 8, 1, 0x20, 11, "\x81\xa8metadata\x01", 11, "metadata is not a map"},
        {"", 0, 1, 0x20, 1, "\x80", 1, "topic is empty"},
        {"a\0b", 3, 1, 0x20, 1, "\x80", 1, "topic holds a NUL byte"},
        {long_topic, 256, 1, 0x20, 1, "\x80", 1, "topic is too long"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size = s_event_frame (data, cases[i].version, cases[i].command, cases[i].extras,
                              cases[i].tail, cases[i].tail_size);
        rc = s_event_roundtrip (pub, sub, poller, cases[i].topic, cases[i].topic_size, data, size,
                                0, &in, &frame);
        cr_assert_neq (rc, 0, "case %zu", i);
        cr_assert_neq (rc, -1, "case %zu", i);
        cr_assert_str_eq (in.reason, cases[i].reason, "case %zu", i);
        cr_assert_null (in.header, "case %zu: nothing to clear", i);
        cr_assert_eq (zmq_msg_size (&frame), 0, "case %zu: no frame kept", i);
        zmq_msg_close (&frame);
    }
    //  Frames too short for a signature, or with another one
    rc = s_event_roundtrip (pub, sub, poller, "x", 1, "ZM\x01", 3, 0, &in, &frame);
    cr_assert_eq (rc, ZM_EPROTO);
    cr_assert_str_eq (in.reason, "bad signature");
    zmq_msg_close (&frame);
    size = s_event_frame (data, 1, 0x20, 1, "\x80", 1);
    data[0] = 'X';
    rc = s_event_roundtrip (pub, sub, poller, "x", 1, data, size, 0, &in, &frame);
    cr_assert_eq (rc, ZM_EPROTO);
    cr_assert_str_eq (in.reason, "bad signature");
    zmq_msg_close (&frame);
    //  A topic frame alone, and three frames: the wrong count
    zstr_send (pub, "orders.x");
    cr_assert_not_null (zpoller_wait (poller, 2000));
    cr_assert_eq (zm_wire_recv_event (zsock_resolve (sub), 0, &in, &frame), ZM_EPROTO);
    cr_assert_str_eq (in.reason, "wrong frame count");
    zmq_msg_close (&frame);
    zstr_sendx (pub, "orders.x", "a", "b", NULL);
    cr_assert_not_null (zpoller_wait (poller, 2000));
    cr_assert_eq (zm_wire_recv_event (zsock_resolve (sub), 0, &in, &frame), ZM_EPROTO);
    cr_assert_str_eq (in.reason, "wrong frame count");
    zmq_msg_close (&frame);
    //  A body over max_body, and one at it
    size = s_event_frame (data, 1, 0x20, 1, "\x80" "0123456789", 11);
    rc = s_event_roundtrip (pub, sub, poller, "x", 1, data, size, 9, &in, &frame);
    cr_assert_eq (rc, ZM_ETOOBIG);
    cr_assert_str_eq (in.reason, "body is over the size limit");
    zmq_msg_close (&frame);
    rc = s_event_roundtrip (pub, sub, poller, "x", 1, data, size, 10, &in, &frame);
    cr_assert_eq (rc, 0, "%s", in.reason);
    zmq_msg_close (&frame);
    zm_wire_clear (&in);
    //  Nothing waiting
    cr_assert_eq (zm_wire_recv_event (zsock_resolve (sub), 0, &in, &frame), -1);
    zmq_msg_close (&frame);
    //  What the planner refuses
    const char *publishers[] = {"fedcba9876543210fedcba987654321",   //  31 digits
                                "fedcba9876543210fedcba98765432100", //  33 digits
                                "fedcba9876543210fedcba987654321g", ""};
    for (size_t i = 0; i < sizeof publishers / sizeof publishers[0]; i++) {
        zm_wire_t bad = out;
        bad.publisher = publishers[i];
        cr_assert_eq (zm_wire_event_plan (&bad, &plan), ZM_EINVAL, "publisher %s", publishers[i]);
    }
    zm_wire_t bad = out;
    bad.topic = NULL;
    cr_assert_eq (zm_wire_event_plan (&bad, &plan), ZM_EINVAL);
    bad.topic = "";
    cr_assert_eq (zm_wire_event_plan (&bad, &plan), ZM_EINVAL);
    bad.topic = long_topic;
    cr_assert_eq (zm_wire_event_plan (&bad, &plan), ZM_EINVAL);
    bad = out;
    bad.trace_id = long_topic; //  over 128 bytes
    cr_assert_eq (zm_wire_event_plan (&bad, &plan), ZM_ETOOBIG);
    bad = out;
    bad.command = ZM_CMD_REQUEST;
    cr_assert_eq (zm_wire_event_plan (&bad, &plan), ZM_EINVAL);
    cr_assert_eq (zm_wire_publish (zsock_resolve (pub), &out, NULL, malloc (1), 0, 0), ZM_EINVAL);
    zm_msg_destroy (&meta);
    zpoller_destroy (&poller);
    zsock_destroy (&sub);
    zsock_destroy (&pub);
}

//  A registered codec for zm_msg_encode_room: the text "upper:" and the
//  root string in capitals
static int
s_upper_decode (const void *data, size_t size, zm_msg_t **msg_p, const char **err_p)
{
    return ZM_ECODEC;
}

static int
s_upper_encode (const zm_msg_t *msg, void **data_p, size_t *size_p)
{
    size_t len = 0;
    const char *text = zm_val_str (zm_msg_root (msg), NULL, &len);
    if (!text)
        return ZM_ECODEC;
    char *out = (char *) malloc (len + 6);
    memcpy (out, "upper:", 6);
    for (size_t i = 0; i < len; i++)
        out[6 + i] = (char) toupper ((unsigned char) text[i]);
    *data_p = out;
    *size_p = len + 6;
    return 0;
}

static const zm_codec_t s_upper = {"text/x-upper", s_upper_decode, s_upper_encode};

//  zm_msg_encode_room: room bytes free in front, then what zm_msg_encode
//  gives, for every built-in codec and a registered one.
Test (wire, encode_room_leaves_room_before_the_encoding, .timeout = 10)
{
    zm_codec_register (&s_upper); //  ZM_ECONFLICT when run twice: fine
    zm_msg_t *msg = zm_msg_new ();
    zm_msg_set_str (msg, "name", "zmicro");
    zm_msg_set_int (msg, "n", -5);
    zm_msg_t *bin = NULL;
    cr_assert_eq (zm_msg_decode (ZM_CT_RAW, "bytes", 5, &bin, NULL), 0);
    zm_msg_t *text = NULL;
    cr_assert_eq (zm_msg_decode (ZM_CT_JSON, "\"shout\"", 7, &text, NULL), 0);
    struct {
        const zm_msg_t *msg;
        const char *content_type;
    } cases[] = {{msg, ZM_CT_MSGPACK}, {msg, ZM_CT_JSON}, {bin, ZM_CT_RAW},
                 {text, "text/x-upper"}, {msg, NULL}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        for (size_t room = 0; room <= 300; room += 150) {
            void *plain = NULL, *roomy = NULL;
            size_t plain_size = 0, roomy_size = 0;
            cr_assert_eq (zm_msg_encode (cases[i].msg, cases[i].content_type, &plain, &plain_size),
                          0, "case %zu", i);
            cr_assert_eq (zm_msg_encode_room (cases[i].msg, cases[i].content_type, room, &roomy,
                                              &roomy_size),
                          0, "case %zu room %zu", i, room);
            cr_assert_eq (roomy_size, plain_size, "case %zu room %zu", i, room);
            cr_assert_eq (memcmp ((char *) roomy + room, plain, plain_size), 0, "case %zu", i);
            free (plain);
            free (roomy);
        }
    void *data = NULL;
    size_t size = 0;
    cr_assert_eq (zm_msg_encode_room (msg, ZM_CT_RAW, 8, &data, &size), ZM_ECODEC,
                  "a map has no raw form");
    cr_assert_eq (zm_msg_encode_room (msg, "text/x-upper", 8, &data, &size), ZM_ECODEC);
    cr_assert_eq (zm_msg_encode_room (msg, "text/unknown", 8, &data, &size), ZM_EINVAL);
    cr_assert_eq (zm_msg_encode_room (msg, NULL, (1u << 20) + 1, &data, &size), ZM_EINVAL);
    cr_assert_eq (zm_msg_encode_room (NULL, NULL, 8, &data, &size), ZM_EINVAL);
    cr_assert_null (data);
    zm_msg_destroy (&msg);
    zm_msg_destroy (&bin);
    zm_msg_destroy (&text);
}

//  --------------------------------------------------------------------------
//  Streams: the 1-frame STREAM_DATA, credit

Test (wire, stream_data_travels_in_one_frame, .timeout = 10)
{
    s_pair ();
    const size_t sizes[] = {0, 1, 1000, 70000};
    for (size_t index = 0; index < 4; index++) {
        size_t size = sizes[index];
        uint8_t *buffer = (uint8_t *) malloc (ZM_WIRE_DATA_PREFIX + size);
        for (size_t at = 0; at < size; at++)
            buffer[ZM_WIRE_DATA_PREFIX + at] = (uint8_t) (at * 7);
        cr_assert_eq (zm_wire_send_data (zsock_resolve (s_pair_dealer), NULL, 0x0102030405060708ULL,
                                         buffer, ZM_WIRE_DATA_PREFIX + size, 0),
                      0);
        zmq_pollitem_t item = {zsock_resolve (s_pair_router), 0, ZMQ_POLLIN, 0};
        cr_assert_eq (zmq_poll (&item, 1, 5000), 1);
        zm_wire_peer_t peer;
        zm_wire_t wire;
        cr_assert_eq (zm_wire_recv (zsock_resolve (s_pair_router), &peer, 0, &wire), 0);
        cr_assert_eq (wire.command, ZM_CMD_STREAM_DATA);
        cr_assert_eq (wire.corr, 0x0102030405060708ULL);
        cr_assert_not_null (wire.data);
        size_t got = 0;
        const uint8_t *body = (const uint8_t *) zm_wire_data_body (&wire, &got);
        cr_assert_eq (got, size);
        for (size_t at = 0; at < size; at++)
            cr_assert_eq (body[at], (uint8_t) (at * 7));
        //  The raw bytes: "ZM" 1, 0x11, the corr id big-endian
        cr_assert_eq (memcmp (zmq_msg_data (wire.data), "ZM\x01\x11\x01\x02\x03\x04\x05\x06\x07\x08",
                              12), 0);
        zm_wire_clear (&wire);
    }
}

//  A 1-frame message of size bytes
static zmsg_t *
s_one_frame (const void *data, size_t size)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, data, size);
    return msg;
}

Test (wire, malformed_stream_frames, .timeout = 10)
{
    //  1 frame, shorter than its 12 bytes: dropped
    s_expect_fail (s_one_frame ("ZM\x01\x11\x00\x00", 6), 0, ZM_EPROTO, false, 0, "shorter");
    //  1 frame that is not STREAM_DATA: answered
    s_expect_fail (s_one_frame ("ZM\x01\x01\x00\x00\x00\x00\x00\x00\x00\x09xx", 14), 0, ZM_EPROTO,
                   true, 9, "wrong frame count");
    //  1 frame of another version: answered, naming it
    s_expect_fail (s_one_frame ("ZM\x02\x11\x00\x00\x00\x00\x00\x00\x00\x09xx", 14), 0, ZM_EPROTO,
                   true, 9, "unsupported protocol version");
    //  1 frame with a bad signature: dropped
    s_expect_fail (s_one_frame ("ZX\x01\x11\x00\x00\x00\x00\x00\x00\x00\x09xx", 14), 0, ZM_EPROTO,
                   false, 0, "bad signature");
    //  1 frame over the body limit: answered
    s_expect_fail (s_one_frame ("ZM\x01\x11\x00\x00\x00\x00\x00\x00\x00\x09xxxxx", 17), 4,
                   ZM_ETOOBIG, true, 9, "body is over the size limit");
    //  STREAM_DATA in 5 frames: answered
    zm_wire_t data = {.command = ZM_CMD_STREAM_END, .corr = 11};
    zframe_t *body = NULL;
    zmsg_t *msg = s_encode (&data, &body);
    s_replace (msg, 1, "\x11", 1);
    s_expect_fail (msg, 0, ZM_EPROTO, true, 11, "1-frame form only");
    //  STREAM_OPEN: credit required, not 0, an unsigned integer, at most 1,000,000
    zm_wire_t open = {.command = ZM_CMD_STREAM_OPEN,
                      .corr = 12,
                      .service = "s",
                      .endpoint = "e",
                      .timeout_ms = 100,
                      .credit = 1};
    struct {
        const char *json;
        const char *reason;
    } cases[] = {
        {"{\"service\":\"s\",\"endpoint\":\"e\",\"timeout\":100}", "missing credit"},
        {"{\"service\":\"s\",\"endpoint\":\"e\",\"timeout\":100,\"credit\":0}", "credit is 0"},
        {"{\"service\":\"s\",\"endpoint\":\"e\",\"timeout\":100,\"credit\":-1}",
         "credit is not an unsigned integer"},
        {"{\"service\":\"s\",\"endpoint\":\"e\",\"timeout\":100,\"credit\":\"9\"}",
         "credit is not an unsigned integer"},
        {"{\"service\":\"s\",\"endpoint\":\"e\",\"timeout\":100,\"credit\":1000001}",
         "credit is over 1000000"},
        {"{\"endpoint\":\"e\",\"timeout\":100,\"credit\":5}", "missing service"},
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases[0]; index++) {
        msg = s_encode (&open, &body);
        zm_msg_t *map = NULL;
        cr_assert_eq (zm_msg_decode (ZM_CT_JSON, cases[index].json, strlen (cases[index].json),
                                     &map, NULL),
                      0);
        s_set_header (msg, map);
        zm_msg_destroy (&map);
        s_expect_fail (msg, 0, ZM_EPROTO, true, 12, cases[index].reason);
    }
    //  STREAM_CREDIT: credit required; 0 is a keepalive
    zm_wire_t credit = {.command = ZM_CMD_STREAM_CREDIT, .corr = 13, .credit = 0};
    msg = s_encode (&credit, &body);
    zm_wire_t in;
    cr_assert_eq (zm_wire_decode (&msg, 0, &in), 0);
    cr_assert_eq (in.credit, 0u);
    zm_wire_clear (&in);
    msg = s_encode (&credit, &body);
    s_replace (msg, 3, "\x80", 1);
    s_expect_fail (msg, 0, ZM_EPROTO, true, 13, "missing credit");
}
