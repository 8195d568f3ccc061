/*  =========================================================================
    zm_service - named, versioned services and the built-in "$node" service

    A service is an actor definition built from its endpoints (each endpoint
    is a message type of the instances) plus the bookkeeping RPC needs:
    version, metadata, instance pids and per-endpoint statistics. The
    statistics are atomics because every reactor's RPC server accounts for
    the requests it answered.

    The table of services is written before start and read by every reactor
    afterwards (svc_lock is a read-write lock, and a started service never
    changes shape).
    =========================================================================
*/
#include "zm_runtime.h"

struct _zm_endpoint_t {
    char *name;                     //  "Say.Hello"
    zm_actor_fn *fn;                //  handler
    atomic_uint_fast64_t requests;  //  answered (success or error)
    atomic_uint_fast64_t errors;    //  answered with an error
    atomic_uint_fast64_t total_us;  //  latency summed
    atomic_uint_fast64_t max_us;    //  worst latency
    atomic_int last_error;          //  zm_err_t of the last error
    bool internal;                  //  a message type, not callable over RPC
    bool stream;                    //  a stream endpoint (zm_service_stream)
    pthread_mutex_t detail_lock;    //  guards last_detail
    char last_detail[160];          //  detail of the last error
};

struct _zm_service_t {
    zm_node_t *node;                //  owner
    char *name;                     //  service name
    char *version;                  //  its version
    zhashx_t *meta;                 //  metadata, str -> str
    zm_endpoint_t **endpoints;      //  endpoints, in order added
    int endpoint_count;             //  how many
    zm_handler_t *handlers;         //  built at start
    zm_actor_def_t def;             //  the instances' definition
    zm_actor_fn *init;              //  per-instance init
    zm_actor_fn *destroy;           //  per-instance destroy
    void *arg;                      //  initial instance state
    int instances;                  //  how many instances
    bool dedicated;                 //  instances get a reactor of their own
    _Atomic zm_pid_t *pids;         //  their pids (after start)
    atomic_uint next;               //  round robin among instances
    atomic_bool started;            //  open to calls
    atomic_bool stopped;            //  zm_service_stop ran (until started again)
    int reactor;                    //  its dedicated reactor, or -1
};

static bool
s_name_ok (const char *name, size_t max)
{
    if (!name || !*name || strlen (name) > max)
        return false;
    for (const char *c = name; *c; c++)
        if (!(isalnum ((unsigned char) *c) || *c == '.' || *c == '_' || *c == '-'
              || *c == '$'))
            return false;
    return true;
}

static void
s_service_free (void **item)
{
    zm_service_t *self = (zm_service_t *) *item;
    if (!self)
        return;
    for (int i = 0; i < self->endpoint_count; i++) {
        pthread_mutex_destroy (&self->endpoints[i]->detail_lock);
        free (self->endpoints[i]->name);
        free (self->endpoints[i]);
    }
    free (self->endpoints);
    free (self->handlers);
    free ((void *) self->pids);
    zhashx_destroy (&self->meta);
    free (self->name);
    free (self->version);
    free (self);
    *item = NULL;
}

static zm_service_t *
s_service_new (zm_node_t *node, const char *name, const char *version)
{
    if (!node || !s_name_ok (name, 255) || !version || !*version || strlen (version) > 64)
        return NULL;
    zm_service_t *self = (zm_service_t *) calloc (1, sizeof (zm_service_t));
    if (!self)
        return NULL;
    self->node = node;
    self->name = strdup (name);
    self->version = strdup (version);
    self->meta = zhashx_new ();
    self->instances = 1;
    self->reactor = -1;
    if (!self->name || !self->version || !self->meta)
        goto fail;
    zhashx_set_destructor (self->meta, (zhashx_destructor_fn *) zstr_free);
    pthread_rwlock_wrlock (&node->svc_lock);
    int rc = zhashx_insert (node->services, self->name, self);
    pthread_rwlock_unlock (&node->svc_lock);
    if (rc != 0)
        goto fail;
    return self;
fail:
    s_service_free ((void **) &self);
    return NULL;
}

