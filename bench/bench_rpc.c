/*  bench_rpc - RPC over loopback TCP against a raw libzmq DEALER/ROUTER echo

    Both sides run in this process on separate threads and talk over
    tcp://127.0.0.1, with a 64-byte body:
      rtt_1_in_flight      p50 / p99 round trip of zm_call, one call at a time,
                           vs a raw DEALER -> ROUTER echo, one message at a time
      throughput_64_in_flight  calls per second from one actor keeping 64
                           zm_call_async in flight, vs one raw DEALER keeping
                           64 messages in flight
      throughput_16_threads  calls per second from 16 threads each calling in
                           a loop, vs 16 raw DEALERs doing the same

    Usage: bench_rpc [calls [case]]   (default 20,000 for the round trip;
           bounded; case: rtt, pipe or threads runs only that one)
*/
#include <czmq.h>
#include <pthread.h>
#include "zmicro.h"
#include "bench_util.h"

#define BODY 64
#define THREADS 16

//  --------------------------------------------------------------------------
//  Raw baseline: a ROUTER thread echoing whatever comes in

typedef struct {
    int port;              //  bound port
    volatile int stop;     //  set to end
} raw_server_t;

static void
s_raw_echo (zsock_t *pipe, void *arg)
{
    raw_server_t *server = (raw_server_t *) arg;
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    bench_curve_server (zsock_resolve (router));
    server->port = zsock_bind (router, "tcp://127.0.0.1:*");
    zsock_signal (pipe, 0);
    zpoller_t *poller = zpoller_new (pipe, router, NULL);
    while (true) {
        void *which = zpoller_wait (poller, -1);
        if (which == pipe || !which)
            break;
        zmsg_t *msg = zmsg_recv (router);
        if (msg)
            zmsg_send (&msg, router);
    }
    zpoller_destroy (&poller);
    zsock_destroy (&router);
}

//  A raw DEALER to endpoint (a CURVE client in "curve" mode)
static zsock_t *
s_raw_dealer (const char *endpoint)
{
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    bench_curve_client (zsock_resolve (dealer));
    zsock_connect (dealer, "%s", endpoint);
    return dealer;
}

static void
s_raw_roundtrip (zsock_t *dealer, const char *body)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, body, BODY);
    zmsg_send (&msg, dealer);
    msg = zmsg_recv (dealer);
    zmsg_destroy (&msg);
}

//  --------------------------------------------------------------------------
//  zmicro side: an echo service

static int
s_echo (zm_ctx_t *ctx, zm_msg_t *req)
{
    return zm_reply (ctx, &req); //  answer with the request itself
}

typedef struct {
    zm_node_t *node;       //  client node
    const char *address;   //  server address (NULL: raw)
    int calls;             //  per thread
    int64_t failures;      //  calls that failed
} job_t;

static zm_msg_t *
s_request (void)
{
    zm_msg_t *req = zm_msg_new ();
    char body[BODY - 8];
    memset (body, 'x', sizeof body);
    zm_msg_set_bin (req, "b", body, sizeof body); //  64 bytes encoded, with the map
    return req;
}

static void *
s_zm_worker (void *arg)
{
    job_t *job = (job_t *) arg;
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = job->address;
    for (int i = 0; i < job->calls; i++) {
        zm_msg_t *req = s_request (), *rep = NULL;
        if (zm_call (job->node, "echo", "Echo", &req, &rep, NULL, &opts) != 0)
            job->failures++;
        zm_msg_destroy (&rep);
    }
    return NULL;
}

typedef struct {
    int port;      //  raw server
    int calls;     //  per thread
} raw_job_t;

static void *
s_raw_worker (void *arg)
{
    raw_job_t *job = (raw_job_t *) arg;
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", job->port);
    zsock_t *dealer = s_raw_dealer (endpoint);
    char body[BODY];
    memset (body, 'x', sizeof body);
    for (int i = 0; i < job->calls; i++)
        s_raw_roundtrip (dealer, body);
    zsock_destroy (&dealer);
    return NULL;
}

