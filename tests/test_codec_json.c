/*  =========================================================================
    test_codec_json - application/json: the mapping to and from msgpack,
    exact numbers, escapes, binaries, and strict rejection of bad text
    =========================================================================
*/
#include <criterion/criterion.h>
#include <math.h>
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>
#include <zmicro.h>

//  Decode JSON text, cr_assert success
static zm_msg_t *
s_json (const char *text)
{
    zm_msg_t *msg = NULL;
    const char *reason = NULL;
    int rc = zm_msg_decode (ZM_CT_JSON, text, strlen (text), &msg, &reason);
    cr_assert_eq (rc, 0, "decode '%s': %s (%s)", text, zm_strerror (rc), reason);
    return msg;
}

//  Encode to content type as a NUL-terminated malloc'ed string
static char *
s_encode (const zm_msg_t *msg, const char *content_type, size_t *size_p)
{
    void *data = NULL;
    size_t size = 0;
    int rc = zm_msg_encode (msg, content_type, &data, &size);
    cr_assert_eq (rc, 0, "encode: %s", zm_strerror (rc));
    char *text = (char *)realloc (data, size + 1);
    text[size] = 0;
    if (size_p)
        *size_p = size;
    return text;
}

//  JSON text must read and write back exactly as given
static void
s_assert_stable (const char *text)
{
    zm_msg_t *msg = s_json (text);
    char *out = s_encode (msg, ZM_CT_JSON, NULL);
    cr_assert_str_eq (out, text);
    free (out);
    zm_msg_destroy (&msg);
}

static void
s_assert_fails (const char *text, size_t len, int rc)
{
    zm_msg_t *msg = NULL;
    const char *reason = NULL;
    int got = zm_msg_decode (ZM_CT_JSON, text, len, &msg, &reason);
    cr_assert_eq (got, rc, "'%.*s' (%zu bytes): got %d (%s)", (int)len, text, len, got,
                  zm_strerror (got));
    cr_assert_null (msg);
    cr_assert_not_null (reason);
}

static void
s_key (msgpack_packer *pk, const char *key)
{
    msgpack_pack_str (pk, strlen (key));
    msgpack_pack_str_body (pk, key, strlen (key));
}

Test (codec_json, msgpack_to_json_to_msgpack_is_byte_identical, .timeout = 10)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    msgpack_pack_map (&pk, 7);
    s_key (&pk, "ints");
    msgpack_pack_array (&pk, 8);
    msgpack_pack_int64 (&pk, 0);
    msgpack_pack_int64 (&pk, -1);
    msgpack_pack_int64 (&pk, 300);
    msgpack_pack_int64 (&pk, -40000);
    msgpack_pack_int64 (&pk, INT64_MIN);
    msgpack_pack_int64 (&pk, INT64_MAX);
    msgpack_pack_uint64 (&pk, UINT64_MAX);
    msgpack_pack_uint64 (&pk, 1ull << 53);
    s_key (&pk, "floats");
    const double floats[] = {
        0.1, 1.0 / 3, -0.0, 1e21, 5e-324, 1.7976931348623157e308, 123456789.123456789, -2.5, 100.0};
    msgpack_pack_array (&pk, sizeof (floats) / sizeof (floats[0]));
    for (size_t index = 0; index < sizeof (floats) / sizeof (floats[0]); index++)
        msgpack_pack_double (&pk, floats[index]);
    s_key (&pk, "strings");
    msgpack_pack_array (&pk, 4);
    s_key (&pk, "");
    s_key (&pk, "tab\tquote\"back\\slash/ nul? no \x01\x1f\x7f");
    s_key (&pk, "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
    char long_text[1000];
    memset (long_text, 'x', sizeof (long_text) - 1);
    long_text[sizeof (long_text) - 1] = 0;
    s_key (&pk, long_text);
    s_key (&pk, "bins");
    msgpack_pack_array (&pk, 3);
    msgpack_pack_bin (&pk, 0);
    msgpack_pack_bin (&pk, 1);
    msgpack_pack_bin_body (&pk, "\xff", 1);
    msgpack_pack_bin (&pk, 5);
    msgpack_pack_bin_body (&pk, "\x00\x01\x02\x03\x04", 5);
    s_key (&pk, "nested");
    msgpack_pack_map (&pk, 3);
    s_key (&pk, "a");
    msgpack_pack_array (&pk, 0);
    s_key (&pk, "b");
    msgpack_pack_map (&pk, 0);
    s_key (&pk, "c");
    msgpack_pack_map (&pk, 1);
    s_key (&pk, "$bin");
    msgpack_pack_int64 (&pk, 1); //  not a string: an ordinary key
    s_key (&pk, "flags");
    msgpack_pack_array (&pk, 3);
    msgpack_pack_true (&pk);
    msgpack_pack_false (&pk);
    msgpack_pack_nil (&pk);
    s_key (&pk, "");
    msgpack_pack_int64 (&pk, 7);

    zm_msg_t *msg = NULL;
    cr_assert_eq (zm_msg_decode (NULL, sbuf.data, sbuf.size, &msg, NULL), 0);
    size_t json_size = 0;
    char *json = s_encode (msg, ZM_CT_JSON, &json_size);
    zm_msg_destroy (&msg);
    msg = s_json (json);
    size_t size = 0;
    char *again = s_encode (msg, ZM_CT_MSGPACK, &size);
    cr_assert_eq (size, sbuf.size, "json: %s", json);
    cr_assert_eq (memcmp (again, sbuf.data, size), 0, "json: %s", json);
    //  and the JSON is stable
    char *json2 = s_encode (msg, ZM_CT_JSON, NULL);
    cr_assert_str_eq (json2, json);
    free (json2);
    free (again);
    free (json);
    zm_msg_destroy (&msg);
    msgpack_sbuffer_destroy (&sbuf);
}

