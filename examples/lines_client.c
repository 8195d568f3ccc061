/*  lines_client - read a file through lines_server's stream and count it

    Usage: lines_client ADDRESS PATH

    ADDRESS is lines_server's RPC endpoint and public key, as it prints them
    (tcp://127.0.0.1:7301#KEY: the connection is CURVE). PATH is a file on
    the server's host. The client opens a stream to lines Read with
    {"path": PATH}, receives one message per line until the server ends the
    stream, and prints

        200000 lines, 10312345 bytes

    bytes counts the lines' text, newlines not included. The stream's
    credit keeps the server from running ahead of us: memory stays small
    whatever the file's size.

    Exits 0 once the whole file came, in order; 1 with one line on stderr
    when the stream could not be opened (a file the server cannot open:
    404) or failed on the way; 2 for bad usage.
*/
#include <stdio.h>
#include <stdlib.h>
#include "zmicro.h"

//  "lines_client: 404 Not Found: cannot open PATH: ..." on stderr
static void
s_report (int rc, const zm_error_t *error)
{
    fprintf (stderr, "lines_client: %d %s: %s\n", error ? zm_error_code (error) : zm_err_http (rc),
             error ? zm_error_status (error) : zm_strerror (rc),
             error ? zm_error_detail (error) : zm_strerror (rc));
}

int
main (int argc, char **argv)
{
    if (argc != 3) {
        fprintf (stderr, "usage: lines_client ADDRESS PATH\n");
        return 2;
    }
    const char *address = argv[1], *path = argv[2];
    zm_config_t *config = zm_config_new ();
    zm_config_set (config, "rpc.bind", "", NULL);           //  a pure client
    zm_config_set (config, "registry.beacon", "false", NULL); //  it has the address
    zm_config_set (config, "log.level", "error", NULL);
    zm_node_t *node = zm_node_new (&config);
    if (!node)
        return 1;

    //  Open the stream. The server accepts it before its handler has
    //  looked at the path: a refusal (404 for a file it cannot open) comes
    //  back from zm_stream_open or from the first zm_stream_recv, as it
    //  happens to arrive. Both are reported alike.
    zm_stream_opts_t opts = ZM_STREAM_OPTS_DEFAULT;
    opts.call.address = address;
    zm_msg_t *open = zm_msg_new ();
    zm_msg_set_str (open, "path", path);
    zm_error_t *error = NULL;
    zm_stream_t *stream = zm_stream_open (node, "lines", "Read", &open, &error, &opts);
    if (!stream) {
        s_report (ZM_EINTERNAL, error);
        zm_error_destroy (&error);
        zm_node_destroy (&node);
        return 1;
    }

    //  One message per line, until the server ends the stream (ZM_ECLOSED)
    int64_t lines = 0, bytes = 0;
    int rc;
    zm_msg_t *msg = NULL;
    while ((rc = zm_stream_recv (stream, &msg, -1)) == 0) {
        size_t len = 0;
        zm_val_str (zm_val_get (zm_msg_root (msg), "line"), "", &len);
        bool in_order = zm_msg_get_int (msg, "n", 0) == lines + 1;
        zm_msg_destroy (&msg);
        if (!in_order) {
            fprintf (stderr, "lines_client: line %lld came out of order\n",
                     (long long) lines + 1);
            break;
        }
        lines++;
        bytes += (int64_t) len;
    }
    int status = rc == ZM_ECLOSED ? 0 : 1;
    if (rc != ZM_ECLOSED && rc != 0)
        s_report (rc, zm_stream_error (stream));
    else if (rc == ZM_ECLOSED)
        printf ("%lld lines, %lld bytes\n", (long long) lines, (long long) bytes);
    zm_stream_destroy (&stream);    //  cancels it when it is not over
    zm_node_destroy (&node);
    return status;
}
