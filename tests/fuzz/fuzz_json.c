/*  =========================================================================
    fuzz_json - libFuzzer target: any bytes as an application/json body

    Decoding must never crash; when it succeeds:
    - every string is NUL-terminated at its length
    - the tree always has a JSON form (the reader accepts nothing the
      writer cannot write), and that JSON reads back to the same JSON and
      the same msgpack
    - the msgpack encoding is canonical and reads back to the same JSON
    Any violation abort ()s.
    =========================================================================
*/
#include <stdlib.h>
#include <string.h>
#include <zmicro.h>

#include "fuzz_check.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    zm_msg_t *msg = NULL;
    const char *reason = NULL;
    int rc = zm_msg_decode ("application/json; charset=utf-8", data, size, &msg, &reason);
    if (rc) {
        FUZZ_CHECK (rc == ZM_ECODEC || rc == ZM_ETOOBIG);
        FUZZ_CHECK (msg == NULL && reason != NULL);
        return 0;
    }
    fuzz_check_tree (zm_msg_root (msg), 0);
    size_t packed_size = 0;
    void *packed = fuzz_encode (msg, ZM_CT_MSGPACK, &packed_size);
    fuzz_check_canonical (packed, packed_size);
    //  fuzz_check_json_form requires the JSON form to exist for a JSON body
    size_t json_size = 0;
    void *json = fuzz_encode (msg, ZM_CT_JSON, &json_size);
    free (json);
    fuzz_check_json_form (msg, packed, packed_size);
    free (packed);
    zm_msg_destroy (&msg);
    return 0;
}
