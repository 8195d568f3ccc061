/*  =========================================================================
    zm_stream - bidirectional streams with credit-based flow control

    A stream has two halves:
      - the wire half lives on one reactor, its "io" reactor: the socket
        it sends on (a server's ROUTER, or the client's own DEALER), the
        tables that find it, its timers (deadline, keepalive, silence);
        every frame of the stream is read and written on that thread;
      - the application half: a plain thread (blocking send and receive on
        a mutex and condition variable) or an actor (events as messages).
    What both touch (credit, queues, state) is under the stream's mutex.

    Sending: an actor on the io reactor writes straight to the socket. Any
    other sender encodes, takes a credit, and queues; the first message
    into an empty queue sends a "kick" envelope to the io reactor's
    "$stream.io" actor, which writes the whole queue out. One envelope per
    batch, not per message.

    Receiving: the io reactor decodes each STREAM_DATA and hands it to a
    thread's queue (bounded by the credit granted) or, as an event
    envelope, to the owning actor. Credit goes back to the peer in one
    STREAM_CREDIT once half the window is consumed: when a thread took the
    messages (zm_stream_recv) or the actor's handler returned.

    Lifetime: reference counted. The io registration holds one until the
    wire half is gone, the owner one until the stream is over for it, each
    event envelope one, a plain thread's handle one until zm_stream_destroy.
    =========================================================================
*/
#include "zm_runtime.h"
#include "zm_wire.h"

#define S_SWEEP_MS 50            //  deadline, keepalive and silence checks
#define S_SILENCE_BEATS 3        //  heartbeats of silence that end a stream
//  Most messages a side keeps in flight, whatever credit it is given: a
//  server's streams share its ROUTER, whose pipes drop past their
//  high-water mark (1000) and learn of what the peer read only in batches
//  of up to half that; 256 in flight never reaches it.
#define S_MAX_INFLIGHT 256

//  A FIFO of pointers with sizes: the outbound (encoded buffers) and
//  inbound (messages) queues. Bounded by credit, so it never grows far.
typedef struct {
    void **items;
    size_t *sizes;
    size_t head, count, cap;
} s_ring_t;

static int
s_ring_push (s_ring_t *ring, void *item, size_t size)
{
    if (ring->count == ring->cap) {
        size_t cap = ring->cap ? ring->cap * 2 : 16;
        void **items = (void **) malloc (cap * sizeof (void *));
        size_t *sizes = (size_t *) malloc (cap * sizeof (size_t));
        if (!items || !sizes) {
            free (items);
            free (sizes);
            return ZM_ENOMEM;
        }
        for (size_t i = 0; i < ring->count; i++) {
            items[i] = ring->items[(ring->head + i) % ring->cap];
            sizes[i] = ring->sizes[(ring->head + i) % ring->cap];
        }
        free (ring->items);
        free (ring->sizes);
        ring->items = items;
        ring->sizes = sizes;
        ring->head = 0;
        ring->cap = cap;
    }
    size_t at = (ring->head + ring->count) % ring->cap;
    ring->items[at] = item;
    ring->sizes[at] = size;
    ring->count++;
    return 0;
}

static void *
s_ring_pop (s_ring_t *ring, size_t *size_p)
{
    if (!ring->count)
        return NULL;
    void *item = ring->items[ring->head];
    if (size_p)
        *size_p = ring->sizes[ring->head];
    ring->head = (ring->head + 1) % ring->cap;
    ring->count--;
    return item;
}

struct _zm_stream_t {
    atomic_int refs;
    zm_node_t *node;
    zm_reactor_t *io;           //  the reactor of the wire half
    bool server;                //  server half (ROUTER) or client half (own DEALER)
    uint64_t corr;              //  the stream's id on its connection
    zm_wire_peer_t peer;        //  server: the client's routing id
    void *handle;               //  socket the frames go out on (io thread only)
    zsock_t *dealer;            //  client: its own DEALER (io thread only)
    char address[128];          //  client: the instance; server: "" 
    char content_type[ZM_WIRE_MAX_NAME + 1];
    zm_endpoint_t *endpoint;    //  server: for statistics
    int64_t start_us;           //  opened, zclock_usecs
    zm_pid_t owner;             //  actor of the application half; 0: a plain thread
    char event_type[ZM_WIRE_MAX_NAME + 1]; //  type of its events
    char origin[2 * ZM_WIRE_MAX_NAME + 2]; //  server: "service.endpoint", for errors
    bool breaker;               //  client: the open counts for the circuit breaker
    bool reported;              //  client: the open's outcome went to the selector
    int window;                 //  credit this side grants
    int heartbeat;              //  ms
    //  io thread only
    int64_t deadline;           //  zclock_mono
    int64_t last_rx, last_tx;   //  zclock_mono of the last frame each way
    bool registered;            //  in the io tables
    //  Under lock
    pthread_mutex_t lock;
    pthread_cond_t cond;        //  a plain thread waits on it
    s_ring_t inq;               //  thread owner: received messages
    s_ring_t outq;              //  encoded bodies waiting for the io thread
    bool kicked;                //  a kick is on its way to the io thread
    int64_t credit;             //  messages this side may still send
    int64_t granted;            //  messages the peer may still send
    int consumed;               //  taken by the application, not granted back yet
    bool want_writable;         //  an actor found no credit: tell it when some comes
    bool paused;                //  zm_stream_pause: no credit goes back
    bool accepted;              //  client: the server took the stream
    bool send_closed;           //  this side ended its sending
    bool end_pending;           //  END to send once outq is out
    bool cancel_pending;        //  CANCEL to send
    zm_error_t *fail_pending;   //  server: ERROR to send
    bool peer_ended;            //  the peer sent END
    bool done;                  //  over: no more frames either way
    bool owner_gone;            //  the owner has had its last event
    zm_error_t *error;          //  why it failed (NULL: running or a normal end)
    uint64_t sent, received;
    void *data;                 //  zm_stream_set_data
    void (*data_free) (void *);
};

//  Per reactor: the wire halves it holds
typedef struct {
    zm_reactor_t *reactor;
    zm_node_t *node;
    zhashx_t *all;              //  stream pointer -> stream: every registered one
    zhashx_t *served;           //  server halves by (peer, corr)
    zm_pid_t actor;             //  "$stream.io": kicks land here
    int timer;                  //  sweep
    size_t max_body;            //  rpc.max_body
} s_io_t;

static void s_io_flush (s_io_t *io, zm_stream_t *self);

//  --------------------------------------------------------------------------
//  References

static zm_stream_t *
s_ref (zm_stream_t *self)
{
    atomic_fetch_add (&self->refs, 1);
    return self;
}

static void
s_unref (zm_stream_t **self_p)
{
    zm_stream_t *self = *self_p;
    *self_p = NULL;
    if (!self || atomic_fetch_sub (&self->refs, 1) != 1)
        return;
    void *item;
    while ((item = s_ring_pop (&self->inq, NULL))) {
        zm_msg_t *msg = (zm_msg_t *) item;
        zm_msg_destroy (&msg);
    }
    while ((item = s_ring_pop (&self->outq, NULL)))
        free (item);
    free (self->inq.items);
    free (self->inq.sizes);
    free (self->outq.items);
    free (self->outq.sizes);
    zm_error_destroy (&self->error);
    zm_error_destroy (&self->fail_pending);
    if (self->data_free)
        self->data_free (self->data);
    pthread_mutex_destroy (&self->lock);
    pthread_cond_destroy (&self->cond);
    free (self);
}

void
zm_stream_unref (zm_stream_t **self_p)
{
    s_unref (self_p);
}

