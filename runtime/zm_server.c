/*  =========================================================================
    zm_server - the RPC server that every reactor runs

    Each reactor binds its own ROUTER (config rpc.bind / rpc.port) and reads
    it on its own thread: one hop from the wire to the handler. A REQUEST
    becomes an ask from this reactor's gateway actor to an instance of the
    service (on this reactor when it has one), with the caller's deadline as
    the ask timeout and the call header (metadata, trace ids) attached. The
    answer comes back to the gateway as a "$rpc.reply" message, which turns
    it into a REPLY or ERROR for the caller's identity and correlation id.
    Reusing the actor ask machinery means one code path decides timeouts,
    late replies and failed handlers for local asks and remote calls alike.

    Malformed input never reaches a handler: zm_wire_decode answers what it
    can (an ERROR with the caller's correlation id) and the rest is dropped
    and counted. Answers (REPLY, ERROR, PONG) sent to a server are dropped so
    two peers can never answer each other forever.
    =========================================================================
*/
#include "zm_runtime.h"
#include "zm_wire.h"

#define ZM_SERVER_READ_BUDGET 256

typedef struct {
    zm_node_t *node;          //  owner
    zm_reactor_t *reactor;    //  where this server runs
    int index;                //  reactor index
    zsock_t *router;          //  bound RPC socket
    zm_pid_t gateway;         //  gateway actor on this reactor
    zhashx_t *calls;          //  ask id -> s_call_t
    size_t max_body;          //  rpc.max_body
    bool paused;              //  stopping: new requests get 503
} s_server_t;

//  A request being handled: where its answer goes.
typedef struct {
    zm_wire_peer_t peer;       //  caller's ROUTER routing id
    uint64_t corr;             //  caller's correlation id
    char content_type[ZM_WIRE_MAX_NAME + 1]; //  the request's, used for the reply
    zm_service_t *service;     //  for error ids
    zm_endpoint_t *endpoint;   //  for statistics
    int64_t start_us;          //  arrival, zclock_usecs
} s_call_t;

static void
s_call_free (void **item)
{
    s_call_t *call = (s_call_t *) *item;
    if (call) {
        free (call);
        *item = NULL;
    }
}

//  Send msg to the peer; takes msg, borrows peer.
static void
s_send (s_server_t *self, const zm_wire_peer_t *peer, zmsg_t **msg_p)
{
    if (!*msg_p)
        return;
    if (zmsg_pushmem (*msg_p, peer->data, peer->size) != 0
        || zmsg_send (msg_p, self->router) != 0) {
        zmsg_destroy (msg_p);
        atomic_fetch_add (&self->node->rpc_dropped, 1);
    }
}

static void
s_send_error (s_server_t *self, const zm_wire_peer_t *peer, uint64_t corr, int code, const char *id,
              const char *format, ...)
{
    char detail[256];
    va_list args;
    va_start (args, format);
    vsnprintf (detail, sizeof detail, format, args);
    va_end (args);
    zm_error_t *error = zm_error_new (code, id, "%s", detail);
    zmsg_t *msg = error ? zm_wire_error (corr, error) : NULL;
    zm_error_destroy (&error);
    s_send (self, peer, &msg);
}

static void
s_free_frame (void *data, void *hint)
{
    zframe_t *frame = (zframe_t *) hint;
    zframe_destroy (&frame);
}