zm_service_t *
zm_service_new (zm_node_t *node, const char *name, const char *version)
{
    if (name && name[0] == '$')
        return NULL; //  '$' names are the runtime's
    return s_service_new (node, name, version);
}

zm_service_t *
zm_service_builtin (zm_node_t *node, const char *name)
{
    return s_service_new (node, name, ZM_VERSION_STRING);
}

static int
s_add_handler (zm_service_t *self, const char *endpoint, zm_actor_fn *fn, bool internal,
               bool stream)
{
    if (!self || !fn || !s_name_ok (endpoint, 255) || endpoint[0] == '$')
        return ZM_EINVAL;
    if (atomic_load (&self->started))
        return ZM_ECONFLICT;
    for (int i = 0; i < self->endpoint_count; i++)
        if (streq (self->endpoints[i]->name, endpoint))
            return ZM_ECONFLICT;
    zm_endpoint_t *ep = (zm_endpoint_t *) calloc (1, sizeof (zm_endpoint_t));
    zm_endpoint_t **grown = (zm_endpoint_t **) realloc (
        self->endpoints, (self->endpoint_count + 1) * sizeof (zm_endpoint_t *));
    if (!ep || !grown || !(ep->name = strdup (endpoint))) {
        free (ep);
        if (grown)
            self->endpoints = grown;
        return ZM_ENOMEM;
    }
    ep->fn = fn;
    ep->internal = internal;
    ep->stream = stream;
    pthread_mutex_init (&ep->detail_lock, NULL);
    self->endpoints = grown;
    self->endpoints[self->endpoint_count++] = ep;
    return 0;
}

int
zm_service_handle (zm_service_t *self, const char *endpoint, zm_actor_fn *fn)
{
    return s_add_handler (self, endpoint, fn, false, false);
}

int
zm_service_stream (zm_service_t *self, const char *endpoint, zm_actor_fn *fn)
{
    return s_add_handler (self, endpoint, fn, false, true);
}

bool
zm_endpoint_is_stream (zm_endpoint_t *self)
{
    return self->stream;
}

int
zm_service_on (zm_service_t *self, const char *type, zm_actor_fn *fn)
{
    return s_add_handler (self, type, fn, true, false);
}

int
zm_service_set_meta (zm_service_t *self, const char *key, const char *value)
{
    if (!self || !key || !*key || !value || strlen (key) > 255 || strlen (value) > 4096)
        return ZM_EINVAL;
    if (atomic_load (&self->started))
        return ZM_ECONFLICT;
    char *copy = strdup (value);
    if (!copy)
        return ZM_ENOMEM;
    zhashx_update (self->meta, key, copy);
    return 0;
}

int
zm_service_set_instances (zm_service_t *self, int instances)
{
    if (!self || instances < 1 || instances > 1024)
        return ZM_EINVAL;
    if (atomic_load (&self->started))
        return ZM_ECONFLICT;
    self->instances = instances;
    return 0;
}

int
zm_service_set_dedicated (zm_service_t *self, bool dedicated)
{
    if (!self)
        return ZM_EINVAL;
    if (atomic_load (&self->started))
        return ZM_ECONFLICT;
    self->dedicated = dedicated;
    return 0;
}

int
zm_service_set_state (zm_service_t *self, zm_actor_fn *init, zm_actor_fn *destroy, void *arg)
{
    if (!self)
        return ZM_EINVAL;
    if (atomic_load (&self->started))
        return ZM_ECONFLICT;
    self->init = init;
    self->destroy = destroy;
    self->arg = arg;
    return 0;
}

