/*  =========================================================================
    test_msg - zm_msg_t: getters, builders, nested trees, content types,
    the codec table, raw bodies and buffer ownership
    =========================================================================
*/
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmicro.h>

//  Encode to msgpack, cr_assert on failure; caller frees
static void *
s_encode (const zm_msg_t *msg, const char *content_type, size_t *size_p)
{
    void *data = NULL;
    int rc = zm_msg_encode (msg, content_type, &data, size_p);
    cr_assert_eq (rc, 0, "encode to %s failed: %s", content_type ? content_type : "msgpack",
                  zm_strerror (rc));
    return data;
}

Test (msg, new_is_empty_map, .timeout = 10)
{
    zm_msg_t *msg = zm_msg_new ();
    cr_assert_not_null (msg);
    const zm_val_t *root = zm_msg_root (msg);
    cr_assert_eq (zm_val_type (root), ZM_TYPE_MAP);
    cr_assert_eq (zm_val_size (root), 0);
    cr_assert_not (zm_msg_has (msg, "x"));
    zm_msg_destroy (&msg);
    cr_assert_null (msg);
    zm_msg_destroy (&msg); //  idempotent
    zm_msg_destroy (NULL);
}

Test (msg, getters_fall_back_when_missing_or_mistyped, .timeout = 10)
{
    zm_msg_t *msg = zm_msg_new ();
    cr_assert_eq (zm_msg_set_str (msg, "name", "alice"), 0);
    cr_assert_eq (zm_msg_set_bool (msg, "on", true), 0);
    cr_assert_eq (zm_msg_set_float (msg, "pi", 3.25), 0);

    cr_assert_str_eq (zm_msg_get_str (msg, "name", "x"), "alice");
    cr_assert_str_eq (zm_msg_get_str (msg, "missing", "x"), "x");
    cr_assert_str_eq (zm_msg_get_str (msg, "on", "x"), "x");
    cr_assert_null (zm_msg_get_str (msg, "missing", NULL));
    cr_assert_eq (zm_msg_get_int (msg, "name", -7), -7);
    cr_assert_eq (zm_msg_get_uint (msg, "on", 9), 9);
    cr_assert_eq (zm_msg_get_bool (msg, "on", false), true);
    cr_assert_eq (zm_msg_get_bool (msg, "name", false), false);
    cr_assert_eq (zm_msg_get_float (msg, "pi", 0), 3.25);
    cr_assert_eq (zm_msg_get_float (msg, "name", 1.5), 1.5);
    //  floats never turn into integers
    cr_assert_eq (zm_msg_get_int (msg, "pi", 42), 42);
    size_t size = 99;
    cr_assert_null (zm_msg_get_bin (msg, "on", &size));
    cr_assert_eq (size, 0);
    //  a string is readable as bytes
    const char *bytes = (const char *)zm_msg_get_bin (msg, "name", &size);
    cr_assert_eq (size, 5);
    cr_assert_eq (memcmp (bytes, "alice", 5), 0);
    //  NULL messages and keys are just missing
    cr_assert_eq (zm_msg_get_int (NULL, "a", 3), 3);
    cr_assert_eq (zm_msg_get_int (msg, NULL, 4), 4);
    cr_assert_not (zm_msg_has (NULL, "a"));
    zm_msg_destroy (&msg);
}

