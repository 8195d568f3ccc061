/*  =========================================================================
    test_codec_msgpack - application/msgpack: canonical round trips,
    zero-copy reading, and malformed input of every kind
    =========================================================================
*/
#include <criterion/criterion.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <zmicro.h>

static void
s_key (msgpack_packer *pk, const char *key)
{
    msgpack_pack_str (pk, strlen (key));
    msgpack_pack_str_body (pk, key, strlen (key));
}

//  A varied document packed by msgpack-c, canonically: every integer
//  width, both signs, floats, strings of each header size, binaries,
//  nesting, empty containers, a non-string key.
static void
s_pack_varied (msgpack_sbuffer *sbuf, bool with_big_bin)
{
    msgpack_sbuffer_init (sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, sbuf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 9);
    s_key (&pk, "ints");
    const int64_t ints[] = {0,
                            1,
                            127,
                            128,
                            255,
                            256,
                            65535,
                            65536,
                            -1,
                            -32,
                            -33,
                            -128,
                            -129,
                            -32768,
                            -32769,
                            INT32_MIN,
                            (int64_t)INT32_MIN - 1,
                            INT64_MIN,
                            INT64_MAX};
    msgpack_pack_array (&pk, sizeof (ints) / sizeof (ints[0]) + 2);
    for (size_t index = 0; index < sizeof (ints) / sizeof (ints[0]); index++)
        msgpack_pack_int64 (&pk, ints[index]);
    msgpack_pack_uint64 (&pk, UINT64_MAX);
    msgpack_pack_uint64 (&pk, (uint64_t)INT64_MAX + 1);
    s_key (&pk, "floats");
    msgpack_pack_array (&pk, 5);
    msgpack_pack_double (&pk, 0.1);
    msgpack_pack_double (&pk, -0.0);
    msgpack_pack_double (&pk, 1e300);
    msgpack_pack_double (&pk, 5e-324);
    msgpack_pack_double (&pk, 1.0);
    s_key (&pk, "strings");
    msgpack_pack_array (&pk, 4);
    s_key (&pk, "");
    s_key (&pk, "h\xc3\xa9llo \"quoted\" \\ \n\t\x01");
    char long_text[300];
    memset (long_text, 'L', sizeof (long_text) - 1);
    long_text[sizeof (long_text) - 1] = 0;
    s_key (&pk, long_text); //  str16
    long_text[40] = 0;
    s_key (&pk, long_text); //  str8
    s_key (&pk, "bins");
    msgpack_pack_array (&pk, 3);
    msgpack_pack_bin (&pk, 0);
    msgpack_pack_bin (&pk, 3);
    msgpack_pack_bin_body (&pk, "\x00\xff\x80", 3);
    static unsigned char big_bin[70000];
    size_t big_size = with_big_bin ? sizeof (big_bin) : 20;
    for (size_t index = 0; index < big_size; index++)
        big_bin[index] = (unsigned char)(index * 7);
    msgpack_pack_bin (&pk, big_size); //  bin32, or bin8 when small
    msgpack_pack_bin_body (&pk, big_bin, big_size);
    s_key (&pk, "nested");
    msgpack_pack_map (&pk, 2);
    s_key (&pk, "empty_map");
    msgpack_pack_map (&pk, 0);
    s_key (&pk, "empty_array");
    msgpack_pack_array (&pk, 0);
    s_key (&pk, "flags");
    msgpack_pack_array (&pk, 3);
    msgpack_pack_true (&pk);
    msgpack_pack_false (&pk);
    msgpack_pack_nil (&pk);
    s_key (&pk, "wide");
    msgpack_pack_array (&pk, 20); //  array16
    for (int index = 0; index < 20; index++)
        msgpack_pack_int64 (&pk, index);
    s_key (&pk, "int_key");
    msgpack_pack_map (&pk, 1);
    msgpack_pack_int64 (&pk, 42);
    s_key (&pk, "answer");
    s_key (&pk, "last");
    s_key (&pk, "ends the body");
}

