/*  =========================================================================
    zm_reactor - one thread, one zloop, many actors

    A reactor is a czmq zactor whose thread runs a zloop with nonstop set, so
    only $TERM ends it (signals are the node's business). It owns:
      - an inbox: a PULL socket on inproc that other reactors and plain
        threads send envelope chains to (a message is the head and tail
        pointers of a chain: one ZeroMQ message carries a whole batch);
      - a PUSH to every other reactor, and an outbox chain per target that is
        flushed once per dispatch round;
      - the run queue: the FIFO of envelopes waiting to be handled;
      - the slot table of its actors (indexed by the pid's slot);
      - the asks its actors are waiting on, sorted by deadline, with one
        zloop timer armed for the earliest.

    Everything except slot allocation belongs to the reactor thread; spawning
    from other threads takes slot_lock to claim a slot and publishes the
    actor with an atomic store, so dispatch reads slots without a lock.

    Dispatch is bounded per round so a busy run queue cannot starve the
    sockets: after ZM_DISPATCH_BUDGET envelopes, a zero-delay timer brings
    the loop back after one poll.
    =========================================================================
*/
#include "zm_runtime.h"

#define ZM_DISPATCH_BUDGET 8192
#define ZM_INBOX_BUDGET    256

typedef struct {
    _Atomic (zm_actor_t *) actor; //  live actor, NULL when free
    uint32_t gen;                 //  generation of the next actor here
    uint32_t next_free;           //  free list link (slot + 1, 0 = end)
} s_slot_t;

//  An ask waiting for its reply, on the asker's reactor.
typedef struct _s_pending_t s_pending_t;
struct _s_pending_t {
    uint64_t id;           //  ask id, key in pending
    zm_pid_t asker;        //  who gets the reply
    int64_t deadline;      //  zclock_mono () ms
    int timeout;           //  ms, for the timeout message
    char *reply_type;      //  type the reply is delivered as
    s_pending_t *prev;     //  deadline order
    s_pending_t *next;     //  deadline order
};

//  A chain of envelopes as sent over inproc.
typedef struct {
    zm_env_t *head; //  first
    zm_env_t *tail; //  last
} s_chain_t;

//  A socket another module reads on this reactor (see zm_reactor_reader).
typedef struct {
    zm_reactor_t *reactor;    //  owner
    zloop_reader_fn *fn;      //  the module's handler
    void *arg;                //  its argument
    zsock_t *sock;            //  the socket
} s_reader_t;

struct _zm_reactor_t {
    zm_node_t *node;                   //  owner
    int index;                         //  0..R-1
    zactor_t *thread;                  //  the zactor running s_reactor_thread
    char endpoint[80];                 //  inproc endpoint of the inbox
    int init_rc;                       //  set by the thread before signalling
    //  Owned by the reactor thread
    zloop_t *loop;                     //  the reactor loop
    zsock_t *inbox;                    //  PULL, envelopes from others
    zsock_t **out;                     //  PUSH per reactor (NULL for self)
    s_chain_t *outbox;                 //  pending chains per reactor
    zm_env_t *rq_head;                 //  run queue head
    zm_env_t *rq_tail;                 //  run queue tail
    bool kick_armed;                   //  zero-delay timer armed
    bool stopping;                     //  quiesced: discard everything
    uint64_t next_ask_id;              //  ask ids, from 1
    zhashx_t *pending;                 //  ask id -> s_pending_t
    s_pending_t *pend_head;            //  earliest deadline
    s_pending_t *pend_tail;            //  latest deadline
    int timer_id;                      //  armed ask timer, -1 if none
    int64_t timer_at;                  //  its deadline
    //  Shared with spawning threads
    pthread_mutex_t slot_lock;         //  guards allocation fields below
    _Atomic (s_slot_t *) chunks[ZM_SLOT_CHUNKS]; //  slot table, chunked
    uint32_t slot_next;                //  first never-used slot
    uint32_t free_head;                //  free list (slot + 1)
    //  Counters (reactor thread)
    uint64_t delivered;                //  messages handled
    uint64_t dead_letters;             //  no such actor or handler
    uint64_t failures;                 //  handlers that returned an error
    uint64_t late_replies;             //  replies after their timeout
    uint64_t expired;                  //  messages past their deadline
    zlistx_t *readers;                 //  s_reader_t of other modules
    void *modules[ZM_REACTOR_MODULES]; //  per-module state (zm_reactor_module)
    zm_reactor_exec_fn *module_stop[ZM_REACTOR_MODULES]; //  run at quiesce
};

static __thread zm_reactor_t *s_current = NULL;

static void s_deliver (zm_reactor_t *self, zm_env_t *env);
static void s_drain (zm_reactor_t *self);

//  --------------------------------------------------------------------------
//  Envelopes and waiters