Test (msg, integers_convert_when_they_fit, .timeout = 10)
{
    zm_msg_t *msg = zm_msg_new ();
    zm_msg_set_int (msg, "neg", -5);
    zm_msg_set_int (msg, "pos", 5);
    zm_msg_set_uint (msg, "umax", UINT64_MAX);
    zm_msg_set_uint (msg, "imax", (uint64_t)INT64_MAX);
    zm_msg_set_int (msg, "imin", INT64_MIN);
    zm_msg_set_uint (msg, "big53", (1ull << 53) + 1);

    const zm_val_t *root = zm_msg_root (msg);
    cr_assert_eq (zm_val_type (zm_val_get (root, "neg")), ZM_TYPE_INT);
    //  non-negative integers are UINT whoever built them
    cr_assert_eq (zm_val_type (zm_val_get (root, "pos")), ZM_TYPE_UINT);
    cr_assert_eq (zm_msg_get_int (msg, "neg", 0), -5);
    cr_assert_eq (zm_msg_get_uint (msg, "neg", 77), 77);
    cr_assert_eq (zm_msg_get_uint (msg, "pos", 0), 5);
    cr_assert_eq (zm_msg_get_int (msg, "pos", 0), 5);
    cr_assert_eq (zm_msg_get_uint (msg, "umax", 0), UINT64_MAX);
    cr_assert_eq (zm_msg_get_int (msg, "umax", -1), -1);
    cr_assert_eq (zm_msg_get_int (msg, "imax", 0), INT64_MAX);
    cr_assert_eq (zm_msg_get_int (msg, "imin", 0), INT64_MIN);
    //  integers turn into floats only when the double is exact
    cr_assert_eq (zm_msg_get_float (msg, "neg", 0), -5.0);
    cr_assert_eq (zm_msg_get_float (msg, "imin", 0), -9223372036854775808.0);
    cr_assert_eq (zm_msg_get_float (msg, "big53", 0.5), 0.5);
    cr_assert_eq (zm_msg_get_float (msg, "umax", 0.5), 0.5);
    cr_assert_eq (zm_msg_get_float (msg, "imax", 0.5), 0.5);
    zm_msg_destroy (&msg);
}

Test (msg, set_replaces_and_del_removes, .timeout = 10)
{
    zm_msg_t *msg = zm_msg_new ();
    zm_msg_set_int (msg, "a", 1);
    zm_msg_set_int (msg, "b", 2);
    zm_msg_set_int (msg, "c", 3);
    cr_assert_eq (zm_msg_set_str (msg, "b", "two"), 0);
    cr_assert_eq (zm_val_size (zm_msg_root (msg)), 3);
    cr_assert_str_eq (zm_msg_get_str (msg, "b", ""), "two");

    cr_assert_eq (zm_msg_del (msg, "a"), 0);
    cr_assert_eq (zm_msg_del (msg, "a"), ZM_ENOTFOUND);
    cr_assert_not (zm_msg_has (msg, "a"));
    cr_assert_eq (zm_val_size (zm_msg_root (msg)), 2);
    size_t len = 0;
    cr_assert_str_eq (zm_val_key_at (zm_msg_root (msg), 0, &len), "b");
    cr_assert_eq (len, 1);
    cr_assert_str_eq (zm_val_key_at (zm_msg_root (msg), 1, NULL), "c");
    cr_assert_eq (zm_msg_get_int (msg, "c", 0), 3);
    cr_assert_eq (zm_msg_set_nil (msg, "c"), 0);
    cr_assert_eq (zm_val_type (zm_val_get (zm_msg_root (msg), "c")), ZM_TYPE_NIL);
    cr_assert (zm_msg_has (msg, "c"));
    zm_msg_destroy (&msg);
}

Test (msg, setf_formats_short_and_long, .timeout = 10)
{
    zm_msg_t *msg = zm_msg_new ();
    cr_assert_eq (zm_msg_setf (msg, "greeting", "Hello %s, %d", "bob", 42), 0);
    cr_assert_str_eq (zm_msg_get_str (msg, "greeting", ""), "Hello bob, 42");
    char big[1000];
    memset (big, 'z', sizeof (big) - 1);
    big[sizeof (big) - 1] = 0;
    cr_assert_eq (zm_msg_setf (msg, "big", "<%s>", big), 0);
    size_t len = 0;
    const char *text = zm_val_str (zm_val_get (zm_msg_root (msg), "big"), NULL, &len);
    cr_assert_eq (len, 1001);
    cr_assert_eq (text[0], '<');
    cr_assert_eq (text[1000], '>');
    cr_assert_eq (text[1001], 0);
    zm_msg_destroy (&msg);
}

Test (msg, binary_values, .timeout = 10)
{
    zm_msg_t *msg = zm_msg_new ();
    const unsigned char bytes[5] = {0, 1, 0xff, 0, 7};
    cr_assert_eq (zm_msg_set_bin (msg, "b", bytes, sizeof (bytes)), 0);
    cr_assert_eq (zm_msg_set_bin (msg, "empty", NULL, 0), 0);
    cr_assert_eq (zm_msg_set_bin (msg, "bad", NULL, 3), ZM_EINVAL);
    size_t size = 0;
    const void *got = zm_msg_get_bin (msg, "b", &size);
    cr_assert_eq (size, 5);
    cr_assert_eq (memcmp (got, bytes, 5), 0);
    //  present but empty is not missing
    cr_assert_not_null (zm_msg_get_bin (msg, "empty", &size));
    cr_assert_eq (size, 0);
    //  a binary is not a string
    cr_assert_str_eq (zm_msg_get_str (msg, "b", "no"), "no");
    zm_msg_destroy (&msg);
}