//  (b) 64 in flight from one client: an actor keeps 64 async calls going.
#define IN_FLIGHT 64

typedef struct {
    const char *address;   //  server
    int left;              //  calls still to start
    int done;              //  answers in
    int total;             //  calls to make
    int failures;          //  answers that were errors
    zm_reply_t *waiter;    //  the main thread's deferred ask
} pump_t;

static int
s_pump_next (zm_ctx_t *ctx, pump_t *self)
{
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = self->address;
    self->left--;
    zm_msg_t *req = s_request ();
    return zm_call_async (ctx, "echo", "Echo", &req, "echoed", &opts, NULL);
}

static int
s_pump_run (zm_ctx_t *ctx, zm_msg_t *msg)
{
    pump_t *self = (pump_t *) zm_ctx_state (ctx);
    self->waiter = zm_ctx_defer (ctx);
    for (int i = 0; i < IN_FLIGHT && self->left > 0; i++)
        s_pump_next (ctx, self);
    return 0;
}

static int
s_pump_echoed (zm_ctx_t *ctx, zm_msg_t *msg)
{
    pump_t *self = (pump_t *) zm_ctx_state (ctx);
    self->done++;
    if (zm_ctx_status (ctx))
        self->failures++;
    if (self->left > 0)
        return s_pump_next (ctx, self);
    if (self->done == self->total)
        zm_reply_send (zm_ctx_node (ctx), &self->waiter, NULL, 0, NULL);
    return 0;
}

static const zm_handler_t s_pump_handlers[] = {
    {"run", s_pump_run}, {"echoed", s_pump_echoed}, {NULL, NULL}};
static const zm_actor_def_t s_pump = {.kind = "pump", .handlers = s_pump_handlers};

static double
s_raw_pipelined (int port, int total)
{
    char endpoint[64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);
    zsock_t *dealer = s_raw_dealer (endpoint);
    char body[BODY];
    memset (body, 'x', sizeof body);
    int64_t start = s_now_us ();
    int sent = 0;
    for (; sent < IN_FLIGHT && sent < total; sent++) {
        zmsg_t *msg = zmsg_new ();
        zmsg_addmem (msg, body, BODY);
        zmsg_send (&msg, dealer);
    }
    for (int got = 0; got < total; got++) {
        zmsg_t *msg = zmsg_recv (dealer);
        zmsg_destroy (&msg);
        if (sent < total) {
            msg = zmsg_new ();
            zmsg_addmem (msg, body, BODY);
            zmsg_send (&msg, dealer);
            sent++;
        }
    }
    double rate = (double) total * 1e6 / (double) (s_now_us () - start);
    zsock_destroy (&dealer);
    return rate;
}

static void s_bench_rtt (zm_node_t *client, const char *address, const char *raw_endpoint,
                         int calls);
static void s_bench_pipe (zm_node_t *client, const char *address, int raw_port, int calls);
static void s_bench_threads (zm_node_t *client, const char *address, int raw_port, int calls);

