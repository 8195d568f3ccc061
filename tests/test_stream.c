/*  Streams across processes: each test starts real stream_node processes
    (tests/helpers/stream_node.c) and opens streams to them from this
    process, or from stream_client processes (tests/helpers/stream_client.c).
*/
#include "support.h"
#include <pthread.h>
#include <stdatomic.h>
#include <czmq.h>
#include "zmicro.h"

static zt_proc_t
s_start (const char *name, const char *extra)
{
    char path[4200], name_flag[256];
    snprintf (path, sizeof path, "%s/tests/helpers/stream_node", zt_build_dir ());
    snprintf (name_flag, sizeof name_flag, "--node.name=%s", name);
    const char *argv[] = {path, name_flag, "--log.level=warning", extra, NULL};
    zt_proc_t peer = zt_spawn (argv, NULL);
    cr_assert (peer.pid > 0, "cannot start %s", path);
    cr_assert (zt_ready (&peer, 10000) > 0, "%s did not start", name);
    return peer;
}

static zm_node_t *
s_client_node (void)
{
    zm_config_t *config = zm_config_new ();
    zm_config_set (config, "auth.keys", ":memory:", NULL);
    zm_config_set (config, "registry.beacon", "false", NULL);
    zm_config_set (config, "log.level", "error", NULL);
    zm_node_t *node = zm_node_new (&config);
    cr_assert_not_null (node);
    return node;
}

static zm_stream_t *
s_open (zm_node_t *node, zt_proc_t *server, const char *endpoint, zm_msg_t *open, int timeout_ms)
{
    zm_stream_opts_t opts = ZM_STREAM_OPTS_DEFAULT;
    opts.call.address = server->address;
    opts.call.timeout_ms = timeout_ms;
    zm_error_t *error = NULL;
    zm_stream_t *stream = zm_stream_open (node, "streams", endpoint, &open, &error, &opts);
    cr_assert_not_null (stream, "open %s: %s", endpoint, error ? zm_error_detail (error) : "?");
    return stream;
}

//  Wait for the server's line starting with prefix; returns the rest
static char *
s_expect (zt_proc_t *server, const char *prefix, int timeout_ms)
{
    static char line[512];
    int64_t until = zt_clock () + timeout_ms;
    while (zt_clock () < until)
        if (zt_read_line (server, line, sizeof line, (int) (until - zt_clock ()))
            && strncmp (line, prefix, strlen (prefix)) == 0)
            return line + strlen (prefix);
    cr_assert_fail ("no '%s' from the server in %d ms", prefix, timeout_ms);
    return NULL;
}

//  The receiving half of an echo: a thread
typedef struct {
    zm_stream_t *stream;
    int64_t want, got, bad;
    int end_rc;
} s_reader_t;

static void *
s_reader (void *arg)
{
    s_reader_t *reader = (s_reader_t *) arg;
    while (true) {
        zm_msg_t *msg = NULL;
        int rc = zm_stream_recv (reader->stream, &msg, 10000);
        if (rc) {
            reader->end_rc = rc;
            break;
        }
        if (zm_msg_get_int (msg, "seq", -1) != reader->got)
            reader->bad++;
        reader->got++;
        zm_msg_destroy (&msg);
    }
    return NULL;
}

Test (stream, echo_100000_messages_both_ways_at_once, .timeout = 120)
{
    zt_proc_t server = s_start ("echo", NULL);
    zm_node_t *node = s_client_node ();
    zm_stream_t *stream = s_open (node, &server, "Echo", NULL, 100000);
    s_reader_t reader = {stream, 100000, 0, 0, 0};
    pthread_t thread;
    pthread_create (&thread, NULL, s_reader, &reader);
    for (int64_t i = 0; i < 100000; i++) {
        zm_msg_t *msg = zm_msg_new ();
        zm_msg_set_int (msg, "seq", i);
        int rc = zm_stream_send (stream, &msg, 10000);
        cr_assert_eq (rc, 0, "send %" PRId64 ": %s", i, zm_strerror (rc));
        cr_assert_null (msg, "send takes the message");
    }
    cr_assert_eq (zm_stream_close_send (stream), 0);
    pthread_join (thread, NULL);
    cr_assert_eq (reader.got, 100000, "echoed back %" PRId64, reader.got);
    cr_assert_eq (reader.bad, 0, "%" PRId64 " out of order", reader.bad);
    cr_assert_eq (reader.end_rc, ZM_ECLOSED, "ends normally, got %s", zm_strerror (reader.end_rc));
    cr_assert_null (zm_stream_error (stream));
    cr_assert_str_eq (s_expect (&server, "EVENT Echo INPUT_END ", 5000), "100000",
                      "the server saw the client's close after every message");
    s_expect (&server, "EVENT Echo END", 5000);
    zm_stream_destroy (&stream);
    zm_node_destroy (&node);
    zt_kill (&server, SIGTERM);
}

