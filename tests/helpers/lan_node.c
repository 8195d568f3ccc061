/*  lan_node - a node for discovery tests

    Usage: lan_node [config flags...]   e.g. --node.name=h1 --app.call=greeter

    Starts a node with the given config (defaults otherwise: discovery needs
    nothing set), serves "greeter" (endpoint Who answers the node's name)
    unless --app.serve=false, and prints, one line each, flushed:
        UUID <uuid>
        READY <rpc port>
        EVENT <ms> <action> <type> <node name> <service or ->
              registry events; <ms> is CLOCK_MONOTONIC in ms, comparable
              across processes and network namespaces of one machine
        CALL <ms> ok <answering node> | CALL <ms> err <code>
              with --app.call=SERVICE: a call to SERVICE.Who every
              --app.call_interval ms (200)
        TOGGLE <ms> start|stop
              with --app.toggle=SERVICE: --app.toggle_after ms (1000)
              after READY, starts SERVICE (endpoint Who, as greeter) on
              the running node, and as long again later stops it
        RAW <topic>
              with --app.raw_sub=tcp://HOST:PORT#KEY: what a raw ZeroMQ SUB
              socket (a CURVE client with a keypair of its own, outside
              the runtime) receives from that PUB socket, first frame
        BYE   when stopped (SIGTERM/SIGINT: graceful, goodbye beacon first)
    The greeter service also has an endpoint Secret (answers as Who).
    It dies with its parent (PR_SET_PDEATHSIG).
*/
#include <czmq.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/prctl.h>
#include "zmicro.h"

static pthread_mutex_t s_out = PTHREAD_MUTEX_INITIALIZER;

static void
s_say (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    pthread_mutex_lock (&s_out);
    vprintf (format, args);
    putchar ('\n');
    fflush (stdout);
    pthread_mutex_unlock (&s_out);
    va_end (args);
}

static int
s_who (zm_ctx_t *ctx, zm_msg_t *req)
{
    zm_msg_t *rep = zm_msg_new ();
    zm_msg_set_str (rep, "node", zm_node_name (zm_ctx_node (ctx)));
    return zm_reply (ctx, &rep);
}

static volatile int s_stop_threads = 0;

//  A raw SUB on a node's PUB socket, as an intruder would open one
static void *
s_raw_sub (void *arg)
{
    const char *address = (const char *) arg;
    const char *hash = strchr (address, '#');
    zsock_t *sub = zsock_new (ZMQ_SUB);
    zcert_t *cert = zcert_new ();
    if (!sub || !cert || !hash)
        return NULL;
    zcert_apply (cert, sub);
    zcert_destroy (&cert);
    zsock_set_curve_serverkey (sub, hash + 1);
    zsock_set_subscribe (sub, "");
    zsock_connect (sub, "%.*s", (int) (hash - address), address);
    zsock_set_rcvtimeo (sub, 100);
    while (!s_stop_threads) {
        zmsg_t *msg = zmsg_recv (sub);
        char *topic = msg ? zmsg_popstr (msg) : NULL;
        if (topic)
            s_say ("RAW %s", topic);
        zstr_free (&topic);
        zmsg_destroy (&msg);
    }
    zsock_destroy (&sub);
    return NULL;
}

static void *
s_watcher (void *arg)
{
    zm_watch_t *watch = (zm_watch_t *) arg;
    while (!s_stop_threads) {
        zm_msg_t *event = NULL;
        int rc = zm_watch_next (watch, &event, 100);
        if (rc == ZM_ECLOSED)
            break;
        if (rc)
            continue;
        const zm_val_t *svc = zm_val_get (zm_msg_root (event), "service");
        s_say ("EVENT %" PRId64 " %s %s %s %s", zclock_mono (),
               zm_msg_get_str (event, "action", "?"), zm_msg_get_str (event, "type", "?"),
               zm_msg_get_str (event, "name", "?"),
               svc ? zm_val_str (zm_val_get (svc, "name"), "-", NULL) : "-");
        zm_msg_destroy (&event);
    }
    return NULL;
}

typedef struct {
    zm_node_t *node;
    char service[128];
    int interval;          //  ms between calls
} caller_t;

