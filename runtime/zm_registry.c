/*  =========================================================================
    zm_registry - what the node knows of the cluster: nodes, services, watch

    One cache per node, fed by three sources: this node itself (its own
    services, updated when one starts), beacon discovery (actors/
    zm_discovery.c: a HELLO answer from each node heard on the LAN) and
    static peers (registry.peers, asked by the same HELLO). A node entry is
    the HELLO answer as it came ("$node describe" plus a state sequence),
    reached at the address the answer was fetched from.

    Clients never walk node entries on a call: every change rebuilds a
    service index (name -> instances: address, version, metadata) which
    zm_registry_candidates reads under the lock. Changes are rare (a node
    comes, goes, starts a service), calls are not.

    Every change is diffed against the previous entry and turned into watch
    events (node add/remove, service add/update/remove), delivered after
    the lock is released: to actors as tells, to plain threads through a
    zm_watch_t queue. A watcher first receives the current state as "add"
    events, so a watcher never misses what existed before it came.
    =========================================================================
*/
#include "zm_runtime.h"

//  One callable endpoint of a service, in the service index.
typedef struct {
    char address[128];        //  tcp://host:port
    char version[72];         //  service version there
    char node[33];            //  node UUID
    char *meta;               //  service metadata: key NUL value NUL ..., or NULL
    size_t meta_size;         //  bytes of meta
} s_instance_t;

//  One node as last heard.
typedef struct {
    char uuid[33];            //  node identity
    char host[64];            //  where it was reached (beacon source, peer host)
    zm_msg_t *descriptor;     //  its HELLO answer
    unsigned sources;         //  ZM_REG_SELF | ZM_REG_BEACON | ZM_REG_STATIC
    int64_t seen;             //  zclock_mono of the last beacon or answer
    uint32_t seq;             //  state sequence of descriptor
    int port;                 //  where HELLO reached it (reactor 0's RPC port)
    char key[41];             //  its public key (Z85), "" when CURVE is off
} s_entry_t;

//  "tcp://host:port#KEY" of an entry's port: what zm_auth_connect takes
static void
s_address (const s_entry_t *entry, uint64_t port, char *out, size_t size)
{
    snprintf (out, size, "tcp://%s:%" PRIu64 "%s%s", entry->host, port, *entry->key ? "#" : "",
              entry->key);
}

//  A watcher: an actor (pid, type) or a plain-thread queue.
struct _zm_watch_t {
    zm_node_t *node;          //  owner
    zm_pid_t pid;             //  actor watcher, or 0
    char type[64];            //  actor watcher's message type
    zlistx_t *queue;          //  plain-thread watcher: events waiting
    pthread_cond_t ready;     //  plain-thread watcher: signalled on push
    bool closed;              //  the node is gone
    size_t dropped;           //  events dropped because the queue was full
};

#define S_WATCH_QUEUE_MAX 10000

struct _zm_registry_t {
    pthread_mutex_t lock;     //  guards everything below
    pthread_cond_t changed;   //  broadcast on every change
    zhashx_t *nodes;          //  uuid -> s_entry_t
    zhashx_t *services;       //  name -> zlistx of s_instance_t
    zlistx_t *watchers;       //  zm_watch_t
    zlistx_t *members;        //  zm_member_t: queue-group subscriptions
    atomic_uint_fast64_t generation; //  bumps on every change
};

//  --------------------------------------------------------------------------
//  Entries and instances

static void
s_instance_free (void **item)
{
    s_instance_t *instance = (s_instance_t *) *item;
    if (instance) {
        free (instance->meta);
        free (instance);
        *item = NULL;
    }
}

static void
s_instances_free (void **item)
{
    zlistx_destroy ((zlistx_t **) item);
}

static void
s_entry_free (void **item)
{
    s_entry_t *entry = (s_entry_t *) *item;
    if (entry) {
        zm_msg_destroy (&entry->descriptor);
        free (entry);
        *item = NULL;
    }
}

//  The service metadata of a descriptor, packed as key NUL value NUL pairs;
//  NULL when there is none (or no memory: the instance then matches no
//  metadata filter, never a wrong one).
static char *
s_meta_pack (const zm_val_t *map, size_t *size_p)
{
    size_t size = 0;
    for (size_t i = 0; i < zm_val_size (map); i++) {
        size_t key_len = 0, value_len = 0;
        const char *key = zm_val_key_at (map, i, &key_len);
        const char *value = zm_val_str (zm_val_at (map, i), NULL, &value_len);
        if (key && value)
            size += key_len + value_len + 2;
    }
    char *packed = size ? (char *) malloc (size) : NULL;
    char *p = packed;
    for (size_t i = 0; packed && i < zm_val_size (map); i++) {
        size_t key_len = 0, value_len = 0;
        const char *key = zm_val_key_at (map, i, &key_len);
        const char *value = zm_val_str (zm_val_at (map, i), NULL, &value_len);
        if (key && value) {
            memcpy (p, key, key_len);
            p[key_len] = 0;
            p += key_len + 1;
            memcpy (p, value, value_len);
            p[value_len] = 0;
            p += value_len + 1;
        }
    }
    *size_p = packed ? size : 0;
    return packed;
}

