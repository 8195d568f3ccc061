/*  =========================================================================
    test_config - layered configuration with hot reload

    Criterion forks each test, so setenv/unsetenv stay inside one test.
    Files live under /tmp (mkstemp) and are removed by the test that made them.
    =========================================================================
*/
#include <criterion/criterion.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "zmicro.h"

//  --------------------------------------------------------------------------
//  Helpers

//  A new temp file holding text. Caller frees the path and unlinks.
static char *
s_temp_file (const char *text)
{
    char *path = strdup ("/tmp/zm_config_test_XXXXXX");
    int fd = mkstemp (path);
    cr_assert (fd >= 0, "mkstemp: %s", strerror (errno));
    size_t len = strlen (text);
    cr_assert_eq (write (fd, text, len), (ssize_t) len);
    close (fd);
    return path;
}

//  Atomic replacement, as editors and deploy tools do.
static void
s_rewrite_rename (const char *path, const char *text)
{
    char tmp[256];
    snprintf (tmp, sizeof (tmp), "%s.new", path);
    FILE *file = fopen (tmp, "w");
    cr_assert (file);
    cr_assert_eq (fputs (text, file) >= 0, true);
    cr_assert_eq (fclose (file), 0);
    cr_assert_eq (rename (tmp, path), 0);
}

//  Truncate and write in place.
static void
s_rewrite_inplace (const char *path, const char *text)
{
    FILE *file = fopen (path, "w");
    cr_assert (file);
    cr_assert_eq (fputs (text, file) >= 0, true);
    cr_assert_eq (fclose (file), 0);
}

static int64_t
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  What a watcher saw, shared with the thread that waits for it.
typedef struct {
    pthread_mutex_t mutex;  //  guards the fields below
    pthread_cond_t cond;    //  signalled on each call
    int calls;              //  how many times the watcher ran
    char keys[512];         //  keys of the last call, space-separated
    size_t count;           //  count of the last call
    char value[128];        //  watched key's value read inside the last call
    const char *watch_key;  //  which key to read inside the call
    int64_t at_ms;          //  when the last call happened
} s_seen_t;

static void
s_seen_init (s_seen_t *seen, const char *watch_key)
{
    memset (seen, 0, sizeof (*seen));
    pthread_mutex_init (&seen->mutex, NULL);
    pthread_cond_init (&seen->cond, NULL);
    seen->watch_key = watch_key;
}

static void
s_on_change (zm_config_t *config, const char *const *keys, size_t count, void *arg)
{
    s_seen_t *seen = (s_seen_t *) arg;
    //  Called after the new config is in force: the getter already sees it.
    const char *value = zm_config_get_str (config, seen->watch_key, "(unset)");
    pthread_mutex_lock (&seen->mutex);
    seen->calls++;
    seen->count = count;
    seen->keys[0] = 0;
    for (size_t i = 0; i < count; i++) {
        strncat (seen->keys, keys[i], sizeof (seen->keys) - strlen (seen->keys) - 2);
        strcat (seen->keys, " ");
    }
    snprintf (seen->value, sizeof (seen->value), "%s", value);
    seen->at_ms = s_now_ms ();
    pthread_cond_broadcast (&seen->cond);
    pthread_mutex_unlock (&seen->mutex);
}

//  Wait until the watcher has run more than `calls` times, at most timeout_ms.
static bool
s_wait_calls (s_seen_t *seen, int calls, int timeout_ms)
{
    struct timespec deadline;
    clock_gettime (CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long) (timeout_ms % 1000) * 1000000;
    if (deadline.tv_nsec >= 1000000000) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock (&seen->mutex);
    int rc = 0;
    while (seen->calls <= calls && rc == 0)
        rc = pthread_cond_timedwait (&seen->cond, &seen->mutex, &deadline);
    bool happened = seen->calls > calls;
    pthread_mutex_unlock (&seen->mutex);
    return happened;
}

static int
s_calls (s_seen_t *seen)
{
    pthread_mutex_lock (&seen->mutex);
    int calls = seen->calls;
    pthread_mutex_unlock (&seen->mutex);
    return calls;
}

//  A config with the file loaded; fails the test otherwise.
static zm_config_t *
s_config_with (const char *path)
{
    zm_config_t *config = zm_config_new ();
    cr_assert (config);
    char *err = NULL;
    int rc = zm_config_load_file (config, path, &err);
    cr_assert_eq (rc, 0, "load_file: %s", err ? err : "?");
    cr_assert_null (err);
    return config;
}

//  A config with the file loaded, a watcher recording app.value into seen,
//  and the file watcher polling every interval_ms (0: config.reload_interval).
static zm_config_t *
s_watched (const char *path, int interval_ms, s_seen_t *seen)
{
    zm_config_t *config = s_config_with (path);
    s_seen_init (seen, "app.value");
    cr_assert_eq (zm_config_watch (config, s_on_change, seen), 0);
    cr_assert_eq (zm_config_start_watcher (config, interval_ms), 0);
    return config;
}

//  Remove a temp file made by s_temp_file and free its path.
static void
s_temp_remove (char *path)
{
    unlink (path);
    free (path);
}

//  --------------------------------------------------------------------------
//  Defaults and layers

Test (config, defaults, .timeout = 10)
{
    zm_config_t *config = zm_config_new ();
    cr_assert (config);
    cr_expect_str_eq (zm_config_get_str (config, "node.name", "x"), "");
    cr_expect_eq (zm_config_get_int (config, "reactors", -1), 1);
    cr_expect_str_eq (zm_config_get_str (config, "log.level", NULL), "notice");
    cr_expect_eq (zm_config_get_bool (config, "log.syslog", true), false);
    cr_expect_str_eq (zm_config_get_str (config, "log.ident", NULL), "zmicro");
    cr_expect_str_eq (zm_config_get_str (config, "config.file", "x"), "");
    cr_expect_eq (zm_config_get_int (config, "config.reload_interval", -1), 250);
    cr_expect_eq (zm_config_get_int (config, "actor.ask_timeout", -1), 5000);
    cr_expect_eq (zm_config_get_int (config, "node.shutdown_timeout", -1), 5000);
    cr_expect (zm_config_has (config, "reactors"));
    cr_expect_not (zm_config_has (config, "no.such.key"));
    cr_expect_str_eq (zm_config_get_str (config, "no.such.key", "fb"), "fb");
    zm_config_destroy (&config);
    cr_expect_null (config);
    zm_config_destroy (&config);        //  idempotent
    zm_config_destroy (NULL);
}