Test (msg, nested_build_and_read, .timeout = 10)
{
    zm_msg_t *msg = zm_msg_new ();
    zm_val_t *root = zm_msg_root_mut (msg);
    zm_val_t *user = zm_val_set_map (root, "user");
    cr_assert_not_null (user);
    cr_assert_eq (zm_val_set_str (user, "name", "carol"), 0);
    cr_assert_eq (zm_val_set_strn (user, "initials", "CXYZ", 2), 0);
    cr_assert_eq (zm_val_set_uint (user, "id", 77), 0);
    zm_val_t *tags = zm_val_set_array (user, "tags");
    cr_assert_eq (zm_val_push_str (tags, "a"), 0);
    cr_assert_eq (zm_val_push_strn (tags, "bcd", 2), 0);
    cr_assert_eq (zm_val_push_int (tags, -1), 0);
    cr_assert_eq (zm_val_push_uint (tags, 2), 0);
    cr_assert_eq (zm_val_push_float (tags, 0.5), 0);
    cr_assert_eq (zm_val_push_bool (tags, false), 0);
    cr_assert_eq (zm_val_push_nil (tags), 0);
    cr_assert_eq (zm_val_push_bin (tags, "\x01\x02", 2), 0);
    zm_val_t *inner = zm_val_push_map (tags);
    cr_assert_eq (zm_val_set_bool (inner, "deep", true), 0);
    zm_val_t *list = zm_val_push_array (tags);
    cr_assert_eq (zm_val_push_int (list, 9), 0);
    //  setters refuse the wrong container kind
    cr_assert_eq (zm_val_push_int (user, 1), ZM_EINVAL);
    cr_assert_eq (zm_val_set_int (tags, "k", 1), ZM_EINVAL);
    cr_assert_null (zm_val_set_map (tags, "k"));
    cr_assert_null (zm_val_push_map (user));

    //  read through a decoded copy: the tree survives the codec too
    size_t size;
    void *data = s_encode (msg, NULL, &size);
    zm_msg_t *copy = NULL;
    cr_assert_eq (zm_msg_decode (NULL, data, size, &copy, NULL), 0);
    free (data);
    zm_msg_t *both[2] = {msg, copy};
    for (int index = 0; index < 2; index++) {
        const zm_val_t *u = zm_val_get (zm_msg_root (both[index]), "user");
        cr_assert_str_eq (zm_val_str (zm_val_get (u, "name"), NULL, NULL), "carol");
        cr_assert_str_eq (zm_val_str (zm_val_get (u, "initials"), NULL, NULL), "CX");
        cr_assert_eq (zm_val_uint (zm_val_get (u, "id"), 0), 77);
        const zm_val_t *t = zm_val_get (u, "tags");
        cr_assert_eq (zm_val_type (t), ZM_TYPE_ARRAY);
        cr_assert_eq (zm_val_size (t), 10);
        cr_assert_str_eq (zm_val_str (zm_val_at (t, 0), NULL, NULL), "a");
        cr_assert_str_eq (zm_val_str (zm_val_at (t, 1), NULL, NULL), "bc");
        cr_assert_eq (zm_val_int (zm_val_at (t, 2), 0), -1);
        cr_assert_eq (zm_val_uint (zm_val_at (t, 3), 0), 2);
        cr_assert_eq (zm_val_float (zm_val_at (t, 4), 0), 0.5);
        cr_assert_eq (zm_val_bool (zm_val_at (t, 5), true), false);
        cr_assert_eq (zm_val_type (zm_val_at (t, 6)), ZM_TYPE_NIL);
        cr_assert_eq (zm_val_type (zm_val_at (t, 7)), ZM_TYPE_BIN);
        cr_assert_eq (zm_val_bool (zm_val_get (zm_val_at (t, 8), "deep"), false), true);
        cr_assert_eq (zm_val_int (zm_val_at (zm_val_at (t, 9), 0), 0), 9);
        cr_assert_null (zm_val_at (t, 10));
        cr_assert_null (zm_val_get (t, "a"));
        cr_assert_null (zm_val_key_at (t, 0, NULL));
        cr_assert_eq (zm_val_size (zm_val_at (t, 3)), 0);
    }
    zm_msg_destroy (&copy);
    zm_msg_destroy (&msg);
}

