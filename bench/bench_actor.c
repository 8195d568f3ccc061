/*  bench_actor - local actor messaging against raw libzmq inproc

    Prints one JSON line per result:
      tell_1_reactor     tells between two actors on one reactor, vs a raw
                         ZeroMQ inproc PAIR that one thread sends to itself
      tell_2_reactors    tells from an actor on reactor 0 to one on reactor 1,
                         vs raw inproc PUSH/PULL between two threads
      ask_rtt_*          ask round trip, one in flight, vs raw inproc PAIR
                         ping-pong in one thread (1 reactor) or between
                         two threads (2 reactors)
      actor_memory       resident memory per idle named actor (100,000), first

    Usage: bench_actor [messages]   (default 5,000,000; every loop bounded)
*/
#include <czmq.h>
#include <pthread.h>
#include "zmicro.h"

#define BATCH 1024

static int64_t
s_now_ns (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static zm_node_t *
s_node (int reactors)
{
    zm_config_t *config = zm_config_new ();
    zm_config_set (config, "auth.keys", ":memory:", NULL); //  no key files
    char value[8];
    snprintf (value, sizeof value, "%d", reactors);
    zm_config_set (config, "reactors", value, NULL);
    zm_config_set (config, "log.level", "error", NULL);
    zm_config_set (config, "registry.beacon", "false", NULL); //  local work: no LAN beacons
    zm_node_t *node = zm_node_new (&config);
    if (!node) {
        fprintf (stderr, "bench_actor: cannot start a node\n");
        exit (1);
    }
    return node;
}

//  --------------------------------------------------------------------------
//  sink counts "hit"; "wait" is answered once the count reaches target

typedef struct {
    int64_t count;       //  hits so far
    int64_t target;      //  hits to wait for
    zm_reply_t *waiter;  //  deferred "wait"
} sink_t;

static void
s_sink_check (zm_ctx_t *ctx, sink_t *self)
{
    if (self->waiter && self->count >= self->target)
        zm_reply_send (zm_ctx_node (ctx), &self->waiter, NULL, 0, NULL);
}

static int
s_sink_hit (zm_ctx_t *ctx, zm_msg_t *msg)
{
    sink_t *self = (sink_t *) zm_ctx_state (ctx);
    self->count++;
    if (self->count >= self->target)
        s_sink_check (ctx, self);
    return 0;
}

static int
s_sink_wait (zm_ctx_t *ctx, zm_msg_t *msg)
{
    sink_t *self = (sink_t *) zm_ctx_state (ctx);
    self->waiter = zm_ctx_defer (ctx);
    s_sink_check (ctx, self);
    return 0;
}

static const zm_handler_t s_sink_handlers[] = {
    {"hit", s_sink_hit}, {"wait", s_sink_wait}, {NULL, NULL}};
static const zm_actor_def_t s_sink = {.kind = "sink", .handlers = s_sink_handlers};

//  source sends BATCH hits per "tick" and ticks itself until it sent total.
typedef struct {
    zm_pid_t sink;    //  where hits go
    int64_t left;     //  hits still to send
} source_t;

static int
s_source_tick (zm_ctx_t *ctx, zm_msg_t *msg)
{
    source_t *self = (source_t *) zm_ctx_state (ctx);
    for (int i = 0; i < BATCH && self->left > 0; i++, self->left--)
        zm_tell (ctx, self->sink, "hit", NULL);
    if (self->left > 0)
        zm_tell (ctx, zm_ctx_self (ctx), "tick", NULL);
    return 0;
}

static const zm_handler_t s_source_handlers[] = {{"tick", s_source_tick}, {NULL, NULL}};
static const zm_actor_def_t s_source = {.kind = "source", .handlers = s_source_handlers};

static double
s_tell_rate (int reactors, int64_t total)
{
    zm_node_t *node = s_node (reactors);
    sink_t sink = {0, total, NULL};
    source_t source = {0, total};
    source.sink = zm_spawn (node, "sink", &s_sink, &sink, reactors - 1, NULL);
    zm_pid_t src = zm_spawn (node, "source", &s_source, &source, 0, NULL);
    int64_t start = s_now_ns ();
    zm_node_tell (node, src, "tick", NULL);
    int rc = zm_node_ask (node, source.sink, "wait", NULL, NULL, NULL, 120000);
    int64_t took = s_now_ns () - start;
    zm_node_destroy (&node);
    if (rc) {
        fprintf (stderr, "bench_actor: tell run failed: %s\n", zm_strerror (rc));
        exit (1);
    }
    return (double) total * 1e9 / (double) took;
}

//  --------------------------------------------------------------------------
//  ask ping-pong

typedef struct {
    zm_pid_t target;     //  who answers
    int64_t left;        //  asks still to make
    zm_reply_t *waiter;  //  deferred "run"
} pinger_t;

static int
s_pinger_next (zm_ctx_t *ctx, pinger_t *self)
{
    if (self->left-- > 0)
        return zm_ask (ctx, self->target, "ping", NULL, "pong", 10000, NULL);
    return zm_reply_send (zm_ctx_node (ctx), &self->waiter, NULL, 0, NULL);
}

static int
s_pinger_run (zm_ctx_t *ctx, zm_msg_t *msg)
{
    pinger_t *self = (pinger_t *) zm_ctx_state (ctx);
    self->waiter = zm_ctx_defer (ctx);
    return s_pinger_next (ctx, self);
}

static int
s_pinger_pong (zm_ctx_t *ctx, zm_msg_t *msg)
{
    if (zm_ctx_status (ctx) != ZM_OK)
        return zm_ctx_status (ctx);
    return s_pinger_next (ctx, (pinger_t *) zm_ctx_state (ctx));
}

static int
s_ponger_ping (zm_ctx_t *ctx, zm_msg_t *msg)
{
    return 0; //  the runtime answers with an empty reply
}

static const zm_handler_t s_pinger_handlers[] = {
    {"run", s_pinger_run}, {"pong", s_pinger_pong}, {NULL, NULL}};
static const zm_actor_def_t s_pinger = {.kind = "pinger", .handlers = s_pinger_handlers};
static const zm_handler_t s_ponger_handlers[] = {{"ping", s_ponger_ping}, {NULL, NULL}};
static const zm_actor_def_t s_ponger = {.kind = "ponger", .handlers = s_ponger_handlers};

static double
s_ask_rtt_ns (int reactors, int64_t count)
{
    zm_node_t *node = s_node (reactors);
    pinger_t pinger = {0, count, NULL};
    pinger.target = zm_spawn (node, "ponger", &s_ponger, NULL, reactors - 1, NULL);
    zm_pid_t pid = zm_spawn (node, "pinger", &s_pinger, &pinger, 0, NULL);
    int64_t start = s_now_ns ();
    int rc = zm_node_ask (node, pid, "run", NULL, NULL, NULL, 120000);
    int64_t took = s_now_ns () - start;
    zm_node_destroy (&node);
    if (rc) {
        fprintf (stderr, "bench_actor: ask run failed: %s\n", zm_strerror (rc));
        exit (1);
    }
    return (double) took / (double) count;
}

//  --------------------------------------------------------------------------
//  Raw libzmq baselines: the same message counts over inproc

static double
s_raw_self_rate (int64_t total)
{
    //  One thread sends a batch to itself and reads it back: the closest raw
    //  analogue of a reactor telling its own actors.
    void *ctx = zmq_ctx_new ();
    void *tx = zmq_socket (ctx, ZMQ_PAIR), *rx = zmq_socket (ctx, ZMQ_PAIR);
    int hwm = 0;
    zmq_setsockopt (tx, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (rx, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_bind (rx, "inproc://raw-self");
    zmq_connect (tx, "inproc://raw-self");
    char buf[8] = {0};
    int64_t start = s_now_ns ();
    for (int64_t sent = 0; sent < total;) {
        int n = 0;
        for (; n < BATCH && sent < total; n++, sent++)
            zmq_send (tx, buf, sizeof buf, 0);
        for (int i = 0; i < n; i++)
            zmq_recv (rx, buf, sizeof buf, 0);
    }
    int64_t took = s_now_ns () - start;
    zmq_close (tx);
    zmq_close (rx);
    zmq_ctx_term (ctx);
    return (double) total * 1e9 / (double) took;
}

typedef struct {
    void *ctx;          //  shared context
    int64_t count;      //  messages
} raw_job_t;

static void *
s_raw_pull (void *arg)
{
    raw_job_t *job = (raw_job_t *) arg;
    void *rx = zmq_socket (job->ctx, ZMQ_PULL);
    int hwm = 0;
    zmq_setsockopt (rx, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_bind (rx, "inproc://raw-push");
    char buf[8];
    for (int64_t i = 0; i < job->count; i++)
        zmq_recv (rx, buf, sizeof buf, 0);
    zmq_close (rx);
    return NULL;
}

static double
s_raw_push_rate (int64_t total)
{
    raw_job_t job = {zmq_ctx_new (), total};
    void *tx = zmq_socket (job.ctx, ZMQ_PUSH);
    int hwm = 0;
    zmq_setsockopt (tx, ZMQ_SNDHWM, &hwm, sizeof hwm);
    pthread_t thread;
    int64_t start = s_now_ns ();
    pthread_create (&thread, NULL, s_raw_pull, &job);
    zmq_connect (tx, "inproc://raw-push");
    char buf[8] = {0};
    for (int64_t i = 0; i < total; i++)
        zmq_send (tx, buf, sizeof buf, 0);
    pthread_join (thread, NULL);
    int64_t took = s_now_ns () - start;
    zmq_close (tx);
    zmq_ctx_term (job.ctx);
    return (double) total * 1e9 / (double) took;
}

static void *
s_raw_echo (void *arg)
{
    raw_job_t *job = (raw_job_t *) arg;
    void *sock = zmq_socket (job->ctx, ZMQ_PAIR);
    zmq_connect (sock, "inproc://raw-ping");
    char buf[8];
    for (int64_t i = 0; i < job->count; i++) {
        zmq_recv (sock, buf, sizeof buf, 0);
        zmq_send (sock, buf, sizeof buf, 0);
    }
    zmq_close (sock);
    return NULL;
}

static double
s_raw_rtt_ns (int64_t count)
{
    raw_job_t job = {zmq_ctx_new (), count};
    void *sock = zmq_socket (job.ctx, ZMQ_PAIR);
    zmq_bind (sock, "inproc://raw-ping");
    pthread_t thread;
    pthread_create (&thread, NULL, s_raw_echo, &job);
    char buf[8] = {0};
    int64_t start = s_now_ns ();
    for (int64_t i = 0; i < count; i++) {
        zmq_send (sock, buf, sizeof buf, 0);
        zmq_recv (sock, buf, sizeof buf, 0);
    }
    int64_t took = s_now_ns () - start;
    pthread_join (thread, NULL);
    zmq_close (sock);
    zmq_ctx_term (job.ctx);
    return (double) took / (double) count;
}

static double
s_raw_rtt_self_ns (int64_t count)
{
    //  One thread, two PAIR sockets: request there and answer back, the raw
    //  analogue of an ask between two actors of one reactor.
    void *ctx = zmq_ctx_new ();
    void *a = zmq_socket (ctx, ZMQ_PAIR), *b = zmq_socket (ctx, ZMQ_PAIR);
    zmq_bind (b, "inproc://raw-rtt-self");
    zmq_connect (a, "inproc://raw-rtt-self");
    char buf[8] = {0};
    int64_t start = s_now_ns ();
    for (int64_t i = 0; i < count; i++) {
        zmq_send (a, buf, sizeof buf, 0);
        zmq_recv (b, buf, sizeof buf, 0);
        zmq_send (b, buf, sizeof buf, 0);
        zmq_recv (a, buf, sizeof buf, 0);
    }
    int64_t took = s_now_ns () - start;
    zmq_close (a);
    zmq_close (b);
    zmq_ctx_term (ctx);
    return (double) took / (double) count;
}

//  --------------------------------------------------------------------------
//  Memory per idle actor

static long
s_rss_bytes (void)
{
    long pages = 0, resident = 0;
    FILE *file = fopen ("/proc/self/statm", "r");
    if (!file)
        return -1;
    if (fscanf (file, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose (file);
    return resident * sysconf (_SC_PAGESIZE);
}

static int
s_idle_get (zm_ctx_t *ctx, zm_msg_t *msg)
{
    return 0;
}

static const zm_handler_t s_idle_handlers[] = {{"get", s_idle_get}, {NULL, NULL}};
static const zm_actor_def_t s_idle = {.kind = "idle", .handlers = s_idle_handlers};

static void
s_memory (int count)
{
    zm_node_t *node = s_node (1);
    //  Let the node settle, then measure around the spawns only.
    zclock_sleep (50);
    long before = s_rss_bytes ();
    char name[32];
    zm_pid_t last = 0;
    for (int i = 0; i < count; i++) {
        snprintf (name, sizeof name, "actor-%d", i);
        last = zm_spawn (node, name, &s_idle, NULL, 0, NULL);
        if (!last) {
            fprintf (stderr, "bench_actor: spawn %d failed\n", i);
            exit (1);
        }
    }
    //  All started (their START envelopes are handled and freed).
    zm_node_ask (node, last, "get", NULL, NULL, NULL, 60000);
    long after = s_rss_bytes ();
    printf ("{\"bench\":\"actor\",\"case\":\"actor_memory\",\"actors\":%d,"
            "\"rss_before\":%ld,\"rss_after\":%ld,\"bytes_per_actor\":%.1f,\"target\":512}\n",
            count, before, after, (double) (after - before) / count);
    zm_node_destroy (&node);
}

int
main (int argc, char **argv)
{
    int64_t total = argc > 1 ? atoll (argv[1]) : 5000000;
    if (total < 1000 || total > 1000000000LL) {
        fprintf (stderr, "usage: bench_actor [messages 1000..1e9]\n");
        return 2;
    }
    int64_t asks = total / 10;

    //  Memory first, while the heap is fresh: later runs leave freed arenas
    //  that new actors would reuse, which would flatter the figure.
    s_memory (100000);
    double ours = s_tell_rate (1, total);
    double raw = s_raw_self_rate (total);
    printf ("{\"bench\":\"actor\",\"case\":\"tell_1_reactor\",\"messages\":%" PRId64
            ",\"msgs_per_s\":%.0f,\"baseline\":\"zmq inproc PAIR, one thread\","
            "\"baseline_msgs_per_s\":%.0f,\"ratio\":%.2f,\"target_msgs_per_s\":5000000}\n",
            total, ours, raw, ours / raw);
    fflush (stdout);

    ours = s_tell_rate (2, total);
    raw = s_raw_push_rate (total);
    printf ("{\"bench\":\"actor\",\"case\":\"tell_2_reactors\",\"messages\":%" PRId64
            ",\"msgs_per_s\":%.0f,\"baseline\":\"zmq inproc PUSH/PULL, two threads\","
            "\"baseline_msgs_per_s\":%.0f,\"ratio\":%.2f}\n",
            total, ours, raw, ours / raw);
    fflush (stdout);

    double raw_rtt = s_raw_rtt_self_ns (asks);
    ours = s_ask_rtt_ns (1, asks);
    printf ("{\"bench\":\"actor\",\"case\":\"ask_rtt_1_reactor\",\"asks\":%" PRId64
            ",\"ns_per_rtt\":%.0f,\"baseline\":\"zmq inproc PAIR ping-pong, one thread\","
            "\"baseline_ns_per_rtt\":%.0f,\"ratio\":%.2f}\n",
            asks, ours, raw_rtt, ours / raw_rtt);
    fflush (stdout);
    raw_rtt = s_raw_rtt_ns (asks);
    fflush (stdout);
    ours = s_ask_rtt_ns (2, asks);
    printf ("{\"bench\":\"actor\",\"case\":\"ask_rtt_2_reactors\",\"asks\":%" PRId64
            ",\"ns_per_rtt\":%.0f,\"baseline\":\"zmq inproc PAIR ping-pong, two threads\","
            "\"baseline_ns_per_rtt\":%.0f,\"ratio\":%.2f}\n",
            asks, ours, raw_rtt, ours / raw_rtt);
    fflush (stdout);
    return 0;
}