zm_env_t *
zm_env_new (int kind, zm_pid_t to, zm_pid_t from, const char *type, zm_msg_t **msg_p)
{
    zm_env_t *env = (zm_env_t *) malloc (sizeof (zm_env_t));
    if (!env)
        return NULL;
    env->next = NULL;
    env->to = to;
    env->from = from;
    env->ask_id = 0;
    env->meta = NULL;
    env->caller = NULL;
    env->event = NULL;
    env->deadline = 0;
    env->error = NULL;
    env->waiter = NULL;
    env->status = ZM_OK;
    env->kind = (uint8_t) kind;
    env->replied = false;
    env->gauge = NULL;
    env->stream = NULL;
    env->stream_event = 0;
    env->stream_handled = false;
    size_t len = type ? strlen (type) : 0;
    if (len < ZM_ENV_INLINE_TYPE) {
        memcpy (env->inline_type, type ? type : "", len + 1);
        env->type = env->inline_type;
    }
    else {
        env->type = strdup (type);
        if (!env->type) {
            free (env);
            return NULL;
        }
    }
    env->msg = NULL;
    if (msg_p) {
        env->msg = *msg_p;
        *msg_p = NULL;
    }
    return env;
}

//  Replace the type of an envelope.
static int
s_env_set_type (zm_env_t *env, const char *type)
{
    size_t len = strlen (type);
    char *heap = NULL;
    if (len >= ZM_ENV_INLINE_TYPE && !(heap = strdup (type)))
        return ZM_ENOMEM;
    if (env->type != env->inline_type)
        free (env->type);
    if (heap)
        env->type = heap;
    else {
        memcpy (env->inline_type, type, len + 1);
        env->type = env->inline_type;
    }
    return 0;
}

void
zm_env_destroy (zm_env_t **env_p, int status)
{
    if (!env_p || !*env_p)
        return;
    zm_env_t *env = *env_p;
    if (env->waiter) {
        //  An ask from a plain thread that nobody answered: tell it why.
        zm_waiter_complete (env->waiter, status ? status : ZM_EINTERNAL, NULL, NULL);
        zm_waiter_unref (&env->waiter);
    }
    if (env->gauge) {
        atomic_fetch_sub (&env->gauge->pending, 1);
        zm_gauge_unref (&env->gauge);
    }
    if (env->stream) {
        if (env->stream_event && !env->stream_handled)
            zm_stream_lost (env);
        zm_stream_unref (&env->stream);
    }
    zm_msg_destroy (&env->msg);
    zm_msg_destroy (&env->meta);
    free (env->caller);
    free (env->event);
    zm_error_destroy (&env->error);
    if (env->type != env->inline_type)
        free (env->type);
    free (env);
    *env_p = NULL;
}

zm_waiter_t *
zm_waiter_new (void)
{
    zm_waiter_t *waiter = (zm_waiter_t *) calloc (1, sizeof (zm_waiter_t));
    if (!waiter)
        return NULL;
    pthread_mutex_init (&waiter->mutex, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&waiter->cond, &attr);
    pthread_condattr_destroy (&attr);
    waiter->refs = 2; //  the caller and the ask in flight
    return waiter;
}

void
zm_waiter_unref (zm_waiter_t **waiter_p)
{
    zm_waiter_t *waiter = *waiter_p;
    *waiter_p = NULL;
    pthread_mutex_lock (&waiter->mutex);
    int refs = --waiter->refs;
    pthread_mutex_unlock (&waiter->mutex);
    if (refs == 0) {
        zm_msg_destroy (&waiter->reply);
        zm_error_destroy (&waiter->error);
        pthread_cond_destroy (&waiter->cond);
        pthread_mutex_destroy (&waiter->mutex);
        free (waiter);
    }
}

void
zm_waiter_complete (zm_waiter_t *waiter, int status, zm_msg_t **msg_p, zm_error_t **error_p)
{
    pthread_mutex_lock (&waiter->mutex);
    if (!waiter->done) {
        waiter->done = true;
        waiter->status = status;
        if (msg_p) {
            waiter->reply = *msg_p;
            *msg_p = NULL;
        }
        if (error_p) {
            waiter->error = *error_p;
            *error_p = NULL;
        }
        pthread_cond_signal (&waiter->cond);
    }
    pthread_mutex_unlock (&waiter->mutex);
    if (msg_p)
        zm_msg_destroy (msg_p);
    if (error_p)
        zm_error_destroy (error_p);
}

//  --------------------------------------------------------------------------
//  Slots

static zm_actor_t *
s_lookup (zm_reactor_t *self, zm_pid_t pid)
{
    if (ZM_PID_REACTOR (pid) != self->index)
        return NULL;
    uint32_t slot = ZM_PID_SLOT (pid);
    s_slot_t *chunk = atomic_load_explicit (&self->chunks[slot / ZM_SLOT_CHUNK],
                                            memory_order_acquire);
    if (!chunk)
        return NULL;
    zm_actor_t *actor
        = atomic_load_explicit (&chunk[slot % ZM_SLOT_CHUNK].actor, memory_order_acquire);
    return actor && actor->pid == pid ? actor : NULL;
}

