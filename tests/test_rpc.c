/*  RPC across processes: each test starts real rpc_node processes (see
    tests/helpers/rpc_node.c) on loopback and calls them from this process.
*/
#include "support.h"
#include <pthread.h>
#include <czmq.h>
#include "zmicro.h"

//  Start rpc_node with flags (extra: one more flag, or NULL); wait for its
//  READY line. It dies with this process (PR_SET_PDEATHSIG).
static zt_proc_t
s_start2 (const char *name, const char *extra, const char *extra2)
{
    char path[4200], name_flag[256];
    snprintf (path, sizeof path, "%s/tests/helpers/rpc_node", zt_build_dir ());
    snprintf (name_flag, sizeof name_flag, "--node.name=%s", name);
    const char *argv[] = {path, name_flag, "--log.level=warning", extra, extra2, NULL};
    zt_proc_t peer = zt_spawn (argv, NULL);
    cr_assert (peer.pid > 0, "cannot start %s", path);
    cr_assert (zt_ready (&peer, 10000) > 0, "%s did not start", name);
    return peer;
}

static zt_proc_t
s_start (const char *name, const char *extra)
{
    return s_start2 (name, extra, NULL);
}

//  A config for nodes made in the test process: quiet, and no beacons (the
//  suite never broadcasts on the machine's network; LAN tests use
//  namespaces).
static zm_config_t *
s_config (void)
{
    zm_config_t *config = zm_config_new ();
    zm_config_set (config, "auth.keys", ":memory:", NULL); //  no key files
    cr_assert_not_null (config);
    zm_config_set (config, "registry.beacon", "false", NULL);
    return config;
}

static zm_node_t *
s_client_node (const char *peers)
{
    zm_config_t *config = s_config ();
    zm_config_set (config, "log.level", "error", NULL);
    if (peers)
        zm_config_set (config, "registry.peers", peers, NULL);
    zm_node_t *node = zm_node_new (&config);
    cr_assert_not_null (node);
    return node;
}

static char *
s_address (zt_proc_t *peer)
{
    return peer->address;
}

Test (rpc, call_across_processes, .timeout = 30)
{
    zt_proc_t a = s_start ("alpha", NULL);
    zm_node_t *node = s_client_node (NULL);
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = s_address (&a);
    for (int i = 0; i < 100; i++) {
        zm_msg_t *req = zm_msg_new ();
        zm_msg_setf (req, "name", "world %d", i);
        zm_msg_t *rep = NULL;
        zm_error_t *error = NULL;
        int rc = zm_call (node, "greeter", "Say.Hello", &req, &rep, &error, &opts);
        cr_assert_eq (rc, 0, "call: %s", zm_error_detail (error));
        cr_assert_null (req, "zm_call takes the request");
        char want[64];
        snprintf (want, sizeof want, "Hello world %d", i);
        cr_assert_str_eq (zm_msg_get_str (rep, "greeting", ""), want);
        cr_assert_str_eq (zm_msg_get_str (rep, "node", ""), "alpha");
        zm_msg_destroy (&rep);
    }
    //  JSON both ways
    opts.content_type = ZM_CT_JSON;
    zm_msg_t *req = zm_msg_new ();
    zm_msg_set_str (req, "name", "json");
    zm_msg_t *rep = NULL;
    cr_assert_eq (zm_call (node, "greeter", "Say.Hello", &req, &rep, NULL, &opts), 0);
    cr_assert_str_eq (zm_msg_get_str (rep, "greeting", ""), "Hello json");
    zm_msg_destroy (&rep);
    zm_node_destroy (&node);
    zt_kill (&a, SIGTERM);
}

Test (rpc, handler_error_is_typed_at_caller, .timeout = 30)
{
    zt_proc_t a = s_start ("alpha", NULL);
    zm_node_t *node = s_client_node (NULL);
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = s_address (&a);
    zm_error_t *error = NULL;
    zm_msg_t *rep = NULL;
    cr_assert_eq (zm_call (node, "greeter", "Fail", NULL, &rep, &error, &opts), ZM_ECONFLICT);
    cr_assert_null (rep);
    cr_assert_not_null (error);
    cr_assert_eq (zm_error_code (error), 409);
    cr_assert_str_eq (zm_error_detail (error), "it failed on purpose");
    cr_assert_str_eq (zm_error_id (error), "greeter.Fail");
    cr_assert_str_eq (zm_error_status (error), "Conflict");
    zm_error_destroy (&error);
    //  Unknown service and endpoint: 404 from the server
    cr_assert_eq (zm_call (node, "nobody", "X", NULL, NULL, &error, &opts), ZM_ENOTFOUND);
    cr_assert (strstr (zm_error_detail (error), "no service 'nobody'"));
    zm_error_destroy (&error);
    cr_assert_eq (zm_call (node, "greeter", "Nope", NULL, NULL, &error, &opts), ZM_ENOTFOUND);
    cr_assert (strstr (zm_error_detail (error), "no endpoint 'Nope'"));
    zm_error_destroy (&error);
    opts.version = "2.0.0";
    cr_assert_eq (zm_call (node, "greeter", "Echo", NULL, NULL, &error, &opts), ZM_ENOTFOUND);
    zm_error_destroy (&error);
    zm_node_destroy (&node);
    zt_kill (&a, SIGTERM);
}

