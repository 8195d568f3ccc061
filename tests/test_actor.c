/*  Actors: tell, ask, timeouts, failures, spawning, stopping, shutdown.
    Every test runs a real node with real reactor threads and inproc sockets.
*/
#include <criterion/criterion.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <unistd.h>
#include <czmq.h>
#include "zmicro.h"

static zm_node_t *
s_node_drain (int reactors, const char *drain_ms)
{
    zm_config_t *config = zm_config_new ();
    zm_config_set (config, "auth.keys", ":memory:", NULL); //  no key files
    cr_assert_not_null (config);
    char value[16];
    snprintf (value, sizeof value, "%d", reactors);
    cr_assert_eq (zm_config_set (config, "reactors", value, NULL), 0);
    cr_assert_eq (zm_config_set (config, "node.shutdown_timeout", drain_ms, NULL), 0);
    //  The suite never broadcasts on the machine's network (test_discovery
    //  runs its beacons inside network namespaces).
    cr_assert_eq (zm_config_set (config, "registry.beacon", "false", NULL), 0);
    zm_node_t *node = zm_node_new (&config);
    cr_assert_not_null (node);
    cr_assert_null (config, "the node takes the config");
    return node;
}

static zm_node_t *
s_node (int reactors)
{
    return s_node_drain (reactors, "5000");
}

//  Ask an actor for an integer field of its reply.
static int64_t
s_ask_int (zm_node_t *node, zm_pid_t pid, const char *type, const char *field)
{
    zm_msg_t *reply = NULL;
    int rc = zm_node_ask (node, pid, type, NULL, &reply, NULL, 2000);
    cr_assert_eq (rc, 0, "ask %s: %s", type, zm_strerror (rc));
    cr_assert_not_null (reply);
    int64_t value = zm_msg_get_int (reply, field, -1);
    zm_msg_destroy (&reply);
    return value;
}

//  Poll an actor until a field reaches a value (bounded).
static int64_t
s_wait_int (zm_node_t *node, zm_pid_t pid, const char *type, const char *field, int64_t want)
{
    int64_t value = -1;
    for (int i = 0; i < 500; i++) {
        value = s_ask_int (node, pid, type, field);
        if (value == want)
            break;
        zclock_sleep (10);
    }
    return value;
}

//  --------------------------------------------------------------------------
//  counter: counts "inc", checks "seq" order per sender, answers "get"

typedef struct {
    int64_t count;          //  "inc" messages seen
    int64_t last_seq;       //  last "seq" value seen
    int64_t out_of_order;   //  seq values that went backwards
    atomic_int *destroyed;  //  bumped by destroy, may be NULL
} counter_t;

static int
s_counter_inc (zm_ctx_t *ctx, zm_msg_t *msg)
{
    counter_t *self = (counter_t *) zm_ctx_state (ctx);
    self->count++;
    if (msg) {
        int64_t seq = zm_msg_get_int (msg, "seq", -1);
        if (seq >= 0) {
            if (seq != self->last_seq + 1)
                self->out_of_order++;
            self->last_seq = seq;
        }
    }
    return 0;
}

static int
s_counter_get (zm_ctx_t *ctx, zm_msg_t *msg)
{
    counter_t *self = (counter_t *) zm_ctx_state (ctx);
    zm_msg_t *reply = zm_msg_new ();
    zm_msg_set_int (reply, "count", self->count);
    zm_msg_set_int (reply, "out_of_order", self->out_of_order);
    zm_msg_set_int (reply, "reactor", zm_ctx_reactor (ctx));
    return zm_reply (ctx, &reply);
}

static int
s_counter_boom (zm_ctx_t *ctx, zm_msg_t *msg)
{
    return zm_error (ctx, ZM_ECONFLICT, "boom number %d", 7);
}

static int
s_counter_destroy (zm_ctx_t *ctx, zm_msg_t *msg)
{
    counter_t *self = (counter_t *) zm_ctx_state (ctx);
    if (self->destroyed)
        atomic_fetch_add (self->destroyed, 1);
    free (self);
    return 0;
}

static const zm_handler_t s_counter_handlers[] = {
    {"inc", s_counter_inc},
    {"get", s_counter_get},
    {"boom", s_counter_boom},
    {NULL, NULL},
};

static const zm_actor_def_t s_counter = {
    .kind = "counter", .handlers = s_counter_handlers, .destroy = s_counter_destroy};