Test (msg, root_array_and_scalar_roots, .timeout = 10)
{
    zm_msg_t *msg = zm_msg_new ();
    zm_val_t *array = zm_msg_set_root_array (msg);
    cr_assert_not_null (array);
    cr_assert_eq (zm_msg_set_int (msg, "k", 1), ZM_EINVAL);
    cr_assert_eq (zm_msg_del (msg, "k"), ZM_EINVAL);
    for (int index = 0; index < 100; index++)
        cr_assert_eq (zm_val_push_int (array, index), 0);
    cr_assert_eq (zm_val_size (zm_msg_root (msg)), 100);
    cr_assert_eq (zm_val_int (zm_val_at (zm_msg_root (msg), 99), 0), 99);
    zm_val_t *map = zm_msg_set_root_map (msg);
    cr_assert_eq (zm_val_size (map), 0);
    cr_assert_eq (zm_msg_set_int (msg, "k", 1), 0);
    zm_msg_destroy (&msg);
}

Test (msg, many_keys_grow, .timeout = 10)
{
    zm_msg_t *msg = zm_msg_new ();
    char key[32];
    for (int index = 0; index < 2000; index++) {
        snprintf (key, sizeof (key), "key-%d", index);
        cr_assert_eq (zm_msg_set_int (msg, key, index), 0);
    }
    for (int index = 0; index < 2000; index += 7) {
        snprintf (key, sizeof (key), "key-%d", index);
        cr_assert_eq (zm_msg_get_int (msg, key, -1), index);
    }
    cr_assert_eq (zm_val_size (zm_msg_root (msg)), 2000);
    zm_msg_destroy (&msg);
}

Test (msg, builder_depth_is_limited, .timeout = 10)
{
    zm_msg_t *msg = zm_msg_new ();
    zm_val_t *val = zm_msg_root_mut (msg);
    //  the root map is level 1: 63 more levels fit
    for (int level = 2; level <= ZM_MSG_MAX_DEPTH; level++) {
        val = zm_val_set_map (val, "d");
        cr_assert_not_null (val, "level %d", level);
    }
    cr_assert_null (zm_val_set_map (val, "d"));
    cr_assert_null (zm_val_set_array (val, "d"));
    cr_assert_eq (zm_val_set_int (val, "leaf", 1), 0);
    //  what was built encodes and decodes in both codecs
    size_t size;
    void *data = s_encode (msg, ZM_CT_JSON, &size);
    zm_msg_t *back = NULL;
    cr_assert_eq (zm_msg_decode (ZM_CT_JSON, data, size, &back, NULL), 0);
    free (data);
    zm_msg_destroy (&back);
    zm_msg_destroy (&msg);
}

Test (msg, dup_is_deep, .timeout = 10)
{
    zm_msg_t *msg = zm_msg_new ();
    zm_msg_set_str (msg, "s", "one");
    zm_val_set_int (zm_val_set_map (zm_msg_root_mut (msg), "m"), "x", 1);
    zm_msg_t *copy = zm_msg_dup (msg);
    cr_assert_not_null (copy);
    zm_msg_set_str (msg, "s", "two");
    zm_msg_destroy (&msg);
    cr_assert_str_eq (zm_msg_get_str (copy, "s", ""), "one");
    cr_assert_eq (zm_val_int (zm_val_get (zm_val_get (zm_msg_root (copy), "m"), "x"), 0), 1);
    cr_assert_null (zm_msg_dup (NULL));
    zm_msg_destroy (&copy);
}

