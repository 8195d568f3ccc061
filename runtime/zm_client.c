/*  =========================================================================
    zm_client - calls: instances from the registry, selector, retry

    Three pieces, behind zm_call (plain threads) and zm_call_async (actors):
      - the per-thread client: a DEALER per remote endpoint, created on first
        use with ZMQ_IMMEDIATE (a send to a peer that is not connected fails
        at once instead of queueing, which is how a dead instance is noticed
        without waiting out a timeout) and a correlation counter;
      - the instances of a service, from the node's registry cache
        (zm_registry.c, fed by discovery, static peers and the node itself);
      - the selector: per endpoint address, calls outstanding and the circuit
        breaker (consecutive failures, put aside until, trial in flight),
        shared by every thread of the node under client_lock.

    A thread's client belongs to one node: it is registered with the node,
    which frees it when destroyed. The thread finds its client through a
    thread-local pointer tagged with the node's epoch, so a client of a
    destroyed node is never touched again.
    =========================================================================
*/
#include "zm_runtime.h"
#include "zm_wire.h"
#include <sodium.h>

#define ZM_MAX_CANDIDATES 256

typedef struct {
    zm_node_t *node;          //  owner
    zhashx_t *dealers;        //  address -> zsock_t (DEALER)
    uint64_t next_corr;       //  correlation ids of this thread
} s_client_t;

static __thread s_client_t *s_client = NULL;
static __thread uint64_t s_client_epoch = 0;

//  Is match usable as a filter: NULL, or a map of string to string?
static bool
s_match_valid (const zm_msg_t *match)
{
    if (!match)
        return true;
    const zm_val_t *map = zm_msg_root (match);
    if (zm_val_type (map) != ZM_TYPE_MAP)
        return false;
    for (size_t i = 0; i < zm_val_size (map); i++)
        if (!zm_val_key_at (map, i, NULL) || zm_val_type (zm_val_at (map, i)) != ZM_TYPE_STR)
            return false;
    return true;
}

typedef struct {
    int outstanding;          //  calls in flight
    int failures;             //  consecutive failures
    int64_t open_until;       //  breaker open until (zclock_mono), 0: closed
    bool trial;               //  a half-open trial is in flight
    unsigned turn;            //  round robin position (per service, see below)
} s_stat_t;

typedef struct {
    zhashx_t *stats;          //  address -> s_stat_t
    zhashx_t *turns;          //  service -> unsigned round robin counter
} s_selector_t;

//  --------------------------------------------------------------------------
//  Per-thread pseudo-random numbers, for picking instances and making trace
//  ids: splitmix64 seeded once from libsodium. randombytes_* asks the
//  kernel on every call, which showed as a syscall per RPC. Not for
//  secrets. A forked child reseeds (it would repeat its parent otherwise).

static __thread uint64_t s_rand_state = 0;
static pthread_once_t s_rand_once = PTHREAD_ONCE_INIT;

static void
s_rand_forked (void)
{
    s_rand_state = 0;
}

static void
s_rand_setup (void)
{
    pthread_atfork (NULL, NULL, s_rand_forked);
}