static zm_pid_t
s_spawn_counter (zm_node_t *node, const char *name, int reactor, atomic_int *destroyed)
{
    counter_t *state = (counter_t *) calloc (1, sizeof (counter_t));
    state->last_seq = -1;
    state->destroyed = destroyed;
    int err = -1;
    zm_pid_t pid = zm_spawn (node, name, &s_counter, state, reactor, &err);
    cr_assert_neq (pid, 0, "spawn: %s", zm_strerror (err));
    cr_assert_eq (err, 0);
    return pid;
}

//  --------------------------------------------------------------------------
//  pinger: on "go" {to, n} tells "inc" {seq} n times to pid `to`

static int
s_pinger_go (zm_ctx_t *ctx, zm_msg_t *msg)
{
    zm_pid_t to = zm_msg_get_uint (msg, "to", 0);
    int64_t n = zm_msg_get_int (msg, "n", 0);
    for (int64_t i = 0; i < n; i++) {
        zm_msg_t *body = zm_msg_new ();
        zm_msg_set_int (body, "seq", i);
        int rc = zm_tell (ctx, to, "inc", &body);
        if (rc)
            return rc;
    }
    return 0;
}

static const zm_handler_t s_pinger_handlers[] = {{"go", s_pinger_go}, {NULL, NULL}};
static const zm_actor_def_t s_pinger = {.kind = "pinger", .handlers = s_pinger_handlers};

static void
s_tell_test (int reactors, int pinger_reactor, int counter_reactor)
{
    zm_node_t *node = s_node (reactors);
    zm_pid_t counter = s_spawn_counter (node, "counter", counter_reactor, NULL);
    zm_pid_t pinger = zm_spawn (node, "pinger", &s_pinger, NULL, pinger_reactor, NULL);
    cr_assert_neq (pinger, 0);
    cr_assert_eq (zm_pid_reactor (counter), counter_reactor);
    cr_assert_eq (zm_pid_reactor (pinger), pinger_reactor);

    zm_msg_t *go = zm_msg_new ();
    zm_msg_set_uint (go, "to", counter);
    zm_msg_set_int (go, "n", 20000);
    cr_assert_eq (zm_node_tell (node, pinger, "go", &go), 0);
    cr_assert_null (go, "tell takes the message");

    cr_assert_eq (s_wait_int (node, counter, "get", "count", 20000), 20000);
    cr_assert_eq (s_ask_int (node, counter, "get", "out_of_order"), 0, "FIFO per sender");
    cr_assert_eq (s_ask_int (node, counter, "get", "reactor"), counter_reactor);
    zm_node_destroy (&node);
    cr_assert_null (node);
}

Test (actor, tell_same_reactor, .timeout = 20)
{
    s_tell_test (1, 0, 0);
}

Test (actor, tell_across_reactors, .timeout = 20)
{
    s_tell_test (2, 0, 1);
}

Test (actor, tell_from_plain_thread_in_order, .timeout = 20)
{
    zm_node_t *node = s_node (2);
    zm_pid_t counter = s_spawn_counter (node, NULL, 1, NULL);
    for (int i = 0; i < 5000; i++) {
        zm_msg_t *body = zm_msg_new ();
        zm_msg_set_int (body, "seq", i);
        cr_assert_eq (zm_node_tell (node, counter, "inc", &body), 0);
    }
    cr_assert_eq (s_wait_int (node, counter, "get", "count", 5000), 5000);
    cr_assert_eq (s_ask_int (node, counter, "get", "out_of_order"), 0);
    zm_node_destroy (&node);
}

//  --------------------------------------------------------------------------
//  asker: on "go" {to, x} asks "double" and records the answer

typedef struct {
    int64_t answers;      //  replies that succeeded
    int64_t sum;          //  their values summed
    int64_t errors;       //  replies that failed
    int last_status;      //  status of the last reply
    char last_detail[128]; //  detail of the last error
    uint64_t last_id;     //  id returned by zm_ask
    uint64_t last_reply_id; //  zm_ctx_ask_id of the last reply
    int64_t elapsed_ms;   //  ask to reply for the last one
    int64_t started;      //  zclock_mono at the last ask
} asker_t;