//  Does the instance's metadata hold every pair of match (a map of strings)?
static bool
s_meta_matches (const s_instance_t *instance, const zm_val_t *match)
{
    for (size_t i = 0; i < zm_val_size (match); i++) {
        const char *key = zm_val_key_at (match, i, NULL);
        const char *want = zm_val_str (zm_val_at (match, i), NULL, NULL);
        bool found = false;
        const char *end = instance->meta + instance->meta_size;
        for (const char *p = instance->meta; !found && p && p < end;) {
            const char *value = p + strlen (p) + 1;
            found = streq (p, key) && streq (value, want);
            p = value + strlen (value) + 1;
        }
        if (!found)
            return false;
    }
    return true;
}

//  Rebuild the service index from every node entry. Under the lock.
static void
s_reindex (zm_registry_t *self)
{
    zhashx_purge (self->services);
    zlistx_purge (self->members);
    for (s_entry_t *entry = (s_entry_t *) zhashx_first (self->nodes); entry;
         entry = (s_entry_t *) zhashx_next (self->nodes)) {
        const zm_val_t *root = zm_msg_root (entry->descriptor);
        const zm_val_t *ports = zm_val_get (root, "rpc_ports");
        const zm_val_t *services = zm_val_get (root, "services");
        for (size_t i = 0; i < zm_val_size (services); i++) {
            const zm_val_t *svc = zm_val_at (services, i);
            const char *name = zm_val_str (zm_val_get (svc, "name"), NULL, NULL);
            const char *version = zm_val_str (zm_val_get (svc, "version"), "", NULL);
            if (!name || !*name)
                continue;
            zlistx_t *list = (zlistx_t *) zhashx_lookup (self->services, name);
            if (!list) {
                list = zlistx_new ();
                if (!list)
                    return;
                zlistx_set_destructor (list, s_instance_free);
                zhashx_insert (self->services, name, list);
            }
            for (size_t p = 0; p < zm_val_size (ports); p++) {
                uint64_t port = zm_val_uint (zm_val_at (ports, p), 0);
                if (port == 0 || port > 65535)
                    continue;
                s_instance_t *instance = (s_instance_t *) calloc (1, sizeof (s_instance_t));
                if (!instance)
                    return;
                s_address (entry, port, instance->address, sizeof instance->address);
                snprintf (instance->version, sizeof instance->version, "%s", version);
                snprintf (instance->node, sizeof instance->node, "%s", entry->uuid);
                instance->meta =
                    s_meta_pack (zm_val_get (svc, "metadata"), &instance->meta_size);
                zlistx_add_end (list, instance);
            }
        }
        //  Queue-group members: reached at the node's first RPC port
        uint64_t first = zm_val_uint (zm_val_at (ports, 0), 0);
        const zm_val_t *subs = zm_val_get (root, "subscriptions");
        for (size_t i = 0; first && first <= 65535 && i < zm_val_size (subs); i++) {
            const zm_val_t *sub = zm_val_at (subs, i);
            const char *pattern = zm_val_str (zm_val_get (sub, "topic"), NULL, NULL);
            const char *group = zm_val_str (zm_val_get (sub, "group"), "", NULL);
            if (!pattern || !*group || zm_topic_check (pattern, true, NULL)
                || strlen (group) >= sizeof ((zm_member_t *) 0)->group)
                continue;
            zm_member_t *member = (zm_member_t *) calloc (1, sizeof (zm_member_t));
            if (!member)
                return;
            snprintf (member->group, sizeof member->group, "%s", group);
            snprintf (member->pattern, sizeof member->pattern, "%s", pattern);
            s_address (entry, first, member->address, sizeof member->address);
            snprintf (member->node, sizeof member->node, "%s", entry->uuid);
            zlistx_add_end (self->members, member);
        }
    }
    self->generation++;
    pthread_cond_broadcast (&self->changed);
}

//  --------------------------------------------------------------------------
//  Events

//  Same value, structurally (map keys in any order)?
static bool
s_val_equal (const zm_val_t *a, const zm_val_t *b)
{
    zm_type_t type = zm_val_type (a);
    if (type != zm_val_type (b))
        return false;
    size_t a_size = 0, b_size = 0;
    switch (type) {
    case ZM_TYPE_NIL:
        return true;
    case ZM_TYPE_BOOL:
        return zm_val_bool (a, false) == zm_val_bool (b, false);
    case ZM_TYPE_INT:
        return zm_val_int (a, 0) == zm_val_int (b, 0);
    case ZM_TYPE_UINT:
        return zm_val_uint (a, 0) == zm_val_uint (b, 0);
    case ZM_TYPE_FLOAT:
        return zm_val_float (a, 0) == zm_val_float (b, 0);
    case ZM_TYPE_STR: {
        const char *x = zm_val_str (a, NULL, &a_size), *y = zm_val_str (b, NULL, &b_size);
        return a_size == b_size && memcmp (x, y, a_size) == 0;
    }
    case ZM_TYPE_BIN: {
        const void *x = zm_val_bin (a, &a_size), *y = zm_val_bin (b, &b_size);
        return a_size == b_size && (a_size == 0 || memcmp (x, y, a_size) == 0);
    }
    case ZM_TYPE_ARRAY:
        if (zm_val_size (a) != zm_val_size (b))
            return false;
        for (size_t i = 0; i < zm_val_size (a); i++)
            if (!s_val_equal (zm_val_at (a, i), zm_val_at (b, i)))
                return false;
        return true;
    case ZM_TYPE_MAP:
        if (zm_val_size (a) != zm_val_size (b))
            return false;
        for (size_t i = 0; i < zm_val_size (a); i++) {
            const char *key = zm_val_key_at (a, i, NULL);
            if (!key || !s_val_equal (zm_val_at (a, i), zm_val_get (b, key)))
                return false;
        }
        return true;
    }
    return false;
}

