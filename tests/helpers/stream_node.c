/*  stream_node - a node serving the "streams" test service, for
    multi-process stream tests. Prints "READY <port> <key>" once serving,
    then runs until SIGTERM. Flags are config keys (--node.name=a ...).

    Every stream that ends prints one line on stdout:
        EVENT <endpoint> END                   the handler ended it
        EVENT <endpoint> INPUT_END <received>  the client closed its side
        EVENT <endpoint> CANCEL <code> <detail>

    streams endpoints:
      Echo      every message back, in order (pauses when the client reads
                slowly); ends when the client has closed and all is echoed
      Count     counts messages and bytes; at the client's end of input
                sends {count, bytes} and ends
      Produce   open {count, size}: sends count messages of {seq, data:
                size bytes}, then ends
      Fail      open refused: error 409 "refused on purpose"
      Cancel    open {after}: sends after messages, then cancels
      Hang      accepts, sends nothing, never ends (deadlines, kills)
*/
#include <czmq.h>
#include <signal.h>
#include <sys/prctl.h>
#include <unistd.h>
#include "zmicro.h"

static void
s_log (zm_ctx_t *ctx, const char *what, const char *extra)
{
    printf ("EVENT %s %s%s%s\n", zm_ctx_type (ctx), what, extra ? " " : "", extra ? extra : "");
    fflush (stdout);
}

//  Events every endpoint treats alike: returns true when handled
static bool
s_common (zm_ctx_t *ctx)
{
    zm_stream_event_t event = zm_ctx_stream_event (ctx);
    if (event == ZM_STREAM_CANCEL) {
        char extra[300];
        const zm_error_t *error = zm_ctx_error (ctx);
        snprintf (extra, sizeof extra, "%d %s", zm_err_http (zm_ctx_status (ctx)),
                  error ? zm_error_detail (error) : "");
        s_log (ctx, "CANCEL", extra);
        return true;
    }
    return false;
}

//  Echo: messages it could not send yet wait here (at most a window)
typedef struct {
    zlistx_t *pending;
    bool input_ended;
} s_echo_t;

static void
s_echo_free (void *data)
{
    s_echo_t *echo = (s_echo_t *) data;
    zm_msg_t *msg;
    while ((msg = (zm_msg_t *) zlistx_detach (echo->pending, NULL)))
        zm_msg_destroy (&msg);
    zlistx_destroy (&echo->pending);
    free (echo);
}

static int
s_echo_flush (zm_ctx_t *ctx, zm_stream_t *stream, s_echo_t *echo)
{
    zm_msg_t *msg;
    while ((msg = (zm_msg_t *) zlistx_first (echo->pending))) {
        int rc = zm_stream_send (stream, &msg, 0);
        if (rc == ZM_ETOOMANY)
            return 0; //  WRITABLE comes
        if (rc)
            return rc;
        zlistx_detach_cur (echo->pending);
    }
    zm_stream_resume (stream);
    if (echo->input_ended) {
        s_log (ctx, "END", NULL);
        zm_stream_end (stream);
    }
    return 0;
}

static int
s_echo (zm_ctx_t *ctx, zm_msg_t *msg)
{
    if (s_common (ctx))
        return 0;
    zm_stream_t *stream = zm_ctx_stream (ctx);
    s_echo_t *echo = (s_echo_t *) zm_stream_data (stream);
    switch (zm_ctx_stream_event (ctx)) {
    case ZM_STREAM_OPEN:
        echo = (s_echo_t *) calloc (1, sizeof (s_echo_t));
        echo->pending = zlistx_new ();
        zm_stream_set_data (stream, echo, s_echo_free);
        return 0;
    case ZM_STREAM_DATA: {
        zm_msg_t *copy = zm_ctx_take (ctx);
        if (!copy)
            copy = zm_msg_new ();
        zlistx_add_end (echo->pending, copy);
        if (zlistx_size (echo->pending) == 1)
            return s_echo_flush (ctx, stream, echo);
        zm_stream_pause (stream);
        return 0;
    }
    case ZM_STREAM_END: {
        echo->input_ended = true;
        char extra[32];
        snprintf (extra, sizeof extra, "%" PRIu64, zm_stream_received (stream));
        s_log (ctx, "INPUT_END", extra);
        if (zlistx_size (echo->pending) == 0) {
            s_log (ctx, "END", NULL);
            zm_stream_end (stream);
        }
        return 0;
    }
    case ZM_STREAM_WRITABLE:
        return s_echo_flush (ctx, stream, echo);
    default:
        return 0;
    }
}

//  Count
typedef struct {
    int64_t count, bytes;
} s_count_t;

