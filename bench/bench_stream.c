/*  bench_stream - stream throughput over loopback TCP against raw libzmq

    Both ends in this process, over tcp://127.0.0.1: a server node serving
    two stream endpoints, a pure client node, and the main thread (a plain
    thread, not an actor) as the stream's client. Bodies are 1 KiB or
    64 KiB of application/octet-stream: a message whose root is one binary.
    The sender makes each message with zm_msg_decode_inplace over one
    buffer (no copy: the raw codec points the binary at it), so, as with
    zmq_send on the raw side, the body is copied once on the way out, by
    the encoder. Receivers only check the size: the bytes are not touched.
      upload_*    zm_stream_open + zm_stream_send (timeout -1) of N
                  messages to the server's Sink handler, which counts
                  them; the client closes its side, Sink answers with the
                  count and ends (zm_stream_end). Timed from the first
                  send to the answer (the open is not timed: open_us).
                  Raw: a DEALER, connected and answered once before the
                  clock starts, sends N messages and an empty frame to a
                  ROUTER thread, which counts them and answers the count.
      download_*  zm_stream_open to the server's Source handler, which
                  sends N messages from ZM_STREAM_OPEN on (zm_stream_send,
                  timeout 0; on ZM_ETOOMANY it waits for ZM_STREAM_WRITABLE)
                  and ends; the client zm_stream_recv's until ZM_ECLOSED.
                  Timed from the zm_stream_open call (connect, handshake
                  and open included: production starts at the open) to
                  ZM_ECLOSED. Raw: a new DEALER connects and asks; the
                  ROUTER thread sends N messages and an empty frame to it;
                  timed from the connect to the empty frame.
    The raw sides use no credit: libzmq's own back-pressure at its default
    high-water marks (1000 messages each side; the ROUTER with
    ZMQ_ROUTER_MANDATORY so that it blocks instead of dropping). zmicro's
    streams run with their default window (stream.window, 128 messages).
    CURVE on both sides by default ("curve"), or neither ("plain").

    Each case runs ROUNDS rounds (raw and zmicro in each, who goes first
    alternating) and reports the median of each side, the ratio of the
    medians and each round's ratio. MB/s counts body bytes, 10^6 per MB.
    cpu_ns_per_msg is the CPU time of the whole process (every thread:
    libzmq's I/O thread, the reactors, the client) over a run divided by
    its messages, and switches_per_msg its context switches (getrusage):
    what each side costs, whatever else the machine is doing.

    Usage: bench_stream [messages [case [curve|plain]]]
           messages: of 1 KiB (default 200,000; 64 KiB cases send a tenth),
           bounded 1,000..10,000,000; case: all, upload, download, or one
           of upload_1KiB, upload_64KiB, download_1KiB, download_64KiB.
           Every wait is bounded (a stream's deadline 60 s, raw sockets 30 s).
*/
#include <czmq.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include "zmicro.h"
#include "bench_util.h"

#define SMALL (1 << 10)               //  1 KiB
#define LARGE (64 << 10)              //  64 KiB
#define ROUNDS 3
#define STREAM_TIMEOUT_MS 60000       //  a stream's deadline
#define RAW_TIMEOUT_MS 30000          //  raw sockets' send and receive timeouts
#define COMMAND_MAX 64                //  raw control frames are shorter than this

//  The bytes every sender sends (never written after main fills it)
static char s_body[LARGE];

//  Handler-side trouble, reported with the results
static atomic_long s_server_cancels;
static atomic_long s_server_bad;

//  A raw body as a message: the binary points into data (no copy)
static zm_msg_t *
s_msg_over (const void *data, size_t size)
{
    zm_msg_t *msg = NULL;
    if (zm_msg_decode_inplace (ZM_CT_RAW, (void *) data, size, NULL, NULL, &msg, NULL) != 0)
        return NULL;
    return msg;
}

