/*  =========================================================================
    zm_broker - pub/sub: publish from any thread, subscriptions, delivery

    docs/pubsub.md is the user's view; here is how it is built.

    Publishing (any thread). zm_publish encodes the body once and:
      - hands it to every matching local broadcast subscription (no network);
      - sends it on the node's one PUB socket, as a topic frame followed by
        the 5 frames of an EVENT (docs/protocol.md section 18). The PUB is
        shared by every thread under pub_lock: a ZeroMQ socket may move
        between threads with a full barrier, which the mutex gives; a PUB
        send never blocks (libzmq drops past the high-water mark);
      - for each queue group with a member whose pattern matches (from the
        registry: nodes advertise their subscriptions in HELLO), picks one
        member node with the selector and sends it the EVENT point to point
        (zm_client_send_event), or hands it to a local member.

    Receiving (reactor 0, a module like discovery). A SUB socket connected
    to the PUB of every node in the registry (re-read when the registry
    changes), subscribed to the literal prefix of every local broadcast
    pattern (re-synced when subscriptions change). Each event is checked,
    its sequence compared with the last one from that publisher and topic
    (a gap is counted as lost), and handed to the matching subscriptions.
    Queue-group events arrive on the RPC server's ROUTER (zm_server.c calls
    zm_broker_on_event).

    Subscriptions are a table under a read-write lock, read on every
    delivery. An event goes to an actor as a tell: a zm_subscribe actor of
    its own, or an instance of the subscribing service. Each subscription
    counts the events queued to it (a gauge, decremented when the envelope
    is freed after its handler ran): past pubsub.queue, new events are
    dropped for that subscription alone.
    =========================================================================
*/
#include "zm_runtime.h"
#include "zm_wire.h"

#define S_TICK_MS 20          //  registry and subscription re-sync
#define S_MEMBERS_MAX 64      //  queue-group members considered per publish
#define S_PUBLISHERS_MAX 1024 //  nodes the SUB connects to
#define S_SEQS_MAX 65536      //  topics whose sequence is tracked, each side
#define S_FRAME_INPLACE 64    //  event frames over this are read in place;
                              //  never a libzmq "very small message" (up
                              //  to 33 bytes): its data moves with it

typedef struct _s_sub_t s_sub_t;
struct _s_sub_t {
    uint64_t id;              //  > 0
    char *pattern;            //  subscription pattern
    char *group;              //  queue group, "" for broadcast
    size_t prefix;            //  bytes of pattern libzmq can filter on
    zm_service_t *service;    //  a service's subscription, or NULL
    zm_pid_t pid;             //  zm_subscribe's own actor, or 0
    char type[32];            //  message type of the events
    zm_actor_fn *fn;          //  zm_subscribe's handler
    void *state;              //  zm_subscribe's user state
    zm_gauge_t *gauge;        //  events queued to it
    atomic_int refs;          //  the table and the actor
    atomic_bool cancelled;    //  zm_unsubscribe ran: queued events are dropped
};

struct _zm_broker_t {
    zm_node_t *node;
    pthread_rwlock_t lock;    //  guards subs, next_id
    zlistx_t *subs;           //  s_sub_t
    uint64_t next_id;         //  subscription ids
    atomic_uint version;      //  bumps when subs change
    atomic_uint turn;         //  local queue-group round robin
    int queue_max;            //  pubsub.queue
    size_t max_body;          //  pubsub.max_body
    int hwm;                  //  pubsub.hwm
    //  Publishing
    pthread_mutex_t pub_lock; //  guards pub, seqs
    zsock_t *pub;             //  bound PUB
    int pub_port;             //  its port
    zhashx_t *seqs;           //  topic -> uint64_t * (last seq sent)
    atomic_uint_fast64_t next_event; //  event ids
    char id_prefix[17];       //  first 16 hex digits of the node UUID
    //  Counters
    atomic_uint_fast64_t published, delivered, dropped_queue, dropped_no_member, lost,
        malformed, denied;
};

//  The receiving module on reactor 0
typedef struct {
    zm_broker_t *broker;
    zm_reactor_t *reactor;
    zsock_t *sub;             //  SUB, connected to every publisher
    zhashx_t *connected;      //  endpoint -> "" (what sub is connected to)
    zhashx_t *filters;        //  prefix -> int * (local patterns using it)
    zhashx_t *seqs;           //  "uuid/topic" -> uint64_t * (last seq received)
    char last_key[400];       //  key of the last event's sequence, and
    uint64_t *last_seq;       //  its counter: a stream of one topic skips the hash
    uint64_t generation;      //  registry generation last synced
    unsigned version;         //  subscription version last synced
    int timer;
} s_module_t;

static void
s_sub_unref (s_sub_t **sub_p)
{
    s_sub_t *sub = *sub_p;
    *sub_p = NULL;
    if (sub && atomic_fetch_sub (&sub->refs, 1) == 1) {
        zm_gauge_unref (&sub->gauge);
        free (sub->pattern);
        free (sub->group);
        free (sub);
    }
}

static void
s_sub_destructor (void **item)
{
    s_sub_unref ((s_sub_t **) item);
}

static void
s_free_item (void **item)
{
    free (*item);
    *item = NULL;
}

//  --------------------------------------------------------------------------
//  Lifecycle

