/*  demo - a node of actors sharing work across reactors

    A coordinator splits a range of numbers into chunks and asks a pool of
    worker actors, spread over two reactors, to count the primes in each.
    Replies come back to the coordinator as messages; when the last one is in
    it answers the main thread, which checks the total and prints a summary.

    Usage: demo [limit] [workers]     (defaults 2,000,000 and 8)
*/
#include <czmq.h>
#include "zmicro.h"

//  worker: "count" {from, to} -> {primes}
static int
s_worker_count (zm_ctx_t *ctx, zm_msg_t *msg)
{
    uint64_t from = zm_msg_get_uint (msg, "from", 0);
    uint64_t to = zm_msg_get_uint (msg, "to", 0);
    if (to < from || to - from > 10000000)
        return zm_error (ctx, ZM_EINVAL, "bad range %" PRIu64 "..%" PRIu64, from, to);
    uint64_t primes = 0;
    for (uint64_t n = from < 2 ? 2 : from; n < to; n++) {
        bool prime = true;
        for (uint64_t d = 2; d * d <= n; d++)
            if (n % d == 0) {
                prime = false;
                break;
            }
        primes += prime;
    }
    zm_msg_t *reply = zm_msg_new ();
    zm_msg_set_uint (reply, "primes", primes);
    zm_msg_set_int (reply, "reactor", zm_ctx_reactor (ctx));
    return zm_reply (ctx, &reply);
}

static const zm_handler_t s_worker_handlers[] = {{"count", s_worker_count}, {NULL, NULL}};
static const zm_actor_def_t s_worker = {.kind = "worker", .handlers = s_worker_handlers};

//  coordinator: "run" {limit, workers} -> {primes, chunks, per_reactor}
typedef struct {
    zm_pid_t *workers;       //  the pool
    int worker_count;        //  its size
    uint64_t primes;         //  total so far
    int outstanding;         //  chunks not answered yet
    int chunks;              //  chunks sent
    int per_reactor[2];      //  chunks each reactor answered
    int failed;              //  chunks that came back with an error
    zm_reply_t *caller;      //  the deferred "run"
} coordinator_t;

static int
s_coord_run (zm_ctx_t *ctx, zm_msg_t *msg)
{
    coordinator_t *self = (coordinator_t *) zm_ctx_state (ctx);
    uint64_t limit = zm_msg_get_uint (msg, "limit", 1000000);
    int workers = (int) zm_msg_get_int (msg, "workers", 8);
    if (workers < 1 || workers > 1024 || limit < 2 || limit > 100000000)
        return zm_error (ctx, ZM_EINVAL, "limit 2..1e8 and workers 1..1024 please");
    self->workers = (zm_pid_t *) calloc (workers, sizeof (zm_pid_t));
    self->worker_count = workers;
    for (int i = 0; i < workers; i++) {
        int err;
        self->workers[i] = zm_spawn (zm_ctx_node (ctx), NULL, &s_worker, NULL, -1, &err);
        if (!self->workers[i])
            return zm_error (ctx, err, "cannot spawn worker %d", i);
    }
    uint64_t chunk = 50000;
    for (uint64_t from = 0; from < limit; from += chunk) {
        zm_msg_t *req = zm_msg_new ();
        zm_msg_set_uint (req, "from", from);
        zm_msg_set_uint (req, "to", from + chunk < limit ? from + chunk : limit);
        zm_pid_t worker = self->workers[self->chunks % workers];
        int rc = zm_ask (ctx, worker, "count", &req, "counted", 60000, NULL);
        if (rc)
            return zm_error (ctx, rc, "ask failed");
        self->chunks++;
        self->outstanding++;
    }
    self->caller = zm_ctx_defer (ctx);
    return 0;
}

static int
s_coord_counted (zm_ctx_t *ctx, zm_msg_t *msg)
{
    coordinator_t *self = (coordinator_t *) zm_ctx_state (ctx);
    if (zm_ctx_status (ctx) == ZM_OK) {
        self->primes += zm_msg_get_uint (msg, "primes", 0);
        int reactor = (int) zm_msg_get_int (msg, "reactor", 0);
        if (reactor >= 0 && reactor < 2)
            self->per_reactor[reactor]++;
    }
    else
        self->failed++;
    if (--self->outstanding == 0) {
        zm_msg_t *reply = zm_msg_new ();
        zm_msg_set_uint (reply, "primes", self->primes);
        zm_msg_set_int (reply, "chunks", self->chunks);
        zm_msg_set_int (reply, "failed", self->failed);
        zm_msg_set_int (reply, "reactor0", self->per_reactor[0]);
        zm_msg_set_int (reply, "reactor1", self->per_reactor[1]);
        zm_reply_send (zm_ctx_node (ctx), &self->caller, &reply, 0, NULL);
    }
    return 0;
}