//  A stream_client process
static zt_proc_t
s_client (const char *address, const char *mode, const char *count, const char *size,
          const char *every, const char *sleep_us)
{
    char path[4200];
    snprintf (path, sizeof path, "%s/tests/helpers/stream_client", zt_build_dir ());
    const char *argv[] = {path, address, mode, count, size, every, sleep_us, NULL};
    zt_proc_t client = zt_spawn (argv, NULL);
    cr_assert (client.pid > 0, "cannot start %s", path);
    return client;
}

static long
s_peak_rss_kb (pid_t pid)
{
    char path[64], line[256];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *file = fopen (path, "r");
    long kb = -1;
    while (file && fgets (line, sizeof line, file))
        if (sscanf (line, "VmHWM: %ld", &kb) == 1)
            break;
    if (file)
        fclose (file);
    return kb;
}

Test (stream, one_gib_through_a_slow_reader_keeps_both_sides_small, .timeout = 300)
{
    zt_proc_t server = s_start ("producer", NULL);
    long server_before = s_peak_rss_kb (server.pid);
    //  16,384 messages of 64 KiB; the reader sleeps 2 ms every 64 messages
    zt_proc_t client = s_client (server.address, "download", "16384", "65536", "64", "2000");
    char *line = s_expect (&client, "RESULT ", 280000);
    long messages = 0, bytes = 0, client_kb = 0;
    int rc = -1;
    cr_assert_eq (sscanf (line, "%ld %ld %d %ld", &messages, &bytes, &rc, &client_kb), 4, "%s",
                  line);
    long server_kb = s_peak_rss_kb (server.pid);
    cr_assert_eq (rc, ZM_ECLOSED, "ends normally: %s", zm_strerror (rc));
    cr_assert_eq (messages, 16384);
    cr_assert_eq (bytes, 16384L * 65536, "1 GiB arrived");
    //  A window of 128 messages of 64 KiB is 8 MiB each way: peaks stay far
    //  below the gibibyte that went through
    fprintf (stderr, "stream: 1 GiB through a slow reader: peak RSS client %ld KiB, server %ld "
             "KiB (server before %ld KiB)\n", client_kb, server_kb, server_before);
    long limit = 256 * 1024;
#if defined(__SANITIZE_ADDRESS__)
    limit += 256 * 1024; //  ASan keeps up to 256 MiB of freed memory in quarantine
#endif
    cr_assert_lt (client_kb, limit, "client peak %ld KiB", client_kb);
    cr_assert_lt (server_kb, limit, "server peak %ld KiB", server_kb);
    zt_kill (&client, SIGTERM);
    zt_kill (&server, SIGTERM);
}