static int
s_asker_go (zm_ctx_t *ctx, zm_msg_t *msg)
{
    asker_t *self = (asker_t *) zm_ctx_state (ctx);
    zm_pid_t to = zm_msg_get_uint (msg, "to", 0);
    const char *type = zm_msg_get_str (msg, "type", "double");
    int timeout = (int) zm_msg_get_int (msg, "timeout", 2000);
    zm_msg_t *req = zm_msg_new ();
    zm_msg_set_int (req, "x", zm_msg_get_int (msg, "x", 0));
    self->started = zclock_mono ();
    return zm_ask (ctx, to, type, &req, "answer", timeout, &self->last_id);
}

static int
s_asker_answer (zm_ctx_t *ctx, zm_msg_t *msg)
{
    asker_t *self = (asker_t *) zm_ctx_state (ctx);
    self->last_status = zm_ctx_status (ctx);
    self->last_reply_id = zm_ctx_ask_id (ctx);
    self->elapsed_ms = zclock_mono () - self->started;
    if (self->last_status == ZM_OK) {
        self->answers++;
        self->sum += zm_msg_get_int (msg, "y", 0);
    }
    else {
        self->errors++;
        snprintf (self->last_detail, sizeof self->last_detail, "%s",
                  zm_error_detail (zm_ctx_error (ctx)));
    }
    return 0;
}

static int
s_asker_get (zm_ctx_t *ctx, zm_msg_t *msg)
{
    asker_t *self = (asker_t *) zm_ctx_state (ctx);
    zm_msg_t *reply = zm_msg_new ();
    zm_msg_set_int (reply, "answers", self->answers);
    zm_msg_set_int (reply, "sum", self->sum);
    zm_msg_set_int (reply, "errors", self->errors);
    zm_msg_set_int (reply, "status", self->last_status);
    zm_msg_set_str (reply, "detail", self->last_detail);
    zm_msg_set_int (reply, "id_match", self->last_id == self->last_reply_id);
    zm_msg_set_int (reply, "elapsed", self->elapsed_ms);
    return zm_reply (ctx, &reply);
}

static int
s_free_state (zm_ctx_t *ctx, zm_msg_t *msg)
{
    free (zm_ctx_state (ctx));
    return 0;
}

static const zm_handler_t s_asker_handlers[] = {
    {"go", s_asker_go}, {"answer", s_asker_answer}, {"get", s_asker_get}, {NULL, NULL}};
static const zm_actor_def_t s_asker = {
    .kind = "asker", .handlers = s_asker_handlers, .destroy = s_free_state};

//  doubler: "double" {x} -> {y: 2x}; "hold" keeps the reply back until
//  "release"; "echo" replies with the request itself.
typedef struct {
    zm_reply_t *held; //  deferred reply
} doubler_t;

static int
s_doubler_double (zm_ctx_t *ctx, zm_msg_t *msg)
{
    zm_msg_t *reply = zm_msg_new ();
    zm_msg_set_int (reply, "y", 2 * zm_msg_get_int (msg, "x", 0));
    return zm_reply (ctx, &reply);
}

static int
s_doubler_hold (zm_ctx_t *ctx, zm_msg_t *msg)
{
    doubler_t *self = (doubler_t *) zm_ctx_state (ctx);
    self->held = zm_ctx_defer (ctx);
    return self->held ? 0 : ZM_EINTERNAL;
}

static int
s_doubler_release (zm_ctx_t *ctx, zm_msg_t *msg)
{
    doubler_t *self = (doubler_t *) zm_ctx_state (ctx);
    if (!self->held)
        return zm_error (ctx, ZM_ENOTFOUND, "nothing held");
    zm_msg_t *reply = zm_msg_new ();
    zm_msg_set_int (reply, "y", 99);
    return zm_reply_send (zm_ctx_node (ctx), &self->held, &reply, 0, NULL);
}

static int
s_doubler_echo (zm_ctx_t *ctx, zm_msg_t *msg)
{
    return zm_reply (ctx, &msg);
}

static int
s_doubler_blocking (zm_ctx_t *ctx, zm_msg_t *msg)
{
    //  A blocking ask from a handler must be refused, not deadlock.
    zm_error_t *error = NULL;
    int rc = zm_node_ask (zm_ctx_node (ctx), zm_ctx_self (ctx), "double", NULL, NULL, &error,
                          100);
    zm_msg_t *reply = zm_msg_new ();
    zm_msg_set_int (reply, "rc", rc);
    zm_msg_set_str (reply, "detail", zm_error_detail (error));
    zm_error_destroy (&error);
    return zm_reply (ctx, &reply);
}