//  The service and endpoint a REQUEST or STREAM_OPEN names, after every
//  check (node stopping, access rules, service, version, endpoint, its
//  kind); NULL when a check failed and the ERROR went out.
static zm_endpoint_t *
s_resolve (s_server_t *self, const zm_wire_peer_t *peer, zm_wire_t *wire,
           zm_service_t **service_p)
{
    if (self->paused) {
        s_send_error (self, peer, wire->corr, ZM_EUNAVAIL, "zmicro.server",
                      "node %s is stopping", self->node->name);
        return NULL;
    }
    //  Access rules, before anything is told about the service. The
    //  runtime's own services ("$") are for every caller admitted, but
    //  "$store", which checks each database (zm_node_store.c).
    const char *caller = wire->who ? wire->who : ZM_CALLER_ANONYMOUS;
    if (wire->service[0] != '$'
        && zm_auth_check (self->node, ZM_RES_SERVICE, wire->service, wire->endpoint, caller)) {
        s_send_error (self, peer, wire->corr, ZM_EDENIED, "zmicro.auth",
                      "%s may not call %s %s", zm_caller_describe (caller), wire->service,
                      wire->endpoint);
        return NULL;
    }
    zm_service_t *service = zm_service_lookup (self->node, wire->service);
    if (!service) {
        s_send_error (self, peer, wire->corr, ZM_ENOTFOUND, "zmicro.server",
                      "no service '%s' on node %s", wire->service, self->node->name);
        return NULL;
    }
    if (zm_service_stopped (service)) {
        s_send_error (self, peer, wire->corr, ZM_EUNAVAIL, "zmicro.server",
                      "service '%s' stopped on node %s", wire->service, self->node->name);
        return NULL;
    }
    if (wire->version && !streq (wire->version, zm_service_version (service))) {
        s_send_error (self, peer, wire->corr, ZM_ENOTFOUND, "zmicro.server",
                      "service '%s' is version %s, not %s", wire->service,
                      zm_service_version (service), wire->version);
        return NULL;
    }
    zm_endpoint_t *endpoint = zm_service_endpoint (service, wire->endpoint);
    if (!endpoint) {
        s_send_error (self, peer, wire->corr, ZM_ENOTFOUND, "zmicro.server",
                      "service '%s' has no endpoint '%s'", wire->service, wire->endpoint);
        return NULL;
    }
    bool open = wire->command == ZM_CMD_STREAM_OPEN;
    if (zm_endpoint_is_stream (endpoint) != open) {
        s_send_error (self, peer, wire->corr, ZM_EINVAL, "zmicro.server",
                      open ? "endpoint '%s' of '%s' is not a stream: call it"
                           : "endpoint '%s' of '%s' is a stream: open a stream to it",
                      wire->endpoint, wire->service);
        return NULL;
    }
    *service_p = service;
    return endpoint;
}

//  The body of a REQUEST or STREAM_OPEN as a message (NULL: empty), read in
//  place from its frame, which the message then owns. false when it does
//  not decode (the ERROR went out).
static bool
s_body (s_server_t *self, const zm_wire_peer_t *peer, zm_wire_t *wire, zm_msg_t **body_p)
{
    *body_p = NULL;
    size_t size = zframe_size (wire->body);
    if (size == 0)
        return true;
    const char *reason = NULL;
    int rc = zm_msg_decode_inplace (wire->content_type, zframe_data (wire->body), size,
                                    s_free_frame, wire->body, body_p, &reason);
    if (rc) {
        s_send_error (self, peer, wire->corr, rc, "zmicro.server", "cannot decode %s body: %s",
                      wire->content_type, reason ? reason : zm_strerror (rc));
        return false;
    }
    wire->body = NULL; //  the message owns it now
    return true;
}

//  A STREAM_OPEN: checked here, then the stream is the stream module's
static void
s_open (s_server_t *self, const zm_wire_peer_t *peer, zm_wire_t *wire)
{
    atomic_fetch_add (&self->node->rpc_requests, 1);
    zm_service_t *service = NULL;
    zm_endpoint_t *endpoint = s_resolve (self, peer, wire, &service);
    zm_msg_t *body = NULL;
    if (!endpoint || !s_body (self, peer, wire, &body))
        return;
    zm_pid_t instance = zm_service_pick (service, self->index);
    if (zm_stream_accept (self->reactor, zsock_resolve (self->router), peer, wire, endpoint,
                          instance, &body)) {
        zm_msg_destroy (&body);
        s_send_error (self, peer, wire->corr, ZM_ENOMEM, "zmicro.server", "out of memory");
    }
}