//  A service of a descriptor by name, or NULL
static const zm_val_t *
s_service_of (const zm_msg_t *descriptor, const char *name)
{
    const zm_val_t *services = zm_val_get (zm_msg_root (descriptor), "services");
    for (size_t i = 0; i < zm_val_size (services); i++) {
        const zm_val_t *svc = zm_val_at (services, i);
        const char *other = zm_val_str (zm_val_get (svc, "name"), NULL, NULL);
        if (other && streq (other, name))
            return svc;
    }
    return NULL;
}

//  Copy a value (map, array, scalar) into parent under key (map) or pushed
//  (array, key NULL).
void
zm_val_copy_into (zm_val_t *parent, const char *key, const zm_val_t *value)
{
    zm_type_t type = zm_val_type (value);
    zm_val_t *made = NULL;
    if (type == ZM_TYPE_MAP) {
        made = key ? zm_val_set_map (parent, key) : zm_val_push_map (parent);
        for (size_t i = 0; made && i < zm_val_size (value); i++) {
            const char *name = zm_val_key_at (value, i, NULL);
            if (name)
                zm_val_copy_into (made, name, zm_val_at (value, i));
        }
    }
    else if (type == ZM_TYPE_ARRAY) {
        made = key ? zm_val_set_array (parent, key) : zm_val_push_array (parent);
        for (size_t i = 0; made && i < zm_val_size (value); i++)
            zm_val_copy_into (made, NULL, zm_val_at (value, i));
    }
    else if (type == ZM_TYPE_STR) {
        size_t len = 0;
        const char *text = zm_val_str (value, NULL, &len);
        if (key)
            zm_val_set_strn (parent, key, text, len);
        else
            zm_val_push_strn (parent, text, len);
    }
    else if (type == ZM_TYPE_UINT) {
        if (key)
            zm_val_set_uint (parent, key, zm_val_uint (value, 0));
        else
            zm_val_push_uint (parent, zm_val_uint (value, 0));
    }
    else if (type == ZM_TYPE_INT) {
        if (key)
            zm_val_set_int (parent, key, zm_val_int (value, 0));
        else
            zm_val_push_int (parent, zm_val_int (value, 0));
    }
    else if (type == ZM_TYPE_BOOL) {
        if (key)
            zm_val_set_bool (parent, key, zm_val_bool (value, false));
        else
            zm_val_push_bool (parent, zm_val_bool (value, false));
    }
    else if (type == ZM_TYPE_FLOAT) {
        if (key)
            zm_val_set_float (parent, key, zm_val_float (value, 0));
        else
            zm_val_push_float (parent, zm_val_float (value, 0));
    }
    else if (type == ZM_TYPE_BIN) {
        size_t size = 0;
        const void *data = zm_val_bin (value, &size);
        if (key)
            zm_val_set_bin (parent, key, data, size);
        else
            zm_val_push_bin (parent, data, size);
    }
    else if (key) //  nil (and nothing else is left)
        zm_val_set_nil (parent, key);
    else
        zm_val_push_nil (parent);
}

//  A watch event about a node entry, and about one of its services when
//  svc is not NULL.
static zm_msg_t *
s_event (const char *action, const s_entry_t *entry, const zm_val_t *svc)
{
    zm_msg_t *event = zm_msg_new ();
    if (!event)
        return NULL;
    const zm_val_t *root = zm_msg_root (entry->descriptor);
    zm_msg_set_str (event, "action", action);
    zm_msg_set_str (event, "type", svc ? "service" : "node");
    zm_msg_set_str (event, "node", entry->uuid);
    zm_msg_set_str (event, "name", zm_val_str (zm_val_get (root, "name"), "", NULL));
    zm_msg_set_str (event, "host", entry->host);
    if (*entry->key)
        zm_msg_set_str (event, "public_key", entry->key);
    zm_val_t *top = zm_msg_root_mut (event);
    zm_val_t *addresses = zm_val_set_array (top, "addresses");
    const zm_val_t *ports = zm_val_get (root, "rpc_ports");
    for (size_t p = 0; p < zm_val_size (ports); p++) {
        char address[128];
        snprintf (address, sizeof address, "tcp://%s:%" PRIu64, entry->host,
                  zm_val_uint (zm_val_at (ports, p), 0));
        zm_val_push_str (addresses, address);
    }
    if (svc)
        zm_val_copy_into (top, "service", svc);
    return event;
}