zm_pid_t
zm_reactor_add_actor (zm_reactor_t *self, const zm_actor_def_t *def, void *state, char *name,
                      int *err_p)
{
    zm_actor_t *actor = (zm_actor_t *) calloc (1, sizeof (zm_actor_t));
    if (!actor) {
        *err_p = ZM_ENOMEM;
        return 0;
    }
    pthread_mutex_lock (&self->slot_lock);
    uint32_t slot;
    if (self->free_head) {
        slot = self->free_head - 1;
    }
    else {
        if (self->slot_next >= ZM_SLOT_MAX) {
            pthread_mutex_unlock (&self->slot_lock);
            free (actor);
            *err_p = ZM_ETOOMANY;
            return 0;
        }
        slot = self->slot_next;
        if (!atomic_load (&self->chunks[slot / ZM_SLOT_CHUNK])) {
            s_slot_t *chunk = (s_slot_t *) calloc (ZM_SLOT_CHUNK, sizeof (s_slot_t));
            if (!chunk) {
                pthread_mutex_unlock (&self->slot_lock);
                free (actor);
                *err_p = ZM_ENOMEM;
                return 0;
            }
            atomic_store_explicit (&self->chunks[slot / ZM_SLOT_CHUNK], chunk,
                                   memory_order_release);
        }
        self->slot_next++;
    }
    s_slot_t *entry = &atomic_load (&self->chunks[slot / ZM_SLOT_CHUNK])[slot % ZM_SLOT_CHUNK];
    if (self->free_head)
        self->free_head = entry->next_free;
    actor->pid = ZM_PID_MAKE (self->index, slot, entry->gen);
    actor->def = def;
    actor->state = state;
    actor->name = name;
    atomic_store_explicit (&entry->actor, actor, memory_order_release);
    pthread_mutex_unlock (&self->slot_lock);
    return actor->pid;
}

static void
s_free_slot (zm_reactor_t *self, zm_actor_t *actor)
{
    uint32_t slot = ZM_PID_SLOT (actor->pid);
    pthread_mutex_lock (&self->slot_lock);
    s_slot_t *entry = &atomic_load (&self->chunks[slot / ZM_SLOT_CHUNK])[slot % ZM_SLOT_CHUNK];
    atomic_store_explicit (&entry->actor, NULL, memory_order_release);
    entry->gen++;
    entry->next_free = self->free_head;
    self->free_head = slot + 1;
    pthread_mutex_unlock (&self->slot_lock);
}

//  --------------------------------------------------------------------------
//  Routing

static void
s_enqueue (zm_reactor_t *self, zm_env_t *head, zm_env_t *tail)
{
    tail->next = NULL;
    if (self->rq_tail)
        self->rq_tail->next = head;
    else
        self->rq_head = head;
    self->rq_tail = tail;
}

void
zm_reactor_route (zm_reactor_t *self, zm_env_t *env)
{
    int target = ZM_PID_REACTOR (env->to);
    if (target == self->index)
        s_enqueue (self, env, env);
    else if (target >= 0 && target < atomic_load (&self->node->reactor_total)) {
        s_chain_t *chain = &self->outbox[target];
        env->next = NULL;
        if (chain->tail)
            chain->tail->next = env;
        else
            chain->head = env;
        chain->tail = env;
    }
    else
        //  A pid no reactor of this node owns: the dead letter path answers
        //  an asker, so deliver it locally to fail there.
        s_enqueue (self, env, env);
}

static void
s_free_chain (zm_env_t *head, int status)
{
    while (head) {
        zm_env_t *next = head->next;
        zm_env_destroy (&head, status);
        head = next;
    }
}

static void
s_flush (zm_reactor_t *self)
{
    int total = atomic_load (&self->node->reactor_total);
    for (int r = 0; r < total; r++) {
        s_chain_t *chain = &self->outbox[r];
        if (!chain->head)
            continue;
        if (!self->out[r]) {
            //  A reactor started after this one (dedicated): connect now.
            self->out[r] = zsock_new (ZMQ_PUSH);
            if (self->out[r]) {
                zsock_set_sndhwm (self->out[r], 0);
                zsock_connect (self->out[r], "inproc://zm-%s-%d", self->node->uuid, r);
            }
        }
        if (!self->out[r]) {
            s_free_chain (chain->head, ZM_ENOMEM);
            chain->head = chain->tail = NULL;
            continue;
        }
        if (zmq_send (zsock_resolve (self->out[r]), chain, sizeof (s_chain_t), 0) == -1) {
            zm_log_error ("reactor %d: send to reactor %d failed: %s", self->index, r,
                          zmq_strerror (zmq_errno ()));
            s_free_chain (chain->head, ZM_ECLOSED);
        }
        chain->head = chain->tail = NULL;
    }
}

//  --------------------------------------------------------------------------
//  Replies

void
zm_reactor_send_reply (zm_node_t *node, zm_reply_t *to, int status, zm_msg_t **msg_p,
                       zm_error_t **error_p)
{
    if (to->waiter) {
        zm_waiter_complete (to->waiter, status, msg_p, error_p);
        zm_waiter_unref (&to->waiter);
        return;
    }
    if (!to->to) {
        //  A tell-style sender from outside: nobody to answer.
        zm_msg_destroy (msg_p);
        zm_error_destroy (error_p);
        return;
    }
    zm_env_t *env = zm_env_new (ZM_ENV_REPLY, to->to, 0, "", msg_p);
    if (!env) {
        zm_msg_destroy (msg_p);
        zm_error_destroy (error_p);
        return;
    }
    env->ask_id = to->ask_id;
    env->status = status;
    if (error_p) {
        env->error = *error_p;
        *error_p = NULL;
    }
    zm_node_route (node, env);
}