Test (config, file_overrides_default, .timeout = 10)
{
    char *path = s_temp_file ("{\"reactors\": 4, \"log\": {\"level\": \"debug\", "
                              "\"syslog\": true}, \"actor.ask_timeout\": 1500}");
    zm_config_t *config = s_config_with (path);
    cr_expect_eq (zm_config_get_int (config, "reactors", -1), 4);
    cr_expect_str_eq (zm_config_get_str (config, "log.level", NULL), "debug");
    cr_expect_eq (zm_config_get_bool (config, "log.syslog", false), true);
    cr_expect_eq (zm_config_get_int (config, "actor.ask_timeout", -1), 1500);
    //  Untouched keys keep their defaults; config.file names the file.
    cr_expect_str_eq (zm_config_get_str (config, "log.ident", NULL), "zmicro");
    cr_expect_str_eq (zm_config_get_str (config, "config.file", NULL), path);
    zm_config_destroy (&config);
    s_temp_remove (path);
}

Test (config, env_overrides_file, .timeout = 10)
{
    char *path = s_temp_file ("{\"log\": {\"level\": \"info\"}, \"reactors\": 3}");
    zm_config_t *config = s_config_with (path);
    setenv ("ZM_LOG_LEVEL", "debug", 1);
    char *err = NULL;
    cr_assert_eq (zm_config_load_env (config, &err), 0, "%s", err);
    cr_expect_str_eq (zm_config_get_str (config, "log.level", NULL), "debug");
    cr_expect_eq (zm_config_get_int (config, "reactors", -1), 3);
    //  The env layer is a snapshot: reloading it drops what left environ.
    unsetenv ("ZM_LOG_LEVEL");
    cr_assert_eq (zm_config_load_env (config, &err), 0);
    cr_expect_str_eq (zm_config_get_str (config, "log.level", NULL), "info");
    zm_config_destroy (&config);
    s_temp_remove (path);
}

Test (config, flags_override_env, .timeout = 10)
{
    zm_config_t *config = zm_config_new ();
    setenv ("ZM_REACTORS", "2", 1);
    setenv ("ZM_LOG_IDENT", "fromenv", 1);
    char *err = NULL;
    cr_assert_eq (zm_config_load_env (config, &err), 0, "%s", err);
    char *argv[] = {"prog", "--reactors=8", NULL};
    cr_assert_eq (zm_config_load_args (config, 2, argv, &err), 0, "%s", err);
    cr_expect_eq (zm_config_get_int (config, "reactors", -1), 8);
    cr_expect_str_eq (zm_config_get_str (config, "log.ident", NULL), "fromenv");
    //  zm_config_set writes the flags layer too, and NULL removes it there.
    cr_assert_eq (zm_config_set (config, "reactors", "9", &err), 0);
    cr_expect_eq (zm_config_get_int (config, "reactors", -1), 9);
    cr_assert_eq (zm_config_set (config, "reactors", NULL, &err), 0);
    cr_expect_eq (zm_config_get_int (config, "reactors", -1), 2);
    zm_config_destroy (&config);
}

Test (config, load_applies_every_layer, .timeout = 10)
{
    char *path = s_temp_file ("{\"reactors\": 3, \"log\": {\"level\": \"info\", "
                              "\"ident\": \"fromfile\"}, \"node\": {\"name\": \"n1\"}}");
    setenv ("ZM_CONFIG", path, 1);
    setenv ("ZM_LOG_LEVEL", "warning", 1);
    setenv ("ZM_NODE_NAME", "n2", 1);
    char *argv[] = {"prog", "input.txt", "--node.name", "n3", "-v", NULL};
    char *err = NULL;
    zm_config_t *config = zm_config_load (5, argv, &err);
    cr_assert (config, "load: %s", err);
    cr_expect_eq (zm_config_get_int (config, "reactors", -1), 3);        //  file
    cr_expect_str_eq (zm_config_get_str (config, "log.ident", NULL), "fromfile");
    cr_expect_str_eq (zm_config_get_str (config, "log.level", NULL), "warning"); //  env
    cr_expect_str_eq (zm_config_get_str (config, "node.name", NULL), "n3");      //  flags
    cr_expect_eq (zm_config_get_int (config, "config.reload_interval", -1), 250); //  default
    //  Not flags: left alone, and not keys.
    cr_expect_not (zm_config_has (config, "v"));
    zm_config_destroy (&config);
    s_temp_remove (path);
}

Test (config, load_config_flag_beats_env, .timeout = 10)
{
    char *one = s_temp_file ("{\"log.ident\": \"one\"}");
    char *two = s_temp_file ("{\"log.ident\": \"two\"}");
    setenv ("ZM_CONFIG", one, 1);
    char *err = NULL;
    char *argv[] = {"prog", "--config", two, NULL};
    zm_config_t *config = zm_config_load (3, argv, &err);
    cr_assert (config, "load: %s", err);
    cr_expect_str_eq (zm_config_get_str (config, "log.ident", NULL), "two");
    zm_config_destroy (&config);
    char arg[300];
    snprintf (arg, sizeof (arg), "--config=%s", one);
    char *argv2[] = {"prog", arg, NULL};
    unsetenv ("ZM_CONFIG");
    config = zm_config_load (2, argv2, &err);
    cr_assert (config, "load: %s", err);
    cr_expect_str_eq (zm_config_get_str (config, "log.ident", NULL), "one");
    zm_config_destroy (&config);
    s_temp_remove (one);
    s_temp_remove (two);
}

Test (config, load_missing_file_fails, .timeout = 10)
{
    char *err = NULL;
    char *argv[] = {"prog", "--config=/tmp/zm_config_test_does_not_exist.json", NULL};
    zm_config_t *config = zm_config_load (2, argv, &err);
    cr_expect_null (config);
    cr_assert (err);
    cr_expect (strstr (err, "/tmp/zm_config_test_does_not_exist.json"), "%s", err);
    cr_expect (strstr (err, "No such file"), "%s", err);
    free (err);
}

//  --------------------------------------------------------------------------
//  Typed getters, parsing, flattening

