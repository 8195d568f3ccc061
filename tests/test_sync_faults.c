/*  Sync under faults: 3 and 5 members, each a separate process
    (tests/helpers/sync_node) on a host of its own in a network namespace,
    every member also taking locks "L0" and "L1" over and over. The tests
    kill members with SIGKILL (the leader, a holder), cut a member's cable
    and heal it, leave the leader alone in a minority, restart members from
    their LMDB stores, and, in the randomized run, do all of that at random
    for a bounded time. Each test records every grant, every check that a
    lock is still held and every release, with times in microseconds on the
    machine's monotonic clock, and the members' sync.trace files (each
    grant they applied, each term they led), and checks:
      - no two holders of a lock at once: the spans from a grant's arrival
        to its holder's last "still held" check never overlap;
      - fencing tokens strictly increase, in the order of the grants;
      - every grant a caller got was applied by a majority of the members
        (it was committed: after the faults heal, each has the entry), a
        member that loaded a snapshot covering the grant's index counting
        as one that applied it (members snapshot every 8 entries here, so
        the ones that were down or cut off catch up from the leader's);
      - each member applied the same owner at each index;
      - at most one leader per term;
      - locks keep being granted after each fault.
    One more test gives the members a disk slower than the election timeout
    (every fsync delayed by the preloaded tests/shim/slow_fsync.c): the
    group must still elect a leader and keep it. When grants or a leader do
    not come, the end of each member's trace (its votes) goes to stderr.
    Needs root (network namespaces); CI runs it as root.
*/
#include "support.h"

#include <inttypes.h>

#define S_MAX 5
#define S_PORT 7300 //  every member's (--rpc.port below)
#define S_TTL "1000"

typedef struct {
    char lock[8];
    uint64_t token;
    int64_t start;  //  the grant arrived (us)
    int64_t last;   //  the holder's last "still held" (us)
    int member;     //  whose process
} span_t;

static zt_lan_t *s_lan;
static int s_count;
static char s_dir[64];
static char s_keys[S_MAX][ZM_KEY_TEXT];
static zt_proc_t s_procs[S_MAX];
static bool s_cut[S_MAX];
static span_t *s_spans;
static size_t s_spans_size, s_spans_max;
static int s_grants;                //  GRANT lines read
#define S_RING 80
static char s_ring[S_RING][200];    //  the last lines read (but HELD), for a failure
static int s_ring_next;

static void
s_teardown (void)
{
    for (int i = 0; i < S_MAX; i++)
        zt_kill (&s_procs[i], SIGKILL);
    zt_lan_destroy (&s_lan);
    if (*s_dir && !getenv ("ZT_KEEP")) {
        char command[128];
        snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
        cr_expect_eq (system (command), 0);
    }
    *s_dir = 0;
    free (s_spans);
    s_spans = NULL;
    s_spans_size = s_spans_max = 0;
    s_grants = 0;
    memset (s_ring, 0, sizeof s_ring);
}

//  A line from member i's process
static void
s_parse (int i, const char *line)
{
    char lock[8];
    uint64_t token;
    int64_t us;
    if (getenv ("ZT_VERBOSE"))
        fprintf (stderr, "m%d: %s\n", i, line);
    if (strncmp (line, "HELD ", 5) != 0)
        snprintf (s_ring[s_ring_next++ % S_RING], sizeof s_ring[0], "%" PRId64 " m%d: %s",
                  zt_clock (), i, line);
    if (sscanf (line, "GRANT %7s %" SCNu64 " %" SCNd64, lock, &token, &us) == 3) {
        if (s_spans_size == s_spans_max) {
            s_spans_max = s_spans_max ? 2 * s_spans_max : 1024;
            s_spans = (span_t *) realloc (s_spans, s_spans_max * sizeof (span_t));
            cr_assert_not_null (s_spans);
        }
        span_t *span = &s_spans[s_spans_size++];
        snprintf (span->lock, sizeof span->lock, "%s", lock);
        span->token = token;
        span->start = span->last = us;
        span->member = i;
        s_grants++;
    }
    else if (sscanf (line, "HELD %7s %" SCNu64 " %" SCNd64, lock, &token, &us) == 3) {
        for (size_t s = s_spans_size; s-- > 0;)
            if (s_spans[s].member == i && s_spans[s].token == token
                && streq (s_spans[s].lock, lock)) {
                s_spans[s].last = us;
                break;
            }
    }
}