int
main (int argc, char **argv)
{
    int calls = argc > 1 ? atoi (argv[1]) : 20000;
    const char *only = argc > 2 && !streq (argv[2], "all") ? argv[2] : NULL;
    if (calls < 100 || calls > 10000000
        || (only && !streq (only, "rtt") && !streq (only, "pipe") && !streq (only, "threads"))
        || bench_curve_init (argc > 3 ? argv[3] : NULL) != 0) {
        fprintf (stderr, "usage: bench_rpc [calls 100..1e7 [all|rtt|pipe|threads [curve|plain]]]\n");
        return 2;
    }
    const char *curve = s_bench_curve ? "true" : "false";
    zsys_init ();
    zsys_set_logstream (stderr);

    //  Raw server
    raw_server_t raw = {0, 0};
    zactor_t *raw_actor = zactor_new (s_raw_echo, &raw);
    char raw_endpoint[64];
    snprintf (raw_endpoint, sizeof raw_endpoint, "tcp://127.0.0.1:%d", raw.port);

    //  zmicro server node and client node
    zm_config_t *config = zm_config_new ();
    zm_config_set (config, "auth.keys", ":memory:", NULL); //  no key files
    zm_config_set (config, "log.level", "error", NULL);
    zm_config_set (config, "rpc.bind", "127.0.0.1", NULL);
    zm_config_set (config, "registry.beacon", "false", NULL); //  loopback only
    zm_config_set (config, "auth.curve", curve, NULL);
    zm_node_t *server = zm_node_new (&config);
    zm_service_t *svc = zm_service_new (server, "echo", "1.0.0");
    zm_service_handle (svc, "Echo", s_echo);
    zm_service_start (svc);
    config = zm_config_new ();
    zm_config_set (config, "auth.keys", ":memory:", NULL); //  no key files
    zm_config_set (config, "log.level", "error", NULL);
    zm_config_set (config, "rpc.bind", "", NULL); //  a pure client
    zm_config_set (config, "registry.beacon", "false", NULL);
    zm_config_set (config, "auth.curve", curve, NULL);
    zm_node_t *client = zm_node_new (&config);
    char address[128], key[ZM_KEY_TEXT] = "";
    zm_node_public_key (server, key);
    snprintf (address, sizeof address, "tcp://127.0.0.1:%d#%s", zm_node_rpc_port (server, 0), key);

    if (!only || streq (only, "rtt"))
        s_bench_rtt (client, address, raw_endpoint, calls);
    if (!only || streq (only, "pipe"))
        s_bench_pipe (client, address, raw.port, calls);
    if (!only || streq (only, "threads"))
        s_bench_threads (client, address, raw.port, calls);
    zm_node_destroy (&client);
    zm_node_destroy (&server);
    zactor_destroy (&raw_actor);
    return 0;
}

static void
s_bench_rtt (zm_node_t *client, const char *address, const char *raw_endpoint, int calls)
{
    //  (a) one in flight: interleave raw and zmicro in blocks so drift on
    //  a shared machine hits both alike.
    int64_t *ours = (int64_t *) calloc (calls, sizeof (int64_t));
    int64_t *base = (int64_t *) calloc (calls, sizeof (int64_t));
    zsock_t *dealer = s_raw_dealer (raw_endpoint);
    char body[BODY];
    memset (body, 'x', sizeof body);
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = address;
    for (int i = 0; i < 200; i++) { //  warm up both paths
        s_raw_roundtrip (dealer, body);
        zm_msg_t *req = s_request ();
        zm_call (client, "echo", "Echo", &req, NULL, NULL, &opts);
    }
    for (int block = 0; block < calls; block += 1000) {
        int end = block + 1000 < calls ? block + 1000 : calls;
        for (int i = block; i < end; i++) {
            int64_t start = s_now_us ();
            s_raw_roundtrip (dealer, body);
            base[i] = s_now_us () - start;
        }
        for (int i = block; i < end; i++) {
            zm_msg_t *req = s_request (), *rep = NULL;
            int64_t start = s_now_us ();
            int rc = zm_call (client, "echo", "Echo", &req, &rep, NULL, &opts);
            ours[i] = s_now_us () - start;
            zm_msg_destroy (&rep);
            if (rc) {
                fprintf (stderr, "bench_rpc: call failed: %s\n", zm_strerror (rc));
                exit (1);
            }
        }
    }
    zsock_destroy (&dealer);
    qsort (ours, calls, sizeof (int64_t), s_cmp);
    qsort (base, calls, sizeof (int64_t), s_cmp);
    int p50 = calls / 2, p99 = (int) ((int64_t) calls * 99 / 100);
    printf ("{\"bench\":\"rpc\",\"curve\":%s,\"case\":\"rtt_1_in_flight\",\"calls\":%d,\"body_bytes\":%d,"
            "\"p50_us\":%" PRId64 ",\"p99_us\":%" PRId64 ",\"baseline\":\"raw DEALER/ROUTER echo\","
            "\"baseline_p50_us\":%" PRId64 ",\"baseline_p99_us\":%" PRId64
            ",\"ratio_p50\":%.2f,\"ratio_p99\":%.2f,\"target\":1.5}\n",
            s_bench_curve ? "true" : "false", calls, BODY, ours[p50], ours[p99], base[p50], base[p99],
            (double) ours[p50] / (double) base[p50], (double) ours[p99] / (double) base[p99]);
    fflush (stdout);
    free (ours);
    free (base);
}