zm_broker_t *
zm_broker_new (zm_node_t *node)
{
    zm_broker_t *self = (zm_broker_t *) calloc (1, sizeof (zm_broker_t));
    if (!self)
        return NULL;
    self->node = node;
    pthread_rwlock_init (&self->lock, NULL);
    pthread_mutex_init (&self->pub_lock, NULL);
    self->subs = zlistx_new ();
    self->seqs = zhashx_new ();
    if (!self->subs || !self->seqs) {
        zm_broker_destroy (&self);
        return NULL;
    }
    zlistx_set_destructor (self->subs, s_sub_destructor);
    zhashx_set_destructor (self->seqs, s_free_item);
    zm_config_t *config = node->config;
    self->queue_max = (int) zm_config_get_int (config, "pubsub.queue", 10000);
    self->max_body = (size_t) zm_config_get_int (config, "pubsub.max_body", 1 << 20);
    self->hwm = (int) zm_config_get_int (config, "pubsub.hwm", 10000);
    snprintf (self->id_prefix, sizeof self->id_prefix, "%.16s", node->uuid);
    return self;
}

//  Bind the PUB socket on the rpc.bind interface (and pubsub.port).
int
zm_broker_bind (zm_broker_t *self)
{
    zm_config_t *config = self->node->config;
    const char *bind = zm_config_get_str (config, "rpc.bind", "*");
    if (!*bind)
        return 0; //  no RPC, no PUB: events stay on this node
    int port = (int) zm_config_get_int (config, "pubsub.port", 0);
    self->pub = zsock_new (ZMQ_PUB);
    if (!self->pub)
        return ZM_ENOMEM;
    zsock_set_sndhwm (self->pub, self->hwm);
    zsock_set_linger (self->pub, 0);
    if (zm_auth_server (self->node, self->pub) != 0) {
        zsock_destroy (&self->pub);
        return ZM_EIO;
    }
    self->pub_port = port ? zsock_bind (self->pub, "tcp://%s:%d", bind, port)
                          : zsock_bind (self->pub, "tcp://%s:*", bind);
    if (self->pub_port < 0) {
        zm_log_error ("pubsub: cannot bind the PUB socket on %s port %d: %s", bind, port,
                      zmq_strerror (zmq_errno ()));
        zsock_destroy (&self->pub);
        self->pub_port = 0;
        return ZM_EIO;
    }
    return 0;
}

void
zm_broker_destroy (zm_broker_t **self_p)
{
    zm_broker_t *self = *self_p;
    if (!self)
        return;
    zsock_destroy (&self->pub);
    zlistx_destroy (&self->subs);
    zhashx_destroy (&self->seqs);
    pthread_rwlock_destroy (&self->lock);
    pthread_mutex_destroy (&self->pub_lock);
    free (self);
    *self_p = NULL;
}

//  --------------------------------------------------------------------------
//  Delivery to local subscriptions

//  Copy text (NULL: "") into dest of size bytes, cut short to fit
static inline void
s_copy_str (char *dest, size_t size, const char *text)
{
    size_t len = text ? strnlen (text, size - 1) : 0;
    memcpy (dest, text ? text : "", len);
    dest[len] = 0;
}

//  What an event handler reads of its event (zm_ctx_topic ...)
static zm_event_t *
s_event_new (const zm_wire_t *wire)
{
    size_t len = strlen (wire->topic);
    zm_event_t *event = (zm_event_t *) malloc (sizeof (zm_event_t) + len + 1);
    if (!event)
        return NULL;
    event->timestamp = wire->timestamp;
    //  Both within 64 bytes (zm_wire checked them): no snprintf, it is
    //  measurably slow here
    s_copy_str (event->id, sizeof event->id, wire->event_id);
    s_copy_str (event->publisher, sizeof event->publisher, wire->publisher);
    memcpy (event->topic, wire->topic, len + 1);
    return event;
}

//  The metadata and trace id of an event published here, as an env's
//  meta (what zm_ctx_meta and zm_ctx_trace_id read, and calls made while
//  handling it pass on). *meta_p stays NULL when there are none.
static int
s_meta (const zm_wire_t *wire, zm_msg_t **meta_p)
{
    *meta_p = NULL;
    if (!wire->trace_id && !wire->metadata)
        return 0;
    zm_msg_t *meta = zm_msg_new ();
    zm_val_t *root = meta ? zm_msg_root_mut (meta) : NULL;
    if (!root) {
        zm_msg_destroy (&meta);
        return ZM_ENOMEM;
    }
    if (wire->trace_id)
        zm_val_set_str (root, "trace_id", wire->trace_id);
    if (wire->metadata) {
        zm_val_t *map = zm_val_set_map (root, "metadata");
        for (size_t i = 0; map && i < zm_val_size (wire->metadata); i++) {
            const char *key = zm_val_key_at (wire->metadata, i, NULL);
            const char *value = zm_val_str (zm_val_at (wire->metadata, i), NULL, NULL);
            if (key && value)
                zm_val_set_str (map, key, value);
        }
    }
    *meta_p = meta;
    return 0;
}

//  Hand one event to one subscription: takes *msg_p, and *meta_p when
//  given (the decoded extras of an event from the network, NULL when it
//  had none); without meta_p the metadata come from wire.
static void
s_deliver (zm_broker_t *self, s_sub_t *sub, const zm_wire_t *wire, zm_msg_t **msg_p,
           zm_msg_t **meta_p)
{
    zm_msg_t *meta = meta_p ? *meta_p : NULL;
    if (meta_p)
        *meta_p = NULL;
    zm_env_t *env = NULL;
    if (atomic_load (&sub->gauge->pending) >= self->queue_max)
        goto drop;
    zm_pid_t to = sub->pid;
    if (sub->service) {
        zm_reactor_t *current = zm_reactor_current ();
        to = zm_service_pick (sub->service, current ? zm_reactor_index (current) : 0);
    }
    env = to ? zm_env_new (ZM_ENV_TELL, to, 0, sub->type, msg_p) : NULL;
    if (!env || (!meta_p && s_meta (wire, &meta)) || !(env->event = s_event_new (wire)))
        goto drop;
    env->meta = meta;
    env->gauge = sub->gauge;
    atomic_fetch_add (&sub->gauge->refs, 1);
    atomic_fetch_add (&sub->gauge->pending, 1);
    if (zm_node_route (self->node, env) == 0)
        atomic_fetch_add (&self->delivered, 1);
    return;
drop:
    atomic_fetch_add (&self->dropped_queue, 1);
    zm_env_destroy (&env, ZM_ENOMEM);
    zm_msg_destroy (msg_p);
    zm_msg_destroy (&meta);
}