static uint64_t
s_rand64 (void)
{
    if (!s_rand_state) {
        pthread_once (&s_rand_once, s_rand_setup);
        randombytes_buf (&s_rand_state, sizeof s_rand_state);
        s_rand_state |= 1;
    }
    uint64_t z = (s_rand_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

//  Uniform in 0..n-1 (n > 0)
static uint32_t
s_rand_below (uint32_t n)
{
    return (uint32_t) (((s_rand64 () >> 32) * n) >> 32);
}

//  A new trace id: 32 hex digits
static void
s_trace_new (char *trace_id, size_t size)
{
    uint64_t high = s_rand64 (), low = s_rand64 ();
    snprintf (trace_id, size, "%016" PRIx64 "%016" PRIx64, high, low);
}

//  --------------------------------------------------------------------------
//  The per-thread client

static void
s_dealer_free (void **item)
{
    zsock_destroy ((zsock_t **) item);
}

static s_client_t *
s_client_get (zm_node_t *node)
{
    if (s_client && s_client_epoch == node->epoch)
        return s_client;
    s_client_t *client = (s_client_t *) calloc (1, sizeof (s_client_t));
    if (!client)
        return NULL;
    client->node = node;
    client->dealers = zhashx_new ();
    if (!client->dealers) {
        free (client);
        return NULL;
    }
    zhashx_set_destructor (client->dealers, s_dealer_free);
    //  Correlation ids start at a random point: a restarted caller never
    //  mistakes an old reply for a new one.
    randombytes_buf (&client->next_corr, sizeof client->next_corr);
    client->next_corr >>= 1;
    pthread_mutex_lock (&node->client_lock);
    zlistx_add_end (node->clients, client);
    pthread_mutex_unlock (&node->client_lock);
    s_client = client;
    s_client_epoch = node->epoch;
    return client;
}

static zsock_t *
s_dealer_made (s_client_t *client, const char *address, bool *made_p);

static zsock_t *
s_dealer (s_client_t *client, const char *address)
{
    return s_dealer_made (client, address, NULL);
}

//  The DEALER to address, made (and connected) if needed: *made_p says so.
static zsock_t *
s_dealer_made (s_client_t *client, const char *address, bool *made_p)
{
    if (made_p)
        *made_p = false;
    zsock_t *dealer = (zsock_t *) zhashx_lookup (client->dealers, address);
    if (dealer)
        return dealer;
    if (made_p)
        *made_p = true;
    dealer = zsock_new (ZMQ_DEALER);
    if (!dealer)
        return NULL;
    zsock_set_immediate (dealer, 1);
    zsock_set_linger (dealer, 0);
    //  Queue-group events go out on these sockets too, in bursts.
    int hwm = (int) zm_config_get_int (client->node->config, "pubsub.hwm", 10000);
    if (hwm > 1000 || hwm == 0)
        zsock_set_sndhwm (dealer, hwm);
    if (zm_auth_connect (client->node, dealer, address) != 0) {
        zsock_destroy (&dealer);
        return NULL;
    }
    zhashx_insert (client->dealers, address, dealer);
    return dealer;
}

static void
s_dealer_drop (s_client_t *client, const char *address)
{
    //  A fresh socket after a failure: nothing stale queued in it.
    zhashx_delete (client->dealers, address);
}

void
zm_clients_destroy (zm_node_t *node)
{
    if (node->clients) {
        s_client_t *client;
        while ((client = (s_client_t *) zlistx_detach (node->clients, NULL))) {
            zhashx_destroy (&client->dealers);
            free (client);
        }
    }
    s_selector_t *selector = (s_selector_t *) node->selector;
    if (selector) {
        zhashx_destroy (&selector->stats);
        zhashx_destroy (&selector->turns);
        free (selector);
        node->selector = NULL;
    }
}

//  --------------------------------------------------------------------------
//  One attempt on one address

static void
s_free_frame (void *data, void *hint)
{
    zframe_t *frame = (zframe_t *) hint;
    zframe_destroy (&frame);
}

typedef struct {
    const char *service;          //  what is called
    const char *endpoint;         //  which endpoint
    const char *content_type;     //  request and reply
    const char *version;          //  required version or NULL
    const zm_msg_t *metadata;     //  sent along
    char trace_id[129];           //  sent along
    const void *body;             //  encoded request
    size_t body_size;             //  its size
    const zm_val_t *metadata_val; //  metadata passed on from a handler's call
} s_call_t;

//  Send the REQUEST of a call on a DEALER: 0, ZM_EUNAVAIL when the socket
//  refused it (flags ZMQ_DONTWAIT), or an encoding error.
static int
s_request_send (void *handle, s_call_t *call, uint64_t corr, int64_t left, const char *caller,
                int flags)
{
    zm_wire_t wire = {0};
    wire.command = ZM_CMD_REQUEST;
    wire.corr = corr;
    wire.service = call->service;
    wire.endpoint = call->endpoint;
    wire.content_type = call->content_type;
    wire.timeout_ms = (uint32_t) (left > 0 ? left : 1);
    wire.metadata = call->metadata_val ? call->metadata_val
                    : call->metadata  ? zm_msg_root (call->metadata)
                                      : NULL;
    wire.trace_id = call->trace_id;
    wire.caller = caller;
    wire.version = call->version;
    return zm_wire_send (handle, NULL, &wire, call->body, call->body_size, flags);
}

//  Returns 0 (reply in *rep_p), a retryable failure (ZM_EUNAVAIL: not
//  connected or 503; ZM_ETIMEOUT: attempt timed out) or the answer's error.
static int
s_attempt (s_client_t *client, const char *address, s_call_t *call, int64_t attempt_ms,
           int64_t deadline, zm_msg_t **rep_p, zm_error_t **error_p)
{
    zsock_t *dealer = s_dealer (client, address);
    if (!dealer) {
        if (!strchr (address, '#') && client->node->auth->curve)
            *error_p = zm_error_new (ZM_EINVAL, "zmicro.client",
                                     "cannot connect to %s: no public key for it (give "
                                     "tcp://host:port#KEY, KEY the node's public key)",
                                     address);
        else
            *error_p = zm_error_new (ZM_EINVAL, "zmicro.client", "cannot connect to %s", address);
        return ZM_EINVAL;
    }
    void *handle = zsock_resolve (dealer);
    int64_t until = zclock_mono () + attempt_ms;
    //  With ZMQ_IMMEDIATE the socket is writable only once connected.
    zmq_pollitem_t item = {handle, 0, ZMQ_POLLOUT, 0};
    if (zmq_poll (&item, 1, (long) attempt_ms) <= 0 || !(item.revents & ZMQ_POLLOUT)) {
        *error_p = zm_error_new (ZM_EUNAVAIL, "zmicro.client", "cannot connect to %s", address);
        return ZM_EUNAVAIL;
    }
    uint64_t corr = ++client->next_corr;
    int rc = s_request_send (handle, call, corr, deadline - zclock_mono (), client->node->name,
                             ZMQ_DONTWAIT);
    if (rc == ZM_EUNAVAIL) {
        *error_p = zm_error_new (ZM_EUNAVAIL, "zmicro.client", "cannot send to %s", address);
        return ZM_EUNAVAIL;
    }
    if (rc) {
        *error_p = zm_error_new (rc, "zmicro.client", "cannot build the request");
        return rc;
    }
    while (true) {
        int64_t wait = until - zclock_mono ();
        item.events = ZMQ_POLLIN;
        item.revents = 0;
        if (wait <= 0 || zmq_poll (&item, 1, (long) wait) <= 0) {
            if (zsys_interrupted || wait <= 0 || zmq_errno () != EINTR) {
                *error_p = zm_error_new (ZM_ETIMEOUT, "zmicro.client",
                                         "no answer from %s within %" PRId64 " ms", address,
                                         attempt_ms);
                return ZM_ETIMEOUT;
            }
            continue;
        }
        zm_wire_t got;
        rc = zm_wire_recv (handle, NULL, 0, &got);
        if (rc == -1)
            continue;
        if (rc || got.corr != corr) {
            //  Malformed, or the late answer of an earlier attempt: never
            //  delivered to this call.
            zm_wire_clear (&got);
            continue;
        }
        if (got.command == ZM_CMD_REPLY) {
            rc = 0;
            if (rep_p && got.body && zframe_size (got.body) > 0) {
                const char *reason = NULL;
                rc = zm_msg_decode_inplace (got.content_type, zframe_data (got.body),
                                            zframe_size (got.body), s_free_frame, got.body,
                                            rep_p, &reason);
                if (rc == 0)
                    got.body = NULL;
                else
                    *error_p = zm_error_new (rc, "zmicro.client", "cannot decode the reply: %s",
                                             reason ? reason : zm_strerror (rc));
            }
            zm_wire_clear (&got);
            return rc;
        }
        if (got.command == ZM_CMD_ERROR) {
            *error_p = zm_wire_error_value (&got);
            rc = *error_p ? zm_error_err (*error_p) : ZM_ENOMEM;
            zm_wire_clear (&got);
            return rc ? rc : ZM_EINTERNAL;
        }
        zm_wire_clear (&got); //  anything else is not an answer to a request
    }
}

//  --------------------------------------------------------------------------
//  Selector and circuit breaker

static s_selector_t *
s_selector (zm_node_t *node)
{
    if (!node->selector) {
        s_selector_t *selector = (s_selector_t *) calloc (1, sizeof (s_selector_t));
        if (!selector)
            return NULL;
        selector->stats = zhashx_new ();
        selector->turns = zhashx_new ();
        if (!selector->stats || !selector->turns) {
            zhashx_destroy (&selector->stats);
            zhashx_destroy (&selector->turns);
            free (selector);
            return NULL;
        }
        zhashx_set_destructor (selector->stats, (zhashx_destructor_fn *) zstr_free);
        zhashx_set_destructor (selector->turns, (zhashx_destructor_fn *) zstr_free);
        node->selector = selector;
    }
    return (s_selector_t *) node->selector;
}

static s_stat_t *
s_stat (s_selector_t *selector, const char *address)
{
    s_stat_t *stat = (s_stat_t *) zhashx_lookup (selector->stats, address);
    if (!stat && (stat = (s_stat_t *) calloc (1, sizeof (s_stat_t))))
        zhashx_insert (selector->stats, address, stat);
    return stat;
}

typedef zm_select_t s_strategy_t;
#define S_RANDOM      ZM_SELECT_RANDOM
#define S_ROUND_ROBIN ZM_SELECT_ROUND_ROBIN
#define S_LEAST       ZM_SELECT_LEAST

//  Pick an address among candidates not tried yet; -1 when none is usable.
//  Marks the pick outstanding (and as the breaker's trial when half open).
static int
s_pick (zm_node_t *node, const char *service, char candidates[][128], int count,
        const bool *tried, s_strategy_t strategy, bool breaker)
{
    int usable[ZM_MAX_CANDIDATES];
    int n = 0;
    int64_t now = zclock_mono ();
    pthread_mutex_lock (&node->client_lock);
    s_selector_t *selector = s_selector (node);
    if (!selector) {
        pthread_mutex_unlock (&node->client_lock);
        return -1;
    }
    for (int i = 0; i < count; i++) {
        if (tried[i])
            continue;
        s_stat_t *stat = s_stat (selector, candidates[i]);
        if (!stat)
            continue;
        //  Closed, or open with its cooldown over and no trial running.
        if (breaker && stat->open_until && (now < stat->open_until || stat->trial))
            continue;
        usable[n++] = i;
    }
    int pick = -1;
    if (n > 0) {
        if (strategy == S_ROUND_ROBIN) {
            unsigned *turn = (unsigned *) zhashx_lookup (selector->turns, service);
            if (!turn && (turn = (unsigned *) calloc (1, sizeof (unsigned))))
                zhashx_insert (selector->turns, service, turn);
            pick = usable[turn ? (*turn)++ % (unsigned) n : 0];
        }
        else if (strategy == S_LEAST) {
            int best = INT32_MAX;
            unsigned start = s_rand_below ((uint32_t) n);
            for (int k = 0; k < n; k++) {
                int i = usable[(start + (unsigned) k) % (unsigned) n];
                int outstanding = s_stat (selector, candidates[i])->outstanding;
                if (outstanding < best) {
                    best = outstanding;
                    pick = i;
                }
            }
        }
        else
            pick = usable[s_rand_below ((uint32_t) n)];
        s_stat_t *stat = s_stat (selector, candidates[pick]);
        stat->outstanding++;
        if (breaker && stat->open_until)
            stat->trial = true;
    }
    pthread_mutex_unlock (&node->client_lock);
    return pick;
}

//  Give back the outstanding count of a pick, nothing else.
static void
s_release (zm_node_t *node, const char *address)
{
    pthread_mutex_lock (&node->client_lock);
    s_selector_t *selector = s_selector (node);
    s_stat_t *stat = selector ? s_stat (selector, address) : NULL;
    if (stat) {
        stat->outstanding--;
        stat->trial = false;
    }
    pthread_mutex_unlock (&node->client_lock);
}

static void
s_done (zm_node_t *node, const char *address, bool failed)
{
    int threshold = atomic_load (&node->breaker_failures);
    int cooldown = atomic_load (&node->breaker_cooldown);
    pthread_mutex_lock (&node->client_lock);
    s_selector_t *selector = s_selector (node);
    s_stat_t *stat = selector ? s_stat (selector, address) : NULL;
    if (stat) {
        stat->outstanding--;
        bool trial = stat->trial;
        stat->trial = false;
        if (!failed) {
            if (stat->open_until)
                zm_log_notice ("rpc: %s answers again; breaker closed", address);
            stat->failures = 0;
            stat->open_until = 0;
        }
        else if (trial || ++stat->failures >= threshold) {
            if (!stat->open_until || trial)
                zm_log_warning ("rpc: %s failed %d time(s); put aside for %d ms", address,
                                stat->failures, cooldown);
            stat->open_until = zclock_mono () + cooldown;
        }
    }
    pthread_mutex_unlock (&node->client_lock);
}

//  --------------------------------------------------------------------------
//  What streams (zm_stream.c) share with calls

int
zm_client_candidates (zm_node_t *node, const char *service, const zm_call_opts_t *opts,
                      int64_t deadline, char (**candidates_p)[128], zm_error_t **error_p)
{
    *candidates_p = NULL;
    if (!s_match_valid (opts->match)) {
        *error_p = zm_error_new (ZM_EINVAL, "zmicro.client", "opts.match is not a map of strings");
        return -ZM_EINVAL;
    }
    char (*candidates)[128] = calloc (opts->address ? 1 : ZM_MAX_CANDIDATES, sizeof *candidates);
    if (!candidates)
        return -ZM_ENOMEM;
    int count;
    if (opts->address) {
        snprintf (candidates[0], 128, "%s", opts->address);
        count = 1;
    }
    else {
        count = zm_registry_candidates (node, service, opts->version, opts->match, candidates,
                                        ZM_MAX_CANDIDATES);
        //  Just after start, discovery may not have heard of the service
        //  yet: wait for it, within the deadline (0: never wait).
        int64_t settle = atomic_load (&node->settle_until);
        if (deadline && (count == 0 || !atomic_load (&node->statics_ready))
            && zclock_mono () < settle) {
            zm_registry_wait (node, service, settle < deadline ? settle : deadline);
            count = zm_registry_candidates (node, service, opts->version, opts->match,
                                            candidates, ZM_MAX_CANDIDATES);
        }
    }
    if (count == 0) {
        free (candidates);
        *error_p = zm_error_new (ZM_ENOTFOUND, "zmicro.client", "no instance of service '%s'%s%s",
                                 service, opts->version ? " version " : "",
                                 opts->version ? opts->version : "");
        return -ZM_ENOTFOUND;
    }
    *candidates_p = candidates;
    return count;
}

int
zm_client_pick (zm_node_t *node, const char *service, char candidates[][128], int count,
                const bool *tried, const zm_call_opts_t *opts)
{
    s_strategy_t strategy = opts->selector ? (s_strategy_t) zm_select_parse (opts->selector)
                                           : (s_strategy_t) atomic_load (&node->rpc_selector);
    return s_pick (node, service, candidates, count, tried, strategy, !opts->no_breaker);
}

void
zm_client_done (zm_node_t *node, const char *address, bool failed, bool breaker)
{
    if (breaker)
        s_done (node, address, failed);
    else
        s_release (node, address);
}

void
zm_client_trace (char *trace_id, size_t size)
{
    s_trace_new (trace_id, size);
}

uint64_t
zm_client_corr (void)
{
    return s_rand64 ();
}

//  --------------------------------------------------------------------------
//  zm_call

static bool
s_retryable (int rc)
{
    return rc == ZM_EUNAVAIL || rc == ZM_ETIMEOUT || rc == ZM_ECLOSED;
}

int
zm_call (zm_node_t *node, const char *service, const char *endpoint, zm_msg_t **req_p,
         zm_msg_t **rep_p, zm_error_t **error_p, const zm_call_opts_t *opts)
{
    static const zm_call_opts_t defaults = ZM_CALL_OPTS_DEFAULT;
    zm_error_t *error = NULL;
    zm_msg_t *req = req_p ? *req_p : NULL;
    if (req_p)
        *req_p = NULL;
    if (rep_p)
        *rep_p = NULL;
    if (error_p)
        *error_p = NULL;
    if (!opts)
        opts = &defaults;
    int rc = 0;
    void *body = NULL;
    char (*candidates)[128] = NULL;
    s_call_t call = {service, endpoint, opts->content_type ? opts->content_type : ZM_CT_MSGPACK,
                     opts->version, opts->metadata, "", NULL, 0, NULL};
    if (!node || !service || !endpoint || !*service || !*endpoint) {
        rc = ZM_EINVAL;
        error = zm_error_new (rc, "zmicro.client", "service and endpoint are required");
        goto done;
    }
    if (!s_match_valid (opts->match)) {
        rc = ZM_EINVAL;
        error = zm_error_new (rc, "zmicro.client", "opts.match is not a map of strings");
        goto done;
    }
    if (zm_reactor_current ()) {
        rc = ZM_EBLOCKING;
        error = zm_error_new (rc, "zmicro.client",
                              "zm_call blocks; from a handler, ask an actor instead");
        goto done;
    }
    if (atomic_load (&node->stopping)) {
        rc = ZM_ECLOSED;
        error = zm_error_new (rc, "zmicro.client", "node is stopping");
        goto done;
    }
    s_client_t *client = s_client_get (node);
    if (!client) {
        rc = ZM_ENOMEM;
        goto done;
    }
    int timeout = opts->timeout_ms > 0 ? opts->timeout_ms : atomic_load (&node->rpc_timeout);
    int retries = opts->retries >= 0 ? opts->retries : atomic_load (&node->rpc_retries);
    int backoff = atomic_load (&node->rpc_backoff);
    s_strategy_t strategy = opts->selector ? (s_strategy_t) zm_select_parse (opts->selector)
                                           : (s_strategy_t) atomic_load (&node->rpc_selector);
    int64_t deadline = zclock_mono () + timeout;
    if (opts->trace_id)
        snprintf (call.trace_id, sizeof call.trace_id, "%s", opts->trace_id);
    else
        s_trace_new (call.trace_id, sizeof call.trace_id);
    if (req) {
        rc = zm_msg_encode (req, call.content_type, &body, &call.body_size);
        if (rc) {
            error = zm_error_new (rc, "zmicro.client", "cannot encode the request as %s",
                                  call.content_type);
            goto done;
        }
        call.body = body;
    }

    int count = zm_client_candidates (node, service, opts, deadline, &candidates, &error);
    if (count < 0) {
        rc = -count;
        goto done;
    }
    bool tried[ZM_MAX_CANDIDATES] = {false};
    int attempts = retries + 1;
    for (int attempt = 0; attempt < attempts; attempt++) {
        int64_t left = deadline - zclock_mono ();
        if (left <= 0) {
            if (!error)
                error = zm_error_new (ZM_ETIMEOUT, "zmicro.client", "deadline passed");
            rc = ZM_ETIMEOUT;
            break;
        }
        int pick = s_pick (node, service, candidates, count, tried, strategy, !opts->no_breaker);
        if (pick < 0 && opts->address == NULL && attempt > 0) {
            //  Every instance was tried once: allow a second round.
            memset (tried, 0, sizeof tried);
            pick = s_pick (node, service, candidates, count, tried, strategy, !opts->no_breaker);
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
        //  Each attempt gets its share of what is left of the deadline.
        int64_t share = left / (attempts - attempt);
        rc = s_attempt (client, candidates[pick], &call, share > 0 ? share : 1, deadline, rep_p,
                        &error);
        bool failed = s_retryable (rc);
        if (opts->no_breaker)
            s_release (node, candidates[pick]);
        else
            s_done (node, candidates[pick], failed);
        if (!failed)
            break;
        s_dealer_drop (client, candidates[pick]);
        if (attempt + 1 < attempts && backoff > 0) {
            int64_t pause = (int64_t) backoff << (attempt < 10 ? attempt : 10);
            int64_t room = deadline - zclock_mono ();
            zclock_sleep ((int) (pause < room ? pause : (room > 0 ? room : 0)));
        }
    }
done:
    free (candidates);
    free (body);
    zm_msg_destroy (&req);
    if (rc && !error)
        error = zm_error_new (rc, "zmicro.client", "%s", zm_strerror (rc));
    if (error_p)
        *error_p = error;
    else
        zm_error_destroy (&error);
    return rc;
}

//  --------------------------------------------------------------------------
//  Asynchronous calls from handlers: the reactor's own DEALERs
//
//  The request goes out on a DEALER this reactor owns and reads; the
//  answer comes back to the calling actor as a message of its reply type,
//  through the same pending-reply table that asks use, so timeouts and late
//  answers behave exactly as for local asks. A call that times out is not
//  retried (its actor decides); the breaker keeps a dead instance aside.

typedef struct {
    char address[128];    //  where it went
    zm_pid_t asker;       //  who gets the answer
    int64_t deadline;     //  zclock_mono, for the breaker's bookkeeping
    bool breaker;         //  counted by the breaker (not opts.no_breaker)
} s_inflight_t;

typedef struct {
    zm_node_t *node;      //  owner
    zm_reactor_t *reactor;//  where it runs
    zhashx_t *dealers;    //  address -> zsock_t
    zhashx_t *inflight;   //  id -> s_inflight_t
    int sweep_timer;      //  zloop timer for expired calls
} s_rclient_t;

static int
s_rclient_on_dealer (zloop_t *loop, zsock_t *dealer, void *arg)
{
    s_rclient_t *self = (s_rclient_t *) arg;
    void *handle = zsock_resolve (dealer);
    for (int n = 0; n < 256; n++) {
        zm_wire_t got;
        int rc = zm_wire_recv (handle, NULL, 0, &got);
        if (rc == -1)
            break; //  nothing more waiting
        if (rc) {
            zm_wire_clear (&got);
            continue;
        }
        void *key = (void *) (uintptr_t) got.corr;
        s_inflight_t *call = (s_inflight_t *) zhashx_lookup (self->inflight, key);
        if (!call || (got.command != ZM_CMD_REPLY && got.command != ZM_CMD_ERROR)) {
            zm_wire_clear (&got); //  late (timed out and swept) or not an answer
            continue;
        }
        zm_env_t *env = zm_env_new (ZM_ENV_REPLY, call->asker, 0, "", NULL);
        bool failed = false;
        if (env) {
            env->ask_id = got.corr;
            if (got.command == ZM_CMD_REPLY) {
                if (got.body && zframe_size (got.body) > 0) {
                    const char *reason = NULL;
                    rc = zm_msg_decode_inplace (got.content_type, zframe_data (got.body),
                                                zframe_size (got.body), s_free_frame, got.body,
                                                &env->msg, &reason);
                    if (rc == 0)
                        got.body = NULL;
                    else {
                        env->status = rc;
                        env->error = zm_error_new (rc, "zmicro.client",
                                                   "cannot decode the reply: %s",
                                                   reason ? reason : zm_strerror (rc));
                    }
                }
            }
            else {
                env->error = zm_wire_error_value (&got);
                env->status = env->error ? zm_error_err (env->error) : ZM_EINTERNAL;
                failed = s_retryable (env->status);
            }
        }
        if (call->breaker)
            s_done (self->node, call->address, failed);
        else
            s_release (self->node, call->address);
        zhashx_delete (self->inflight, key);
        zm_wire_clear (&got);
        if (env)
            zm_reactor_route (self->reactor, env);
    }
    return 0;
}

static int
s_rclient_sweep (zloop_t *loop, int timer_id, void *arg)
{
    //  Calls whose deadline passed: the actor got its timeout from the
    //  pending table; here the instance is charged with the failure.
    s_rclient_t *self = (s_rclient_t *) arg;
    int64_t now = zclock_mono ();
    zlistx_t *expired = zlistx_new ();
    for (s_inflight_t *call = (s_inflight_t *) zhashx_first (self->inflight); call;
         call = (s_inflight_t *) zhashx_next (self->inflight))
        if (call->deadline < now)
            zlistx_add_end (expired, (void *) zhashx_cursor (self->inflight));
    for (void *key = zlistx_first (expired); key; key = zlistx_next (expired)) {
        s_inflight_t *call = (s_inflight_t *) zhashx_lookup (self->inflight, key);
        if (call->breaker)
            s_done (self->node, call->address, true);
        else
            s_release (self->node, call->address);
        zhashx_delete (self->inflight, key);
    }
    zlistx_destroy (&expired);
    return 0;
}

static int
s_rclient_stop (zm_reactor_t *reactor, void *arg)
{
    s_rclient_t *self = (s_rclient_t *) arg;
    if (!self)
        return 0;
    for (zsock_t *dealer = (zsock_t *) zhashx_first (self->dealers); dealer;
         dealer = (zsock_t *) zhashx_next (self->dealers))
        zm_reactor_reader_end (reactor, dealer);
    zhashx_destroy (&self->dealers);
    zhashx_destroy (&self->inflight);
    if (self->sweep_timer != -1)
        zloop_timer_end (zm_reactor_loop (reactor), self->sweep_timer);
    free (self);
    *zm_reactor_module (reactor, ZM_MODULE_CLIENT) = NULL;
    return 0;
}

static s_rclient_t *
s_rclient (zm_reactor_t *reactor)
{
    s_rclient_t **slot = (s_rclient_t **) zm_reactor_module (reactor, ZM_MODULE_CLIENT);
    if (*slot)
        return *slot;
    s_rclient_t *self = (s_rclient_t *) calloc (1, sizeof (s_rclient_t));
    if (!self)
        return NULL;
    self->node = zm_reactor_node (reactor);
    self->reactor = reactor;
    self->dealers = zhashx_new ();
    self->inflight = zm_id_table_new ();
    if (!self->dealers || !self->inflight) {
        zhashx_destroy (&self->dealers);
        zhashx_destroy (&self->inflight);
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->dealers, s_dealer_free);
    zhashx_set_destructor (self->inflight, (zhashx_destructor_fn *) zstr_free);
    self->sweep_timer = zloop_timer (zm_reactor_loop (reactor), 100, 0, s_rclient_sweep, self);
    *slot = self;
    zm_reactor_set_module_stop (reactor, ZM_MODULE_CLIENT, s_rclient_stop);
    return self;
}

static zsock_t *
s_rclient_dealer (s_rclient_t *self, const char *address)
{
    zsock_t *dealer = (zsock_t *) zhashx_lookup (self->dealers, address);
    if (dealer)
        return dealer;
    dealer = zsock_new (ZMQ_DEALER);
    if (!dealer)
        return NULL;
    //  No ZMQ_IMMEDIATE here: a reactor cannot wait for a fresh connection,
    //  so requests queue until it is up. A dead instance costs a timeout
    //  (and the breaker counts it); work that arrives late is dropped by the
    //  server's deadline check, and its answer by the pending table.
    zsock_set_linger (dealer, 0);
    if (zm_auth_connect (self->node, dealer, address) != 0
        || zm_reactor_reader (self->reactor, dealer, s_rclient_on_dealer, self) != 0) {
        zsock_destroy (&dealer);
        return NULL;
    }
    zhashx_insert (self->dealers, address, dealer);
    return dealer;
}

int
zm_call_async (zm_ctx_t *ctx, const char *service, const char *endpoint, zm_msg_t **req_p,
               const char *reply_type, const zm_call_opts_t *opts, uint64_t *id_p)
{
    static const zm_call_opts_t defaults = ZM_CALL_OPTS_DEFAULT;
    zm_msg_t *req = req_p ? *req_p : NULL;
    if (req_p)
        *req_p = NULL;
    if (!opts)
        opts = &defaults;
    void *body = NULL;
    int rc = 0;
    if (!ctx || !service || !endpoint || !reply_type || !*service || !*endpoint
        || !s_match_valid (opts->match)) {
        rc = ZM_EINVAL;
        goto done;
    }
    //  Forwarding the request being handled: it leaves that envelope.
    if (req && ctx->env && ctx->env->msg == req)
        ctx->env->msg = NULL;
    zm_node_t *node = zm_ctx_node (ctx);
    s_rclient_t *self = s_rclient (ctx->reactor);
    if (!self) {
        rc = ZM_ENOMEM;
        goto done;
    }
    s_call_t call = {service, endpoint, opts->content_type ? opts->content_type : ZM_CT_MSGPACK,
                     opts->version, opts->metadata, "", NULL, 0, NULL};
    //  A call made while handling a call passes its metadata and trace on.
    const zm_msg_t *incoming = ctx->env ? ctx->env->meta : NULL;
    if (!opts->metadata && incoming)
        call.metadata_val = zm_val_get (zm_msg_root (incoming), "metadata");
    const char *trace = opts->trace_id ? opts->trace_id
                                       : incoming ? zm_msg_get_str (incoming, "trace_id", NULL)
                                                  : NULL;
    if (trace)
        snprintf (call.trace_id, sizeof call.trace_id, "%s", trace);
    else
        s_trace_new (call.trace_id, sizeof call.trace_id);
    if (req && (rc = zm_msg_encode (req, call.content_type, &body, &call.body_size)))
        goto done;
    call.body = body;
    int timeout = opts->timeout_ms > 0 ? opts->timeout_ms : atomic_load (&node->rpc_timeout);
    //  Within a call, never outlive the caller's own deadline.
    int64_t remaining = zm_ctx_remaining (ctx);
    if (remaining >= 0 && remaining < timeout)
        timeout = remaining > 0 ? (int) remaining : 1;
    s_strategy_t strategy = opts->selector ? (s_strategy_t) zm_select_parse (opts->selector)
                                           : (s_strategy_t) atomic_load (&node->rpc_selector);
    //  One entry is enough for an explicit address: no 32 KiB per call.
    char (*candidates)[128] = calloc (opts->address ? 1 : ZM_MAX_CANDIDATES, sizeof *candidates);
    if (!candidates) {
        rc = ZM_ENOMEM;
        goto done;
    }
    int count = 0;
    if (opts->address)
        snprintf (candidates[count++], 128, "%s", opts->address);
    else
        //  No blocking refresh on a reactor: what the registry knows now.
        count = zm_registry_candidates (node, service, opts->version, opts->match, candidates,
                                        ZM_MAX_CANDIDATES);
    bool tried[ZM_MAX_CANDIDATES] = {false};
    rc = count ? ZM_EUNAVAIL : ZM_ENOTFOUND;
    for (int attempt = 0; attempt < count; attempt++) {
        int pick = s_pick (node, service, candidates, count, tried, strategy, !opts->no_breaker);
        if (pick < 0)
            break;
        tried[pick] = true;
        zsock_t *dealer = s_rclient_dealer (self, candidates[pick]);
        uint64_t id = dealer ? zm_reactor_expect (ctx->reactor, ctx->actor->pid, reply_type,
                                                  timeout)
                             : 0;
        int sent = id ? s_request_send (zsock_resolve (dealer), &call, id, timeout, node->name,
                                        ZMQ_DONTWAIT)
                      : ZM_ENOMEM;
        //  A full queue (the peer is slow or gone) refuses at once.
        if (sent == ZM_EUNAVAIL) {
            if (opts->no_breaker)
                s_release (node, candidates[pick]);
            else
                s_done (node, candidates[pick], true);
            zm_reactor_forget (ctx->reactor, id);
            continue;
        }
        if (sent) {
            if (id)
                zm_reactor_forget (ctx->reactor, id);
            s_release (node, candidates[pick]);
            rc = sent;
            break;
        }
        s_inflight_t *inflight = (s_inflight_t *) calloc (1, sizeof (s_inflight_t));
        if (inflight) {
            snprintf (inflight->address, sizeof inflight->address, "%s", candidates[pick]);
            inflight->asker = ctx->actor->pid;
            inflight->breaker = !opts->no_breaker;
            inflight->deadline = zclock_mono () + timeout;
            zhashx_insert (self->inflight, (void *) (uintptr_t) id, inflight);
        }
        if (id_p)
            *id_p = id;
        rc = 0;
        break;
    }
    free (candidates);
done:
    free (body);
    zm_msg_destroy (&req);
    return rc;
}

//  --------------------------------------------------------------------------
//  Queue-group events (actors/zm_broker.c): one member, chosen by the
//  selector, gets the EVENT; a member whose connection is down (the send
//  fails at once, ZMQ_IMMEDIATE) counts as a failure and the next is tried.

int
zm_client_send_event (zm_node_t *node, const char *key, char candidates[][128], int count,
                      int local, const zm_wire_t *wire, const void *data, size_t size,
                      int *picked_p)
{
    s_client_t *client = s_client_get (node);
    bool tried[ZM_MAX_CANDIDATES] = {false};
    s_strategy_t strategy = (s_strategy_t) atomic_load (&node->rpc_selector);
    if (count > ZM_MAX_CANDIDATES)
        count = ZM_MAX_CANDIDATES;
    *picked_p = -1;
    for (int attempt = 0; attempt < count; attempt++) {
        int pick = s_pick (node, key, candidates, count, tried, strategy, true);
        if (pick < 0)
            break;
        tried[pick] = true;
        //  Events feed no circuit breaker: a member whose queue is full
        //  and one that is gone look the same to a send (EAGAIN), and
        //  neither should put the member aside for calls. Only the
        //  outstanding count s_pick took is given back.
        s_release (node, candidates[pick]);
        if (pick == local) {
            *picked_p = pick;
            return 0;
        }
        bool made = false;
        zsock_t *dealer = client ? s_dealer_made (client, candidates[pick], &made) : NULL;
        int rc = ZM_EUNAVAIL;
        if (dealer) {
            void *handle = zsock_resolve (dealer);
            //  A socket made just now is still connecting: on a plain thread
            //  wait for it briefly, once per thread and member. A reactor
            //  never waits; the next member gets the event instead.
            if (made && !zm_reactor_current ()) {
                zmq_pollitem_t item = {handle, 0, ZMQ_POLLOUT, 0};
                zmq_poll (&item, 1, 100);
            }
            rc = zm_wire_send (handle, NULL, wire, data, size, ZMQ_DONTWAIT);
        }
        if (rc == 0) {
            *picked_p = pick;
            return 0;
        }
        if (rc != ZM_EUNAVAIL)
            return rc; //  the event itself is bad: no member would take it
    }
    return ZM_EUNAVAIL;
}