Test (rpc, metadata_and_trace_travel, .timeout = 30)
{
    zt_proc_t a = s_start ("alpha", NULL);
    zm_node_t *node = s_client_node (NULL);
    zm_msg_t *meta = zm_msg_new ();
    zm_msg_set_str (meta, "user", "ada");
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = s_address (&a);
    opts.metadata = meta;
    opts.trace_id = "trace-0123";
    opts.timeout_ms = 3000;
    zm_msg_t *rep = NULL;
    cr_assert_eq (zm_call (node, "greeter", "Echo", NULL, &rep, NULL, &opts), 0);
    cr_assert_str_eq (zm_msg_get_str (rep, "meta_user", ""), "ada");
    cr_assert_str_eq (zm_msg_get_str (rep, "trace_id", ""), "trace-0123");
    int64_t remaining = zm_msg_get_int (rep, "remaining", -1);
    cr_assert (remaining > 2000 && remaining <= 3000, "deadline seen by handler: %" PRId64,
               remaining);
    zm_msg_destroy (&rep);
    //  Without a trace id, one is made up.
    opts.trace_id = NULL;
    cr_assert_eq (zm_call (node, "greeter", "Echo", NULL, &rep, NULL, &opts), 0);
    cr_assert_eq (strlen (zm_msg_get_str (rep, "trace_id", "")), 32);
    zm_msg_destroy (&rep);
    zm_msg_destroy (&meta);
    zm_node_destroy (&node);
    zt_kill (&a, SIGTERM);
}

typedef struct {
    zm_node_t *node;      //  caller's node
    const char *address;  //  where
    int ms;               //  how long the handler sleeps
    int timeout;          //  call deadline
    int rc;               //  result
    const char *service;  //  greeter (blocks the RPC reactor) or slow (dedicated)
} slow_job_t;

static void *
s_slow_call (void *arg)
{
    slow_job_t *job = (slow_job_t *) arg;
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = job->address;
    opts.timeout_ms = job->timeout;
    opts.retries = 0;
    zm_msg_t *req = zm_msg_new ();
    zm_msg_set_int (req, "ms", job->ms);
    zm_msg_t *rep = NULL;
    job->rc = zm_call (job->node, job->service ? job->service : "greeter", "Slow", &req, &rep,
                       NULL, &opts);
    zm_msg_destroy (&rep);
    return NULL;
}

Test (rpc, deadlines_expire_and_queued_work_is_dropped, .timeout = 30)
{
    zt_proc_t a = s_start ("alpha", NULL);
    zm_node_t *node = s_client_node (NULL);
    //  A call whose deadline passes while the handler works: the caller gets
    //  408 on time.
    slow_job_t first = {node, s_address (&a), 400, 150, -1, "slow"};
    int64_t start = zclock_mono ();
    s_slow_call (&first);
    int64_t took = zclock_mono () - start;
    cr_assert_eq (first.rc, ZM_ETIMEOUT);
    cr_assert (took >= 150 && took < 400, "timed out after %" PRId64 " ms", took);
    //  Three calls queue behind a busy handler (one instance, its own reactor):
    //  the ones whose deadline passes while they wait are never handled.
    pthread_t threads[3];
    slow_job_t jobs[3] = {{node, s_address (&a), 300, 1000, -1, "slow"},
                          {node, s_address (&a), 300, 150, -1, "slow"},
                          {node, s_address (&a), 300, 150, -1, "slow"}};
    pthread_create (&threads[0], NULL, s_slow_call, &jobs[0]);
    zclock_sleep (50);
    pthread_create (&threads[1], NULL, s_slow_call, &jobs[1]);
    pthread_create (&threads[2], NULL, s_slow_call, &jobs[2]);
    for (int i = 0; i < 3; i++)
        pthread_join (threads[i], NULL);
    cr_assert_eq (jobs[0].rc, 0);
    cr_assert_eq (jobs[1].rc, ZM_ETIMEOUT);
    cr_assert_eq (jobs[2].rc, ZM_ETIMEOUT);
    zclock_sleep (700); //  let the server get past the queue
    //  The server's stats: 1 (first) + 1 (jobs[0]) handled; the two queued
    //  ones were dropped with 408, not handled (else the server would have
    //  been busy 300 ms more each).
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = s_address (&a);
    zm_msg_t *stats = NULL;
    cr_assert_eq (zm_call (node, "$node", "stats", NULL, &stats, NULL, &opts), 0);
    const zm_val_t *slow
        = zm_val_get (zm_val_get (zm_val_get (zm_msg_root (stats), "services"), "slow"), "Slow");
    //  first: handled (late: the client had gone); jobs[0]: handled;
    //  jobs[1] and jobs[2]: dropped unhandled with 408.
    cr_assert_eq (zm_val_uint (zm_val_get (slow, "requests"), 0), 4);
    cr_assert_eq (zm_val_uint (zm_val_get (slow, "errors"), 0), 3);
    cr_assert_eq (zm_val_int (zm_val_get (slow, "last_error_code"), 0), 408);
    zm_msg_destroy (&stats);
    zm_node_destroy (&node);
    zt_kill (&a, SIGTERM);
}