//  Read what the members print for ms milliseconds
static void
s_pump (int ms)
{
    int64_t deadline = zt_clock () + ms;
    char line[256];
    do {
        bool any = false;
        for (int i = 0; i < s_count; i++)
            while (s_procs[i].out >= 0 && zt_read_line (&s_procs[i], line, sizeof line, 0)) {
                s_parse (i, line);
                any = true;
            }
        if (!any)
            zclock_sleep (5);
    } while (zt_clock () < deadline);
}

static char *s_trace (int i);

//  The end of each member's sync.trace (votes, leads, grants), to stderr:
//  why a test saw no grants
static void
s_dump_traces (void)
{
    for (int i = 0; i < s_count; i++) {
        char *text = s_trace (i);
        size_t size = strlen (text);
        int lines = 0;
        const char *from = text + size;
        while (from > text && lines <= 24)
            lines += *--from == '\n';
        fprintf (stderr, "sync faults: the end of m%d's trace:\n%s\n", i,
                 from == text ? from : from + 1);
        free (text);
    }
}

//  Pump until n more grants, at most timeout_ms; true if they came.
//  When they do not, prints the last lines read, to tell why.
static bool
s_pump_grants (int n, int timeout_ms)
{
    int target = s_grants + n;
    int64_t deadline = zt_clock () + timeout_ms;
    while (s_grants < target && zt_clock () < deadline)
        s_pump (20);
    if (s_grants >= target)
        return true;
    fprintf (stderr, "sync faults: %d of %d grants in %d ms; the last lines read:\n",
             s_grants - (target - n), n, timeout_ms);
    for (int k = 0; k < S_RING; k++) {
        const char *line = s_ring[(s_ring_next + k) % S_RING];
        if (*line)
            fprintf (stderr, "  %s\n", line);
    }
    s_dump_traces ();
    return false;
}

//  Start member i: with work, taking locks; without, a member only
static void
s_launch (int i, bool work)
{
    char program[4200], name[32], bind[64], keys[128], store[128], trace[128], members[64] = "",
                                                                               peers[1024] = "";
    snprintf (program, sizeof program, "%s/tests/helpers/sync_node", zt_build_dir ());
    snprintf (name, sizeof name, "--node.name=m%d", i);
    snprintf (bind, sizeof bind, "--rpc.bind=%s", zt_lan_addr (s_lan, i));
    snprintf (keys, sizeof keys, "--auth.keys=%s/keys-%d", s_dir, i);
    snprintf (store, sizeof store, "--store.path=%s/store-%d", s_dir, i);
    snprintf (trace, sizeof trace, "--sync.trace=%s/trace-%d", s_dir, i);
    strcat (members, "--sync.members=");
    strcat (peers, "--registry.peers=");
    for (int m = 0; m < s_count; m++) {
        size_t used = strlen (members);
        snprintf (members + used, sizeof members - used, "%sm%d", m ? "," : "", m);
        if (m == i)
            continue;
        used = strlen (peers);
        snprintf (peers + used, sizeof peers - used, "%stcp://%s:%d#%s",
                  peers[used - 1] == '=' ? "" : ",", zt_lan_addr (s_lan, m), S_PORT, s_keys[m]);
    }
    const char *argv[] = {program,
                          name,
                          bind,
                          keys,
                          store,
                          trace,
                          members,
                          peers,
                          getenv ("ZT_LOG") ? getenv ("ZT_LOG") : "--log.level=warning",
                          "--rpc.port=7300",
                          //  Snapshots every few entries: members that were down or
                          //  cut off catch up from the leader's
                          "--sync.snapshot_entries=8",
                          "--registry.ttl=200",
                          work ? "--app.locks=2" : "--app.locks=0",
                          "--app.hold=100",
                          "--app.ttl=" S_TTL,
                          "--app.wait=2000",
                          "--app.duration=120000",
                          NULL};
    s_procs[i] = zt_spawn (argv, zt_lan_host (s_lan, i));
    cr_assert_gt (s_procs[i].pid, 0, "cannot start m%d", i);
    cr_assert_gt (zt_ready (&s_procs[i], 10000), 0, "m%d did not start", i);
}

static void
s_start (int i)
{
    s_launch (i, true);
}