//  Answer an ask with an error, from the reactor thread.
static void
s_reply_error (zm_reactor_t *self, zm_env_t *env, int code, const char *detail)
{
    if (env->kind != ZM_ENV_ASK || env->replied)
        return;
    env->replied = true;
    zm_reply_t to = {env->from, env->ask_id, env->waiter};
    env->waiter = NULL;
    zm_error_t *error = zm_error_new (code, NULL, "%s", detail);
    zm_reactor_send_reply (self->node, &to, code, NULL, &error);
}

//  --------------------------------------------------------------------------
//  Asks waiting for replies

static void s_arm_timer (zm_reactor_t *self);

static void
s_pending_unlink (zm_reactor_t *self, s_pending_t *pending)
{
    if (pending->prev)
        pending->prev->next = pending->next;
    else
        self->pend_head = pending->next;
    if (pending->next)
        pending->next->prev = pending->prev;
    else
        self->pend_tail = pending->prev;
    zhashx_delete (self->pending, (void *) (uintptr_t) pending->id);
}

static void
s_pending_free (s_pending_t *pending)
{
    free (pending->reply_type);
    free (pending);
}

int
zm_reactor_ask (zm_reactor_t *self, zm_env_t *env, const char *reply_type, int timeout_ms)
{
    uint64_t id = zm_reactor_expect (self, env->from, reply_type, timeout_ms);
    if (!id)
        return ZM_ENOMEM;
    env->ask_id = id;
    return 0;
}

uint64_t
zm_reactor_expect (zm_reactor_t *self, zm_pid_t asker, const char *reply_type, int timeout_ms)
{
    s_pending_t *pending = (s_pending_t *) calloc (1, sizeof (s_pending_t));
    if (!pending || !(pending->reply_type = strdup (reply_type))) {
        free (pending);
        return 0;
    }
    pending->id = self->next_ask_id++;
    pending->asker = asker;
    pending->timeout = timeout_ms;
    pending->deadline = zclock_mono () + timeout_ms;
    zhashx_insert (self->pending, (void *) (uintptr_t) pending->id, pending);
    //  Deadlines mostly arrive in order: insert from the tail.
    s_pending_t *after = self->pend_tail;
    while (after && after->deadline > pending->deadline)
        after = after->prev;
    pending->prev = after;
    pending->next = after ? after->next : self->pend_head;
    if (pending->next)
        pending->next->prev = pending;
    else
        self->pend_tail = pending;
    if (after)
        after->next = pending;
    else
        self->pend_head = pending;
    s_arm_timer (self);
    return pending->id;
}

void
zm_reactor_forget (zm_reactor_t *self, uint64_t id)
{
    s_pending_t *pending
        = (s_pending_t *) zhashx_lookup (self->pending, (void *) (uintptr_t) id);
    if (pending) {
        s_pending_unlink (self, pending);
        s_pending_free (pending);
    }
}

static int
s_on_ask_timer (zloop_t *loop, int timer_id, void *arg)
{
    zm_reactor_t *self = (zm_reactor_t *) arg;
    if (timer_id == self->timer_id)
        self->timer_id = -1;
    int64_t now = zclock_mono ();
    while (self->pend_head && self->pend_head->deadline <= now) {
        s_pending_t *pending = self->pend_head;
        s_pending_unlink (self, pending);
        zm_env_t *env = zm_env_new (ZM_ENV_REPLY, pending->asker, 0, pending->reply_type, NULL);
        if (env) {
            //  Delivered as a resolved reply: ask_id names it, no pending left.
            env->ask_id = pending->id;
            env->status = ZM_ETIMEOUT;
            env->error = zm_error_new (ZM_ETIMEOUT, NULL, "no reply within %d ms", pending->timeout);
            env->replied = true; //  marks "resolved": skip the pending lookup
            s_enqueue (self, env, env);
        }
        s_pending_free (pending);
    }
    s_arm_timer (self);
    s_drain (self);
    return 0;
}

static void
s_arm_timer (zm_reactor_t *self)
{
    if (!self->pend_head || self->stopping)
        return;
    int64_t at = self->pend_head->deadline;
    if (self->timer_id != -1) {
        if (self->timer_at <= at)
            return;
        zloop_timer_end (self->loop, self->timer_id);
        self->timer_id = -1;
    }
    int64_t delay = at - zclock_mono ();
    self->timer_id = zloop_timer (self->loop, delay > 0 ? (size_t) delay : 0, 1, s_on_ask_timer,
                                  self);
    self->timer_at = at;
}

//  --------------------------------------------------------------------------
//  Dispatch

