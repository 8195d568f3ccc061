/*  =========================================================================
    zm_node - the node: configuration, identity, reactors, actor directory

    One node per process. zm_node_new reads the configuration, starts R
    reactors and returns; zm_node_run parks the calling thread until SIGINT,
    SIGTERM or zm_node_stop, then shuts down. Shutdown is three phases over
    all reactors (see zm_reactor.c): quiesce (no handler runs any more and
    every actor's destroy has run), drain (whatever was still in an inproc
    pipe is freed, and every blocked zm_node_ask returns ZM_ECLOSED), end.

    Plain threads reach reactors through one PUSH socket per reactor, under
    ext_lock: a socket may move between threads when a mutex orders the
    handoff, and plain-thread traffic is not the hot path.
    =========================================================================
*/
#include "zm_runtime.h"
#include <poll.h>
#include <sodium.h>
#include <unistd.h>

//  zm_node_run wakes on this pipe (write end is async-signal-safe).
static int s_stop_fds[2] = {-1, -1};
static pthread_once_t s_stop_once = PTHREAD_ONCE_INIT;

static void
s_stop_pipe_init (void)
{
    if (pipe (s_stop_fds) == 0) {
        fcntl (s_stop_fds[0], F_SETFL, O_NONBLOCK);
        fcntl (s_stop_fds[1], F_SETFL, O_NONBLOCK);
    }
}

//  SIGINT/SIGTERM while zm_node_run runs: what czmq's own handler does
//  (zsys_interrupted), and a byte on the stop pipe, so the node starts
//  stopping at once rather than at its next poll.
static void
s_on_signal (int signal)
{
    zsys_interrupted = 1;
    char byte = 1;
    if (s_stop_fds[1] >= 0 && write (s_stop_fds[1], &byte, 1) < 0) {
        //  Full pipe: a stop is already pending.
    }
}

static void
s_apply_log_sink (zm_config_t *config)
{
    zsys_set_logident (zm_config_get_str (config, "log.ident", "zmicro"));
    zsys_set_logsystem (zm_config_get_bool (config, "log.syslog", false));
}

static void
s_on_config (zm_config_t *config, const char *const *keys, size_t count, void *arg)
{
    zm_node_t *self = (zm_node_t *) arg;
    for (size_t i = 0; i < count; i++) {
        if (streq (keys[i], "log.level")) {
            const char *level = zm_config_get_str (config, "log.level", "notice");
            if (zm_log_set_level_name (level) == 0)
                zm_log_notice ("node %s: log.level is now %s", self->uuid, level);
        }
        else if (streq (keys[i], "log.syslog") || streq (keys[i], "log.ident"))
            s_apply_log_sink (config);
        else if (streq (keys[i], "actor.ask_timeout"))
            self->ask_timeout = (int) zm_config_get_int (config, "actor.ask_timeout", 5000);
        else if (strncmp (keys[i], "rpc.", 4) == 0 || strncmp (keys[i], "registry.", 9) == 0)
            zm_node_cache_rpc_config (self);
        else if (streq (keys[i], "reactors"))
            zm_log_warning ("node %s: 'reactors' changed; it takes effect on restart",
                            self->uuid);
    }
}