//  A copy of the event body for one more subscription
static zm_msg_t *
s_body (const zm_wire_t *wire, const void *data, size_t size)
{
    if (size == 0)
        return NULL;
    zm_msg_t *msg = NULL;
    zm_msg_decode (wire->content_type, data, size, &msg, NULL);
    return msg;
}

//  Is sub live: a running service's or an actor's subscription?
static inline bool
s_live (const s_sub_t *sub)
{
    return sub->pid || (sub->service && zm_service_running (sub->service));
}

static inline bool
s_broadcast_match (const s_sub_t *sub, const char *topic)
{
    return !*sub->group && s_live (sub) && zm_topic_match (sub->pattern, topic);
}

//  Frees an event frame a body message read in place
static void
s_free_frame (void *data, void *hint)
{
    zmq_msg_t *frame = (zmq_msg_t *) hint;
    zmq_msg_close (frame);
    free (frame);
}

//  The body of an event from the network, for its last subscription: read
//  in place, the message takes the frame. (Measured: even a 100-byte body
//  is cheaper so than copied, bench_pubsub throughput.)
static zm_msg_t *
s_body_last (const zm_wire_t *wire, zmq_msg_t *frame, void *data, size_t size)
{
    if (zmq_msg_size (frame) <= S_FRAME_INPLACE)
        return s_body (wire, data, size);
    zmq_msg_t *owned = (zmq_msg_t *) malloc (sizeof (zmq_msg_t));
    if (!owned)
        return NULL;
    zmq_msg_init (owned);
    zmq_msg_move (owned, frame); //  data stays where it is
    zm_msg_t *msg = NULL;
    if (zm_msg_decode_inplace (wire->content_type, data, size, s_free_frame, owned, &msg, NULL)) {
        zmq_msg_move (frame, owned);
        zmq_msg_close (owned);
        free (owned);
    }
    return msg;
}

//  Broadcast: every matching subscription without a group. The body is
//  decoded from data once per subscription. From the network (frame, the
//  event frame, and wire->header set; wire writable), the last
//  subscription takes the decoded header, and a large body is read in
//  place from frame. Returns how many got it.
static int
s_deliver_broadcast (zm_broker_t *self, zm_wire_t *wire, zmq_msg_t *frame, const void *data,
                     size_t size)
{
    int count = 0, done = 0;
    pthread_rwlock_rdlock (&self->lock);
    for (s_sub_t *sub = (s_sub_t *) zlistx_first (self->subs); sub;
         sub = (s_sub_t *) zlistx_next (self->subs))
        count += s_broadcast_match (sub, wire->topic);
    for (s_sub_t *sub = (s_sub_t *) zlistx_first (self->subs); sub && done < count;
         sub = (s_sub_t *) zlistx_next (self->subs)) {
        if (!s_broadcast_match (sub, wire->topic))
            continue;
        bool last = ++done == count;
        zm_msg_t *msg = last && frame && size ? s_body_last (wire, frame, (void *) data, size)
                                              : s_body (wire, data, size);
        if (size && !msg) {
            atomic_fetch_add (&self->malformed, 1);
            break; //  the body does not decode: nobody gets it
        }
        //  From the network: the decoded extras, the last one takes them
        zm_msg_t *meta = NULL;
        if (frame && wire->header)
            meta = last ? wire->header : zm_msg_dup (wire->header);
        if (frame && last)
            wire->header = NULL; //  taken (the strings in it are not read again)
        s_deliver (self, sub, wire, &msg, frame ? &meta : NULL);
    }
    pthread_rwlock_unlock (&self->lock);
    return count;
}

//  Queue group on this node: one matching local subscription of group, in
//  turn. Returns 0, or ZM_ENOTFOUND when the node has none.
static int
s_deliver_group (zm_broker_t *self, const zm_wire_t *wire, const void *data, size_t size)
{
    pthread_rwlock_rdlock (&self->lock);
    s_sub_t *matching[64];
    int count = 0;
    for (s_sub_t *sub = (s_sub_t *) zlistx_first (self->subs); sub && count < 64;
         sub = (s_sub_t *) zlistx_next (self->subs))
        if (streq (sub->group, wire->group) && s_live (sub)
            && zm_topic_match (sub->pattern, wire->topic))
            matching[count++] = sub;
    if (count) {
        zm_msg_t *msg = s_body (wire, data, size);
        if (size && !msg)
            atomic_fetch_add (&self->malformed, 1);
        else
            s_deliver (self, matching[atomic_fetch_add (&self->turn, 1) % (unsigned) count],
                       wire, &msg, NULL);
    }
    pthread_rwlock_unlock (&self->lock);
    return count ? 0 : ZM_ENOTFOUND;
}

//  --------------------------------------------------------------------------
//  Publishing