Test (config, typed_getters_and_fallbacks, .timeout = 10)
{
    char *path = s_temp_file ("{\"app\": {\"name\": \"demo\", \"count\": 12, \"ratio\": 0.25,"
                              " \"on\": true, \"big\": 18446744073709551615,"
                              " \"word\": \"yes\", \"neg\": -7}}");
    zm_config_t *config = s_config_with (path);
    cr_expect_eq (zm_config_get_int (config, "app.count", -1), 12);
    cr_expect_eq (zm_config_get_int (config, "app.neg", 0), -7);
    cr_expect_float_eq (zm_config_get_float (config, "app.ratio", -1), 0.25, 1e-12);
    cr_expect_float_eq (zm_config_get_float (config, "app.count", -1), 12.0, 1e-12);
    cr_expect_eq (zm_config_get_bool (config, "app.on", false), true);
    cr_expect_eq (zm_config_get_bool (config, "app.word", false), true);
    //  Not that type: the fallback.
    cr_expect_eq (zm_config_get_int (config, "app.name", 99), 99);
    cr_expect_eq (zm_config_get_int (config, "app.ratio", 99), 99);
    cr_expect_eq (zm_config_get_int (config, "app.big", 99), 99);       //  over int64
    cr_expect_eq (zm_config_get_bool (config, "app.name", true), true);
    cr_expect_float_eq (zm_config_get_float (config, "app.name", 1.5), 1.5, 1e-12);
    cr_expect_eq (zm_config_get_int (config, "log.level", 42), 42);
    //  Missing: the fallback.
    cr_expect_eq (zm_config_get_int (config, "app.nope", 5), 5);
    cr_expect_eq (zm_config_get_bool (config, "app.nope", true), true);
    //  Every value reads as a string.
    cr_expect_str_eq (zm_config_get_str (config, "app.count", NULL), "12");
    cr_expect_str_eq (zm_config_get_str (config, "app.on", NULL), "true");
    cr_expect_str_eq (zm_config_get_str (config, "app.big", NULL), "18446744073709551615");
    cr_expect_str_eq (zm_config_get_str (config, "reactors", NULL), "1");
    //  NULL arguments do not crash.
    cr_expect_eq (zm_config_get_int (NULL, "reactors", 3), 3);
    cr_expect_eq (zm_config_get_int (config, NULL, 3), 3);
    zm_config_destroy (&config);
    s_temp_remove (path);
}

Test (config, int_and_bool_parsing_is_strict, .timeout = 10)
{
    zm_config_t *config = zm_config_new ();
    const char *bad_ints[] = {"", "12x", " 5", "5 ", "0x10", "1.0", "99999999999999999999",
                              "-", "+", "two"};
    for (size_t i = 0; i < sizeof (bad_ints) / sizeof (bad_ints[0]); i++) {
        char *err = NULL;
        cr_expect_eq (zm_config_set (config, "actor.ask_timeout", bad_ints[i], &err), ZM_ECONFIG,
                      "\"%s\" accepted", bad_ints[i]);
        cr_expect (err && strstr (err, "actor.ask_timeout"), "%s", err ? err : "no error");
        cr_expect (err && strstr (err, "is not an integer"), "%s", err ? err : "no error");
        free (err);
    }
    cr_expect_eq (zm_config_get_int (config, "actor.ask_timeout", -1), 5000);
    cr_expect_eq (zm_config_set (config, "actor.ask_timeout", "+250", NULL), 0);
    cr_expect_str_eq (zm_config_get_str (config, "actor.ask_timeout", NULL), "250");

    const char *yes[] = {"true", "1", "yes", "on", "TRUE", "Yes"};
    const char *no[] = {"false", "0", "no", "off", "OFF"};
    for (size_t i = 0; i < sizeof (yes) / sizeof (yes[0]); i++) {
        cr_expect_eq (zm_config_set (config, "log.syslog", yes[i], NULL), 0, "%s", yes[i]);
        cr_expect_eq (zm_config_get_bool (config, "log.syslog", false), true, "%s", yes[i]);
        cr_expect_str_eq (zm_config_get_str (config, "log.syslog", NULL), "true");
    }
    for (size_t i = 0; i < sizeof (no) / sizeof (no[0]); i++) {
        cr_expect_eq (zm_config_set (config, "log.syslog", no[i], NULL), 0, "%s", no[i]);
        cr_expect_eq (zm_config_get_bool (config, "log.syslog", true), false, "%s", no[i]);
    }
    char *err = NULL;
    cr_expect_eq (zm_config_set (config, "log.syslog", "maybe", &err), ZM_ECONFIG);
    cr_expect (err && strstr (err, "log.syslog: \"maybe\" is not a boolean"), "%s", err);
    free (err);
    zm_config_destroy (&config);
}

Test (config, flattening, .timeout = 10)
{
    char *path = s_temp_file ("{\"a\": {\"b\": {\"c\": \"deep\"}, \"x\": 1},"
                              " \"top.dotted\": \"d\","
                              " \"list\": [1, \"two\", {\"three\": 3}, [4], null, false],"
                              " \"empty\": {}, \"gone\": null, \"f\": 1.5e3}");
    zm_config_t *config = s_config_with (path);
    cr_expect_str_eq (zm_config_get_str (config, "a.b.c", NULL), "deep");
    cr_expect_eq (zm_config_get_int (config, "a.x", -1), 1);
    cr_expect_str_eq (zm_config_get_str (config, "top.dotted", NULL), "d");
    //  Arrays are kept as their JSON text.
    const char *list = zm_config_get_str (config, "list", NULL);
    cr_assert (list);
    zm_msg_t *msg = NULL;
    cr_assert_eq (zm_msg_decode (ZM_CT_JSON, list, strlen (list), &msg, NULL), 0, "%s", list);
    const zm_val_t *root = zm_msg_root (msg);
    cr_assert_eq (zm_val_type (root), ZM_TYPE_ARRAY);
    cr_expect_eq (zm_val_size (root), 6);
    cr_expect_str_eq (zm_val_str (zm_val_at (root, 1), "", NULL), "two");
    cr_expect_eq (zm_val_int (zm_val_get (zm_val_at (root, 2), "three"), 0), 3);
    zm_msg_destroy (&msg);
    //  Empty objects and nulls set nothing.
    cr_expect_not (zm_config_has (config, "empty"));
    cr_expect_not (zm_config_has (config, "gone"));
    cr_expect_not (zm_config_has (config, "a"));
    cr_expect_float_eq (zm_config_get_float (config, "f", 0), 1500.0, 1e-9);
    zm_config_destroy (&config);
    s_temp_remove (path);
}

Test (config, unknown_keys_readable_as_strings, .timeout = 10)
{
    char *path = s_temp_file ("{\"myapp\": {\"greeting\": \"hello\", \"limit\": 10}}");
    zm_config_t *config = s_config_with (path);
    setenv ("ZM_MYAPP_MODE", "fast", 1);
    cr_assert_eq (zm_config_load_env (config, NULL), 0);
    char *argv[] = {"prog", "--myapp.color=blue", NULL};
    cr_assert_eq (zm_config_load_args (config, 2, argv, NULL), 0);
    cr_expect_str_eq (zm_config_get_str (config, "myapp.greeting", NULL), "hello");
    cr_expect_str_eq (zm_config_get_str (config, "myapp.limit", NULL), "10");
    cr_expect_str_eq (zm_config_get_str (config, "myapp.mode", NULL), "fast");
    cr_expect_str_eq (zm_config_get_str (config, "myapp.color", NULL), "blue");
    zm_config_destroy (&config);
    s_temp_remove (path);
}