static int
s_doubler_destroy (zm_ctx_t *ctx, zm_msg_t *msg)
{
    doubler_t *self = (doubler_t *) zm_ctx_state (ctx);
    if (self->held)
        zm_reply_send (zm_ctx_node (ctx), &self->held, NULL, ZM_ECLOSED, "shutting down");
    free (self);
    return 0;
}

static const zm_handler_t s_doubler_handlers[] = {
    {"double", s_doubler_double}, {"hold", s_doubler_hold},     {"release", s_doubler_release},
    {"echo", s_doubler_echo},     {"blocking", s_doubler_blocking}, {NULL, NULL}};
static const zm_actor_def_t s_doubler = {
    .kind = "doubler", .handlers = s_doubler_handlers, .destroy = s_doubler_destroy};

static zm_pid_t
s_spawn (zm_node_t *node, const char *name, const zm_actor_def_t *def, size_t state_size,
         int reactor)
{
    int err = -1;
    zm_pid_t pid = zm_spawn (node, name, def, calloc (1, state_size), reactor, &err);
    cr_assert_neq (pid, 0, "spawn %s: %s", name ? name : "-", zm_strerror (err));
    return pid;
}

static void
s_go (zm_node_t *node, zm_pid_t asker, zm_pid_t to, const char *type, int64_t x, int timeout)
{
    zm_msg_t *go = zm_msg_new ();
    zm_msg_set_uint (go, "to", to);
    zm_msg_set_str (go, "type", type);
    zm_msg_set_int (go, "x", x);
    zm_msg_set_int (go, "timeout", timeout);
    cr_assert_eq (zm_node_tell (node, asker, "go", &go), 0);
}

static void
s_ask_test (int reactors, int asker_reactor, int doubler_reactor)
{
    zm_node_t *node = s_node (reactors);
    zm_pid_t asker = s_spawn (node, "asker", &s_asker, sizeof (asker_t), asker_reactor);
    zm_pid_t doubler = s_spawn (node, "doubler", &s_doubler, sizeof (doubler_t),
                                doubler_reactor);
    int64_t expect = 0;
    for (int x = 1; x <= 100; x++) {
        s_go (node, asker, doubler, "double", x, 2000);
        expect += 2 * x;
    }
    cr_assert_eq (s_wait_int (node, asker, "get", "answers", 100), 100);
    cr_assert_eq (s_ask_int (node, asker, "get", "sum"), expect);
    cr_assert_eq (s_ask_int (node, asker, "get", "errors"), 0);
    cr_assert_eq (s_ask_int (node, asker, "get", "id_match"), 1);
    zm_node_destroy (&node);
}

Test (actor, ask_same_reactor, .timeout = 20)
{
    s_ask_test (1, 0, 0);
}

Test (actor, ask_across_reactors, .timeout = 20)
{
    s_ask_test (2, 1, 0);
}

Test (actor, ask_from_plain_thread, .timeout = 20)
{
    zm_node_t *node = s_node (2);
    zm_pid_t doubler = s_spawn (node, "doubler", &s_doubler, sizeof (doubler_t), 1);
    for (int x = 0; x < 200; x++) {
        zm_msg_t *req = zm_msg_new ();
        zm_msg_set_int (req, "x", x);
        zm_msg_t *reply = NULL;
        cr_assert_eq (zm_node_ask (node, doubler, "double", &req, &reply, NULL, 2000), 0);
        cr_assert_null (req);
        cr_assert_eq (zm_msg_get_int (reply, "y", -1), 2 * x);
        zm_msg_destroy (&reply);
    }
    //  A handler may answer with the very message it was given.
    zm_msg_t *req = zm_msg_new ();
    zm_msg_set_str (req, "hello", "world");
    zm_msg_t *reply = NULL;
    cr_assert_eq (zm_node_ask (node, doubler, "echo", &req, &reply, NULL, 2000), 0);
    cr_assert_str_eq (zm_msg_get_str (reply, "hello", ""), "world");
    zm_msg_destroy (&reply);
    zm_node_destroy (&node);
}

