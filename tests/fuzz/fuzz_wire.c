/*  =========================================================================
    fuzz_wire - libFuzzer target: any frames as one RPC protocol v1 message

    Input layout (the seeds in corpus/fuzz_wire/ follow it):
        byte 0      bits 0-2: frame count (0..7); bit 7: body limit 64
                    bytes instead of the default
        then, per frame: 2-byte big-endian length, then that many bytes
                    (cut short where the input ends; missing frames are
                    empty)

    zm_wire_decode must never crash, and:
    - on failure: a known error code and a reason, nothing left owned; an
      answerable failure carries the corr id of frame 2, is never an
      answer command, and its ERROR answer decodes with that corr id
    - on success: every string field is NUL-terminated within its limit;
      encoding the decoded fields and decoding that again gives the same
      fields and body, and the header we wrote is canonical msgpack (abort
      on any mismatch)
    =========================================================================
*/
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "zm_wire.h"
#include "fuzz_check.h"

static void
s_check_same (const zm_wire_t *a, const zm_wire_t *b)
{
    FUZZ_CHECK (a->command == b->command);
    FUZZ_CHECK (a->corr == b->corr);
    fuzz_check_same_str (a->service, b->service);
    fuzz_check_same_str (a->endpoint, b->endpoint);
    fuzz_check_same_str (a->content_type, b->content_type);
    fuzz_check_same_str (a->trace_id, b->trace_id);
    fuzz_check_same_str (a->span_id, b->span_id);
    fuzz_check_same_str (a->caller, b->caller);
    fuzz_check_same_str (a->version, b->version);
    FUZZ_CHECK (a->timeout_ms == b->timeout_ms);
    FUZZ_CHECK ((a->metadata == NULL) == (b->metadata == NULL));
    size_t count = zm_val_size (a->metadata);
    FUZZ_CHECK (count == zm_val_size (b->metadata));
    for (size_t index = 0; index < count; index++) {
        size_t len_a = 0, len_b = 0;
        const char *key_a = zm_val_key_at (a->metadata, index, &len_a);
        const char *key_b = zm_val_key_at (b->metadata, index, &len_b);
        FUZZ_CHECK (key_a && key_b && len_a == len_b && memcmp (key_a, key_b, len_a) == 0);
        const char *value_a = zm_val_str (zm_val_at (a->metadata, index), NULL, &len_a);
        const char *value_b = zm_val_str (zm_val_at (b->metadata, index), NULL, &len_b);
        FUZZ_CHECK (value_a && value_b && len_a == len_b && memcmp (value_a, value_b, len_a) == 0);
    }
    FUZZ_CHECK (a->body && b->body);
    FUZZ_CHECK (zframe_size (a->body) == zframe_size (b->body));
    FUZZ_CHECK (zframe_size (a->body) == 0 ||
                memcmp (zframe_data (a->body), zframe_data (b->body), zframe_size (a->body)) == 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t frames = data[0] & 0x07;
    size_t max_body = (data[0] & 0x80) ? 64 : 0;
    const uint8_t *p = data + 1, *end = data + size;
    zmsg_t *msg = zmsg_new ();
    const uint8_t *corr_bytes = NULL;
    size_t corr_size = 0;
    for (size_t index = 0; index < frames; index++) {
        size_t len = 0;
        if (end - p >= 2) {
            len = (size_t)p[0] << 8 | p[1];
            p += 2;
        } else
            p = end;
        if (len > (size_t)(end - p))
            len = (size_t)(end - p);
        zmsg_addmem (msg, p, len);
        if (index == 2) {
            corr_bytes = p;
            corr_size = len;
        }
        if (index == 0 && frames == 1 && len >= 12) {
            //  The 1-frame STREAM_DATA form: the corr id is bytes 4..11
            corr_bytes = p + 4;
            corr_size = 8;
        }
        p += len;
    }

    zm_wire_t wire;
    int rc = zm_wire_decode (&msg, max_body, &wire);
    FUZZ_CHECK (msg == NULL);
    if (rc) {
        FUZZ_CHECK (rc == ZM_EPROTO || rc == ZM_ETOOBIG || rc == ZM_EINVAL);
        FUZZ_CHECK (wire.reason != NULL);
        FUZZ_CHECK (wire.header == NULL && wire.body == NULL);
        zmsg_t *answer = zm_wire_answer (&wire, rc);
        FUZZ_CHECK ((answer != NULL) == wire.answerable);
        if (wire.answerable) {
            FUZZ_CHECK (corr_size == 8);
            uint64_t corr = 0;
            for (int index = 0; index < 8; index++)
                corr = corr << 8 | corr_bytes[index];
            FUZZ_CHECK (corr == wire.corr);
            FUZZ_CHECK (!zm_wire_is_answer (wire.command));
            zm_wire_t back;
            FUZZ_CHECK (zm_wire_decode (&answer, 0, &back) == 0);
            FUZZ_CHECK (back.command == ZM_CMD_ERROR && back.corr == wire.corr);
            zm_error_t *error = zm_wire_error_value (&back);
            FUZZ_CHECK (error && zm_error_err (error) == rc);
            zm_error_destroy (&error);
            zm_wire_clear (&back);
        }
        zm_wire_clear (&wire);
        return 0;
    }

    if (wire.command == ZM_CMD_STREAM_DATA) {
        //  Only the 1-frame form decodes: the body is the rest of the frame
        FUZZ_CHECK (frames == 1 && wire.data != NULL && wire.body == NULL && !wire.header);
        size_t got = 0;
        zm_wire_data_body (&wire, &got);
        FUZZ_CHECK (max_body == 0 || got <= max_body);
        uint64_t corr = 0;
        for (int index = 0; index < 8; index++)
            corr = corr << 8 | corr_bytes[index];
        FUZZ_CHECK (corr_size == 8 && corr == wire.corr);
        zm_wire_clear (&wire);
        return 0;
    }
    FUZZ_CHECK (wire.reason == NULL && wire.body != NULL && wire.content_type != NULL);
    FUZZ_CHECK (zm_wire_command_known (wire.command));
    FUZZ_CHECK (max_body == 0 || zframe_size (wire.body) <= max_body);
    fuzz_check_str_field (wire.service, ZM_WIRE_MAX_NAME);
    fuzz_check_str_field (wire.endpoint, ZM_WIRE_MAX_NAME);
    fuzz_check_str_field (wire.content_type, ZM_WIRE_MAX_NAME);
    fuzz_check_str_field (wire.caller, ZM_WIRE_MAX_NAME);
    fuzz_check_str_field (wire.trace_id, ZM_WIRE_MAX_TRACE);
    fuzz_check_str_field (wire.span_id, ZM_WIRE_MAX_TRACE);
    fuzz_check_str_field (wire.version, ZM_WIRE_MAX_VERSION);
    if (wire.command == ZM_CMD_REQUEST) {
        FUZZ_CHECK (wire.service && *wire.service && wire.endpoint && *wire.endpoint);
        FUZZ_CHECK (wire.timeout_ms >= 1 && wire.timeout_ms <= ZM_WIRE_MAX_TIMEOUT);
    }
    if (wire.header)
        fuzz_check_tree (zm_msg_root (wire.header), 0);
    if (wire.command == ZM_CMD_ERROR) {
        zm_error_t *error = zm_wire_error_value (&wire);
        FUZZ_CHECK (error && zm_error_err (error) != ZM_OK);
        zm_error_destroy (&error);
    }

    //  What we decoded, we can send, and it reads back the same
    zframe_t *body = zframe_dup (wire.body);
    zmsg_t *again = NULL;
    int rc_encode = zm_wire_encode (&wire, &body, &again);
    if (rc_encode)
        fprintf (stderr, "cannot re-encode: %s\n", zm_strerror (rc_encode));
    FUZZ_CHECK (rc_encode == 0 && body == NULL);
    //  Our header packing is canonical msgpack, with a JSON form
    zframe_t *header = zmsg_first (again);
    for (int index = 0; index < 3; index++)
        header = zmsg_next (again);
    fuzz_check_canonical (zframe_data (header), zframe_size (header));
    zm_msg_t *packed_tree = NULL;
    FUZZ_CHECK (zm_msg_decode (ZM_CT_MSGPACK, zframe_data (header), zframe_size (header),
                               &packed_tree, NULL) == 0);
    fuzz_check_json_form (packed_tree, zframe_data (header), zframe_size (header));
    zm_msg_destroy (&packed_tree);
    zm_wire_t back;
    rc = zm_wire_decode (&again, max_body, &back);
    if (rc)
        fprintf (stderr, "cannot decode what we encoded: %s\n", back.reason);
    FUZZ_CHECK (rc == 0);
    s_check_same (&wire, &back);
    zm_wire_clear (&back);
    zm_wire_clear (&wire);
    return 0;
}