//  Next sequence number of topic on this node's PUB. Under pub_lock.
static uint64_t
s_next_seq (zm_broker_t *self, const char *topic)
{
    uint64_t *seq = (uint64_t *) zhashx_lookup (self->seqs, topic);
    if (!seq) {
        if (zhashx_size (self->seqs) >= S_SEQS_MAX)
            zhashx_purge (self->seqs); //  receivers see a restart, not a loss
        seq = (uint64_t *) calloc (1, sizeof (uint64_t));
        if (!seq)
            return 0;
        zhashx_insert (self->seqs, topic, seq);
    }
    return ++*seq;
}

//  Queue groups: one member of every group with a matching subscription.
static void
s_publish_groups (zm_broker_t *self, zm_wire_t *wire, const void *data, size_t size)
{
    zm_node_t *node = self->node;
    zm_member_t members[S_MEMBERS_MAX];
    int count = zm_registry_members (node, wire->topic, members, S_MEMBERS_MAX);
    bool done[S_MEMBERS_MAX] = {false};
    for (int i = 0; i < count; i++) {
        if (done[i])
            continue;
        //  The members of this group
        char candidates[S_MEMBERS_MAX][128];
        int n = 0, local = -1;
        for (int j = i; j < count; j++)
            if (!done[j] && streq (members[j].group, members[i].group)) {
                done[j] = true;
                if (streq (members[j].node, node->uuid))
                    local = n;
                snprintf (candidates[n++], 128, "%s", members[j].address);
            }
        wire->group = members[i].group;
        char key[300];
        snprintf (key, sizeof key, "$group:%.255s", members[i].group);
        int picked = -1;
        int rc = zm_client_send_event (node, key, candidates, n, local, wire, data, size, &picked);
        if (rc == 0 && picked == local) {
            //  Ourselves: the selector picked this node
            if (s_deliver_group (self, wire, data, size))
                atomic_fetch_add (&self->dropped_no_member, 1);
        }
        else if (rc)
            atomic_fetch_add (&self->dropped_no_member, 1);
    }
    wire->group = NULL;
}

//  zm_publish, giving the event's id in id (40 bytes) on success
static int
s_publish (zm_node_t *node, const char *topic, zm_msg_t **msg_p, const zm_pub_opts_t *opts,
           char *id)
{
    zm_msg_t *msg = msg_p ? *msg_p : NULL;
    if (msg_p)
        *msg_p = NULL;
    const char *content_type = opts && opts->content_type ? opts->content_type : ZM_CT_MSGPACK;
    const zm_msg_t *metadata = opts ? opts->metadata : NULL;
    int rc = 0;
    zm_broker_t *self = node ? node->broker : NULL;
    if (!self || zm_topic_check (topic, false, NULL) || !zm_msg_content_type_known (content_type)
        || (metadata && zm_val_type (zm_msg_root (metadata)) != ZM_TYPE_MAP))
        rc = ZM_EINVAL;
    else if (zm_auth_check (node, ZM_RES_TOPIC, topic, "publish", node->auth->self_caller)) {
        atomic_fetch_add (&self->denied, 1);
        rc = ZM_EDENIED;
    }
    else if (atomic_load (&node->stopping))
        rc = ZM_ECLOSED;
    if (rc) {
        zm_msg_destroy (&msg);
        return rc;
    }
    //  The node's UUID prefix and a counter, in hex, without snprintf
    memcpy (id, self->id_prefix, 16);
    uint64_t counter = (uint64_t) atomic_fetch_add (&self->next_event, 1);
    for (int digit = 31, shift = 0; digit >= 16; digit--, shift += 4)
        id[digit] = "0123456789abcdef"[(counter >> shift) & 15];
    id[32] = 0;
    zm_wire_t wire = {.command = ZM_CMD_EVENT,
                      .topic = topic,
                      .counter = counter,
                      .event_id = id,
                      .publisher = node->uuid,
                      .timestamp = (uint64_t) zclock_time (),
                      .content_type = content_type,
                      .metadata = metadata ? zm_msg_root (metadata) : NULL};
    //  The body is encoded after room for the PUB/SUB framing and header:
    //  the buffer goes to libzmq as it is.
    zm_wire_plan_t plan;
    rc = zm_wire_event_plan (&wire, &plan); //  ZM_ETOOBIG: metadata over its limits
    size_t room = plan.room, size = 0;
    void *buffer = NULL;
    if (!rc && msg && (rc = zm_msg_encode_room (msg, content_type, room, &buffer, &size)) != 0)
        rc = rc == ZM_ENOMEM ? rc : ZM_ECODEC;
    zm_msg_destroy (&msg);
    if (!rc && size > self->max_body)
        rc = ZM_ETOOBIG;
    if (!rc && !buffer && !(buffer = malloc (room + 1)))
        rc = ZM_ENOMEM; //  no body: the framing alone
    if (rc) {
        free (buffer);
        return rc;
    }
    const void *data = size ? (const char *) buffer + room : NULL;
    atomic_fetch_add (&self->published, 1);
    s_deliver_broadcast (self, &wire, NULL, data, size);
    s_publish_groups (self, &wire, data, size);
    if (!self->pub) {
        free (buffer);
        return 0;
    }
    //  Last: libzmq frees the buffer once sent
    pthread_mutex_lock (&self->pub_lock);
    wire.seq = s_next_seq (self, topic);
    zm_wire_publish (zsock_resolve (self->pub), &wire, &plan, buffer, size, ZMQ_DONTWAIT);
    pthread_mutex_unlock (&self->pub_lock);
    return 0;
}

int
zm_publish (zm_node_t *node, const char *topic, zm_msg_t **msg_p, const zm_pub_opts_t *opts)
{
    char id[40];
    return s_publish (node, topic, msg_p, opts, id);
}

void
zm_broker_malformed (zm_node_t *node)
{
    if (node->broker)
        atomic_fetch_add (&node->broker->malformed, 1);
}