Test (codec_json, json_to_msgpack_to_json, .timeout = 10)
{
    const char *text = "{\"a\":[1,-2,3.5,true,false,null,\"x\"],\"b\":{\"c\":\"d\",\"e\":[]},"
                       "\"f\":{},\"g\":-0.0,\"h\":1e+300,\"i\":{\"$bin\":\"AAECAw==\"}}";
    zm_msg_t *msg = s_json (text);
    size_t size = 0;
    char *packed = s_encode (msg, ZM_CT_MSGPACK, &size);
    zm_msg_destroy (&msg);
    cr_assert_eq (zm_msg_decode (NULL, packed, size, &msg, NULL), 0);
    char *out = s_encode (msg, "application/json; charset=utf-8", NULL);
    cr_assert_str_eq (out, text);
    free (out);
    free (packed);
    zm_msg_destroy (&msg);
    //  top-level scalars and whitespace
    s_assert_stable ("1");
    s_assert_stable ("\"s\"");
    s_assert_stable ("true");
    s_assert_stable ("null");
    s_assert_stable ("[]");
    msg = s_json (" \t\r\n[ 1 , { \"k\" : [ ] } ]\n ");
    out = s_encode (msg, ZM_CT_JSON, NULL);
    cr_assert_str_eq (out, "[1,{\"k\":[]}]");
    free (out);
    zm_msg_destroy (&msg);
}

Test (codec_json, integers_keep_64_bits, .timeout = 10)
{
    zm_msg_t *msg = s_json ("[18446744073709551615,-9223372036854775808,9223372036854775807,"
                            "9223372036854775808,-0,0,18446744073709551616,"
                            "-9223372036854775809]");
    const zm_val_t *root = zm_msg_root (msg);
    cr_assert_eq (zm_val_type (zm_val_at (root, 0)), ZM_TYPE_UINT);
    cr_assert_eq (zm_val_uint (zm_val_at (root, 0), 0), UINT64_MAX);
    cr_assert_eq (zm_val_type (zm_val_at (root, 1)), ZM_TYPE_INT);
    cr_assert_eq (zm_val_int (zm_val_at (root, 1), 0), INT64_MIN);
    cr_assert_eq (zm_val_int (zm_val_at (root, 2), 0), INT64_MAX);
    cr_assert_eq (zm_val_uint (zm_val_at (root, 3), 0), (uint64_t)INT64_MAX + 1);
    cr_assert_eq (zm_val_type (zm_val_at (root, 4)), ZM_TYPE_UINT); //  -0 is zero
    cr_assert_eq (zm_val_uint (zm_val_at (root, 4), 1), 0);
    //  beyond 64 bits: a float
    cr_assert_eq (zm_val_type (zm_val_at (root, 6)), ZM_TYPE_FLOAT);
    cr_assert_eq (zm_val_float (zm_val_at (root, 6), 0), 18446744073709551616.0);
    cr_assert_eq (zm_val_type (zm_val_at (root, 7)), ZM_TYPE_FLOAT);
    char *out = s_encode (msg, ZM_CT_JSON, NULL);
    cr_assert_str_eq (out, "[18446744073709551615,-9223372036854775808,9223372036854775807,"
                           "9223372036854775808,0,0,1.8446744073709552e+19,"
                           "-9.223372036854776e+18]");
    free (out);
    zm_msg_destroy (&msg);
}