int
zm_service_start (zm_service_t *self)
{
    if (!self)
        return ZM_EINVAL;
    if (atomic_load (&self->started))
        return 0;
    if (self->endpoint_count == 0)
        return ZM_EINVAL;
    //  A service stopped and started again keeps its shape: the handler
    //  table and the pid array are made once (a server that looked the
    //  service up just before the stop may still read the pids).
    if (!self->handlers)
        self->handlers = (zm_handler_t *) calloc (self->endpoint_count + 1, sizeof (zm_handler_t));
    if (!self->pids)
        self->pids = (_Atomic zm_pid_t *) calloc (self->instances, sizeof (zm_pid_t));
    if (!self->handlers || !self->pids)
        return ZM_ENOMEM;
    for (int i = 0; i < self->endpoint_count; i++) {
        self->handlers[i].type = self->endpoints[i]->name;
        self->handlers[i].fn = self->endpoints[i]->fn;
    }
    self->def.kind = self->name;
    self->def.handlers = self->handlers;
    self->def.init = self->init;
    self->def.destroy = self->destroy;
    int reactors = zm_node_reactors (self->node);
    if (self->dedicated && self->reactor < 0 && (self->reactor = zm_node_add_reactor (self->node)) < 0)
        return ZM_ETOOMANY;
    for (int i = 0; i < self->instances; i++) {
        int err = 0;
        int reactor = self->reactor >= 0 ? self->reactor : i % reactors;
        zm_pid_t pid = zm_spawn (self->node, NULL, &self->def, self->arg, reactor, &err);
        if (!pid) {
            for (int j = 0; j < i; j++)
                zm_stop (self->node, atomic_load (&self->pids[j]));
            return err;
        }
        atomic_store (&self->pids[i], pid);
    }
    atomic_store (&self->stopped, false);
    atomic_store (&self->started, true);
    zm_log_info ("service %s %s: %d endpoint(s), %d instance(s)", self->name, self->version,
                 self->endpoint_count, self->instances);
    //  The new sequence goes out in a beacon at once (the discovery tick
    //  sees it within 50 ms), and peers ask for the new descriptor.
    atomic_fetch_add (&self->node->services_seq, 1);
    zm_registry_put_self (self->node);
    return 0;
}

int
zm_service_stop (zm_service_t *self)
{
    if (!self)
        return ZM_EINVAL;
    if (!atomic_exchange (&self->started, false))
        return 0;
    atomic_store (&self->stopped, true);
    //  Closed to new calls first (the server answers 503, so callers retry
    //  elsewhere), then peers told, then the instances stopped: requests
    //  already queued to them are handled, later ones get 503.
    atomic_fetch_add (&self->node->services_seq, 1);
    zm_registry_put_self (self->node);
    for (int i = 0; i < self->instances; i++)
        zm_stop (self->node, atomic_load (&self->pids[i]));
    zm_log_info ("service %s %s: stopped", self->name, self->version);
    return 0;
}

bool
zm_service_stopped (zm_service_t *self)
{
    return atomic_load (&self->stopped);
}

bool
zm_service_running (zm_service_t *self)
{
    return atomic_load (&self->started);
}

zm_node_t *
zm_service_node (zm_service_t *self)
{
    return self->node;
}

int
zm_service_on_event (zm_service_t *self, const char *type, zm_actor_fn *fn)
{
    //  '$' types are the runtime's: s_add_handler refuses them to users.
    if (!self || !fn || !type || strncmp (type, "$event.", 7) != 0)
        return ZM_EINVAL;
    if (atomic_load (&self->started))
        return ZM_ECONFLICT;
    zm_endpoint_t *ep = (zm_endpoint_t *) calloc (1, sizeof (zm_endpoint_t));
    zm_endpoint_t **grown = (zm_endpoint_t **) realloc (
        self->endpoints, (self->endpoint_count + 1) * sizeof (zm_endpoint_t *));
    if (grown)
        self->endpoints = grown;
    if (!ep || !grown || !(ep->name = strdup (type))) {
        free (ep);
        return ZM_ENOMEM;
    }
    ep->fn = fn;
    ep->internal = true;
    pthread_mutex_init (&ep->detail_lock, NULL);
    self->endpoints[self->endpoint_count++] = ep;
    return 0;
}