//  An EVENT from the RPC server's ROUTER: a queue-group delivery to us.
void
zm_broker_on_event (zm_node_t *node, zm_wire_t *wire)
{
    zm_broker_t *self = node->broker;
    if (!self)
        return;
    if (!wire->group || !*wire->group || zm_topic_check (wire->topic, false, NULL)) {
        atomic_fetch_add (&self->malformed, 1);
        return;
    }
    size_t size = wire->body ? zframe_size (wire->body) : 0;
    if (size > self->max_body) {
        atomic_fetch_add (&self->malformed, 1);
        return;
    }
    //  The sender may publish on this topic? (An EVENT is never answered.)
    if (zm_auth_check (node, ZM_RES_TOPIC, wire->topic, "publish",
                       wire->who ? wire->who : ZM_CALLER_ANONYMOUS)) {
        atomic_fetch_add (&self->denied, 1);
        return;
    }
    if (s_deliver_group (self, wire, size ? zframe_data (wire->body) : NULL, size))
        atomic_fetch_add (&self->dropped_no_member, 1);
}

//  --------------------------------------------------------------------------
//  Subscriptions

//  The actor of a zm_subscribe subscription: its state is the subscription;
//  the user's handler sees the user's state.
static int
s_sub_handle (zm_ctx_t *ctx, zm_msg_t *msg)
{
    s_sub_t *sub = (s_sub_t *) zm_ctx_state (ctx);
    if (!sub || !zm_ctx_topic (ctx) || atomic_load (&sub->cancelled))
        return 0; //  not an event, or unsubscribed with events queued
    zm_ctx_set_state (ctx, sub->state);
    int rc = sub->fn (ctx, msg);
    sub->state = zm_ctx_state (ctx);
    zm_ctx_set_state (ctx, sub);
    return rc;
}

static int
s_sub_destroy (zm_ctx_t *ctx, zm_msg_t *msg)
{
    s_sub_t *sub = (s_sub_t *) zm_ctx_state (ctx);
    s_sub_unref (&sub);
    zm_ctx_set_state (ctx, NULL);
    return 0;
}

static const zm_actor_def_t s_sub_def = {
    .kind = "$subscription", .fallback = s_sub_handle, .destroy = s_sub_destroy};

static s_sub_t *
s_sub_new (zm_broker_t *self, const char *pattern, const char *group, int *err_p)
{
    const char *reason = NULL;
    if (zm_topic_check (pattern, true, &reason)) {
        zm_log_warning ("pubsub: cannot subscribe to '%s': %s", pattern ? pattern : "(null)",
                        reason);
        *err_p = ZM_EINVAL;
        return NULL;
    }
    if (group && (strlen (group) > 255 || (*group && zm_topic_check (group, false, NULL)))) {
        *err_p = ZM_EINVAL; //  group names follow the topic grammar
        return NULL;
    }
    s_sub_t *sub = (s_sub_t *) calloc (1, sizeof (s_sub_t));
    if (sub) {
        sub->pattern = strdup (pattern);
        sub->group = strdup (group ? group : "");
        sub->gauge = (zm_gauge_t *) calloc (1, sizeof (zm_gauge_t));
    }
    if (!sub || !sub->pattern || !sub->group || !sub->gauge) {
        if (sub) {
            free (sub->pattern);
            free (sub->group);
            free (sub->gauge);
            free (sub);
        }
        *err_p = ZM_ENOMEM;
        return NULL;
    }
    atomic_store (&sub->gauge->refs, 1);
    atomic_store (&sub->refs, 1);
    sub->prefix = zm_topic_prefix (pattern);
    return sub;
}

//  Add sub to the table (taking the table's reference); tell peers.
static uint64_t
s_sub_add (zm_broker_t *self, s_sub_t *sub)
{
    pthread_rwlock_wrlock (&self->lock);
    sub->id = ++self->next_id;
    if (sub->service)
        snprintf (sub->type, sizeof sub->type, "$event.%" PRIu64, sub->id);
    else
        snprintf (sub->type, sizeof sub->type, "$event");
    zlistx_add_end (self->subs, sub);
    pthread_rwlock_unlock (&self->lock);
    atomic_fetch_add (&self->version, 1);
    return sub->id;
}

uint64_t
zm_subscribe (zm_node_t *node, const char *pattern, const char *group, zm_actor_fn *fn,
              void *state, int *err_p)
{
    int err = 0;
    zm_broker_t *self = node ? node->broker : NULL;
    s_sub_t *sub = NULL;
    if (!self || !fn)
        err = ZM_EINVAL;
    else if (atomic_load (&node->stopping))
        err = ZM_ECLOSED;
    else if (pattern && zm_auth_check (node, ZM_RES_TOPIC, pattern, "subscribe",
                                       node->auth->self_caller))
        err = ZM_EDENIED;
    else
        sub = s_sub_new (self, pattern, group, &err);
    if (!sub) {
        if (err_p)
            *err_p = err;
        return 0;
    }
    sub->fn = fn;
    sub->state = state;
    atomic_fetch_add (&sub->refs, 1); //  the actor's
    sub->pid = zm_spawn (node, NULL, &s_sub_def, sub, -1, &err);
    if (!sub->pid) {
        atomic_fetch_sub (&sub->refs, 1);
        s_sub_unref (&sub);
        if (err_p)
            *err_p = err ? err : ZM_ENOMEM;
        return 0;
    }
    uint64_t id = s_sub_add (self, sub);
    atomic_fetch_add (&node->services_seq, 1); //  peers ask again (groups)
    zm_registry_put_self (node);
    return id;
}