static void
s_request (s_server_t *self, const zm_wire_peer_t *peer, zm_wire_t *wire)
{
    atomic_fetch_add (&self->node->rpc_requests, 1);
    zm_service_t *service = NULL;
    zm_endpoint_t *endpoint = s_resolve (self, peer, wire, &service);
    if (!endpoint)
        return;
    zm_msg_t *body = NULL;
    if (!s_body (self, peer, wire, &body))
        return;
    s_call_t *call = (s_call_t *) malloc (sizeof (s_call_t));
    zm_pid_t instance = zm_service_pick (service, self->index);
    zm_env_t *env = call ? zm_env_new (ZM_ENV_ASK, instance, self->gateway, wire->endpoint,
                                       &body)
                         : NULL;
    if (!env) {
        free (call);
        zm_msg_destroy (&body);
        s_send_error (self, peer, wire->corr, ZM_ENOMEM, "zmicro.server", "out of memory");
        return;
    }
    memcpy (call->peer.data, peer->data, peer->size);
    call->peer.size = peer->size;
    call->corr = wire->corr;
    snprintf (call->content_type, sizeof call->content_type, "%s", wire->content_type);
    call->service = service;
    call->endpoint = endpoint;
    call->start_us = zclock_usecs ();
    env->deadline = zclock_mono () + wire->timeout_ms;
    env->meta = wire->header; //  metadata and trace ids go with the call
    wire->header = NULL;
    //  Who, as the handshake proved it; a remote caller is never "this process"
    env->caller = wire->who ? wire->who : zm_caller_new ('a', "", "");
    wire->who = NULL;
    int rc = zm_reactor_ask (self->reactor, env, "$rpc.reply", (int) wire->timeout_ms);
    if (rc) {
        s_call_t *doomed = call;
        s_call_free ((void **) &doomed);
        zm_env_destroy (&env, rc);
        s_send_error (self, peer, wire->corr, ZM_ENOMEM, "zmicro.server", "out of memory");
        return;
    }
    zhashx_insert (self->calls, (void *) (uintptr_t) env->ask_id, call);
    zm_reactor_route (self->reactor, env);
}

static int
s_on_router (zloop_t *loop, zsock_t *router, void *arg)
{
    s_server_t *self = (s_server_t *) arg;
    void *handle = zsock_resolve (router);
    for (int n = 0; n < ZM_SERVER_READ_BUDGET; n++) {
        zm_wire_peer_t peer;
        zm_wire_t wire;
        int rc = zm_wire_recv (handle, &peer, self->max_body, &wire);
        if (rc == -1)
            break; //  nothing more waiting
        if (rc && wire.command == ZM_CMD_EVENT) {
            zm_broker_malformed (self->node); //  an EVENT is never answered
            zm_log_debug ("rpc: reactor %d: bad event: %s", self->index,
                          wire.reason ? wire.reason : zm_strerror (rc));
        }
        else if (rc) {
            atomic_fetch_add (&self->node->rpc_malformed, 1);
            zmsg_t *answer = zm_wire_answer (&wire, rc);
            if (answer && peer.size)
                s_send (self, &peer, &answer);
            else {
                zmsg_destroy (&answer);
                atomic_fetch_add (&self->node->rpc_dropped, 1);
            }
            zm_log_debug ("rpc: reactor %d: bad message: %s", self->index,
                          wire.reason ? wire.reason : zm_strerror (rc));
        }
        else if (wire.command == ZM_CMD_REQUEST)
            s_request (self, &peer, &wire);
        else if (wire.command == ZM_CMD_STREAM_OPEN)
            s_open (self, &peer, &wire);
        else if (wire.command >= ZM_CMD_STREAM_DATA && wire.command <= ZM_CMD_STREAM_CREDIT)
            zm_stream_served (self->reactor, zsock_resolve (self->router), &peer, &wire);
        else if (wire.command == ZM_CMD_EVENT)
            zm_broker_on_event (self->node, &wire); //  a queue-group member: never answered
        else if (wire.command == ZM_CMD_PING) {
            zmsg_t *pong = zm_wire_pong (wire.corr);
            s_send (self, &peer, &pong);
        }
        else if (wire.command == ZM_CMD_CANCEL || zm_wire_is_answer (wire.command))
            atomic_fetch_add (&self->node->rpc_dropped, 1); //  nothing to answer; an answer to an answer loops
        else
            s_send_error (self, &peer, wire.corr, ZM_EPROTO, "zmicro.server",
                          "command %s is not served by this node",
                          zm_wire_command_name (wire.command));
        zm_wire_clear (&wire);
    }
    return 0;
}