//  --------------------------------------------------------------------------
//  Errors keep the last good configuration

Test (config, bad_json_keeps_previous, .timeout = 10)
{
    char *good = s_temp_file ("{\"reactors\": 2, \"app\": \"v1\"}");
    char *bad = s_temp_file ("{\"reactors\": 3, \"app\": ");
    char *empty = s_temp_file ("  \n");
    char *notmap = s_temp_file ("[1, 2]");
    zm_config_t *config = s_config_with (good);
    char *err = NULL;
    cr_expect_eq (zm_config_load_file (config, bad, &err), ZM_ECODEC);
    cr_assert (err);
    cr_expect (strstr (err, bad), "error names the file: %s", err);
    cr_expect (strstr (err, "bad JSON: "), "error names the reason: %s", err);
    cr_expect_gt (strlen (err), strlen (bad) + strlen (": bad JSON: "), "%s", err);
    free (err);
    cr_expect_eq (zm_config_load_file (config, empty, &err), ZM_ECODEC);
    cr_expect (err && strstr (err, "empty"), "%s", err);
    free (err);
    cr_expect_eq (zm_config_load_file (config, notmap, &err), ZM_ECODEC);
    cr_expect (err && strstr (err, "object"), "%s", err);
    free (err);
    cr_expect_eq (zm_config_load_file (config, "/tmp", &err), ZM_EIO);
    free (err);
    cr_expect_eq (zm_config_get_int (config, "reactors", -1), 2);
    cr_expect_str_eq (zm_config_get_str (config, "app", NULL), "v1");
    cr_expect_str_eq (zm_config_get_str (config, "config.file", NULL), good);
    zm_config_destroy (&config);
    const char *paths[] = {good, bad, empty, notmap};
    for (int i = 0; i < 4; i++)
        s_temp_remove ((char *) paths[i]);
}

//  A file whose load must fail with ZM_ECONFIG and a message holding `want`.
static void
s_expect_refused (zm_config_t *config, const char *json, const char *want)
{
    char *path = s_temp_file (json);
    char *err = NULL;
    int rc = zm_config_load_file (config, path, &err);
    cr_expect_eq (rc, ZM_ECONFIG, "%s loaded (rc %d)", json, rc);
    cr_expect (err && strstr (err, want), "for %s want \"%s\", got \"%s\"", json, want,
               err ? err : "(null)");
    free (err);
    s_temp_remove (path);
}

Test (config, bad_value_type_names_key, .timeout = 10)
{
    char *good = s_temp_file ("{\"reactors\": 2}");
    zm_config_t *config = s_config_with (good);
    s_expect_refused (config, "{\"reactors\": \"two\"}",
                      "reactors: expected an integer, got a string");
    s_expect_refused (config, "{\"reactors\": 2.5}", "reactors: expected an integer, got a number");
    s_expect_refused (config, "{\"log\": {\"level\": 3}}", "log.level: expected a string");
    s_expect_refused (config, "{\"log\": {\"syslog\": \"yes\"}}", "log.syslog: expected a boolean");
    s_expect_refused (config, "{\"reactors\": [1]}", "reactors: expected an integer, got an array");
    s_expect_refused (config, "{\"reactors\": {\"a\": 1}}", "reactors: expected an integer, got an object");
    s_expect_refused (config, "{\"log\": {\"level\": \"info\"}, \"log.level\": \"debug\"}",
                      "log.level: given twice");
    s_expect_refused (config, "{\"config\": {\"file\": \"/x\"}}", "config.file: cannot be set");
    s_expect_refused (config, "{\"bad key\": 1}", "bad key: not a valid key name");
    s_expect_refused (config, "{\"a\": {\"\": 1}}", "a.: not a valid key name");
    //  Nothing of the refused files leaked in.
    cr_expect_eq (zm_config_get_int (config, "reactors", -1), 2);
    cr_expect_str_eq (zm_config_get_str (config, "log.level", NULL), "notice");
    zm_config_destroy (&config);
    s_temp_remove (good);
}

Test (config, range_and_enum_violations, .timeout = 10)
{
    zm_config_t *config = zm_config_new ();
    s_expect_refused (config, "{\"log\": {\"level\": \"loud\"}}",
                      "log.level: \"loud\" is not one of error, warning, notice, info, debug");
    s_expect_refused (config, "{\"reactors\": 0}", "reactors: 0 is out of range 1..64");
    s_expect_refused (config, "{\"reactors\": 65}", "reactors: 65 is out of range 1..64");
    s_expect_refused (config, "{\"config\": {\"reload_interval\": 5}}",
                      "config.reload_interval: 5 is below the minimum 10");
    s_expect_refused (config, "{\"actor\": {\"ask_timeout\": 0}}",
                      "actor.ask_timeout: 0 is below the minimum 1");
    s_expect_refused (config, "{\"node\": {\"shutdown_timeout\": -1}}",
                      "node.shutdown_timeout: -1 is below the minimum 0");
    //  The same checks on every layer.
    char *err = NULL;
    cr_expect_eq (zm_config_set (config, "reactors", "64", &err), 0);
    cr_expect_eq (zm_config_set (config, "reactors", "65", &err), ZM_ECONFIG);
    cr_expect (err && strstr (err, "reactors: 65 is out of range 1..64"), "%s", err);
    free (err);
    setenv ("ZM_LOG_LEVEL", "loud", 1);
    cr_expect_eq (zm_config_load_env (config, &err), ZM_ECONFIG);
    cr_expect (err && strstr (err, "ZM_LOG_LEVEL: log.level: \"loud\" is not one of"), "%s", err);
    free (err);
    //  Boundaries are allowed.
    cr_expect_eq (zm_config_set (config, "config.reload_interval", "10", NULL), 0);
    cr_expect_eq (zm_config_set (config, "node.shutdown_timeout", "0", NULL), 0);
    cr_expect_eq (zm_config_get_int (config, "reactors", -1), 64);
    cr_expect_str_eq (zm_config_get_str (config, "log.level", NULL), "notice");
    zm_config_destroy (&config);
}

//  --------------------------------------------------------------------------
//  Environment and argv