//  Events for the change from old to new (either may be NULL), added to
//  events.
static void
s_diff (const s_entry_t *old, const s_entry_t *fresh, zlistx_t *events)
{
    const s_entry_t *node = fresh ? fresh : old;
    if (!old)
        zlistx_add_end (events, s_event ("add", node, NULL));
    //  Services gone or changed
    const zm_val_t *before = old ? zm_val_get (zm_msg_root (old->descriptor), "services") : NULL;
    for (size_t i = 0; i < zm_val_size (before); i++) {
        const zm_val_t *svc = zm_val_at (before, i);
        const char *name = zm_val_str (zm_val_get (svc, "name"), NULL, NULL);
        const zm_val_t *now = name && fresh ? s_service_of (fresh->descriptor, name) : NULL;
        if (!name)
            continue;
        if (!now)
            zlistx_add_end (events, s_event ("remove", old, svc));
        else if (!s_val_equal (svc, now) || strneq (old->host, fresh->host))
            zlistx_add_end (events, s_event ("update", fresh, now));
    }
    //  Services new
    const zm_val_t *after = fresh ? zm_val_get (zm_msg_root (fresh->descriptor), "services") : NULL;
    for (size_t i = 0; i < zm_val_size (after); i++) {
        const zm_val_t *svc = zm_val_at (after, i);
        const char *name = zm_val_str (zm_val_get (svc, "name"), NULL, NULL);
        if (name && (!old || !s_service_of (old->descriptor, name)))
            zlistx_add_end (events, s_event ("add", fresh, svc));
    }
    if (!fresh)
        zlistx_add_end (events, s_event ("remove", node, NULL));
}

//  Deliver events (taken) to every watcher. Called without the lock held
//  for actor tells; queue pushes take it briefly.
static void
s_deliver (zm_node_t *node, zlistx_t **events_p)
{
    zlistx_t *events = *events_p;
    *events_p = NULL;
    if (!events)
        return;
    zm_registry_t *self = node->reg;
    //  Actor watchers are copied out (pid and type), to tell them after
    //  the lock is released: routing never calls back in here.
    typedef struct {
        zm_pid_t pid;
        char type[64];
    } s_target_t;
    s_target_t *targets = NULL;
    size_t count = 0;
    pthread_mutex_lock (&self->lock);
    size_t watchers = zlistx_size (self->watchers);
    targets = watchers ? (s_target_t *) calloc (watchers, sizeof (s_target_t)) : NULL;
    for (zm_watch_t *watch = (zm_watch_t *) zlistx_first (self->watchers); watch;
         watch = (zm_watch_t *) zlistx_next (self->watchers)) {
        if (watch->pid) {
            if (targets) {
                targets[count].pid = watch->pid;
                memcpy (targets[count].type, watch->type, sizeof watch->type);
                count++;
            }
            continue;
        }
        for (zm_msg_t *event = (zm_msg_t *) zlistx_first (events); event;
             event = (zm_msg_t *) zlistx_next (events)) {
            zm_msg_t *copy = zm_msg_dup (event);
            if (copy && zlistx_size (watch->queue) < S_WATCH_QUEUE_MAX)
                zlistx_add_end (watch->queue, copy);
            else {
                zm_msg_destroy (&copy);
                watch->dropped++;
            }
        }
        pthread_cond_broadcast (&watch->ready);
    }
    pthread_mutex_unlock (&self->lock);
    //  An actor watcher whose actor is gone is dropped.
    for (size_t i = 0; i < count; i++) {
        bool gone = false;
        for (zm_msg_t *event = (zm_msg_t *) zlistx_first (events); event && !gone;
             event = (zm_msg_t *) zlistx_next (events)) {
            zm_msg_t *copy = zm_msg_dup (event);
            zm_env_t *env =
                copy ? zm_env_new (ZM_ENV_TELL, targets[i].pid, 0, targets[i].type, &copy) : NULL;
            zm_msg_destroy (&copy);
            int rc = env ? zm_node_route (node, env) : ZM_ENOMEM;
            gone = rc == ZM_ENOTFOUND || rc == ZM_ECLOSED;
        }
        if (gone)
            zm_registry_unwatch_pid (node, targets[i].pid);
    }
    free (targets);
    for (zm_msg_t *event = (zm_msg_t *) zlistx_first (events); event;
         event = (zm_msg_t *) zlistx_next (events))
        zm_msg_destroy (&event);
    zlistx_destroy (&events);
}

//  --------------------------------------------------------------------------
//  The cache

static void
s_member_free (void **item)
{
    free (*item);
    *item = NULL;
}

zm_registry_t *
zm_registry_new (void)
{
    zm_registry_t *self = (zm_registry_t *) calloc (1, sizeof (zm_registry_t));
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->changed, NULL);
    self->nodes = zhashx_new ();
    self->services = zhashx_new ();
    self->watchers = zlistx_new ();
    self->members = zlistx_new ();
    if (!self->nodes || !self->services || !self->watchers || !self->members) {
        zm_registry_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->nodes, s_entry_free);
    zhashx_set_destructor (self->services, s_instances_free);
    zlistx_set_destructor (self->members, (zlistx_destructor_fn *) s_member_free);
    return self;
}

static void
s_watch_free (zm_watch_t *watch)
{
    if (watch->queue) {
        for (zm_msg_t *event = (zm_msg_t *) zlistx_first (watch->queue); event;
             event = (zm_msg_t *) zlistx_next (watch->queue))
            zm_msg_destroy (&event);
        zlistx_destroy (&watch->queue);
    }
    pthread_cond_destroy (&watch->ready);
    free (watch);
}