Test (msg, decoded_message_can_be_changed, .timeout = 10)
{
    zm_msg_t *msg = zm_msg_new ();
    zm_msg_set_str (msg, "keep", "kept");
    size_t size;
    void *data = s_encode (msg, NULL, &size);
    zm_msg_destroy (&msg);
    cr_assert_eq (zm_msg_decode_owned (NULL, &data, size, &msg, NULL), 0);
    cr_assert_null (data);
    zm_val_t *root = zm_msg_root_mut (msg);
    //  the decoded root map has room for exactly one pair: it must grow
    for (int index = 0; index < 10; index++)
        cr_assert_eq (zm_val_push_int (zm_val_set_array (root, "added"), index), 0);
    cr_assert_eq (zm_msg_set_int (msg, "n", 5), 0);
    cr_assert_eq (zm_msg_set_str (msg, "keep", "changed"), 0);
    data = s_encode (msg, ZM_CT_JSON, &size);
    cr_assert_eq (size, strlen ("{\"keep\":\"changed\",\"added\":[9],\"n\":5}"));
    cr_assert_eq (memcmp (data, "{\"keep\":\"changed\",\"added\":[9],\"n\":5}", size), 0);
    free (data);
    zm_msg_destroy (&msg);
}

Test (msg, content_type_lookup, .timeout = 10)
{
    cr_assert_eq (zm_codec_find (NULL), &zm_codec_msgpack);
    cr_assert_eq (zm_codec_find (""), &zm_codec_msgpack);
    cr_assert_eq (zm_codec_find ("application/msgpack"), &zm_codec_msgpack);
    cr_assert_eq (zm_codec_find ("application/json"), &zm_codec_json);
    cr_assert_eq (zm_codec_find ("application/json; charset=utf-8"), &zm_codec_json);
    cr_assert_eq (zm_codec_find ("  Application/JSON ;charset=UTF-8"), &zm_codec_json);
    cr_assert_eq (zm_codec_find ("APPLICATION/OCTET-STREAM"), &zm_codec_raw);
    cr_assert_null (zm_codec_find ("application/jsonx"));
    cr_assert_null (zm_codec_find ("application/js"));
    cr_assert_null (zm_codec_find ("text/plain"));
    cr_assert (zm_msg_content_type_known ("application/msgpack; v=1"));
    cr_assert_not (zm_msg_content_type_known ("application/xml"));

    zm_msg_t *msg = NULL;
    const char *reason = NULL;
    cr_assert_eq (zm_msg_decode ("application/xml", "x", 1, &msg, &reason), ZM_EINVAL);
    cr_assert_not_null (reason);
    cr_assert_null (msg);
    msg = zm_msg_new ();
    void *data = NULL;
    size_t size = 0;
    cr_assert_eq (zm_msg_encode (msg, "application/xml", &data, &size), ZM_EINVAL);
    cr_assert_eq (zm_msg_encode (NULL, NULL, &data, &size), ZM_EINVAL);
    zm_msg_destroy (&msg);
}

//  A codec for tests: text/plain, a body is one string
static int
s_text_decode (const void *data, size_t size, zm_msg_t **msg_p, const char **err_p)
{
    zm_msg_t *msg = zm_msg_new ();
    zm_val_t *root = zm_msg_set_root_array (msg);
    zm_val_push_strn (root, (const char *)data, size);
    //  the public API has no string root: a one-element array stands in
    *msg_p = msg;
    return 0;
}

static int
s_text_encode (const zm_msg_t *msg, void **data_p, size_t *size_p)
{
    size_t len = 0;
    const char *text = zm_val_str (zm_val_at (zm_msg_root (msg), 0), NULL, &len);
    if (!text)
        return ZM_ECODEC;
    *data_p = malloc (len + 1);
    memcpy (*data_p, text, len);
    *size_p = len;
    return 0;
}

static const zm_codec_t s_text_codec = {
    .content_type = "text/plain",
    .decode = s_text_decode,
    .encode = s_text_encode,
};