Test (config, env_name_mapping, .timeout = 10)
{
    setenv ("ZM_ACTOR_ASK_TIMEOUT", "700", 1);
    setenv ("ZM_NODE_SHUTDOWN_TIMEOUT", "0", 1);
    setenv ("ZM_CONFIG_RELOAD_INTERVAL", "100", 1);
    setenv ("ZM_FOO_BAR_BAZ", "fb", 1);
    setenv ("ZM_", "ignored", 1);
    setenv ("ZM__WEIRD", "ignored", 1);
    setenv ("NOT_ZM_REACTORS", "9", 1);
    zm_config_t *config = zm_config_new ();
    char *err = NULL;
    cr_assert_eq (zm_config_load_env (config, &err), 0, "%s", err);
    cr_expect_eq (zm_config_get_int (config, "actor.ask_timeout", -1), 700);
    cr_expect_eq (zm_config_get_int (config, "node.shutdown_timeout", -1), 0);
    cr_expect_eq (zm_config_get_int (config, "config.reload_interval", -1), 100);
    cr_expect_str_eq (zm_config_get_str (config, "foo.bar.baz", NULL), "fb");
    cr_expect_not (zm_config_has (config, "actor.ask.timeout"));
    cr_expect_eq (zm_config_get_int (config, "reactors", -1), 1);
    //  An application key defined afterwards gets its exact name too.
    setenv ("ZM_APP_MAX_ITEMS", "12", 1);
    cr_assert_eq (zm_config_load_env (config, &err), 0, "%s", err);
    cr_expect_str_eq (zm_config_get_str (config, "app.max.items", "no"), "12");
    cr_assert_eq (zm_config_define (config, "app.max_items", ZM_CONFIG_INT, "5", "max"), 0);
    cr_expect_eq (zm_config_get_int (config, "app.max_items", -1), 12);
    cr_expect_not (zm_config_has (config, "app.max.items"));
    zm_config_destroy (&config);
}

Test (config, env_bad_value_keeps_previous, .timeout = 10)
{
    zm_config_t *config = zm_config_new ();
    setenv ("ZM_REACTORS", "4", 1);
    cr_assert_eq (zm_config_load_env (config, NULL), 0);
    setenv ("ZM_REACTORS", "two", 1);
    setenv ("ZM_LOG_IDENT", "new", 1);
    char *err = NULL;
    cr_expect_eq (zm_config_load_env (config, &err), ZM_ECONFIG);
    cr_expect (err && strstr (err, "ZM_REACTORS: reactors: \"two\" is not an integer"), "%s",
               err);
    free (err);
    cr_expect_eq (zm_config_get_int (config, "reactors", -1), 4);
    cr_expect_str_eq (zm_config_get_str (config, "log.ident", NULL), "zmicro");
    //  ZM_CONFIG names the file; ZM_CONFIG_FILE wins when both are set.
    setenv ("ZM_REACTORS", "4", 1);
    setenv ("ZM_CONFIG", "/a.json", 1);
    cr_expect_eq (zm_config_load_env (config, NULL), 0);
    cr_expect_str_eq (zm_config_get_str (config, "config.file", NULL), "/a.json");
    setenv ("ZM_CONFIG_FILE", "/b.json", 1);
    cr_expect_eq (zm_config_load_env (config, NULL), 0);
    cr_expect_str_eq (zm_config_get_str (config, "config.file", NULL), "/b.json");
    zm_config_destroy (&config);
}

//  load_args must fail with ZM_ECONFIG and `want` in the message.
static void
s_expect_bad_args (int argc, char **argv, const char *want)
{
    zm_config_t *config = zm_config_new ();
    char *err = NULL;
    cr_expect_eq (zm_config_load_args (config, argc, argv, &err), ZM_ECONFIG, "argv[1] %s",
                  argc > 1 ? argv[1] : "");
    cr_expect (err && strstr (err, want), "want \"%s\", got \"%s\"", want, err ? err : "(null)");
    free (err);
    //  Nothing of a refused argv is applied.
    cr_expect_eq (zm_config_get_int (config, "reactors", -1), 1);
    zm_config_destroy (&config);
}

Test (config, argv_edge_cases, .timeout = 10)
{
    zm_config_t *config = zm_config_new ();
    char *err = NULL;
    cr_expect_eq (zm_config_load_args (config, 0, NULL, &err), 0);
    cr_expect_eq (zm_config_load_args (config, 3, NULL, &err), 0);
    char *only_prog[] = {"prog", NULL};
    cr_expect_eq (zm_config_load_args (config, 1, only_prog, &err), 0);
    //  argc larger than the NULL-terminated argv: stops at NULL.
    cr_expect_eq (zm_config_load_args (config, 5, only_prog, &err), 0);
    //  "--" ends the flags.
    char *dashes[] = {"prog", "--", "--reactors=9", NULL};
    cr_expect_eq (zm_config_load_args (config, 3, dashes, &err), 0);
    cr_expect_eq (zm_config_get_int (config, "reactors", -1), 1);
    //  Bare bool flag is true; a bool literal after it is its value; anything
    //  else after it is left alone.
    char *bools[] = {"prog", "--log.syslog", "file.txt", NULL};
    cr_expect_eq (zm_config_load_args (config, 3, bools, &err), 0);
    cr_expect_eq (zm_config_get_bool (config, "log.syslog", false), true);
    char *bools2[] = {"prog", "--log.syslog", "off", NULL};
    cr_expect_eq (zm_config_load_args (config, 3, bools2, &err), 0);
    cr_expect_eq (zm_config_get_bool (config, "log.syslog", true), false);
    //  Separate value, value with '=', empty value for a string key.
    char *values[] = {"prog", "--reactors", "6", "--log.ident=", "-x", "pos", NULL};
    cr_expect_eq (zm_config_load_args (config, 6, values, &err), 0, "%s", err);
    cr_expect_eq (zm_config_get_int (config, "reactors", -1), 6);
    cr_expect_str_eq (zm_config_get_str (config, "log.ident", NULL), "");
    //  A value may itself start with a single dash.
    char *negative[] = {"prog", "--app.offset", "-5", NULL};
    cr_expect_eq (zm_config_load_args (config, 3, negative, &err), 0);
    cr_expect_eq (zm_config_get_int (config, "app.offset", 0), -5);
    zm_config_destroy (&config);

    char *empty_name[] = {"prog", "--=x", NULL};
    s_expect_bad_args (2, empty_name, "--=x: not a valid flag");
    char *triple[] = {"prog", "---x=1", NULL};
    s_expect_bad_args (2, triple, "not a valid flag");
    char *missing[] = {"prog", "--reactors", NULL};
    s_expect_bad_args (2, missing, "--reactors: missing value");
    char *missing2[] = {"prog", "--app.name", "--reactors=3", NULL};
    s_expect_bad_args (3, missing2, "--app.name: missing value");
    char *missing_config[] = {"prog", "--config", NULL};
    s_expect_bad_args (2, missing_config, "--config: missing value");
    char *bad_value[] = {"prog", "--reactors=3", "--actor.ask_timeout=soon", NULL};
    s_expect_bad_args (3, bad_value, "--actor.ask_timeout: \"soon\" is not an integer");
    char *bad_int[] = {"prog", "--reactors", "3x", NULL};
    s_expect_bad_args (3, bad_int, "--reactors: \"3x\" is not an integer");
}

