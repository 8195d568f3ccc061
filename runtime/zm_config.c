/*  =========================================================================
    zm_config - layered configuration with hot reload

    Four layers of key -> text, lowest first: defaults, file, env, flags. A
    read walks them from the top and returns the first value it finds. Every
    value of a defined key is parsed and validated (type, range, choices)
    when its layer is built, and stored in canonical text ("+5" -> "5",
    "yes" -> "true"), so the effective configuration is always valid and a
    getter only has to turn text into the type asked for.

    A layer is always replaced whole: it is built aside, and only swapped in
    when every value in it is good. That is what keeps the last good config
    in force after a bad file, a bad variable or a bad flag.

    Every string a layer ever held (keys and values) is interned in a pool
    that lives until the config is destroyed. Getters hand out pool pointers,
    which therefore survive reloads; equal strings share one pointer, so the
    pool grows only with distinct values, and "did this key change" is a
    pointer comparison.

    Two locks. `lock` guards the layers, definitions and pool, and is all a
    getter takes. `op_lock` (recursive) serialises whatever changes a layer,
    together with the watcher calls that follow, so watchers see changes in
    order and may call back into the config (even zm_config_set) from inside.
    Lock order: op_lock, then lock.

    The file watcher is a zactor whose zloop timer re-reads the file every
    interval. Reading a small file each time is cheaper than being clever
    with mtimes, and catches in-place rewrites within one timestamp tick.
    =========================================================================
*/
#include "zm_internal.h"
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

//  A defined key, as written in the table below. Adding a runtime knob is
//  adding one line here; docs/config.md's key table is generated from it
//  (zm_config_describe) and a test keeps the two equal.
typedef struct {
    const char *key;         //  dotted name
    zm_config_type_t type;   //  value type
    const char *value;       //  default, as text
    bool ranged;             //  min and max apply (integers)
    int64_t min;             //  smallest allowed value
    int64_t max;             //  largest allowed value
    const char *choices;     //  allowed strings, '|'-separated, or NULL
    const char *description; //  one line for docs and dumps
} s_spec_t;

static const s_spec_t s_runtime_keys[] = {
    {"node.name", ZM_CONFIG_STR, "", false, 0, 0, NULL,
     "Node name in discovery and logs; empty means the host name"},
    {"reactors", ZM_CONFIG_INT, "1", true, 1, 64, NULL,
     "Reactor threads per node (read at start; a change needs a restart)"},
    {"log.level", ZM_CONFIG_STR, "notice", false, 0, 0, "error|warning|notice|info|debug",
     "Log threshold; applies live"},
    {"log.syslog", ZM_CONFIG_BOOL, "false", false, 0, 0, NULL,
     "Send log lines to syslog instead of stderr"},
    {"log.ident", ZM_CONFIG_STR, "zmicro", false, 0, 0, NULL, "Program name in syslog lines"},
    {"config.file", ZM_CONFIG_STR, "", false, 0, 0, NULL,
     "JSON config file zm_config_load reads; also --config and ZM_CONFIG"},
    {"config.reload_interval", ZM_CONFIG_INT, "250", true, 10, INT_MAX, NULL,
     "How often the watcher checks the config file, in ms; applies live"},
    {"actor.ask_timeout", ZM_CONFIG_INT, "5000", true, 1, INT_MAX, NULL,
     "Default timeout of an ask, in ms; applies live to new asks"},
    {"node.shutdown_timeout", ZM_CONFIG_INT, "5000", true, 0, INT_MAX, NULL,
     "How long a stopping node drains in-flight work, in ms"},
    {"rpc.bind", ZM_CONFIG_STR, "*", false, 0, 0, NULL,
     "Interface the reactors' RPC sockets bind to (* for all, or an address)"},
    {"rpc.port", ZM_CONFIG_INT, "0", true, 0, 65535, NULL,
     "First RPC port: reactor r binds rpc.port + r (at most 65535); 0 picks ephemeral ports"},
    {"rpc.max_body", ZM_CONFIG_INT, "16777216", true, 1, 67108864, NULL,
     "Largest request body a node accepts, in bytes"},
    {"rpc.timeout", ZM_CONFIG_INT, "5000", true, 1, 3600000, NULL,
     "Default deadline of a call, in ms, retries included; applies to new calls"},
    {"rpc.retries", ZM_CONFIG_INT, "1", true, 0, 10, NULL,
     "Further attempts after a connection failure, timeout or 503, each on another instance"},
    {"rpc.backoff", ZM_CONFIG_INT, "10", true, 0, 10000, NULL,
     "Pause before the first retry, in ms; doubles for each further one"},
    {"rpc.selector", ZM_CONFIG_STR, "random", false, 0, 0,
     "random|round_robin|least_outstanding", "How a client picks among instances"},
    {"rpc.breaker_failures", ZM_CONFIG_INT, "5", true, 1, 1000, NULL,
     "Consecutive failures that put an instance aside (circuit breaker opens)"},
    {"rpc.breaker_cooldown", ZM_CONFIG_INT, "5000", true, 1, 3600000, NULL,
     "How long an instance stays aside before one trial call, in ms"},
    {"stream.window", ZM_CONFIG_INT, "128", true, 1, 256, NULL,
     "Credit a stream's receiver grants, in messages: at most this many in flight each way; "
     "applies to new streams"},
    {"stream.timeout", ZM_CONFIG_INT, "600000", true, 1, 3600000, NULL,
     "Default deadline of a stream, in ms (at most one hour); applies to new streams"},
    {"stream.heartbeat", ZM_CONFIG_INT, "500", true, 20, 60000, NULL,
     "A stream idle this long (ms) sends a keepalive; a peer silent for three times it is "
     "taken for gone; applies to new streams"},
    {"registry.peers", ZM_CONFIG_STR, "", false, 0, 0, NULL,
     "Static peers: comma-separated RPC endpoints with public keys (tcp://host:port#KEY; "
     "#KEY may go when auth.curve is off) asked for their services"},
    {"registry.ttl", ZM_CONFIG_INT, "10000", true, 10, 3600000, NULL,
     "How often static peers are asked again (HELLO), in ms; silent for two rounds, dropped"},
    {"registry.beacon", ZM_CONFIG_BOOL, "true", false, 0, 0, NULL,
     "Find nodes on the LAN by UDP beacon (zero configuration); read at start"},
    {"registry.port", ZM_CONFIG_INT, "5690", true, 1, 65535, NULL,
     "UDP port of the beacons; every node of a cluster uses the same; read at start"},
    {"registry.interval", ZM_CONFIG_INT, "1000", true, 10, 60000, NULL,
     "How often a node sends its beacon, in ms; read at start"},
    {"registry.expiry", ZM_CONFIG_INT, "5000", true, 50, 3600000, NULL,
     "A node not heard for this long (ms) is dropped; applies live"},
    {"pubsub.port", ZM_CONFIG_INT, "0", true, 0, 65535, NULL,
     "TCP port of the node's PUB socket (on the rpc.bind interface); 0 picks one; read at start"},
    {"pubsub.queue", ZM_CONFIG_INT, "10000", true, 1, 10000000, NULL,
     "Events a subscription may have waiting for its handler; newer ones are dropped; read at start"},
    {"pubsub.hwm", ZM_CONFIG_INT, "10000", true, 0, 10000000, NULL,
     "ZeroMQ high-water mark of the PUB and SUB sockets, in events (0: none); read at start"},
    {"pubsub.max_body", ZM_CONFIG_INT, "1048576", true, 1, 67108864, NULL,
     "Largest event body published or accepted, in bytes; read at start"},
    {"store.backend", ZM_CONFIG_STR, "lmdb", false, 0, 0, "lmdb|memory",
     "The node's store: lmdb (on disk, the default) or memory; read when first used"},
    {"store.path", ZM_CONFIG_STR, "", false, 0, 0, NULL,
     "Directory of the LMDB store; empty: zm-data/<node name> in the working directory"},
    {"store.map_size", ZM_CONFIG_INT, "67108864", true, 1048576, INT64_C (1) << 40, NULL,
     "LMDB's initial map size in bytes (it doubles when full); read when first used"},
    {"store.sweep", ZM_CONFIG_INT, "1000", true, 0, 3600000, NULL,
     "Every this many ms expired records are removed from the store (0: never); applies live"},
    {"store.rpc", ZM_CONFIG_BOOL, "true", false, 0, 0, NULL,
     "Serve the node's store over RPC as the built-in service \"$store\"; read at start"},
    {"auth.keys", ZM_CONFIG_STR, "", false, 0, 0, NULL,
     "Directory of the node's keypair (node.cert, node.cert_secret), made on first start; "
     "empty: zm-keys/<node name>; :memory: a new keypair each start, no files; read at start"},
    {"auth.cluster_key", ZM_CONFIG_STR, "", false, 0, 0, NULL,
     "The cluster key (Z85 text) or the file holding it (zm keygen --cluster); empty: the "
     "node runs open, and says so; read at start"},
    {"sync.members", ZM_CONFIG_STR, "", false, 0, 0, NULL,
     "Names of the nodes of the Raft group of locks (comma-separated, the same order on "
     "every member, up to 9); empty: none here; read at start"},
    {"sync.expect", ZM_CONFIG_INT, "0", true, 0, 9, NULL,
     "With sync.members empty: form the group from discovery, of the first N nodes with the "
     "same sync.expect (stored once formed); 0: off; read at start"},
    {"sync.election_timeout", ZM_CONFIG_INT, "300", true, 20, 60000, NULL,
     "Raft election timeout in ms (each member waits a random time in [T, 2T)); read at start"},
    {"sync.heartbeat", ZM_CONFIG_INT, "50", true, 5, 30000, NULL,
     "How often the Raft leader sends to the others, in ms (below sync.election_timeout); "
     "read at start"},
    {"sync.snapshot_entries", ZM_CONFIG_INT, "1000", true, 2, 10000000, NULL,
     "A member snapshots its lock table and drops the log it covers after this many "
     "entries; read at start"},
    {"sync.trace", ZM_CONFIG_STR, "", false, 0, 0, NULL,
     "File to which a member appends each lock it grants or frees and each term it leads, "
     "one line each, flushed (an audit trail; the fault tests check it); empty: none; read "
     "at start"},
    {"auth.curve", ZM_CONFIG_BOOL, "true", false, 0, 0, NULL,
     "CURVE (encryption, authentication) on every TCP socket; off only to measure or debug: "
     "traffic in the clear; read at start"},
    {"auth.identity", ZM_CONFIG_STR, "", false, 0, 0, NULL,
     "DIR/NAME of a keypair (zm keygen --name NAME --dir DIR) this node calls and subscribes "
     "as; empty: as a member (with a cluster key) or as its own node key; read at start"},
    {"auth.identities", ZM_CONFIG_STR, "", false, 0, 0, NULL,
     "Directory of the identities this node admits: their public certificates (NAME.cert, "
     "with name and roles); re-read when it changes"},
    {"auth.rules", ZM_CONFIG_STR, "", false, 0, 0, NULL,
     "Access rules: a JSON array of {type, name, endpoint, role, access, priority}; none: "
     "everything admitted is allowed; applies live"},
    {"registry.interface", ZM_CONFIG_STR, "", false, 0, 0, NULL,
     "Beacon interface: name or address; empty: the first that can broadcast; * for all "
     "(255.255.255.255). Process-wide (czmq)"},
};