//  Calls Echo n times through the registry, counts answers per node.
static void
s_spread (zm_node_t *node, const char *selector, int n, int *alpha, int *beta, int *gamma)
{
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.selector = selector;
    for (int i = 0; i < n; i++) {
        zm_msg_t *req = zm_msg_new ();
        zm_msg_set_int (req, "seq", i);
        zm_msg_t *rep = NULL;
        zm_error_t *error = NULL;
        int rc = zm_call (node, "greeter", "Echo", &req, &rep, &error, &opts);
        cr_assert_eq (rc, 0, "call %d: %s", i, zm_error_detail (error));
        cr_assert_eq (zm_msg_get_int (rep, "seq", -1), i, "answer to another call");
        const char *who = zm_msg_get_str (rep, "node", "");
        *alpha += streq (who, "alpha");
        *beta += streq (who, "beta");
        *gamma += streq (who, "gamma");
        zm_msg_destroy (&rep);
    }
}

Test (rpc, round_robin_spreads_evenly_over_three, .timeout = 30)
{
    zt_proc_t peers[3] = {s_start ("alpha", NULL), s_start ("beta", NULL),
                          s_start ("gamma", NULL)};
    char list[512];
    snprintf (list, sizeof list, "%s,%s,%s", s_address (&peers[0]), s_address (&peers[1]),
              s_address (&peers[2]));
    zm_node_t *node = s_client_node (list);
    int a = 0, b = 0, c = 0;
    s_spread (node, "round_robin", 300, &a, &b, &c);
    cr_assert (a == 100 && b == 100 && c == 100, "round robin gave %d/%d/%d", a, b, c);
    //  least outstanding from one thread: every instance is idle each time,
    //  so ties are broken at random and all three get some.
    a = b = c = 0;
    s_spread (node, "least_outstanding", 300, &a, &b, &c);
    cr_assert (a > 30 && b > 30 && c > 30, "least outstanding gave %d/%d/%d", a, b, c);
    a = b = c = 0;
    s_spread (node, "random", 300, &a, &b, &c);
    cr_assert (a > 30 && b > 30 && c > 30, "random gave %d/%d/%d", a, b, c);
    zm_node_destroy (&node);
    for (int i = 0; i < 3; i++)
        zt_kill (&peers[i], SIGTERM);
}

//  Instances are chosen by version and by service metadata, from threads
//  and from handlers alike.
Test (rpc, selector_filters_by_version_and_metadata, .timeout = 30)
{
    zt_proc_t peers[3] = {s_start ("alpha", NULL), s_start ("beta", NULL),
                          s_start ("gamma", NULL)};
    char list[512];
    snprintf (list, sizeof list, "%s,%s,%s", s_address (&peers[0]), s_address (&peers[1]),
              s_address (&peers[2]));
    zm_node_t *node = s_client_node (list);
    zm_msg_t *only_beta = zm_msg_new ();
    zm_msg_set_str (only_beta, "node", "beta");
    zm_msg_set_str (only_beta, "team", "core");
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.match = only_beta;
    for (int i = 0; i < 30; i++) {
        zm_msg_t *rep = NULL;
        cr_assert_eq (zm_call (node, "greeter", "Echo", NULL, &rep, NULL, &opts), 0);
        cr_assert_str_eq (zm_msg_get_str (rep, "node", ""), "beta");
        zm_msg_destroy (&rep);
    }
    //  A pair every instance has: all of them serve
    zm_msg_t *core = zm_msg_new ();
    zm_msg_set_str (core, "team", "core");
    opts.match = core;
    opts.selector = "round_robin";
    int seen[3] = {0, 0, 0};
    for (int i = 0; i < 30; i++) {
        zm_msg_t *rep = NULL;
        cr_assert_eq (zm_call (node, "greeter", "Echo", NULL, &rep, NULL, &opts), 0);
        const char *who = zm_msg_get_str (rep, "node", "");
        seen[streq (who, "alpha") ? 0 : streq (who, "beta") ? 1 : 2]++;
        zm_msg_destroy (&rep);
    }
    cr_assert (seen[0] == 10 && seen[1] == 10 && seen[2] == 10, "%d/%d/%d", seen[0], seen[1],
               seen[2]);
    //  No instance passes: not found, and nothing is called
    zm_msg_t *edge = zm_msg_new ();
    zm_msg_set_str (edge, "team", "edge");
    opts.match = edge;
    zm_error_t *error = NULL;
    cr_assert_eq (zm_call (node, "greeter", "Echo", NULL, NULL, &error, &opts), ZM_ENOTFOUND);
    zm_error_destroy (&error);
    opts.match = NULL;
    opts.version = "2.0.0";
    cr_assert_eq (zm_call (node, "greeter", "Echo", NULL, NULL, NULL, &opts), ZM_ENOTFOUND);
    opts.version = "1.0.0";
    cr_assert_eq (zm_call (node, "greeter", "Echo", NULL, NULL, NULL, &opts), 0);
    //  A filter that is not a map of strings is refused
    zm_msg_t *bad = zm_msg_new ();
    zm_msg_set_int (bad, "team", 1);
    opts.match = bad;
    cr_assert_eq (zm_call (node, "greeter", "Echo", NULL, NULL, &error, &opts), ZM_EINVAL);
    cr_assert (strstr (zm_error_detail (error), "match"));
    zm_error_destroy (&error);
    zm_msg_destroy (&bad);
    zm_msg_destroy (&edge);
    zm_msg_destroy (&core);
    zm_msg_destroy (&only_beta);
    zm_node_destroy (&node);
    for (int i = 0; i < 3; i++)
        zt_kill (&peers[i], SIGTERM);
}