Test (config, load_reports_errors, .timeout = 10)
{
    char *err = NULL;
    zm_config_t *config = zm_config_load (0, NULL, &err);
    cr_assert (config);
    cr_expect_null (err);
    zm_config_destroy (&config);
    char *argv[] = {"prog", "--log.level=loud", NULL};
    config = zm_config_load (2, argv, &err);
    cr_expect_null (config);
    cr_expect (err && strstr (err, "log.level"), "%s", err);
    free (err);
    //  No err_p: no crash, no leak.
    cr_expect_null (zm_config_load (2, argv, NULL));
}

//  --------------------------------------------------------------------------
//  Definitions

Test (config, define_application_keys, .timeout = 10)
{
    zm_config_t *config = zm_config_new ();
    cr_expect_eq (zm_config_define (config, "app.rate", ZM_CONFIG_FLOAT, "0.5", "rate"), 0);
    cr_expect_float_eq (zm_config_get_float (config, "app.rate", 0), 0.5, 1e-12);
    cr_expect_eq (zm_config_define (config, "app.rate", ZM_CONFIG_INT, "1", "x"), ZM_ECONFLICT);
    cr_expect_eq (zm_config_define (config, "app.rate", ZM_CONFIG_FLOAT, "0.75", "x"), 0);
    cr_expect_float_eq (zm_config_get_float (config, "app.rate", 0), 0.75, 1e-12);
    cr_expect_eq (zm_config_define (config, "app.n", ZM_CONFIG_INT, "many", "x"), ZM_EINVAL);
    cr_expect_eq (zm_config_define (config, "app.b", ZM_CONFIG_BOOL, "maybe", "x"), ZM_EINVAL);
    cr_expect_eq (zm_config_define (config, "", ZM_CONFIG_STR, "", "x"), ZM_EINVAL);
    cr_expect_eq (zm_config_define (config, "a..b", ZM_CONFIG_STR, "", "x"), ZM_EINVAL);
    cr_expect_eq (zm_config_define (config, NULL, ZM_CONFIG_STR, "", "x"), ZM_EINVAL);
    cr_expect_not (zm_config_has (config, "app.n"));
    //  A runtime key redefined keeps its checks.
    cr_expect_eq (zm_config_define (config, "reactors", ZM_CONFIG_INT, "100", "x"), ZM_EINVAL);
    cr_expect_eq (zm_config_define (config, "reactors", ZM_CONFIG_INT, "2", "Reactors"), 0);
    cr_expect_eq (zm_config_get_int (config, "reactors", -1), 2);
    //  A defined float refuses text, in the file too.
    s_expect_refused (config, "{\"app\": {\"rate\": \"fast\"}}",
                      "app.rate: expected a number, got a string");
    cr_expect_eq (zm_config_set (config, "app.rate", "1e-3", NULL), 0);
    cr_expect_float_eq (zm_config_get_float (config, "app.rate", 0), 0.001, 1e-12);
    //  A value loaded before the key was defined that does not fit is dropped.
    cr_expect_eq (zm_config_set (config, "app.flag", "sometimes", NULL), 0);
    cr_expect_eq (zm_config_define (config, "app.flag", ZM_CONFIG_BOOL, "true", "flag"), 0);
    cr_expect_eq (zm_config_get_bool (config, "app.flag", false), true);
    cr_expect_str_eq (zm_config_get_str (config, "app.flag", NULL), "true");
    zm_config_destroy (&config);
}

Test (config, runtime_defaults_pass_their_own_checks, .timeout = 10)
{
    //  Feeding every default back through zm_config_set proves the table
    //  is consistent (a default out of its own range would be refused).
    zm_config_t *config = zm_config_new ();
    char *dump = zm_config_dump (config);
    cr_assert (dump);
    int lines = 0;
    for (char *line = strtok (dump, "\n"); line; line = strtok (NULL, "\n")) {
        zm_msg_t *msg = NULL;
        cr_assert_eq (zm_msg_decode (ZM_CT_JSON, line, strlen (line), &msg, NULL), 0, "%s", line);
        const char *key = zm_msg_get_str (msg, "key", NULL);
        cr_assert (key);
        const char *text = zm_config_get_str (config, key, NULL);
        char *err = NULL;
        cr_expect_eq (zm_config_set (config, key, text, &err), 0, "%s: %s", key, err);
        free (err);
        zm_msg_destroy (&msg);
        lines++;
    }
    cr_expect_eq (lines, 49); //  every runtime key
    free (dump);
    zm_config_destroy (&config);
}

//  --------------------------------------------------------------------------
//  Dump and docs

Test (config, dump_is_json_lines, .timeout = 10)
{
    zm_config_t *config = zm_config_new ();
    cr_assert_eq (zm_config_set (config, "reactors", "4", NULL), 0);
    cr_assert_eq (zm_config_set (config, "app.note", "say \"hi\"\n", NULL), 0);
    char *dump = zm_config_dump (config);
    cr_assert (dump);
    int lines = 0;
    bool saw_reactors = false, saw_note = false, saw_syslog = false;
    for (char *line = strtok (dump, "\n"); line; line = strtok (NULL, "\n")) {
        zm_msg_t *msg = NULL;
        cr_assert_eq (zm_msg_decode (ZM_CT_JSON, line, strlen (line), &msg, NULL), 0, "%s", line);
        const char *key = zm_msg_get_str (msg, "key", "");
        if (strcmp (key, "reactors") == 0) {
            saw_reactors = true;
            cr_expect_eq (zm_msg_get_int (msg, "value", -1), 4);
            cr_expect_str_eq (zm_msg_get_str (msg, "type", ""), "int");
            cr_expect_str_eq (zm_msg_get_str (msg, "layer", ""), "flags");
            cr_expect (strlen (zm_msg_get_str (msg, "description", "")) > 10);
        }
        if (strcmp (key, "app.note") == 0) {
            saw_note = true;
            cr_expect_str_eq (zm_msg_get_str (msg, "value", ""), "say \"hi\"\n");
        }
        if (strcmp (key, "log.syslog") == 0) {
            saw_syslog = true;
            cr_expect_eq (zm_msg_get_bool (msg, "value", true), false);
            cr_expect_str_eq (zm_msg_get_str (msg, "layer", ""), "default");
        }
        zm_msg_destroy (&msg);
        lines++;
    }
    cr_expect_eq (lines, 50); //  every runtime key and the application one
    cr_expect (saw_reactors && saw_note && saw_syslog);
    free (dump);
    zm_config_destroy (&config);
}