zm_node_t *
zm_node_new (zm_config_t **config_p)
{
    zm_config_t *config = NULL;
    if (config_p && *config_p) {
        config = *config_p;
        *config_p = NULL;
    }
    else {
        char *reason = NULL;
        config = zm_config_load (0, NULL, &reason);
        if (!config) {
            zm_log_error ("node: bad configuration: %s", reason ? reason : "out of memory");
            free (reason);
            return NULL;
        }
    }
    zsys_init ();
    if (sodium_init () < 0) {
        zm_log_error ("node: libsodium failed to initialise");
        zm_config_destroy (&config);
        return NULL;
    }
    pthread_once (&s_stop_once, s_stop_pipe_init);

    zm_node_t *self = (zm_node_t *) calloc (1, sizeof (zm_node_t));
    if (!self) {
        zm_config_destroy (&config);
        return NULL;
    }
    static atomic_uint_fast64_t epochs = 0;
    self->config = config;
    self->epoch = atomic_fetch_add (&epochs, 1) + 1;
    pthread_rwlock_init (&self->dir_lock, NULL);
    pthread_rwlock_init (&self->svc_lock, NULL);
    pthread_mutex_init (&self->ext_lock, NULL);
    pthread_mutex_init (&self->client_lock, NULL);

    zm_log_set_level_name (zm_config_get_str (config, "log.level", "notice"));
    s_apply_log_sink (config);
    self->ask_timeout = (int) zm_config_get_int (config, "actor.ask_timeout", 5000);
    zm_node_cache_rpc_config (self);
    int count = (int) zm_config_get_int (config, "reactors", 1);
    if (count < 1 || count > ZM_MAX_REACTORS) {
        zm_log_error ("node: reactors must be 1..%d, not %d", ZM_MAX_REACTORS, count);
        goto fail;
    }
    zuuid_t *uuid = zuuid_new ();
    if (!uuid)
        goto fail;
    snprintf (self->uuid, sizeof self->uuid, "%s", zuuid_str (uuid));
    zuuid_destroy (&uuid);
    const char *name = zm_config_get_str (config, "node.name", "");
    if (*name)
        self->name = strdup (name);
    else {
        char host[256] = "";
        if (gethostname (host, sizeof host) != 0 || !*host)
            snprintf (host, sizeof host, "node-%.8s", self->uuid);
        host[sizeof host - 1] = 0;
        self->name = strdup (host);
    }
    if (!self->name)
        goto fail;

    //  Directory keys are the actors' own name strings: no copy per actor.
    self->directory = zhashx_new ();
    if (!self->directory)
        goto fail;
    zhashx_set_key_duplicator (self->directory, NULL);
    zhashx_set_key_destructor (self->directory, NULL);

    //  Room for dedicated reactors added later (zm_node_add_reactor).
    self->reactors = (zm_reactor_t **) calloc (ZM_MAX_REACTORS, sizeof (zm_reactor_t *));
    self->ext = (zsock_t **) calloc (ZM_MAX_REACTORS, sizeof (zsock_t *));
    self->rpc_ports = (int *) calloc (ZM_MAX_REACTORS, sizeof (int));
    self->clients = zlistx_new ();
    if (!self->reactors || !self->ext || !self->rpc_ports || !self->clients)
        goto fail;
    self->reactor_count = count;
    atomic_store (&self->reactor_total, count);
    for (int r = 0; r < count; r++) {
        self->ext[r] = zsock_new (ZMQ_PUSH);
        if (!self->ext[r])
            goto fail;
        zsock_set_sndhwm (self->ext[r], 0);
        if (zsock_connect (self->ext[r], "inproc://zm-%s-%d", self->uuid, r) != 0)
            goto fail;
    }
    for (int r = 0; r < count; r++) {
        self->reactors[r] = zm_reactor_new (self, r);
        if (!self->reactors[r]) {
            zm_log_error ("node: reactor %d failed to start", r);
            goto fail;
        }
    }
    if (zm_auth_new (self) != 0) {
        zm_log_error ("node: cannot start without its keys (auth.keys, auth.cluster_key)");
        goto fail;
    }
    self->reg = zm_registry_new ();
    self->broker = zm_broker_new (self);
    if (!self->reg || !self->broker)
        goto fail;
    if (zm_node_store_new (self) != 0 || zm_node_services_init (self) != 0
        || zm_node_store_service (self) != 0 || zm_sync_start (self) != 0) {
        zm_log_error ("node: cannot start the built-in services");
        goto fail;
    }
    if (*zm_config_get_str (config, "rpc.bind", "*") && zm_server_start (self) != 0) {
        zm_log_error ("node: cannot start the RPC server");
        goto fail;
    }
    if (zm_broker_start (self) != 0) {
        zm_log_error ("node: cannot start pub/sub");
        goto fail;
    }
    zm_registry_put_self (self);
    if (zm_discovery_start (self) != 0) {
        zm_log_error ("node: cannot start discovery");
        goto fail;
    }
    zm_config_watch (config, s_on_config, self);
    //  Hot reload only when a file was loaded; no file is not an error.
    zm_config_start_watcher (config, 0);
    zm_log_info ("node %s (%s): started with %d reactor(s)", self->name, self->uuid, count);
    return self;
fail:
    zm_node_destroy (&self);
    return NULL;
}

static void
s_shutdown (zm_node_t *self)
{
    pthread_mutex_lock (&self->ext_lock);
    bool was = atomic_exchange (&self->stopping, true);
    pthread_mutex_unlock (&self->ext_lock);
    if (was || !self->reactors)
        return;
    //  Peers drop us at once (goodbye beacon), callers get 503 and retry
    //  elsewhere; calls already taken finish.
    zm_discovery_leave (self);
    zm_sync_client_stop (self); //  its locks are no longer renewed
    zm_registry_close_watchers (self);
    if (self->rpc_ports)
        zm_server_pause (self);
    int drain = (int) zm_config_get_int (self->config, "node.shutdown_timeout", 5000);
    zm_reactors_shutdown (self->reactors, atomic_load (&self->reactor_total), drain);
}

