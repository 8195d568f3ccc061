/*  pubsub_node - a node that subscribes and/or publishes, for pub/sub tests

    Usage: pubsub_node [config flags...]
        e.g. --node.name=s1 --app.sub=orders.>,user.*.login --app.group=billing
             --node.name=p  --app.pub=orders.created --app.count=100 --app.rate=1000

    Subscriber flags:
        --app.sub=P1,P2,...   patterns, each its own subscription (index 0, 1, ...)
        --app.group=G         queue group of every subscription (none: broadcast)
        --app.service=true    subscribe through a service per pattern
                              (zm_service_subscribe; service "listen<i>")
                              instead of zm_subscribe
        --app.slow=MS         the handler sleeps MS per event: a slow subscriber.
                              Implies --app.service=true on a dedicated reactor,
                              so the node's own reactor (RPC, pub/sub) is not held
        --app.quiet=true      no EVENT nor PUB lines (bursts): COUNT lines only
                              (WARM lines still come: there are few)
    Publisher flags:
        --app.pub=T1,T2,...   topics; each numbered event n goes on every topic
        --app.count=N         numbered events (n = 0 .. N-1) per topic
        --app.rate=R          numbered events per second (0: as fast as it can)
        --app.body=json|msgpack   content type of the events (msgpack)
        --app.start_after=MS  wait MS after READY before publishing
        --app.warm=true       first publish warm-up events on every topic, one
                              round every --app.warm_interval ms (100), until
                              SIGUSR2 (or --app.warm_max rounds, 600), then
                              the numbered ones

    Events carry {"n", "from", "topic", "text", "half", "list", "nested",
    "blob"} and metadata {"from", "n"}; the handler checks every field
    against n (and the header: topic, id, publisher, time, metadata), so a
    line says "ok" only when the event arrived intact, whatever codec
    carried it. Warm-ups carry {"warm": k, "from"}.

    Prints, one line each, flushed (<ms> is CLOCK_MONOTONIC in ms, comparable
    across processes and network namespaces of one machine):
        UUID <uuid>
        SUB <i> <pattern> <group or ->
        READY <rpc port> <pub port>
        WARM <ms> <i> <topic> <k> <from>
        EVENT <ms> <i> <topic> <n> <from> ok|bad-<what> <event id>
        PUB <ms> <n> <rc>                 each numbered event (rc of zm_publish,
                                          for the first topic; errors count all)
        DONE <ms> <published> <errors> <elapsed ms>   the publish loop ended
        COUNT <ms> <i> <received> <distinct> <dups> <bad> <warm>
        STATS <ms> <zm_pubsub_stats as JSON>
              COUNT and STATS on SIGUSR1, and at exit
        BYE   when stopped (SIGTERM/SIGINT: graceful)
    Exits 1 when the node, a subscription or a service cannot be made
    (with a line on stderr). It dies with its parent (PR_SET_PDEATHSIG).
*/
#include <czmq.h>
#include <ctype.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <time.h>
#include "zmicro.h"

#define SUBS_MAX 8
#define TOPICS_MAX 16
#define N_MAX    1000000     //  numbered events tracked per subscription

static pthread_mutex_t s_out = PTHREAD_MUTEX_INITIALIZER;

static void
s_say (const char *format, ...) __attribute__ ((format (printf, 1, 2)));

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

typedef struct {
    int index;                  //  in --app.sub
    char pattern[256];          //  what it subscribes to
    int slow;                   //  ms slept per event
    bool quiet;                 //  no EVENT lines
    pthread_mutex_t lock;       //  the handler's thread vs. the reporting one
    uint8_t *seen;              //  times each n arrived (saturates at 255)
    long received;              //  numbered events
    long distinct;              //  distinct n
    long dups;                  //  arrivals of an n seen before
    long bad;                   //  events that failed the content check
    long warm;                  //  warm-ups
} sub_t;

static sub_t s_subs[SUBS_MAX];
static int s_sub_count;

static volatile sig_atomic_t s_report;      //  SIGUSR1
static volatile sig_atomic_t s_go;          //  SIGUSR2
static atomic_bool s_stopping;