Test (rpc, retry_lands_on_second_instance_after_kill, .timeout = 60)
{
    zt_proc_t a = s_start ("alpha", NULL);
    zt_proc_t b = s_start ("beta", NULL);
    char list[256];
    snprintf (list, sizeof list, "%s,%s", s_address (&a), s_address (&b));
    zm_node_t *node = s_client_node (list);
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.selector = "round_robin";
    opts.timeout_ms = 2000;
    opts.retries = 2;
    int answered = 0, by_beta_after = 0;
    for (int i = 0; i < 400; i++) {
        if (i == 200)
            zt_kill (&a, SIGKILL); //  mid-run, no goodbye
        zm_msg_t *req = zm_msg_new ();
        zm_msg_set_int (req, "seq", i);
        zm_msg_t *rep = NULL;
        zm_error_t *error = NULL;
        int rc = zm_call (node, "greeter", "Echo", &req, &rep, &error, &opts);
        cr_assert_eq (rc, 0, "call %d failed: %s", i, zm_error_detail (error));
        cr_assert_eq (zm_msg_get_int (rep, "seq", -1), i, "call %d got another's answer", i);
        answered++;
        if (i >= 200)
            by_beta_after += streq (zm_msg_get_str (rep, "node", ""), "beta");
        zm_msg_destroy (&rep);
    }
    cr_assert_eq (answered, 400);
    cr_assert_eq (by_beta_after, 200, "after the kill every call lands on beta");
    zm_node_destroy (&node);
    zt_kill (&b, SIGTERM);
}

Test (rpc, circuit_breaker_opens_and_closes, .timeout = 60)
{
    //  Alpha restarts: with its keypair on disk it comes back as itself
    char keys[] = "/tmp/zmt-keys-XXXXXX", keys_flag[64];
    cr_assert_not_null (mkdtemp (keys));
    snprintf (keys_flag, sizeof keys_flag, "--auth.keys=%s/alpha", keys);
    zt_proc_t a = s_start2 ("alpha", "--rpc.port=47311", keys_flag);
    zt_proc_t b = s_start ("beta", NULL);
    char list[512];
    snprintf (list, sizeof list, "%s,%s", s_address (&a), s_address (&b));
    zm_config_t *config = s_config ();
    zm_config_set (config, "log.level", "error", NULL);
    zm_config_set (config, "registry.peers", list, NULL);
    zm_config_set (config, "rpc.breaker_failures", "3", NULL);
    zm_config_set (config, "rpc.breaker_cooldown", "500", NULL);
    zm_config_set (config, "registry.ttl", "600000", NULL);
    zm_node_t *node = zm_node_new (&config);
    int x = 0, y = 0, z = 0;
    s_spread (node, "round_robin", 10, &x, &y, &z); //  both known and healthy
    cr_assert (x == 5 && y == 5);
    zt_kill (&a, SIGKILL);
    //  No retries: a call that picks alpha fails until the breaker opens.
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.selector = "round_robin";
    opts.retries = 0;
    opts.timeout_ms = 500;
    int failures = 0;
    for (int i = 0; i < 20; i++) {
        zm_error_t *error = NULL;
        int rc = zm_call (node, "greeter", "Echo", NULL, NULL, &error, &opts);
        if (rc) {
            failures++;
        }
        zm_error_destroy (&error);
    }
    cr_assert_eq (failures, 3, "failures until the breaker opened: %d", failures);
    //  Alpha comes back on the same port; after the cooldown a trial call
    //  goes to it, succeeds, and it takes its share again.
    a = s_start2 ("alpha", "--rpc.port=47311", keys_flag);
    zclock_sleep (600);
    x = y = z = 0;
    s_spread (node, "round_robin", 20, &x, &y, &z);
    cr_assert (x >= 8, "alpha is back in rotation: alpha %d beta %d", x, y);
    zm_node_destroy (&node);
    zt_kill (&a, SIGTERM);
    zt_kill (&b, SIGTERM);
    const char *files[] = {"alpha/node.cert", "alpha/node.cert_secret", "alpha", ""};
    for (int i = 0; i < 4; i++) {
        char path[128];
        snprintf (path, sizeof path, "%s/%s", keys, files[i]);
        remove (path);
    }
}

Test (rpc, shutdown_drains_in_flight_calls, .timeout = 30)
{
    zt_proc_t a = s_start ("alpha", NULL);
    zm_node_t *node = s_client_node (NULL);
    slow_job_t job = {node, s_address (&a), 300, 3000, -1, "greeter"};
    pthread_t thread;
    pthread_create (&thread, NULL, s_slow_call, &job);
    zclock_sleep (100); //  the call is in the handler now
    kill (a.pid, SIGTERM);
    pthread_join (thread, NULL);
    cr_assert_eq (job.rc, 0, "the call in flight finished: %s", zm_strerror (job.rc));
    cr_assert_eq (zt_wait (&a, 20000), 0, "rpc_node exits 0 after draining");
    //  And a node that has gone away gives a clear error.
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = s_address (&a);
    opts.timeout_ms = 300;
    zm_error_t *error = NULL;
    cr_assert_eq (zm_call (node, "greeter", "Echo", NULL, NULL, &error, &opts), ZM_EUNAVAIL);
    cr_assert (strstr (zm_error_detail (error), "cannot connect"));
    zm_error_destroy (&error);
    zm_node_destroy (&node);
    zt_kill (&a, SIGTERM);
}