static int
s_count (zm_ctx_t *ctx, zm_msg_t *msg)
{
    if (s_common (ctx))
        return 0;
    zm_stream_t *stream = zm_ctx_stream (ctx);
    s_count_t *count = (s_count_t *) zm_stream_data (stream);
    switch (zm_ctx_stream_event (ctx)) {
    case ZM_STREAM_OPEN:
        zm_stream_set_data (stream, calloc (1, sizeof (s_count_t)), free);
        return 0;
    case ZM_STREAM_DATA: {
        size_t size = 0;
        count->count++;
        if (zm_msg_get_bin (msg, "data", &size))
            count->bytes += (int64_t) size;
        return 0;
    }
    case ZM_STREAM_END:
    case ZM_STREAM_WRITABLE: {
        char extra[32];
        snprintf (extra, sizeof extra, "%" PRId64, count->count);
        if (zm_ctx_stream_event (ctx) == ZM_STREAM_END)
            s_log (ctx, "INPUT_END", extra);
        zm_msg_t *rep = zm_msg_new ();
        zm_msg_set_int (rep, "count", count->count);
        zm_msg_set_int (rep, "bytes", count->bytes);
        int rc = zm_stream_send (stream, &rep, 0);
        zm_msg_destroy (&rep);
        if (rc == ZM_ETOOMANY)
            return 0;
        s_log (ctx, "END", NULL);
        zm_stream_end (stream);
        return rc;
    }
    default:
        return 0;
    }
}

//  Produce and Cancel: send until the count, then end or cancel
typedef struct {
    int64_t next, count, size, cancel_after;
    char *data;
} s_produce_t;

static void
s_produce_free (void *data)
{
    s_produce_t *produce = (s_produce_t *) data;
    free (produce->data);
    free (produce);
}

static int
s_produce_more (zm_ctx_t *ctx, zm_stream_t *stream, s_produce_t *produce)
{
    while (produce->next < produce->count) {
        if (produce->cancel_after >= 0 && produce->next >= produce->cancel_after) {
            s_log (ctx, "CANCELLED_HERE", NULL);
            zm_stream_cancel (stream);
            return 0;
        }
        zm_msg_t *msg = zm_msg_new ();
        zm_msg_set_int (msg, "seq", produce->next);
        zm_msg_set_bin (msg, "data", produce->data, (size_t) produce->size);
        int rc = zm_stream_send (stream, &msg, 0);
        zm_msg_destroy (&msg);
        if (rc == ZM_ETOOMANY)
            return 0;
        if (rc)
            return rc;
        produce->next++;
    }
    s_log (ctx, "END", NULL);
    zm_stream_end (stream);
    return 0;
}

static int
s_produce (zm_ctx_t *ctx, zm_msg_t *msg)
{
    if (s_common (ctx))
        return 0;
    zm_stream_t *stream = zm_ctx_stream (ctx);
    s_produce_t *produce = (s_produce_t *) zm_stream_data (stream);
    switch (zm_ctx_stream_event (ctx)) {
    case ZM_STREAM_OPEN:
        produce = (s_produce_t *) calloc (1, sizeof (s_produce_t));
        produce->count = zm_msg_get_int (msg, "count", 10);
        produce->size = zm_msg_get_int (msg, "size", 16);
        produce->cancel_after = zm_msg_get_int (msg, "after", -1);
        if (produce->size < 0 || produce->size > (16 << 20)) {
            free (produce);
            return zm_error (ctx, ZM_EINVAL, "size out of range");
        }
        produce->data = (char *) malloc ((size_t) produce->size + 1);
        memset (produce->data, 'x', (size_t) produce->size);
        zm_stream_set_data (stream, produce, s_produce_free);
        return s_produce_more (ctx, stream, produce);
    case ZM_STREAM_WRITABLE:
        return s_produce_more (ctx, stream, produce);
    case ZM_STREAM_END: {
        char extra[32];
        snprintf (extra, sizeof extra, "%" PRIu64, zm_stream_received (stream));
        s_log (ctx, "INPUT_END", extra);
        return 0;
    }
    default:
        return 0;
    }
}

static int
s_fail (zm_ctx_t *ctx, zm_msg_t *msg)
{
    if (s_common (ctx))
        return 0;
    return zm_error (ctx, ZM_ECONFLICT, "refused on purpose");
}

static int
s_hang (zm_ctx_t *ctx, zm_msg_t *msg)
{
    if (s_common (ctx))
        return 0;
    if (zm_ctx_stream_event (ctx) == ZM_STREAM_END) {
        char extra[32];
        snprintf (extra, sizeof extra, "%" PRIu64, zm_stream_received (zm_ctx_stream (ctx)));
        s_log (ctx, "INPUT_END", extra);
    }
    return 0;
}

int
main (int argc, char **argv)
{
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    char *reason = NULL;
    zm_config_t *config = zm_config_load (argc, argv, &reason);
    if (!config) {
        fprintf (stderr, "stream_node: %s\n", reason);
        free (reason);
        return 2;
    }
    zm_node_t *node = zm_node_new (&config);
    if (!node)
        return 1;
    zm_service_t *svc = zm_service_new (node, "streams", "1.0.0");
    zm_service_stream (svc, "Echo", s_echo);
    zm_service_stream (svc, "Count", s_count);
    zm_service_stream (svc, "Produce", s_produce);
    zm_service_stream (svc, "Cancel", s_produce);
    zm_service_stream (svc, "Fail", s_fail);
    zm_service_stream (svc, "Hang", s_hang);
    if (zm_service_start (svc) != 0)
        return 1;
    char key[ZM_KEY_TEXT] = "";
    zm_node_public_key (node, key);
    printf ("READY %d %s\n", zm_node_rpc_port (node, 0), key);
    fflush (stdout);
    zm_node_run (node);
    zm_node_destroy (&node);
    return 0;
}