static zm_actor_fn *
s_find_handler (const zm_actor_def_t *def, const char *type)
{
    for (const zm_handler_t *h = def->handlers; h && h->type; h++)
        if (strcmp (h->type, type) == 0)
            return h->fn;
    return def->fallback;
}

static void
s_actor_stop (zm_reactor_t *self, zm_actor_t *actor)
{
    if (actor->def->destroy) {
        zm_ctx_t ctx = {self, actor, NULL, 0, NULL};
        actor->def->destroy (&ctx, NULL);
        free (ctx.error_detail);
    }
    if (actor->name)
        zm_node_unname (self->node, actor->name, actor->pid);
    s_free_slot (self, actor);
    free (actor->name);
    free (actor);
}

//  Run init once; false when the actor failed to start (and is gone).
static bool
s_actor_start (zm_reactor_t *self, zm_actor_t *actor)
{
    if (actor->started)
        return true;
    actor->started = true;
    if (!actor->def->init)
        return true;
    zm_ctx_t ctx = {self, actor, NULL, 0, NULL};
    int rc = actor->def->init (&ctx, NULL);
    if (rc != 0) {
        zm_log_warning ("actor %s (%s) failed to start: %s%s%s",
                        actor->name ? actor->name : "-", actor->def->kind ? actor->def->kind : "-",
                        zm_strerror (rc), ctx.error_detail ? ": " : "",
                        ctx.error_detail ? ctx.error_detail : "");
        free (ctx.error_detail);
        self->failures++;
        s_actor_stop (self, actor);
        return false;
    }
    free (ctx.error_detail);
    return true;
}

static void
s_dead_letter (zm_reactor_t *self, zm_env_t *env, const char *why)
{
    self->dead_letters++;
    zm_log_debug ("reactor %d: dead letter '%s' to %" PRIx64 ": %s", self->index, env->type,
                  env->to, why);
    s_reply_error (self, env, ZM_ENOTFOUND, why);
}

static void
s_deliver (zm_reactor_t *self, zm_env_t *env)
{
    if (self->stopping) {
        zm_env_destroy (&env, ZM_ECLOSED);
        return;
    }
    if (env->kind == ZM_ENV_REPLY && !env->replied) {
        //  Match the reply to its ask; late or unknown replies are dropped,
        //  never handed to another call.
        s_pending_t *pending
            = (s_pending_t *) zhashx_lookup (self->pending, (void *) (uintptr_t) env->ask_id);
        if (!pending || pending->asker != env->to) {
            self->late_replies++;
            zm_env_destroy (&env, ZM_ETIMEOUT);
            return;
        }
        s_pending_unlink (self, pending);
        int rc = s_env_set_type (env, pending->reply_type);
        s_pending_free (pending);
        if (rc) {
            zm_env_destroy (&env, rc);
            return;
        }
        env->replied = true;
    }
    zm_actor_t *actor = s_lookup (self, env->to);
    if (!actor) {
        s_dead_letter (self, env, "no such actor");
        zm_env_destroy (&env, ZM_ENOTFOUND);
        return;
    }
    if (env->kind == ZM_ENV_START) {
        s_actor_start (self, actor);
        zm_env_destroy (&env, 0);
        return;
    }
    if (env->kind == ZM_ENV_STOP) {
        s_actor_stop (self, actor);
        zm_env_destroy (&env, 0);
        return;
    }
    if (env->deadline && env->kind == ZM_ENV_ASK && zclock_mono () > env->deadline) {
        //  The caller has given up: handling it now would be wasted work.
        self->expired++;
        s_reply_error (self, env, ZM_ETIMEOUT, "deadline passed before the request was handled");
        zm_env_destroy (&env, ZM_ETIMEOUT);
        return;
    }
    if (!s_actor_start (self, actor)) {
        s_dead_letter (self, env, "actor failed to start");
        zm_env_destroy (&env, ZM_ENOTFOUND);
        return;
    }
    zm_actor_fn *fn = s_find_handler (actor->def, env->type);
    if (!fn) {
        s_dead_letter (self, env, "no handler for this message type");
        zm_env_destroy (&env, ZM_ENOTFOUND);
        return;
    }
    zm_ctx_t ctx = {self, actor, env, 0, NULL};
    int rc = fn (&ctx, env->msg);
    self->delivered++;
    if (env->stream && env->stream_event)
        zm_stream_handled (env, rc, ctx.error_detail);
    if (rc != 0) {
        //  A handler's failure (HTTP 500) is a warning; an answer that
        //  says no (bad request, not found, unavailable...) is the
        //  caller's business, logged at info
        self->failures++;
        if (zm_err_http (rc) == 500)
            zm_log_warning ("actor %s (%s) failed on '%s': %s%s%s",
                            actor->name ? actor->name : "-",
                            actor->def->kind ? actor->def->kind : "-", env->type,
                            zm_strerror (rc), ctx.error_detail ? ": " : "",
                            ctx.error_detail ? ctx.error_detail : "");
        else
            zm_log_info ("actor %s (%s) answered '%s' with: %s%s%s",
                         actor->name ? actor->name : "-",
                         actor->def->kind ? actor->def->kind : "-", env->type, zm_strerror (rc),
                         ctx.error_detail ? ": " : "", ctx.error_detail ? ctx.error_detail : "");
    }
    if (env->kind == ZM_ENV_ASK && !env->replied) {
        //  Every ask gets exactly one answer, even from a handler that forgot.
        env->replied = true;
        zm_reply_t to = {env->from, env->ask_id, env->waiter};
        env->waiter = NULL;
        if (rc != 0) {
            zm_error_t *error = zm_error_new (rc, actor->name, "%s",
                                              ctx.error_detail ? ctx.error_detail
                                                               : zm_strerror (rc));
            zm_reactor_send_reply (self->node, &to, rc, NULL, &error);
        }
        else
            zm_reactor_send_reply (self->node, &to, ZM_OK, NULL, NULL);
    }
    free (ctx.error_detail);
    zm_env_destroy (&env, 0);
}