static zm_stream_t *
s_new (zm_node_t *node, bool server)
{
    zm_stream_t *self = (zm_stream_t *) calloc (1, sizeof (zm_stream_t));
    if (!self)
        return NULL;
    atomic_init (&self->refs, 1);
    self->node = node;
    self->server = server;
    pthread_mutex_init (&self->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&self->cond, &attr);
    pthread_condattr_destroy (&attr);
    self->window = (int) zm_config_get_int (node->config, "stream.window", 128);
    self->heartbeat = (int) zm_config_get_int (node->config, "stream.heartbeat", 500);
    self->start_us = zclock_usecs ();
    return self;
}

//  Who the other side is, for messages
static const char *
s_peer_name (zm_stream_t *self)
{
    return self->server ? "the client" : "the server";
}

//  --------------------------------------------------------------------------
//  Events to an owning actor

//  Route an event (takes *msg_p and *error_p); the envelope holds a ref.
static void
s_event (zm_stream_t *self, int event, zm_msg_t **msg_p, int status, zm_error_t **error_p)
{
    zm_env_t *env = zm_env_new (ZM_ENV_TELL, self->owner, 0, self->event_type, msg_p);
    if (!env) {
        zm_msg_destroy (msg_p);
        if (error_p)
            zm_error_destroy (error_p);
        return;
    }
    env->stream = s_ref (self);
    env->stream_event = (uint8_t) event;
    env->status = status;
    env->deadline = self->deadline;
    if (error_p) {
        env->error = *error_p;
        *error_p = NULL;
    }
    zm_node_route (self->node, env);
}

//  The stream is over with error (taken; NULL: a normal end). Under lock.
//  Wakes a waiting thread; an actor owner gets its last event from
//  s_notify_end, outside the lock.
static void
s_over_locked (zm_stream_t *self, zm_error_t **error_p)
{
    if (self->done) {
        if (error_p)
            zm_error_destroy (error_p);
        return;
    }
    self->done = true;
    if (error_p && *error_p) {
        self->error = *error_p;
        *error_p = NULL;
    }
    pthread_cond_broadcast (&self->cond);
}

//  Tell an actor owner the stream is over (once)
static void
s_notify_end (zm_stream_t *self)
{
    pthread_mutex_lock (&self->lock);
    bool tell = self->owner && !self->owner_gone;
    self->owner_gone = true;
    zm_error_t *error = self->error ? zm_error_dup (self->error) : NULL;
    pthread_mutex_unlock (&self->lock);
    if (tell) {
        int status = error ? zm_error_err (error) : 0;
        s_event (self, error ? ZM_STREAM_CANCEL : ZM_STREAM_END, NULL, status, &error);
    }
    zm_error_destroy (&error);
}

//  --------------------------------------------------------------------------
//  The io reactor's side

static s_io_t *
s_io_of (zm_reactor_t *reactor)
{
    return (s_io_t *) *zm_reactor_module (reactor, ZM_MODULE_STREAM);
}

//  Key of a server half: routing id, then corr id
typedef struct {
    uint8_t size;
    uint8_t data[255];
    uint64_t corr;
} s_key_t;

static size_t
s_key_hash (const void *item)
{
    const s_key_t *key = (const s_key_t *) item;
    size_t hash = (size_t) key->corr * 0x9e3779b97f4a7c15ULL;
    for (uint8_t i = 0; i < key->size; i++)
        hash = hash * 31 + key->data[i];
    return hash;
}

static int
s_key_compare (const void *a, const void *b)
{
    const s_key_t *x = (const s_key_t *) a, *y = (const s_key_t *) b;
    if (x->corr != y->corr || x->size != y->size)
        return 1;
    return memcmp (x->data, y->data, x->size);
}

static void *
s_key_dup (const void *item)
{
    s_key_t *key = (s_key_t *) malloc (sizeof (s_key_t));
    if (key)
        memcpy (key, item, sizeof (s_key_t));
    return key;
}

static void
s_key_free (void **item)
{
    free (*item);
    *item = NULL;
}

static void
s_key_make (s_key_t *key, const zm_wire_peer_t *peer, uint64_t corr)
{
    memset (key, 0, sizeof *key);
    key->size = peer->size;
    memcpy (key->data, peer->data, peer->size);
    key->corr = corr;
}

//  Send one 5-frame stream command (not DATA) on the stream's socket
static int
s_send_command (zm_stream_t *self, int command, uint64_t credit)
{
    zm_wire_t wire = {.command = (uint8_t) command, .corr = self->corr, .credit = credit};
    int rc = zm_wire_send (self->handle, self->server ? &self->peer : NULL, &wire, NULL, 0,
                           ZMQ_DONTWAIT);
    self->last_tx = zclock_mono ();
    return rc;
}

//  Tell the peer the stream failed here: a server sends ERROR, a client
//  a STREAM_CANCEL carrying the same error map; error NULL: a plain CANCEL
static void
s_send_error (zm_stream_t *self, const zm_error_t *error)
{
    if (!error) {
        s_send_command (self, ZM_CMD_STREAM_CANCEL, 0);
        return;
    }
    zmsg_t *msg = zm_wire_error (self->corr, error);
    zframe_t *command = NULL;
    if (msg && zmsg_first (msg) && (command = zmsg_next (msg)) && !self->server)
        *zframe_data (command) = ZM_CMD_STREAM_CANCEL;
    if (msg && self->server)
        zmsg_pushmem (msg, self->peer.data, self->peer.size);
    if (!msg || zmsg_send (&msg, self->handle) != 0)
        zmsg_destroy (&msg);
    self->last_tx = zclock_mono ();
}

//  Tell the selector how the open went, once (io thread): the pick's
//  outstanding count back, and for the breaker a success or a failure
static void
s_report_open (zm_stream_t *self, bool failed)
{
    if (self->server || self->reported)
        return;
    self->reported = true;
    zm_client_done (self->node, self->address, failed, self->breaker);
}

//  Remove the wire half (io thread): tables, socket, statistics, the
//  registration's ref. The stream struct lives on while others hold it.
static void
s_unregister (s_io_t *io, zm_stream_t *self)
{
    if (!self->registered)
        return;
    s_report_open (self, true); //  not accepted: a failure
    self->registered = false;
    zhashx_delete (io->all, self);
    if (self->server) {
        s_key_t key;
        s_key_make (&key, &self->peer, self->corr);
        zhashx_delete (io->served, &key);
        if (self->endpoint) {
            pthread_mutex_lock (&self->lock);
            int status = self->error ? zm_error_err (self->error) : 0;
            char detail[160] = "";
            if (self->error)
                snprintf (detail, sizeof detail, "%s", zm_error_detail (self->error));
            pthread_mutex_unlock (&self->lock);
            zm_endpoint_account (self->endpoint, status, status ? detail : NULL,
                                 zclock_usecs () - self->start_us);
        }
    }
    if (self->dealer) {
        zm_reactor_reader_end (io->reactor, self->dealer);
        zsock_destroy (&self->dealer);
    }
    self->handle = NULL;
    zm_stream_t *ref = self;
    s_unref (&ref);
}

//  Fail the stream from the io side: tell the peer (CANCEL, or ERROR from
//  a server), the owner, and drop the wire half.
static void
s_fail_io (s_io_t *io, zm_stream_t *self, int code, const char *format, ...)
{
    char detail[256];
    va_list args;
    va_start (args, format);
    vsnprintf (detail, sizeof detail, format, args);
    va_end (args);
    zm_error_t *error = zm_error_new (code, self->server ? "zmicro.stream" : "zmicro.client", "%s",
                                      detail);
    pthread_mutex_lock (&self->lock);
    bool was_done = self->done;
    s_over_locked (self, &error);
    pthread_mutex_unlock (&self->lock);
    if (!was_done && self->handle)
        s_send_error (self, self->error);
    s_notify_end (self);
    s_unregister (io, self);
}