static void
s_on_usr (int signal)
{
    if (signal == SIGUSR1)
        s_report = 1;
    else
        s_go = 1;
}

//  The body of numbered event n, as the handler expects it.
static zm_msg_t *
s_event_body (long n, const char *from, const char *topic)
{
    zm_msg_t *body = zm_msg_new ();
    zm_msg_set_int (body, "n", n);
    zm_msg_set_str (body, "from", from);
    zm_msg_set_str (body, "topic", topic);
    zm_msg_setf (body, "text", "\xc3\xa9v\xc3\xa9nement %ld", n);   //  "événement n"
    zm_msg_set_float (body, "half", (double) n + 0.5);
    zm_val_t *list = zm_val_set_array (zm_msg_root_mut (body), "list");
    zm_val_push_int (list, -n - 1);
    zm_val_push_str (list, "x");
    zm_val_push_bool (list, true);
    zm_val_push_nil (list);
    zm_val_t *nested = zm_val_set_map (zm_msg_root_mut (body), "nested");
    zm_val_set_int (nested, "twice", 2 * n);
    uint8_t blob[4] = {(uint8_t) n, (uint8_t) (n >> 8), 0, 0xff};
    zm_msg_set_bin (body, "blob", blob, sizeof blob);
    return body;
}

static bool
s_is_hex32 (const char *text)
{
    if (!text || strlen (text) != 32)
        return false;
    for (int i = 0; i < 32; i++)
        if (!isxdigit ((unsigned char) text[i]))
            return false;
    return true;
}

//  What is wrong with numbered event n, or NULL.
static const char *
s_check (zm_ctx_t *ctx, zm_msg_t *body, long n, const char *from)
{
    char want[64];
    const char *topic = zm_ctx_topic (ctx);
    if (!topic)
        return "no-topic";
    if (strcmp (zm_msg_get_str (body, "topic", ""), topic))
        return "topic";
    snprintf (want, sizeof want, "\xc3\xa9v\xc3\xa9nement %ld", n);
    if (strcmp (zm_msg_get_str (body, "text", ""), want))
        return "text";
    if (zm_msg_get_float (body, "half", -1) != (double) n + 0.5)
        return "half";
    const zm_val_t *list = zm_val_get (zm_msg_root (body), "list");
    if (zm_val_type (list) != ZM_TYPE_ARRAY || zm_val_size (list) != 4
        || zm_val_int (zm_val_at (list, 0), 0) != -n - 1
        || strcmp (zm_val_str (zm_val_at (list, 1), "", NULL), "x")
        || !zm_val_bool (zm_val_at (list, 2), false)
        || zm_val_type (zm_val_at (list, 3)) != ZM_TYPE_NIL)
        return "list";
    const zm_val_t *nested = zm_val_get (zm_msg_root (body), "nested");
    if (zm_val_int (zm_val_get (nested, "twice"), -1) != 2 * n)
        return "nested";
    size_t size = 0;
    const uint8_t *blob = (const uint8_t *) zm_msg_get_bin (body, "blob", &size);
    if (!blob || size != 4 || blob[0] != (uint8_t) n || blob[1] != (uint8_t) (n >> 8)
        || blob[2] != 0 || blob[3] != 0xff)
        return "blob";
    if (!s_is_hex32 (zm_ctx_event_id (ctx)))
        return "event-id";
    if (!s_is_hex32 (zm_ctx_publisher (ctx)))
        return "publisher";
    int64_t now = zclock_time ();
    int64_t at = zm_ctx_event_time (ctx);
    if (at < now - 60000 || at > now + 60000)
        return "event-time";
    const char *meta_from = zm_ctx_meta (ctx, "from");
    if (!meta_from || strcmp (meta_from, from))
        return "meta-from";
    const char *meta_n = zm_ctx_meta (ctx, "n");
    if (!meta_n || strtol (meta_n, NULL, 10) != n)
        return "meta-n";
    return NULL;
}