void
zm_registry_destroy (zm_registry_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zm_registry_t *self = *self_p;
    if (self->watchers) {
        //  Plain-thread watchers are their owners' to destroy; actor
        //  watchers are ours.
        for (zm_watch_t *watch = (zm_watch_t *) zlistx_first (self->watchers); watch;
             watch = (zm_watch_t *) zlistx_next (self->watchers))
            if (watch->pid)
                s_watch_free (watch);
        zlistx_destroy (&self->watchers);
    }
    zhashx_destroy (&self->nodes);
    zhashx_destroy (&self->services);
    zlistx_destroy (&self->members);
    pthread_cond_destroy (&self->changed);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

void
zm_registry_close_watchers (zm_node_t *node)
{
    zm_registry_t *self = node->reg;
    if (!self)
        return;
    pthread_mutex_lock (&self->lock);
    for (zm_watch_t *watch = (zm_watch_t *) zlistx_first (self->watchers); watch;
         watch = (zm_watch_t *) zlistx_next (self->watchers))
        if (!watch->pid) {
            watch->closed = true;
            pthread_cond_broadcast (&watch->ready);
        }
    pthread_mutex_unlock (&self->lock);
}

int
zm_registry_put (zm_node_t *node, const char *host, int port, const char *public_key,
                 unsigned source, zm_msg_t **descriptor_p)
{
    zm_registry_t *self = node->reg;
    zm_msg_t *descriptor = descriptor_p ? *descriptor_p : NULL;
    if (descriptor_p)
        *descriptor_p = NULL;
    const zm_val_t *root = zm_msg_root (descriptor);
    const char *uuid = zm_val_str (zm_val_get (root, "uuid"), NULL, NULL);
    if (!self || !descriptor || !host || !uuid || strlen (uuid) != 32
        || zm_val_type (zm_val_get (root, "services")) != ZM_TYPE_ARRAY
        || zm_val_type (zm_val_get (root, "rpc_ports")) != ZM_TYPE_ARRAY) {
        zm_msg_destroy (&descriptor);
        return ZM_EINVAL;
    }
    s_entry_t *fresh = (s_entry_t *) calloc (1, sizeof (s_entry_t));
    zlistx_t *events = zlistx_new ();
    if (!fresh || !events) {
        free (fresh);
        zlistx_destroy (&events);
        zm_msg_destroy (&descriptor);
        return ZM_ENOMEM;
    }
    snprintf (fresh->uuid, sizeof fresh->uuid, "%s", uuid);
    snprintf (fresh->host, sizeof fresh->host, "%s", host);
    snprintf (fresh->key, sizeof fresh->key, "%s", public_key ? public_key : "");
    fresh->descriptor = descriptor;
    fresh->seq = (uint32_t) zm_val_uint (zm_val_get (root, "seq"), 0);
    fresh->port = port;
    fresh->seen = zclock_mono ();
    fresh->sources = source;

    pthread_mutex_lock (&self->lock);
    //  A node restarted with a new UUID on an address we know replaces the
    //  old entry at once.
    zlistx_t *replaced = zlistx_new ();
    for (s_entry_t *entry = (s_entry_t *) zhashx_first (self->nodes); entry && replaced;
         entry = (s_entry_t *) zhashx_next (self->nodes))
        if (port && entry->port == port && streq (entry->host, host)
            && strneq (entry->uuid, uuid))
            zlistx_add_end (replaced, (void *) zhashx_cursor (self->nodes));
    for (const char *key = replaced ? (const char *) zlistx_first (replaced) : NULL; key;
         key = (const char *) zlistx_next (replaced)) {
        s_entry_t *gone = (s_entry_t *) zhashx_lookup (self->nodes, key);
        s_diff (gone, NULL, events);
        zhashx_delete (self->nodes, key);
    }
    zlistx_destroy (&replaced);
    s_entry_t *old = (s_entry_t *) zhashx_lookup (self->nodes, uuid);
    if (old) {
        fresh->sources |= old->sources;
        s_diff (old, fresh, events);
        zhashx_update (self->nodes, uuid, fresh); //  destroys old
    }
    else {
        s_diff (NULL, fresh, events);
        zhashx_insert (self->nodes, uuid, fresh);
    }
    s_reindex (self);
    pthread_mutex_unlock (&self->lock);
    s_deliver (node, &events);
    return 0;
}

bool
zm_registry_seen (zm_node_t *node, const char *uuid, uint32_t *seq_p)
{
    zm_registry_t *self = node->reg;
    pthread_mutex_lock (&self->lock);
    s_entry_t *entry = (s_entry_t *) zhashx_lookup (self->nodes, uuid);
    if (entry) {
        entry->seen = zclock_mono ();
        if (seq_p)
            *seq_p = entry->seq;
    }
    pthread_mutex_unlock (&self->lock);
    return entry != NULL;
}

//  Remove entries chosen by a test; returns how many went.
typedef bool (s_doomed_fn) (const s_entry_t *entry, const void *arg);

static int
s_remove_where (zm_node_t *node, s_doomed_fn *doomed, const void *arg, const char *why)
{
    zm_registry_t *self = node->reg;
    zlistx_t *events = zlistx_new ();
    zlistx_t *keys = zlistx_new ();
    if (!events || !keys) {
        zlistx_destroy (&events);
        zlistx_destroy (&keys);
        return 0;
    }
    pthread_mutex_lock (&self->lock);
    for (s_entry_t *entry = (s_entry_t *) zhashx_first (self->nodes); entry;
         entry = (s_entry_t *) zhashx_next (self->nodes))
        if (doomed (entry, arg))
            zlistx_add_end (keys, (void *) zhashx_cursor (self->nodes));
    int count = (int) zlistx_size (keys);
    for (const char *key = (const char *) zlistx_first (keys); key;
         key = (const char *) zlistx_next (keys)) {
        s_entry_t *entry = (s_entry_t *) zhashx_lookup (self->nodes, key);
        zm_log_info ("registry: node %s at %s removed: %s", entry->uuid, entry->host, why);
        s_diff (entry, NULL, events);
        zhashx_delete (self->nodes, key);
    }
    if (count)
        s_reindex (self);
    pthread_mutex_unlock (&self->lock);
    zlistx_destroy (&keys);
    s_deliver (node, &events);
    return count;
}

static bool
s_is_uuid (const s_entry_t *entry, const void *arg)
{
    return streq (entry->uuid, (const char *) arg);
}

int
zm_registry_drop (zm_node_t *node, const char *uuid, const char *why)
{
    return uuid ? s_remove_where (node, s_is_uuid, uuid, why) : 0;
}

typedef struct {
    unsigned source;
    int64_t before;
} s_expiry_t;

static bool
s_is_expired (const s_entry_t *entry, const void *arg)
{
    const s_expiry_t *expiry = (const s_expiry_t *) arg;
    //  Only entries known through that source alone: a node that is also a
    //  static peer, or this node, is not expired by beacon silence.
    return entry->sources == expiry->source && entry->seen < expiry->before;
}

int
zm_registry_expire (zm_node_t *node, unsigned source, int64_t before, const char *why)
{
    s_expiry_t expiry = {source, before};
    return s_remove_where (node, s_is_expired, &expiry, why);
}

int
zm_registry_candidates (zm_node_t *node, const char *service, const char *version,
                        const zm_msg_t *match, char out[][128], int max)
{
    zm_registry_t *self = node->reg;
    const zm_val_t *pairs = match ? zm_msg_root (match) : NULL;
    int count = 0;
    pthread_mutex_lock (&self->lock);
    zlistx_t *list = (zlistx_t *) zhashx_lookup (self->services, service);
    if (list)
        for (s_instance_t *instance = (s_instance_t *) zlistx_first (list);
             instance && count < max; instance = (s_instance_t *) zlistx_next (list))
            if ((!version || streq (version, instance->version))
                && (!pairs || s_meta_matches (instance, pairs)))
                snprintf (out[count++], 128, "%s", instance->address);
    pthread_mutex_unlock (&self->lock);
    return count;
}

void
zm_registry_poke (zm_node_t *node)
{
    pthread_mutex_lock (&node->reg->lock);
    pthread_cond_broadcast (&node->reg->changed);
    pthread_mutex_unlock (&node->reg->lock);
}

bool
zm_registry_wait (zm_node_t *node, const char *service, int64_t until)
{
    zm_registry_t *self = node->reg;
    pthread_mutex_lock (&self->lock);
    //  Known, and every static peer has had its first say: a caller that
    //  starts with one of three peers answered would not spread evenly.
    bool known = zhashx_lookup (self->services, service) != NULL
                 && atomic_load (&node->statics_ready);
    while (!known) {
        int64_t left = until - zclock_mono ();
        if (left <= 0)
            break;
        struct timespec when;
        clock_gettime (CLOCK_REALTIME, &when);
        int64_t wait = left < 50 ? left : 50; //  short naps: CLOCK_REALTIME may jump
        when.tv_sec += wait / 1000;
        when.tv_nsec += (wait % 1000) * 1000000;
        if (when.tv_nsec >= 1000000000) {
            when.tv_sec++;
            when.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait (&self->changed, &self->lock, &when);
        known = zhashx_lookup (self->services, service) != NULL
                && atomic_load (&node->statics_ready);
    }
    pthread_mutex_unlock (&self->lock);
    return known;
}

zm_msg_t *
zm_registry_snapshot (zm_node_t *node)
{
    zm_registry_t *self = node->reg;
    zm_msg_t *list = zm_msg_new ();
    if (!list)
        return NULL;
    zm_val_t *nodes = zm_val_set_array (zm_msg_root_mut (list), "nodes");
    pthread_mutex_lock (&self->lock);
    for (s_entry_t *entry = (s_entry_t *) zhashx_first (self->nodes); entry && nodes;
         entry = (s_entry_t *) zhashx_next (self->nodes)) {
        zm_val_t *item = zm_val_push_map (nodes);
        zm_val_copy_into (item, "descriptor", zm_msg_root (entry->descriptor));
        zm_val_set_str (item, "host", entry->host);
        zm_val_set_int (item, "age_ms", zclock_mono () - entry->seen);
        zm_val_t *sources = zm_val_set_array (item, "sources");
        if (entry->sources & ZM_REG_SELF)
            zm_val_push_str (sources, "self");
        if (entry->sources & ZM_REG_BEACON)
            zm_val_push_str (sources, "beacon");
        if (entry->sources & ZM_REG_STATIC)
            zm_val_push_str (sources, "static");
    }
    pthread_mutex_unlock (&self->lock);
    return list;
}

//  --------------------------------------------------------------------------
//  Watchers

//  Register watch and queue (or tell) the current state as "add" events.
static int
s_watch_add (zm_node_t *node, zm_watch_t *watch)
{
    zm_registry_t *self = node->reg;
    zlistx_t *events = zlistx_new ();
    if (!events)
        return ZM_ENOMEM;
    pthread_mutex_lock (&self->lock);
    for (s_entry_t *entry = (s_entry_t *) zhashx_first (self->nodes); entry;
         entry = (s_entry_t *) zhashx_next (self->nodes))
        s_diff (NULL, entry, events);
    zlistx_add_end (self->watchers, watch);
    if (!watch->pid)
        for (zm_msg_t *event = (zm_msg_t *) zlistx_first (events); event;
             event = (zm_msg_t *) zlistx_next (events))
            zlistx_add_end (watch->queue, event);
    pthread_mutex_unlock (&self->lock);
    if (watch->pid) {
        for (zm_msg_t *event = (zm_msg_t *) zlistx_first (events); event;
             event = (zm_msg_t *) zlistx_next (events)) {
            zm_env_t *env = zm_env_new (ZM_ENV_TELL, watch->pid, 0, watch->type, &event);
            zm_msg_destroy (&event);
            if (env)
                zm_node_route (node, env);
        }
    }
    zlistx_destroy (&events);
    return 0;
}

zm_watch_t *
zm_watch_new (zm_node_t *node)
{
    if (!node || !node->reg)
        return NULL;
    zm_watch_t *self = (zm_watch_t *) calloc (1, sizeof (zm_watch_t));
    if (!self)
        return NULL;
    self->node = node;
    pthread_cond_init (&self->ready, NULL);
    self->queue = zlistx_new ();
    if (!self->queue || s_watch_add (node, self) != 0) {
        s_watch_free (self);
        return NULL;
    }
    return self;
}

int
zm_watch_next (zm_watch_t *self, zm_msg_t **event_p, int timeout_ms)
{
    if (!self || !event_p)
        return ZM_EINVAL;
    *event_p = NULL;
    if (zm_reactor_current () && timeout_ms != 0)
        return ZM_EBLOCKING;
    zm_registry_t *reg = self->node->reg;
    int64_t until = zclock_mono () + (timeout_ms > 0 ? timeout_ms : 0);
    pthread_mutex_lock (&reg->lock);
    while (zlistx_size (self->queue) == 0 && !self->closed) {
        int64_t left = until - zclock_mono ();
        if (timeout_ms >= 0 && left <= 0)
            break;
        struct timespec when;
        clock_gettime (CLOCK_REALTIME, &when);
        int64_t wait = timeout_ms < 0 || left > 100 ? 100 : left;
        when.tv_sec += wait / 1000;
        when.tv_nsec += (wait % 1000) * 1000000;
        if (when.tv_nsec >= 1000000000) {
            when.tv_sec++;
            when.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait (&self->ready, &reg->lock, &when);
    }
    zm_msg_t *event = (zm_msg_t *) zlistx_first (self->queue);
    if (event)
        zlistx_delete (self->queue, zlistx_cursor (self->queue));
    bool closed = self->closed;
    pthread_mutex_unlock (&reg->lock);
    *event_p = event;
    return event ? 0 : closed ? ZM_ECLOSED : ZM_ETIMEOUT;
}

size_t
zm_watch_dropped (zm_watch_t *self)
{
    if (!self)
        return 0;
    pthread_mutex_lock (&self->node->reg->lock);
    size_t dropped = self->dropped;
    pthread_mutex_unlock (&self->node->reg->lock);
    return dropped;
}

void
zm_watch_destroy (zm_watch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zm_watch_t *self = *self_p;
    zm_registry_t *reg = self->node->reg;
    pthread_mutex_lock (&reg->lock);
    void *handle = zlistx_find (reg->watchers, self);
    if (handle)
        zlistx_delete (reg->watchers, handle);
    pthread_mutex_unlock (&reg->lock);
    s_watch_free (self);
    *self_p = NULL;
}

int
zm_watch_actor (zm_ctx_t *ctx, const char *type)
{
    if (!ctx || !ctx->actor || !type || !*type || strlen (type) >= 64)
        return ZM_EINVAL;
    zm_node_t *node = zm_ctx_node (ctx);
    zm_watch_t *watch = (zm_watch_t *) calloc (1, sizeof (zm_watch_t));
    if (!watch)
        return ZM_ENOMEM;
    watch->node = node;
    watch->pid = ctx->actor->pid;
    pthread_cond_init (&watch->ready, NULL);
    snprintf (watch->type, sizeof watch->type, "%s", type);
    int rc = s_watch_add (node, watch);
    if (rc)
        s_watch_free (watch);
    return rc;
}

void
zm_registry_unwatch_pid (zm_node_t *node, zm_pid_t pid)
{
    zm_registry_t *self = node->reg;
    pthread_mutex_lock (&self->lock);
    zm_watch_t *watch = (zm_watch_t *) zlistx_first (self->watchers);
    while (watch) {
        if (watch->pid == pid) {
            zlistx_delete (self->watchers, zlistx_cursor (self->watchers));
            s_watch_free (watch);
            watch = (zm_watch_t *) zlistx_first (self->watchers);
        }
        else
            watch = (zm_watch_t *) zlistx_next (self->watchers);
    }
    pthread_mutex_unlock (&self->lock);
}

int
zm_unwatch_actor (zm_ctx_t *ctx)
{
    if (!ctx || !ctx->actor)
        return ZM_EINVAL;
    zm_registry_unwatch_pid (zm_ctx_node (ctx), ctx->actor->pid);
    return 0;
}

int
zm_registry_list (zm_node_t *node, zm_msg_t **list_p)
{
    if (!node || !list_p || !node->reg)
        return ZM_EINVAL;
    *list_p = zm_registry_snapshot (node);
    return *list_p ? 0 : ZM_ENOMEM;
}

//  --------------------------------------------------------------------------
//  For pub/sub (actors/zm_broker.c)

uint64_t
zm_registry_generation (zm_node_t *node)
{
    return atomic_load (&node->reg->generation);
}

int
zm_registry_members (zm_node_t *node, const char *topic, zm_member_t *out, int max)
{
    zm_registry_t *self = node->reg;
    int count = 0;
    pthread_mutex_lock (&self->lock);
    for (zm_member_t *member = (zm_member_t *) zlistx_first (self->members);
         member && count < max; member = (zm_member_t *) zlistx_next (self->members))
        if (zm_topic_match (member->pattern, topic)) {
            //  One entry per node and group: a node with two matching
            //  subscriptions in a group is one member.
            bool twice = false;
            for (int i = 0; i < count && !twice; i++)
                twice = streq (out[i].node, member->node) && streq (out[i].group, member->group);
            if (!twice)
                out[count++] = *member;
        }
    pthread_mutex_unlock (&self->lock);
    return count;
}

bool
zm_registry_key (zm_node_t *node, const char *endpoint, char key[41])
{
    zm_registry_t *self = node->reg;
    char host[64];
    int port = 0;
    bool found = false;
    if (!self || sscanf (endpoint, "tcp://%63[^:]:%d", host, &port) != 2)
        return false;
    pthread_mutex_lock (&self->lock);
    for (s_entry_t *entry = (s_entry_t *) zhashx_first (self->nodes); entry && !found;
         entry = (s_entry_t *) zhashx_next (self->nodes)) {
        if (!*entry->key || strneq (entry->host, host))
            continue;
        const zm_val_t *root = zm_msg_root (entry->descriptor);
        const zm_val_t *ports = zm_val_get (root, "rpc_ports");
        found = zm_val_uint (zm_val_get (root, "pub_port"), 0) == (uint64_t) port;
        for (size_t p = 0; !found && p < zm_val_size (ports); p++)
            found = zm_val_uint (zm_val_at (ports, p), 0) == (uint64_t) port;
        if (found)
            memcpy (key, entry->key, 41);
    }
    pthread_mutex_unlock (&self->lock);
    if (found)
        return true;
    //  Not heard from yet: the key registry.peers gives for that address
    char *peers = strdup (zm_config_get_str (node->config, "registry.peers", ""));
    size_t size = strlen (endpoint);
    for (char *save = NULL, *peer = peers ? strtok_r (peers, ", ", &save) : NULL;
         peer && !found; peer = strtok_r (NULL, ", ", &save)) {
        const char *hash = strchr (peer, '#');
        if (hash && (size_t) (hash - peer) == size && strncmp (peer, endpoint, size) == 0
            && strlen (hash + 1) == 40) {
            memcpy (key, hash + 1, 41);
            found = true;
        }
    }
    free (peers);
    return found;
}

bool
zm_registry_address_of (zm_node_t *node, const char *name, char out[128])
{
    zm_registry_t *self = node->reg;
    const s_entry_t *best = NULL;
    if (!self || !name)
        return false;
    pthread_mutex_lock (&self->lock);
    for (s_entry_t *entry = (s_entry_t *) zhashx_first (self->nodes); entry;
         entry = (s_entry_t *) zhashx_next (self->nodes)) {
        const zm_val_t *root = zm_msg_root (entry->descriptor);
        uint64_t port = zm_val_uint (zm_val_at (zm_val_get (root, "rpc_ports"), 0), 0);
        if (port && port <= 65535 && streq (zm_val_str (zm_val_get (root, "name"), "", NULL), name)
            && (!best || entry->seen > best->seen))
            best = entry;
    }
    if (best)
        s_address (best,
                   zm_val_uint (zm_val_at (zm_val_get (zm_msg_root (best->descriptor), "rpc_ports"),
                                           0),
                                0),
                   out, 128);
    pthread_mutex_unlock (&self->lock);
    return best != NULL;
}

int
zm_registry_publishers (zm_node_t *node, char out[][128], int max)
{
    zm_registry_t *self = node->reg;
    int count = 0;
    pthread_mutex_lock (&self->lock);
    for (s_entry_t *entry = (s_entry_t *) zhashx_first (self->nodes); entry && count < max;
         entry = (s_entry_t *) zhashx_next (self->nodes)) {
        if (entry->sources & ZM_REG_SELF)
            continue;
        uint64_t port = zm_val_uint (zm_val_get (zm_msg_root (entry->descriptor), "pub_port"), 0);
        if (port > 0 && port <= 65535)
            s_address (entry, port, out[count++], 128);
    }
    pthread_mutex_unlock (&self->lock);
    return count;
}