Test (codec_json, floats_round_trip_exactly, .timeout = 10)
{
    const double values[] = {0.1,
                             0.2,
                             0.30000000000000004,
                             1.0 / 3,
                             2.0 / 3,
                             1e-7,
                             1e21,
                             1e22,
                             5e-324,
                             2.2250738585072014e-308,
                             1.7976931348623157e308,
                             -0.0,
                             0.0,
                             1.0,
                             9007199254740993.0,
                             123456.789e3,
                             3.141592653589793,
                             -1.5e-300,
                             4.35,
                             0.1 + 0.7};
    zm_msg_t *msg = zm_msg_new ();
    zm_val_t *array = zm_msg_set_root_array (msg);
    size_t count = sizeof (values) / sizeof (values[0]);
    for (size_t index = 0; index < count; index++)
        zm_val_push_float (array, values[index]);
    char *json = s_encode (msg, ZM_CT_JSON, NULL);
    zm_msg_t *back = s_json (json);
    for (size_t index = 0; index < count; index++) {
        const zm_val_t *val = zm_val_at (zm_msg_root (back), index);
        cr_assert_eq (zm_val_type (val), ZM_TYPE_FLOAT, "%s [%zu]", json, index);
        double got = zm_val_float (val, NAN);
        cr_assert_eq (memcmp (&got, &values[index], sizeof (got)), 0, "%s [%zu]: %.17g", json,
                      index, got);
    }
    free (json);
    zm_msg_destroy (&back);
    zm_msg_destroy (&msg);
    //  shortest form, and a float stays a float
    s_assert_stable ("[0.1,1.0,-0.0,1e+21,0.30000000000000004,100.0,1.5e-07,1e+300]");
}

Test (codec_json, nan_infinity_and_non_string_keys_do_not_encode, .timeout = 10)
{
    const double bad[] = {NAN, INFINITY, -INFINITY};
    for (int index = 0; index < 3; index++) {
        zm_msg_t *msg = zm_msg_new ();
        zm_msg_set_float (msg, "f", bad[index]);
        void *data = NULL;
        size_t size = 0;
        cr_assert_eq (zm_msg_encode (msg, ZM_CT_JSON, &data, &size), ZM_ECODEC);
        //  msgpack carries them
        cr_assert_eq (zm_msg_encode (msg, ZM_CT_MSGPACK, &data, &size), 0);
        free (data);
        zm_msg_destroy (&msg);
    }
    zm_msg_t *msg = NULL;
    cr_assert_eq (zm_msg_decode (NULL, "\x81\x01\x02", 3, &msg, NULL), 0); //  {1: 2}
    void *data = NULL;
    size_t size = 0;
    cr_assert_eq (zm_msg_encode (msg, ZM_CT_JSON, &data, &size), ZM_ECODEC);
    zm_msg_destroy (&msg);
    //  invalid UTF-8 in a msgpack string has no JSON form either
    cr_assert_eq (zm_msg_decode (NULL, "\xa2\xc3\x28", 3, &msg, NULL), 0);
    cr_assert_eq (zm_msg_encode (msg, ZM_CT_JSON, &data, &size), ZM_ECODEC);
    zm_msg_destroy (&msg);
    //  nor do duplicate keys (msgpack allows them)
    cr_assert_eq (zm_msg_decode (NULL, "\x82\xa1k\x01\xa1k\x02", 7, &msg, NULL), 0);
    cr_assert_eq (zm_msg_get_int (msg, "k", 0), 1); //  the first wins on lookup
    cr_assert_eq (zm_msg_encode (msg, ZM_CT_JSON, &data, &size), ZM_ECODEC);
    zm_msg_destroy (&msg);
}