//  The gateway actor: turns the answer of an instance into wire frames.
static int
s_gateway_reply (zm_ctx_t *ctx, zm_msg_t *msg)
{
    s_server_t *self = (s_server_t *) zm_ctx_state (ctx);
    void *key = (void *) (uintptr_t) zm_ctx_ask_id (ctx);
    s_call_t *call = (s_call_t *) zhashx_lookup (self->calls, key);
    if (!call)
        return 0;
    zhashx_delete (self->calls, key); //  no destructor: the call is ours now
    int status = zm_ctx_status (ctx);
    zmsg_t *out = NULL;
    const char *detail = NULL;
    if (status == ZM_ENOTFOUND && !zm_ctx_error (ctx) && zm_service_stopped (call->service)) {
        //  The instance was stopped with the call in its queue: the caller
        //  may retry on another node.
        status = ZM_EUNAVAIL;
        detail = "the service stopped on this node";
    }
    if (status == ZM_OK) {
        void *data = NULL;
        size_t size = 0;
        int rc = msg ? zm_msg_encode (msg, call->content_type, &data, &size) : 0;
        if (rc == 0) {
            zm_wire_t wire = {
                .command = ZM_CMD_REPLY, .corr = call->corr, .content_type = call->content_type};
            //  A ROUTER never blocks: a reply it cannot route is dropped
            if (zm_wire_send (zsock_resolve (self->router), &call->peer, &wire, data, size, 0))
                atomic_fetch_add (&self->node->rpc_dropped, 1);
            zm_endpoint_account (call->endpoint, ZM_OK, NULL, zclock_usecs () - call->start_us);
            free (data);
            s_call_free ((void **) &call);
            return 0;
        }
        status = rc;
        detail = "cannot encode the reply";
    }
    {   //  Failed: the caller gets an ERROR
        //  The error names its origin, service.endpoint, unless the
        //  handler's error already names one.
        const zm_error_t *error = zm_ctx_error (ctx);
        zm_error_t *made = NULL;
        if (!error || detail || !*zm_error_id (error)) {
            made = zm_error_new (status, NULL, "%s",
                                 detail ? detail
                                        : (error ? zm_error_detail (error) : zm_strerror (status)));
            error = made;
        }
        char origin[520];
        snprintf (origin, sizeof origin, "%s.%s", zm_service_name (call->service),
                  zm_endpoint_name (call->endpoint));
        if (made) {
            zm_error_t *named = zm_error_new (status, origin, "%s", zm_error_detail (made));
            zm_error_destroy (&made);
            made = named;
            error = made;
        }
        detail = zm_error_detail (error);
        out = error ? zm_wire_error (call->corr, error) : NULL;
        zm_endpoint_account (call->endpoint, status, detail, zclock_usecs () - call->start_us);
        zm_error_destroy (&made);
    }
    s_send (self, &call->peer, &out);
    s_call_free ((void **) &call);
    return 0;
}

static const zm_actor_def_t s_gateway = {.kind = "$rpc.gateway", .fallback = s_gateway_reply};