Test (codec_msgpack, canonical_round_trip_is_byte_identical, .timeout = 10)
{
    msgpack_sbuffer sbuf;
    s_pack_varied (&sbuf, true);
    zm_msg_t *msg = NULL;
    const char *reason = NULL;
    int rc = zm_msg_decode (NULL, sbuf.data, sbuf.size, &msg, &reason);
    cr_assert_eq (rc, 0, "decode: %s", reason);
    void *data = NULL;
    size_t size = 0;
    cr_assert_eq (zm_msg_encode (msg, ZM_CT_MSGPACK, &data, &size), 0);
    cr_assert_eq (size, sbuf.size);
    cr_assert_eq (memcmp (data, sbuf.data, size), 0);
    free (data);

    //  values as msgpack-c packed them
    const zm_val_t *root = zm_msg_root (msg);
    const zm_val_t *ints = zm_val_get (root, "ints");
    cr_assert_eq (zm_val_int (zm_val_at (ints, 17), 0), INT64_MIN);
    cr_assert_eq (zm_val_type (zm_val_at (ints, 17)), ZM_TYPE_INT);
    cr_assert_eq (zm_val_uint (zm_val_at (ints, 19), 0), UINT64_MAX);
    cr_assert_eq (zm_val_type (zm_val_at (ints, 0)), ZM_TYPE_UINT);
    const zm_val_t *bins = zm_val_get (root, "bins");
    size_t bin_size = 0;
    const unsigned char *bin = (const unsigned char *)zm_val_bin (zm_val_at (bins, 2), &bin_size);
    cr_assert_eq (bin_size, 70000);
    cr_assert_eq (bin[69999], (unsigned char)(69999 * 7));
    const zm_val_t *int_key = zm_val_get (root, "int_key");
    cr_assert_null (zm_val_key_at (int_key, 0, NULL));
    cr_assert_eq (zm_val_uint (zm_val_key_val_at (int_key, 0), 0), 42);
    cr_assert_str_eq (zm_val_str (zm_val_at (int_key, 0), NULL, NULL), "answer");
    cr_assert_str_eq (zm_msg_get_str (msg, "last", ""), "ends the body");
    zm_msg_destroy (&msg);
    msgpack_sbuffer_destroy (&sbuf);
}

Test (codec_msgpack, strings_point_into_owned_buffer_and_are_terminated, .timeout = 10)
{
    msgpack_sbuffer sbuf;
    s_pack_varied (&sbuf, true);
    size_t size = sbuf.size;
    char *data = msgpack_sbuffer_release (&sbuf);
    char *start = data;
    zm_msg_t *msg = NULL;
    cr_assert_eq (zm_msg_decode_owned (NULL, (void **)&data, size, &msg, NULL), 0);
    cr_assert_null (data);
    const zm_val_t *strings = zm_val_get (zm_msg_root (msg), "strings");
    size_t len = 0;
    const char *text = zm_val_str (zm_val_at (strings, 1), NULL, &len);
    //  zero-copy: inside the buffer, NUL-terminated in place
    cr_assert (text > start && text + len < start + size);
    cr_assert_eq (strlen (text), len);
    cr_assert_str_eq (text, "h\xc3\xa9llo \"quoted\" \\ \n\t\x01");
    const char *long_text = zm_val_str (zm_val_at (strings, 2), NULL, &len);
    cr_assert_eq (len, 299);
    cr_assert_eq (strlen (long_text), 299);
    //  keys too
    size_t key_len = 0;
    const char *key = zm_val_key_at (zm_msg_root (msg), 0, &key_len);
    cr_assert (key > start && key < start + size);
    cr_assert_str_eq (key, "ints");
    //  binaries point into the buffer as well
    size_t bin_size;
    const char *bin =
        (const char *)zm_val_bin (zm_val_at (zm_val_get (zm_msg_root (msg), "bins"), 2), &bin_size);
    cr_assert (bin > start && bin + bin_size <= start + size);
    //  the string ending at the very last byte has no byte to spare: copied
    const char *last = zm_msg_get_str (msg, "last", NULL);
    cr_assert (last < start || last >= start + size);
    cr_assert_str_eq (last, "ends the body");
    //  and the tree still encodes to the original bytes
    void *again = NULL;
    size_t again_size = 0;
    cr_assert_eq (zm_msg_encode (msg, NULL, &again, &again_size), 0);
    msgpack_sbuffer expected;
    s_pack_varied (&expected, true);
    cr_assert_eq (again_size, expected.size);
    cr_assert_eq (memcmp (again, expected.data, again_size), 0);
    free (again);
    msgpack_sbuffer_destroy (&expected);
    zm_msg_destroy (&msg);
}