static int
s_on_event (zm_ctx_t *ctx, zm_msg_t *body)
{
    sub_t *sub = (sub_t *) zm_ctx_state (ctx);
    if (!sub)
        return zm_error (ctx, ZM_EINTERNAL, "no subscription state");
    const char *topic = zm_ctx_topic (ctx);
    const char *from = zm_msg_get_str (body, "from", "?");
    if (sub->slow > 0)
        zclock_sleep (sub->slow);
    if (zm_msg_has (body, "warm")) {
        pthread_mutex_lock (&sub->lock);
        sub->warm++;
        pthread_mutex_unlock (&sub->lock);
        s_say ("WARM %" PRId64 " %d %s %" PRId64 " %s", zclock_mono (), sub->index,
                   topic ? topic : "-", zm_msg_get_int (body, "warm", -1), from);
        return 0;
    }
    long n = (long) zm_msg_get_int (body, "n", -1);
    const char *wrong = n < 0 ? "no-n" : s_check (ctx, body, n, from);
    pthread_mutex_lock (&sub->lock);
    sub->received++;
    if (wrong)
        sub->bad++;
    if (n >= 0 && n < N_MAX) {
        if (sub->seen[n] == 0)
            sub->distinct++;
        else
            sub->dups++;
        if (sub->seen[n] < 255)
            sub->seen[n]++;
    }
    pthread_mutex_unlock (&sub->lock);
    if (wrong) {
        //  What arrived, for whoever reads the test's output.
        void *json = NULL;
        size_t size = 0;
        if (zm_msg_encode (body, ZM_CT_JSON, &json, &size) == 0)
            fprintf (stderr, "pubsub_node %s: bad event (%s) on %s: %.*s\n",
                     zm_node_name (zm_ctx_node (ctx)), wrong, topic ? topic : "-", (int) size,
                     (char *) json);
        free (json);
    }
    if (!sub->quiet) {
        const char *id = zm_ctx_event_id (ctx);
        s_say ("EVENT %" PRId64 " %d %s %ld %s %s%s %s", zclock_mono (), sub->index,
               topic ? topic : "-", n, from, wrong ? "bad-" : "ok", wrong ? wrong : "",
               id ? id : "-");
    }
    return 0;
}

static int
s_ping (zm_ctx_t *ctx, zm_msg_t *req)
{
    return 0;
}

static void
s_report_all (zm_node_t *node)
{
    for (int i = 0; i < s_sub_count; i++) {
        sub_t *sub = &s_subs[i];
        pthread_mutex_lock (&sub->lock);
        s_say ("COUNT %" PRId64 " %d %ld %ld %ld %ld %ld", zclock_mono (), i, sub->received,
               sub->distinct, sub->dups, sub->bad, sub->warm);
        pthread_mutex_unlock (&sub->lock);
    }
    zm_msg_t *stats = zm_pubsub_stats (node);
    void *json = NULL;
    size_t size = 0;
    if (stats && zm_msg_encode (stats, ZM_CT_JSON, &json, &size) == 0)
        s_say ("STATS %" PRId64 " %.*s", zclock_mono (), (int) size, (char *) json);
    else
        s_say ("STATS %" PRId64 " {}", zclock_mono ());
    free (json);
    zm_msg_destroy (&stats);
}

typedef struct {
    zm_node_t *node;
    char topics[TOPICS_MAX][256];   //  --app.pub
    int topic_count;
    long count;                     //  numbered events per topic
    double rate;                    //  per second, 0: no pacing
    const char *content_type;       //  of the events
    int start_after;                //  ms
    bool warm;                      //  warm up until SIGUSR2
    int warm_interval;              //  ms
    int warm_max;                   //  rounds
    bool quiet;                     //  no PUB lines
} pub_t;

//  Sleep until the monotonic clock reaches at (ns); false when stopping.
static bool
s_sleep_until (int64_t at)
{
    struct timespec when = {(time_t) (at / 1000000000), (long) (at % 1000000000)};
    while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &when, NULL) == EINTR)
        ;
    return !atomic_load (&s_stopping);
}

static int64_t
s_now_ns (void)
{
    struct timespec now;
    clock_gettime (CLOCK_MONOTONIC, &now);
    return (int64_t) now.tv_sec * 1000000000 + now.tv_nsec;
}