int
zm_unsubscribe (zm_node_t *node, uint64_t id)
{
    zm_broker_t *self = node ? node->broker : NULL;
    if (!self || !id)
        return ZM_ENOTFOUND;
    zm_pid_t pid = 0;
    pthread_rwlock_wrlock (&self->lock);
    for (s_sub_t *sub = (s_sub_t *) zlistx_first (self->subs); sub;
         sub = (s_sub_t *) zlistx_next (self->subs))
        if (sub->id == id && sub->pid) {
            pid = sub->pid;
            //  Events already queued to the actor reach it, and are dropped
            atomic_store (&sub->cancelled, true);
            zlistx_delete (self->subs, zlistx_cursor (self->subs));
            break;
        }
    pthread_rwlock_unlock (&self->lock);
    if (!pid)
        return ZM_ENOTFOUND;
    atomic_fetch_add (&self->version, 1);
    zm_stop (node, pid);
    atomic_fetch_add (&node->services_seq, 1);
    zm_registry_put_self (node);
    return 0;
}

int
zm_service_subscribe (zm_service_t *svc, const char *pattern, const char *group,
                      zm_actor_fn *fn)
{
    zm_node_t *node = svc ? zm_service_node (svc) : NULL;
    zm_broker_t *self = node ? node->broker : NULL;
    int err = 0;
    if (!self || !fn)
        return ZM_EINVAL;
    if (zm_service_running (svc) || zm_service_stopped (svc))
        return ZM_ECONFLICT;
    if (pattern && zm_auth_check (node, ZM_RES_TOPIC, pattern, "subscribe",
                                  node->auth->self_caller))
        return ZM_EDENIED;
    s_sub_t *sub = s_sub_new (self, pattern, group, &err);
    if (!sub)
        return err;
    sub->service = svc;
    //  The type is known once the id is: add under the lock, then the
    //  handler; the service is not started, so nothing is delivered yet.
    s_sub_add (self, sub);
    return zm_service_on_event (svc, sub->type, fn);
}

//  --------------------------------------------------------------------------
//  Describe and stats

void
zm_broker_describe (zm_node_t *node, zm_val_t *root)
{
    zm_broker_t *self = node->broker;
    if (!self)
        return;
    zm_val_set_uint (root, "pub_port", (uint64_t) self->pub_port);
    zm_val_t *list = zm_val_set_array (root, "subscriptions");
    pthread_rwlock_rdlock (&self->lock);
    for (s_sub_t *sub = (s_sub_t *) zlistx_first (self->subs); sub && list;
         sub = (s_sub_t *) zlistx_next (self->subs))
        if (s_live (sub)) {
            zm_val_t *entry = zm_val_push_map (list);
            zm_val_set_str (entry, "topic", sub->pattern);
            zm_val_set_str (entry, "group", sub->group);
            if (sub->service)
                zm_val_set_str (entry, "service", zm_service_name (sub->service));
        }
    pthread_rwlock_unlock (&self->lock);
}

void
zm_broker_stats (zm_node_t *node, zm_val_t *map)
{
    zm_broker_t *self = node->broker;
    if (!self || !map)
        return;
    zm_val_set_uint (map, "published", atomic_load (&self->published));
    zm_val_set_uint (map, "delivered", atomic_load (&self->delivered));
    zm_val_set_uint (map, "dropped_queue", atomic_load (&self->dropped_queue));
    zm_val_set_uint (map, "dropped_no_member", atomic_load (&self->dropped_no_member));
    zm_val_set_uint (map, "lost", atomic_load (&self->lost));
    zm_val_set_uint (map, "malformed", atomic_load (&self->malformed));
    zm_val_set_uint (map, "denied", atomic_load (&self->denied));
    pthread_rwlock_rdlock (&self->lock);
    zm_val_set_uint (map, "subscriptions", zlistx_size (self->subs));
    pthread_rwlock_unlock (&self->lock);
    zm_val_set_uint (map, "pub_port", (uint64_t) self->pub_port);
}

zm_msg_t *
zm_pubsub_stats (zm_node_t *node)
{
    zm_msg_t *stats = node ? zm_msg_new () : NULL;
    if (stats)
        zm_broker_stats (node, zm_msg_root_mut (stats));
    return stats;
}