//  Where a value comes from, lowest priority first.
enum { S_DEFAULT = 0, S_FILE, S_ENV, S_FLAGS, S_LAYERS };

static const char *s_layer_names[S_LAYERS] = {"default", "file", "env", "flags"};
static const char *s_type_names[] = {"str", "int", "float", "bool"};

//  Files bigger than this are refused: a config file is not a database.
#define S_FILE_MAX (16u << 20)

//  A key definition held by a config (runtime and application keys alike).
typedef struct {
    char *key;              //  dotted name
    zm_config_type_t type;  //  value type
    char *value;            //  default, canonical text
    bool ranged;            //  min and max apply
    int64_t min;            //  smallest allowed integer
    int64_t max;            //  largest allowed integer
    char *choices;          //  allowed strings, '|'-separated, or NULL
    char *description;      //  one line
} s_def_t;

//  A registered watcher.
typedef struct {
    zm_config_watch_fn *fn; //  callback
    void *arg;              //  its argument
} s_watcher_t;

struct _zm_config_t {
    pthread_mutex_t lock;           //  guards defs, layers, pool
    pthread_mutex_t op_lock;        //  recursive; serialises changes and watcher calls
    zhashx_t *defs;                 //  key -> s_def_t
    zhashx_t *layers[S_LAYERS];     //  key -> value; both interned in pool
    zhashx_t *pool;                 //  every string the config held; freed at destroy
    zhashx_t *env_vars;             //  last ZM_* snapshot, name -> value (for define)
    zlistx_t *watchers;             //  s_watcher_t, under op_lock
    char *file_name;                //  file as given (config.file), NULL if none
    char *file_path;                //  same, absolute, for re-reading
    char *file_seen;                //  content last read, good or bad; NULL if missing
    size_t file_seen_size;          //  its size
    bool file_seen_ok;              //  that content is the file layer in force
    bool file_missing;              //  last read found no file (reported once)
    zactor_t *watcher;              //  file watcher thread, or NULL
    atomic_int watch_interval;      //  ms; 0 follows config.reload_interval
};

//  --------------------------------------------------------------------------
//  Small helpers