//  Grant the credit consumed so far, when it is worth a frame (io thread)
static void
s_grant (zm_stream_t *self)
{
    pthread_mutex_lock (&self->lock);
    int threshold = self->window > 1 ? self->window / 2 : 1;
    int grant = !self->done && !self->paused && self->consumed >= threshold ? self->consumed : 0;
    if (grant) {
        self->consumed = 0;
        self->granted += grant;
    }
    pthread_mutex_unlock (&self->lock);
    if (grant && self->handle)
        s_send_command (self, ZM_CMD_STREAM_CREDIT, (uint64_t) grant);
}

//  Write out what other threads queued, then END, ERROR or CANCEL when
//  asked for, then any credit due (io thread).
static void
s_io_flush (s_io_t *io, zm_stream_t *self)
{
    if (!self->registered)
        return;
    while (true) {
        pthread_mutex_lock (&self->lock);
        size_t size = 0;
        void *buffer = s_ring_pop (&self->outq, &size);
        if (!buffer)
            self->kicked = false;
        pthread_mutex_unlock (&self->lock);
        if (!buffer)
            break;
        zm_wire_send_data (self->handle, self->server ? &self->peer : NULL, self->corr, buffer,
                           size, ZMQ_DONTWAIT);
        self->last_tx = zclock_mono ();
    }
    pthread_mutex_lock (&self->lock);
    bool cancel = self->cancel_pending, end = self->end_pending;
    zm_error_t *fail = self->fail_pending;
    self->cancel_pending = self->end_pending = false;
    self->fail_pending = NULL;
    bool over = self->done;
    pthread_mutex_unlock (&self->lock);
    if (cancel)
        s_send_error (self, NULL);
    else if (fail)
        s_send_error (self, fail);
    else if (end)
        s_send_command (self, ZM_CMD_STREAM_END, 0);
    zm_error_destroy (&fail);
    if (over) {
        //  Ended, failed or cancelled by this side: the wire half goes
        s_unregister (io, self);
        return;
    }
    s_grant (self);
}

//  Wake the io thread to flush (any thread but io). Under lock: kicked.
static void
s_kick (zm_stream_t *self)
{
    s_io_t *io = s_io_of (self->io);
    zm_env_t *env = io ? zm_env_new (ZM_ENV_TELL, io->actor, 0, "kick", NULL) : NULL;
    if (!env)
        return;
    env->stream = s_ref (self);
    zm_node_route (self->node, env);
}

//  After the application changed what the io thread must do: flush now
//  when on the io thread, else kick it once.
static void
s_poke (zm_stream_t *self)
{
    if (zm_reactor_current () == self->io) {
        s_io_t *io = s_io_of (self->io);
        if (io)
            s_io_flush (io, self);
        return;
    }
    pthread_mutex_lock (&self->lock);
    bool kick = !self->kicked;
    self->kicked = true;
    pthread_mutex_unlock (&self->lock);
    if (kick)
        s_kick (self);
}

static int
s_on_kick (zm_ctx_t *ctx, zm_msg_t *msg)
{
    s_io_t *io = s_io_of (ctx->reactor);
    zm_stream_t *self = zm_ctx_stream (ctx);
    if (io && self)
        s_io_flush (io, self);
    return 0;
}

static const zm_handler_t s_io_handlers[] = {{"kick", s_on_kick}, {NULL, NULL}};
static const zm_actor_def_t s_io_actor = {.kind = "$stream.io", .handlers = s_io_handlers};

//  Deadlines, keepalives, silence
static int
s_sweep (zloop_t *loop, int timer_id, void *arg)
{
    s_io_t *io = (s_io_t *) arg;
    int64_t now = zclock_mono ();
    zlistx_t *due = zlistx_new ();
    for (zm_stream_t *self = (zm_stream_t *) zhashx_first (io->all); self;
         self = (zm_stream_t *) zhashx_next (io->all))
        zlistx_add_end (due, s_ref (self));
    for (zm_stream_t *self = (zm_stream_t *) zlistx_first (due); self;
         self = (zm_stream_t *) zlistx_next (due)) {
        pthread_mutex_lock (&self->lock);
        bool over = self->done;
        pthread_mutex_unlock (&self->lock);
        if (!self->registered)
            ;
        else if (over)
            s_io_flush (io, self); //  a stream whose handler went away: CANCEL
        else if (now >= self->deadline)
            s_fail_io (io, self, ZM_ETIMEOUT, "the stream's deadline passed");
        else if (now - self->last_rx >= (int64_t) S_SILENCE_BEATS * self->heartbeat) {
            pthread_mutex_lock (&self->lock);
            bool accepted = self->accepted || self->server;
            pthread_mutex_unlock (&self->lock);
            if (accepted)
                s_fail_io (io, self, ZM_EUNAVAIL, "no word from %s for %" PRId64 " ms",
                           s_peer_name (self), now - self->last_rx);
            else
                s_fail_io (io, self, ZM_EUNAVAIL, "no answer from %s", self->address);
        }
        else if (now - self->last_tx >= self->heartbeat) {
            pthread_mutex_lock (&self->lock);
            bool accepted = self->accepted || self->server;
            pthread_mutex_unlock (&self->lock);
            if (accepted)
                s_send_command (self, ZM_CMD_STREAM_CREDIT, 0); //  keepalive
        }
    }
    for (zm_stream_t *self = (zm_stream_t *) zlistx_first (due); self;
         self = (zm_stream_t *) zlistx_next (due))
        s_unref (&self);
    zlistx_destroy (&due);
    zm_reactor_drain (io->reactor); //  events the sweep queued
    return 0;
}

static int
s_io_stop (zm_reactor_t *reactor, void *arg)
{
    s_io_t *io = (s_io_t *) arg;
    if (!io)
        return 0;
    zm_stream_t *self;
    while ((self = (zm_stream_t *) zhashx_first (io->all))) {
        zm_error_t *error = zm_error_new (ZM_ECLOSED, "zmicro.stream", "the node is stopping");
        pthread_mutex_lock (&self->lock);
        s_over_locked (self, &error);
        self->owner_gone = true; //  actors are gone too
        pthread_mutex_unlock (&self->lock);
        if (self->handle)
            s_send_command (self, ZM_CMD_STREAM_CANCEL, 0);
        s_unregister (io, self);
    }
    zloop_timer_end (zm_reactor_loop (reactor), io->timer);
    zhashx_destroy (&io->all);
    zhashx_destroy (&io->served);
    free (io);
    *zm_reactor_module (reactor, ZM_MODULE_STREAM) = NULL;
    return 0;
}