//  "$node" "publish": {"topic": str, "event": any, "metadata": {str: str}}
int
zm_broker_publish_endpoint (zm_ctx_t *ctx, zm_msg_t *req)
{
    zm_node_t *node = zm_ctx_node (ctx);
    const zm_val_t *root = zm_msg_root (req);
    const char *topic = zm_val_str (zm_val_get (root, "topic"), NULL, NULL);
    const char *reason = NULL;
    if (!topic)
        return zm_error (ctx, ZM_EINVAL, "publish: the request needs a \"topic\" string");
    if (zm_topic_check (topic, false, &reason))
        return zm_error (ctx, ZM_EINVAL, "publish: %s", reason);
    const char *caller = ctx->env ? ctx->env->caller : NULL;
    if (zm_auth_check (node, ZM_RES_TOPIC, topic, "publish", caller)) {
        atomic_fetch_add (&node->broker->denied, 1);
        return zm_error (ctx, ZM_EDENIED, "publish: %s may not publish on %s",
                         zm_caller_describe (caller), topic);
    }
    const zm_val_t *meta = zm_val_get (root, "metadata");
    zm_msg_t *metadata = NULL;
    if (meta && zm_val_type (meta) != ZM_TYPE_NIL) {
        metadata = zm_msg_new ();
        zm_val_t *map = metadata ? zm_msg_root_mut (metadata) : NULL;
        if (zm_val_type (meta) != ZM_TYPE_MAP) {
            zm_msg_destroy (&metadata);
            return zm_error (ctx, ZM_EINVAL, "publish: \"metadata\" must be a map of strings");
        }
        for (size_t i = 0; map && i < zm_val_size (meta); i++) {
            const char *key = zm_val_key_at (meta, i, NULL);
            const char *value = zm_val_str (zm_val_at (meta, i), NULL, NULL);
            if (!key || !value) {
                zm_msg_destroy (&metadata);
                return zm_error (ctx, ZM_EINVAL, "publish: \"metadata\" must be a map of strings");
            }
            zm_val_set_str (map, key, value);
        }
    }
    zm_msg_t *event = NULL;
    const zm_val_t *body = zm_val_get (root, "event");
    zm_type_t type = zm_val_type (body);
    if (body && type != ZM_TYPE_NIL) {
        if (type != ZM_TYPE_MAP && type != ZM_TYPE_ARRAY) {
            zm_msg_destroy (&metadata);
            return zm_error (ctx, ZM_EINVAL, "publish: \"event\" must be a map or an array");
        }
        event = zm_msg_new ();
        zm_val_t *top = !event                  ? NULL
                        : type == ZM_TYPE_MAP ? zm_msg_set_root_map (event)
                                              : zm_msg_set_root_array (event);
        for (size_t i = 0; top && i < zm_val_size (body); i++)
            zm_val_copy_into (top, type == ZM_TYPE_MAP ? zm_val_key_at (body, i, NULL) : NULL,
                              zm_val_at (body, i));
    }
    const char *content_type =
        ctx->env ? zm_msg_get_str (ctx->env->meta, "content_type", NULL) : NULL;
    zm_pub_opts_t opts = {content_type, metadata};
    char id[40];
    int rc = s_publish (node, topic, &event, &opts, id);
    zm_msg_destroy (&metadata);
    if (rc)
        return zm_error (ctx, rc, "publish: %s", zm_strerror (rc));
    zm_msg_t *reply = zm_msg_new ();
    if (!reply)
        return ZM_ENOMEM;
    zm_msg_set_str (reply, "id", id);
    return zm_reply (ctx, &reply);
}

//  --------------------------------------------------------------------------
//  Inside handlers

static const zm_event_t *
s_event (zm_ctx_t *ctx)
{
    return ctx && ctx->env ? ctx->env->event : NULL;
}

const char *
zm_ctx_topic (zm_ctx_t *ctx)
{
    const zm_event_t *event = s_event (ctx);
    return event ? event->topic : NULL;
}

const char *
zm_ctx_event_id (zm_ctx_t *ctx)
{
    const zm_event_t *event = s_event (ctx);
    return event && *event->id ? event->id : NULL;
}

const char *
zm_ctx_publisher (zm_ctx_t *ctx)
{
    const zm_event_t *event = s_event (ctx);
    return event && *event->publisher ? event->publisher : NULL;
}

int64_t
zm_ctx_event_time (zm_ctx_t *ctx)
{
    const zm_event_t *event = s_event (ctx);
    return event ? (int64_t) event->timestamp : 0;
}

//  --------------------------------------------------------------------------
//  The receiving module on reactor 0

//  Sequence check of a broadcast event: count a gap as lost.
static void
s_check_seq (s_module_t *self, const zm_wire_t *wire)
{
    if (!wire->seq || !wire->publisher)
        return;
    char key[400];
    size_t publisher = strlen (wire->publisher), topic = strlen (wire->topic);
    if (publisher + topic + 2 > sizeof key)
        return;
    memcpy (key, wire->publisher, publisher);
    key[publisher] = '/';
    memcpy (key + publisher + 1, wire->topic, topic + 1);
    uint64_t *last = self->last_seq && streq (key, self->last_key)
                         ? self->last_seq
                         : (uint64_t *) zhashx_lookup (self->seqs, key);
    if (!last) {
        self->last_seq = NULL; //  the purge below may free it
        if (zhashx_size (self->seqs) >= S_SEQS_MAX)
            zhashx_purge (self->seqs);
        last = (uint64_t *) calloc (1, sizeof (uint64_t));
        if (!last)
            return;
        zhashx_insert (self->seqs, key, last);
    }
    else if (wire->seq > *last + 1)
        atomic_fetch_add (&self->broker->lost, wire->seq - *last - 1);
    //  A lower one: the publisher restarted its count
    *last = wire->seq;
    self->last_seq = last;
    memcpy (self->last_key, key, publisher + topic + 2);
}

static int
s_on_sub (zloop_t *loop, zsock_t *sub, void *arg)
{
    s_module_t *self = (s_module_t *) arg;
    zm_broker_t *broker = self->broker;
    void *handle = zsock_resolve (sub);
    for (int n = 0; n < 256; n++) {
        zm_wire_t wire;
        zmq_msg_t frame;
        int rc = zm_wire_recv_event (handle, broker->max_body, &wire, &frame);
        if (rc == -1)
            break;
        if (rc == 0 && zm_topic_check (wire.topic, false, NULL) == 0) {
            s_check_seq (self, &wire);
            size_t size = 0;
            void *data = zm_wire_event_body (&wire, &frame, &size);
            s_deliver_broadcast (broker, &wire, &frame, size ? data : NULL, size);
        }
        else
            atomic_fetch_add (&broker->malformed, 1);
        zmq_msg_close (&frame);
        zm_wire_clear (&wire);
    }
    return 0;
}