void
zm_node_destroy (zm_node_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zm_node_t *self = *self_p;
    //  Destroying a node from its own handler would wait on itself.
    assert (!zm_reactor_current () || zm_reactor_node (zm_reactor_current ()) != self);
    if (self->config)
        zm_config_unwatch (self->config, s_on_config, self);
    s_shutdown (self);
    if (self->ext)
        for (int r = 0; r < ZM_MAX_REACTORS; r++)
            zsock_destroy (&self->ext[r]);
    free (self->ext);
    free (self->reactors);
    free (self->name);
    free (self->rpc_ports);
    zm_sync_client_destroy (self);
    zm_clients_destroy (self);
    zlistx_destroy (&self->clients);
    zm_registry_destroy (&self->reg);
    zm_broker_destroy (&self->broker);
    zm_services_destroy (self);
    zm_node_store_destroy (self);
    zm_auth_destroy (self);
    pthread_rwlock_destroy (&self->svc_lock);
    pthread_mutex_destroy (&self->client_lock);
    zhashx_destroy (&self->directory);
    zm_config_destroy (&self->config);
    pthread_rwlock_destroy (&self->dir_lock);
    pthread_mutex_destroy (&self->ext_lock);
    free (self);
    *self_p = NULL;
}

int
zm_node_run (zm_node_t *self)
{
    int rc = zm_services_start_all (self);
    if (rc)
        zm_log_error ("node %s: a service failed to start: %s", self->uuid, zm_strerror (rc));
    zsys_handler_set (s_on_signal);
    zm_log_notice ("node %s: running (SIGINT or SIGTERM to stop)", self->uuid);
    //  Drain stale stop requests from an earlier run.
    char byte;
    while (read (s_stop_fds[0], &byte, 1) == 1)
        ;
    while (!zsys_interrupted && !atomic_load (&self->stop_requested)
           && !atomic_load (&self->stopping)) {
        struct pollfd item = {s_stop_fds[0], POLLIN, 0};
        //  zsys's handler sets zsys_interrupted; poll wakes with EINTR or
        //  within the period.
        if (poll (&item, 1, 200) > 0)
            while (read (s_stop_fds[0], &byte, 1) == 1)
                ;
    }
    zm_log_notice ("node %s: stopping", self->uuid);
    s_shutdown (self);
    return 0;
}

void
zm_node_stop (zm_node_t *self)
{
    atomic_store (&self->stop_requested, true);
    pthread_once (&s_stop_once, s_stop_pipe_init);
    char byte = 1;
    if (write (s_stop_fds[1], &byte, 1) < 0) {
        //  Full pipe: a stop is already pending.
    }
}

const char *
zm_node_uuid (zm_node_t *self)
{
    return self->uuid;
}

const char *
zm_node_name (zm_node_t *self)
{
    return self->name;
}

zm_config_t *
zm_node_config (zm_node_t *self)
{
    return self->config;
}

int
zm_node_reactors (zm_node_t *self)
{
    return self->reactor_count;
}

//  --------------------------------------------------------------------------
//  Routing and the directory

int
zm_node_route (zm_node_t *self, zm_env_t *env)
{
    zm_reactor_t *current = zm_reactor_current ();
    if (current && zm_reactor_node (current) == self) {
        zm_reactor_route (current, env);
        return 0;
    }
    int target = ZM_PID_REACTOR (env->to);
    if (target < 0 || target >= atomic_load (&self->reactor_total)) {
        zm_env_destroy (&env, ZM_ENOTFOUND);
        return ZM_ENOTFOUND;
    }
    pthread_mutex_lock (&self->ext_lock);
    if (atomic_load (&self->stopping)) {
        pthread_mutex_unlock (&self->ext_lock);
        zm_env_destroy (&env, ZM_ECLOSED);
        return ZM_ECLOSED;
    }
    zm_env_t *chain[2] = {env, env};
    env->next = NULL;
    int rc = zmq_send (zsock_resolve (self->ext[target]), chain, sizeof chain, 0);
    pthread_mutex_unlock (&self->ext_lock);
    if (rc == -1) {
        zm_env_destroy (&env, ZM_ECLOSED);
        return ZM_ECLOSED;
    }
    return 0;
}

