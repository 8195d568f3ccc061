/*  =========================================================================
    fuzz_msgpack - libFuzzer target: any bytes as an application/msgpack body

    Decoding must never crash; when it succeeds:
    - the copying and the in-place (owned) decoders agree
    - every string is NUL-terminated at its length
    - the msgpack encoding is canonical: decoding it and encoding again
      gives the same bytes, as does a zm_msg_dup
    - if the tree has a JSON form, that JSON reads back to a tree with the
      same msgpack encoding and the same JSON
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
    int rc = zm_msg_decode (ZM_CT_MSGPACK, data, size, &msg, &reason);
    void *copy = malloc (size ? size : 1);
    if (size)
        memcpy (copy, data, size);
    zm_msg_t *owned = NULL;
    int rc_owned = zm_msg_decode_owned (ZM_CT_MSGPACK, &copy, size, &owned, NULL);
    FUZZ_CHECK (rc == rc_owned);
    if (rc) {
        FUZZ_CHECK (rc == ZM_ECODEC || rc == ZM_ETOOBIG);
        FUZZ_CHECK (msg == NULL && owned == NULL && reason != NULL);
        FUZZ_CHECK (size == 0 || memcmp (copy, data, size) == 0); //  untouched
        free (copy);
        return 0;
    }
    FUZZ_CHECK (copy == NULL);
    fuzz_check_tree (zm_msg_root (msg), 0);
    fuzz_check_tree (zm_msg_root (owned), 0);

    size_t packed_size = 0;
    void *packed = fuzz_encode (msg, ZM_CT_MSGPACK, &packed_size);
    fuzz_check_same_encoding (owned, ZM_CT_MSGPACK, packed, packed_size);
    zm_msg_t *dup = zm_msg_dup (msg);
    FUZZ_CHECK (dup);
    fuzz_check_same_encoding (dup, ZM_CT_MSGPACK, packed, packed_size);
    zm_msg_destroy (&dup);
    fuzz_check_canonical (packed, packed_size);
    fuzz_check_json_form (msg, packed, packed_size);

    free (packed);
    zm_msg_destroy (&owned);
    zm_msg_destroy (&msg);
    return 0;
}