static void *
s_publisher (void *arg)
{
    pub_t *pub = (pub_t *) arg;
    const char *name = zm_node_name (pub->node);
    zm_pub_opts_t opts = ZM_PUB_OPTS_DEFAULT;
    opts.content_type = pub->content_type;
    int64_t start = s_now_ns ();
    if (!s_sleep_until (start + (int64_t) pub->start_after * 1000000))
        return NULL;
    if (pub->warm) {
        for (int k = 0; k < pub->warm_max && !s_go && !atomic_load (&s_stopping); k++) {
            for (int t = 0; t < pub->topic_count; t++) {
                zm_msg_t *body = zm_msg_new ();
                zm_msg_set_int (body, "warm", k);
                zm_msg_set_str (body, "from", name);
                zm_publish (pub->node, pub->topics[t], &body, &opts);
            }
            for (int slept = 0; slept < pub->warm_interval && !s_go; slept += 5)
                zclock_sleep (5);
        }
    }
    long published = 0, errors = 0;
    start = s_now_ns ();
    for (long n = 0; n < pub->count && !atomic_load (&s_stopping); n++) {
        if (pub->rate > 0 && !s_sleep_until (start + (int64_t) (n * 1e9 / pub->rate)))
            break;
        zm_msg_t *meta = zm_msg_new ();
        zm_msg_set_str (meta, "from", name);
        zm_msg_setf (meta, "n", "%ld", n);
        opts.metadata = meta;
        int first = 0;
        for (int t = 0; t < pub->topic_count; t++) {
            zm_msg_t *body = s_event_body (n, name, pub->topics[t]);
            int rc = zm_publish (pub->node, pub->topics[t], &body, &opts);
            if (body)
                s_say ("PUB %" PRId64 " %ld body-not-taken", zclock_mono (), n);
            if (t == 0)
                first = rc;
            if (rc)
                errors++;
            else
                published++;
        }
        opts.metadata = NULL;
        zm_msg_destroy (&meta);
        if (!pub->quiet)
            s_say ("PUB %" PRId64 " %ld %d", zclock_mono (), n, first);
    }
    s_say ("DONE %" PRId64 " %ld %ld %" PRId64, zclock_mono (), published, errors,
           (s_now_ns () - start) / 1000000);
    return NULL;
}

//  Reports on SIGUSR1, until the node stops.
static void *
s_reporter (void *arg)
{
    zm_node_t *node = (zm_node_t *) arg;
    while (!atomic_load (&s_stopping)) {
        if (s_report) {
            s_report = 0;
            s_report_all (node);
        }
        zclock_sleep (10);
    }
    return NULL;
}

//  Split a comma-separated list into out (max entries); returns how many.
static int
s_split (const char *list, char out[][256], int max)
{
    int count = 0;
    const char *cursor = list;
    while (*cursor && count < max) {
        const char *comma = strchr (cursor, ',');
        size_t len = comma ? (size_t) (comma - cursor) : strlen (cursor);
        if (len > 0 && len < 256) {
            memcpy (out[count], cursor, len);
            out[count][len] = 0;
            count++;
        }
        cursor += len + (comma ? 1 : 0);
    }
    return count;
}