Test (stream, server_sees_the_client_close_and_answers, .timeout = 60)
{
    zt_proc_t server = s_start ("counter", NULL);
    zm_node_t *node = s_client_node ();
    zm_stream_t *stream = s_open (node, &server, "Count", NULL, 30000);
    char data[1000] = {0};
    for (int i = 0; i < 5000; i++) {
        zm_msg_t *msg = zm_msg_new ();
        zm_msg_set_bin (msg, "data", data, sizeof data);
        cr_assert_eq (zm_stream_send (stream, &msg, 5000), 0);
    }
    cr_assert_eq (zm_stream_close_send (stream), 0);
    zm_msg_t *msg = zm_msg_new ();
    cr_assert_eq (zm_stream_send (stream, &msg, 0), ZM_ECLOSED, "no sending after the close");
    zm_msg_destroy (&msg);
    cr_assert_str_eq (s_expect (&server, "EVENT Count INPUT_END ", 5000), "5000");
    zm_msg_t *answer = NULL;
    cr_assert_eq (zm_stream_recv (stream, &answer, 5000), 0);
    cr_assert_eq (zm_msg_get_int (answer, "count", -1), 5000);
    cr_assert_eq (zm_msg_get_int (answer, "bytes", -1), 5000 * 1000);
    zm_msg_destroy (&answer);
    cr_assert_eq (zm_stream_recv (stream, &answer, 5000), ZM_ECLOSED);
    cr_assert (zm_stream_done (stream));
    zm_stream_destroy (&stream);
    zm_node_destroy (&node);
    zt_kill (&server, SIGTERM);
}

Test (stream, cancel_from_the_client_reaches_the_server, .timeout = 60)
{
    zt_proc_t server = s_start ("cancelled", NULL);
    zm_node_t *node = s_client_node ();
    zm_msg_t *open = zm_msg_new ();
    zm_msg_set_int (open, "count", 1000000);
    zm_stream_t *stream = s_open (node, &server, "Produce", open, 60000);
    zm_msg_t *msg = NULL;
    cr_assert_eq (zm_stream_recv (stream, &msg, 5000), 0);
    zm_msg_destroy (&msg);
    cr_assert_eq (zm_stream_cancel (stream), 0);
    cr_assert_eq (zm_stream_cancel (stream), ZM_ECLOSED, "once");
    cr_assert_eq (zm_stream_recv (stream, &msg, 0), ZM_ECANCELED);
    char *line = s_expect (&server, "EVENT Produce CANCEL ", 5000);
    cr_assert (strncmp (line, "499 ", 4) == 0, "server got: %s", line);
    //  The server freed it: the node still serves new streams
    zm_stream_destroy (&stream);
    stream = s_open (node, &server, "Count", NULL, 5000);
    cr_assert_eq (zm_stream_close_send (stream), 0);
    cr_assert_eq (zm_stream_recv (stream, &msg, 5000), 0);
    cr_assert_eq (zm_msg_get_int (msg, "count", -1), 0);
    zm_msg_destroy (&msg);
    zm_stream_destroy (&stream);
    //  Cancelled while messages pour in: nothing that arrives after the
    //  cancel is read (a message being decoded at that moment was once
    //  queued after it)
    for (int round = 0; round < 100; round++) {
        open = zm_msg_new ();
        zm_msg_set_int (open, "count", 1000000);
        stream = s_open (node, &server, "Produce", open, 60000);
        cr_assert_eq (zm_stream_recv (stream, &msg, 5000), 0, "round %d", round);
        zm_msg_destroy (&msg);
        cr_assert_eq (zm_stream_cancel (stream), 0);
        cr_assert_eq (zm_stream_recv (stream, &msg, 0), ZM_ECANCELED, "round %d", round);
        zm_stream_destroy (&stream);
    }
    zm_node_destroy (&node);
    zt_kill (&server, SIGTERM);
}

Test (stream, cancel_from_the_server_reaches_the_client, .timeout = 60)
{
    zt_proc_t server = s_start ("canceller", NULL);
    zm_node_t *node = s_client_node ();
    zm_msg_t *open = zm_msg_new ();
    zm_msg_set_int (open, "count", 1000);
    zm_msg_set_int (open, "after", 10);
    zm_stream_t *stream = s_open (node, &server, "Cancel", open, 60000);
    int got = 0, rc;
    zm_msg_t *msg = NULL;
    while ((rc = zm_stream_recv (stream, &msg, 5000)) == 0) {
        got++;
        zm_msg_destroy (&msg);
    }
    cr_assert_eq (rc, ZM_ECANCELED, "got %s", zm_strerror (rc));
    cr_assert_eq (got, 10, "what came before the cancel is read first");
    cr_assert_not_null (zm_stream_error (stream));
    cr_assert_eq (zm_error_code (zm_stream_error (stream)), 499);
    s_expect (&server, "EVENT Cancel CANCELLED_HERE", 5000);
    zm_stream_destroy (&stream);
    zm_node_destroy (&node);
    zt_kill (&server, SIGTERM);
}