//  A short text as a raw message (copied)
static zm_msg_t *
s_msg_text (const char *text)
{
    zm_msg_t *msg = NULL;
    zm_msg_decode (ZM_CT_RAW, text, strlen (text), &msg, NULL);
    return msg;
}

//  A raw message's bytes as text into buf (NUL-terminated, cut to size)
static const char *
s_text_of (const zm_msg_t *msg, char *buf, size_t size)
{
    size_t len = 0;
    const void *bytes = msg ? zm_val_bin (zm_msg_root (msg), &len) : NULL;
    if (len >= size)
        len = size - 1;
    if (bytes && len)
        memcpy (buf, bytes, len);
    buf[bytes ? len : 0] = 0;
    return buf;
}

static size_t
s_size_of (const zm_msg_t *msg)
{
    size_t size = 0;
    if (msg)
        zm_val_bin (zm_msg_root (msg), &size);
    return size;
}

//  --------------------------------------------------------------------------
//  Server handlers

static bool
s_cancelled (zm_ctx_t *ctx, const char *who)
{
    if (zm_ctx_stream_event (ctx) != ZM_STREAM_CANCEL)
        return false;
    const zm_error_t *error = zm_ctx_error (ctx);
    fprintf (stderr, "bench_stream: %s: stream cancelled: %s (%s)\n", who,
             zm_strerror (zm_ctx_status (ctx)), error ? zm_error_detail (error) : "");
    atomic_fetch_add (&s_server_cancels, 1);
    return true;
}

//  Sink: counts; at the client's end of input answers "count bytes bad"
typedef struct {
    int64_t count, bytes, bad;
    size_t size;                //  expected body size (the open message)
    bool input_ended;
} sink_t;

static int
s_sink_answer (zm_stream_t *stream, sink_t *sink)
{
    char text[96];
    snprintf (text, sizeof text, "%" PRId64 " %" PRId64 " %" PRId64, sink->count, sink->bytes,
              sink->bad);
    zm_msg_t *answer = s_msg_text (text);
    int rc = zm_stream_send (stream, &answer, 0);
    zm_msg_destroy (&answer);
    if (rc == ZM_ETOOMANY)
        return 0; //  ZM_STREAM_WRITABLE follows
    if (rc)
        return rc;
    zm_stream_end (stream);
    return 0;
}

static int
s_sink (zm_ctx_t *ctx, zm_msg_t *msg)
{
    if (s_cancelled (ctx, "Sink"))
        return 0;
    zm_stream_t *stream = zm_ctx_stream (ctx);
    sink_t *sink = (sink_t *) zm_stream_data (stream);
    switch (zm_ctx_stream_event (ctx)) {
    case ZM_STREAM_OPEN: {
        char text[64];
        sink = (sink_t *) calloc (1, sizeof (sink_t));
        sink->size = (size_t) atol (s_text_of (msg, text, sizeof text));
        zm_stream_set_data (stream, sink, free);
        return 0;
    }
    case ZM_STREAM_DATA: {
        size_t size = s_size_of (msg);
        sink->count++;
        sink->bytes += (int64_t) size;
        if (size != sink->size)
            sink->bad++;
        return 0;
    }
    case ZM_STREAM_END:
        sink->input_ended = true;
        return s_sink_answer (stream, sink);
    case ZM_STREAM_WRITABLE:
        return sink->input_ended ? s_sink_answer (stream, sink) : 0;
    default:
        return 0;
    }
}

//  Source: the open message says "count size"; sends count messages of
//  size bytes from the open on, then ends
typedef struct {
    int64_t next, count;
    size_t size;
    bool ended;
} source_t;