static int
s_on_kick (zloop_t *loop, int timer_id, void *arg)
{
    zm_reactor_t *self = (zm_reactor_t *) arg;
    self->kick_armed = false;
    s_drain (self);
    return 0;
}

static void
s_drain (zm_reactor_t *self)
{
    for (int budget = ZM_DISPATCH_BUDGET; budget > 0 && self->rq_head; budget--) {
        zm_env_t *env = self->rq_head;
        self->rq_head = env->next;
        if (!self->rq_head)
            self->rq_tail = NULL;
        env->next = NULL;
        s_deliver (self, env);
    }
    s_flush (self);
    if (self->rq_head && !self->kick_armed) {
        if (zloop_timer (self->loop, 0, 1, s_on_kick, self) != -1)
            self->kick_armed = true;
    }
}

//  Read chains from the inbox. Returns the number of messages read.
static int
s_read_inbox (zm_reactor_t *self, int budget)
{
    void *handle = zsock_resolve (self->inbox);
    int count = 0;
    s_chain_t chain;
    while (count < budget
           && zmq_recv (handle, &chain, sizeof chain, ZMQ_DONTWAIT) == (int) sizeof chain) {
        if (chain.head)
            s_enqueue (self, chain.head, chain.tail);
        count++;
    }
    return count;
}

static int
s_on_inbox (zloop_t *loop, zsock_t *sock, void *arg)
{
    zm_reactor_t *self = (zm_reactor_t *) arg;
    s_read_inbox (self, ZM_INBOX_BUDGET);
    s_drain (self);
    return 0;
}

//  Phase 1 of shutdown: no handler runs after this, every actor is gone.
static void
s_quiesce (zm_reactor_t *self)
{
    //  Modules close their sockets first: nothing new comes in from outside.
    for (int m = 0; m < ZM_REACTOR_MODULES; m++)
        if (self->module_stop[m]) {
            self->module_stop[m](self, self->modules[m]);
            self->module_stop[m] = NULL;
        }
    self->stopping = true;
    s_free_chain (self->rq_head, ZM_ECLOSED);
    self->rq_head = self->rq_tail = NULL;
    //  Stop the actors; destroy handlers may still tell others.
    self->stopping = false;
    for (uint32_t slot = 0; slot < self->slot_next; slot++) {
        s_slot_t *chunk = atomic_load (&self->chunks[slot / ZM_SLOT_CHUNK]);
        zm_actor_t *actor = atomic_load (&chunk[slot % ZM_SLOT_CHUNK].actor);
        if (actor)
            s_actor_stop (self, actor);
    }
    self->stopping = true;
    s_free_chain (self->rq_head, ZM_ECLOSED);
    self->rq_head = self->rq_tail = NULL;
    s_flush (self);
    while (self->pend_head) {
        s_pending_t *pending = self->pend_head;
        s_pending_unlink (self, pending);
        s_pending_free (pending);
    }
}

static int
s_on_pipe (zloop_t *loop, zsock_t *pipe, void *arg)
{
    zm_reactor_t *self = (zm_reactor_t *) arg;
    char *command = zstr_recv (pipe);
    if (!command)
        return -1;
    int rc = 0;
    if (streq (command, "$TERM"))
        rc = -1;
    else if (streq (command, "QUIESCE")) {
        s_quiesce (self);
        zsock_signal (pipe, 0);
    }
    else if (streq (command, "EXEC")) {
        zm_reactor_exec_fn *fn;
        void *fn_arg;
        zsock_recv (pipe, "pp", &fn, &fn_arg);
        int fn_rc = fn (self, fn_arg);
        s_drain (self);
        zsock_signal (pipe, (byte) fn_rc);
    }
    else if (streq (command, "IDLE?")) {
        //  Idle: nothing queued, nothing waiting for a reply, nothing in the
        //  inbox. Outboxes are always empty between dispatch rounds.
        bool idle = !self->rq_head && !self->pend_head
                    && !(zsock_events (self->inbox) & ZMQ_POLLIN);
        zsock_signal (pipe, idle ? 1 : 0);
    }
    else if (streq (command, "DRAIN")) {
        while (s_read_inbox (self, INT32_MAX) > 0)
            ;
        s_free_chain (self->rq_head, ZM_ECLOSED);
        self->rq_head = self->rq_tail = NULL;
        zsock_signal (pipe, 0);
    }
    else
        zm_log_error ("reactor %d: unknown command %s", self->index, command);
    zstr_free (&command);
    return rc;
}