Test (actor, ask_timeout_and_late_reply_dropped, .timeout = 20)
{
    zm_node_t *node = s_node (2);
    zm_pid_t asker = s_spawn (node, "asker", &s_asker, sizeof (asker_t), 0);
    zm_pid_t doubler = s_spawn (node, "doubler", &s_doubler, sizeof (doubler_t), 1);
    s_go (node, asker, doubler, "hold", 1, 150);
    cr_assert_eq (s_wait_int (node, asker, "get", "errors", 1), 1);
    cr_assert_eq (s_ask_int (node, asker, "get", "status"), ZM_ETIMEOUT);
    int64_t elapsed = s_ask_int (node, asker, "get", "elapsed");
    cr_assert (elapsed >= 150 && elapsed < 1500, "timeout after %" PRId64 " ms", elapsed);
    cr_assert_eq (s_ask_int (node, asker, "get", "id_match"), 1);

    //  Now the held reply goes out: it must never reach the asker.
    zm_msg_t *reply = NULL;
    cr_assert_eq (zm_node_ask (node, doubler, "release", NULL, &reply, NULL, 2000), 0);
    zm_msg_destroy (&reply);
    zclock_sleep (100);
    cr_assert_eq (s_ask_int (node, asker, "get", "answers"), 0);
    cr_assert_eq (s_ask_int (node, asker, "get", "errors"), 1);

    //  And the asker still works afterwards.
    s_go (node, asker, doubler, "double", 21, 2000);
    cr_assert_eq (s_wait_int (node, asker, "get", "answers", 1), 1);
    cr_assert_eq (s_ask_int (node, asker, "get", "sum"), 42);
    zm_node_destroy (&node);
}

Test (actor, plain_thread_ask_timeout, .timeout = 20)
{
    zm_node_t *node = s_node (1);
    zm_pid_t doubler = s_spawn (node, "doubler", &s_doubler, sizeof (doubler_t), 0);
    zm_error_t *error = NULL;
    zm_msg_t *reply = NULL;
    int64_t start = zclock_mono ();
    int rc = zm_node_ask (node, doubler, "hold", NULL, &reply, &error, 100);
    int64_t elapsed = zclock_mono () - start;
    cr_assert_eq (rc, ZM_ETIMEOUT);
    cr_assert_null (reply);
    cr_assert_not_null (error);
    cr_assert_eq (zm_error_code (error), 408);
    cr_assert (elapsed >= 100 && elapsed < 1000);
    zm_error_destroy (&error);
    //  The late reply goes to a waiter nobody waits on: no crash, no leak.
    cr_assert_eq (zm_node_ask (node, doubler, "release", NULL, &reply, NULL, 2000), 0);
    zm_msg_destroy (&reply);
    zm_node_destroy (&node);
}

Test (actor, failure_is_isolated, .timeout = 20)
{
    zm_node_t *node = s_node (1);
    zm_pid_t counter = s_spawn_counter (node, "counter", 0, NULL);
    zm_pid_t other = s_spawn_counter (node, "other", 0, NULL);
    zm_error_t *error = NULL;
    int rc = zm_node_ask (node, counter, "boom", NULL, NULL, &error, 2000);
    cr_assert_eq (rc, ZM_ECONFLICT);
    cr_assert_not_null (error);
    cr_assert_eq (zm_error_code (error), 409);
    cr_assert_str_eq (zm_error_detail (error), "boom number 7");
    cr_assert_str_eq (zm_error_id (error), "counter");
    zm_error_destroy (&error);
    //  A failing tell, too.
    cr_assert_eq (zm_node_tell (node, counter, "boom", NULL), 0);
    //  Same actor and its reactor neighbour go on working.
    cr_assert_eq (zm_node_tell (node, counter, "inc", NULL), 0);
    cr_assert_eq (zm_node_tell (node, other, "inc", NULL), 0);
    cr_assert_eq (s_wait_int (node, counter, "get", "count", 1), 1);
    cr_assert_eq (s_wait_int (node, other, "get", "count", 1), 1);
    zm_node_destroy (&node);
}

Test (actor, dead_letters, .timeout = 20)
{
    zm_node_t *node = s_node (2);
    zm_pid_t counter = s_spawn_counter (node, "counter", 1, NULL);
    zm_error_t *error = NULL;
    //  Unknown message type
    cr_assert_eq (zm_node_ask (node, counter, "nope", NULL, NULL, &error, 2000), ZM_ENOTFOUND);
    cr_assert_not_null (error);
    zm_error_destroy (&error);
    //  Pids nobody owns
    cr_assert_eq (zm_node_ask (node, 0, "get", NULL, NULL, NULL, 2000), ZM_ENOTFOUND);
    cr_assert_eq (zm_node_ask (node, counter + 1, "get", NULL, NULL, NULL, 2000), ZM_ENOTFOUND);
    cr_assert_eq (zm_node_ask (node, (zm_pid_t) 60 << 56, "get", NULL, NULL, NULL, 2000),
                  ZM_ENOTFOUND);
    cr_assert_eq (zm_node_tell (node, (zm_pid_t) 60 << 56, "get", NULL), ZM_ENOTFOUND);
    //  From an actor: the asker hears about it as an error reply.
    zm_pid_t asker = s_spawn (node, "asker", &s_asker, sizeof (asker_t), 0);
    s_go (node, asker, counter + 1, "double", 1, 2000);
    cr_assert_eq (s_wait_int (node, asker, "get", "errors", 1), 1);
    cr_assert_eq (s_ask_int (node, asker, "get", "status"), ZM_ENOTFOUND);
    zm_node_destroy (&node);
}