Test (stream, deadline_ends_both_sides, .timeout = 60)
{
    zt_proc_t server = s_start ("hanging", NULL);
    zm_node_t *node = s_client_node ();
    int64_t start = zt_clock ();
    zm_stream_t *stream = s_open (node, &server, "Hang", NULL, 700);
    zm_msg_t *msg = NULL;
    int rc = zm_stream_recv (stream, &msg, 10000);
    int64_t took = zt_clock () - start;
    cr_assert_eq (rc, ZM_ETIMEOUT, "got %s", zm_strerror (rc));
    cr_assert_not_null (zm_stream_error (stream), "the stream failed, not just the wait");
    cr_assert_geq (took, 650);
    cr_assert_lt (took, 3000, "ended after %" PRId64 " ms", took);
    char *line = s_expect (&server, "EVENT Hang CANCEL ", 5000);
    cr_assert (strncmp (line, "408 ", 4) == 0, "server got: %s", line);
    zm_stream_destroy (&stream);
    zm_node_destroy (&node);
    zt_kill (&server, SIGTERM);
}

Test (stream, refused_open_and_wrong_kinds_of_endpoint, .timeout = 60)
{
    zt_proc_t server = s_start ("refuser", NULL);
    zm_node_t *node = s_client_node ();
    zm_stream_opts_t opts = ZM_STREAM_OPTS_DEFAULT;
    opts.call.address = server.address;
    zm_error_t *error = NULL;
    //  The handler refuses: its error, stream never opened
    zm_stream_t *stream = zm_stream_open (node, "streams", "Fail", NULL, &error, &opts);
    //  Fail accepts first (credit) then its handler errs: the first recv says why
    if (stream) {
        zm_msg_t *msg = NULL;
        cr_assert_eq (zm_stream_recv (stream, &msg, 5000), ZM_ECONFLICT);
        error = zm_error_dup (zm_stream_error (stream));
        zm_stream_destroy (&stream);
    }
    cr_assert_not_null (error);
    cr_assert_eq (zm_error_err (error), ZM_ECONFLICT);
    cr_assert_str_eq (zm_error_detail (error), "refused on purpose");
    cr_assert_str_eq (zm_error_id (error), "streams.Fail");
    zm_error_destroy (&error);
    //  No such endpoint; a plain call to a stream endpoint; a stream to a plain one
    cr_assert_null (zm_stream_open (node, "streams", "Nope", NULL, &error, &opts));
    cr_assert_eq (zm_error_err (error), ZM_ENOTFOUND);
    zm_error_destroy (&error);
    zm_call_opts_t call = ZM_CALL_OPTS_DEFAULT;
    call.address = server.address;
    cr_assert_eq (zm_call (node, "streams", "Echo", NULL, NULL, &error, &call), ZM_EINVAL);
    cr_assert (strstr (zm_error_detail (error), "is a stream"), "%s", zm_error_detail (error));
    zm_error_destroy (&error);
    cr_assert_null (zm_stream_open (node, "$node", "describe", NULL, &error, &opts));
    cr_assert_eq (zm_error_err (error), ZM_EINVAL);
    cr_assert (strstr (zm_error_detail (error), "not a stream"), "%s", zm_error_detail (error));
    zm_error_destroy (&error);
    zm_node_destroy (&node);
    zt_kill (&server, SIGTERM);
}