Test (msg, codec_register, .timeout = 10)
{
    cr_assert_null (zm_codec_find ("text/plain"));
    cr_assert_eq (zm_codec_register (&s_text_codec), 0);
    cr_assert_eq (zm_codec_find ("text/plain; charset=utf-8"), &s_text_codec);
    cr_assert_eq (zm_codec_register (&s_text_codec), ZM_ECONFLICT);
    static const zm_codec_t json_again = {
        .content_type = "Application/Json", .decode = s_text_decode, .encode = s_text_encode};
    cr_assert_eq (zm_codec_register (&json_again), ZM_ECONFLICT);
    static const zm_codec_t no_decode = {.content_type = "x/y", .encode = s_text_encode};
    cr_assert_eq (zm_codec_register (&no_decode), ZM_EINVAL);
    static const zm_codec_t with_params = {
        .content_type = "x/y; a=b", .decode = s_text_decode, .encode = s_text_encode};
    cr_assert_eq (zm_codec_register (&with_params), ZM_EINVAL);
    cr_assert_eq (zm_codec_register (NULL), ZM_EINVAL);

    zm_msg_t *msg = NULL;
    cr_assert_eq (zm_msg_decode ("text/plain", "hello", 5, &msg, NULL), 0);
    cr_assert_str_eq (zm_val_str (zm_val_at (zm_msg_root (msg), 0), NULL, NULL), "hello");
    void *data = NULL;
    size_t size = 0;
    cr_assert_eq (zm_msg_encode (msg, "TEXT/PLAIN", &data, &size), 0);
    cr_assert_eq (size, 5);
    cr_assert_eq (memcmp (data, "hello", 5), 0);
    free (data);
    //  through the owned path: decoded (a copy) and the buffer released
    void *owned = strdup ("bye");
    zm_msg_destroy (&msg);
    cr_assert_eq (zm_msg_decode_owned ("text/plain", &owned, 3, &msg, NULL), 0);
    cr_assert_null (owned);
    cr_assert_str_eq (zm_val_str (zm_val_at (zm_msg_root (msg), 0), NULL, NULL), "bye");
    zm_msg_destroy (&msg);

    //  the table holds 16
    static zm_codec_t more[20];
    static char names[20][32];
    int rc = 0, added = 1;
    for (int index = 0; index < 20 && rc == 0; index++) {
        snprintf (names[index], sizeof (names[index]), "x-test/%d", index);
        more[index] = s_text_codec;
        more[index].content_type = names[index];
        rc = zm_codec_register (&more[index]);
        if (rc == 0)
            added++;
    }
    cr_assert_eq (rc, ZM_ETOOMANY);
    cr_assert_eq (added, 16);
}

static int s_freed; //  calls of s_count_free

static void
s_count_free (void *data, void *hint)
{
    cr_assert_eq (hint, &s_freed);
    s_freed++;
    free (data);
}

Test (msg, decode_inplace_frees_through_callback, .timeout = 10)
{
    zm_msg_t *msg = zm_msg_new ();
    zm_msg_set_str (msg, "a", "b");
    size_t size;
    void *data = s_encode (msg, NULL, &size);
    zm_msg_destroy (&msg);
    cr_assert_eq (zm_msg_decode_inplace (NULL, data, size, s_count_free, &s_freed, &msg, NULL), 0);
    cr_assert_eq (s_freed, 0);
    cr_assert_str_eq (zm_msg_get_str (msg, "a", ""), "b");
    zm_msg_destroy (&msg);
    cr_assert_eq (s_freed, 1);

    //  failure: no callback, buffer untouched
    unsigned char bad[3] = {0x82, 0xa1, 'a'};
    unsigned char before[3];
    memcpy (before, bad, 3);
    cr_assert_eq (zm_msg_decode_inplace (NULL, bad, 3, s_count_free, &s_freed, &msg, NULL),
                  ZM_ECODEC);
    cr_assert_eq (s_freed, 1);
    cr_assert_eq (memcmp (bad, before, 3), 0);

    //  JSON through the in-place path is decoded from a copy and released at once
    char *json = strdup ("{\"k\":[1,2]}");
    cr_assert_eq (
        zm_msg_decode_inplace (ZM_CT_JSON, json, strlen (json), s_count_free, &s_freed, &msg, NULL),
        0);
    cr_assert_eq (s_freed, 2);
    cr_assert_eq (zm_val_size (zm_val_get (zm_msg_root (msg), "k")), 2);
    zm_msg_destroy (&msg);
}

