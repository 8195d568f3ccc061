/*  stream_client - opens one stream to a stream_node and reports, for
    tests that need the client in a process of its own (its memory, or
    killing it).

        stream_client ADDRESS download COUNT SIZE [EVERY SLEEP_US]
            Produce COUNT messages of SIZE bytes; sleeps SLEEP_US after every
            EVERY messages (a deliberately slow reader)
        stream_client ADDRESS upload COUNT SIZE
            sends COUNT messages of SIZE bytes to Count, closes, reads its
            answer
        stream_client ADDRESS hang
            opens Hang and sends a message every 10 ms until killed

    Prints "OPEN" once the stream is accepted, "RECEIVED <n>" every 1024
    messages, and at the end "RESULT <messages> <bytes> <rc> <peak RSS in
    KiB>".
*/
#include <czmq.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>
#include "zmicro.h"

static long
s_peak_rss_kb (void)
{
    FILE *file = fopen ("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (file && fgets (line, sizeof line, file))
        if (sscanf (line, "VmHWM: %ld", &kb) == 1)
            break;
    if (file)
        fclose (file);
    return kb;
}

int
main (int argc, char **argv)
{
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    if (argc < 3) {
        fprintf (stderr, "usage: stream_client ADDRESS download|upload|hang ...\n");
        return 2;
    }
    const char *mode = argv[2];
    int64_t count = argc > 3 ? atoll (argv[3]) : 0;
    int64_t size = argc > 4 ? atoll (argv[4]) : 0;
    int64_t every = argc > 5 ? atoll (argv[5]) : 0;
    int64_t sleep_us = argc > 6 ? atoll (argv[6]) : 0;
    zm_config_t *config = zm_config_new ();
    zm_config_set (config, "auth.keys", ":memory:", NULL);
    zm_config_set (config, "registry.beacon", "false", NULL);
    zm_config_set (config, "log.level", "error", NULL);
    zm_node_t *node = zm_node_new (&config);
    if (!node)
        return 1;
    zm_stream_opts_t opts = ZM_STREAM_OPTS_DEFAULT;
    opts.call.address = argv[1];
    opts.call.timeout_ms = 600000;
    zm_msg_t *open = zm_msg_new ();
    zm_msg_set_int (open, "count", count);
    zm_msg_set_int (open, "size", size);
    const char *endpoint = streq (mode, "download") ? "Produce"
                           : streq (mode, "upload") ? "Count"
                                                    : "Hang";
    zm_error_t *error = NULL;
    zm_stream_t *stream = zm_stream_open (node, "streams", endpoint, &open, &error, &opts);
    if (!stream) {
        printf ("RESULT 0 0 %d %ld %s\n", zm_error_err (error), s_peak_rss_kb (),
                zm_error_detail (error));
        zm_error_destroy (&error);
        zm_node_destroy (&node);
        return 1;
    }
    printf ("OPEN\n");
    fflush (stdout);
    int64_t messages = 0, bytes = 0;
    int rc = 0;
    if (streq (mode, "download")) {
        while (true) {
            zm_msg_t *msg = NULL;
            rc = zm_stream_recv (stream, &msg, -1);
            if (rc)
                break;
            size_t got = 0;
            zm_msg_get_bin (msg, "data", &got);
            bytes += (int64_t) got;
            zm_msg_destroy (&msg);
            if (++messages % 1024 == 0) {
                printf ("RECEIVED %" PRId64 "\n", messages);
                fflush (stdout);
            }
            if (every > 0 && messages % every == 0)
                usleep ((useconds_t) sleep_us);
        }
    }
    else if (streq (mode, "upload")) {
        char *data = (char *) calloc (1, (size_t) size + 1);
        for (int64_t i = 0; i < count && rc == 0; i++) {
            zm_msg_t *msg = zm_msg_new ();
            zm_msg_set_bin (msg, "data", data, (size_t) size);
            rc = zm_stream_send (stream, &msg, -1);
            zm_msg_destroy (&msg);
        }
        free (data);
        if (rc == 0)
            rc = zm_stream_close_send (stream);
        zm_msg_t *answer = NULL;
        if (rc == 0 && (rc = zm_stream_recv (stream, &answer, -1)) == 0) {
            messages = zm_msg_get_int (answer, "count", -1);
            bytes = zm_msg_get_int (answer, "bytes", -1);
            zm_msg_destroy (&answer);
            rc = zm_stream_recv (stream, &answer, -1);
        }
    }
    else {
        while (rc == 0) {
            zm_msg_t *msg = zm_msg_new ();
            rc = zm_stream_send (stream, &msg, -1);
            zm_msg_destroy (&msg);
            if (rc == 0 && ++messages == 1) {
                printf ("SENDING\n");
                fflush (stdout);
            }
            usleep (10000);
        }
    }
    printf ("RESULT %" PRId64 " %" PRId64 " %d %ld\n", messages, bytes, rc, s_peak_rss_kb ());
    fflush (stdout);
    zm_stream_destroy (&stream);
    zm_node_destroy (&node);
    return 0;
}