Test (stream, killed_server_ends_the_stream_with_a_clear_error, .timeout = 60)
{
    zt_proc_t server = s_start ("victim", NULL);
    zm_node_t *node = s_client_node ();
    zm_msg_t *open = zm_msg_new ();
    zm_msg_set_int (open, "count", 100000000);
    zm_stream_t *stream = s_open (node, &server, "Produce", open, 60000);
    zm_msg_t *msg = NULL;
    for (int i = 0; i < 100; i++) {
        cr_assert_eq (zm_stream_recv (stream, &msg, 5000), 0);
        zm_msg_destroy (&msg);
    }
    //  Stop reading, kill -9 the server, then drain what had arrived
    zt_kill (&server, SIGKILL);
    int64_t killed = zt_clock ();
    int rc;
    while ((rc = zm_stream_recv (stream, &msg, 10000)) == 0)
        zm_msg_destroy (&msg);
    int64_t took = zt_clock () - killed;
    cr_assert_eq (rc, ZM_EUNAVAIL, "got %s", zm_strerror (rc));
    cr_assert (strstr (zm_error_detail (zm_stream_error (stream)), "the server"), "%s",
               zm_error_detail (zm_stream_error (stream)));
    cr_assert_lt (took, 5000, "the client knew after %" PRId64 " ms", took);
    zm_stream_destroy (&stream);
    zm_node_destroy (&node);
}

Test (stream, killed_client_ends_the_stream_on_the_server, .timeout = 60)
{
    zt_proc_t server = s_start ("survivor", NULL);
    zt_proc_t client = s_client (server.address, "hang", NULL, NULL, NULL, NULL);
    s_expect (&client, "SENDING", 10000);
    zt_kill (&client, SIGKILL);
    char *line = s_expect (&server, "EVENT Hang CANCEL ", 5000);
    cr_assert (strncmp (line, "503 ", 4) == 0, "server got: %s", line);
    cr_assert (strstr (line, "the client"), "%s", line);
    zt_kill (&server, SIGTERM);
}

//  --------------------------------------------------------------------------
//  An actor as the client: events as messages

typedef struct {
    const char *address;
    atomic_int data, writable, ends, cancels;
    atomic_bool finished;
    zm_stream_t *stream;
} s_watcher_t;

static int
s_watcher_start (zm_ctx_t *ctx, zm_msg_t *msg)
{
    s_watcher_t *self = (s_watcher_t *) zm_ctx_state (ctx);
    zm_stream_opts_t opts = ZM_STREAM_OPTS_DEFAULT;
    opts.call.address = self->address;
    opts.window = 4;
    zm_msg_t *open = zm_msg_new ();
    zm_msg_set_int (open, "count", 1000);
    return zm_stream_open_async (ctx, "streams", "Produce", &open, "produced", &opts,
                                 &self->stream);
}

static int
s_watcher_event (zm_ctx_t *ctx, zm_msg_t *msg)
{
    s_watcher_t *self = (s_watcher_t *) zm_ctx_state (ctx);
    cr_assert_eq (zm_ctx_stream (ctx), self->stream, "events name their stream");
    switch (zm_ctx_stream_event (ctx)) {
    case ZM_STREAM_DATA:
        if (zm_msg_get_int (msg, "seq", -1) == atomic_load (&self->data))
            atomic_fetch_add (&self->data, 1);
        break;
    case ZM_STREAM_WRITABLE:
        atomic_fetch_add (&self->writable, 1);
        break;
    case ZM_STREAM_END:
        atomic_fetch_add (&self->ends, 1);
        atomic_store (&self->finished, true);
        break;
    case ZM_STREAM_CANCEL:
        atomic_fetch_add (&self->cancels, 1);
        atomic_store (&self->finished, true);
        break;
    default:
        break;
    }
    return 0;
}

static const zm_handler_t s_watcher_handlers[] = {
    {"start", s_watcher_start}, {"produced", s_watcher_event}, {NULL, NULL}};
static const zm_actor_def_t s_watcher = {.kind = "watcher", .handlers = s_watcher_handlers};