const char *
zm_service_name (zm_service_t *self)
{
    return self->name;
}

const char *
zm_service_version (zm_service_t *self)
{
    return self->version;
}

//  --------------------------------------------------------------------------
//  Internal: lookups for the RPC server

zm_service_t *
zm_service_lookup (zm_node_t *node, const char *name)
{
    pthread_rwlock_wrlock (&node->svc_lock);
    zm_service_t *self = (zm_service_t *) zhashx_lookup (node->services, name);
    pthread_rwlock_unlock (&node->svc_lock);
    return self && (atomic_load (&self->started) || atomic_load (&self->stopped)) ? self : NULL;
}

zm_pid_t
zm_service_pick (zm_service_t *self, int reactor)
{
    //  An instance on the arriving reactor saves a thread hop; among several
    //  there, and otherwise among all, take them in turn.
    unsigned turn = atomic_fetch_add (&self->next, 1);
    for (int i = 0; i < self->instances; i++) {
        zm_pid_t pid = atomic_load (&self->pids[(turn + i) % self->instances]);
        if (zm_pid_reactor (pid) == reactor)
            return pid;
    }
    return atomic_load (&self->pids[turn % self->instances]);
}

zm_endpoint_t *
zm_service_endpoint (zm_service_t *self, const char *name)
{
    for (int i = 0; i < self->endpoint_count; i++)
        if (!self->endpoints[i]->internal && streq (self->endpoints[i]->name, name))
            return self->endpoints[i];
    return NULL;
}

const char *
zm_endpoint_name (zm_endpoint_t *self)
{
    return self->name;
}

void
zm_endpoint_account (zm_endpoint_t *self, int status, const char *detail, int64_t latency_us)
{
    atomic_fetch_add (&self->requests, 1);
    uint64_t us = latency_us > 0 ? (uint64_t) latency_us : 0;
    atomic_fetch_add (&self->total_us, us);
    uint64_t max = atomic_load (&self->max_us);
    while (us > max && !atomic_compare_exchange_weak (&self->max_us, &max, us))
        ;
    if (status != ZM_OK) {
        atomic_fetch_add (&self->errors, 1);
        atomic_store (&self->last_error, status);
        pthread_mutex_lock (&self->detail_lock);
        snprintf (self->last_detail, sizeof self->last_detail, "%s",
                  detail ? detail : zm_strerror (status));
        pthread_mutex_unlock (&self->detail_lock);
    }
}

int
zm_services_start_all (zm_node_t *node)
{
    int rc = 0;
    //  The write lock: zhashx iteration moves the table's own cursor.
    pthread_rwlock_wrlock (&node->svc_lock);
    for (zm_service_t *self = (zm_service_t *) zhashx_first (node->services); self;
         self = (zm_service_t *) zhashx_next (node->services))
        if (!atomic_load (&self->started) && !atomic_load (&self->stopped)
            && self->endpoint_count > 0) {
            int one = zm_service_start (self);
            if (one && !rc)
                rc = one;
        }
    pthread_rwlock_unlock (&node->svc_lock);
    return rc;
}

void
zm_services_destroy (zm_node_t *node)
{
    zhashx_destroy (&node->services);
}

//  --------------------------------------------------------------------------
//  Inside handlers: the call's header

const char *
zm_ctx_meta (zm_ctx_t *ctx, const char *key)
{
    if (!ctx || !ctx->env || !ctx->env->meta || !key)
        return NULL;
    const zm_val_t *meta = zm_val_get (zm_msg_root (ctx->env->meta), "metadata");
    return zm_val_str (zm_val_get (meta, key), NULL, NULL);
}

const char *
zm_ctx_caller (zm_ctx_t *ctx)
{
    return ctx && ctx->env && ctx->env->caller ? ctx->env->caller + 1 : NULL;
}

const char *
zm_ctx_caller_roles (zm_ctx_t *ctx)
{
    const char *name = zm_ctx_caller (ctx);
    return name ? name + strlen (name) + 1 : NULL;
}