Test (config, docs_table_matches_key_table, .timeout = 10)
{
    //  docs/config.md carries the table zm_config_describe renders from the
    //  key table in zm_config.c; this keeps them from drifting apart.
    zm_config_t *config = zm_config_new ();
    char *table = zm_config_describe (config);
    cr_assert (table);
    const char *candidates[] = {"docs/config.md", "../docs/config.md", "../../docs/config.md",
                                "../../../docs/config.md"};
    FILE *file = NULL;
    for (size_t i = 0; !file && i < sizeof (candidates) / sizeof (candidates[0]); i++)
        file = fopen (candidates[i], "r");
    cr_assert (file, "docs/config.md not found: run the tests from the source tree");
    char *doc = calloc (1, 1 << 20);
    size_t size = fread (doc, 1, (1 << 20) - 1, file);
    fclose (file);
    doc[size] = 0;
    cr_expect (strstr (doc, table), "docs/config.md must contain this table:\n%s", table);
    free (doc);
    free (table);
    zm_config_destroy (&config);
}

//  --------------------------------------------------------------------------
//  Watchers and hot reload

static void
s_count_calls (zm_config_t *config, const char *const *keys, size_t count, void *arg)
{
    (*(int *) arg)++;
}

Test (config, watchers_see_changed_keys_once, .timeout = 10)
{
    char *path = s_temp_file ("{\"reactors\": 2, \"app\": {\"a\": 1, \"b\": 2}}");
    zm_config_t *config = s_config_with (path);
    s_seen_t seen;
    s_seen_init (&seen, "app.a");
    int counted = 0;
    cr_assert_eq (zm_config_watch (config, s_on_change, &seen), 0);
    cr_assert_eq (zm_config_watch (config, s_count_calls, &counted), 0);
    //  reactors: 2 -> 2 (same), app.a: 1 -> 10, app.b removed, app.c added.
    s_rewrite_inplace (path, "{\"reactors\": 2, \"app\": {\"a\": 10, \"c\": 3}}");
    char *err = NULL;
    cr_assert_eq (zm_config_reload (config, &err), 0, "%s", err);
    cr_expect_eq (s_calls (&seen), 1);
    cr_expect_eq (seen.count, 3);
    cr_expect_str_eq (seen.keys, "app.a app.b app.c ");
    cr_expect_str_eq (seen.value, "10");
    //  No change: no call.
    cr_assert_eq (zm_config_reload (config, &err), 0);
    cr_expect_eq (s_calls (&seen), 1);
    //  A higher layer hides a file change: no call either.
    cr_assert_eq (zm_config_set (config, "reactors", "5", NULL), 0);
    cr_expect_eq (s_calls (&seen), 2);
    cr_expect_str_eq (seen.keys, "reactors ");
    s_rewrite_inplace (path, "{\"reactors\": 3, \"app\": {\"a\": 10, \"c\": 3}}");
    cr_assert_eq (zm_config_reload (config, &err), 0);
    cr_expect_eq (s_calls (&seen), 2);
    cr_expect_eq (counted, 2);
    //  Unwatch.
    cr_expect_eq (zm_config_unwatch (config, s_count_calls, &counted), 0);
    cr_expect_eq (zm_config_unwatch (config, s_count_calls, &counted), ZM_ENOTFOUND);
    cr_assert_eq (zm_config_set (config, "app.a", "11", NULL), 0);
    cr_expect_eq (counted, 2);
    cr_expect_eq (s_calls (&seen), 3);
    zm_config_destroy (&config);
    s_temp_remove (path);
}

Test (config, reload_without_file, .timeout = 10)
{
    zm_config_t *config = zm_config_new ();
    char *err = NULL;
    cr_expect_eq (zm_config_reload (config, &err), ZM_EINVAL);
    free (err);
    cr_expect_eq (zm_config_start_watcher (config, 0), ZM_EINVAL);
    cr_expect_eq (zm_config_start_watcher (config, -1), ZM_EINVAL);
    zm_config_destroy (&config);
}

//  Start watching path at interval_ms, rewrite it with `text` through
//  `rewrite`, and return the measured latency until the watcher saw
//  app.value == want.
static int64_t
s_hot_reload (const char *path, int interval_ms, void (*rewrite) (const char *, const char *),
              const char *text, const char *want)
{
    s_seen_t seen;
    zm_config_t *config = s_watched (path, interval_ms, &seen);
    int64_t start = s_now_ms ();
    rewrite (path, text);
    cr_assert (s_wait_calls (&seen, 0, 2000), "watcher not called within 2 s");
    int64_t latency = seen.at_ms - start;
    cr_expect_str_eq (seen.keys, "app.value ");
    cr_expect_str_eq (seen.value, want);
    cr_expect_str_eq (zm_config_get_str (config, "app.value", NULL), want);
    cr_expect_lt (latency, 1000, "reload took %" PRId64 " ms", latency);
    zm_config_destroy (&config);
    return latency;
}

Test (config, hot_reload_rename, .timeout = 10)
{
    char *path = s_temp_file ("{\"app\": {\"value\": \"one\"}}");
    int64_t latency = s_hot_reload (path, 0, s_rewrite_rename, "{\"app\": {\"value\": \"two\"}}",
                                    "two");
    fprintf (stderr, "hot reload (rename, default 250 ms interval): %" PRId64 " ms\n", latency);
    s_temp_remove (path);
}

Test (config, hot_reload_in_place, .timeout = 10)
{
    char *path = s_temp_file ("{\"app\": {\"value\": \"one\"}}");
    int64_t latency = s_hot_reload (path, 0, s_rewrite_inplace,
                                    "{\"app\": {\"value\": \"three\"}}", "three");
    fprintf (stderr, "hot reload (in place, default 250 ms interval): %" PRId64 " ms\n", latency);
    //  Same size, same second: content is compared, not just mtime and size.
    s_seen_t seen;
    zm_config_t *config = s_watched (path, 20, &seen);
    s_rewrite_inplace (path, "{\"app\": {\"value\": \"thre3\"}}");
    cr_assert (s_wait_calls (&seen, 0, 2000), "same-size rewrite not seen");
    cr_expect_str_eq (seen.value, "thre3");
    zm_config_destroy (&config);
    s_temp_remove (path);
}

//  After a bad change to the file: the watcher is not called within ten
//  poll intervals, app.value is still `value`, and an explicit reload
//  returns rc with `want` in the message.
static void
s_expect_kept (zm_config_t *config, s_seen_t *seen, const char *value, int rc, const char *want)
{
    cr_expect_not (s_wait_calls (seen, 0, 200), "watcher called after a bad change");
    cr_expect_str_eq (zm_config_get_str (config, "app.value", NULL), value);
    char *err = NULL;
    cr_expect_eq (zm_config_reload (config, &err), rc);
    cr_expect (err && strstr (err, want), "want \"%s\", got \"%s\"", want, err ? err : "");
    free (err);
}