Test (codec_msgpack, root_scalars, .timeout = 10)
{
    zm_msg_t *msg = NULL;
    cr_assert_eq (zm_msg_decode (NULL, "\x2a", 1, &msg, NULL), 0);
    cr_assert_eq (zm_val_uint (zm_msg_root (msg), 0), 42);
    zm_msg_destroy (&msg);
    //  a string root ending at the last byte, in place: copied, terminated
    char *data = strdup ("\xa5hello");
    char *start = data;
    cr_assert_eq (zm_msg_decode_owned (NULL, (void **)&data, 6, &msg, NULL), 0);
    const char *text = zm_val_str (zm_msg_root (msg), NULL, NULL);
    cr_assert_str_eq (text, "hello");
    cr_assert (text < start || text > start + 6);
    zm_msg_destroy (&msg);
    //  found by fuzz_msgpack: {nil: 1, 120: "\x90"}, the last string in place
    unsigned char fuzzed[] = {0x82, 0xc0, 0x01, 0x78, 0xa1, 0x90};
    data = (char *)malloc (sizeof (fuzzed));
    memcpy (data, fuzzed, sizeof (fuzzed));
    cr_assert_eq (zm_msg_decode_owned (NULL, (void **)&data, sizeof (fuzzed), &msg, NULL), 0);
    size_t len = 0;
    text = zm_val_str (zm_val_at (zm_msg_root (msg), 1), NULL, &len);
    cr_assert_eq (len, 1);
    cr_assert_eq (text[0], '\x90');
    cr_assert_eq (text[1], 0);
    zm_msg_destroy (&msg);
    cr_assert_eq (zm_msg_decode (NULL, "\xa0", 1, &msg, NULL), 0);
    cr_assert_str_eq (zm_val_str (zm_msg_root (msg), NULL, NULL), "");
    zm_msg_destroy (&msg);
}

Test (codec_msgpack, non_canonical_forms_read_by_value, .timeout = 10)
{
    zm_msg_t *msg = NULL;
    //  float32 1.5 is widened; int8 +5 is an unsigned 5; uint16 7 is 7
    const unsigned char body[] = {0x93, 0xca, 0x3f, 0xc0, 0x00, 0x00, 0xd0, 0x05, 0xcd, 0x00, 0x07};
    cr_assert_eq (zm_msg_decode (NULL, body, sizeof (body), &msg, NULL), 0);
    const zm_val_t *root = zm_msg_root (msg);
    cr_assert_eq (zm_val_type (zm_val_at (root, 0)), ZM_TYPE_FLOAT);
    cr_assert_eq (zm_val_float (zm_val_at (root, 0), 0), 1.5);
    cr_assert_eq (zm_val_type (zm_val_at (root, 1)), ZM_TYPE_UINT);
    cr_assert_eq (zm_val_uint (zm_val_at (root, 1), 0), 5);
    cr_assert_eq (zm_val_uint (zm_val_at (root, 2), 0), 7);
    //  re-encoded canonically
    void *data = NULL;
    size_t size = 0;
    cr_assert_eq (zm_msg_encode (msg, NULL, &data, &size), 0);
    const unsigned char canonical[] = {0x93, 0xcb, 0x3f, 0xf8, 0, 0, 0, 0, 0, 0, 0x05, 0x07};
    cr_assert_eq (size, sizeof (canonical));
    cr_assert_eq (memcmp (data, canonical, size), 0);
    free (data);
    zm_msg_destroy (&msg);
}

//  Decode must fail with rc, leave *msg_p alone and give a reason
static void
s_assert_fails (const void *data, size_t size, int rc, const char *what)
{
    zm_msg_t *msg = NULL;
    const char *reason = NULL;
    int got = zm_msg_decode (ZM_CT_MSGPACK, data, size, &msg, &reason);
    cr_assert_eq (got, rc, "%s: got %d (%s)", what, got, zm_strerror (got));
    cr_assert_null (msg, "%s", what);
    cr_assert_not_null (reason, "%s", what);
}

Test (codec_msgpack, every_truncation_fails, .timeout = 10)
{
    msgpack_sbuffer sbuf;
    s_pack_varied (&sbuf, false); //  every prefix: keep it small
    for (size_t size = 0; size < sbuf.size; size++) {
        //  a fresh exact-size copy, so ASan sees any read past the end
        char *prefix = (char *)malloc (size ? size : 1);
        memcpy (prefix, sbuf.data, size);
        zm_msg_t *msg = NULL;
        int rc = zm_msg_decode (NULL, prefix, size, &msg, NULL);
        cr_assert_eq (rc, ZM_ECODEC, "prefix of %zu bytes: rc %d", size, rc);
        void *owned = prefix;
        rc = zm_msg_decode_owned (NULL, &owned, size, &msg, NULL);
        cr_assert_eq (rc, ZM_ECODEC, "owned prefix of %zu bytes: rc %d", size, rc);
        cr_assert_eq (owned, prefix);
        cr_assert_eq (memcmp (prefix, sbuf.data, size), 0, "buffer written on failure");
        free (prefix);
    }
    msgpack_sbuffer_destroy (&sbuf);
}