static int
s_coord_destroy (zm_ctx_t *ctx, zm_msg_t *msg)
{
    coordinator_t *self = (coordinator_t *) zm_ctx_state (ctx);
    if (self->caller)
        zm_reply_send (zm_ctx_node (ctx), &self->caller, NULL, ZM_ECLOSED, "stopping");
    free (self->workers);
    return 0;
}

static const zm_handler_t s_coord_handlers[] = {
    {"run", s_coord_run}, {"counted", s_coord_counted}, {NULL, NULL}};
static const zm_actor_def_t s_coordinator = {
    .kind = "coordinator", .handlers = s_coord_handlers, .destroy = s_coord_destroy};

int
main (int argc, char **argv)
{
    uint64_t limit = argc > 1 ? strtoull (argv[1], NULL, 10) : 2000000;
    int workers = argc > 2 ? atoi (argv[2]) : 8;

    //  Actors in one process need no network: by default no beacon on the
    //  LAN, no RPC socket and no keypair written to zm-keys/ (ZM_* variables
    //  may still say otherwise)
    char *reason = NULL;
    zm_config_t *config = zm_config_new ();
    if (!config
        || zm_config_define (config, "registry.beacon", ZM_CONFIG_BOOL, "false",
                             "demo: one node, nothing to discover")
        || zm_config_define (config, "rpc.bind", ZM_CONFIG_STR, "", "demo: no RPC socket")
        || zm_config_define (config, "auth.keys", ZM_CONFIG_STR, ":memory:",
                             "demo: a keypair in memory")
        || zm_config_load_all (config, 0, NULL, &reason)) {
        fprintf (stderr, "demo: %s\n", reason ? reason : "cannot configure");
        free (reason);
        zm_config_destroy (&config);
        return 1;
    }
    zm_config_set (config, "reactors", "2", NULL);
    zm_node_t *node = zm_node_new (&config);
    if (!node)
        return 1;
    printf ("demo: node %s, %d reactors, %d workers, primes below %" PRIu64 "\n",
            zm_node_uuid (node), zm_node_reactors (node), workers, limit);

    coordinator_t state = {0};
    zm_pid_t coordinator = zm_spawn (node, "coordinator", &s_coordinator, &state, 0, NULL);
    zm_msg_t *req = zm_msg_new ();
    zm_msg_set_uint (req, "limit", limit);
    zm_msg_set_int (req, "workers", workers);
    zm_msg_t *reply = NULL;
    zm_error_t *error = NULL;
    int64_t start = zclock_mono ();
    int rc = zm_node_ask (node, coordinator, "run", &req, &reply, &error, 120000);
    int64_t took = zclock_mono () - start;
    if (rc) {
        fprintf (stderr, "demo: run failed: %s (%s)\n", zm_strerror (rc), zm_error_detail (error));
        zm_error_destroy (&error);
        zm_node_destroy (&node);
        return 1;
    }
    uint64_t primes = zm_msg_get_uint (reply, "primes", 0);
    printf ("demo: %" PRIu64 " primes below %" PRIu64 " in %" PRId64 " ms; %d chunks, "
            "%d answered on reactor 0, %d on reactor 1, %d failed\n",
            primes, limit, took, (int) zm_msg_get_int (reply, "chunks", 0),
            (int) zm_msg_get_int (reply, "reactor0", 0),
            (int) zm_msg_get_int (reply, "reactor1", 0),
            (int) zm_msg_get_int (reply, "failed", 0));
    zm_msg_destroy (&reply);
    zm_node_destroy (&node);
    //  pi(2,000,000) = 148,933: a wrong answer is a failed demo.
    if (limit == 2000000 && primes != 148933) {
        fprintf (stderr, "demo: expected 148933 primes\n");
        return 1;
    }
    return 0;
}