void
zm_node_unname (zm_node_t *self, const char *name, zm_pid_t pid)
{
    pthread_rwlock_wrlock (&self->dir_lock);
    if ((zm_pid_t) (uintptr_t) zhashx_lookup (self->directory, name) == pid)
        zhashx_delete (self->directory, name);
    pthread_rwlock_unlock (&self->dir_lock);
}

zm_pid_t
zm_lookup (zm_node_t *node, const char *name)
{
    if (!node || !name)
        return 0;
    pthread_rwlock_wrlock (&node->dir_lock);
    zm_pid_t pid = (zm_pid_t) (uintptr_t) zhashx_lookup (node->directory, name);
    pthread_rwlock_unlock (&node->dir_lock);
    return pid;
}

zm_pid_t
zm_spawn (zm_node_t *node, const char *name, const zm_actor_def_t *def, void *state,
          int reactor, int *err_p)
{
    int dummy;
    if (!err_p)
        err_p = &dummy;
    *err_p = ZM_OK;
    if (!node || !def || reactor < -1 || reactor >= atomic_load (&node->reactor_total)
        || (name && !*name)) {
        *err_p = ZM_EINVAL;
        return 0;
    }
    if (atomic_load (&node->stopping)) {
        *err_p = ZM_ECLOSED;
        return 0;
    }
    if (reactor == -1)
        reactor = (int) ((unsigned) atomic_fetch_add (&node->next_reactor, 1)
                         % (unsigned) node->reactor_count);
    char *copy = NULL;
    if (name && !(copy = strdup (name))) {
        *err_p = ZM_ENOMEM;
        return 0;
    }
    zm_pid_t pid = 0;
    if (copy) {
        //  Claim the name and the slot together so two spawns of one name
        //  cannot both win.
        pthread_rwlock_wrlock (&node->dir_lock);
        if (zhashx_lookup (node->directory, copy))
            *err_p = ZM_ECONFLICT;
        else {
            pid = zm_reactor_add_actor (node->reactors[reactor], def, state, copy, err_p);
            if (pid && zhashx_insert (node->directory, copy, (void *) (uintptr_t) pid) != 0)
                *err_p = ZM_ENOMEM; //  unreachable: lookup above said absent
        }
        pthread_rwlock_unlock (&node->dir_lock);
        if (!pid) {
            free (copy);
            return 0;
        }
    }
    else {
        pid = zm_reactor_add_actor (node->reactors[reactor], def, state, NULL, err_p);
        if (!pid)
            return 0;
    }
    //  The START envelope runs init promptly; a message overtaking it from
    //  another sender starts the actor first anyway.
    zm_env_t *env = zm_env_new (ZM_ENV_START, pid, 0, "$start", NULL);
    if (env)
        zm_node_route (node, env);
    return pid;
}

int
zm_stop (zm_node_t *node, zm_pid_t pid)
{
    if (!node || ZM_PID_REACTOR (pid) < 0
        || ZM_PID_REACTOR (pid) >= atomic_load (&node->reactor_total))
        return ZM_ENOTFOUND;
    zm_env_t *env = zm_env_new (ZM_ENV_STOP, pid, 0, "$stop", NULL);
    if (!env)
        return ZM_ENOMEM;
    return zm_node_route (node, env);
}

int
zm_select_parse (const char *name)
{
    return name && streq (name, "round_robin")         ? ZM_SELECT_ROUND_ROBIN
           : name && streq (name, "least_outstanding") ? ZM_SELECT_LEAST
                                                       : ZM_SELECT_RANDOM;
}

void
zm_node_cache_rpc_config (zm_node_t *self)
{
    zm_config_t *config = self->config;
    atomic_store (&self->rpc_timeout, (int) zm_config_get_int (config, "rpc.timeout", 5000));
    atomic_store (&self->rpc_retries, (int) zm_config_get_int (config, "rpc.retries", 1));
    atomic_store (&self->rpc_backoff, (int) zm_config_get_int (config, "rpc.backoff", 10));
    atomic_store (&self->rpc_selector,
                  zm_select_parse (zm_config_get_str (config, "rpc.selector", "random")));
    atomic_store (&self->breaker_failures,
                  (int) zm_config_get_int (config, "rpc.breaker_failures", 5));
    atomic_store (&self->breaker_cooldown,
                  (int) zm_config_get_int (config, "rpc.breaker_cooldown", 5000));
    atomic_store (&self->registry_ttl, (int) zm_config_get_int (config, "registry.ttl", 10000));
}