//  The reactor's stream state, made on first use (io thread)
static s_io_t *
s_io (zm_reactor_t *reactor)
{
    s_io_t *io = s_io_of (reactor);
    if (io)
        return io;
    io = (s_io_t *) calloc (1, sizeof (s_io_t));
    if (!io)
        return NULL;
    io->reactor = reactor;
    io->node = zm_reactor_node (reactor);
    io->all = zm_id_table_new (); //  keyed by the stream pointer itself
    io->served = zhashx_new ();
    if (!io->all || !io->served)
        goto fail;
    zhashx_set_key_duplicator (io->served, s_key_dup);
    zhashx_set_key_destructor (io->served, s_key_free);
    zhashx_set_key_hasher (io->served, s_key_hash);
    zhashx_set_key_comparator (io->served, s_key_compare);
    io->max_body = (size_t) zm_config_get_int (io->node->config, "rpc.max_body", 16 << 20);
    int err = 0;
    io->actor = zm_spawn (io->node, NULL, &s_io_actor, io, zm_reactor_index (reactor), &err);
    if (!io->actor)
        goto fail;
    io->timer = zloop_timer (zm_reactor_loop (reactor), S_SWEEP_MS, 0, s_sweep, io);
    *zm_reactor_module (reactor, ZM_MODULE_STREAM) = io;
    zm_reactor_set_module_stop (reactor, ZM_MODULE_STREAM, s_io_stop);
    return io;
fail:
    zhashx_destroy (&io->all);
    zhashx_destroy (&io->served);
    free (io);
    return NULL;
}

static void
s_register (s_io_t *io, zm_stream_t *self)
{
    self->registered = true;
    self->last_rx = self->last_tx = zclock_mono ();
    zhashx_insert (io->all, self, s_ref (self));
}

//  --------------------------------------------------------------------------
//  Frames in (io thread)

static void
s_free_data (void *data, void *hint)
{
    zmq_msg_t *frame = (zmq_msg_t *) hint;
    zmq_msg_close (frame);
    free (frame);
}

//  One STREAM_DATA for a registered stream (wire->data taken)
static void
s_on_data (s_io_t *io, zm_stream_t *self, zm_wire_t *wire)
{
    pthread_mutex_lock (&self->lock);
    bool over = self->done, violated = self->granted <= 0;
    if (!over && !violated)
        self->granted--;
    pthread_mutex_unlock (&self->lock);
    if (over)
        return;
    if (violated) {
        s_fail_io (io, self, ZM_EPROTO, "%s sent more messages than the credit it was given",
                   s_peer_name (self));
        return;
    }
    size_t size = 0;
    const void *body = zm_wire_data_body (wire, &size);
    zm_msg_t *msg = NULL;
    if (size > 0) {
        const char *reason = NULL;
        int rc = zm_msg_decode_inplace (self->content_type, (void *) body, size, s_free_data,
                                        wire->data, &msg, &reason);
        if (rc) {
            s_fail_io (io, self, rc, "cannot decode a message from %s: %s", s_peer_name (self),
                       reason ? reason : zm_strerror (rc));
            return;
        }
        wire->data = NULL; //  the message owns the frame now
    }
    pthread_mutex_lock (&self->lock);
    if (self->done) {
        //  Cancelled by the thread while this was decoded: dropped, like
        //  what had already arrived
        pthread_mutex_unlock (&self->lock);
        zm_msg_destroy (&msg);
        return;
    }
    self->received++;
    bool to_actor = self->owner != 0;
    if (!to_actor) {
        if (s_ring_push (&self->inq, msg, 0) == 0)
            msg = NULL;
        pthread_cond_broadcast (&self->cond);
    }
    pthread_mutex_unlock (&self->lock);
    if (to_actor)
        s_event (self, ZM_STREAM_DATA, &msg, 0, NULL);
    else if (msg) {
        zm_msg_destroy (&msg);
        s_fail_io (io, self, ZM_ENOMEM, "out of memory");
    }
}

//  Credit from the peer (0: a keepalive; the first to a client: accepted)
static void
s_on_credit (s_io_t *io, zm_stream_t *self, uint64_t credit)
{
    pthread_mutex_lock (&self->lock);
    bool first = !self->server && !self->accepted;
    self->accepted = true;
    self->credit += (int64_t) credit;
    if (self->credit > S_MAX_INFLIGHT)
        self->credit = S_MAX_INFLIGHT; //  sending fewer than granted is always allowed
    bool writable = self->owner && (first || (credit && self->want_writable));
    if (writable)
        self->want_writable = false;
    if (credit || first)
        pthread_cond_broadcast (&self->cond);
    pthread_mutex_unlock (&self->lock);
    if (first)
        s_report_open (self, false);
    if (writable)
        s_event (self, ZM_STREAM_WRITABLE, NULL, 0, NULL);
}

//  The peer sent END: a client's end of input, or a server's end of stream
static void
s_on_end (s_io_t *io, zm_stream_t *self)
{
    pthread_mutex_lock (&self->lock);
    bool again = self->peer_ended;
    self->peer_ended = true;
    if (!self->server)
        s_over_locked (self, NULL);
    pthread_cond_broadcast (&self->cond);
    bool tell = self->server && self->owner && !again;
    pthread_mutex_unlock (&self->lock);
    if (self->server) {
        if (tell)
            s_event (self, ZM_STREAM_END, NULL, 0, NULL);
        return;
    }
    s_notify_end (self);
    s_unregister (io, self);
}

//  The peer's CANCEL, or a server's ERROR (error taken)
static void
s_on_failed (s_io_t *io, zm_stream_t *self, zm_error_t **error_p)
{
    pthread_mutex_lock (&self->lock);
    bool first_open = !self->server && !self->accepted;
    s_over_locked (self, error_p);
    int code = self->error ? zm_error_err (self->error) : 0;
    pthread_mutex_unlock (&self->lock);
    if (first_open)
        s_report_open (self, code == ZM_EUNAVAIL || code == ZM_ECLOSED || code == ZM_ETIMEOUT);
    s_notify_end (self);
    s_unregister (io, self);
}

//  What a decoded frame means to a registered stream
static void
s_on_frame (s_io_t *io, zm_stream_t *self, zm_wire_t *wire)
{
    self->last_rx = zclock_mono ();
    switch (wire->command) {
    case ZM_CMD_STREAM_DATA:
        s_on_data (io, self, wire);
        break;
    case ZM_CMD_STREAM_CREDIT:
        s_on_credit (io, self, wire->credit);
        break;
    case ZM_CMD_STREAM_END:
        s_on_end (io, self);
        break;
    case ZM_CMD_STREAM_CANCEL: {
        //  With a body: why the peer gave up (its deadline, ...)
        zm_error_t *error = wire->body && zframe_size (wire->body) ? zm_wire_error_value (wire)
                            : zm_error_new (ZM_ECANCELED,
                                            self->server ? "zmicro.client" : "zmicro.server",
                                            "%s cancelled the stream", s_peer_name (self));
        s_on_failed (io, self, &error);
        break;
    }
    case ZM_CMD_ERROR:
        if (!self->server) {
            zm_error_t *error = zm_wire_error_value (wire);
            if (!error)
                error = zm_error_new (ZM_ENOMEM, "zmicro.client", "out of memory");
            s_on_failed (io, self, &error);
        }
        break;
    default:
        break; //  PONG, REPLY: not for streams
    }
}

//  The client's own DEALER
static int
s_on_dealer (zloop_t *loop, zsock_t *dealer, void *arg)
{
    zm_stream_t *self = (zm_stream_t *) arg;
    s_io_t *io = s_io_of (self->io);
    void *handle = zsock_resolve (dealer);
    s_ref (self);
    for (int n = 0; n < 256 && self->registered; n++) {
        zm_wire_t wire;
        int rc = zm_wire_recv (handle, NULL, io->max_body, &wire);
        if (rc == -1)
            break;
        if (rc) {
            //  The server sent what we cannot read: the stream cannot go on
            s_fail_io (io, self, rc, "malformed frame from the server: %s",
                       wire.reason ? wire.reason : zm_strerror (rc));
        }
        else if (wire.corr == self->corr)
            s_on_frame (io, self, &wire);
        zm_wire_clear (&wire);
    }
    zm_stream_t *ref = self;
    s_unref (&ref);
    return 0;
}