Test (stream, an_actor_gets_a_stream_as_messages, .timeout = 60)
{
    zt_proc_t server = s_start ("producer", NULL);
    zm_node_t *node = s_client_node ();
    s_watcher_t watcher = {.address = server.address};
    int err = 0;
    zm_pid_t pid = zm_spawn (node, NULL, &s_watcher, &watcher, -1, &err);
    cr_assert (pid);
    cr_assert_eq (zm_node_tell (node, pid, "start", NULL), 0);
    for (int i = 0; i < 1000 && !atomic_load (&watcher.finished); i++)
        zclock_sleep (10);
    cr_assert (atomic_load (&watcher.finished), "the stream ended");
    cr_assert_eq (atomic_load (&watcher.data), 1000, "every message, in order");
    cr_assert_eq (atomic_load (&watcher.ends), 1);
    cr_assert_eq (atomic_load (&watcher.cancels), 0);
    cr_assert_geq (atomic_load (&watcher.writable), 1, "accepted: writable");
    s_expect (&server, "EVENT Produce END", 5000);
    zm_node_destroy (&node);
    zt_kill (&server, SIGTERM);
}

//  --------------------------------------------------------------------------
//  Malformed stream frames from a raw socket

static zmsg_t *
s_raw_recv (zsock_t *sock, int timeout_ms)
{
    zpoller_t *poller = zpoller_new (sock, NULL);
    zmsg_t *msg = zpoller_wait (poller, timeout_ms) ? zmsg_recv (sock) : NULL;
    zpoller_destroy (&poller);
    return msg;
}

//  An ERROR for corr: its code and whether detail holds text
static void
s_raw_expect_error (zsock_t *sock, uint64_t corr, int code, const char *text)
{
    int64_t until = zt_clock () + 5000;
    while (zt_clock () < until) {
        zmsg_t *msg = s_raw_recv (sock, 1000);
        if (!msg)
            continue;
        zmsg_first (msg); //  "ZM" 1
        zframe_t *command = zmsg_next (msg);
        zframe_t *id = zmsg_next (msg);
        uint64_t got = 0;
        for (int i = 0; id && i < 8; i++)
            got = got << 8 | zframe_data (id)[i];
        if (command && zframe_data (command)[0] == 0x03 && got == corr) {
            zmsg_next (msg);
            zframe_t *body = zmsg_next (msg);
            zm_msg_t *map = NULL;
            cr_assert_eq (zm_msg_decode (ZM_CT_MSGPACK, zframe_data (body), zframe_size (body),
                                         &map, NULL),
                          0);
            cr_assert_eq (zm_msg_get_int (map, "code", 0), code, "%s",
                          zm_msg_get_str (map, "detail", ""));
            cr_assert (strstr (zm_msg_get_str (map, "detail", ""), text), "detail: %s",
                       zm_msg_get_str (map, "detail", ""));
            zm_msg_destroy (&map);
            zmsg_destroy (&msg);
            return;
        }
        zmsg_destroy (&msg);
    }
    cr_assert_fail ("no ERROR %d for corr %" PRIu64, code, corr);
}

static void
s_raw_send (zsock_t *sock, int command, uint64_t corr, const char *header_json, const void *body,
            size_t size)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, "ZM\x01", 3);
    uint8_t cmd = (uint8_t) command;
    zmsg_addmem (msg, &cmd, 1);
    uint8_t id[8];
    for (int i = 0; i < 8; i++)
        id[i] = (uint8_t) (corr >> (56 - 8 * i));
    zmsg_addmem (msg, id, 8);
    zm_msg_t *header = NULL;
    cr_assert_eq (zm_msg_decode (ZM_CT_JSON, header_json, strlen (header_json), &header, NULL), 0);
    void *packed = NULL;
    size_t packed_size = 0;
    cr_assert_eq (zm_msg_encode (header, ZM_CT_MSGPACK, &packed, &packed_size), 0);
    zmsg_addmem (msg, packed, packed_size);
    free (packed);
    zm_msg_destroy (&header);
    zmsg_addmem (msg, body, size);
    cr_assert_eq (zmsg_send (&msg, sock), 0);
}

static void
s_raw_data (zsock_t *sock, uint64_t corr, const char *version)
{
    uint8_t frame[13] = {'Z', 'M', (uint8_t) version[0], 0x11};
    for (int i = 0; i < 8; i++)
        frame[4 + i] = (uint8_t) (corr >> (56 - 8 * i));
    frame[12] = 0xc0; //  msgpack nil
    zsock_send (sock, "b", frame, sizeof frame);
}