void
zm_reactor_drain (zm_reactor_t *self)
{
    s_drain (self);
}

static int
s_on_reader (zloop_t *loop, zsock_t *sock, void *arg)
{
    s_reader_t *reader = (s_reader_t *) arg;
    //  The handler may end its own reader (and free it): read it first.
    zm_reactor_t *reactor = reader->reactor;
    int rc = reader->fn (loop, sock, reader->arg);
    s_drain (reactor);
    return rc;
}

int
zm_reactor_reader (zm_reactor_t *self, zsock_t *sock, zloop_reader_fn *fn, void *arg)
{
    s_reader_t *reader = (s_reader_t *) calloc (1, sizeof (s_reader_t));
    if (!reader)
        return ZM_ENOMEM;
    reader->reactor = self;
    reader->fn = fn;
    reader->arg = arg;
    reader->sock = sock;
    if (zloop_reader (self->loop, sock, s_on_reader, reader) != 0) {
        free (reader);
        return ZM_EIO;
    }
    zlistx_add_end (self->readers, reader);
    return 0;
}

void
zm_reactor_reader_end (zm_reactor_t *self, zsock_t *sock)
{
    zloop_reader_end (self->loop, sock);
    for (s_reader_t *reader = (s_reader_t *) zlistx_first (self->readers); reader;
         reader = (s_reader_t *) zlistx_next (self->readers))
        if (reader->sock == sock) {
            zlistx_delete (self->readers, zlistx_cursor (self->readers));
            free (reader);
            break;
        }
}

int
zm_reactor_exec (zm_reactor_t *self, zm_reactor_exec_fn *fn, void *arg)
{
    if (zm_reactor_current () == self)
        return fn (self, arg);
    if (!self->thread || self->init_rc != 0)
        return ZM_ECLOSED;
    zstr_sendm (self->thread, "EXEC");
    zsock_send (self->thread, "pp", fn, arg);
    return zsock_wait (self->thread);
}

void **
zm_reactor_module (zm_reactor_t *self, int module)
{
    return &self->modules[module];
}

void
zm_reactor_set_module_stop (zm_reactor_t *self, int module, zm_reactor_exec_fn *stop)
{
    self->module_stop[module] = stop;
}

zloop_t *
zm_reactor_loop (zm_reactor_t *self)
{
    return self->loop;
}

static void
s_reactor_thread (zsock_t *pipe, void *args)
{
    zm_reactor_t *self = (zm_reactor_t *) args;
    s_current = self;
    int count = atomic_load (&self->node->reactor_total);
    if (self->index >= count)
        count = self->index + 1; //  a dedicated reactor being added
    self->inbox = zsock_new (ZMQ_PULL);
    self->out = (zsock_t **) calloc (ZM_MAX_REACTORS, sizeof (zsock_t *));
    self->outbox = (s_chain_t *) calloc (ZM_MAX_REACTORS, sizeof (s_chain_t));
    self->loop = zloop_new ();
    self->readers = zlistx_new ();
    if (!self->inbox || !self->out || !self->outbox || !self->loop || !self->readers)
        goto fail;
    //  Unbounded inproc queues: two reactors telling each other must never
    //  block each other (a bounded pipe would deadlock them).
    zsock_set_rcvhwm (self->inbox, 0);
    if (zsock_bind (self->inbox, "%s", self->endpoint) != 0)
        goto fail;
    for (int r = 0; r < count; r++) {
        if (r == self->index)
            continue;
        self->out[r] = zsock_new (ZMQ_PUSH);
        if (!self->out[r])
            goto fail;
        zsock_set_sndhwm (self->out[r], 0);
        if (zsock_connect (self->out[r], "inproc://zm-%s-%d", self->node->uuid, r) != 0)
            goto fail;
    }
    zloop_set_nonstop (self->loop, true);
    if (zloop_reader (self->loop, pipe, s_on_pipe, self) != 0
        || zloop_reader (self->loop, self->inbox, s_on_inbox, self) != 0)
        goto fail;
    self->init_rc = 0;
    zsock_signal (pipe, 0);
    zloop_start (self->loop);
    goto done;
fail:
    self->init_rc = ZM_EIO;
    zsock_signal (pipe, 0);
    //  Wait for $TERM so zactor_destroy does not hang.
    char *command;
    while ((command = zstr_recv (pipe))) {
        bool term = streq (command, "$TERM");
        zstr_free (&command);
        if (term)
            break;
        zsock_signal (pipe, 0);
    }
done:
    //  Modules own their sockets; they were told to close them (EXEC) before
    //  $TERM. What readers are left are freed here.
    if (self->readers) {
        s_reader_t *reader;
        while ((reader = (s_reader_t *) zlistx_detach (self->readers, NULL)))
            free (reader);
    }
    zloop_destroy (&self->loop);
    if (self->out)
        for (int r = 0; r < ZM_MAX_REACTORS; r++)
            zsock_destroy (&self->out[r]);
    free (self->out);
    self->out = NULL;
    free (self->outbox);
    self->outbox = NULL;
    zsock_destroy (&self->inbox);
    zlistx_destroy (&self->readers);
    s_current = NULL;
}

