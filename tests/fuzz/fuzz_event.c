/*  =========================================================================
    fuzz_event - libFuzzer target: any topic frame and event frame as one
    PUB/SUB EVENT (docs/protocol.md section 18.2)

    Input layout (the seeds in corpus/fuzz_event/ follow it):
        byte 0      topic frame length T (cut short where the input ends)
        bytes 1..T  the topic frame
        byte T+1    bit 0: body limit 64 bytes instead of the default
        the rest    the event frame

    zm_wire_decode_event must never crash, and:
    - on failure: a known error code and a reason, nothing left owned
    - on success: the topic is the topic frame; the publisher and id are
      32 hex digits or absent together; every string field is
      NUL-terminated within its limit; the body lies inside the frame and
      within the limit; planning and publishing the decoded fields gives a
      frame that decodes to the same fields and body (abort on mismatch)
    =========================================================================
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zm_runtime.h"
#include "zm_wire.h"
#include "fuzz_check.h"

static void *s_pub, *s_sub;

static void
s_close (void)
{
    int zero = 0;
    zmq_setsockopt (s_pub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close (s_pub);
    zmq_close (s_sub);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    size_t topic_size = data[0];
    if (topic_size > size - 2)
        topic_size = size - 2;
    const uint8_t *topic = data + 1;
    size_t max_body = (data[1 + topic_size] & 1) ? 64 : 0;
    const uint8_t *frame = data + 2 + topic_size;
    size_t frame_size = size - 2 - topic_size;

    zm_wire_t wire;
    int rc = zm_wire_decode_event (topic, topic_size, frame, frame_size, max_body, &wire);
    if (rc) {
        FUZZ_CHECK (rc == ZM_EPROTO || rc == ZM_ETOOBIG || rc == ZM_EINVAL || rc == ZM_ENOMEM);
        FUZZ_CHECK (wire.reason != NULL);
        FUZZ_CHECK (wire.header == NULL && wire.body == NULL);
        return 0;
    }
    FUZZ_CHECK (wire.reason == NULL && wire.command == ZM_CMD_EVENT && wire.content_type);
    FUZZ_CHECK (wire.topic && strlen (wire.topic) == topic_size
                && memcmp (wire.topic, topic, topic_size) == 0);
    FUZZ_CHECK (wire.body_offset >= ZM_WIRE_EVENT_PREFIX && wire.body_offset <= frame_size);
    size_t body_size = frame_size - wire.body_offset;
    FUZZ_CHECK (body_size <= (max_body ? max_body : ZM_WIRE_MAX_BODY));
    fuzz_check_str_field (wire.topic, ZM_WIRE_MAX_NAME);
    fuzz_check_str_field (wire.content_type, ZM_WIRE_MAX_NAME);
    fuzz_check_str_field (wire.trace_id, ZM_WIRE_MAX_TRACE);
    FUZZ_CHECK ((wire.publisher == NULL) == (wire.event_id == NULL));
    if (wire.publisher) {
        FUZZ_CHECK (strlen (wire.publisher) == ZM_WIRE_UUID_HEX);
        FUZZ_CHECK (strlen (wire.event_id) == ZM_WIRE_UUID_HEX);
        FUZZ_CHECK (strspn (wire.publisher, "0123456789ABCDEF") == ZM_WIRE_UUID_HEX);
        FUZZ_CHECK (memcmp (wire.event_id, wire.publisher, 16) == 0);
    }
    FUZZ_CHECK (wire.group == NULL);
    if (wire.header)
        fuzz_check_tree (zm_msg_root (wire.header), 0);

    //  What we decoded, we can publish, and it reads back the same
    zm_wire_plan_t plan;
    rc = zm_wire_event_plan (&wire, &plan);
    if (rc)
        fprintf (stderr, "cannot plan: %s\n", zm_strerror (rc));
    FUZZ_CHECK (rc == 0);
    uint8_t *again = (uint8_t *) malloc (plan.room + body_size + 1);
    FUZZ_CHECK (again);
    memcpy (again + plan.room, frame + wire.body_offset, body_size);
    //  A PAIR over inproc, made once: it takes what a PUB would send
    if (!s_pub) {
        s_pub = zmq_socket (zsys_init (), ZMQ_PAIR);
        s_sub = zmq_socket (zsys_init (), ZMQ_PAIR);
        FUZZ_CHECK (s_pub && s_sub);
        atexit (s_close); //  after zsys_init's: runs before the context ends
        FUZZ_CHECK (zmq_bind (s_pub, "inproc://fuzz_event") == 0);
        FUZZ_CHECK (zmq_connect (s_sub, "inproc://fuzz_event") == 0);
    }
    void *pub = s_pub, *sub = s_sub;
    FUZZ_CHECK (zm_wire_publish (pub, &wire, &plan, again, body_size, 0) == 0);
    zm_wire_t back;
    zmq_msg_t got;
    rc = zm_wire_recv_event (sub, max_body, &back, &got);
    if (rc)
        fprintf (stderr, "cannot decode what we published: %s\n", rc == -1 ? "none" : back.reason);
    FUZZ_CHECK (rc == 0);
    fuzz_check_same_str (wire.topic, back.topic);
    fuzz_check_same_str (wire.event_id, back.event_id);
    fuzz_check_same_str (wire.publisher, back.publisher);
    fuzz_check_same_str (wire.group, back.group);
    fuzz_check_same_str (wire.content_type, back.content_type);
    fuzz_check_same_str (wire.trace_id, back.trace_id);
    FUZZ_CHECK (wire.timestamp == back.timestamp && wire.seq == back.seq
                && wire.counter == back.counter);
    FUZZ_CHECK ((wire.metadata == NULL) == (back.metadata == NULL));
    FUZZ_CHECK (zm_val_size (wire.metadata) == zm_val_size (back.metadata));
    size_t back_size = 0;
    void *back_body = zm_wire_event_body (&back, &got, &back_size);
    FUZZ_CHECK (back_size == body_size);
    FUZZ_CHECK (body_size == 0 || memcmp (back_body, frame + wire.body_offset, body_size) == 0);
    zmq_msg_close (&got);
    zm_wire_clear (&back);
    zm_wire_clear (&wire);
    return 0;
}