Test (stream, malformed_stream_frames_get_their_answer, .timeout = 60)
{
    zt_proc_t server = s_start ("strict", "--stream.window=2");
    zsock_t *raw = zt_curve_socket (ZMQ_DEALER, server.address);
    cr_assert_not_null (raw);
    //  DATA, END, CREDIT for a stream nobody opened: 404
    s_raw_data (raw, 100, "\x01");
    s_raw_expect_error (raw, 100, 404, "no such stream");
    s_raw_send (raw, 0x12, 101, "{}", "", 0);
    s_raw_expect_error (raw, 101, 404, "no such stream");
    s_raw_send (raw, 0x14, 102, "{\"credit\":5}", "", 0);
    s_raw_expect_error (raw, 102, 404, "no such stream");
    //  A DATA of another version; a DATA in 5 frames; an OPEN without credit
    s_raw_data (raw, 103, "\x02");
    s_raw_expect_error (raw, 103, 400, "version");
    s_raw_send (raw, 0x11, 104, "{}", "", 0);
    s_raw_expect_error (raw, 104, 400, "1-frame form only");
    s_raw_send (raw, 0x10, 105, "{\"service\":\"streams\",\"endpoint\":\"Echo\",\"timeout\":5000}",
                "", 0);
    s_raw_expect_error (raw, 105, 400, "missing credit");
    s_raw_send (raw, 0x10, 106,
                "{\"service\":\"streams\",\"endpoint\":\"Echo\",\"timeout\":5000,\"credit\":0}", "",
                0);
    s_raw_expect_error (raw, 106, 400, "credit is 0");
    //  A short 1-frame message is dropped; the server goes on (next answer comes)
    zsock_send (raw, "b", "ZM\x01\x11\x00", 5);
    //  An open stream whose client sends past its credit: Echo (window 2)
    //  can echo one message on the client's one credit, pauses, and the
    //  fourth message is one too many
    s_raw_send (raw, 0x10, 107,
                "{\"service\":\"streams\",\"endpoint\":\"Echo\",\"timeout\":5000,\"credit\":1}", "",
                0);
    for (int i = 0; i < 10; i++)
        s_raw_data (raw, 107, "\x01");
    s_raw_expect_error (raw, 107, 400, "credit");
    char *line = s_expect (&server, "EVENT Echo CANCEL ", 5000);
    cr_assert (strstr (line, "credit"), "%s", line);
    zsock_destroy (&raw);
    zt_kill (&server, SIGTERM);
}

//  --------------------------------------------------------------------------
//  Instances are chosen as for calls

Test (stream, streams_spread_over_instances_and_skip_a_dead_one, .timeout = 90)
{
    zt_proc_t a = s_start ("a", NULL), b = s_start ("b", NULL);
    char peers[512];
    snprintf (peers, sizeof peers, "%s,%s", a.address, b.address);
    zm_config_t *config = zm_config_new ();
    zm_config_set (config, "auth.keys", ":memory:", NULL);
    zm_config_set (config, "registry.beacon", "false", NULL);
    zm_config_set (config, "log.level", "error", NULL);
    zm_config_set (config, "registry.peers", peers, NULL);
    zm_node_t *node = zm_node_new (&config);
    cr_assert_not_null (node);
    zm_stream_opts_t opts = ZM_STREAM_OPTS_DEFAULT;
    opts.call.selector = "round_robin";
    for (int i = 0; i < 4; i++) {
        zm_error_t *error = NULL;
        zm_stream_t *stream = zm_stream_open (node, "streams", "Count", NULL, &error, &opts);
        cr_assert_not_null (stream, "open: %s", error ? zm_error_detail (error) : "?");
        cr_assert_eq (zm_stream_close_send (stream), 0);
        zm_msg_t *msg = NULL;
        cr_assert_eq (zm_stream_recv (stream, &msg, 5000), 0);
        zm_msg_destroy (&msg);
        zm_stream_destroy (&stream);
    }
    //  Two streams each
    for (int i = 0; i < 2; i++) {
        s_expect (&a, "EVENT Count INPUT_END", 5000);
        s_expect (&b, "EVENT Count INPUT_END", 5000);
    }
    //  b dies: opens go to a (a retry when b is picked)
    zt_kill (&b, SIGKILL);
    for (int i = 0; i < 4; i++) {
        zm_error_t *error = NULL;
        zm_stream_t *stream = zm_stream_open (node, "streams", "Count", NULL, &error, &opts);
        cr_assert_not_null (stream, "open %d after the kill: %s", i,
                            error ? zm_error_detail (error) : "?");
        cr_assert_eq (zm_stream_close_send (stream), 0);
        zm_msg_t *msg = NULL;
        cr_assert_eq (zm_stream_recv (stream, &msg, 5000), 0);
        zm_msg_destroy (&msg);
        zm_stream_destroy (&stream);
        s_expect (&a, "EVENT Count INPUT_END", 5000);
    }
    zm_node_destroy (&node);
    zt_kill (&a, SIGTERM);
}