static void
s_bench_pipe (zm_node_t *client, const char *address, int raw_port, int calls)
{
    //  (b) 64 in flight from one client actor
    int total = calls * 5;
    double raw_pipe = s_raw_pipelined (raw_port, total);
    pump_t pump = {address, total, 0, total, 0, NULL};
    zm_pid_t pumper = zm_spawn (client, "pump", &s_pump, &pump, 0, NULL);
    int64_t pump_start = s_now_us ();
    int pump_rc = zm_node_ask (client, pumper, "run", NULL, NULL, NULL, 600000);
    double our_pipe = (double) total * 1e6 / (double) (s_now_us () - pump_start);
    printf ("{\"bench\":\"rpc\",\"curve\":%s,\"case\":\"throughput_64_in_flight\",\"calls\":%d,"
            "\"body_bytes\":%d,\"calls_per_s\":%.0f,\"failures\":%d,\"rc\":%d,"
            "\"baseline\":\"raw DEALER, 64 in flight\",\"baseline_calls_per_s\":%.0f,"
            "\"ratio\":%.2f,\"target\":0.5}\n",
            s_bench_curve ? "true" : "false", total, BODY, our_pipe, pump.failures, pump_rc, raw_pipe, our_pipe / raw_pipe);
    fflush (stdout);
}

static void
s_bench_threads (zm_node_t *client, const char *address, int raw_port, int calls)
{
    //  (c) 16 client threads
    int per_thread = calls / THREADS > 100 ? calls / THREADS : 100;
    pthread_t threads[THREADS];
    raw_job_t raw_jobs[THREADS];
    int64_t start = s_now_us ();
    for (int t = 0; t < THREADS; t++) {
        raw_jobs[t] = (raw_job_t) {raw_port, per_thread};
        pthread_create (&threads[t], NULL, s_raw_worker, &raw_jobs[t]);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join (threads[t], NULL);
    double raw_rate = (double) per_thread * THREADS * 1e6 / (double) (s_now_us () - start);
    job_t jobs[THREADS];
    start = s_now_us ();
    for (int t = 0; t < THREADS; t++) {
        jobs[t] = (job_t) {client, address, per_thread, 0};
        pthread_create (&threads[t], NULL, s_zm_worker, &jobs[t]);
    }
    int64_t failures = 0;
    for (int t = 0; t < THREADS; t++) {
        pthread_join (threads[t], NULL);
        failures += jobs[t].failures;
    }
    double our_rate = (double) per_thread * THREADS * 1e6 / (double) (s_now_us () - start);
    printf ("{\"bench\":\"rpc\",\"curve\":%s,\"case\":\"throughput_16_threads\",\"calls\":%d,\"body_bytes\":%d,"
            "\"calls_per_s\":%.0f,\"failures\":%" PRId64 ",\"baseline\":\"16 raw DEALERs\","
            "\"baseline_calls_per_s\":%.0f,\"ratio\":%.2f}\n",
            s_bench_curve ? "true" : "false", per_thread * THREADS, BODY, our_rate, failures, raw_rate, our_rate / raw_rate);
    fflush (stdout);
}