//  A stream command that came to a server's ROUTER (server thread = io)
static void
s_served_error (void *router, const zm_wire_peer_t *peer, uint64_t corr, int code,
                const char *format, ...)
{
    char detail[256];
    va_list args;
    va_start (args, format);
    vsnprintf (detail, sizeof detail, format, args);
    va_end (args);
    zm_error_t *error = zm_error_new (code, "zmicro.stream", "%s", detail);
    zmsg_t *msg = error ? zm_wire_error (corr, error) : NULL;
    zm_error_destroy (&error);
    if (msg && zmsg_pushmem (msg, peer->data, peer->size) == 0 && zmsg_send (&msg, router) == 0)
        return;
    zmsg_destroy (&msg);
}

void
zm_stream_served (zm_reactor_t *reactor, void *router, const zm_wire_peer_t *peer,
                  zm_wire_t *wire)
{
    s_io_t *io = s_io (reactor);
    if (!io)
        return;
    s_key_t key;
    s_key_make (&key, peer, wire->corr);
    zm_stream_t *self = (zm_stream_t *) zhashx_lookup (io->served, &key);
    if (!self) {
        //  A stream this node does not hold (ended, or a node restarted on
        //  the port): say so, so that its client stops at once. CANCEL and
        //  ERROR are never answered.
        if (wire->command == ZM_CMD_STREAM_DATA || wire->command == ZM_CMD_STREAM_END
            || wire->command == ZM_CMD_STREAM_CREDIT)
            s_served_error (router, peer, wire->corr, ZM_ENOTFOUND, "no such stream");
        return;
    }
    s_ref (self);
    s_on_frame (io, self, wire);
    s_unref (&self);
}

//  A STREAM_OPEN the server checked (service, endpoint, access): take it
int
zm_stream_accept (zm_reactor_t *reactor, void *router, const zm_wire_peer_t *peer,
                  zm_wire_t *wire, zm_endpoint_t *endpoint, zm_pid_t instance, zm_msg_t **open_p)
{
    zm_node_t *node = zm_reactor_node (reactor);
    s_io_t *io = s_io (reactor);
    s_key_t key;
    s_key_make (&key, peer, wire->corr);
    if (!io)
        return ZM_ENOMEM;
    if (zhashx_lookup (io->served, &key)) {
        zm_msg_destroy (open_p);
        s_served_error (router, peer, wire->corr, ZM_ECONFLICT,
                        "a stream with this id is already open on this connection");
        return 0;
    }
    zm_stream_t *self = s_new (node, true);
    if (!self)
        return ZM_ENOMEM;
    self->io = reactor;
    self->corr = wire->corr;
    self->peer = *peer;
    self->handle = router;
    self->endpoint = endpoint;
    self->owner = instance;
    snprintf (self->content_type, sizeof self->content_type, "%s", wire->content_type);
    snprintf (self->event_type, sizeof self->event_type, "%s", zm_endpoint_name (endpoint));
    snprintf (self->origin, sizeof self->origin, "%s.%s", wire->service, wire->endpoint);
    self->deadline = zclock_mono () + wire->timeout_ms;
    self->credit = wire->credit < S_MAX_INFLIGHT ? (int64_t) wire->credit : S_MAX_INFLIGHT;
    self->granted = self->window;
    s_register (io, self);
    zhashx_insert (io->served, &key, self);
    //  Accepted: the client may send window messages
    s_send_command (self, ZM_CMD_STREAM_CREDIT, (uint64_t) self->window);
    zm_env_t *env = zm_env_new (ZM_ENV_TELL, instance, 0, self->event_type, open_p);
    if (env) {
        env->stream = s_ref (self);
        env->stream_event = ZM_STREAM_OPEN;
        env->deadline = self->deadline;
        env->meta = wire->header; //  metadata and trace ids, for the OPEN event
        wire->header = NULL;
        env->caller = wire->who ? wire->who : zm_caller_new ('a', "", "");
        wire->who = NULL;
        zm_reactor_route (reactor, env);
    }
    else {
        zm_msg_destroy (open_p);
        s_fail_io (io, self, ZM_ENOMEM, "out of memory");
    }
    s_unref (&self); //  the registration and the event hold it
    return 0;
}

//  --------------------------------------------------------------------------
//  Opening, on the client

typedef struct {
    zm_stream_t *stream;
    const char *service, *endpoint, *version, *trace_id;
    const zm_val_t *metadata;
    const void *body;
    size_t body_size;
    int64_t timeout_ms;
} s_open_t;

//  Make the stream's DEALER, send STREAM_OPEN, register (io thread)
static int
s_open_on (zm_reactor_t *reactor, void *arg)
{
    s_open_t *open = (s_open_t *) arg;
    zm_stream_t *self = open->stream;
    s_io_t *io = s_io (reactor);
    zsock_t *dealer = io ? zsock_new (ZMQ_DEALER) : NULL;
    if (!dealer)
        return ZM_ENOMEM;
    //  Credit bounds what is queued: no high-water mark may drop or block
    zsock_set_sndhwm (dealer, 0);
    zsock_set_rcvhwm (dealer, 0);
    zsock_set_linger (dealer, 0);
    if (zm_auth_connect (self->node, dealer, self->address) != 0) {
        zsock_destroy (&dealer);
        return ZM_EINVAL;
    }
    zm_wire_t wire = {0};
    wire.command = ZM_CMD_STREAM_OPEN;
    wire.corr = self->corr;
    wire.service = open->service;
    wire.endpoint = open->endpoint;
    wire.content_type = self->content_type;
    wire.timeout_ms = (uint32_t) (open->timeout_ms > 0 ? open->timeout_ms : 1);
    wire.metadata = open->metadata;
    wire.trace_id = open->trace_id;
    wire.caller = self->node->name;
    wire.version = open->version;
    wire.credit = (uint64_t) self->window;
    int rc = zm_wire_send (zsock_resolve (dealer), NULL, &wire, open->body, open->body_size,
                           ZMQ_DONTWAIT);
    if (rc == 0 && zm_reactor_reader (reactor, dealer, s_on_dealer, self) != 0)
        rc = ZM_ENOMEM;
    if (rc) {
        zsock_destroy (&dealer);
        return rc == ZM_EUNAVAIL ? ZM_ENOMEM : rc;
    }
    self->dealer = dealer;
    self->handle = zsock_resolve (dealer);
    self->granted = self->window;
    s_register (io, self);
    return 0;
}

//  An open that got no answer in time: give it up, unless the answer came
//  just now (io thread). Returns 1 when the stream was accepted after all.
static int
s_abandon_on (zm_reactor_t *reactor, void *arg)
{
    zm_stream_t *self = (zm_stream_t *) arg;
    s_io_t *io = s_io_of (reactor);
    pthread_mutex_lock (&self->lock);
    bool accepted = self->accepted;
    pthread_mutex_unlock (&self->lock);
    if (accepted)
        return 1;
    if (io && self->registered)
        s_fail_io (io, self, ZM_ETIMEOUT, "no answer from %s", self->address);
    return 0;
}

//  A new client half for address; the node's stream.* defaults
static zm_stream_t *
s_client_new (zm_node_t *node, const char *address, const char *content_type, int window,
              int64_t timeout_ms, bool breaker)
{
    zm_stream_t *self = s_new (node, false);
    if (!self)
        return NULL;
    snprintf (self->address, sizeof self->address, "%s", address);
    snprintf (self->content_type, sizeof self->content_type, "%s", content_type);
    if (window > 0)
        self->window = window;
    self->deadline = zclock_mono () + timeout_ms;
    self->breaker = breaker;
    self->corr = zm_client_corr ();
    return self;
}

