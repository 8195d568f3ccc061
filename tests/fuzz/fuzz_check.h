/*  =========================================================================
    fuzz_check.h - invariants the codec fuzz targets share

    Header-only (static functions) so each fuzz_*.c stays one source file,
    which is all SConstruct builds per target.
    =========================================================================
*/
#ifndef FUZZ_CHECK_H_INCLUDED
#define FUZZ_CHECK_H_INCLUDED

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmicro.h>

#define FUZZ_CHECK(cond)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf (stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);          \
            abort ();                                                                              \
        }                                                                                          \
    } while (0)

//  Same string (both NULL, or equal bytes)
static inline void
fuzz_check_same_str (const char *a, const char *b)
{
    FUZZ_CHECK ((a == NULL) == (b == NULL));
    if (a)
        FUZZ_CHECK (strcmp (a, b) == 0);
}

//  A decoded string field within its limit
static inline void
fuzz_check_str_field (const char *text, size_t max)
{
    if (text)
        FUZZ_CHECK (strlen (text) <= max);
}

//  Every string NUL-terminated at its length; sizes and handles consistent
static inline void
fuzz_check_tree (const zm_val_t *val, int depth)
{
    FUZZ_CHECK (depth <= ZM_MSG_MAX_DEPTH);
    size_t size = zm_val_size (val);
    switch (zm_val_type (val)) {
    case ZM_TYPE_STR: {
        size_t len = 0;
        const char *text = zm_val_str (val, NULL, &len);
        FUZZ_CHECK (text && len == size && text[len] == 0);
        break;
    }
    case ZM_TYPE_BIN: {
        size_t len = 0;
        FUZZ_CHECK (zm_val_bin (val, &len) != NULL && len == size);
        break;
    }
    case ZM_TYPE_ARRAY:
        for (size_t index = 0; index < size; index++)
            fuzz_check_tree (zm_val_at (val, index), depth + 1);
        FUZZ_CHECK (zm_val_at (val, size) == NULL);
        break;
    case ZM_TYPE_MAP:
        for (size_t index = 0; index < size; index++) {
            const zm_val_t *key = zm_val_key_val_at (val, index);
            fuzz_check_tree (key, depth + 1);
            fuzz_check_tree (zm_val_at (val, index), depth + 1);
            size_t len = 0;
            const char *name = zm_val_key_at (val, index, &len);
            FUZZ_CHECK ((name != NULL) == (zm_val_type (key) == ZM_TYPE_STR));
            //  lookup by a key without NULs finds a value with that key
            if (name && strlen (name) == len)
                FUZZ_CHECK (zm_val_get (val, name) != NULL);
        }
        break;
    default:
        FUZZ_CHECK (size == 0);
    }
}

//  Encode, abort on failure; caller frees
static void *
fuzz_encode (const zm_msg_t *msg, const char *content_type, size_t *size_p)
{
    void *data = NULL;
    int rc = zm_msg_encode (msg, content_type, &data, size_p);
    FUZZ_CHECK (rc == 0);
    return data;
}

static inline void
fuzz_check_same_encoding (const zm_msg_t *msg, const char *content_type, const void *expected,
                          size_t expected_size)
{
    size_t size = 0;
    void *data = fuzz_encode (msg, content_type, &size);
    FUZZ_CHECK (size == expected_size && memcmp (data, expected, size) == 0);
    free (data);
}

//  Our msgpack output reads back and re-encodes to itself
static inline void
fuzz_check_canonical (const void *packed, size_t size)
{
    zm_msg_t *msg = NULL;
    FUZZ_CHECK (zm_msg_decode (ZM_CT_MSGPACK, packed, size, &msg, NULL) == 0);
    fuzz_check_same_encoding (msg, ZM_CT_MSGPACK, packed, size);
    zm_msg_destroy (&msg);
}

//  When msg has a JSON form, it reads back to the same msgpack and JSON
static inline void
fuzz_check_json_form (const zm_msg_t *msg, const void *packed, size_t packed_size)
{
    void *json = NULL;
    size_t json_size = 0;
    int rc = zm_msg_encode (msg, ZM_CT_JSON, &json, &json_size);
    if (rc) {
        FUZZ_CHECK (rc == ZM_ECODEC || rc == ZM_ETOOBIG);
        return;
    }
    zm_msg_t *back = NULL;
    const char *reason = NULL;
    rc = zm_msg_decode (ZM_CT_JSON, json, json_size, &back, &reason);
    if (rc)
        fprintf (stderr, "JSON we wrote does not read: %s: %.*s\n", reason, (int)json_size,
                 (const char *)json);
    FUZZ_CHECK (rc == 0);
    fuzz_check_tree (zm_msg_root (back), 0);
    fuzz_check_same_encoding (back, ZM_CT_MSGPACK, packed, packed_size);
    fuzz_check_same_encoding (back, ZM_CT_JSON, json, json_size);
    zm_msg_destroy (&back);
    free (json);
}

#endif