//  Set *err_p to a malloc'ed message when err_p is not NULL.
static void
s_fail (char **err_p, const char *format, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_fail (char **err_p, const char *format, ...)
{
    if (!err_p)
        return;
    va_list args;
    va_start (args, format);
    if (vasprintf (err_p, format, args) < 0)
        *err_p = NULL;
    va_end (args);
}

static void
s_clear (char **err_p)
{
    if (err_p)
        *err_p = NULL;
}

//  Keys are dotted names of letters, digits, '_' and '-'; no empty segment.
static bool
s_key_valid (const char *key)
{
    size_t len = key ? strlen (key) : 0;
    if (len == 0 || len > 255 || !isalnum ((unsigned char) key[0]) || key[len - 1] == '.')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = key[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                  || c == '_' || c == '-' || c == '.';
        if (!ok || (c == '.' && key[i + 1] == '.'))
            return false;
    }
    return true;
}

//  Whole-string base-10 integer: no blanks, no trailing junk, no overflow.
static bool
s_parse_int (const char *text, int64_t *value_p)
{
    if (!text || !(*text == '-' || *text == '+' || (*text >= '0' && *text <= '9')))
        return false;
    char *end = NULL;
    errno = 0;
    long long value = strtoll (text, &end, 10);
    if (errno || end == text || *end)
        return false;
    *value_p = value;
    return true;
}

static bool
s_parse_float (const char *text, double *value_p)
{
    if (!text || !*text || *text == ' ' || *text == '\t' || *text == '\n')
        return false;
    char *end = NULL;
    errno = 0;
    double value = strtod (text, &end);
    if (errno || end == text || *end || !isfinite (value))
        return false;
    *value_p = value;
    return true;
}

static bool
s_parse_bool (const char *text, bool *value_p)
{
    static const char *yes[] = {"true", "1", "yes", "on"};
    static const char *no[] = {"false", "0", "no", "off"};
    if (!text)
        return false;
    for (size_t i = 0; i < sizeof (yes) / sizeof (yes[0]); i++) {
        if (strcasecmp (text, yes[i]) == 0 || strcasecmp (text, no[i]) == 0) {
            *value_p = strcasecmp (text, yes[i]) == 0;
            return true;
        }
    }
    return false;
}

//  Shortest text that reads back as the same double.
static char *
s_float_text (double value)
{
    char *text = NULL;
    if (asprintf (&text, "%.15g", value) < 0)
        return NULL;
    if (strtod (text, NULL) != value) {
        free (text);
        if (asprintf (&text, "%.17g", value) < 0)
            return NULL;
    }
    return text;
}

//  Is text one of the '|'-separated choices?
static bool
s_choice_ok (const char *choices, const char *text)
{
    size_t len = strlen (text);
    const char *at = choices;
    while (at) {
        const char *bar = strchr (at, '|');
        size_t n = bar ? (size_t) (bar - at) : strlen (at);
        if (n == len && strncmp (at, text, n) == 0)
            return true;
        at = bar ? bar + 1 : NULL;
    }
    return false;
}

//  "a|b|c" -> "a, b, c". Caller frees.
static char *
s_choices_text (const char *choices)
{
    char *text = (char *) malloc (strlen (choices) * 2 + 1);
    if (!text)
        return NULL;
    char *out = text;
    for (const char *at = choices; *at; at++) {
        if (*at == '|') {
            *out++ = ',';
            *out++ = ' ';
        }
        else
            *out++ = *at;
    }
    *out = 0;
    return text;
}

//  Parse and validate text for a key (def may be NULL: undefined keys take
//  any text). On success returns 0 and *out_p, the canonical text; on
//  failure -1 and *reason_p, e.g. `"two" is not an integer`. Both malloc'ed.
static int
s_canon (const s_def_t *def, const char *text, char **out_p, char **reason_p)
{
    *out_p = NULL;
    *reason_p = NULL;
    if (!def) {
        *out_p = strdup (text);
        return *out_p ? 0 : -1;
    }
    int rc = 0;
    if (def->type == ZM_CONFIG_INT) {
        int64_t value = 0;
        if (!s_parse_int (text, &value))
            rc = asprintf (reason_p, "\"%s\" is not an integer", text);
        else if (def->ranged && value < def->min && def->max == INT_MAX)
            rc = asprintf (reason_p, "%" PRId64 " is below the minimum %" PRId64, value, def->min);
        else if (def->ranged && (value < def->min || value > def->max))
            rc = asprintf (reason_p, "%" PRId64 " is out of range %" PRId64 "..%" PRId64, value,
                           def->min, def->max);
        else
            rc = asprintf (out_p, "%" PRId64, value);
    }
    else if (def->type == ZM_CONFIG_FLOAT) {
        double value = 0;
        if (!s_parse_float (text, &value))
            rc = asprintf (reason_p, "\"%s\" is not a number", text);
        else
            *out_p = s_float_text (value);
    }
    else if (def->type == ZM_CONFIG_BOOL) {
        bool value = false;
        if (!s_parse_bool (text, &value))
            rc = asprintf (reason_p, "\"%s\" is not a boolean (true/false, 1/0, yes/no, on/off)",
                           text);
        else
            *out_p = strdup (value ? "true" : "false");
    }
    else if (def->choices && !s_choice_ok (def->choices, text)) {
        char *list = s_choices_text (def->choices);
        if (list)
            rc = asprintf (reason_p, "\"%s\" is not one of %s", text, list);
        free (list);
    }
    else
        *out_p = strdup (text);
    if (rc < 0)
        *out_p = *reason_p = NULL;      //  asprintf leaves them undefined
    return *out_p ? 0 : -1;
}

//  --------------------------------------------------------------------------
//  Definitions, layers and the pool

static void
s_def_destroy (s_def_t **self_p)
{
    if (self_p && *self_p) {
        s_def_t *self = *self_p;
        free (self->key);
        free (self->value);
        free (self->choices);
        free (self->description);
        free (self);
        *self_p = NULL;
    }
}

static void
s_def_free (void **item_p)
{
    s_def_destroy ((s_def_t **) item_p);
}

static void
s_str_free (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

//  A layer in force: keys and values are pool strings, nothing is owned.
static zhashx_t *
s_layer_new (void)
{
    zhashx_t *layer = zhashx_new ();
    if (layer) {
        zhashx_set_key_duplicator (layer, NULL);
        zhashx_set_key_destructor (layer, NULL);
    }
    return layer;
}

//  A layer being built: owns copies of keys and values.
static zhashx_t *
s_draft_new (void)
{
    zhashx_t *draft = zhashx_new ();
    if (draft)
        zhashx_set_destructor (draft, s_str_free);
    return draft;
}

//  Put a copy of value under key in a draft; replaces an earlier value.
static int
s_draft_put (zhashx_t *draft, const char *key, const char *value)
{
    char *copy = strdup (value);
    if (!copy)
        return ZM_ENOMEM;
    zhashx_update (draft, key, copy);
    return 0;
}

//  The pool copy of text (caller holds lock). NULL when out of memory.
static const char *
s_intern (zm_config_t *self, const char *text)
{
    const char *pooled = (const char *) zhashx_lookup (self->pool, text);
    if (pooled)
        return pooled;
    char *copy = strdup (text);
    if (!copy)
        return NULL;
    //  The pool's keys are its items: no key copy, the item destructor frees.
    zhashx_insert (self->pool, copy, copy);
    return copy;
}

//  Effective value of key (caller holds lock), reading layer index from
//  `layer` instead of the one in force when layer is not NULL.
static const char *
s_lookup_with (zm_config_t *self, const char *key, int index, zhashx_t *layer)
{
    for (int i = S_LAYERS - 1; i >= 0; i--) {
        zhashx_t *source = (i == index && layer) ? layer : self->layers[i];
        const char *value = (const char *) zhashx_lookup (source, key);
        if (value)
            return value;
    }
    return NULL;
}

//  Effective value and the layer holding it (caller holds lock).
static const char *
s_lookup (zm_config_t *self, const char *key, int *layer_p)
{
    for (int i = S_LAYERS - 1; i >= 0; i--) {
        const char *value = (const char *) zhashx_lookup (self->layers[i], key);
        if (value) {
            if (layer_p)
                *layer_p = i;
            return value;
        }
    }
    return NULL;
}

static int
s_key_compare (const void *a, const void *b)
{
    return strcmp ((const char *) a, (const char *) b);
}

//  Call the watchers with the changed keys (caller holds op_lock). Each
//  watcher is checked again before its call, so one removed by an earlier
//  watcher is not called.
static void
s_notify (zm_config_t *self, zlistx_t *changed)
{
    size_t count = zlistx_size (changed);
    size_t watchers = zlistx_size (self->watchers);
    if (count == 0 || watchers == 0)
        return;
    const char **keys = (const char **) calloc (count, sizeof (char *));
    s_watcher_t *calls = (s_watcher_t *) calloc (watchers, sizeof (s_watcher_t));
    if (!keys || !calls) {
        zm_log_error ("config: out of memory, %zu changed keys not notified", count);
        goto done;
    }
    size_t index = 0;
    for (const char *key = (const char *) zlistx_first (changed); key;
         key = (const char *) zlistx_next (changed))
        keys[index++] = key;
    index = 0;
    for (s_watcher_t *watcher = (s_watcher_t *) zlistx_first (self->watchers); watcher;
         watcher = (s_watcher_t *) zlistx_next (self->watchers))
        calls[index++] = *watcher;
    for (size_t i = 0; i < watchers; i++) {
        bool still = false;
        for (s_watcher_t *watcher = (s_watcher_t *) zlistx_first (self->watchers); watcher;
             watcher = (s_watcher_t *) zlistx_next (self->watchers))
            still |= watcher->fn == calls[i].fn && watcher->arg == calls[i].arg;
        if (still)
            calls[i].fn (self, keys, count, calls[i].arg);
    }
done:
    free (keys);
    free (calls);
}

//  Swap a draft in as layer index and tell the watchers which keys changed
//  in effect (caller holds op_lock). Takes the draft. Returns 0 or ZM_ENOMEM
//  (the layer in force is then unchanged).
static int
s_apply (zm_config_t *self, int index, zhashx_t **draft_p)
{
    zhashx_t *draft = *draft_p;
    zlistx_t *changed = zlistx_new ();
    zlistx_t *candidates = zlistx_new ();
    zhashx_t *seen = s_layer_new ();
    zhashx_t *layer = s_layer_new ();
    int rc = ZM_ENOMEM;
    if (!changed || !candidates || !seen || !layer)
        goto fail;
    zlistx_set_comparator (changed, s_key_compare);

    pthread_mutex_lock (&self->lock);
    for (const char *value = (const char *) zhashx_first (draft); value;
         value = (const char *) zhashx_next (draft)) {
        const char *key = s_intern (self, (const char *) zhashx_cursor (draft));
        const char *pooled = s_intern (self, value);
        if (!key || !pooled) {
            pthread_mutex_unlock (&self->lock);
            goto fail;
        }
        zhashx_insert (layer, key, (void *) pooled);
    }
    //  Every key of the old or new layer may have changed; none other can.
    //  Keys are gathered first, as a lookup resets a zhashx's cursor.
    zhashx_t *old = self->layers[index];
    for (int pass = 0; pass < 2; pass++) {
        zhashx_t *keys = pass == 0 ? old : layer;
        for (void *item = zhashx_first (keys); item; item = zhashx_next (keys))
            if (!zlistx_add_end (candidates, (void *) zhashx_cursor (keys))) {
                pthread_mutex_unlock (&self->lock);
                goto fail;
            }
    }
    for (const char *key = (const char *) zlistx_first (candidates); key;
         key = (const char *) zlistx_next (candidates)) {
        if (zhashx_lookup (seen, key))
            continue;
        zhashx_insert (seen, key, (void *) key);
        if (s_lookup_with (self, key, -1, NULL) != s_lookup_with (self, key, index, layer)
            && !zlistx_add_end (changed, (void *) key)) {
            pthread_mutex_unlock (&self->lock);
            goto fail;
        }
    }
    self->layers[index] = layer;
    layer = old;
    pthread_mutex_unlock (&self->lock);

    zlistx_sort (changed);
    s_notify (self, changed);
    rc = 0;
fail:
    zhashx_destroy (&layer);
    zhashx_destroy (&seen);
    zhashx_destroy (draft_p);
    zlistx_destroy (&candidates);
    zlistx_destroy (&changed);
    return rc;
}

//  Copy of a layer in force as a draft (caller holds op_lock).
static zhashx_t *
s_draft_of (zm_config_t *self, int index)
{
    zhashx_t *draft = s_draft_new ();
    pthread_mutex_lock (&self->lock);
    zhashx_t *layer = self->layers[index];
    for (const char *value = (const char *) zhashx_first (layer); value && draft;
         value = (const char *) zhashx_next (layer))
        if (s_draft_put (draft, (const char *) zhashx_cursor (layer), value))
            zhashx_destroy (&draft);
    pthread_mutex_unlock (&self->lock);
    return draft;
}

//  Validate text for key and put its canonical form in draft. On failure
//  *err_p gets "<where><key>: <reason>". Returns 0 or ZM_ECONFIG/ZM_ENOMEM.
static int
s_draft_set (zm_config_t *self, zhashx_t *draft, const char *key, const char *text,
             const char *where, char **err_p)
{
    pthread_mutex_lock (&self->lock);
    const s_def_t *def = (const s_def_t *) zhashx_lookup (self->defs, key);
    char *canonical = NULL, *reason = NULL;
    int rc = s_canon (def, text, &canonical, &reason);
    pthread_mutex_unlock (&self->lock);
    if (rc) {
        s_fail (err_p, "%s%s: %s", where, key, reason ? reason : "out of memory");
        free (reason);
        return reason ? ZM_ECONFIG : ZM_ENOMEM;
    }
    zhashx_update (draft, key, canonical);
    return 0;
}

//  --------------------------------------------------------------------------
//  Life cycle and definitions

zm_config_t *
zm_config_new (void)
{
    zm_config_t *self = (zm_config_t *) calloc (1, sizeof (zm_config_t));
    if (!self)
        return NULL;
    pthread_mutexattr_t attr;
    pthread_mutexattr_init (&attr);
    pthread_mutexattr_settype (&attr, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init (&self->op_lock, &attr);
    pthread_mutexattr_destroy (&attr);
    pthread_mutex_init (&self->lock, NULL);

    self->defs = zhashx_new ();
    self->pool = zhashx_new ();
    self->env_vars = s_draft_new ();
    self->watchers = zlistx_new ();
    if (!self->defs || !self->pool || !self->env_vars || !self->watchers)
        goto fail;
    zhashx_set_destructor (self->defs, s_def_free);
    zhashx_set_key_duplicator (self->pool, NULL);
    zhashx_set_key_destructor (self->pool, NULL);
    zhashx_set_destructor (self->pool, s_str_free);
    zlistx_set_destructor (self->watchers, s_str_free);
    for (int i = 0; i < S_LAYERS; i++)
        if (!(self->layers[i] = s_layer_new ()))
            goto fail;

    for (size_t i = 0; i < sizeof (s_runtime_keys) / sizeof (s_runtime_keys[0]); i++) {
        const s_spec_t *spec = &s_runtime_keys[i];
        if (zm_config_define (self, spec->key, spec->type, spec->value, spec->description))
            goto fail;
        s_def_t *def = (s_def_t *) zhashx_lookup (self->defs, spec->key);
        def->ranged = spec->ranged;
        def->min = spec->min;
        def->max = spec->max;
        if (spec->choices && !(def->choices = strdup (spec->choices)))
            goto fail;
    }
    return self;
fail:
    zm_config_destroy (&self);
    return NULL;
}

void
zm_config_destroy (zm_config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zm_config_t *self = *self_p;
    //  First the thread, which may be reading the config.
    zactor_destroy (&self->watcher);
    for (int i = 0; i < S_LAYERS; i++)
        zhashx_destroy (&self->layers[i]);
    zhashx_destroy (&self->defs);
    zhashx_destroy (&self->env_vars);
    zhashx_destroy (&self->pool);
    zlistx_destroy (&self->watchers);
    free (self->file_name);
    free (self->file_path);
    free (self->file_seen);
    pthread_mutex_destroy (&self->lock);
    pthread_mutex_destroy (&self->op_lock);
    free (self);
    *self_p = NULL;
}

//  ZM_ name of a key: upper case, '.' -> '_'. Caller frees.
static char *
s_env_name (const char *key)
{
    char *name = (char *) malloc (strlen (key) + 4);
    if (!name)
        return NULL;
    strcpy (name, "ZM_");
    for (char *at = name + 3; *key; key++, at++) {
        *at = *key == '.' ? '_' : (char) toupper ((unsigned char) *key);
        at[1] = 0;
    }
    return name;
}

//  Key of an undefined variable (name after "ZM_"): lower case, every '_'
//  a '.'. Caller frees.
static char *
s_env_generic (const char *name)
{
    char *key = strdup (name);
    for (char *at = key; at && *at; at++)
        *at = *at == '_' ? '.' : (char) tolower ((unsigned char) *at);
    return key;
}

//  Re-check the values every layer holds for a key that was just defined
//  (caller holds both locks). A value that does not fit the definition is
//  dropped and logged: an application often defines its keys after
//  zm_config_load, and its config must still load.
static void
s_revalidate (zm_config_t *self, const s_def_t *def)
{
    //  ZM_APP_MAX_ITEMS was read as app.max.items before app.max_items existed.
    char *name = s_env_name (def->key);
    const char *raw = name ? (const char *) zhashx_lookup (self->env_vars, name) : NULL;
    if (raw) {
        char *generic = s_env_generic (name + 3);
        if (generic)
            zhashx_delete (self->layers[S_ENV], generic);
        free (generic);
        const char *key = s_intern (self, def->key);
        const char *value = s_intern (self, raw);
        if (key && value)
            zhashx_update (self->layers[S_ENV], key, (void *) value);
    }
    free (name);
    for (int i = S_FILE; i < S_LAYERS; i++) {
        const char *text = (const char *) zhashx_lookup (self->layers[i], def->key);
        if (!text)
            continue;
        char *canonical = NULL, *reason = NULL;
        const char *pooled = NULL;
        if (s_canon (def, text, &canonical, &reason) == 0)
            pooled = s_intern (self, canonical);
        if (pooled)
            zhashx_update (self->layers[i], def->key, (void *) pooled);
        else {
            zm_log_warning ("config: %s: %s (from %s); ignored", def->key,
                            reason ? reason : "out of memory", s_layer_names[i]);
            zhashx_delete (self->layers[i], def->key);
        }
        free (canonical);
        free (reason);
    }
}

int
zm_config_define (zm_config_t *self, const char *key, zm_config_type_t type,
                  const char *default_value, const char *description)
{
    if (!self || !s_key_valid (key) || type < ZM_CONFIG_STR || type > ZM_CONFIG_BOOL)
        return ZM_EINVAL;
    int rc = ZM_ENOMEM;
    pthread_mutex_lock (&self->op_lock);
    pthread_mutex_lock (&self->lock);
    s_def_t *def = (s_def_t *) zhashx_lookup (self->defs, key);
    //  A redefined runtime key keeps its range and choices: check against them.
    s_def_t probe = {.type = type};
    char *value = NULL, *reason = NULL;
    bool parsed = s_canon (def && def->type == type ? def : &probe,
                           default_value ? default_value : "", &value, &reason) == 0;
    const char *pooled_key = s_intern (self, key);
    const char *pooled_value = parsed ? s_intern (self, value) : NULL;
    char *text = strdup (description ? description : "");
    if (def && def->type != type)
        rc = ZM_ECONFLICT;
    else if (!parsed && reason)
        rc = ZM_EINVAL;
    else if (!pooled_key || !pooled_value || !text)
        rc = ZM_ENOMEM;
    else if (def) {
        //  Same type again: a new default and description.
        free (def->value);
        free (def->description);
        def->value = value;
        def->description = text;
        value = text = NULL;
        zhashx_update (self->layers[S_DEFAULT], pooled_key, (void *) pooled_value);
        rc = 0;
    }
    else if ((def = (s_def_t *) calloc (1, sizeof (s_def_t)))
             && (def->key = strdup (key))) {
        def->type = type;
        def->value = value;
        def->description = text;
        value = text = NULL;
        zhashx_insert (self->defs, key, def);
        zhashx_update (self->layers[S_DEFAULT], pooled_key, (void *) pooled_value);
        s_revalidate (self, def);
        rc = 0;
    }
    else
        free (def);
    pthread_mutex_unlock (&self->lock);
    pthread_mutex_unlock (&self->op_lock);
    free (value);
    free (reason);
    free (text);
    return rc;
}

//  --------------------------------------------------------------------------
//  The file layer

//  Read a whole file. Returns 0, or ZM_EIO with *reason_p (malloc'ed).
static int
s_read_file (const char *path, char **data_p, size_t *size_p, char **reason_p)
{
    *data_p = NULL;
    *size_p = 0;
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *data = NULL;
    size_t size = 0, room = 0;
    if (fd < 0 || fstat (fd, &st) < 0)
        goto fail;
    if (!S_ISREG (st.st_mode)) {
        errno = EISDIR;
        goto fail;
    }
    while (true) {
        if (size == room) {
            room = room ? room * 2 : (size_t) st.st_size + 4096;
            if (room > S_FILE_MAX + 1)
                room = S_FILE_MAX + 1;
            char *bigger = (char *) realloc (data, room + 1);
            if (!bigger || size == room) {
                free (bigger ? bigger : data);
                data = NULL;
                errno = bigger ? EFBIG : ENOMEM;
                goto fail;
            }
            data = bigger;
        }
        ssize_t got = read (fd, data + size, room - size);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0)
            goto fail;
        if (got == 0)
            break;
        size += (size_t) got;
    }
    close (fd);
    data[size] = 0;
    *data_p = data;
    *size_p = size;
    return 0;
fail:
    if (asprintf (reason_p, "%s", strerror (errno)) < 0)
        *reason_p = NULL;
    if (fd >= 0)
        close (fd);
    free (data);
    return ZM_EIO;
}

//  "an integer": what a key of this type wants, for error messages.
static const char *
s_type_wanted (zm_config_type_t type)
{
    static const char *names[] = {"a string", "an integer", "a number", "a boolean"};
    return names[type];
}

static const char *
s_json_type_name (zm_type_t type)
{
    static const char *names[] = {"null", "a boolean", "an integer", "an integer", "a number",
                                  "a string", "binary", "an array", "an object"};
    return type <= ZM_TYPE_MAP ? names[type] : "unknown";
}

//  Copy src into dst: under key when dst is a map, appended when key is NULL.
static int
s_copy_val (zm_val_t *dst, const char *key, const zm_val_t *src)
{
    size_t size = 0;
    switch (zm_val_type (src)) {
    case ZM_TYPE_BOOL:
        return key ? zm_val_set_bool (dst, key, zm_val_bool (src, false))
                   : zm_val_push_bool (dst, zm_val_bool (src, false));
    case ZM_TYPE_INT:
        return key ? zm_val_set_int (dst, key, zm_val_int (src, 0))
                   : zm_val_push_int (dst, zm_val_int (src, 0));
    case ZM_TYPE_UINT:
        return key ? zm_val_set_uint (dst, key, zm_val_uint (src, 0))
                   : zm_val_push_uint (dst, zm_val_uint (src, 0));
    case ZM_TYPE_FLOAT:
        return key ? zm_val_set_float (dst, key, zm_val_float (src, 0))
                   : zm_val_push_float (dst, zm_val_float (src, 0));
    case ZM_TYPE_STR: {
        const char *text = zm_val_str (src, "", &size);
        return key ? zm_val_set_strn (dst, key, text, size) : zm_val_push_strn (dst, text, size);
    }
    case ZM_TYPE_BIN: {
        const void *data = zm_val_bin (src, &size);
        return key ? zm_val_set_bin (dst, key, data, size) : zm_val_push_bin (dst, data, size);
    }
    case ZM_TYPE_ARRAY:
    case ZM_TYPE_MAP: {
        bool map = zm_val_type (src) == ZM_TYPE_MAP;
        zm_val_t *child = map ? (key ? zm_val_set_map (dst, key) : zm_val_push_map (dst))
                              : (key ? zm_val_set_array (dst, key) : zm_val_push_array (dst));
        if (!child)
            return ZM_ENOMEM;
        for (size_t i = 0; i < zm_val_size (src); i++) {
            const char *name = map ? zm_val_key_at (src, i, NULL) : NULL;
            if (map && !name)
                return ZM_ECODEC;
            int rc = s_copy_val (child, name, zm_val_at (src, i));
            if (rc)
                return rc;
        }
        return 0;
    }
    default:
        return key ? zm_val_set_nil (dst, key) : zm_val_push_nil (dst);
    }
}

//  A JSON array as its compact JSON text. Caller frees; NULL on failure.
static char *
s_array_text (const zm_val_t *array)
{
    char *text = NULL;
    void *data = NULL;
    size_t size = 0;
    zm_msg_t *msg = zm_msg_new ();
    zm_val_t *root = msg ? zm_msg_set_root_array (msg) : NULL;
    if (!root)
        goto done;
    for (size_t i = 0; i < zm_val_size (array); i++)
        if (s_copy_val (root, NULL, zm_val_at (array, i)))
            goto done;
    if (zm_msg_encode (msg, ZM_CT_JSON, &data, &size) == 0)
        text = strndup ((const char *) data, size);
done:
    free (data);
    zm_msg_destroy (&msg);
    return text;
}

//  One JSON leaf as text, refusing a JSON type that does not fit the key's
//  type (want: NULL for an undefined key, which takes any leaf). Returns 0
//  with *text_p (malloc'ed; NULL for null, which leaves the key unset), or
//  ZM_ECONFIG with *reason_p.
static int
s_leaf_text (const zm_config_type_t *want, const zm_val_t *val, char **text_p, char **reason_p)
{
    zm_type_t type = zm_val_type (val);
    bool any = !want;
    bool number = any || *want == ZM_CONFIG_INT || *want == ZM_CONFIG_FLOAT;
    int rc = 0;
    *text_p = NULL;
    *reason_p = NULL;
    if (type == ZM_TYPE_NIL)
        return 0;
    else if (type == ZM_TYPE_BOOL && (any || *want == ZM_CONFIG_BOOL))
        *text_p = strdup (zm_val_bool (val, false) ? "true" : "false");
    else if (type == ZM_TYPE_INT && number)
        rc = asprintf (text_p, "%" PRId64, zm_val_int (val, 0));
    else if (type == ZM_TYPE_UINT && number)
        rc = asprintf (text_p, "%" PRIu64, zm_val_uint (val, 0));
    else if (type == ZM_TYPE_FLOAT && (any || *want == ZM_CONFIG_FLOAT))
        *text_p = s_float_text (zm_val_float (val, 0));
    else if (type == ZM_TYPE_STR && (any || *want == ZM_CONFIG_STR))
        *text_p = strdup (zm_val_str (val, "", NULL));
    else if (type == ZM_TYPE_ARRAY && any)
        *text_p = s_array_text (val);
    else {
        if (asprintf (reason_p, "expected %s, got %s", any ? "text" : s_type_wanted (*want),
                      s_json_type_name (type)) < 0)
            *reason_p = NULL;
        return ZM_ECONFIG;
    }
    if (rc < 0)
        *text_p = NULL;
    return *text_p ? 0 : -1;
}

//  Flatten a JSON object into draft under prefix. Errors name the key.
static int
s_flatten (zm_config_t *self, const zm_val_t *map, const char *prefix, zhashx_t *draft,
           const char *where, char **err_p)
{
    for (size_t i = 0; i < zm_val_size (map); i++) {
        size_t len = 0;
        const char *name = zm_val_key_at (map, i, &len);
        const zm_val_t *val = zm_val_at (map, i);
        bool named = name && strlen (name) == len;
        char *key = NULL, *text = NULL, *reason = NULL;
        if (asprintf (&key, "%s%s%s", prefix ? prefix : "", prefix ? "." : "",
                      named ? name : "") < 0) {
            s_fail (err_p, "%sout of memory", where);
            return ZM_ENOMEM;
        }
        pthread_mutex_lock (&self->lock);
        const s_def_t *def = (const s_def_t *) zhashx_lookup (self->defs, key);
        zm_config_type_t type = def ? def->type : ZM_CONFIG_STR;
        pthread_mutex_unlock (&self->lock);

        int rc = 0;
        if (!named || !s_key_valid (key))
            reason = strdup ("not a valid key name");
        else if (zm_val_type (val) == ZM_TYPE_MAP && def)
            rc = asprintf (&reason, "expected %s, got an object", s_type_wanted (type));
        else if (zm_val_type (val) == ZM_TYPE_MAP)
            rc = s_flatten (self, val, key, draft, where, err_p);
        else if (zhashx_lookup (draft, key))
            reason = strdup ("given twice");
        else if (streq (key, "config.file"))
            reason = strdup ("cannot be set inside the config file");
        //  auth.rules is text, and a JSON array of rules in a file is kept
        //  as its JSON text
        else if ((rc = s_leaf_text (def && !streq (key, "auth.rules") ? &type : NULL, val, &text,
                                    &reason))
                     == 0
                 && text)
            rc = s_draft_set (self, draft, key, text, where, err_p);
        if (reason) {
            s_fail (err_p, "%s%s: %s", where, key, reason);
            rc = ZM_ECONFIG;
        }
        else if (rc == ZM_ECONFIG || rc < 0) {
            //  s_leaf_text could not even allocate its reason.
            if (err_p && !*err_p)
                s_fail (err_p, "%sout of memory", where);
            rc = rc < 0 ? ZM_ENOMEM : rc;
        }
        free (key);
        free (text);
        free (reason);
        if (rc)
            return rc;
    }
    return 0;
}

//  Parse file content into a draft file layer. Returns 0, ZM_ECODEC,
//  ZM_ECONFIG or ZM_ENOMEM with *err_p set.
static int
s_file_draft (zm_config_t *self, const char *name, const char *data, size_t size,
              zhashx_t **draft_p, char **err_p)
{
    *draft_p = NULL;
    char *where = NULL;
    if (asprintf (&where, "%s: ", name) < 0)
        return ZM_ENOMEM;
    zm_msg_t *msg = NULL;
    const char *reason = NULL;
    zhashx_t *draft = NULL;
    int rc = ZM_ECODEC;
    size_t blank = strspn (data, " \t\r\n");
    if (blank == size) {
        //  An in-place rewrite caught half-way looks like this.
        s_fail (err_p, "%sfile is empty", where);
        goto done;
    }
    if (zm_msg_decode (ZM_CT_JSON, data, size, &msg, &reason)) {
        s_fail (err_p, "%sbad JSON: %s", where, reason ? reason : "cannot decode");
        goto done;
    }
    if (zm_val_type (zm_msg_root (msg)) != ZM_TYPE_MAP) {
        s_fail (err_p, "%sbad JSON: the top level must be an object", where);
        goto done;
    }
    rc = ZM_ENOMEM;
    if (!(draft = s_draft_new ()))
        goto done;
    rc = s_flatten (self, zm_msg_root (msg), NULL, draft, where, err_p);
    if (rc == 0 && s_draft_put (draft, "config.file", name))
        rc = ZM_ENOMEM;
    if (rc == 0)
        *draft_p = draft;
    else
        zhashx_destroy (&draft);
done:
    if (rc == ZM_ENOMEM && err_p && !*err_p)
        s_fail (err_p, "%sout of memory", where);
    zm_msg_destroy (&msg);
    free (where);
    return rc;
}

int
zm_config_load_file (zm_config_t *self, const char *path, char **err_p)
{
    s_clear (err_p);
    if (!self || !path || !*path) {
        s_fail (err_p, "config: no file name");
        return ZM_EINVAL;
    }
    char *data = NULL, *reason = NULL;
    size_t size = 0;
    zhashx_t *draft = NULL;
    pthread_mutex_lock (&self->op_lock);
    int rc = s_read_file (path, &data, &size, &reason);
    if (rc) {
        s_fail (err_p, "%s: %s", path, reason ? reason : "cannot read");
        goto done;
    }
    if ((rc = s_file_draft (self, path, data, size, &draft, err_p)))
        goto done;
    char *name = strdup (path);
    char *real = realpath (path, NULL);
    if (!real)
        real = strdup (path);
    if (!name || !real) {
        free (name);
        free (real);
        zhashx_destroy (&draft);
        s_fail (err_p, "%s: out of memory", path);
        rc = ZM_ENOMEM;
        goto done;
    }
    free (self->file_name);
    free (self->file_path);
    free (self->file_seen);
    self->file_name = name;
    self->file_path = real;
    self->file_seen = data;
    self->file_seen_size = size;
    self->file_seen_ok = true;
    self->file_missing = false;
    data = NULL;
    rc = s_apply (self, S_FILE, &draft);
done:
    pthread_mutex_unlock (&self->op_lock);
    free (data);
    free (reason);
    return rc;
}

//  Re-read the file; automatic reloads report each new problem once.
static int
s_reload (zm_config_t *self, bool automatic, char **err_p)
{
    char *data = NULL, *reason = NULL, *error = NULL;
    size_t size = 0;
    zhashx_t *draft = NULL;
    int rc = ZM_EINVAL;
    pthread_mutex_lock (&self->op_lock);
    if (!self->file_path) {
        s_fail (&error, "config: no file loaded");
        goto done;
    }
    if ((rc = s_read_file (self->file_path, &data, &size, &reason))) {
        s_fail (&error, "%s: %s", self->file_name, reason ? reason : "cannot read");
        bool reported = automatic && self->file_missing;
        self->file_missing = true;
        free (self->file_seen);
        self->file_seen = NULL;
        self->file_seen_ok = false;
        if (automatic && !reported)
            zm_log_warning ("config: %s; keeping the last good configuration", error);
        goto done;
    }
    bool same = !self->file_missing && self->file_seen && size == self->file_seen_size
                && memcmp (data, self->file_seen, size) == 0;
    self->file_missing = false;
    if (same && (self->file_seen_ok || automatic)) {
        rc = 0;                 //  nothing new; a bad one was reported already
        goto done;
    }
    free (self->file_seen);
    self->file_seen = data;
    self->file_seen_size = size;
    data = NULL;
    rc = s_file_draft (self, self->file_name, self->file_seen, size, &draft, &error);
    self->file_seen_ok = rc == 0;
    if (rc == 0)
        rc = s_apply (self, S_FILE, &draft);
    else if (automatic)
        zm_log_warning ("config: %s; keeping the last good configuration", error);
done:
    pthread_mutex_unlock (&self->op_lock);
    if (err_p)
        *err_p = error;
    else
        free (error);
    free (data);
    free (reason);
    return rc;
}

int
zm_config_reload (zm_config_t *self, char **err_p)
{
    s_clear (err_p);
    if (!self)
        return ZM_EINVAL;
    return s_reload (self, false, err_p);
}

//  --------------------------------------------------------------------------
//  The env and flags layers

//  Key an environment variable sets (after "ZM_"); NULL when none. Caller frees.
static char *
s_env_key (zm_config_t *self, const char *name)
{
    if (strcmp (name, "CONFIG") == 0)
        return strdup ("config.file");
    //  A defined key matches exactly first: ZM_ACTOR_ASK_TIMEOUT.
    pthread_mutex_lock (&self->lock);
    char *found = NULL;
    for (s_def_t *def = (s_def_t *) zhashx_first (self->defs); def && !found;
         def = (s_def_t *) zhashx_next (self->defs)) {
        char *env = s_env_name (def->key);
        if (env && strcmp (env + 3, name) == 0)
            found = strdup (def->key);
        free (env);
    }
    pthread_mutex_unlock (&self->lock);
    if (found)
        return found;
    char *key = s_env_generic (name);
    if (key && !s_key_valid (key))
        zstr_free (&key);
    return key;
}

int
zm_config_load_env (zm_config_t *self, char **err_p)
{
    s_clear (err_p);
    if (!self)
        return ZM_EINVAL;
    zhashx_t *vars = s_draft_new ();
    zhashx_t *draft = s_draft_new ();
    int rc = ZM_ENOMEM;
    if (!vars || !draft)
        goto fail;
    for (char **env = environ; env && *env; env++) {
        const char *equals = strchr (*env, '=');
        if (strncmp (*env, "ZM_", 3) != 0 || !equals || equals == *env + 3)
            continue;
        char *name = strndup (*env, (size_t) (equals - *env));
        if (!name || s_draft_put (vars, name, equals + 1)) {
            free (name);
            goto fail;
        }
        free (name);
    }
    pthread_mutex_lock (&self->op_lock);
    //  ZM_CONFIG first: the exact ZM_CONFIG_FILE wins when both are set.
    rc = 0;
    zlistx_t *names = zhashx_keys (vars);
    if (!names)
        rc = ZM_ENOMEM;
    else {
        zlistx_set_comparator (names, s_key_compare);
        zlistx_sort (names);
    }
    for (const char *name = names ? (const char *) zlistx_first (names) : NULL; name && !rc;
         name = (const char *) zlistx_next (names)) {
        char *key = s_env_key (self, name + 3);
        char *where = NULL;
        if (key && asprintf (&where, "%s: ", name) >= 0)
            rc = s_draft_set (self, draft, key, (const char *) zhashx_lookup (vars, name),
                              where, err_p);
        free (where);
        free (key);
    }
    zlistx_destroy (&names);
    if (rc == 0) {
        zhashx_t *old = self->env_vars;
        pthread_mutex_lock (&self->lock);
        self->env_vars = vars;
        pthread_mutex_unlock (&self->lock);
        vars = old;
        rc = s_apply (self, S_ENV, &draft);
    }
    pthread_mutex_unlock (&self->op_lock);
fail:
    if (rc == ZM_ENOMEM && err_p && !*err_p)
        s_fail (err_p, "config: out of memory");
    zhashx_destroy (&vars);
    zhashx_destroy (&draft);
    return rc;
}

//  Is the key defined as a bool (caller holds no lock)?
static bool
s_is_bool (zm_config_t *self, const char *key)
{
    pthread_mutex_lock (&self->lock);
    const s_def_t *def = (const s_def_t *) zhashx_lookup (self->defs, key);
    bool is_bool = def && def->type == ZM_CONFIG_BOOL;
    pthread_mutex_unlock (&self->lock);
    return is_bool;
}

//  Read argv flags into draft. Returns 0 or ZM_ECONFIG/ZM_ENOMEM with *err_p.
static int
s_args_draft (zm_config_t *self, int argc, char **argv, zhashx_t *draft, char **err_p)
{
    for (int i = 1; argv && i < argc && argv[i]; i++) {
        const char *arg = argv[i];
        if (strcmp (arg, "--") == 0)
            break;
        if (strncmp (arg, "--", 2) != 0)
            continue;           //  not a flag: the application's business
        const char *equals = strchr (arg, '=');
        char *key = equals ? strndup (arg + 2, (size_t) (equals - arg - 2)) : strdup (arg + 2);
        if (!key)
            return ZM_ENOMEM;
        if (strcmp (key, "config") == 0) {
            free (key);
            key = strdup ("config.file");
            if (!key)
                return ZM_ENOMEM;
        }
        const char *value = equals ? equals + 1 : NULL;
        bool flag_value = false;
        int rc = 0;
        if (!s_key_valid (key)) {
            s_fail (err_p, "%s: not a valid flag (expected --key=value)", arg);
            rc = ZM_ECONFIG;
        }
        else if (!value && s_is_bool (self, key)) {
            //  A bare bool flag is true; a following true/false/... is its value.
            value = "true";
            if (i + 1 < argc && argv[i + 1] && s_parse_bool (argv[i + 1], &flag_value))
                value = argv[++i];
        }
        else if (!value && (i + 1 >= argc || !argv[i + 1] || strncmp (argv[i + 1], "--", 2) == 0)) {
            s_fail (err_p, "%s: missing value", arg);
            rc = ZM_ECONFIG;
        }
        else if (!value)
            value = argv[++i];
        if (rc == 0)
            rc = s_draft_set (self, draft, key, value, "--", err_p);
        free (key);
        if (rc)
            return rc;
    }
    return 0;
}

//  Change the flags layer: with argv, add its flags; else set key to value
//  (NULL: remove it). Then apply and notify.
static int
s_update_flags (zm_config_t *self, int argc, char **argv, const char *key, const char *value,
                char **err_p)
{
    pthread_mutex_lock (&self->op_lock);
    zhashx_t *draft = s_draft_of (self, S_FLAGS);
    int rc = draft ? 0 : ZM_ENOMEM;
    if (draft && !key)
        rc = s_args_draft (self, argc, argv, draft, err_p);
    else if (draft && value)
        rc = s_draft_set (self, draft, key, value, "", err_p);
    else if (draft)
        zhashx_delete (draft, key);
    if (rc == 0)
        rc = s_apply (self, S_FLAGS, &draft);
    pthread_mutex_unlock (&self->op_lock);
    if (rc == ZM_ENOMEM && err_p && !*err_p)
        s_fail (err_p, "config: out of memory");
    zhashx_destroy (&draft);
    return rc;
}

int
zm_config_load_args (zm_config_t *self, int argc, char **argv, char **err_p)
{
    s_clear (err_p);
    if (!self)
        return ZM_EINVAL;
    return s_update_flags (self, argc, argv, NULL, NULL, err_p);
}

int
zm_config_set (zm_config_t *self, const char *key, const char *value, char **err_p)
{
    s_clear (err_p);
    if (!self || !s_key_valid (key)) {
        s_fail (err_p, "%s: not a valid key", key ? key : "(null)");
        return ZM_EINVAL;
    }
    return s_update_flags (self, 0, NULL, key, value, err_p);
}

int
zm_config_load_all (zm_config_t *self, int argc, char **argv, char **err_p)
{
    s_clear (err_p);
    if (!self)
        return ZM_EINVAL;
    //  The file's name comes from the env and flags layers, so they are read
    //  first; the layer order decides who wins, not the order of loading.
    int rc = zm_config_load_env (self, err_p);
    if (rc == 0)
        rc = zm_config_load_args (self, argc, argv, err_p);
    const char *path = rc == 0 ? zm_config_get_str (self, "config.file", "") : "";
    if (rc == 0 && *path)
        rc = zm_config_load_file (self, path, err_p);
    return rc;
}

zm_config_t *
zm_config_load (int argc, char **argv, char **err_p)
{
    s_clear (err_p);
    zm_config_t *self = zm_config_new ();
    if (!self) {
        s_fail (err_p, "config: out of memory");
        return NULL;
    }
    if (zm_config_load_all (self, argc, argv, err_p))
        zm_config_destroy (&self);
    return self;
}

//  --------------------------------------------------------------------------
//  Getters

const char *
zm_config_get_str (zm_config_t *self, const char *key, const char *fallback)
{
    if (!self || !key)
        return fallback;
    pthread_mutex_lock (&self->lock);
    const char *value = s_lookup (self, key, NULL);
    pthread_mutex_unlock (&self->lock);
    return value ? value : fallback;
}

int64_t
zm_config_get_int (zm_config_t *self, const char *key, int64_t fallback)
{
    int64_t value = 0;
    return s_parse_int (zm_config_get_str (self, key, NULL), &value) ? value : fallback;
}

double
zm_config_get_float (zm_config_t *self, const char *key, double fallback)
{
    double value = 0;
    return s_parse_float (zm_config_get_str (self, key, NULL), &value) ? value : fallback;
}

bool
zm_config_get_bool (zm_config_t *self, const char *key, bool fallback)
{
    bool value = false;
    return s_parse_bool (zm_config_get_str (self, key, NULL), &value) ? value : fallback;
}

bool
zm_config_has (zm_config_t *self, const char *key)
{
    return zm_config_get_str (self, key, NULL) != NULL;
}

//  --------------------------------------------------------------------------
//  Watchers

int
zm_config_watch (zm_config_t *self, zm_config_watch_fn *fn, void *arg)
{
    if (!self || !fn)
        return ZM_EINVAL;
    s_watcher_t *watcher = (s_watcher_t *) calloc (1, sizeof (s_watcher_t));
    if (!watcher)
        return ZM_ENOMEM;
    watcher->fn = fn;
    watcher->arg = arg;
    pthread_mutex_lock (&self->op_lock);
    void *handle = zlistx_add_end (self->watchers, watcher);
    pthread_mutex_unlock (&self->op_lock);
    if (!handle)
        free (watcher);
    return handle ? 0 : ZM_ENOMEM;
}

int
zm_config_unwatch (zm_config_t *self, zm_config_watch_fn *fn, void *arg)
{
    if (!self)
        return ZM_EINVAL;
    int rc = ZM_ENOTFOUND;
    pthread_mutex_lock (&self->op_lock);
    for (s_watcher_t *watcher = (s_watcher_t *) zlistx_first (self->watchers); watcher;
         watcher = (s_watcher_t *) zlistx_next (self->watchers)) {
        if (watcher->fn == fn && watcher->arg == arg) {
            zlistx_delete (self->watchers, zlistx_cursor (self->watchers));
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock (&self->op_lock);
    return rc;
}

//  --------------------------------------------------------------------------
//  The file watcher thread

//  State of the watcher actor, on its stack.
typedef struct {
    zm_config_t *config;    //  what it watches
    zloop_t *loop;          //  its reactor
    int timer;              //  poll timer id
    int interval;           //  current poll interval, ms
} s_poller_t;

static int
s_poll_interval (zm_config_t *config)
{
    int interval = atomic_load (&config->watch_interval);
    if (interval <= 0)
        interval = (int) zm_config_get_int (config, "config.reload_interval", 250);
    return interval > 0 ? interval : 250;
}

static int
s_on_tick (zloop_t *loop, int timer_id, void *arg)
{
    s_poller_t *poller = (s_poller_t *) arg;
    s_reload (poller->config, true, NULL);
    //  The interval itself may just have been reloaded.
    int interval = s_poll_interval (poller->config);
    if (interval != poller->interval) {
        zloop_timer_end (loop, poller->timer);
        poller->interval = interval;
        poller->timer = zloop_timer (loop, (size_t) interval, 0, s_on_tick, poller);
    }
    return 0;
}

static int
s_on_pipe (zloop_t *loop, zsock_t *pipe, void *arg)
{
    char *command = zstr_recv (pipe);
    bool term = !command || streq (command, "$TERM");
    zstr_free (&command);
    return term ? -1 : 0;
}

static void
s_watcher_actor (zsock_t *pipe, void *args)
{
    s_poller_t poller = {.config = (zm_config_t *) args};
    poller.loop = zloop_new ();
    if (!poller.loop) {
        zsock_signal (pipe, 0);
        return;
    }
    zloop_set_nonstop (poller.loop, true);
    poller.interval = s_poll_interval (poller.config);
    poller.timer = zloop_timer (poller.loop, (size_t) poller.interval, 0, s_on_tick, &poller);
    zloop_reader (poller.loop, pipe, s_on_pipe, NULL);
    zsock_signal (pipe, 0);
    zloop_start (poller.loop);
    zloop_destroy (&poller.loop);
}

int
zm_config_start_watcher (zm_config_t *self, int interval_ms)
{
    if (!self || interval_ms < 0)
        return ZM_EINVAL;
    int rc = 0;
    pthread_mutex_lock (&self->op_lock);
    atomic_store (&self->watch_interval, interval_ms);
    if (!self->file_path)
        rc = ZM_EINVAL;
    else if (!self->watcher && !(self->watcher = zactor_new (s_watcher_actor, self)))
        rc = ZM_ENOMEM;
    pthread_mutex_unlock (&self->op_lock);
    return rc;
}

//  --------------------------------------------------------------------------
//  Dump and describe

//  Sorted keys (caller holds lock): the defined ones, or all with a value.
static zlistx_t *
s_sorted_keys (zm_config_t *self, bool defined)
{
    zlistx_t *keys = zlistx_new ();
    if (!keys)
        return NULL;
    zlistx_set_comparator (keys, s_key_compare);
    int sources = defined ? 1 : S_LAYERS;
    for (int i = 0; i < sources; i++) {
        zhashx_t *source = defined ? self->defs : self->layers[i];
        for (void *item = zhashx_first (source); item; item = zhashx_next (source)) {
            const char *key = (const char *) zhashx_cursor (source);
            if (!zlistx_find (keys, (void *) key) && !zlistx_add_end (keys, (void *) key)) {
                zlistx_destroy (&keys);
                return NULL;
            }
        }
    }
    zlistx_sort (keys);
    return keys;
}

//  Writes one line about key (caller holds lock). Returns 0 or an error.
typedef int (s_line_fn) (zm_config_t *self, const char *key, FILE *out);

//  A malloc'ed text: header, then one line per key. NULL on failure.
static char *
s_render (zm_config_t *self, bool defined, const char *header, s_line_fn *line)
{
    if (!self)
        return NULL;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;
    int rc = fputs (header, out) < 0 ? ZM_ENOMEM : 0;
    pthread_mutex_lock (&self->lock);
    zlistx_t *keys = s_sorted_keys (self, defined);
    if (!keys)
        rc = ZM_ENOMEM;
    for (const char *key = keys ? (const char *) zlistx_first (keys) : NULL; key && !rc;
         key = (const char *) zlistx_next (keys))
        rc = line (self, key, out);
    pthread_mutex_unlock (&self->lock);
    zlistx_destroy (&keys);
    if (fclose (out) || rc)
        zstr_free (&text);
    return text;
}

//  One dump line: the key as a JSON object.
static int
s_dump_line (zm_config_t *self, const char *key, FILE *out)
{
    int layer = S_DEFAULT;
    const char *value = s_lookup (self, key, &layer);
    const s_def_t *def = (const s_def_t *) zhashx_lookup (self->defs, key);
    zm_config_type_t type = def ? def->type : ZM_CONFIG_STR;
    zm_msg_t *msg = zm_msg_new ();
    void *data = NULL;
    size_t size = 0;
    int64_t number = 0;
    double real = 0;
    bool flag = false;
    int rc = msg ? zm_msg_set_str (msg, "key", key) : ZM_ENOMEM;
    if (rc == 0 && type == ZM_CONFIG_INT && s_parse_int (value, &number))
        rc = zm_msg_set_int (msg, "value", number);
    else if (rc == 0 && type == ZM_CONFIG_FLOAT && s_parse_float (value, &real))
        rc = zm_msg_set_float (msg, "value", real);
    else if (rc == 0 && type == ZM_CONFIG_BOOL && s_parse_bool (value, &flag))
        rc = zm_msg_set_bool (msg, "value", flag);
    else if (rc == 0)
        rc = zm_msg_set_str (msg, "value", value ? value : "");
    if (rc == 0)
        rc = zm_msg_set_str (msg, "type", s_type_names[type]);
    if (rc == 0)
        rc = zm_msg_set_str (msg, "layer", s_layer_names[layer]);
    if (rc == 0)
        rc = zm_msg_set_str (msg, "description", def ? def->description : "");
    if (rc == 0)
        rc = zm_msg_encode (msg, ZM_CT_JSON, &data, &size);
    if (rc == 0 && (fwrite (data, 1, size, out) != size || fputc ('\n', out) == EOF))
        rc = ZM_ENOMEM;
    free (data);
    zm_msg_destroy (&msg);
    return rc;
}

char *
zm_config_dump (zm_config_t *self)
{
    return s_render (self, false, "", s_dump_line);
}

//  What values a definition allows, for the docs table. Caller frees.
static char *
s_allowed_text (const s_def_t *def)
{
    char *text = NULL;
    int rc = 0;
    if (def->choices)
        return s_choices_text (def->choices);
    else if (def->ranged && def->max == INT_MAX)
        rc = asprintf (&text, ">= %" PRId64, def->min);
    else if (def->ranged)
        rc = asprintf (&text, "%" PRId64 "..%" PRId64, def->min, def->max);
    else if (def->type == ZM_CONFIG_BOOL)
        text = strdup ("true, false");
    else
        text = strdup ("any");
    return rc < 0 ? NULL : text;
}

//  One row of the docs table.
static int
s_describe_line (zm_config_t *self, const char *key, FILE *out)
{
    const s_def_t *def = (const s_def_t *) zhashx_lookup (self->defs, key);
    char *allowed = s_allowed_text (def);
    bool ok = allowed && fprintf (out, "| `%s` | %s | `%s` | %s | %s |\n", key,
                                  s_type_names[def->type], *def->value ? def->value : "\"\"",
                                  allowed, def->description) > 0;
    free (allowed);
    return ok ? 0 : ZM_ENOMEM;
}

char *
zm_config_describe (zm_config_t *self)
{
    return s_render (self, true,
                     "| Key | Type | Default | Allowed | Meaning |\n|---|---|---|---|---|\n",
                     s_describe_line);
}