Test (actor, blocking_call_in_handler_refused, .timeout = 20)
{
    zm_node_t *node = s_node (1);
    zm_pid_t doubler = s_spawn (node, "doubler", &s_doubler, sizeof (doubler_t), 0);
    zm_msg_t *reply = NULL;
    cr_assert_eq (zm_node_ask (node, doubler, "blocking", NULL, &reply, NULL, 2000), 0);
    cr_assert_eq (zm_msg_get_int (reply, "rc", -1), ZM_EBLOCKING);
    cr_assert (strstr (zm_msg_get_str (reply, "detail", ""), "zm_ask"));
    zm_msg_destroy (&reply);
    zm_node_destroy (&node);
}

Test (actor, names_spawn_stop_and_stale_pids, .timeout = 20)
{
    zm_node_t *node = s_node (2);
    atomic_int destroyed = 0;
    zm_pid_t first = s_spawn_counter (node, "svc", 1, &destroyed);
    cr_assert_eq (zm_lookup (node, "svc"), first);
    cr_assert_eq (zm_lookup (node, "nobody"), 0);
    int err = 0;
    cr_assert_eq (zm_spawn (node, "svc", &s_counter, NULL, 0, &err), 0);
    cr_assert_eq (err, ZM_ECONFLICT);
    cr_assert_eq (zm_spawn (node, "x", &s_counter, NULL, 7, &err), 0);
    cr_assert_eq (err, ZM_EINVAL);
    cr_assert_eq (zm_spawn (node, "x", NULL, NULL, 0, &err), 0);
    cr_assert_eq (err, ZM_EINVAL);

    cr_assert_eq (zm_node_tell (node, first, "inc", NULL), 0);
    cr_assert_eq (zm_stop (node, first), 0);
    //  Messages queued before the stop were handled; the destroy ran.
    for (int i = 0; i < 200 && atomic_load (&destroyed) == 0; i++)
        zclock_sleep (10);
    cr_assert_eq (atomic_load (&destroyed), 1);
    cr_assert_eq (zm_lookup (node, "svc"), 0, "a stopped actor's name is free again");
    cr_assert_eq (zm_node_ask (node, first, "get", NULL, NULL, NULL, 2000), ZM_ENOTFOUND);

    //  The slot is reused, but the old pid does not reach the new actor.
    zm_pid_t second = s_spawn_counter (node, "svc", 1, &destroyed);
    cr_assert_neq (second, first);
    cr_assert_eq (zm_node_tell (node, first, "inc", NULL), 0);
    cr_assert_eq (zm_node_tell (node, second, "inc", NULL), 0);
    cr_assert_eq (s_wait_int (node, second, "get", "count", 1), 1);
    zclock_sleep (50);
    cr_assert_eq (s_ask_int (node, second, "get", "count"), 1);
    zm_node_destroy (&node);
    cr_assert_eq (atomic_load (&destroyed), 2, "destroy runs at shutdown");
}

//  spawner: on "spawn" {n} spawns n counters at run time, from a handler
static int
s_spawner_spawn (zm_ctx_t *ctx, zm_msg_t *msg)
{
    int64_t n = zm_msg_get_int (msg, "n", 0);
    zm_msg_t *reply = zm_msg_new ();
    zm_val_t *pids = zm_val_set_array (zm_msg_root_mut (reply), "pids");
    for (int64_t i = 0; i < n; i++) {
        counter_t *state = (counter_t *) calloc (1, sizeof (counter_t));
        state->last_seq = -1;
        int err;
        zm_pid_t pid = zm_spawn (zm_ctx_node (ctx), NULL, &s_counter, state, -1, &err);
        if (!pid) {
            free (state);
            zm_msg_destroy (&reply);
            return zm_error (ctx, err, "spawn failed");
        }
        zm_val_push_uint (pids, pid);
        zm_tell (ctx, pid, "inc", NULL);
    }
    return zm_reply (ctx, &reply);
}