int
zm_node_add_reactor (zm_node_t *self)
{
    pthread_mutex_lock (&self->ext_lock);
    int index = atomic_load (&self->reactor_total);
    if (index >= ZM_MAX_REACTORS || atomic_load (&self->stopping)) {
        pthread_mutex_unlock (&self->ext_lock);
        return -1;
    }
    self->ext[index] = zsock_new (ZMQ_PUSH);
    if (self->ext[index]) {
        zsock_set_sndhwm (self->ext[index], 0);
        zsock_connect (self->ext[index], "inproc://zm-%s-%d", self->uuid, index);
    }
    self->reactors[index] = self->ext[index] ? zm_reactor_new (self, index) : NULL;
    if (!self->reactors[index]) {
        zsock_destroy (&self->ext[index]);
        pthread_mutex_unlock (&self->ext_lock);
        return -1;
    }
    //  Published last: nobody routes to it before it runs.
    atomic_store (&self->reactor_total, index + 1);
    pthread_mutex_unlock (&self->ext_lock);
    zm_log_info ("node %s: dedicated reactor %d started", self->name, index);
    return index;
}

int
zm_pid_reactor (zm_pid_t pid)
{
    return ZM_PID_REACTOR (pid);
}

//  --------------------------------------------------------------------------
//  From plain threads

int
zm_node_tell (zm_node_t *node, zm_pid_t to, const char *type, zm_msg_t **msg_p)
{
    if (!node || !type) {
        if (msg_p)
            zm_msg_destroy (msg_p);
        return ZM_EINVAL;
    }
    zm_env_t *env = zm_env_new (ZM_ENV_TELL, to, 0, type, msg_p);
    if (!env) {
        if (msg_p)
            zm_msg_destroy (msg_p);
        return ZM_ENOMEM;
    }
    return zm_node_route (node, env);
}

int
zm_node_ask (zm_node_t *node, zm_pid_t to, const char *type, zm_msg_t **msg_p,
             zm_msg_t **reply_p, zm_error_t **error_p, int timeout_ms)
{
    if (reply_p)
        *reply_p = NULL;
    if (error_p)
        *error_p = NULL;
    if (!node || !type) {
        if (msg_p)
            zm_msg_destroy (msg_p);
        return ZM_EINVAL;
    }
    if (zm_reactor_current ()) {
        if (msg_p)
            zm_msg_destroy (msg_p);
        if (error_p)
            *error_p = zm_error_new (ZM_EBLOCKING, NULL,
                                     "zm_node_ask called from a handler; use zm_ask");
        return ZM_EBLOCKING;
    }
    if (timeout_ms <= 0)
        timeout_ms = node->ask_timeout;
    zm_waiter_t *waiter = zm_waiter_new ();
    zm_env_t *env = waiter ? zm_env_new (ZM_ENV_ASK, to, 0, type, msg_p) : NULL;
    if (!env) {
        if (waiter) {
            zm_waiter_unref (&waiter);
            zm_waiter_unref (&waiter);
        }
        if (msg_p)
            zm_msg_destroy (msg_p);
        return ZM_ENOMEM;
    }
    env->waiter = waiter;
    //  On failure, routing destroys the envelope, which completes the waiter.
    zm_node_route (node, env);

    struct timespec until;
    clock_gettime (CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock (&waiter->mutex);
    while (!waiter->done)
        if (pthread_cond_timedwait (&waiter->cond, &waiter->mutex, &until) == ETIMEDOUT)
            break;
    int status;
    if (waiter->done) {
        status = waiter->status;
        if (reply_p) {
            *reply_p = waiter->reply;
            waiter->reply = NULL;
        }
        if (error_p) {
            *error_p = waiter->error;
            waiter->error = NULL;
        }
        if (status != ZM_OK && error_p && !*error_p)
            *error_p = zm_error_new (status, NULL, "%s", zm_strerror (status));
    }
    else {
        //  Mark it done so a late reply is dropped by zm_waiter_complete.
        waiter->done = true;
        status = ZM_ETIMEOUT;
        if (error_p)
            *error_p = zm_error_new (ZM_ETIMEOUT, NULL, "no reply within %d ms", timeout_ms);
    }
    pthread_mutex_unlock (&waiter->mutex);
    zm_waiter_unref (&waiter);
    return status;
}