//  --------------------------------------------------------------------------
//  Life cycle

static size_t
s_id_hash (const void *key)
{
    uint64_t x = (uint64_t) (uintptr_t) key;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    return (size_t) (x ^ (x >> 33));
}

static int
s_id_compare (const void *a, const void *b)
{
    uintptr_t x = (uintptr_t) a, y = (uintptr_t) b;
    return x < y ? -1 : x > y;
}

zhashx_t *
zm_id_table_new (void)
{
    zhashx_t *table = zhashx_new ();
    if (table) {
        zhashx_set_key_hasher (table, s_id_hash);
        zhashx_set_key_comparator (table, s_id_compare);
        zhashx_set_key_duplicator (table, NULL);
        zhashx_set_key_destructor (table, NULL);
    }
    return table;
}

zm_reactor_t *
zm_reactor_new (zm_node_t *node, int index)
{
    zm_reactor_t *self = (zm_reactor_t *) calloc (1, sizeof (zm_reactor_t));
    if (!self)
        return NULL;
    self->node = node;
    self->index = index;
    self->timer_id = -1;
    self->next_ask_id = 1;
    self->init_rc = ZM_EIO;
    pthread_mutex_init (&self->slot_lock, NULL);
    snprintf (self->endpoint, sizeof self->endpoint, "inproc://zm-%s-%d", node->uuid, index);
    self->pending = zm_id_table_new ();
    if (!self->pending)
        goto fail;
    self->thread = zactor_new (s_reactor_thread, self);
    if (!self->thread || self->init_rc != 0)
        goto fail;
    return self;
fail:
    zm_reactor_destroy (&self);
    return NULL;
}

void
zm_reactor_quiesce (zm_reactor_t *self)
{
    if (self && self->thread && self->init_rc == 0) {
        zstr_send (self->thread, "QUIESCE");
        zsock_wait (self->thread);
    }
}

static void
s_drain_remote (zm_reactor_t *self)
{
    if (self && self->thread && self->init_rc == 0) {
        zstr_send (self->thread, "DRAIN");
        zsock_wait (self->thread);
    }
}

void
zm_reactor_destroy (zm_reactor_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zm_reactor_t *self = *self_p;
    zactor_destroy (&self->thread);
    //  Actors spawned after quiescing (a race with shutdown) never ran.
    for (uint32_t slot = 0; slot < self->slot_next; slot++) {
        s_slot_t *chunk = atomic_load (&self->chunks[slot / ZM_SLOT_CHUNK]);
        zm_actor_t *actor = atomic_load (&chunk[slot % ZM_SLOT_CHUNK].actor);
        if (actor)
            s_actor_stop (self, actor);
    }
    for (uint32_t c = 0; c < ZM_SLOT_CHUNKS; c++)
        free (atomic_load (&self->chunks[c]));
    while (self->pend_head) {
        s_pending_t *pending = self->pend_head;
        s_pending_unlink (self, pending);
        s_pending_free (pending);
    }
    zhashx_destroy (&self->pending);
    pthread_mutex_destroy (&self->slot_lock);
    free (self);
    *self_p = NULL;
}

static bool
s_all_idle (zm_reactor_t **reactors, int count)
{
    bool idle = true;
    for (int r = 0; r < count; r++) {
        zm_reactor_t *self = reactors[r];
        if (self && self->thread && self->init_rc == 0) {
            zstr_send (self->thread, "IDLE?");
            if (zsock_wait (self->thread) != 1)
                idle = false;
        }
    }
    return idle;
}

//  Shut a set of reactors down (see zm_runtime.h for the phases).
void
zm_reactors_shutdown (zm_reactor_t **reactors, int count, int drain_ms)
{
    //  Phase 0: let in-flight work finish, bounded. Two idle rounds in a row
    //  make a message caught between reactors during one round unlikely to
    //  be missed; the bound makes a never-ending exchange harmless.
    int64_t until = zclock_mono () + drain_ms;
    int idle_rounds = 0;
    while (drain_ms > 0 && zclock_mono () < until) {
        if (s_all_idle (reactors, count)) {
            if (++idle_rounds == 2)
                break;
        }
        else {
            idle_rounds = 0;
            zclock_sleep (1);
        }
    }
    for (int r = 0; r < count; r++)
        zm_reactor_quiesce (reactors[r]);
    for (int r = 0; r < count; r++)
        s_drain_remote (reactors[r]);
    for (int r = 0; r < count; r++)
        zm_reactor_destroy (&reactors[r]);
}

zm_reactor_t *
zm_reactor_current (void)
{
    return s_current;
}

zm_node_t *
zm_reactor_node (zm_reactor_t *self)
{
    return self->node;
}

int
zm_reactor_index (zm_reactor_t *self)
{
    return self->index;
}
