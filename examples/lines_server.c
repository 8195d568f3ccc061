/*  lines_server - stream a file's lines to whoever asks

    Serves "lines" 1.0.0 with one stream endpoint:

        Read  open {path}  ->  {n, line} for every line, then the end

    n counts lines from 1; line is the text without its newline. A file
    that cannot be opened refuses the stream (404 "cannot open PATH: ...").
    The server sends only as fast as the client reads: when the stream's
    credit runs out it stops, and goes on when ZM_STREAM_WRITABLE says the
    client made room. However big the file, a slow client holds at most a
    window of lines in memory on either side. Every flag is a config key
    (docs/config.md), e.g.

        lines_server --rpc.port=7301 --rpc.bind=127.0.0.1

    Prints "READY <port> <key>" once serving, then serves until SIGINT or
    SIGTERM. Paths are the server's: do not expose it to strangers.
*/
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "zmicro.h"

//  One reader per stream, hung on it with zm_stream_set_data
typedef struct {
    FILE *file;
    int64_t n;          //  lines read so far
    char *buffer;       //  getline's
    size_t size;
    zm_msg_t *held;     //  a line read but not sent yet (no credit then)
} reader_t;

//  Runs when the stream is freed, however it ended
static void
s_reader_free (void *data)
{
    reader_t *reader = (reader_t *) data;
    fclose (reader->file);
    free (reader->buffer);
    zm_msg_destroy (&reader->held);
    free (reader);
}

//  Send lines until the credit runs out or the file ends
static int
s_send_lines (zm_ctx_t *ctx, zm_stream_t *stream, reader_t *reader)
{
    while (true) {
        if (!reader->held) {
            errno = 0;
            ssize_t len = getline (&reader->buffer, &reader->size, reader->file);
            if (len < 0 && ferror (reader->file))
                return zm_error (ctx, ZM_EIO, "cannot read: %s", strerror (errno));
            if (len < 0) {
                zm_stream_end (stream); //  EOF: the client reads ZM_ECLOSED
                return 0;
            }
            if (len > 0 && reader->buffer[len - 1] == '\n')
                len--;
            reader->held = zm_msg_new ();
            zm_msg_set_int (reader->held, "n", ++reader->n);
            zm_val_set_strn (zm_msg_root_mut (reader->held), "line", reader->buffer,
                             (size_t) len);
        }
        //  Takes the message when it goes; keeps it with us when it cannot
        int rc = zm_stream_send (stream, &reader->held, 0);
        if (rc == ZM_ETOOMANY)
            return 0;           //  no credit: ZM_STREAM_WRITABLE comes
        if (rc == ZM_ECLOSED)
            return 0;           //  the client went away: ZM_STREAM_CANCEL comes
        if (rc)
            return rc;
    }
}

//  Read: every event of every stream comes here
static int
s_read (zm_ctx_t *ctx, zm_msg_t *msg)
{
    zm_stream_t *stream = zm_ctx_stream (ctx);
    reader_t *reader = (reader_t *) zm_stream_data (stream);
    switch (zm_ctx_stream_event (ctx)) {
    case ZM_STREAM_OPEN: {
        const char *path = zm_msg_get_str (msg, "path", "");
        if (!*path)
            return zm_error (ctx, ZM_EINVAL, "Read wants {\"path\": ...}");
        FILE *file = fopen (path, "r");
        if (!file)      //  refuses the stream: the client's open fails
            return zm_error (ctx, ZM_ENOTFOUND, "cannot open %s: %s", path, strerror (errno));
        reader = (reader_t *) calloc (1, sizeof (reader_t));
        if (!reader) {
            fclose (file);
            return zm_error (ctx, ZM_ENOMEM, "out of memory");
        }
        reader->file = file;
        zm_stream_set_data (stream, reader, s_reader_free);
        return s_send_lines (ctx, stream, reader);
    }
    case ZM_STREAM_WRITABLE:
        return s_send_lines (ctx, stream, reader);
    default:
        //  DATA, END: the client has nothing to say; CANCEL: it gave up
        //  (the reader is freed with the stream)
        return 0;
    }
}

int
main (int argc, char **argv)
{
    char *reason = NULL;
    zm_config_t *config = zm_config_load (argc, argv, &reason);
    if (!config) {
        fprintf (stderr, "lines_server: %s\n", reason);
        free (reason);
        return 2;
    }
    zm_node_t *node = zm_node_new (&config);
    if (!node)
        return 1;
    zm_service_t *lines = zm_service_new (node, "lines", "1.0.0");
    if (!lines || zm_service_stream (lines, "Read", s_read) || zm_service_start (lines)) {
        fprintf (stderr, "lines_server: cannot start the lines service\n");
        zm_node_destroy (&node);
        return 1;
    }
    int port = zm_node_rpc_port (node, 0);
    if (port == 0) {
        fprintf (stderr, "lines_server: RPC is off (rpc.bind is empty)\n");
        zm_node_destroy (&node);
        return 1;
    }
    char key[ZM_KEY_TEXT] = "";
    zm_node_public_key (node, key);
    printf ("READY %d %s\n", port, key);
    fflush (stdout);
    zm_node_run (node); //  until SIGINT or SIGTERM
    zm_node_destroy (&node);
    return 0;
}