int
main (int argc, char **argv)
{
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    struct sigaction action;
    memset (&action, 0, sizeof action);
    action.sa_handler = s_on_usr;
    sigemptyset (&action.sa_mask);
    sigaction (SIGUSR1, &action, NULL);
    sigaction (SIGUSR2, &action, NULL);

    char *reason = NULL;
    zm_config_t *config = zm_config_load (argc, argv, &reason);
    if (!config) {
        fprintf (stderr, "pubsub_node: %s\n", reason);
        free (reason);
        return 2;
    }
    zm_node_t *node = zm_node_new (&config);
    if (!node) {
        fprintf (stderr, "pubsub_node: cannot create the node\n");
        return 1;
    }
    config = zm_node_config (node);
    const char *group = zm_config_get_str (config, "app.group", "");
    int slow = (int) zm_config_get_int (config, "app.slow", 0);
    bool quiet = zm_config_get_bool (config, "app.quiet", false);
    bool as_service = zm_config_get_bool (config, "app.service", false) || slow > 0;

    char patterns[SUBS_MAX][256];
    s_sub_count = s_split (zm_config_get_str (config, "app.sub", ""), patterns, SUBS_MAX);
    for (int i = 0; i < s_sub_count; i++) {
        sub_t *sub = &s_subs[i];
        sub->index = i;
        memcpy (sub->pattern, patterns[i], sizeof sub->pattern);
        sub->slow = slow;
        sub->quiet = quiet;
        pthread_mutex_init (&sub->lock, NULL);
        sub->seen = (uint8_t *) calloc (N_MAX, 1);
        if (!sub->seen)
            return 1;
        int rc = 0;
        if (as_service) {
            char name[32];
            snprintf (name, sizeof name, "listen%d", i);
            zm_service_t *svc = zm_service_new (node, name, "1.0.0");
            if (!svc)
                rc = ZM_EINVAL;
            if (!rc)
                rc = zm_service_handle (svc, "Ping", s_ping);
            if (!rc)
                rc = zm_service_set_state (svc, NULL, NULL, sub);
            if (!rc && slow > 0)
                rc = zm_service_set_dedicated (svc, true);
            if (!rc)
                rc = zm_service_subscribe (svc, sub->pattern, *group ? group : NULL,
                                           s_on_event);
            if (!rc)
                rc = zm_service_start (svc);
        }
        else {
            uint64_t id = zm_subscribe (node, sub->pattern, *group ? group : NULL, s_on_event,
                                        sub, &rc);
            if (id == 0 && rc == 0)
                rc = ZM_EINTERNAL; //  no id and no error: should not happen
        }
        if (rc) {
            fprintf (stderr, "pubsub_node: cannot subscribe to %s: %s\n", sub->pattern,
                     zm_strerror (rc));
            zm_node_destroy (&node);
            return 1;
        }
    }

    pub_t pub = {.node = node};
    pub.topic_count
        = s_split (zm_config_get_str (config, "app.pub", ""), pub.topics, TOPICS_MAX);
    pub.count = (long) zm_config_get_int (config, "app.count", 0);
    pub.rate = zm_config_get_float (config, "app.rate", 0);
    pub.content_type
        = strcmp (zm_config_get_str (config, "app.body", "msgpack"), "json") == 0 ? ZM_CT_JSON
                                                                                 : NULL;
    pub.start_after = (int) zm_config_get_int (config, "app.start_after", 0);
    pub.warm = zm_config_get_bool (config, "app.warm", false);
    pub.warm_interval = (int) zm_config_get_int (config, "app.warm_interval", 100);
    pub.warm_max = (int) zm_config_get_int (config, "app.warm_max", 600);
    pub.quiet = quiet;

    zm_msg_t *stats = zm_pubsub_stats (node);
    uint64_t pub_port = stats ? zm_msg_get_uint (stats, "pub_port", 0) : 0;
    zm_msg_destroy (&stats);
    s_say ("UUID %s", zm_node_uuid (node));
    for (int i = 0; i < s_sub_count; i++)
        s_say ("SUB %d %s %s", i, s_subs[i].pattern, *group ? group : "-");
    char key[ZM_KEY_TEXT] = "";
    zm_node_public_key (node, key);
    s_say ("READY %d %" PRIu64 " %s", zm_node_rpc_port (node, 0), pub_port, key);

    pthread_t publisher, reporter;
    pthread_create (&reporter, NULL, s_reporter, node);
    if (pub.topic_count > 0)
        pthread_create (&publisher, NULL, s_publisher, &pub);
    zm_node_run (node);
    atomic_store (&s_stopping, true);
    if (pub.topic_count > 0)
        pthread_join (publisher, NULL);
    pthread_join (reporter, NULL);
    s_report_all (node);
    zm_node_destroy (&node);
    for (int i = 0; i < s_sub_count; i++)
        free (s_subs[i].seen);
    s_say ("BYE");
    return 0;
}