Test (msg, decode_owned_failure_leaves_buffer_with_caller, .timeout = 10)
{
    unsigned char bytes[] = {0x81, 0xa1, 'k', 0xa3, 'a', 'b'}; //  truncated
    void *data = malloc (sizeof (bytes));
    memcpy (data, bytes, sizeof (bytes));
    void *keep = data;
    zm_msg_t *msg = NULL;
    const char *reason = NULL;
    cr_assert_eq (zm_msg_decode_owned (NULL, &data, sizeof (bytes), &msg, &reason), ZM_ECODEC);
    cr_assert_eq (data, keep);
    cr_assert_null (msg);
    cr_assert_not_null (reason);
    cr_assert_eq (memcmp (data, bytes, sizeof (bytes)), 0);
    free (data);
    cr_assert_eq (zm_msg_decode_owned (NULL, NULL, 0, &msg, NULL), ZM_EINVAL);
}

Test (msg, raw_passthrough, .timeout = 10)
{
    const unsigned char bytes[6] = {0xc1, 0, 0xff, '{', 0x80, 'x'}; //  neither JSON nor msgpack
    zm_msg_t *msg = NULL;
    cr_assert_eq (zm_msg_decode (ZM_CT_RAW, bytes, sizeof (bytes), &msg, NULL), 0);
    const zm_val_t *root = zm_msg_root (msg);
    cr_assert_eq (zm_val_type (root), ZM_TYPE_BIN);
    size_t size = 0;
    cr_assert_eq (memcmp (zm_val_bin (root, &size), bytes, sizeof (bytes)), 0);
    cr_assert_eq (size, sizeof (bytes));
    void *out = s_encode (msg, ZM_CT_RAW, &size);
    cr_assert_eq (size, sizeof (bytes));
    cr_assert_eq (memcmp (out, bytes, size), 0);
    free (out);
    //  the same body as msgpack: one bin value
    out = s_encode (msg, ZM_CT_MSGPACK, &size);
    cr_assert_eq (size, 2 + sizeof (bytes));
    cr_assert_eq (((unsigned char *)out)[0], 0xc4);
    free (out);
    zm_msg_destroy (&msg);

    //  zero-copy: the root points into the handed-over buffer
    void *data = malloc (4);
    memcpy (data, "abcd", 4);
    void *where = data;
    cr_assert_eq (zm_msg_decode_owned ("application/octet-stream", &data, 4, &msg, NULL), 0);
    cr_assert_eq (zm_val_bin (zm_msg_root (msg), &size), where);
    zm_msg_destroy (&msg);

    //  empty raw body
    cr_assert_eq (zm_msg_decode (ZM_CT_RAW, NULL, 0, &msg, NULL), 0);
    cr_assert_not_null (zm_val_bin (zm_msg_root (msg), &size));
    cr_assert_eq (size, 0);
    out = s_encode (msg, ZM_CT_RAW, &size);
    cr_assert_eq (size, 0);
    free (out);
    zm_msg_destroy (&msg);

    //  a string root encodes to its bytes; a map root has no raw form
    cr_assert_eq (zm_msg_decode (NULL, "\xa3xyz", 4, &msg, NULL), 0);
    out = s_encode (msg, ZM_CT_RAW, &size);
    cr_assert_eq (size, 3);
    cr_assert_eq (memcmp (out, "xyz", 3), 0);
    free (out);
    zm_msg_destroy (&msg);
    msg = zm_msg_new ();
    cr_assert_eq (zm_msg_encode (msg, ZM_CT_RAW, &out, &size), ZM_ECODEC);
    zm_msg_destroy (&msg);
}

Test (msg, bodies_over_the_limit, .timeout = 10)
{
    size_t size = (size_t)ZM_MSG_MAX_SIZE + 1;
    char *big = (char *)calloc (1, size); //  untouched pages cost nothing
    cr_assert_not_null (big);
    zm_msg_t *msg = NULL;
    const char *codecs[] = {ZM_CT_MSGPACK, ZM_CT_JSON, ZM_CT_RAW};
    for (int index = 0; index < 3; index++) {
        cr_assert_eq (zm_msg_decode (codecs[index], big, size, &msg, NULL), ZM_ETOOBIG);
        cr_assert_eq (zm_msg_decode_inplace (codecs[index], big, size, NULL, NULL, &msg, NULL),
                      ZM_ETOOBIG);
    }
    free (big);
    //  builders refuse strings that no decoder would take
    msg = zm_msg_new ();
    cr_assert_eq (zm_msg_set_bin (msg, "b", msg, size), ZM_ETOOBIG);
    zm_msg_destroy (&msg);
}