static const zm_handler_t s_spawner_handlers[] = {{"spawn", s_spawner_spawn}, {NULL, NULL}};
static const zm_actor_def_t s_spawner = {.kind = "spawner", .handlers = s_spawner_handlers};

Test (actor, spawn_from_handler, .timeout = 20)
{
    zm_node_t *node = s_node (2);
    zm_pid_t spawner = zm_spawn (node, "spawner", &s_spawner, NULL, 0, NULL);
    zm_msg_t *req = zm_msg_new ();
    zm_msg_set_int (req, "n", 10);
    zm_msg_t *reply = NULL;
    cr_assert_eq (zm_node_ask (node, spawner, "spawn", &req, &reply, NULL, 2000), 0);
    const zm_val_t *pids = zm_val_get (zm_msg_root (reply), "pids");
    cr_assert_eq (zm_val_size (pids), 10);
    int on_second = 0;
    for (size_t i = 0; i < 10; i++) {
        zm_pid_t pid = zm_val_uint (zm_val_at (pids, i), 0);
        on_second += zm_pid_reactor (pid) == 1;
        cr_assert_eq (s_wait_int (node, pid, "get", "count", 1), 1);
    }
    cr_assert_eq (on_second, 5, "reactor -1 spreads actors in turn");
    zm_msg_destroy (&reply);
    zm_node_destroy (&node);
}

//  init: a failing init stops the actor before any message
static int
s_failing_init (zm_ctx_t *ctx, zm_msg_t *msg)
{
    return zm_error (ctx, ZM_EINVAL, "cannot start");
}

static const zm_actor_def_t s_broken = {
    .kind = "broken", .handlers = s_counter_handlers, .init = s_failing_init,
    .destroy = s_counter_destroy};

Test (actor, failing_init_stops_actor, .timeout = 20)
{
    zm_node_t *node = s_node (1);
    atomic_int destroyed = 0;
    counter_t *state = (counter_t *) calloc (1, sizeof (counter_t));
    state->destroyed = &destroyed;
    zm_pid_t pid = zm_spawn (node, "broken", &s_broken, state, 0, NULL);
    cr_assert_neq (pid, 0);
    cr_assert_eq (zm_node_ask (node, pid, "get", NULL, NULL, NULL, 2000), ZM_ENOTFOUND);
    cr_assert_eq (atomic_load (&destroyed), 1, "destroy frees the state of a failed init");
    cr_assert_eq (zm_lookup (node, "broken"), 0);
    zm_node_destroy (&node);
}

//  --------------------------------------------------------------------------
//  Shutdown with messages in flight

//  flood: every "ball" is sent on to the partner, twice, up to a depth
static int
s_flood_ball (zm_ctx_t *ctx, zm_msg_t *msg)
{
    zm_pid_t partner = *(zm_pid_t *) zm_ctx_state (ctx);
    for (int i = 0; i < 2; i++) {
        zm_msg_t *ball = zm_msg_new ();
        zm_msg_set_int (ball, "n", i);
        zm_tell (ctx, partner, "ball", &ball);
    }
    return 0;
}

static const zm_handler_t s_flood_handlers[] = {{"ball", s_flood_ball}, {NULL, NULL}};
static const zm_actor_def_t s_flood = {.kind = "flood", .handlers = s_flood_handlers};

typedef struct {
    zm_node_t *node;   //  node asked
    zm_pid_t pid;      //  holder
    int rc;            //  what zm_node_ask returned
} ask_thread_t;

static void *
s_ask_thread (void *arg)
{
    ask_thread_t *job = (ask_thread_t *) arg;
    job->rc = zm_node_ask (job->node, job->pid, "hold", NULL, NULL, NULL, 10000);
    return NULL;
}