static int
s_source_more (zm_stream_t *stream, source_t *source)
{
    while (source->next < source->count) {
        zm_msg_t *msg = s_msg_over (s_body, source->size);
        int rc = msg ? zm_stream_send (stream, &msg, 0) : ZM_ENOMEM;
        zm_msg_destroy (&msg); //  still ours on ZM_ETOOMANY
        if (rc == ZM_ETOOMANY)
            return 0;          //  ZM_STREAM_WRITABLE follows
        if (rc)
            return rc;
        source->next++;
    }
    if (!source->ended) {
        source->ended = true;
        zm_stream_end (stream);
    }
    return 0;
}

static int
s_source (zm_ctx_t *ctx, zm_msg_t *msg)
{
    if (s_cancelled (ctx, "Source"))
        return 0;
    zm_stream_t *stream = zm_ctx_stream (ctx);
    source_t *source = (source_t *) zm_stream_data (stream);
    switch (zm_ctx_stream_event (ctx)) {
    case ZM_STREAM_OPEN: {
        char text[64];
        long long count = 0, size = 0;
        if (sscanf (s_text_of (msg, text, sizeof text), "%lld %lld", &count, &size) != 2
            || count < 0 || size < 1 || size > LARGE) {
            atomic_fetch_add (&s_server_bad, 1);
            return zm_error (ctx, ZM_EINVAL, "open with \"count size\", size 1..%d", LARGE);
        }
        source = (source_t *) calloc (1, sizeof (source_t));
        source->count = count;
        source->size = (size_t) size;
        zm_stream_set_data (stream, source, free);
        return s_source_more (stream, source);
    }
    case ZM_STREAM_WRITABLE:
        return s_source_more (stream, source);
    default:
        return 0; //  DATA and END: the client sends nothing
    }
}

//  --------------------------------------------------------------------------
//  zmicro clients (the main thread)

//  CPU time (user + system, every thread of the process) and context
//  switches (voluntary and not: thread sleeps and wake-ups, roughly) so far
typedef struct {
    int64_t cpu_us, switches;
} usage_t;