//  What a stream open reads of its options, checked
static int
s_open_prepare (zm_node_t *node, const char *service, const char *endpoint, zm_msg_t *open,
                const zm_stream_opts_t *opts, void **body_p, size_t *size_p,
                int64_t *timeout_p, zm_error_t **error_p)
{
    const zm_call_opts_t *call = &opts->call;
    const char *ct = call->content_type ? call->content_type : ZM_CT_MSGPACK;
    if (!service || !endpoint || !*service || !*endpoint) {
        *error_p = zm_error_new (ZM_EINVAL, "zmicro.client", "service and endpoint are required");
        return ZM_EINVAL;
    }
    if (opts->window < 0 || opts->window > S_MAX_INFLIGHT
        || call->timeout_ms > (int) ZM_WIRE_MAX_TIMEOUT
        || (call->metadata && zm_val_type (zm_msg_root (call->metadata)) != ZM_TYPE_MAP)) {
        *error_p = zm_error_new (ZM_EINVAL, "zmicro.client",
                                 "bad stream options (window 0..256, timeout up to one hour, "
                                 "metadata a map)");
        return ZM_EINVAL;
    }
    if (strlen (ct) > ZM_WIRE_MAX_NAME || !zm_msg_content_type_known (ct)) {
        *error_p = zm_error_new (ZM_EINVAL, "zmicro.client", "unknown content type %s", ct);
        return ZM_EINVAL;
    }
    if (atomic_load (&node->stopping)) {
        *error_p = zm_error_new (ZM_ECLOSED, "zmicro.client", "node is stopping");
        return ZM_ECLOSED;
    }
    int rc = open ? zm_msg_encode (open, ct, body_p, size_p) : 0;
    if (rc) {
        *error_p = zm_error_new (rc, "zmicro.client", "cannot encode the open message as %s", ct);
        return rc;
    }
    *timeout_p = call->timeout_ms > 0
                     ? call->timeout_ms
                     : zm_config_get_int (node->config, "stream.timeout", 600000);
    return 0;
}