Test (rpc, node_service_describes_and_reports_health, .timeout = 30)
{
    zt_proc_t a = s_start ("alpha", NULL);
    zm_node_t *node = s_client_node (NULL);
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = s_address (&a);
    zm_msg_t *rep = NULL;
    cr_assert_eq (zm_call (node, "$node", "describe", NULL, &rep, NULL, &opts), 0);
    cr_assert_str_eq (zm_msg_get_str (rep, "name", ""), "alpha");
    const zm_val_t *services = zm_val_get (zm_msg_root (rep), "services");
    bool found = false;
    for (size_t i = 0; i < zm_val_size (services); i++) {
        const zm_val_t *svc = zm_val_at (services, i);
        if (streq (zm_val_str (zm_val_get (svc, "name"), "", NULL), "greeter")) {
            found = true;
            cr_assert_str_eq (zm_val_str (zm_val_get (svc, "version"), "", NULL), "1.0.0");
            cr_assert_eq (zm_val_size (zm_val_get (svc, "endpoints")), 4);
            cr_assert_str_eq (
                zm_val_str (zm_val_get (zm_val_get (svc, "metadata"), "team"), "", NULL), "core");
        }
    }
    cr_assert (found);
    cr_assert_eq (zm_val_uint (zm_val_at (zm_val_get (zm_msg_root (rep), "rpc_ports"), 0), 0),
                  (uint64_t) a.port);
    zm_msg_destroy (&rep);
    cr_assert_eq (zm_call (node, "$node", "health", NULL, &rep, NULL, &opts), 0);
    cr_assert (zm_msg_get_bool (rep, "live", false));
    cr_assert (zm_msg_get_bool (rep, "ready", false));
    zm_msg_destroy (&rep);
    zm_node_destroy (&node);
    zt_kill (&a, SIGTERM);
}

static int
s_call_in_handler (zm_ctx_t *ctx, zm_msg_t *msg)
{
    zm_error_t *error = NULL;
    int rc = zm_call (zm_ctx_node (ctx), "greeter", "Echo", NULL, NULL, &error, NULL);
    zm_msg_t *reply = zm_msg_new ();
    zm_msg_set_int (reply, "rc", rc);
    zm_msg_set_str (reply, "detail", zm_error_detail (error));
    zm_error_destroy (&error);
    return zm_reply (ctx, &reply);
}

static const zm_handler_t s_caller_handlers[] = {{"go", s_call_in_handler}, {NULL, NULL}};
static const zm_actor_def_t s_caller = {.kind = "caller", .handlers = s_caller_handlers};

Test (rpc, blocking_call_from_handler_refused, .timeout = 10)
{
    zm_node_t *node = s_client_node (NULL);
    zm_pid_t pid = zm_spawn (node, "caller", &s_caller, NULL, 0, NULL);
    zm_msg_t *reply = NULL;
    cr_assert_eq (zm_node_ask (node, pid, "go", NULL, &reply, NULL, 2000), 0);
    cr_assert_eq (zm_msg_get_int (reply, "rc", -1), ZM_EBLOCKING);
    cr_assert (strstr (zm_msg_get_str (reply, "detail", ""), "handler"));
    zm_msg_destroy (&reply);
    zm_node_destroy (&node);
}

//  Send raw frames to a node; return the answer (NULL: none within 300 ms).
static zmsg_t *
s_raw (zsock_t *dealer, int frames, const char *const *data, const size_t *sizes)
{
    zmsg_t *msg = zmsg_new ();
    for (int i = 0; i < frames; i++)
        zmsg_addmem (msg, data[i], sizes[i]);
    zmsg_send (&msg, dealer);
    zpoller_t *poller = zpoller_new (dealer, NULL);
    zmsg_t *answer = zpoller_wait (poller, 300) ? zmsg_recv (dealer) : NULL;
    zpoller_destroy (&poller);
    return answer;
}