//  SIGTERM every member and read what each printed to the end
static void
s_stop_all (void)
{
    for (int i = 0; i < s_count; i++) {
        kill (s_procs[i].pid, SIGTERM);
        char line[256];
        while (zt_read_line (&s_procs[i], line, sizeof line, 10000))
            s_parse (i, line);
        cr_assert_eq (zt_wait (&s_procs[i], 10000), 0, "m%d did not stop cleanly", i);
        zt_kill (&s_procs[i], SIGKILL);
    }
}

//  count hosts and a keypair for each, made beforehand (the others must
//  know it): the members are not started
static void
s_prepare (int count)
{
    for (int i = 0; i < S_MAX; i++) {
        s_procs[i] = (zt_proc_t) ZT_PROC_NONE;
        s_cut[i] = false;
    }
    s_lan = zt_lan_new (count);
    s_count = count;
    snprintf (s_dir, sizeof s_dir, "/tmp/zm-syncf-XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
    if (getenv ("ZT_KEEP"))
        fprintf (stderr, "sync faults: %s kept\n", s_dir);
    for (int i = 0; i < count; i++) {
        char keys[128];
        snprintf (keys, sizeof keys, "%s/keys-%d", s_dir, i);
        cr_assert_eq (zm_keypair_create (keys, "node", NULL, s_keys[i]), 0);
    }
}

//  A cluster of count members on count hosts, granting locks
static void
s_cluster (int count)
{
    s_prepare (count);
    for (int i = 0; i < count; i++)
        s_start (i);
    cr_assert (s_pump_grants (10, 15000), "no locks granted at the start");
}

//  kill -9 member i, reading what it printed to the end
static void
s_kill9 (int i)
{
    kill (s_procs[i].pid, SIGKILL);
    char line[256];
    while (zt_read_line (&s_procs[i], line, sizeof line, 2000))
        s_parse (i, line);
    zt_kill (&s_procs[i], SIGKILL);
}

static bool
s_alive (int i)
{
    return s_procs[i].pid > 0;
}

static void
s_link (int i, bool up)
{
    zt_lan_link (s_lan, i, up);
    s_cut[i] = !up;
}

//  Member i's trace, line by line (NULL at the end); caller frees the text
static char *
s_trace (int i)
{
    char path[128];
    snprintf (path, sizeof path, "%s/trace-%d", s_dir, i);
    FILE *file = fopen (path, "r");
    if (!file)
        return strdup ("");
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    fseek (file, 0, SEEK_SET);
    char *text = (char *) calloc (1, (size_t) size + 1);
    cr_assert_not_null (text);
    cr_assert_eq (fread (text, 1, (size_t) size, file), (size_t) size);
    fclose (file);
    return text;
}

//  The member that led the highest term, as the traces say, alive and
//  not cut off; -1 if none
static int
s_leader (void)
{
    uint64_t best = 0;
    int leader = -1;
    for (int i = 0; i < s_count; i++) {
        char *text = s_trace (i), *save = NULL;
        for (char *line = strtok_r (text, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
            uint64_t term;
            if (sscanf (line, "%*d lead %" SCNu64, &term) == 1 && term >= best) {
                best = term;
                leader = i;
            }
        }
        free (text);
    }
    return leader >= 0 && s_alive (leader) && !s_cut[leader] ? leader : -1;
}

//  The member whose process holds a lock now (its last grant is open), or -1
static int
s_holder (void)
{
    for (size_t s = s_spans_size; s-- > 0;)
        if (s_alive (s_spans[s].member) && zt_clock () * 1000 - s_spans[s].last < 50000)
            return s_spans[s].member;
    return -1;
}

static int
s_by_start (const void *a, const void *b)
{
    const span_t *x = (const span_t *) a, *y = (const span_t *) b;
    int order = strcmp (x->lock, y->lock);
    if (order)
        return order;
    return x->start < y->start ? -1 : x->start > y->start;
}

//  Did the member whose trace this is apply the grant of lock with token
//  (its index)? Yes when it traced the grant, or loaded a snapshot that
//  covers the index. The owner it traced goes to owner (empty when none).
static bool
s_applied (const char *trace, const char *lock, uint64_t token, char owner[96])
{
    char needle[64];
    snprintf (needle, sizeof needle, " grant %s %" PRIu64 " ", lock, token);
    *owner = 0;
    const char *at = strstr (trace, needle);
    if (at) {
        sscanf (at + strlen (needle), "%*u %95s", owner);
        return true;
    }
    for (at = strstr (trace, " restore "); at; at = strstr (at + 1, " restore ")) {
        uint64_t index = 0;
        if (sscanf (at, " restore %" SCNu64, &index) == 1 && index >= token)
            return true;
    }
    return false;
}

//  How many snapshots the members loaded from the leader
static int
s_installs (char **traces)
{
    int installs = 0;
    for (int i = 0; i < s_count; i++)
        for (const char *at = strstr (traces[i], " leader\n"); at;
             at = strstr (at + 1, " leader\n"))
            installs++;
    return installs;
}

//  Grants a caller got that fewer than a majority of members applied
//  (as their traces say, so far)
static int
s_unapplied (void)
{
    char *traces[S_MAX] = {NULL};
    for (int i = 0; i < s_count; i++)
        traces[i] = s_trace (i);
    int missing = 0;
    for (size_t s = 0; s < s_spans_size; s++) {
        int applied = 0;
        char owner[96];
        for (int i = 0; i < s_count; i++)
            applied += s_applied (traces[i], s_spans[s].lock, s_spans[s].token, owner);
        missing += applied <= s_count / 2;
    }
    for (int i = 0; i < s_count; i++)
        free (traces[i]);
    return missing;
}

//  Heal everything, let the members catch up, stop them, and check the
//  history (see the top of the file)
static void
s_check_history (void)
{
    for (int i = 0; i < s_count; i++) {
        if (s_cut[i])
            s_link (i, true);
        if (!s_alive (i))
            s_start (i);
    }
    int before = s_grants;
    cr_assert (s_pump_grants (10, 15000), "no locks granted once everything healed");
    s_stop_all ();
    cr_assert_gt (s_grants, before);
    //  Members alone (no more grants) elect a leader whose first entry
    //  commits everything before it, on every member: then each has
    //  applied every committed grant (a member healed a moment ago may
    //  first wait out TCP's retransmission backoff)
    for (int i = 0; i < s_count; i++)
        s_launch (i, false);
    int64_t deadline = zt_clock () + 20000;
    while (s_unapplied () > 0 && zt_clock () < deadline)
        s_pump (250);
    s_stop_all ();

    //  1. Spans of one lock never overlap; tokens increase with them
    qsort (s_spans, s_spans_size, sizeof (span_t), s_by_start);
    for (size_t s = 1; s < s_spans_size; s++) {
        const span_t *prev = &s_spans[s - 1], *span = &s_spans[s];
        if (strcmp (prev->lock, span->lock) != 0)
            continue;
        cr_assert_lt (prev->last, span->start,
                      "two holders of %s at once: m%d (token %" PRIu64 ", granted at %" PRId64
                      ", held at %" PRId64 ") and m%d (token %" PRIu64 ", granted at %" PRId64
                      ")",
                      span->lock, prev->member, prev->token, prev->start, prev->last,
                      span->member, span->token, span->start);
        cr_assert_gt (span->token, prev->token, "token %" PRIu64 " of %s after %" PRIu64,
                      span->token, span->lock, prev->token);
    }

    //  2. The traces: one leader per term, one owner per index, and every
    //  grant a caller got applied by a majority
    char *traces[S_MAX] = {NULL};
    for (int i = 0; i < s_count; i++)
        traces[i] = s_trace (i);
    typedef struct {
        uint64_t term;
        int member;
    } led_t;
    led_t led[4096];
    size_t leds = 0;
    for (int i = 0; i < s_count; i++) {
        char *copy = strdup (traces[i]), *save = NULL;
        for (char *line = strtok_r (copy, "\n", &save); line; line = strtok_r (NULL, "\n", &save)) {
            uint64_t term;
            if (sscanf (line, "%*d lead %" SCNu64, &term) != 1)
                continue;
            for (size_t l = 0; l < leds; l++)
                cr_assert (led[l].term != term || led[l].member == i,
                           "two leaders of term %" PRIu64 ": m%d and m%d", term, led[l].member, i);
            if (leds < 4096)
                led[leds++] = (led_t) {term, i};
        }
        free (copy);
    }
    cr_assert_gt (leds, 0, "nobody led");
    for (size_t s = 0; s < s_spans_size; s++) {
        const span_t *span = &s_spans[s];
        int applied = 0;
        char owner[S_MAX][96];
        for (int i = 0; i < s_count; i++) {
            if (!s_applied (traces[i], span->lock, span->token, owner[i]))
                continue;
            applied++;
            for (int j = 0; j < i; j++)
                cr_assert (!*owner[j] || !*owner[i] || streq (owner[j], owner[i]),
                           "index %" PRIu64 " has two owners: %s (m%d) and %s (m%d)",
                           span->token, owner[j], j, owner[i], i);
        }
        cr_assert_gt (applied, s_count / 2,
                      "the grant of %s with token %" PRIu64 " to m%d was applied by %d of %d",
                      span->lock, span->token, span->member, applied, s_count);
    }
    int installs = s_installs (traces);
    for (int i = 0; i < s_count; i++)
        free (traces[i]);
    fprintf (stderr,
             "sync faults: %zu grants checked, %zu terms led, %d snapshots installed from a "
             "leader\n",
             s_spans_size, leds, installs);
}

Test (sync_faults, three_members_kill_the_leader_and_a_holder_and_restart_them,
      .fini = s_teardown, .timeout = 180)
{
    s_cluster (3);
    //  The leader dies: the two others go on granting; it comes back from
    //  its store
    int leader = s_leader ();
    cr_assert_geq (leader, 0, "no leader");
    s_kill9 (leader);
    cr_assert (s_pump_grants (5, 10000), "no grants after the leader died");
    s_start (leader);
    cr_assert (s_pump_grants (5, 10000), "no grants after the leader came back");
    //  A holder dies: its lock is free after its lease, not before
    int holder = s_holder ();
    cr_assert_geq (holder, 0, "nobody holds a lock");
    s_kill9 (holder);
    cr_assert (s_pump_grants (5, 10000), "no grants after the holder died");
    s_start (holder);
    //  Both others die and come back: the one left cannot grant alone
    int a = (holder + 1) % 3, b = (holder + 2) % 3;
    s_kill9 (a);
    s_kill9 (b);
    s_pump (1500);
    int grants = s_grants;
    s_pump (1500);
    cr_assert_eq (s_grants, grants, "a lone member granted a lock");
    s_start (a);
    s_start (b);
    s_check_history ();
}

Test (sync_faults, three_members_cut_a_follower_then_the_leader_and_heal,
      .fini = s_teardown, .timeout = 180)
{
    s_cluster (3);
    int leader = s_leader ();
    cr_assert_geq (leader, 0, "no leader");
    //  A follower cut off: the others go on; it catches up when healed
    int follower = (leader + 1) % 3;
    s_link (follower, false);
    cr_assert (s_pump_grants (5, 10000), "no grants with a follower cut off");
    s_link (follower, true);
    cr_assert (s_pump_grants (5, 10000), "no grants once healed");
    //  The leader alone in a minority: the two others elect another and
    //  grant; what it granted before is not granted twice
    leader = s_leader ();
    cr_assert_geq (leader, 0, "no leader");
    s_link (leader, false);
    cr_assert (s_pump_grants (5, 10000), "no grants with the leader cut off");
    s_pump (1000);
    s_link (leader, true);
    cr_assert (s_pump_grants (5, 10000), "no grants once the old leader is back");
    s_check_history ();
}

Test (sync_faults, five_members_leader_in_a_minority_kills_and_restarts,
      .fini = s_teardown, .timeout = 240)
{
    s_cluster (5);
    //  The leader and another member each cut off: three go on
    int leader = s_leader ();
    cr_assert_geq (leader, 0, "no leader");
    int other = (leader + 2) % 5;
    s_link (leader, false);
    s_link (other, false);
    cr_assert (s_pump_grants (5, 10000), "no grants with two of five cut off");
    s_link (leader, true);
    s_link (other, true);
    cr_assert (s_pump_grants (5, 10000), "no grants once healed");
    //  Two killed, the leader among them: three go on; both come back
    leader = s_leader ();
    cr_assert_geq (leader, 0, "no leader");
    other = (leader + 1) % 5;
    s_kill9 (leader);
    s_kill9 (other);
    cr_assert (s_pump_grants (5, 10000), "no grants with two of five dead");
    s_start (leader);
    s_start (other);
    cr_assert (s_pump_grants (5, 10000), "no grants after the restarts");
    s_check_history ();
}

Test (sync_faults, randomized_kills_cuts_and_restarts, .fini = s_teardown, .timeout = 300)
{
    const char *seed_text = getenv ("ZT_SEED");
    unsigned seed = seed_text ? (unsigned) atoi (seed_text) : (unsigned) (time (NULL) ^ getpid ());
    fprintf (stderr, "sync faults: randomized run, ZT_SEED=%u\n", seed);
    srand (seed);
    s_cluster (5);
    int64_t end = zt_clock () + 25000;
    int faults = 0;
    while (zt_clock () < end) {
        int i = rand () % s_count, down = 0;
        for (int m = 0; m < s_count; m++)
            down += !s_alive (m) || s_cut[m];
        int action = rand () % 4;
        if (action == 0 && s_alive (i) && down < 3) {
            s_kill9 (i); //  sometimes the leader, sometimes a holder
            faults++;
        }
        else if (action == 1 && s_alive (i) && !s_cut[i] && down < 3) {
            s_link (i, false);
            faults++;
        }
        else if (action == 2 && !s_alive (i))
            s_start (i);
        else if (action == 3 && s_cut[i])
            s_link (i, true);
        else if (action == 0 && down >= 3) {
            //  Too many down at once (the others may not form a quorum,
            //  which is fine for safety): bring one back
            for (int m = 0; m < s_count; m++)
                if (!s_alive (m)) {
                    s_start (m);
                    break;
                }
                else if (s_cut[m]) {
                    s_link (m, true);
                    break;
                }
        }
        s_pump (300 + rand () % 900);
    }
    fprintf (stderr, "sync faults: %d faults\n", faults);
    cr_assert_gt (faults, 5);
    s_check_history ();
}

//  How many terms the members led, as their traces say
static int
s_terms_led (void)
{
    int terms = 0;
    for (int i = 0; i < s_count; i++) {
        char *text = s_trace (i);
        for (const char *at = strstr (text, " lead "); at; at = strstr (at + 1, " lead "))
            terms++;
        free (text);
    }
    return terms;
}

//  Every fsync of the members takes 400 ms (tests/shim/slow_fsync.c), more
//  than the election timeout (300 ms by default): a loaded machine's disk.
//  A member that started its election timer before storing its new term
//  gave up each candidacy the moment it was stored, and no leader was ever
//  elected. The group must elect one, and keep it.
Test (sync_faults, a_disk_slower_than_the_election_timeout_still_elects_a_leader,
      .fini = s_teardown, .timeout = 120)
{
    s_prepare (3);
    char shim[4200], asan[1024];
    snprintf (shim, sizeof shim, "%s/tests/shim/libslow_fsync.so", zt_build_dir ());
    cr_assert_eq (access (shim, R_OK), 0, "%s is not built", shim);
    //  The members get the shim (and an ASan build does not object to a
    //  library loaded before its runtime); this test's own process does not
    const char *old_asan = getenv ("ASAN_OPTIONS");
    snprintf (asan, sizeof asan, "%s%sverify_asan_link_order=0", old_asan ? old_asan : "",
              old_asan && *old_asan ? ":" : "");
    char *saved_asan = old_asan ? strdup (old_asan) : NULL;
    setenv ("LD_PRELOAD", shim, 1);
    setenv ("ZT_SLOW_FSYNC_MS", "400", 1);
    setenv ("ASAN_OPTIONS", asan, 1);
    for (int i = 0; i < 3; i++)
        s_launch (i, false);
    unsetenv ("LD_PRELOAD");
    unsetenv ("ZT_SLOW_FSYNC_MS");
    if (saved_asan)
        setenv ("ASAN_OPTIONS", saved_asan, 1);
    else
        unsetenv ("ASAN_OPTIONS");
    free (saved_asan);
    int64_t deadline = zt_clock () + 15000;
    while (s_terms_led () == 0 && zt_clock () < deadline)
        s_pump (100);
    if (s_terms_led () == 0)
        s_dump_traces ();
    cr_assert_gt (s_terms_led (), 0, "no leader in 15 s with a slow disk");
    //  And it stays leader: no new term in the next 5 s
    int terms = s_terms_led ();
    s_pump (5000);
    if (s_terms_led () != terms)
        s_dump_traces ();
    cr_assert_eq (s_terms_led (), terms, "the group kept electing leaders");
    cr_assert_geq (s_leader (), 0, "the leader is not alive");
}