zm_stream_t *
zm_stream_open (zm_node_t *node, const char *service, const char *endpoint, zm_msg_t **open_p,
                zm_error_t **error_p, const zm_stream_opts_t *opts)
{
    static const zm_stream_opts_t defaults = ZM_STREAM_OPTS_DEFAULT;
    zm_msg_t *open = open_p ? *open_p : NULL;
    if (open_p)
        *open_p = NULL;
    if (error_p)
        *error_p = NULL;
    if (!opts)
        opts = &defaults;
    zm_error_t *error = NULL;
    zm_stream_t *self = NULL;
    void *body = NULL;
    size_t body_size = 0;
    int64_t timeout = 0;
    char (*candidates)[128] = NULL;
    int rc = 0;
    if (!node) {
        rc = ZM_EINVAL;
        goto done;
    }
    if (zm_reactor_current ()) {
        rc = ZM_EBLOCKING;
        error = zm_error_new (rc, "zmicro.client",
                              "zm_stream_open blocks; from a handler use zm_stream_open_async");
        goto done;
    }
    rc = s_open_prepare (node, service, endpoint, open, opts, &body, &body_size, &timeout, &error);
    if (rc)
        goto done;
    const zm_call_opts_t *call = &opts->call;
    //  Opening is bounded like a call (rpc.timeout), the stream by its deadline
    int64_t open_budget = atomic_load (&node->rpc_timeout);
    if (open_budget > timeout)
        open_budget = timeout;
    int64_t open_deadline = zclock_mono () + open_budget;
    int count = zm_client_candidates (node, service, call, open_deadline, &candidates, &error);
    if (count <= 0) {
        rc = count < 0 ? -count : ZM_ENOTFOUND;
        goto done;
    }
    char trace_id[129];
    if (call->trace_id)
        snprintf (trace_id, sizeof trace_id, "%s", call->trace_id);
    else
        zm_client_trace (trace_id, sizeof trace_id);
    int retries = call->retries >= 0 ? call->retries : atomic_load (&node->rpc_retries);
    int attempts = retries + 1;
    bool *tried = (bool *) calloc ((size_t) count, sizeof (bool));
    if (!tried) {
        rc = ZM_ENOMEM;
        goto done;
    }
    rc = ZM_EUNAVAIL;
    for (int attempt = 0; attempt < attempts; attempt++) {
        int64_t left = open_deadline - zclock_mono ();
        if (left <= 0) {
            rc = ZM_ETIMEOUT;
            break;
        }
        int pick = zm_client_pick (node, service, candidates, count, tried, call);
        if (pick < 0 && attempt > 0) {
            memset (tried, 0, (size_t) count * sizeof (bool));
            pick = zm_client_pick (node, service, candidates, count, tried, call);
        }
        if (pick < 0) {
            if (!error)
                error = zm_error_new (ZM_EUNAVAIL, "zmicro.client",
                                      "every instance of '%s' is put aside", service);
            rc = ZM_EUNAVAIL;
            break;
        }
        tried[pick] = true;
        zm_error_destroy (&error);
        self = s_client_new (node, candidates[pick],
                             call->content_type ? call->content_type : ZM_CT_MSGPACK,
                             opts->window, timeout, !call->no_breaker);
        if (!self) {
            zm_client_done (node, candidates[pick], false, false);
            rc = ZM_ENOMEM;
            break;
        }
        int index = (int) (atomic_fetch_add (&node->next_stream, 1) % (unsigned) node->reactor_count);
        self->io = node->reactors[index];
        s_open_t args = {self, service, endpoint, call->version, trace_id,
                         call->metadata ? zm_msg_root (call->metadata) : NULL,
                         body, body_size, timeout};
        rc = zm_reactor_exec (self->io, s_open_on, &args);
        if (rc) {
            zm_client_done (node, candidates[pick], false, false);
            error = zm_error_new (rc, "zmicro.client", "cannot connect to %s%s", candidates[pick],
                                  rc == ZM_EINVAL ? " (give tcp://host:port#KEY)" : "");
            s_unref (&self);
            break;
        }
        //  Wait for the server's answer: its first credit, or an error
        int64_t until = zclock_mono () + left / (attempts - attempt);
        pthread_mutex_lock (&self->lock);
        while (!self->accepted && !self->done) {
            int64_t wait = until - zclock_mono ();
            if (wait <= 0)
                break;
            struct timespec when;
            clock_gettime (CLOCK_MONOTONIC, &when);
            when.tv_sec += wait / 1000;
            when.tv_nsec += (wait % 1000) * 1000000;
            if (when.tv_nsec >= 1000000000) {
                when.tv_sec++;
                when.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait (&self->cond, &self->lock, &when);
        }
        //  Accepted, even if it is over already (a short stream the server
        //  ended before this thread woke): its messages wait in inq
        bool accepted = self->accepted;
        bool answered = self->done;
        pthread_mutex_unlock (&self->lock);
        if (!accepted && !answered)
            accepted = zm_reactor_exec (self->io, s_abandon_on, self) == 1;
        if (accepted) {
            rc = 0;
            break;
        }
        pthread_mutex_lock (&self->lock);
        error = self->error ? zm_error_dup (self->error) : NULL;
        pthread_mutex_unlock (&self->lock);
        rc = error ? zm_error_err (error) : ZM_ETIMEOUT;
        s_unref (&self);
        if (rc != ZM_EUNAVAIL && rc != ZM_ETIMEOUT && rc != ZM_ECLOSED)
            break; //  the server said no: another instance would say the same
    }
    free (tried);
done:
    free (candidates);
    free (body);
    zm_msg_destroy (&open);
    if (rc) {
        s_unref (&self);
        if (!error)
            error = zm_error_new (rc, "zmicro.client", "%s", zm_strerror (rc));
    }
    if (error_p)
        *error_p = error;
    else
        zm_error_destroy (&error);
    return rc ? NULL : self;
}

int
zm_stream_open_async (zm_ctx_t *ctx, const char *service, const char *endpoint,
                      zm_msg_t **open_p, const char *event_type, const zm_stream_opts_t *opts,
                      zm_stream_t **stream_p)
{
    static const zm_stream_opts_t defaults = ZM_STREAM_OPTS_DEFAULT;
    zm_msg_t *open = open_p ? *open_p : NULL;
    if (open_p)
        *open_p = NULL;
    if (stream_p)
        *stream_p = NULL;
    if (!opts)
        opts = &defaults;
    zm_error_t *error = NULL;
    void *body = NULL;
    size_t body_size = 0;
    int64_t timeout = 0;
    char (*candidates)[128] = NULL;
    int rc = ZM_EINVAL;
    if (!ctx || !ctx->actor || !stream_p || !event_type || !*event_type
        || strlen (event_type) > ZM_WIRE_MAX_NAME)
        goto done;
    zm_node_t *node = zm_ctx_node (ctx);
    rc = s_open_prepare (node, service, endpoint, open, opts, &body, &body_size, &timeout, &error);
    if (rc)
        goto done;
    const zm_call_opts_t *call = &opts->call;
    //  No waiting on a reactor: what the registry knows now
    int count = zm_client_candidates (node, service, call, 0, &candidates, &error);
    if (count <= 0) {
        rc = count < 0 ? -count : ZM_ENOTFOUND;
        goto done;
    }
    bool *tried = (bool *) calloc ((size_t) count, sizeof (bool));
    int pick = tried ? zm_client_pick (node, service, candidates, count, tried, call) : -1;
    free (tried);
    if (pick < 0) {
        rc = ZM_EUNAVAIL;
        goto done;
    }
    zm_stream_t *self = s_client_new (node, candidates[pick],
                                      call->content_type ? call->content_type : ZM_CT_MSGPACK,
                                      opts->window, timeout, !call->no_breaker);
    if (!self) {
        zm_client_done (node, candidates[pick], false, false);
        rc = ZM_ENOMEM;
        goto done;
    }
    self->io = ctx->reactor;
    self->owner = ctx->actor->pid;
    snprintf (self->event_type, sizeof self->event_type, "%s", event_type);
    char trace_id[129];
    const zm_msg_t *incoming = ctx->env ? ctx->env->meta : NULL;
    const char *trace = call->trace_id ? call->trace_id
                        : incoming    ? zm_msg_get_str (incoming, "trace_id", NULL)
                                      : NULL;
    if (trace)
        snprintf (trace_id, sizeof trace_id, "%s", trace);
    else
        zm_client_trace (trace_id, sizeof trace_id);
    s_open_t args = {self, service, endpoint, call->version, trace_id,
                     call->metadata ? zm_msg_root (call->metadata) : NULL,
                     body, body_size, timeout};
    rc = s_open_on (ctx->reactor, &args);
    if (rc) {
        zm_client_done (node, candidates[pick], false, false);
        s_unref (&self);
        goto done;
    }
    //  The actor's handle lives as long as the wire half or an event holds
    //  it: until the stream is over for the actor (as a handler's)
    *stream_p = self;
    s_unref (&self);
done:
    if (error)
        zm_log_debug ("stream: %s", zm_error_detail (error));
    zm_error_destroy (&error);
    free (candidates);
    free (body);
    zm_msg_destroy (&open);
    return rc;
}

//  --------------------------------------------------------------------------
//  The application half

static void
s_until (struct timespec *when, int64_t ms)
{
    clock_gettime (CLOCK_MONOTONIC, when);
    when->tv_sec += ms / 1000;
    when->tv_nsec += (ms % 1000) * 1000000;
    if (when->tv_nsec >= 1000000000) {
        when->tv_sec++;
        when->tv_nsec -= 1000000000;
    }
}

//  Wait on the stream's condition until zclock_mono () reaches until
//  (under lock); false when the time is up.
static bool
s_wait (zm_stream_t *self, int64_t until)
{
    int64_t wait = until - zclock_mono ();
    if (wait <= 0)
        return false;
    struct timespec when;
    s_until (&when, wait);
    pthread_cond_timedwait (&self->cond, &self->lock, &when);
    return true;
}

int
zm_stream_send (zm_stream_t *self, zm_msg_t **msg_p, int timeout_ms)
{
    if (!self)
        return ZM_EINVAL;
    zm_reactor_t *current = zm_reactor_current ();
    if (current && timeout_ms != 0)
        return ZM_EBLOCKING;
    zm_msg_t *msg = msg_p ? *msg_p : NULL;
    void *buffer = NULL;
    size_t size = 0;
    if (msg) {
        int rc = zm_msg_encode_room (msg, self->content_type, ZM_WIRE_DATA_PREFIX, &buffer, &size);
        if (rc)
            return rc == ZM_ENOMEM ? rc : ZM_ECODEC;
    }
    else if (!(buffer = malloc (ZM_WIRE_DATA_PREFIX)))
        return ZM_ENOMEM;
    size += ZM_WIRE_DATA_PREFIX;
    int64_t until = timeout_ms < 0 ? self->deadline : zclock_mono () + timeout_ms;
    pthread_mutex_lock (&self->lock);
    while (!self->done && !self->send_closed && self->credit <= 0) {
        if (timeout_ms == 0 || !s_wait (self, until)) {
            if (self->owner)
                self->want_writable = true;
            break;
        }
    }
    int rc = self->done || self->send_closed ? ZM_ECLOSED : self->credit <= 0 ? ZM_ETOOMANY : 0;
    bool direct = false, kick = false;
    if (rc == 0) {
        self->credit--;
        self->sent++;
        direct = current == self->io && self->outq.count == 0 && self->registered;
        if (!direct) {
            rc = s_ring_push (&self->outq, buffer, size);
            if (rc == 0) {
                buffer = NULL;
                kick = !self->kicked;
                self->kicked = true;
            }
            else {
                self->credit++;
                self->sent--;
            }
        }
    }
    pthread_mutex_unlock (&self->lock);
    if (rc) {
        free (buffer);
        return rc;
    }
    if (direct) {
        zm_wire_send_data (self->handle, self->server ? &self->peer : NULL, self->corr, buffer,
                           size, ZMQ_DONTWAIT);
        self->last_tx = zclock_mono ();
    }
    else if (kick) {
        if (current == self->io)
            s_io_flush (s_io_of (self->io), self);
        else
            s_kick (self);
    }
    if (msg_p)
        zm_msg_destroy (msg_p);
    return 0;
}

//  The application took one message: credit is due once half the window
//  is taken
static void
s_consumed (zm_stream_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->consumed++;
    int threshold = self->window > 1 ? self->window / 2 : 1;
    bool due = !self->done && !self->paused && self->consumed >= threshold;
    pthread_mutex_unlock (&self->lock);
    if (due)
        s_poke (self);
}

int
zm_stream_pause (zm_stream_t *self)
{
    if (!self)
        return ZM_EINVAL;
    pthread_mutex_lock (&self->lock);
    self->paused = true;
    pthread_mutex_unlock (&self->lock);
    return 0;
}

int
zm_stream_resume (zm_stream_t *self)
{
    if (!self)
        return ZM_EINVAL;
    pthread_mutex_lock (&self->lock);
    bool was = self->paused;
    self->paused = false;
    int threshold = self->window > 1 ? self->window / 2 : 1;
    bool due = was && !self->done && self->consumed >= threshold;
    pthread_mutex_unlock (&self->lock);
    if (due)
        s_poke (self);
    return 0;
}

int
zm_stream_recv (zm_stream_t *self, zm_msg_t **msg_p, int timeout_ms)
{
    if (!self || !msg_p)
        return ZM_EINVAL;
    *msg_p = NULL;
    if (self->owner)
        return ZM_EINVAL;
    if (zm_reactor_current ())
        return ZM_EBLOCKING;
    int64_t until = timeout_ms < 0 ? self->deadline : zclock_mono () + timeout_ms;
    pthread_mutex_lock (&self->lock);
    int rc = ZM_ETIMEOUT;
    while (true) {
        //  What arrived before the end comes first, whatever the end
        if (self->inq.count) {
            *msg_p = (zm_msg_t *) s_ring_pop (&self->inq, NULL);
            rc = 0;
            break;
        }
        if (self->done) {
            rc = self->error ? zm_error_err (self->error) : ZM_ECLOSED;
            break;
        }
        if (timeout_ms == 0 || !s_wait (self, until))
            break;
    }
    pthread_mutex_unlock (&self->lock);
    if (rc == 0)
        s_consumed (self);
    return rc ? rc : 0;
}

//  End this side's sending (END), and for a server the stream
static int
s_end (zm_stream_t *self)
{
    if (!self)
        return ZM_EINVAL;
    pthread_mutex_lock (&self->lock);
    int rc = self->done || self->send_closed ? ZM_ECLOSED : 0;
    if (rc == 0) {
        self->send_closed = true;
        self->end_pending = true;
        if (self->server) {
            s_over_locked (self, NULL);
            self->owner_gone = true;
        }
    }
    pthread_mutex_unlock (&self->lock);
    if (rc == 0)
        s_poke (self);
    return rc;
}

int
zm_stream_close_send (zm_stream_t *self)
{
    return s_end (self);
}

int
zm_stream_end (zm_stream_t *self)
{
    return s_end (self);
}

int
zm_stream_fail (zm_stream_t *self, int code, const char *format, ...)
{
    if (!self || !self->server || code <= 0 || code >= ZM_ERR_MAX_)
        return ZM_EINVAL;
    char detail[256];
    va_list args;
    va_start (args, format);
    vsnprintf (detail, sizeof detail, format ? format : "", args);
    va_end (args);
    zm_error_t *error = zm_error_new (code, self->origin, "%s", detail);
    zm_error_t *sent = error ? zm_error_dup (error) : NULL;
    if (!error || !sent) {
        zm_error_destroy (&error);
        zm_error_destroy (&sent);
        return ZM_ENOMEM;
    }
    pthread_mutex_lock (&self->lock);
    int rc = self->done ? ZM_ECLOSED : 0;
    if (rc == 0) {
        self->fail_pending = sent;
        sent = NULL;
        s_over_locked (self, &error);
        self->owner_gone = true;
    }
    pthread_mutex_unlock (&self->lock);
    zm_error_destroy (&error);
    zm_error_destroy (&sent);
    if (rc == 0)
        s_poke (self);
    return rc;
}

int
zm_stream_cancel (zm_stream_t *self)
{
    if (!self)
        return ZM_EINVAL;
    zm_error_t *error = zm_error_new (ZM_ECANCELED, "zmicro.stream", "cancelled by this side");
    pthread_mutex_lock (&self->lock);
    int rc = self->done ? ZM_ECLOSED : 0;
    if (rc == 0) {
        self->cancel_pending = true;
        s_over_locked (self, &error);
        self->owner_gone = true;
        void *buffer;
        while ((buffer = s_ring_pop (&self->outq, NULL)))
            free (buffer);
        //  Abandoned here: what had arrived is not read either
        while ((buffer = s_ring_pop (&self->inq, NULL))) {
            zm_msg_t *msg = (zm_msg_t *) buffer;
            zm_msg_destroy (&msg);
        }
    }
    pthread_mutex_unlock (&self->lock);
    zm_error_destroy (&error);
    if (rc == 0)
        s_poke (self);
    return rc;
}

void
zm_stream_destroy (zm_stream_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zm_stream_t *self = *self_p;
    *self_p = NULL;
    if (!self->owner)
        zm_stream_cancel (self);
    s_unref (&self);
}

const zm_error_t *
zm_stream_error (zm_stream_t *self)
{
    if (!self)
        return NULL;
    pthread_mutex_lock (&self->lock);
    const zm_error_t *error = self->error;
    pthread_mutex_unlock (&self->lock);
    return error;
}

bool
zm_stream_done (zm_stream_t *self)
{
    if (!self)
        return true;
    pthread_mutex_lock (&self->lock);
    bool done = self->done;
    pthread_mutex_unlock (&self->lock);
    return done;
}

void
zm_stream_set_data (zm_stream_t *self, void *data, void (*destroy) (void *data))
{
    if (!self)
        return;
    if (self->data_free && self->data != data)
        self->data_free (self->data);
    self->data = data;
    self->data_free = destroy;
}

void *
zm_stream_data (zm_stream_t *self)
{
    return self ? self->data : NULL;
}

uint64_t
zm_stream_sent (zm_stream_t *self)
{
    if (!self)
        return 0;
    pthread_mutex_lock (&self->lock);
    uint64_t sent = self->sent;
    pthread_mutex_unlock (&self->lock);
    return sent;
}

uint64_t
zm_stream_received (zm_stream_t *self)
{
    if (!self)
        return 0;
    pthread_mutex_lock (&self->lock);
    uint64_t received = self->received;
    pthread_mutex_unlock (&self->lock);
    return received;
}

zm_stream_t *
zm_ctx_stream (zm_ctx_t *ctx)
{
    return ctx && ctx->env ? ctx->env->stream : NULL;
}

zm_stream_event_t
zm_ctx_stream_event (zm_ctx_t *ctx)
{
    return ctx && ctx->env ? (zm_stream_event_t) ctx->env->stream_event : ZM_STREAM_NONE;
}

//  --------------------------------------------------------------------------
//  Hooks of the reactor

void
zm_stream_handled (zm_env_t *env, int rc, const char *detail)
{
    zm_stream_t *self = env->stream;
    env->stream_handled = true;
    if (rc) {
        if (self->server)
            zm_stream_fail (self, rc, "%s", detail ? detail : zm_strerror (rc));
        else
            zm_stream_cancel (self);
    }
    if (env->stream_event == ZM_STREAM_DATA)
        s_consumed (self);
}

void
zm_stream_lost (zm_env_t *env)
{
    zm_stream_t *self = env->stream;
    env->stream_handled = true;
    zm_error_t *error = zm_error_new (ZM_EUNAVAIL, "zmicro.stream", "the stream's handler is gone");
    pthread_mutex_lock (&self->lock);
    bool cancel = !self->done;
    if (cancel) {
        self->fail_pending = zm_error_dup (error);
        s_over_locked (self, &error);
    }
    self->owner_gone = true;
    pthread_mutex_unlock (&self->lock);
    zm_error_destroy (&error);
    //  The sweep sends the CANCEL: no re-entry into the io thread from here
}