Test (config, hot_reload_bad_file_keeps_last_good, .timeout = 10)
{
    char *path = s_temp_file ("{\"app\": {\"value\": \"good\"}, \"reactors\": 2}");
    s_seen_t seen;
    zm_config_t *config = s_watched (path, 20, &seen);
    s_rewrite_rename (path, "{\"app\": {\"value\": \"bad\"}, \"reactors\": \"two\"}");
    s_expect_kept (config, &seen, "good", ZM_ECONFIG, "reactors: expected an integer");
    cr_expect_eq (zm_config_get_int (config, "reactors", -1), 2);
    s_rewrite_rename (path, "{\"app\": {\"value\": \"fixed\"}, \"reactors\": 2}");
    cr_assert (s_wait_calls (&seen, 0, 2000), "fixed file not picked up");
    cr_expect_str_eq (seen.keys, "app.value ");
    cr_expect_str_eq (seen.value, "fixed");
    zm_config_destroy (&config);
    s_temp_remove (path);
}

Test (config, hot_reload_deleted_then_restored, .timeout = 10)
{
    char *path = s_temp_file ("{\"app\": {\"value\": \"v1\"}}");
    s_seen_t seen;
    zm_config_t *config = s_watched (path, 20, &seen);
    cr_assert_eq (unlink (path), 0);
    s_expect_kept (config, &seen, "v1", ZM_EIO, path);
    //  Restored as it was: nothing changed in effect, no call.
    s_rewrite_rename (path, "{\"app\": {\"value\": \"v1\"}}");
    cr_expect_not (s_wait_calls (&seen, 0, 200), "watcher called for an unchanged restore");
    s_rewrite_rename (path, "{\"app\": {\"value\": \"v2\"}}");
    cr_assert (s_wait_calls (&seen, 0, 2000), "restored file not picked up");
    cr_expect_str_eq (seen.value, "v2");
    zm_config_destroy (&config);
    s_temp_remove (path);
}

Test (config, watcher_follows_reload_interval, .timeout = 10)
{
    //  The file itself slows the watcher down: the new interval applies live.
    char *path = s_temp_file ("{\"app\": {\"value\": \"a\"}}");
    s_seen_t seen;
    zm_config_t *config = s_watched (path, 0, &seen);
    s_rewrite_rename (path, "{\"app\": {\"value\": \"b\"}, \"config\": {\"reload_interval\": 1500}}");
    cr_assert (s_wait_calls (&seen, 0, 2000));
    //  One more poll at 250 ms may still be pending; after that, 1.5 s.
    usleep (400 * 1000);
    int calls = s_calls (&seen);
    s_rewrite_rename (path, "{\"app\": {\"value\": \"c\"}, \"config\": {\"reload_interval\": 1500}}");
    int64_t start = s_now_ms ();
    cr_assert (s_wait_calls (&seen, calls, 3000));
    int64_t took = s_now_ms () - start;
    cr_expect_gt (took, 600, "picked up in %" PRId64 " ms: interval not followed", took);
    zm_config_destroy (&config);
    s_temp_remove (path);
}

Test (config, strings_stay_valid_across_reloads, .timeout = 10)
{
    char *path = s_temp_file ("{\"app\": {\"value\": \"first-value\"}}");
    zm_config_t *config = s_config_with (path);
    const char *first = zm_config_get_str (config, "app.value", NULL);
    const char *level = zm_config_get_str (config, "log.level", NULL);
    cr_assert (first);
    char name[64];
    for (int i = 0; i < 50; i++) {
        char text[128];
        snprintf (text, sizeof (text), "{\"app\": {\"value\": \"value-%d\"}, \"log.level\": \"%s\"}",
                  i, i % 2 ? "debug" : "info");
        s_rewrite_inplace (path, text);
        cr_assert_eq (zm_config_reload (config, NULL), 0);
        snprintf (name, sizeof (name), "value-%d", i);
        cr_expect_str_eq (zm_config_get_str (config, "app.value", NULL), name);
    }
    s_rewrite_inplace (path, "{}");
    cr_assert_eq (zm_config_reload (config, NULL), 0);
    cr_expect_not (zm_config_has (config, "app.value"));
    //  Read through the old pointers: ASan would flag a use after free.
    cr_expect_str_eq (first, "first-value");
    cr_expect_str_eq (level, "notice");
    zm_config_destroy (&config);
    s_temp_remove (path);
}

//  Readers on other threads while the main thread keeps changing values.
static void *
s_reader (void *arg)
{
    zm_config_t *config = (zm_config_t *) arg;
    int64_t sum = 0;
    for (int i = 0; i < 20000; i++) {
        const char *value = zm_config_get_str (config, "app.value", "");
        sum += (int64_t) strlen (value) + zm_config_get_int (config, "reactors", 0);
    }
    return (void *) (intptr_t) (sum > 0);
}

Test (config, getters_from_many_threads, .timeout = 10)
{
    zm_config_t *config = zm_config_new ();
    pthread_t threads[4];
    for (int i = 0; i < 4; i++)
        cr_assert_eq (pthread_create (&threads[i], NULL, s_reader, config), 0);
    for (int i = 0; i < 2000; i++) {
        char value[32];
        snprintf (value, sizeof (value), "v%d", i);
        cr_assert_eq (zm_config_set (config, "app.value", value, NULL), 0);
        snprintf (value, sizeof (value), "%d", 1 + i % 64);
        cr_assert_eq (zm_config_set (config, "reactors", value, NULL), 0);
    }
    for (int i = 0; i < 4; i++) {
        void *result = NULL;
        pthread_join (threads[i], &result);
        cr_expect (result);
    }
    cr_expect_str_eq (zm_config_get_str (config, "app.value", NULL), "v1999");
    zm_config_destroy (&config);
}

//  A watcher that changes the config from inside its own call.
static void
s_reentrant (zm_config_t *config, const char *const *keys, size_t count, void *arg)
{
    int *calls = (int *) arg;
    (*calls)++;
    if (strcmp (keys[0], "app.trigger") == 0)
        zm_config_set (config, "app.echo", zm_config_get_str (config, "app.trigger", ""), NULL);
}

Test (config, watcher_may_set_from_inside, .timeout = 10)
{
    zm_config_t *config = zm_config_new ();
    int calls = 0;
    cr_assert_eq (zm_config_watch (config, s_reentrant, &calls), 0);
    cr_assert_eq (zm_config_set (config, "app.trigger", "ping", NULL), 0);
    cr_expect_str_eq (zm_config_get_str (config, "app.echo", NULL), "ping");
    cr_expect_eq (calls, 2);
    zm_config_destroy (&config);
}