Test (codec_msgpack, deep_nesting_is_refused, .timeout = 10)
{
    size_t depth = 10000;
    unsigned char *body = (unsigned char *)malloc (depth + 1);
    memset (body, 0x91, depth); //  [[[[...
    body[depth] = 0xc0;
    s_assert_fails (body, depth + 1, ZM_ETOOBIG, "10000 arrays");
    memset (body, 0x81, depth); //  {nil: {nil: ...
    for (size_t index = 0; index < depth; index += 2)
        body[index + 1] = 0xc0;
    s_assert_fails (body, depth + 1, ZM_ETOOBIG, "5000 maps");
    //  exactly 64 levels are fine, 65 are not
    memset (body, 0x91, 64);
    body[64] = 0xc0;
    zm_msg_t *msg = NULL;
    cr_assert_eq (zm_msg_decode (NULL, body, 65, &msg, NULL), 0);
    zm_msg_destroy (&msg);
    memset (body, 0x91, 65);
    body[65] = 0xc0;
    s_assert_fails (body, 66, ZM_ETOOBIG, "65 arrays");
    //  empty containers count too
    memset (body, 0x91, 64);
    body[64] = 0x90;
    s_assert_fails (body, 65, ZM_ETOOBIG, "64 arrays around an empty one");
    free (body);
}

Test (codec_msgpack, huge_declared_lengths_fail_without_allocating, .timeout = 10)
{
    s_assert_fails ("\xdd\xff\xff\xff\xff", 5, ZM_ECODEC, "array32 of 4 billion");
    s_assert_fails ("\xdf\xff\xff\xff\xff", 5, ZM_ECODEC, "map32 of 4 billion");
    s_assert_fails ("\xdf\x80\x00\x00\x00\xc0", 6, ZM_ECODEC, "map32 of 2^31 (count doubled)");
    s_assert_fails ("\xdb\xff\xff\xff\xff", 5, ZM_ECODEC, "str32 of 4 GiB");
    s_assert_fails ("\xc6\xff\xff\xff\xff\x00", 6, ZM_ECODEC, "bin32 of 4 GiB");
    s_assert_fails ("\xdc\x00\x03\xc0\xc0", 5, ZM_ECODEC, "array16 one short");
    s_assert_fails ("\x92\xdd\x7f\xff\xff\xff", 6, ZM_ECODEC, "nested array32");
    //  an array of 100000 nils is fine: the input backs the count
    size_t count = 100000;
    unsigned char *body = (unsigned char *)malloc (count + 5);
    body[0] = 0xdd;
    body[1] = 0;
    body[2] = (unsigned char)(count >> 16);
    body[3] = (unsigned char)(count >> 8);
    body[4] = (unsigned char)count;
    memset (body + 5, 0xc0, count);
    zm_msg_t *msg = NULL;
    cr_assert_eq (zm_msg_decode (NULL, body, count + 5, &msg, NULL), 0);
    cr_assert_eq (zm_val_size (zm_msg_root (msg)), count);
    zm_msg_destroy (&msg);
    free (body);
}

Test (codec_msgpack, other_malformed_bodies, .timeout = 10)
{
    s_assert_fails ("", 0, ZM_ECODEC, "empty");
    s_assert_fails ("\xc1", 1, ZM_ECODEC, "never-used byte");
    s_assert_fails ("\x91\xc1", 2, ZM_ECODEC, "never-used byte inside");
    s_assert_fails ("\xd4\x01\x02", 3, ZM_ECODEC, "fixext1");
    s_assert_fails ("\xc7\x01\x05\x00", 4, ZM_ECODEC, "ext8");
    s_assert_fails ("\xd6\xff\x00\x00\x00\x00", 6, ZM_ECODEC, "timestamp32 ext");
    s_assert_fails ("\xc0\xc0", 2, ZM_ECODEC, "trailing bytes");
    s_assert_fails ("\x80\x00", 2, ZM_ECODEC, "trailing byte after empty map");
    s_assert_fails ("\xcb\x00\x00", 3, ZM_ECODEC, "truncated float64");
    s_assert_fails ("\xcf\x00", 2, ZM_ECODEC, "truncated uint64");
}