Test (actor, shutdown_with_messages_in_flight, .timeout = 30)
{
    //  The balls never stop: the drain runs out its 200 ms and shutdown
    //  goes on regardless.
    zm_node_t *node = s_node_drain (2, "200");
    atomic_int destroyed = 0;
    //  Two actors on different reactors bouncing a growing number of balls;
    //  each one's state is the cell holding its partner's pid.
    static zm_pid_t pids[2];
    pids[0] = zm_spawn (node, NULL, &s_flood, &pids[1], 0, NULL);
    pids[1] = zm_spawn (node, NULL, &s_flood, &pids[0], 1, NULL);
    cr_assert (pids[0] && pids[1]);
    zm_pid_t a = pids[0];
    zm_pid_t holder = s_spawn (node, "holder", &s_doubler, sizeof (doubler_t), 1);
    for (int i = 0; i < 10; i++)
        s_spawn_counter (node, NULL, i % 2, &destroyed);
    ask_thread_t job = {node, holder, -1};
    pthread_t thread;
    pthread_create (&thread, NULL, s_ask_thread, &job);
    cr_assert_eq (zm_node_tell (node, a, "ball", NULL), 0);
    zclock_sleep (200); //  the balls multiply: thousands in flight now
    int64_t start = zclock_mono ();
    zm_node_destroy (&node);
    int64_t took = zclock_mono () - start;
    pthread_join (thread, NULL);
    cr_assert_eq (atomic_load (&destroyed), 10, "every actor's destroy ran");
    cr_assert (job.rc == ZM_ECLOSED, "blocked asker got %s", zm_strerror (job.rc));
    cr_assert (took < 5000, "shutdown took %" PRId64 " ms", took);
}

//  tally: counts "inc" into a cell the test reads after shutdown
static int
s_tally_inc (zm_ctx_t *ctx, zm_msg_t *msg)
{
    (*(int64_t *) zm_ctx_state (ctx))++;
    return 0;
}

static const zm_handler_t s_tally_handlers[] = {{"inc", s_tally_inc}, {NULL, NULL}};
static const zm_actor_def_t s_tally = {.kind = "tally", .handlers = s_tally_handlers};

Test (actor, shutdown_drains_queued_work, .timeout = 30)
{
    zm_node_t *node = s_node (2);
    static int64_t tallies[2];
    zm_pid_t pinger = zm_spawn (node, "pinger", &s_pinger, NULL, 0, NULL);
    zm_pid_t tally = zm_spawn (node, "tally", &s_tally, &tallies[0], 1, NULL);
    zm_pid_t local = zm_spawn (node, "local", &s_tally, &tallies[1], 0, NULL);
    cr_assert (pinger && tally && local);
    //  100,000 tells across reactors and 100,000 on one reactor, queued
    //  right before the node is destroyed: a graceful stop handles them all.
    zm_msg_t *go = zm_msg_new ();
    zm_msg_set_uint (go, "to", tally);
    zm_msg_set_int (go, "n", 100000);
    cr_assert_eq (zm_node_tell (node, pinger, "go", &go), 0);
    go = zm_msg_new ();
    zm_msg_set_uint (go, "to", local);
    zm_msg_set_int (go, "n", 100000);
    cr_assert_eq (zm_node_tell (node, pinger, "go", &go), 0);
    zm_node_destroy (&node);
    cr_assert_eq (tallies[0], 100000);
    cr_assert_eq (tallies[1], 100000);
}

//  --------------------------------------------------------------------------
//  zm_node_run

static void *
s_stopper (void *arg)
{
    zclock_sleep (100);
    zm_node_stop ((zm_node_t *) arg);
    return NULL;
}

static void *
s_signaller (void *arg)
{
    zclock_sleep (100);
    kill (getpid (), SIGTERM);
    return NULL;
}

Test (actor, run_returns_on_stop, .timeout = 10)
{
    zm_node_t *node = s_node (1);
    pthread_t thread;
    pthread_create (&thread, NULL, s_stopper, node);
    cr_assert_eq (zm_node_run (node), 0);
    pthread_join (thread, NULL);
    //  Stopped: new work is refused cleanly.
    int err = 0;
    cr_assert_eq (zm_spawn (node, "late", &s_counter, NULL, 0, &err), 0);
    cr_assert_eq (err, ZM_ECLOSED);
    cr_assert_eq (zm_node_tell (node, 1ull << 56, "x", NULL), ZM_ECLOSED);
    zm_node_destroy (&node);
}

Test (actor, run_returns_on_sigterm, .timeout = 10)
{
    zm_node_t *node = s_node (1);
    pthread_t thread;
    pthread_create (&thread, NULL, s_signaller, NULL);
    cr_assert_eq (zm_node_run (node), 0);
    pthread_join (thread, NULL);
    zm_node_destroy (&node);
}