Test (stream, a_stream_over_before_its_opener_wakes_is_still_read, .timeout = 60)
{
    //  The server accepts, sends 3 and ends before zm_stream_open returns:
    //  the open is still a success and nothing is lost or opened twice
    zt_proc_t server = s_start ("short", NULL);
    zm_node_t *node = s_client_node ();
    for (int i = 0; i < 100; i++) {
        zm_msg_t *open = zm_msg_new ();
        zm_msg_set_int (open, "count", 3);
        zm_stream_t *stream = s_open (node, &server, "Produce", open, 5000);
        zm_msg_t *msg = NULL;
        for (int k = 0; k < 3; k++) {
            cr_assert_eq (zm_stream_recv (stream, &msg, 5000), 0, "round %d message %d", i, k);
            cr_assert_eq (zm_msg_get_int (msg, "seq", -1), k);
            zm_msg_destroy (&msg);
        }
        cr_assert_eq (zm_stream_recv (stream, &msg, 5000), ZM_ECLOSED);
        zm_stream_destroy (&stream);
        s_expect (&server, "EVENT Produce END", 5000);
    }
    //  Exactly 100 streams ran: no open was retried into a second run
    char line[256];
    cr_assert_not (zt_read_line (&server, line, sizeof line, 300), "one more: %s", line);
    zm_node_destroy (&node);
    zt_kill (&server, SIGTERM);
}

Test (stream, a_large_window_loses_nothing, .timeout = 120)
{
    //  The largest window both ways: every message arrives (a server's
    //  ROUTER drops past its high-water mark; credit must never get there)
    zt_proc_t server = s_start ("wide", "--stream.window=256");
    zm_node_t *node = s_client_node ();
    zm_stream_opts_t opts = ZM_STREAM_OPTS_DEFAULT;
    opts.call.address = server.address;
    opts.window = 256;
    zm_msg_t *open = zm_msg_new ();
    zm_msg_set_int (open, "count", 200000);
    zm_msg_set_int (open, "size", 1024);
    zm_error_t *error = NULL;
    zm_stream_t *stream = zm_stream_open (node, "streams", "Produce", &open, &error, &opts);
    cr_assert_not_null (stream, "%s", error ? zm_error_detail (error) : "?");
    opts.window = 257;
    cr_assert_null (zm_stream_open (node, "streams", "Produce", NULL, &error, &opts));
    cr_assert_eq (zm_error_err (error), ZM_EINVAL, "window 257 is refused");
    zm_error_destroy (&error);
    int64_t got = 0, bad = 0;
    zm_msg_t *msg = NULL;
    int rc;
    while ((rc = zm_stream_recv (stream, &msg, 10000)) == 0) {
        if (zm_msg_get_int (msg, "seq", -1) != got)
            bad++;
        got++;
        zm_msg_destroy (&msg);
    }
    cr_assert_eq (rc, ZM_ECLOSED, "%s", zm_strerror (rc));
    cr_assert_eq (got, 200000);
    cr_assert_eq (bad, 0);
    zm_stream_destroy (&stream);
    zm_node_destroy (&node);
    zt_kill (&server, SIGTERM);
}