const char *
zm_ctx_trace_id (zm_ctx_t *ctx)
{
    if (!ctx || !ctx->env || !ctx->env->meta)
        return NULL;
    return zm_msg_get_str (ctx->env->meta, "trace_id", NULL);
}

int64_t
zm_ctx_remaining (zm_ctx_t *ctx)
{
    if (!ctx || !ctx->env || !ctx->env->deadline)
        return -1;
    int64_t left = ctx->env->deadline - zclock_mono ();
    return left > 0 ? left : 0;
}

//  --------------------------------------------------------------------------
//  The built-in "$node" service

zm_msg_t *
zm_node_descriptor (zm_node_t *node)
{
    zm_msg_t *reply = zm_msg_new ();
    if (!reply)
        return NULL;
    zm_msg_set_str (reply, "uuid", node->uuid);
    zm_msg_set_str (reply, "name", node->name);
    zm_msg_set_str (reply, "zmicro", ZM_VERSION_STRING);
    zm_msg_set_uint (reply, "seq", atomic_load (&node->services_seq));
    zm_val_t *root = zm_msg_root_mut (reply);
    zm_val_t *ports = zm_val_set_array (root, "rpc_ports");
    for (int r = 0; r < node->reactor_count; r++)
        if (node->rpc_ports[r])
            zm_val_push_uint (ports, (uint64_t) node->rpc_ports[r]);
    zm_val_t *services = zm_val_set_array (root, "services");
    pthread_rwlock_wrlock (&node->svc_lock);
    for (zm_service_t *svc = (zm_service_t *) zhashx_first (node->services); svc;
         svc = (zm_service_t *) zhashx_next (node->services)) {
        if (!atomic_load (&svc->started))
            continue;
        zm_val_t *entry = zm_val_push_map (services);
        zm_val_set_str (entry, "name", svc->name);
        zm_val_set_str (entry, "version", svc->version);
        zm_val_set_int (entry, "instances", svc->instances);
        zm_val_t *endpoints = zm_val_set_array (entry, "endpoints");
        for (int i = 0; i < svc->endpoint_count; i++)
            if (!svc->endpoints[i]->internal)
                zm_val_push_str (endpoints, svc->endpoints[i]->name);
        zm_val_t *streams = NULL;
        for (int i = 0; i < svc->endpoint_count; i++)
            if (svc->endpoints[i]->stream) {
                if (!streams)
                    streams = zm_val_set_array (entry, "streams");
                zm_val_push_str (streams, svc->endpoints[i]->name);
            }
        zm_val_t *meta = zm_val_set_map (entry, "metadata");
        for (const char *value = (const char *) zhashx_first (svc->meta); value;
             value = (const char *) zhashx_next (svc->meta))
            zm_val_set_str (meta, (const char *) zhashx_cursor (svc->meta), value);
    }
    pthread_rwlock_unlock (&node->svc_lock);
    zm_broker_describe (node, root);
    return reply;
}

void
zm_registry_put_self (zm_node_t *node)
{
    if (!node->reg || !node->rpc_ports[0])
        return; //  a pure client serves nothing
    //  Callers on this host reach us on loopback unless we bound elsewhere.
    const char *bind = zm_config_get_str (node->config, "rpc.bind", "*");
    const char *host = streq (bind, "*") || streq (bind, "0.0.0.0") ? "127.0.0.1" : bind;
    zm_msg_t *self = zm_node_descriptor (node);
    char key[41] = "";
    if (node->auth && node->auth->curve)
        zm_auth_public_text (node, key);
    if (self)
        zm_registry_put (node, host, node->rpc_ports[0], key, ZM_REG_SELF, &self);
}

//  describe and hello: what this node serves. hello is the discovery
//  exchange (docs/discovery.md); today it answers the same map.
static int
s_node_describe (zm_ctx_t *ctx, zm_msg_t *msg)
{
    zm_msg_t *reply = zm_node_descriptor (zm_ctx_node (ctx));
    return reply ? zm_reply (ctx, &reply) : ZM_ENOMEM;
}