Test (rpc, malformed_frames_get_their_documented_answer, .timeout = 60)
{
    zt_proc_t a = s_start ("alpha", NULL);
    zsock_t *dealer = zt_curve_socket (ZMQ_DEALER, s_address (&a));
    cr_assert_not_null (dealer);
    const char corr[8] = {0, 0, 0, 0, 0, 0, 0, 42};
    //  {"service":"greeter","endpoint":"Echo","timeout":1000}
    const char header[] = "\x83\xa7service\xa7greeter\xa8" "endpoint\xa4" "Echo\xa7timeout\xcd\x03\xe8";
    const char *good[5] = {"ZM\x01", "\x01", corr, header, ""};
    const size_t good_sizes[5] = {3, 1, 8, sizeof header - 1, 0};
    struct {
        const char *what;       //  the case
        int frames;             //  frames sent
        const char *data[6];    //  their bytes
        size_t sizes[6];        //  their sizes
        int code;               //  HTTP code of the ERROR answer, 0: no answer
    } cases[] = {
        {"well formed", 5, {"ZM\x01", "\x01", corr, header, ""}, {3, 1, 8, sizeof header - 1, 0}, -1},
        {"four frames", 4, {"ZM\x01", "\x01", corr, header}, {3, 1, 8, sizeof header - 1}, 400},
        {"six frames", 6, {"ZM\x01", "\x01", corr, header, "", ""}, {3, 1, 8, sizeof header - 1, 0, 0}, 400},
        {"one frame", 1, {"ZM\x01"}, {3}, 0},
        {"bad signature", 5, {"XY\x01", "\x01", corr, header, ""}, {3, 1, 8, sizeof header - 1, 0}, 0},
        {"version 2", 5, {"ZM\x02", "\x01", corr, header, ""}, {3, 1, 8, sizeof header - 1, 0}, 400},
        {"short corr", 5, {"ZM\x01", "\x01", corr, header, ""}, {3, 1, 4, sizeof header - 1, 0}, 0},
        {"unknown command", 5, {"ZM\x01", "\x7f", corr, header, ""}, {3, 1, 8, sizeof header - 1, 0}, 400},
        {"header not a map", 5, {"ZM\x01", "\x01", corr, "\x93\x01\x02\x03", ""}, {3, 1, 8, 4, 0}, 400},
        {"header truncated", 5, {"ZM\x01", "\x01", corr, header, ""}, {3, 1, 8, 10, 0}, 400},
        {"bad msgpack body", 5, {"ZM\x01", "\x01", corr, header, "\xc1"}, {3, 1, 8, sizeof header - 1, 1}, 400},
        {"a reply to a server", 5, {"ZM\x01", "\x02", corr, "\x80", ""}, {3, 1, 8, 1, 0}, 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        zmsg_t *answer = s_raw (dealer, cases[i].frames, cases[i].data, cases[i].sizes);
        if (cases[i].code == 0) {
            cr_assert_null (answer, "%s: expected no answer", cases[i].what);
            continue;
        }
        cr_assert_not_null (answer, "%s: expected an answer", cases[i].what);
        cr_assert_eq (zmsg_size (answer), 5, "%s", cases[i].what);
        zframe_t *frame = zmsg_first (answer);
        cr_assert (zframe_streq (frame, "ZM\x01"), "%s: answer in v1", cases[i].what);
        frame = zmsg_next (answer);
        int command = zframe_data (frame)[0];
        frame = zmsg_next (answer);
        cr_assert (zframe_size (frame) == 8 && memcmp (zframe_data (frame), corr, 8) == 0,
                   "%s: answer carries the corr id", cases[i].what);
        if (cases[i].code == -1)
            cr_assert_eq (command, 0x02, "%s: REPLY", cases[i].what);
        else {
            cr_assert_eq (command, 0x03, "%s: ERROR", cases[i].what);
            zmsg_next (answer);
            frame = zmsg_next (answer);
            zm_msg_t *body = NULL;
            cr_assert_eq (zm_msg_decode (NULL, zframe_data (frame), zframe_size (frame), &body,
                                         NULL),
                          0);
            cr_assert_eq (zm_msg_get_int (body, "code", 0), cases[i].code, "%s: code %d",
                          cases[i].what, (int) zm_msg_get_int (body, "code", 0));
            zm_msg_destroy (&body);
        }
        zmsg_destroy (&answer);
    }
    //  The answer is in the request's content type, named as the request named
    //  it, parameters and all.
    //  {"service":"greeter","endpoint":"Echo","timeout":1000,
    //   "content_type":"application/json; charset=utf-8"}
    const char json_header[] = "\x84\xa7service\xa7greeter\xa8" "endpoint\xa4" "Echo\xa7timeout"
                               "\xcd\x03\xe8\xac" "content_type\xbf" "application/json; charset=utf-8";
    const char *json_call[5] = {"ZM\x01", "\x01", corr, json_header, "{\"a\":[1,\"x\"]}"};
    const size_t json_sizes[5] = {3, 1, 8, sizeof json_header - 1, 13};
    zmsg_t *json_answer = s_raw (dealer, 5, json_call, json_sizes);
    cr_assert_not_null (json_answer);
    cr_assert_eq (zmsg_size (json_answer), 5);
    zframe_t *part = zmsg_first (json_answer);
    part = zmsg_next (json_answer);
    cr_assert_eq (zframe_data (part)[0], 0x02, "a REPLY");
    zmsg_next (json_answer);
    part = zmsg_next (json_answer);
    zm_msg_t *reply_header = NULL;
    cr_assert_eq (zm_msg_decode (NULL, zframe_data (part), zframe_size (part), &reply_header,
                                 NULL),
                  0);
    cr_assert_str_eq (zm_msg_get_str (reply_header, "content_type", ""),
                      "application/json; charset=utf-8");
    zm_msg_destroy (&reply_header);
    part = zmsg_next (json_answer);
    zm_msg_t *echoed = NULL;
    cr_assert_eq (zm_msg_decode (ZM_CT_JSON, zframe_data (part), zframe_size (part), &echoed,
                                 NULL),
                  0, "the body is JSON: %.*s", (int) zframe_size (part), zframe_data (part));
    cr_assert_str_eq (zm_msg_get_str (echoed, "node", ""), "alpha");
    cr_assert_eq (zm_msg_get_int (echoed, "seq", 0), -1);
    zm_msg_destroy (&echoed);
    zmsg_destroy (&json_answer);
    //  After all that, and a flood of junk, a proper call still works.
    for (int i = 0; i < 5000; i++) {
        zmsg_t *junk = zmsg_new ();
        zmsg_addmem (junk, "junk", 4);
        zmsg_send (&junk, dealer);
    }
    zmsg_t *answer = s_raw (dealer, 5, good, good_sizes);
    cr_assert_not_null (answer, "the node still answers after a flood");
    zmsg_destroy (&answer);
    //  And a silent peer does not hold anyone up.
    zsock_t *silent = zt_curve_socket (ZMQ_DEALER, s_address (&a));
    zm_node_t *node = s_client_node (NULL);
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = s_address (&a);
    cr_assert_eq (zm_call (node, "greeter", "Echo", NULL, NULL, NULL, &opts), 0);
    //  What was dropped or malformed is counted where operators look.
    zm_msg_t *stats = NULL;
    cr_assert_eq (zm_call (node, "$node", "stats", NULL, &stats, NULL, &opts), 0);
    const zm_val_t *rpc = zm_val_get (zm_msg_root (stats), "rpc");
    cr_assert (zm_val_uint (zm_val_get (rpc, "malformed"), 0) >= 5000 + 8,
               "malformed counted: %" PRIu64, zm_val_uint (zm_val_get (rpc, "malformed"), 0));
    cr_assert (zm_val_uint (zm_val_get (rpc, "dropped"), 0) >= 5000 + 4);
    zm_msg_destroy (&stats);
    zm_node_destroy (&node);
    zsock_destroy (&silent);
    zsock_destroy (&dealer);
    zt_kill (&a, SIGTERM);
}

//  relay: a local service whose endpoint calls greeter.Echo on another node
//  asynchronously and answers with what came back.
typedef struct {
    zm_reply_t *pending;   //  the deferred answer to our own caller
    uint64_t call_id;      //  id of the async call
} relay_t;

static int
s_relay_init (zm_ctx_t *ctx, zm_msg_t *msg)
{
    zm_ctx_set_state (ctx, calloc (1, sizeof (relay_t)));
    return 0;
}

static int
s_relay_destroy (zm_ctx_t *ctx, zm_msg_t *msg)
{
    free (zm_ctx_state (ctx));
    return 0;
}

static int
s_relay (zm_ctx_t *ctx, zm_msg_t *req)
{
    relay_t *self = (relay_t *) zm_ctx_state (ctx);
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = zm_msg_get_str (req, "to", NULL);
    zm_msg_t *echo = zm_msg_new ();
    zm_msg_set_int (echo, "seq", 7);
    int rc = zm_call_async (ctx, "greeter", "Echo", &echo, "relayed", &opts, &self->call_id);
    if (rc)
        return zm_error (ctx, rc, "async call failed");
    self->pending = zm_ctx_defer (ctx);
    return 0;
}

static int
s_relayed (zm_ctx_t *ctx, zm_msg_t *rep)
{
    relay_t *self = (relay_t *) zm_ctx_state (ctx);
    if (zm_ctx_ask_id (ctx) != self->call_id)
        return zm_error (ctx, ZM_EINTERNAL, "answer to another call");
    if (zm_ctx_status (ctx))
        return zm_reply_send (zm_ctx_node (ctx), &self->pending, NULL, zm_ctx_status (ctx),
                              zm_error_detail (zm_ctx_error (ctx)));
    zm_msg_t *out = zm_ctx_take (ctx);
    return zm_reply_send (zm_ctx_node (ctx), &self->pending, &out, 0, NULL);
}

Test (rpc, async_call_passes_metadata_and_trace_on, .timeout = 30)
{
    zt_proc_t a = s_start ("alpha", NULL);
    zm_config_t *config = s_config ();
    zm_config_set (config, "log.level", "error", NULL);
    zm_config_set (config, "node.name", "relay-node", NULL);
    zm_node_t *node = zm_node_new (&config);
    zm_service_t *relay = zm_service_new (node, "relay", "1.0.0");
    cr_assert_eq (zm_service_handle (relay, "Relay", s_relay), 0);
    cr_assert_eq (zm_service_on (relay, "relayed", s_relayed), 0);
    cr_assert_eq (zm_service_set_state (relay, s_relay_init, s_relay_destroy, NULL), 0);
    cr_assert_eq (zm_service_start (relay), 0);

    //  Caller -> relay (this node) -> greeter (alpha), and back.
    char self_address[64];
    snprintf (self_address, sizeof self_address, "tcp://127.0.0.1:%d",
              zm_node_rpc_port (node, 0));
    zm_msg_t *meta = zm_msg_new ();
    zm_msg_set_str (meta, "user", "grace");
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = self_address;
    opts.metadata = meta;
    opts.trace_id = "trace-relay";
    zm_msg_t *req = zm_msg_new ();
    zm_msg_set_str (req, "to", s_address (&a));
    zm_msg_t *rep = NULL;
    zm_error_t *error = NULL;
    int rc = zm_call (node, "relay", "Relay", &req, &rep, &error, &opts);
    cr_assert_eq (rc, 0, "relay: %s", zm_error_detail (error));
    cr_assert_str_eq (zm_msg_get_str (rep, "node", ""), "alpha");
    cr_assert_eq (zm_msg_get_int (rep, "seq", -1), 7);
    cr_assert_str_eq (zm_msg_get_str (rep, "meta_user", ""), "grace", "metadata passed on");
    cr_assert_str_eq (zm_msg_get_str (rep, "trace_id", ""), "trace-relay", "trace passed on");
    int64_t remaining = zm_msg_get_int (rep, "remaining", -1);
    cr_assert (remaining > 0 && remaining <= 5000, "the deadline shrinks along: %" PRId64,
               remaining);
    zm_msg_destroy (&rep);

    //  An async call to nowhere: the error comes back as the reply message.
    req = zm_msg_new ();
    zm_msg_set_str (req, "to", "tcp://127.0.0.1:1");
    rc = zm_call (node, "relay", "Relay", &req, &rep, &error, &opts);
    cr_assert_neq (rc, 0);
    zm_error_destroy (&error);
    zm_msg_destroy (&meta);
    zm_node_destroy (&node);
    zt_kill (&a, SIGTERM);
}

static int
s_echo_who (zm_ctx_t *ctx, zm_msg_t *req)
{
    zm_msg_t *rep = zm_msg_new ();
    zm_msg_set_str (rep, "node", zm_node_name (zm_ctx_node (ctx)));
    return zm_reply (ctx, &rep);
}

//  One call to "echo.Who"; returns its result code.
static int
s_call_echo (zm_node_t *node, const char *address)
{
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = address;
    opts.timeout_ms = 2000;
    opts.retries = 0;
    zm_msg_t *rep = NULL;
    int rc = zm_call (node, "echo", "Who", NULL, &rep, NULL, &opts);
    zm_msg_destroy (&rep);
    return rc;
}

//  Whether the node's own "$node describe" lists service name.
static bool
s_describes (zm_node_t *node, const char *name)
{
    zm_msg_t *rep = NULL;
    cr_assert_eq (zm_call (node, "$node", "describe", NULL, &rep, NULL, NULL), 0);
    bool found = false;
    const zm_val_t *services = zm_val_get (zm_msg_root (rep), "services");
    for (size_t i = 0; i < zm_val_size (services); i++)
        if (streq (zm_val_str (zm_val_get (zm_val_at (services, i), "name"), "", NULL), name))
            found = true;
    zm_msg_destroy (&rep);
    return found;
}

Test (rpc, service_stopped_and_started_on_a_running_node, .timeout = 30)
{
    zm_node_t *node = s_client_node (NULL);
    zm_service_t *echo = zm_service_new (node, "echo", "1.0.0");
    cr_assert_eq (zm_service_handle (echo, "Who", s_echo_who), 0);
    cr_assert_eq (zm_service_start (echo), 0);
    char address[64];
    snprintf (address, sizeof address, "tcp://127.0.0.1:%d", zm_node_rpc_port (node, 0));
    cr_assert_eq (s_call_echo (node, NULL), 0, "through the registry");
    cr_assert_eq (s_call_echo (node, address), 0, "to the address");
    cr_assert (s_describes (node, "echo"));

    cr_assert_eq (zm_service_stop (echo), 0);
    cr_assert_eq (zm_service_stop (echo), 0, "stopping twice is harmless");
    //  Gone from the registry (no instance: 404) and from describe; asked
    //  directly, the node says 503 so a caller would retry elsewhere.
    cr_assert_eq (s_call_echo (node, NULL), ZM_ENOTFOUND);
    cr_assert_eq (s_call_echo (node, address), ZM_EUNAVAIL);
    cr_assert_not (s_describes (node, "echo"));
    cr_assert_null (zm_service_new (node, "echo", "2.0.0"), "the name stays taken");

    cr_assert_eq (zm_service_start (echo), 0, "started again");
    cr_assert_eq (s_call_echo (node, NULL), 0);
    cr_assert_eq (s_call_echo (node, address), 0);
    cr_assert (s_describes (node, "echo"));
    cr_assert_eq (zm_service_stop (NULL), ZM_EINVAL);
    zm_node_destroy (&node);
}

//  The whole port range is usable, and a range that would run past the
//  last port is refused at start with an error, not wrapped around
Test (rpc, rpc_ports_reach_the_top_of_the_range, .timeout = 30)
{
    zm_config_t *config = s_config ();
    zm_config_set (config, "log.level", "error", NULL);
    zm_config_set (config, "rpc.bind", "127.0.0.1", NULL);
    zm_config_set (config, "rpc.port", "65534", NULL);
    zm_config_set (config, "reactors", "2", NULL);
    zm_node_t *node = zm_node_new (&config);
    cr_assert_not_null (node, "a node on ports 65534 and 65535 did not start");
    cr_assert_eq (zm_node_rpc_port (node, 0), 65534);
    cr_assert_eq (zm_node_rpc_port (node, 1), 65535);
    zm_node_destroy (&node);
    config = s_config ();
    zm_config_set (config, "log.level", "error", NULL);
    zm_config_set (config, "rpc.bind", "127.0.0.1", NULL);
    zm_config_set (config, "rpc.port", "65535", NULL);
    zm_config_set (config, "reactors", "2", NULL);
    node = zm_node_new (&config);
    cr_assert_null (node, "reactor 1 bound past port 65535");
    zm_node_destroy (&node);
}