static void *
s_caller (void *arg)
{
    caller_t *caller = (caller_t *) arg;
    while (!s_stop_threads) {
        zm_msg_t *rep = NULL;
        zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
        opts.timeout_ms = 1000;
        int rc = zm_call (caller->node, caller->service, "Who", NULL, &rep, NULL, &opts);
        if (rc == 0)
            s_say ("CALL %" PRId64 " ok %s", zclock_mono (), zm_msg_get_str (rep, "node", "?"));
        else
            s_say ("CALL %" PRId64 " err %d", zclock_mono (), rc);
        zm_msg_destroy (&rep);
        zclock_sleep (caller->interval);
    }
    return NULL;
}

typedef struct {
    zm_node_t *node;
    char service[128];
    int after;             //  ms before start, and again before stop
} toggler_t;

static void *
s_toggler (void *arg)
{
    toggler_t *toggler = (toggler_t *) arg;
    for (int slept = 0; slept < toggler->after && !s_stop_threads; slept += 10)
        zclock_sleep (10);
    zm_service_t *svc = zm_service_new (toggler->node, toggler->service, "1.0.0");
    if (!svc || zm_service_handle (svc, "Who", s_who) || zm_service_start (svc)) {
        s_say ("TOGGLE %" PRId64 " failed", zclock_mono ());
        return NULL;
    }
    s_say ("TOGGLE %" PRId64 " start", zclock_mono ());
    for (int slept = 0; slept < toggler->after && !s_stop_threads; slept += 10)
        zclock_sleep (10);
    int rc = zm_service_stop (svc);
    s_say ("TOGGLE %" PRId64 " %s", zclock_mono (), rc ? "failed" : "stop");
    return NULL;
}

int
main (int argc, char **argv)
{
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    char *reason = NULL;
    zm_config_t *config = zm_config_load (argc, argv, &reason);
    if (!config) {
        fprintf (stderr, "lan_node: %s\n", reason);
        free (reason);
        return 2;
    }
    bool serve = zm_config_get_bool (config, "app.serve", true);
    caller_t caller = {NULL, "", (int) zm_config_get_int (config, "app.call_interval", 200)};
    toggler_t toggler = {NULL, "", (int) zm_config_get_int (config, "app.toggle_after", 1000)};
    snprintf (toggler.service, sizeof toggler.service, "%s",
              zm_config_get_str (config, "app.toggle", ""));
    snprintf (caller.service, sizeof caller.service, "%s",
              zm_config_get_str (config, "app.call", ""));
    static char raw_sub[256];
    snprintf (raw_sub, sizeof raw_sub, "%s", zm_config_get_str (config, "app.raw_sub", ""));
    zm_node_t *node = zm_node_new (&config);
    if (!node)
        return 1;
    caller.node = node;
    toggler.node = node;
    //  Watch from the start, print after READY: a reader waiting for
    //  READY skips what comes before it.
    zm_watch_t *watch = zm_watch_new (node);
    pthread_t watcher, calls, toggles;
    if (serve) {
        zm_service_t *svc = zm_service_new (node, "greeter", "1.0.0");
        zm_service_handle (svc, "Who", s_who);
        zm_service_handle (svc, "Secret", s_who);
        if (zm_service_start (svc) != 0)
            return 1;
    }
    s_say ("UUID %s", zm_node_uuid (node));
    char key[ZM_KEY_TEXT] = "";
    zm_node_public_key (node, key);
    s_say ("READY %d %s", zm_node_rpc_port (node, 0), key);
    pthread_create (&watcher, NULL, s_watcher, watch);
    pthread_t raw;
    if (*raw_sub)
        pthread_create (&raw, NULL, s_raw_sub, (void *) raw_sub);
    if (*caller.service)
        pthread_create (&calls, NULL, s_caller, &caller);
    if (*toggler.service)
        pthread_create (&toggles, NULL, s_toggler, &toggler);
    zm_node_run (node);
    s_stop_threads = 1;
    if (*toggler.service)
        pthread_join (toggles, NULL);
    if (*caller.service)
        pthread_join (calls, NULL);
    pthread_join (watcher, NULL);
    if (*raw_sub)
        pthread_join (raw, NULL);
    zm_watch_destroy (&watch);
    zm_node_destroy (&node);
    s_say ("BYE");
    return 0;
}