static usage_t
s_usage (void)
{
    struct rusage ru;
    getrusage (RUSAGE_SELF, &ru);
    usage_t usage = {(int64_t) (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000
                         + ru.ru_utime.tv_usec + ru.ru_stime.tv_usec,
                     ru.ru_nvcsw + ru.ru_nivcsw};
    return usage;
}

typedef struct {
    double seconds;        //  timed span
    int64_t open_us;       //  zm_stream_open's own time
    int64_t messages;      //  what the receiver counted
    int64_t bad;           //  bodies of the wrong size
    int rc;                //  0, or what went wrong
    usage_t used;          //  CPU and switches over the run (open included)
} result_t;

static zm_stream_t *
s_open (zm_node_t *client, const char *address, const char *endpoint, const char *text,
        result_t *result)
{
    zm_stream_opts_t opts = ZM_STREAM_OPTS_DEFAULT;
    opts.call.address = address;
    opts.call.content_type = ZM_CT_RAW;
    opts.call.timeout_ms = STREAM_TIMEOUT_MS;
    zm_msg_t *open = s_msg_text (text);
    zm_error_t *error = NULL;
    int64_t start = s_now_us ();
    zm_stream_t *stream = zm_stream_open (client, "bulk", endpoint, &open, &error, &opts);
    result->open_us = s_now_us () - start;
    if (!stream) {
        result->rc = error ? zm_error_err (error) : ZM_EUNAVAIL;
        fprintf (stderr, "bench_stream: open %s: %s\n", endpoint,
                 error ? zm_error_detail (error) : "?");
        zm_error_destroy (&error);
    }
    return stream;
}

static void
s_zm_upload (zm_node_t *client, const char *address, int64_t count, size_t size,
             result_t *result)
{
    memset (result, 0, sizeof *result);
    char text[32];
    snprintf (text, sizeof text, "%zu", size);
    zm_stream_t *stream = s_open (client, address, "Sink", text, result);
    if (!stream)
        return;
    int64_t start = s_now_us ();
    int rc = 0;
    for (int64_t i = 0; i < count && rc == 0; i++) {
        zm_msg_t *msg = s_msg_over (s_body, size);
        rc = msg ? zm_stream_send (stream, &msg, -1) : ZM_ENOMEM;
        zm_msg_destroy (&msg);
        if (rc)
            fprintf (stderr, "bench_stream: upload: send %" PRId64 ": %s\n", i, zm_strerror (rc));
    }
    if (rc == 0)
        rc = zm_stream_close_send (stream);
    zm_msg_t *answer = NULL;
    if (rc == 0)
        rc = zm_stream_recv (stream, &answer, -1);
    result->seconds = (double) (s_now_us () - start) / 1e6;
    if (rc == 0) {
        char buf[96];
        long long got = -1, bytes = -1, bad = -1;
        sscanf (s_text_of (answer, buf, sizeof buf), "%lld %lld %lld", &got, &bytes, &bad);
        result->messages = got;
        result->bad = bad;
        zm_msg_destroy (&answer);
        rc = zm_stream_recv (stream, &answer, 5000); //  then the end
        zm_msg_destroy (&answer);
        rc = rc == ZM_ECLOSED ? 0 : rc ? rc : ZM_EPROTO;
        if (rc == 0 && (got != count || bytes != count * (int64_t) size || bad != 0))
            rc = ZM_EPROTO;
    }
    if (rc) {
        const zm_error_t *error = zm_stream_error (stream);
        fprintf (stderr, "bench_stream: upload %zu B: %s (%s), server counted %" PRId64 "\n",
                 size, zm_strerror (rc), error ? zm_error_detail (error) : "", result->messages);
    }
    result->rc = rc;
    zm_stream_destroy (&stream);
}

static void
s_zm_download (zm_node_t *client, const char *address, int64_t count, size_t size,
               result_t *result)
{
    memset (result, 0, sizeof *result);
    char text[64];
    snprintf (text, sizeof text, "%" PRId64 " %zu", count, size);
    int64_t start = s_now_us (); //  the server starts sending at the open
    zm_stream_t *stream = s_open (client, address, "Source", text, result);
    if (!stream)
        return;
    int rc = 0;
    while (true) {
        zm_msg_t *msg = NULL;
        rc = zm_stream_recv (stream, &msg, -1);
        if (rc)
            break;
        if (s_size_of (msg) != size)
            result->bad++;
        result->messages++;
        zm_msg_destroy (&msg);
    }
    result->seconds = (double) (s_now_us () - start) / 1e6;
    rc = rc == ZM_ECLOSED ? 0 : rc;
    if (rc == 0 && (result->messages != count || result->bad))
        rc = ZM_EPROTO;
    if (rc) {
        const zm_error_t *error = zm_stream_error (stream);
        fprintf (stderr, "bench_stream: download %zu B: %s (%s), received %" PRId64 " of %" PRId64
                 "\n", size, zm_strerror (rc), error ? zm_error_detail (error) : "",
                 result->messages, count);
    }
    result->rc = rc;
    zm_stream_destroy (&stream);
}

//  --------------------------------------------------------------------------
//  Raw baseline: a ROUTER thread that counts what comes (upload) or sends
//  what it is asked for (download). Frames from a DEALER:
//    "H"                   hello: answers "K"
//    "D <count> <size>"    download: count frames of size, then an empty one
//    (empty)               end of an upload: answers "<count> <bytes> <bad>"
//    anything else         an upload's message: counted
//  Control frames are shorter than COMMAND_MAX, messages are 1 KiB or more.

typedef struct {
    void *router;
    int port;
    atomic_int stop;
    pthread_t thread;
    int64_t errors;        //  sends or receives that failed (not timeouts)
} raw_server_t;

static void
s_raw_reply (void *router, zmq_msg_t *id, const char *text)
{
    zmq_send (router, zmq_msg_data (id), zmq_msg_size (id), ZMQ_SNDMORE);
    zmq_send (router, text, strlen (text), 0);
}

static void *
s_raw_server_run (void *arg)
{
    raw_server_t *self = (raw_server_t *) arg;
    int64_t count = 0, bytes = 0, bad = 0;
    size_t expect = 0; //  size of the current upload's messages (first one's)
    while (!atomic_load (&self->stop)) {
        zmq_msg_t id, body;
        zmq_msg_init (&id);
        if (zmq_msg_recv (&id, self->router, 0) == -1) { //  RCVTIMEO: check stop
            zmq_msg_close (&id);
            continue;
        }
        zmq_msg_init (&body);
        if (!zmq_msg_more (&id) || zmq_msg_recv (&body, self->router, 0) == -1) {
            self->errors++;
            zmq_msg_close (&id);
            zmq_msg_close (&body);
            continue;
        }
        size_t size = zmq_msg_size (&body);
        const char *data = (const char *) zmq_msg_data (&body);
        if (size >= COMMAND_MAX) {
            if (count == 0)
                expect = size;
            count++;
            bytes += (int64_t) size;
            bad += size != expect;
        }
        else if (size == 0) {
            char text[96];
            snprintf (text, sizeof text, "%" PRId64 " %" PRId64 " %" PRId64, count, bytes, bad);
            s_raw_reply (self->router, &id, text);
            count = bytes = bad = 0;
        }
        else if (data[0] == 'H') {
            count = bytes = bad = 0;
            s_raw_reply (self->router, &id, "K");
        }
        else if (data[0] == 'D') {
            char text[COMMAND_MAX];
            memcpy (text, data, size);
            text[size] = 0;
            long long n = 0, each = 0;
            if (sscanf (text + 1, "%lld %lld", &n, &each) == 2 && each > 0 && each <= LARGE) {
                //  Blocks at the high-water mark (ROUTER_MANDATORY), up to SNDTIMEO
                for (long long i = 0; i < n; i++)
                    if (zmq_send (self->router, zmq_msg_data (&id), zmq_msg_size (&id), ZMQ_SNDMORE) == -1
                        || zmq_send (self->router, s_body, (size_t) each, 0) == -1) {
                        self->errors++;
                        break;
                    }
                zmq_send (self->router, zmq_msg_data (&id), zmq_msg_size (&id), ZMQ_SNDMORE);
                zmq_send (self->router, "", 0, 0);
            }
        }
        zmq_msg_close (&id);
        zmq_msg_close (&body);
    }
    return NULL;
}

static void
s_raw_server_start (raw_server_t *self)
{
    memset (self, 0, sizeof *self);
    self->router = zmq_socket (zsys_init (), ZMQ_ROUTER);
    int on = 1, timeout = RAW_TIMEOUT_MS, poll_ms = 100, linger = 0;
    zmq_setsockopt (self->router, ZMQ_ROUTER_MANDATORY, &on, sizeof on);
    zmq_setsockopt (self->router, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt (self->router, ZMQ_RCVTIMEO, &poll_ms, sizeof poll_ms);
    zmq_setsockopt (self->router, ZMQ_LINGER, &linger, sizeof linger);
    bench_curve_server (self->router);
    zmq_bind (self->router, "tcp://127.0.0.1:*");
    char endpoint[64];
    size_t size = sizeof endpoint;
    zmq_getsockopt (self->router, ZMQ_LAST_ENDPOINT, endpoint, &size);
    self->port = atoi (strrchr (endpoint, ':') + 1);
    pthread_create (&self->thread, NULL, s_raw_server_run, self);
}

static void
s_raw_server_stop (raw_server_t *self)
{
    atomic_store (&self->stop, 1);
    pthread_join (self->thread, NULL);
    zmq_close (self->router);
}

static void *
s_raw_dealer (int port)
{
    void *dealer = zmq_socket (zsys_init (), ZMQ_DEALER);
    int timeout = RAW_TIMEOUT_MS, linger = 0;
    zmq_setsockopt (dealer, ZMQ_SNDTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt (dealer, ZMQ_RCVTIMEO, &timeout, sizeof timeout);
    zmq_setsockopt (dealer, ZMQ_LINGER, &linger, sizeof linger);
    bench_curve_client (dealer);
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    zmq_connect (dealer, endpoint);
    return dealer;
}

static void
s_raw_upload (int port, int64_t count, size_t size, result_t *result)
{
    memset (result, 0, sizeof *result);
    void *dealer = s_raw_dealer (port);
    char text[96];
    int64_t start = s_now_us ();
    if (zmq_send (dealer, "H", 1, 0) != 1 || zmq_recv (dealer, text, sizeof text, 0) != 1) {
        fprintf (stderr, "bench_stream: raw upload: no hello: %s\n", zmq_strerror (zmq_errno ()));
        result->rc = ZM_EUNAVAIL;
        zmq_close (dealer);
        return;
    }
    result->open_us = s_now_us () - start;
    start = s_now_us ();
    for (int64_t i = 0; i < count; i++)
        if (zmq_send (dealer, s_body, size, 0) == -1) {
            result->rc = ZM_ETIMEOUT;
            break;
        }
    zmq_send (dealer, "", 0, 0);
    int got = zmq_recv (dealer, text, sizeof text - 1, 0);
    result->seconds = (double) (s_now_us () - start) / 1e6;
    long long messages = -1, bytes = -1, bad = -1;
    if (got > 0) {
        text[got] = 0;
        sscanf (text, "%lld %lld %lld", &messages, &bytes, &bad);
    }
    result->messages = messages;
    result->bad = bad;
    if (!result->rc && (got <= 0 || messages != count || bad != 0))
        result->rc = got <= 0 ? ZM_ETIMEOUT : ZM_EPROTO;
    if (result->rc)
        fprintf (stderr, "bench_stream: raw upload %zu B: %s, counted %lld\n", size,
                 zm_strerror (result->rc), messages);
    zmq_close (dealer);
}

static void
s_raw_download (int port, int64_t count, size_t size, result_t *result)
{
    memset (result, 0, sizeof *result);
    int64_t start = s_now_us (); //  connect included, as zmicro's open is
    void *dealer = s_raw_dealer (port);
    char ask[COMMAND_MAX];
    snprintf (ask, sizeof ask, "D %" PRId64 " %zu", count, size);
    zmq_send (dealer, ask, strlen (ask), 0);
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    while (true) {
        if (zmq_msg_recv (&msg, dealer, 0) == -1) {
            result->rc = ZM_ETIMEOUT;
            break;
        }
        size_t got = zmq_msg_size (&msg);
        if (got == 0)
            break; //  the end
        if (got != size)
            result->bad++;
        result->messages++;
    }
    result->seconds = (double) (s_now_us () - start) / 1e6;
    zmq_msg_close (&msg);
    if (!result->rc && (result->messages != count || result->bad))
        result->rc = ZM_EPROTO;
    if (result->rc)
        fprintf (stderr, "bench_stream: raw download %zu B: %s, received %" PRId64 " of %" PRId64
                 "\n", size, zm_strerror (result->rc), result->messages, count);
    zmq_close (dealer);
}

//  --------------------------------------------------------------------------
//  The cases

typedef struct {
    zm_node_t *client;
    const char *address;   //  the server node
    raw_server_t *raw;
    int window;            //  stream.window, for the report
} bench_t;

static int64_t s_failures;

static void
s_case (bench_t *bench, bool upload, int64_t count, size_t size)
{
    double ours[ROUNDS], base[ROUNDS], ratios[ROUNDS], opens[ROUNDS];
    double cpu[ROUNDS], raw_cpu[ROUNDS], switches[ROUNDS], raw_switches[ROUNDS];
    int failures = 0, raw_failures = 0;
    for (int round = 0; round < ROUNDS; round++) {
        result_t mine, raw;
        for (int turn = 0; turn < 2; turn++) {
            bool raw_turn = (turn == 0) == (round % 2 == 0); //  raw first in even rounds
            usage_t before = s_usage ();
            if (raw_turn) {
                if (upload)
                    s_raw_upload (bench->raw->port, count, size, &raw);
                else
                    s_raw_download (bench->raw->port, count, size, &raw);
            }
            else if (upload)
                s_zm_upload (bench->client, bench->address, count, size, &mine);
            else
                s_zm_download (bench->client, bench->address, count, size, &mine);
            usage_t after = s_usage ();
            result_t *result = raw_turn ? &raw : &mine;
            result->used.cpu_us = after.cpu_us - before.cpu_us;
            result->used.switches = after.switches - before.switches;
        }
        ours[round] = mine.rc == 0 && mine.seconds > 0 ? (double) count / mine.seconds : 0;
        base[round] = raw.rc == 0 && raw.seconds > 0 ? (double) count / raw.seconds : 0;
        ratios[round] = base[round] > 0 ? ours[round] / base[round] : 0;
        opens[round] = (double) mine.open_us;
        cpu[round] = (double) mine.used.cpu_us * 1000 / (double) count;
        raw_cpu[round] = (double) raw.used.cpu_us * 1000 / (double) count;
        switches[round] = (double) mine.used.switches / (double) count;
        raw_switches[round] = (double) raw.used.switches / (double) count;
        failures += mine.rc != 0;
        raw_failures += raw.rc != 0;
    }
    char round_ratios[ROUNDS * 16] = "";
    for (int round = 0; round < ROUNDS; round++)
        snprintf (round_ratios + strlen (round_ratios), sizeof round_ratios - strlen (round_ratios),
                  "%s%.2f", round ? "," : "", ratios[round]);
    double rate = s_median (ours, ROUNDS), raw_rate = s_median (base, ROUNDS);
    double open_us = s_median (opens, ROUNDS);
    double mb = (double) size / 1e6;
    char name[32];
    snprintf (name, sizeof name, "%s_%zuKiB", upload ? "upload" : "download", size >> 10);
    printf ("{\"bench\":\"stream\",\"curve\":%s,\"case\":\"%s\",\"messages\":%" PRId64
            ",\"body_bytes\":%zu,\"content_type\":\"" ZM_CT_RAW "\",\"window\":%d,\"rounds\":%d,"
            "\"msgs_per_s\":%.0f,\"mb_per_s\":%.1f,\"open_us\":%.0f,\"cpu_ns_per_msg\":%.0f,"
            "\"switches_per_msg\":%.2f,\"failures\":%d,"
            "\"baseline\":\"raw %s, libzmq HWM back-pressure (1000), no credit; empty-frame end "
            "marker%s\",\"baseline_msgs_per_s\":%.0f,\"baseline_mb_per_s\":%.1f,"
            "\"baseline_cpu_ns_per_msg\":%.0f,\"baseline_switches_per_msg\":%.2f,"
            "\"baseline_failures\":%d,\"ratio\":%.2f,\"round_ratios\":[%s],\"target\":0.7}\n",
            s_bench_curve ? "true" : "false", name, count, size, bench->window, ROUNDS, rate,
            rate * mb, open_us, s_median (cpu, ROUNDS), s_median (switches, ROUNDS), failures,
            upload ? "DEALER -> ROUTER" : "ROUTER (ROUTER_MANDATORY) -> DEALER",
            upload ? ", receiver counts and answers" : ", timed from the connect", raw_rate,
            raw_rate * mb, s_median (raw_cpu, ROUNDS), s_median (raw_switches, ROUNDS),
            raw_failures, raw_rate > 0 ? rate / raw_rate : 0, round_ratios);
    fflush (stdout);
    s_failures += failures + raw_failures;
}

static const struct {
    const char *name, *group;
    bool upload;
    size_t size;
} s_cases[] = {{"upload_1KiB", "upload", true, SMALL},
               {"upload_64KiB", "upload", true, LARGE},
               {"download_1KiB", "download", false, SMALL},
               {"download_64KiB", "download", false, LARGE}};

static bool
s_case_known (const char *name)
{
    for (int i = 0; i < 4; i++)
        if (streq (name, s_cases[i].name) || streq (name, s_cases[i].group))
            return true;
    return false;
}

static zm_node_t *
s_node_new (bool server)
{
    zm_config_t *config = zm_config_new ();
    zm_config_set (config, "auth.keys", ":memory:", NULL); //  no key files
    zm_config_set (config, "log.level", "error", NULL);
    zm_config_set (config, "rpc.bind", server ? "127.0.0.1" : "", NULL); //  client: pure client
    zm_config_set (config, "registry.beacon", "false", NULL); //  loopback only
    zm_config_set (config, "node.shutdown_timeout", "500", NULL);
    zm_config_set (config, "auth.curve", s_bench_curve ? "true" : "false", NULL);
    zm_node_t *node = zm_node_new (&config);
    if (!node) {
        fprintf (stderr, "bench_stream: cannot create a node\n");
        exit (1);
    }
    return node;
}

int
main (int argc, char **argv)
{
    int64_t messages = argc > 1 ? atoll (argv[1]) : 200000;
    const char *only = argc > 2 && !streq (argv[2], "all") ? argv[2] : NULL;
    if (messages < 1000 || messages > 10000000
        || (only && !s_case_known (only))
        || bench_curve_init (argc > 3 ? argv[3] : NULL) != 0) {
        fprintf (stderr, "usage: bench_stream [messages 1000..1e7 [all|upload|download|"
                         "upload_1KiB|upload_64KiB|download_1KiB|download_64KiB [curve|plain]]]\n");
        return 2;
    }
    zsys_init ();
    zsys_set_logstream (stderr);
    for (size_t i = 0; i < sizeof s_body; i++)
        s_body[i] = (char) ('a' + i % 26);

    raw_server_t raw;
    s_raw_server_start (&raw);

    zm_node_t *server = s_node_new (true);
    zm_service_t *svc = zm_service_new (server, "bulk", "1.0.0");
    zm_service_stream (svc, "Sink", s_sink);
    zm_service_stream (svc, "Source", s_source);
    if (zm_service_start (svc) != 0) {
        fprintf (stderr, "bench_stream: cannot start the service\n");
        return 1;
    }
    zm_node_t *client = s_node_new (false);
    char address[128], key[ZM_KEY_TEXT] = "";
    zm_node_public_key (server, key);
    snprintf (address, sizeof address, "tcp://127.0.0.1:%d#%s", zm_node_rpc_port (server, 0), key);

    zm_config_t *probe = zm_config_new ();
    bench_t bench = {client, address, &raw, (int) zm_config_get_int (probe, "stream.window", 128)};
    zm_config_destroy (&probe);

    for (int i = 0; i < 4; i++)
        if (!only || streq (only, s_cases[i].name) || streq (only, s_cases[i].group))
            s_case (&bench, s_cases[i].upload, s_cases[i].size == SMALL ? messages : messages / 10,
                    s_cases[i].size);
    if (atomic_load (&s_server_cancels) || atomic_load (&s_server_bad) || raw.errors)
        fprintf (stderr, "bench_stream: server side: %ld streams cancelled, %ld bad opens, %" PRId64
                 " raw errors\n", atomic_load (&s_server_cancels), atomic_load (&s_server_bad),
                 raw.errors);
    zm_node_destroy (&client);
    zm_node_destroy (&server);
    s_raw_server_stop (&raw);
    return s_failures ? 1 : 0;
}