//  Connect the SUB to every publisher the registry knows, and only those.
static void
s_sync_publishers (s_module_t *self)
{
    uint64_t generation = zm_registry_generation (self->broker->node);
    if (generation == self->generation)
        return;
    self->generation = generation;
    static __thread char endpoints[S_PUBLISHERS_MAX][128];
    int count = zm_registry_publishers (self->broker->node, endpoints, S_PUBLISHERS_MAX);
    zhashx_t *wanted = zhashx_new ();
    if (!wanted)
        return;
    for (int i = 0; i < count; i++) {
        zhashx_insert (wanted, endpoints[i], (void *) "");
        if (!zhashx_lookup (self->connected, endpoints[i])) {
            if (zm_auth_connect (self->broker->node, self->sub, endpoints[i]) == 0)
                zhashx_insert (self->connected, endpoints[i], (void *) "");
            else
                zm_log_warning ("pubsub: cannot connect to %s", endpoints[i]);
        }
    }
    zlistx_t *gone = zhashx_keys (self->connected);
    for (const char *endpoint = gone ? (const char *) zlistx_first (gone) : NULL; endpoint;
         endpoint = (const char *) zlistx_next (gone))
        if (!zhashx_lookup (wanted, endpoint)) {
            zm_auth_disconnect (self->sub, endpoint);
            zhashx_delete (self->connected, endpoint);
        }
    zlistx_destroy (&gone);
    zhashx_destroy (&wanted);
}

//  Subscribe the SUB to the literal prefix of every local broadcast pattern.
static void
s_sync_filters (s_module_t *self)
{
    zm_broker_t *broker = self->broker;
    unsigned version = atomic_load (&broker->version);
    if (version == self->version)
        return;
    self->version = version;
    zhashx_t *wanted = zhashx_new ();
    if (!wanted)
        return;
    pthread_rwlock_rdlock (&broker->lock);
    for (s_sub_t *sub = (s_sub_t *) zlistx_first (broker->subs); sub;
         sub = (s_sub_t *) zlistx_next (broker->subs))
        if (!*sub->group) {
            char prefix[ZM_TOPIC_MAX + 1];
            memcpy (prefix, sub->pattern, sub->prefix);
            prefix[sub->prefix] = 0;
            zhashx_insert (wanted, prefix, (void *) "");
        }
    pthread_rwlock_unlock (&broker->lock);
    for (const void *item = zhashx_first (wanted); item; item = zhashx_next (wanted)) {
        const char *prefix = (const char *) zhashx_cursor (wanted);
        if (!zhashx_lookup (self->filters, prefix)) {
            zsock_set_subscribe (self->sub, prefix);
            zhashx_insert (self->filters, prefix, (void *) "");
        }
    }
    zlistx_t *old = zhashx_keys (self->filters);
    for (const char *prefix = old ? (const char *) zlistx_first (old) : NULL; prefix;
         prefix = (const char *) zlistx_next (old))
        if (!zhashx_lookup (wanted, prefix)) {
            zsock_set_unsubscribe (self->sub, prefix);
            zhashx_delete (self->filters, prefix);
        }
    zlistx_destroy (&old);
    zhashx_destroy (&wanted);
    //  Sequences start again: a pattern dropped and added back would
    //  otherwise count what it never asked for as lost.
    self->last_seq = NULL;
    zhashx_purge (self->seqs);
}

static int
s_tick (zloop_t *loop, int timer_id, void *arg)
{
    s_module_t *self = (s_module_t *) arg;
    s_sync_filters (self);
    s_sync_publishers (self);
    return 0;
}

static int
s_module_stop (zm_reactor_t *reactor, void *arg)
{
    s_module_t *self = (s_module_t *) arg;
    if (!self)
        return 0;
    zloop_timer_end (zm_reactor_loop (reactor), self->timer);
    zm_reactor_reader_end (reactor, self->sub);
    zsock_destroy (&self->sub);
    zhashx_destroy (&self->connected);
    zhashx_destroy (&self->filters);
    zhashx_destroy (&self->seqs);
    free (self);
    *zm_reactor_module (reactor, ZM_MODULE_BROKER) = NULL;
    return 0;
}

static int
s_module_start (zm_reactor_t *reactor, void *arg)
{
    zm_broker_t *broker = (zm_broker_t *) arg;
    s_module_t *self = (s_module_t *) calloc (1, sizeof (s_module_t));
    if (!self)
        return ZM_ENOMEM;
    self->broker = broker;
    self->reactor = reactor;
    self->sub = zsock_new (ZMQ_SUB);
    self->connected = zhashx_new ();
    self->filters = zhashx_new ();
    self->seqs = zhashx_new ();
    if (!self->sub || !self->connected || !self->filters || !self->seqs) {
        zsock_destroy (&self->sub);
        zhashx_destroy (&self->connected);
        zhashx_destroy (&self->filters);
        zhashx_destroy (&self->seqs);
        free (self);
        return ZM_ENOMEM;
    }
    zhashx_set_destructor (self->seqs, s_free_item);
    zsock_set_rcvhwm (self->sub, broker->hwm);
    zsock_set_linger (self->sub, 0);
    self->generation = UINT64_MAX;
    self->version = UINT_MAX;
    zm_reactor_reader (reactor, self->sub, s_on_sub, self);
    self->timer = zloop_timer (zm_reactor_loop (reactor), S_TICK_MS, 0, s_tick, self);
    *zm_reactor_module (reactor, ZM_MODULE_BROKER) = self;
    zm_reactor_set_module_stop (reactor, ZM_MODULE_BROKER, s_module_stop);
    s_tick (NULL, 0, self);
    return 0;
}

int
zm_broker_start (zm_node_t *node)
{
    zm_broker_t *self = node->broker;
    if (!self || !node->reactors[0])
        return ZM_EINVAL;
    int rc = zm_broker_bind (self);
    if (rc)
        return rc;
    return zm_reactor_exec (node->reactors[0], s_module_start, self);
}