Test (codec_json, escapes_and_unicode, .timeout = 10)
{
    zm_msg_t *msg =
        s_json ("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\",\"\\u0041\\u00e9\\u20AC\\ud83d\\ude00\","
                "\"a\\u0000b\",\"caf\xc3\xa9\",\"\x7f\"]");
    const zm_val_t *root = zm_msg_root (msg);
    cr_assert_str_eq (zm_val_str (zm_val_at (root, 0), NULL, NULL), "\"\\/\b\f\n\r\t");
    cr_assert_str_eq (zm_val_str (zm_val_at (root, 1), NULL, NULL),
                      "A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    size_t len = 0;
    const char *with_nul = zm_val_str (zm_val_at (root, 2), NULL, &len);
    cr_assert_eq (len, 3);
    cr_assert_eq (memcmp (with_nul, "a\0b", 4), 0);
    char *out = s_encode (msg, ZM_CT_JSON, NULL);
    //  written back: short escapes, \u00XX for other controls, UTF-8 raw, '/' plain
    cr_assert_str_eq (out,
                      "[\"\\\"\\\\/\\b\\f\\n\\r\\t\",\"A\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\","
                      "\"a\\u0000b\",\"caf\xc3\xa9\",\"\x7f\"]");
    free (out);
    zm_msg_destroy (&msg);
    s_assert_stable ("{\"\\u0001\\u001f\":\"\\n\"}");
}

Test (codec_json, binary_mapping, .timeout = 10)
{
    zm_msg_t *msg = s_json ("{\"b\":{\"$bin\":\"AAECAw==\"},\"e\":{\"$bin\":\"\"},"
                            "\"n\":{\"$bin\":5},\"two\":{\"$bin\":\"AA==\",\"x\":1}}");
    size_t size = 0;
    const unsigned char *bytes = (const unsigned char *)zm_msg_get_bin (msg, "b", &size);
    cr_assert_eq (size, 4);
    cr_assert_eq (memcmp (bytes, "\x00\x01\x02\x03", 4), 0);
    cr_assert_eq (zm_val_type (zm_val_get (zm_msg_root (msg), "b")), ZM_TYPE_BIN);
    cr_assert_eq (zm_val_type (zm_val_get (zm_msg_root (msg), "e")), ZM_TYPE_BIN);
    cr_assert_not_null (zm_msg_get_bin (msg, "e", &size));
    cr_assert_eq (size, 0);
    //  anything else with a "$bin" key is an ordinary map
    cr_assert_eq (zm_val_type (zm_val_get (zm_msg_root (msg), "n")), ZM_TYPE_MAP);
    cr_assert_eq (zm_val_type (zm_val_get (zm_msg_root (msg), "two")), ZM_TYPE_MAP);
    zm_msg_destroy (&msg);

    //  a binary is written as {"$bin": standard base64 with padding}
    msg = zm_msg_new ();
    zm_msg_set_bin (msg, "b", "\xfb\xff\xfe", 3);
    zm_msg_set_bin (msg, "one", "A", 1);
    char *out = s_encode (msg, ZM_CT_JSON, NULL);
    cr_assert_str_eq (out, "{\"b\":{\"$bin\":\"+//+\"},\"one\":{\"$bin\":\"QQ==\"}}");
    free (out);
    zm_msg_destroy (&msg);

    //  bad base64 fails
    s_assert_fails ("{\"$bin\":\"AAECAw\"}", strlen ("{\"$bin\":\"AAECAw\"}"),
                    ZM_ECODEC); //  no padding
    s_assert_fails ("{\"$bin\":\"AA=A\"}", strlen ("{\"$bin\":\"AA=A\"}"), ZM_ECODEC);
    s_assert_fails ("{\"$bin\":\"-_8=\"}", strlen ("{\"$bin\":\"-_8=\"}"),
                    ZM_ECODEC); //  URL-safe alphabet
    s_assert_fails ("{\"$bin\":\"QR==\"}", strlen ("{\"$bin\":\"QR==\"}"),
                    ZM_ECODEC); //  non-zero pad bits
    s_assert_fails ("{\"$bin\":\"QQ==\\n\"}", strlen ("{\"$bin\":\"QQ==\\n\"}"), ZM_ECODEC);

    //  a map that looks like a binary cannot be written: it would read back as one
    msg = zm_msg_new ();
    zm_msg_set_str (msg, "$bin", "QQ==");
    void *data = NULL;
    cr_assert_eq (zm_msg_encode (msg, ZM_CT_JSON, &data, &size), ZM_ECODEC);
    zm_msg_destroy (&msg);
}

Test (codec_json, duplicate_keys_are_errors, .timeout = 10)
{
    s_assert_fails ("{\"a\":1,\"a\":2}", strlen ("{\"a\":1,\"a\":2}"), ZM_ECODEC);
    s_assert_fails ("{\"a\":1,\"b\":{\"x\":1,\"x\":1}}",
                    strlen ("{\"a\":1,\"b\":{\"x\":1,\"x\":1}}"), ZM_ECODEC);
    //  large objects take the sorted path
    char text[4096] = "{";
    for (int index = 0; index < 100; index++)
        snprintf (text + strlen (text), sizeof (text) - strlen (text), "\"k%d\":%d,", index, index);
    strcat (text, "\"k57\":0}");
    s_assert_fails (text, strlen (text), ZM_ECODEC);
    text[strlen (text) - 5] = '9'; //  "k59" -> still a duplicate
    s_assert_fails (text, strlen (text), ZM_ECODEC);
    memcpy (text + strlen (text) - 8, "\"x57", 4);
    zm_msg_t *msg = s_json (text);
    cr_assert_eq (zm_val_size (zm_msg_root (msg)), 101);
    zm_msg_destroy (&msg);
    //  keys that differ only after an escape are different keys
    msg = s_json ("{\"a\\u0000\":1,\"a\":2}");
    zm_msg_destroy (&msg);
}

Test (codec_json, malformed_text_fails, .timeout = 10)
{
    const char *bad[] = {
        "",
        " ",
        "{",
        "}",
        "[",
        "[1,]",
        "[,1]",
        "[1 2]",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{a:1}",
        "{'a':1}",
        "{\"a\" 1}",
        "{1:1}",
        "01",
        "-01",
        "00",
        "-",
        "1.",
        ".5",
        "1e",
        "1e+",
        "+1",
        "1.e5",
        "0x10",
        "Infinity",
        "-Infinity",
        "NaN",
        "tru",
        "truex",
        "nul",
        "nulll",
        "True",
        "[1]x",
        "[1]]",
        "{}{}",
        "1 2",
        "\"abc",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\u12g4\"",
        "\"\\ud800\"",
        "\"\\udc00\"",
        "\"\\ud800\\u0041\"",
        "\"\\ud800\\ud800\"",
        "\"\\ud83d\"",
        "\"\\",
        "\"a\tb\"",
        "\"a\nb\"",
        "\"\x01\"",
        "[1,2",
        "{\"a\":[}",
        "/* c */ 1",
        "// c\n1",
        "\xef\xbb\xbf{}",
        "1e400",
        "-1e400",
        "[\"a\"\"b\"]",
        "\"\\U0041\"",
        "\"\\'\"",
    };
    for (size_t index = 0; index < sizeof (bad) / sizeof (bad[0]); index++)
        s_assert_fails (bad[index], strlen (bad[index]), ZM_ECODEC);
    //  a NUL in the text is not whitespace
    s_assert_fails ("1\0", 2, ZM_ECODEC);
    s_assert_fails ("\"a\0b\"", 5, ZM_ECODEC);
}

Test (codec_json, invalid_utf8_fails, .timeout = 10)
{
    const char *bad[] = {
        "\"\x80\"", //  lone continuation byte
        "\"\xbf\"",
        "\"\xc0\xaf\"",                 //  overlong '/'
        "\"\xc1\xbf\"",                 //  overlong
        "\"\xe0\x80\xaf\"",             //  overlong 3-byte
        "\"\xe0\x9f\xbf\"",             //  overlong 3-byte, top
        "\"\xf0\x80\x80\xaf\"",         //  overlong 4-byte
        "\"\xf0\x8f\xbf\xbf\"",         //  overlong 4-byte, top
        "\"\xed\xa0\x80\"",             //  U+D800 encoded
        "\"\xed\xbf\xbf\"",             //  U+DFFF encoded
        "\"\xed\xa0\xbd\xed\xb8\x80\"", //  a surrogate pair in CESU-8
        "\"\xf4\x90\x80\x80\"",         //  U+110000
        "\"\xf5\x80\x80\x80\"",
        "\"\xf8\x88\x80\x80\x80\"", //  5-byte form
        "\"\xfe\"",
        "\"\xff\"",
        "\"\xe2\x82\"", //  truncated sequence
        "\"\xe2\x82",   //  truncated at the end of the text
        "\"\xc3\"",
        "\"\xc3\x28\"", //  bad continuation
        "\"\xe2\x28\xa1\"",
        "\"\xf0\x9f\x98\"",
        "{\"\xff\":1}", //  in a key
    };
    for (size_t index = 0; index < sizeof (bad) / sizeof (bad[0]); index++)
        s_assert_fails (bad[index], strlen (bad[index]), ZM_ECODEC);
    //  the edges that are valid
    zm_msg_t *msg = s_json ("[\"\xc2\x80\",\"\xdf\xbf\",\"\xe0\xa0\x80\",\"\xed\x9f\xbf\","
                            "\"\xee\x80\x80\",\"\xef\xbf\xbf\",\"\xf0\x90\x80\x80\","
                            "\"\xf4\x8f\xbf\xbf\"]");
    cr_assert_eq (zm_val_size (zm_msg_root (msg)), 8);
    zm_msg_destroy (&msg);
}

Test (codec_json, every_truncation_fails, .timeout = 10)
{
    const char *text = "{\"name\":\"caf\xc3\xa9 \\u20ac \\ud83d\\ude00\",\"n\":[1,-2.5e-3,"
                       "18446744073709551615,true,false,null,{\"$bin\":\"AAECAw==\"}],"
                       "\"m\":{\"k\":{}}}";
    size_t len = strlen (text);
    zm_msg_t *msg = s_json (text);
    zm_msg_destroy (&msg);
    for (size_t size = 0; size < len; size++) {
        char *prefix = (char *)malloc (size ? size : 1); //  exact size for ASan
        memcpy (prefix, text, size);
        int rc = zm_msg_decode (ZM_CT_JSON, prefix, size, &msg, NULL);
        cr_assert_eq (rc, ZM_ECODEC, "prefix of %zu bytes: rc %d", size, rc);
        free (prefix);
    }
}

Test (codec_json, deep_nesting_is_refused, .timeout = 10)
{
    size_t depth = 10000;
    char *text = (char *)malloc (depth * 5 + 2);
    memset (text, '[', depth);
    memset (text + depth, ']', depth);
    s_assert_fails (text, 2 * depth, ZM_ETOOBIG);
    size_t len = 0;
    for (size_t index = 0; index < depth; index++) {
        memcpy (text + len, "{\"a\":", 5);
        len += 5;
    }
    s_assert_fails (text, len, ZM_ETOOBIG);
    //  64 levels read and write; 65 do not read
    memset (text, '[', 64);
    memset (text + 64, ']', 64);
    text[128] = 0;
    s_assert_stable (text);
    memset (text, '[', 65);
    memset (text + 65, ']', 65);
    s_assert_fails (text, 130, ZM_ETOOBIG);
    free (text);
}

Test (codec_json, large_documents, .timeout = 10)
{
    //  more values than the parser keeps inline, strings with escapes
    size_t count = 20000;
    char *text = (char *)malloc (count * 16 + 16);
    size_t len = 0;
    text[len++] = '[';
    for (size_t index = 0; index < count; index++)
        len += (size_t)sprintf (text + len, "%s{\"k\\n\":%zu}", index ? "," : "", index);
    text[len++] = ']';
    text[len] = 0;
    zm_msg_t *msg = s_json (text);
    cr_assert_eq (zm_val_size (zm_msg_root (msg)), count);
    cr_assert_eq (zm_val_uint (zm_val_get (zm_val_at (zm_msg_root (msg), 12345), "k\n"), 0), 12345);
    char *out = s_encode (msg, ZM_CT_JSON, NULL);
    cr_assert_str_eq (out, text);
    free (out);
    free (text);
    zm_msg_destroy (&msg);
}