static int
s_node_health (zm_ctx_t *ctx, zm_msg_t *msg)
{
    zm_node_t *node = zm_ctx_node (ctx);
    zm_msg_t *reply = zm_msg_new ();
    if (!reply)
        return ZM_ENOMEM;
    bool ready = !atomic_load (&node->stopping);
    zm_msg_set_bool (reply, "live", true);
    zm_msg_set_bool (reply, "ready", ready);
    zm_msg_set_str (reply, "status", ready ? "serving" : "stopping");
    return zm_reply (ctx, &reply);
}

static int
s_node_stats (zm_ctx_t *ctx, zm_msg_t *msg)
{
    zm_node_t *node = zm_ctx_node (ctx);
    zm_msg_t *reply = zm_msg_new ();
    if (!reply)
        return ZM_ENOMEM;
    zm_val_t *root = zm_msg_root_mut (reply);
    zm_val_t *server = zm_val_set_map (root, "rpc");
    zm_val_set_uint (server, "requests", atomic_load (&node->rpc_requests));
    zm_val_set_uint (server, "malformed", atomic_load (&node->rpc_malformed));
    zm_val_set_uint (server, "dropped", atomic_load (&node->rpc_dropped));
    zm_broker_stats (node, zm_val_set_map (root, "pubsub"));
    zm_val_t *registry = zm_val_set_map (root, "registry");
    zm_val_set_uint (registry, "beacons_rejected", atomic_load (&node->beacons_rejected));
    zm_val_t *services = zm_val_set_map (root, "services");
    pthread_rwlock_wrlock (&node->svc_lock);
    for (zm_service_t *svc = (zm_service_t *) zhashx_first (node->services); svc;
         svc = (zm_service_t *) zhashx_next (node->services)) {
        zm_val_t *entry = zm_val_set_map (services, svc->name);
        for (int i = 0; i < svc->endpoint_count; i++) {
            zm_endpoint_t *ep = svc->endpoints[i];
            if (ep->internal)
                continue;
            zm_val_t *stats = zm_val_set_map (entry, ep->name);
            uint64_t requests = atomic_load (&ep->requests);
            zm_val_set_uint (stats, "requests", requests);
            zm_val_set_uint (stats, "errors", atomic_load (&ep->errors));
            zm_val_set_uint (stats, "latency_avg_us",
                             requests ? atomic_load (&ep->total_us) / requests : 0);
            zm_val_set_uint (stats, "latency_max_us", atomic_load (&ep->max_us));
            int last = atomic_load (&ep->last_error);
            if (last) {
                zm_val_set_int (stats, "last_error_code", zm_err_http (last));
                pthread_mutex_lock (&ep->detail_lock);
                zm_val_set_str (stats, "last_error", ep->last_detail);
                pthread_mutex_unlock (&ep->detail_lock);
            }
        }
    }
    pthread_rwlock_unlock (&node->svc_lock);
    return zm_reply (ctx, &reply);
}

int
zm_node_services_init (zm_node_t *node)
{
    node->services = zhashx_new ();
    if (!node->services)
        return ZM_ENOMEM;
    //  Keys are the services' own names; the table owns the services.
    zhashx_set_key_duplicator (node->services, NULL);
    zhashx_set_key_destructor (node->services, NULL);
    zhashx_set_destructor (node->services, s_service_free);
    zm_service_t *self = zm_service_builtin (node, "$node");
    if (!self || zm_service_handle (self, "describe", s_node_describe)
        || zm_service_handle (self, "hello", s_node_describe)
        || zm_service_handle (self, "health", s_node_health)
        || zm_service_handle (self, "stats", s_node_stats)
        || zm_service_handle (self, "publish", zm_broker_publish_endpoint))
        return ZM_ENOMEM;
    return zm_service_start (self);
}