static int
s_server_stop_on (zm_reactor_t *reactor, void *arg)
{
    s_server_t *self = (s_server_t *) arg;
    if (!self)
        return 0;
    zm_reactor_reader_end (reactor, self->router);
    zsock_destroy (&self->router);
    //  Calls still unanswered when the drain ran out: their callers time out.
    for (void *call = zhashx_first (self->calls); call; call = zhashx_next (self->calls))
        s_call_free (&call);
    zhashx_destroy (&self->calls);
    free (self);
    *zm_reactor_module (reactor, ZM_MODULE_SERVER) = NULL;
    return 0;
}

static int
s_server_start_on (zm_reactor_t *reactor, void *arg)
{
    zm_node_t *node = (zm_node_t *) arg;
    int index = zm_reactor_index (reactor);
    s_server_t *self = (s_server_t *) calloc (1, sizeof (s_server_t));
    if (!self)
        return ZM_ENOMEM;
    self->node = node;
    self->reactor = reactor;
    self->index = index;
    self->max_body = (size_t) zm_config_get_int (node->config, "rpc.max_body", 16 << 20);
    self->calls = zm_id_table_new ();
    self->router = zsock_new (ZMQ_ROUTER);
    if (!self->calls || !self->router)
        goto fail;
    //  Answers already queued when the node stops still get out.
    zsock_set_linger (self->router, 500);
    if (zm_auth_server (node, self->router) != 0)
        goto fail;
    const char *host = zm_config_get_str (node->config, "rpc.bind", "*");
    int port = (int) zm_config_get_int (node->config, "rpc.port", 0);
    //  An ephemeral port is picked at random ("!"), not the first free one:
    //  a node that restarts, or a neighbour, does not land on the port a
    //  dead node just left, where its callers would still be knocking.
    if (port && port + index > 65535) {
        zm_log_error ("rpc: reactor %d cannot bind: rpc.port %d + %d is beyond port 65535", index,
                      port, index);
        goto fail;
    }
    int bound = port ? zsock_bind (self->router, "tcp://%s:%d", host, port + index)
                     : zsock_bind (self->router, "tcp://%s:!", host);
    if (bound <= 0) {
        char wanted[16] = "*";
        if (port)
            snprintf (wanted, sizeof wanted, "%d", port + index);
        zm_log_error ("rpc: reactor %d cannot bind tcp://%s:%s: %s", index, host, wanted,
                      zmq_strerror (zmq_errno ()));
        goto fail;
    }
    if (zm_reactor_reader (reactor, self->router, s_on_router, self) != 0)
        goto fail;
    int err = 0;
    self->gateway = zm_spawn (node, NULL, &s_gateway, self, index, &err);
    if (!self->gateway) {
        zm_reactor_reader_end (reactor, self->router);
        goto fail;
    }
    *zm_reactor_module (reactor, ZM_MODULE_SERVER) = self;
    zm_reactor_set_module_stop (reactor, ZM_MODULE_SERVER, s_server_stop_on);
    node->rpc_ports[index] = bound;
    zm_log_info ("rpc: reactor %d listening on tcp://%s:%d", index, host, bound);
    return 0;
fail:
    zsock_destroy (&self->router);
    zhashx_destroy (&self->calls);
    free (self);
    return ZM_EIO;
}

int
zm_server_start (zm_node_t *node)
{
    for (int r = 0; r < node->reactor_count; r++) {
        int rc = zm_reactor_exec (node->reactors[r], s_server_start_on, node);
        if (rc)
            return rc;
    }
    return 0;
}

static int
s_server_pause_on (zm_reactor_t *reactor, void *arg)
{
    s_server_t *self = (s_server_t *) *zm_reactor_module (reactor, ZM_MODULE_SERVER);
    if (self)
        self->paused = true;
    return 0;
}

void
zm_server_pause (zm_node_t *node)
{
    for (int r = 0; r < node->reactor_count; r++)
        if (node->reactors[r])
            zm_reactor_exec (node->reactors[r], s_server_pause_on, NULL);
}

int
zm_node_rpc_port (zm_node_t *node, int reactor)
{
    if (!node || reactor < 0 || reactor >= node->reactor_count || !node->rpc_ports)
        return 0;
    return node->rpc_ports[reactor];
}
