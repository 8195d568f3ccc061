/*  Sync on loopback: three member nodes and a client node in this process,
    over their CURVE sockets and LMDB stores. A lock is granted once with
    increasing fencing tokens, renewed while held, freed on release; a
    killed leader is replaced and locks are granted again; members
    restarted from their stores keep the history. (Members as processes in
    network namespaces, with kills and partitions: the fault tests.)
*/
#include "support.h"

#include <czmq.h>
#include <inttypes.h>

#include "zmicro.h"

#define S_MEMBERS 3

static char s_dir[64];
static int s_base;                  //  first RPC port
static char s_keys[S_MEMBERS + 1][ZM_KEY_TEXT];
static zm_node_t *s_nodes[S_MEMBERS + 1]; //  members, then the client

static void
s_teardown (void)
{
    for (int i = 0; i <= S_MEMBERS; i++)
        zm_node_destroy (&s_nodes[i]);
    if (*s_dir) {
        char command[128];
        snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
        cr_expect_eq (system (command), 0);
        *s_dir = 0;
    }
}

//  Node i (0..2 members m0..m2, 3 the client): fixed port, keypair and
//  store in s_dir, every member as a static peer
static const char *s_snapshot_entries; //  sync.snapshot_entries, when set

static zm_config_t *
s_config (int i)
{
    zm_config_t *config = zt_sync_config (i, S_MEMBERS, s_dir, s_base, s_keys);
    if (s_snapshot_entries)
        zm_config_set (config, "sync.snapshot_entries", s_snapshot_entries, NULL);
    return config;
}

//  Node i; a candidate: with sync.expect 3 and no sync.members, every one
//  of m0..m3 a static peer of the others
static zm_node_t *
s_start_as (int i, bool candidate)
{
    //  A node just stopped may hold its port for a moment
    zm_node_t *node = NULL;
    for (int attempt = 0; !node && attempt < 30; attempt++) {
        zm_config_t *config = candidate ? zt_sync_config (i, S_MEMBERS + 1, s_dir, s_base, s_keys)
                                        : s_config (i);
        if (candidate) {
            zm_config_set (config, "sync.members", "", NULL);
            zm_config_set (config, "sync.expect", "3", NULL);
        }
        node = zm_node_new (&config);
        zm_config_destroy (&config);
        if (!node)
            zclock_sleep (100);
    }
    cr_assert_not_null (node, "node %d did not start", i);
    return node;
}

static zm_node_t *
s_start (int i)
{
    return s_start_as (i, false);
}

static void
s_setup_cluster (void)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/zm-sync-XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
    s_base = 20000 + (int) (getpid () % 3000) * 4; //  below the ephemeral ports
    for (int i = 0; i <= S_MEMBERS; i++) {
        char keys[128];
        snprintf (keys, sizeof keys, "%s/keys-%d", s_dir, i);
        cr_assert_eq (zm_keypair_create (keys, "node", NULL, s_keys[i]), 0);
    }
    for (int i = 0; i <= S_MEMBERS; i++)
        s_nodes[i] = s_start (i);
}

//  "$sync status" of member i (from the client), or NULL
static zm_msg_t *
s_status (int i)
{
    char address[128];
    snprintf (address, sizeof address, "tcp://127.0.0.1:%d#%s", s_base + i, s_keys[i]);
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = address;
    opts.timeout_ms = 500;
    opts.retries = 0;
    zm_msg_t *status = NULL;
    return zm_call (s_nodes[S_MEMBERS], "$sync", "status", NULL, &status, NULL, &opts) == 0
               ? status
               : NULL;
}

//  Wait until the live members agree on one leader; its index
static int
s_leader (int timeout_ms)
{
    int64_t deadline = zt_clock () + timeout_ms;
    while (zt_clock () < deadline) {
        char leader[32] = "";
        int agree = 0, live = 0, index = -1;
        for (int i = 0; i < S_MEMBERS; i++) {
            if (!s_nodes[i])
                continue;
            live++;
            zm_msg_t *status = s_status (i);
            const char *said = zm_msg_get_str (status, "leader", "");
            if (*said && (!*leader || streq (leader, said))) {
                snprintf (leader, sizeof leader, "%s", said);
                agree++;
            }
            if (streq (zm_msg_get_str (status, "role", ""), "leader"))
                index = i;
            zm_msg_destroy (&status);
        }
        if (index >= 0 && agree == live)
            return index;
        zclock_sleep (50);
    }
    return -1;
}

Test (sync, locks_are_granted_once_with_increasing_tokens, .fini = s_teardown, .timeout = 60)
{
    s_setup_cluster ();
    cr_assert_geq (s_leader (10000), 0, "no leader");
    zm_node_t *client = s_nodes[S_MEMBERS], *member = s_nodes[1];
    uint64_t first = 0, second = 0, third = 0;
    cr_assert_eq (zm_lock_acquire (client, "job", 1000, 2000, &first), 0);
    cr_assert_gt (first, 0);
    cr_assert (zm_lock_held (client, "job", first));
    //  Held: another caller times out, waiting or not
    uint64_t other = 0;
    int rc = zm_lock_acquire (member, "job", 1000, 0, &other);
    cr_assert_eq (rc, ZM_ETIMEOUT, "%s", zm_strerror (rc));
    int64_t start = zt_clock ();
    cr_assert_eq (zm_lock_acquire (member, "job", 1000, 300, &other), ZM_ETIMEOUT);
    cr_assert_geq (zt_clock () - start, 250, "it waited");
    //  Released: the other gets it, with a higher token
    cr_assert_eq (zm_lock_release (client, "job", first), 0);
    cr_assert_not (zm_lock_held (client, "job", first));
    cr_assert_eq (zm_lock_release (client, "job", first), ZM_ENOTFOUND, "released twice");
    cr_assert_eq (zm_lock_acquire (member, "job", 1000, 2000, &second), 0);
    cr_assert_gt (second, first);
    //  A waiter gets it as soon as the holder lets go
    cr_assert_eq (zm_lock_release (member, "job", second), 0);
    cr_assert_eq (zm_lock_acquire (client, "job", 1000, 2000, &third), 0);
    cr_assert_gt (third, second);
    //  Held past its ttl: renewed by the holder's node
    zclock_sleep (2500);
    cr_assert (zm_lock_held (client, "job", third), "renewed");
    cr_assert_eq (zm_lock_acquire (member, "job", 1000, 0, &other), ZM_ETIMEOUT);
    //  Bad arguments
    cr_assert_eq (zm_lock_acquire (client, "", 1000, 0, &other), ZM_EINVAL);
    cr_assert_eq (zm_lock_acquire (client, "a b", 1000, 0, &other), ZM_EINVAL);
    cr_assert_eq (zm_lock_acquire (client, "job", 10, 0, &other), ZM_EINVAL);
    cr_assert_eq (zm_lock_release (client, "job", 0), ZM_EINVAL);
}

Test (sync, a_dead_holders_lock_frees_after_its_ttl, .fini = s_teardown, .timeout = 60)
{
    s_setup_cluster ();
    cr_assert_geq (s_leader (10000), 0, "no leader");
    uint64_t token = 0, next = 0;
    cr_assert_eq (zm_lock_acquire (s_nodes[S_MEMBERS], "job", 500, 2000, &token), 0);
    //  The holder's node goes away without releasing
    int64_t gone = zt_clock ();
    zm_node_destroy (&s_nodes[S_MEMBERS]);
    s_nodes[S_MEMBERS] = s_start (S_MEMBERS);
    cr_assert_eq (zm_lock_acquire (s_nodes[S_MEMBERS], "job", 500, 5000, &next), 0);
    int64_t waited = zt_clock () - gone;
    cr_assert_gt (next, token);
    cr_assert_geq (waited, 400, "never before the lease could have run out (%" PRId64 " ms)",
                   waited);
}

Test (sync, a_killed_leader_is_replaced_and_members_restart_from_their_store,
      .fini = s_teardown, .timeout = 90)
{
    s_setup_cluster ();
    int leader = s_leader (10000);
    cr_assert_geq (leader, 0, "no leader");
    uint64_t before = 0, after = 0;
    cr_assert_eq (zm_lock_acquire (s_nodes[S_MEMBERS], "a", 1000, 2000, &before), 0);
    cr_assert_eq (zm_lock_release (s_nodes[S_MEMBERS], "a", before), 0);
    //  The leader goes: the two others elect one and grant again
    zm_node_destroy (&s_nodes[leader]);
    cr_assert_eq (zm_lock_acquire (s_nodes[S_MEMBERS], "a", 1000, 5000, &after), 0);
    cr_assert_gt (after, before);
    int fresh = s_leader (5000);
    cr_assert (fresh >= 0 && fresh != leader);
    //  Everyone stops and starts again from its store: the log is there
    for (int i = 0; i < S_MEMBERS; i++)
        zm_node_destroy (&s_nodes[i]);
    for (int i = 0; i < S_MEMBERS; i++)
        s_nodes[i] = s_start (i);
    cr_assert_geq (s_leader (10000), 0, "no leader after the restart");
    zm_msg_t *status = s_status (fresh);
    cr_assert_geq (zm_msg_get_uint (status, "last", 0), after, "the log survived");
    zm_msg_destroy (&status);
    uint64_t later = 0;
    cr_assert_eq (zm_lock_acquire (s_nodes[S_MEMBERS], "b", 1000, 5000, &later), 0);
    cr_assert_gt (later, after, "tokens keep increasing across restarts");
}

//  Leader events an actor was told: their terms, in order
static zsock_t *s_events;           //  PUSH end: each event's term and value

static int
s_on_leader (zm_ctx_t *ctx, zm_msg_t *msg)
{
    (void) ctx;
    zstr_sendf (s_events, "%" PRIu64 " %s", zm_msg_get_uint (msg, "term", 0),
                zm_msg_get_str (msg, "value", ""));
    return 0;
}

static const zm_handler_t s_watcher_handlers[] = {{"leader", s_on_leader}, {NULL, NULL}};
static const zm_actor_def_t s_watcher_def = {.kind = "watcher", .handlers = s_watcher_handlers};

//  The next leader event, or "" after timeout_ms
static void
s_next_event (zsock_t *pull, char *event, size_t size, int timeout_ms)
{
    zsock_set_rcvtimeo (pull, timeout_ms);
    char *text = zstr_recv (pull);
    snprintf (event, size, "%s", text ? text : "");
    zstr_free (&text);
}

Test (sync, one_leader_per_election_observed_and_watched, .fini = s_teardown, .timeout = 60)
{
    s_setup_cluster ();
    cr_assert_geq (s_leader (10000), 0, "no leader");
    zm_node_t *a = s_nodes[S_MEMBERS], *b = s_nodes[0];
    zsock_t *pull = zsock_new_pull ("inproc://sync-leader-events");
    s_events = zsock_new_push (">inproc://sync-leader-events");
    cr_assert (pull && s_events);
    zm_pid_t watcher = zm_spawn (b, "watcher", &s_watcher_def, NULL, -1, NULL);
    cr_assert (watcher);
    cr_assert_eq (zm_elect_watch (b, "scheduler", watcher, "leader"), 0);
    char event[256];
    s_next_event (pull, event, sizeof event, 3000);
    cr_assert_str_eq (event, "0 ", "nobody leads at first");
    //  Nobody leads: a learns it at once
    zm_leader_t leader;
    cr_assert_eq (zm_elect_observe (a, "scheduler", 0, 0, &leader), 0);
    cr_assert_eq (leader.term, 0);
    //  a campaigns and wins; b waits in vain while a leads
    uint64_t term_a = 0, term_b = 0;
    cr_assert_eq (zm_elect_campaign (a, "scheduler", "tcp://a:1", 1000, 1000, &term_a), 0);
    cr_assert (zm_elect_is_leader (a, "scheduler", term_a));
    cr_assert_eq (zm_elect_campaign (b, "scheduler", "tcp://b:1", 1000, 300, &term_b),
                  ZM_ETIMEOUT);
    s_next_event (pull, event, sizeof event, 3000);
    char expect[64];
    snprintf (expect, sizeof expect, "%" PRIu64 " tcp://a:1", term_a);
    cr_assert_str_eq (event, expect);
    //  An observer sees a's term and value; waiting for a change times out
    cr_assert_eq (zm_elect_observe (b, "scheduler", 0, 1000, &leader), 0);
    cr_assert_eq (leader.term, term_a);
    cr_assert_str_eq (leader.value, "tcp://a:1");
    cr_assert_eq (zm_elect_observe (b, "scheduler", term_a, 200, &leader), ZM_ETIMEOUT);
    //  An election is not a lock of the same name
    uint64_t token = 0;
    cr_assert_eq (zm_lock_acquire (b, "scheduler", 1000, 0, &token), 0);
    cr_assert_eq (zm_lock_release (b, "scheduler", token), 0);
    //  a resigns: b, campaigning, wins with a higher term; watchers see it
    cr_assert_eq (zm_elect_resign (a, "scheduler", term_a), 0);
    cr_assert_not (zm_elect_is_leader (a, "scheduler", term_a));
    cr_assert_eq (zm_elect_campaign (b, "scheduler", "tcp://b:1", 1000, 2000, &term_b), 0);
    cr_assert_gt (term_b, term_a);
    cr_assert_eq (zm_elect_observe (a, "scheduler", term_a, 2000, &leader), 0);
    cr_assert_eq (leader.term, term_b);
    cr_assert_str_eq (leader.value, "tcp://b:1");
    //  The watcher saw nobody (a resigned) then b, or b at once
    s_next_event (pull, event, sizeof event, 3000);
    if (streq (event, "0 "))
        s_next_event (pull, event, sizeof event, 3000);
    snprintf (expect, sizeof expect, "%" PRIu64 " tcp://b:1", term_b);
    cr_assert_str_eq (event, expect);
    //  Bad arguments
    cr_assert_eq (zm_elect_campaign (a, "a b", "v", 1000, 0, &term_a), ZM_EINVAL);
    cr_assert_eq (zm_elect_campaign (a, "x", NULL, 1000, 0, &term_a), ZM_EINVAL);
    cr_assert_eq (zm_lock_acquire (a, "$elect/scheduler", 1000, 0, &token), ZM_EINVAL);
    cr_assert_eq (zm_elect_unwatch (b, "scheduler", watcher), 0);
    cr_assert_eq (zm_elect_unwatch (b, "scheduler", watcher), ZM_ENOTFOUND);
    zsock_destroy (&s_events);
    zsock_destroy (&pull);
}

//  Members snapshot their lock table every 5 entries and drop the log it
//  covers; one that was down catches up from the leader's snapshot; all
//  restart from their snapshots with held locks and elections intact
Test (sync, the_log_is_compacted_and_held_locks_survive_in_snapshots, .fini = s_teardown,
      .timeout = 90)
{
    s_snapshot_entries = getenv ("ZT_SNAP") ? getenv ("ZT_SNAP") : "5";
    s_setup_cluster ();
    int leader = s_leader (10000);
    cr_assert_geq (leader, 0, "no leader");
    zm_node_t *client = s_nodes[S_MEMBERS];
    uint64_t held = 0, term = 0, token = 0;
    cr_assert_eq (zm_lock_acquire (client, "held", 1000, 2000, &held), 0);
    cr_assert_eq (zm_elect_campaign (client, "boss", "tcp://boss:1", 1000, 2000, &term), 0);
    for (int n = 0; n < 10; n++) {
        cr_assert_eq (zm_lock_acquire (client, "churn", 1000, 2000, &token), 0);
        cr_assert_eq (zm_lock_release (client, "churn", token), 0);
    }
    //  Every member compacted: what is left of its log is short
    for (int i = 0; i < S_MEMBERS; i++) {
        zm_msg_t *status = NULL;
        int64_t deadline = zt_clock () + 3000;
        while (zt_clock () < deadline) {
            zm_msg_destroy (&status);
            status = s_status (i);
            if (zm_msg_get_uint (status, "snapshot", 0) >= 15)
                break;
            zclock_sleep (50);
        }
        uint64_t snapshot = zm_msg_get_uint (status, "snapshot", 0),
                 last = zm_msg_get_uint (status, "last", 0);
        cr_assert_geq (snapshot, 15, "m%d did not compact (snapshot at %" PRIu64 ")", i,
                       snapshot);
        cr_assert_lt (last - snapshot, 10, "m%d keeps %" PRIu64 " entries", i, last - snapshot);
        zm_msg_destroy (&status);
    }
    //  A follower is down while the others go on well past its log
    int down = (leader + 1) % S_MEMBERS;
    zm_node_destroy (&s_nodes[down]);
    for (int n = 0; n < 10; n++) {
        int rc = zm_lock_acquire (client, "churn", 1000, 5000, &token);
        cr_assert_eq (rc, 0, "acquire %d: %s", n, zm_strerror (rc));
        rc = zm_lock_release (client, "churn", token);
        cr_assert_eq (rc, 0, "release %d of %" PRIu64 ": %s", n, token, zm_strerror (rc));
    }
    zm_msg_t *status = s_status (leader);
    uint64_t commit = zm_msg_get_uint (status, "commit", 0);
    zm_msg_destroy (&status);
    s_nodes[down] = s_start (down);
    int64_t deadline = zt_clock () + 5000;
    uint64_t caught = 0, snapshot = 0;
    while (zt_clock () < deadline && caught < commit) {
        status = s_status (down);
        caught = zm_msg_get_uint (status, "commit", 0);
        snapshot = zm_msg_get_uint (status, "snapshot", 0);
        zm_msg_destroy (&status);
        zclock_sleep (50);
    }
    cr_assert_geq (caught, commit, "the member that was down did not catch up");
    cr_assert_geq (snapshot, commit - 10, "it holds a snapshot from the leader");
    //  Everyone restarts from its snapshot: the held lock and the
    //  election's leader are still there, renewed by the client's node
    for (int i = 0; i < S_MEMBERS; i++)
        zm_node_destroy (&s_nodes[i]);
    for (int i = 0; i < S_MEMBERS; i++)
        s_nodes[i] = s_start (i);
    cr_assert_geq (s_leader (10000), 0, "no leader after the restart");
    cr_assert (zm_lock_held (client, "held", held), "the held lock survived the snapshots");
    uint64_t other = 0;
    cr_assert_eq (zm_lock_acquire (s_nodes[0], "held", 1000, 0, &other), ZM_ETIMEOUT);
    zm_leader_t boss;
    cr_assert_eq (zm_elect_observe (s_nodes[0], "boss", 0, 2000, &boss), 0);
    cr_assert_eq (boss.term, term);
    cr_assert_str_eq (boss.value, "tcp://boss:1");
    cr_assert_eq (zm_lock_acquire (client, "churn", 1000, 5000, &token), 0);
    cr_assert_gt (token, commit, "tokens keep increasing past the snapshots");
    s_snapshot_entries = NULL;
}

static zm_node_t *
s_start_candidate (int i)
{
    return s_start_as (i, true);
}

//  The role and member list member i reports (from node 3)
static void
s_role (int i, char *role, size_t size, char *members, size_t members_size)
{
    zm_msg_t *status = s_status (i);
    snprintf (role, size, "%s", zm_msg_get_str (status, "role", "?"));
    *members = 0;
    const zm_val_t *list = zm_val_get (zm_msg_root (status), "members");
    for (size_t m = 0; m < zm_val_size (list); m++) {
        size_t used = strlen (members);
        snprintf (members + used, members_size - used, "%s%s", m ? "," : "",
                  zm_val_str (zm_val_at (list, m), "", NULL));
    }
    zm_msg_destroy (&status);
}

//  A group forms from discovery once exactly N candidates see each other
//  and agree; it is stored, and a restart no longer depends on discovery
Test (sync, a_group_forms_from_discovery_with_sync_expect, .fini = s_teardown, .timeout = 90)
{
    snprintf (s_dir, sizeof s_dir, "/tmp/zm-sync-XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
    s_base = 20000 + (int) (getpid () % 3000) * 4;
    for (int i = 0; i <= S_MEMBERS; i++) {
        char keys[128];
        snprintf (keys, sizeof keys, "%s/keys-%d", s_dir, i);
        cr_assert_eq (zm_keypair_create (keys, "node", NULL, s_keys[i]), 0);
    }
    //  Two candidates of three: no group, no lock
    s_nodes[S_MEMBERS] = s_start (S_MEMBERS); //  a client, not a candidate
    for (int i = 0; i < 2; i++)
        s_nodes[i] = s_start_candidate (i);
    char role[32], members[256];
    zclock_sleep (1000);
    for (int i = 0; i < 2; i++) {
        s_role (i, role, sizeof role, members, sizeof members);
        cr_assert_str_eq (role, "forming", "m%d formed a group of three with two", i);
    }
    uint64_t token = 0;
    int rc = zm_lock_acquire (s_nodes[S_MEMBERS], "job", 1000, 300, &token);
    cr_assert (rc == ZM_EUNAVAIL || rc == ZM_ETIMEOUT, "no group, no lock: %s", zm_strerror (rc));
    //  The third: the three agree and form the group
    s_nodes[2] = s_start_candidate (2);
    cr_assert_geq (s_leader (10000), 0, "the three did not form a group");
    for (int i = 0; i < S_MEMBERS; i++) {
        s_role (i, role, sizeof role, members, sizeof members);
        cr_assert_str_eq (members, "m0,m1,m2", "m%d has members %s", i, members);
    }
    cr_assert_eq (zm_lock_acquire (s_nodes[S_MEMBERS], "job", 1000, 5000, &token), 0);
    cr_assert_eq (zm_lock_release (s_nodes[S_MEMBERS], "job", token), 0);
    //  A fourth candidate sees four where three are expected: it stays out
    //  and says so, and the group goes on
    zm_node_destroy (&s_nodes[S_MEMBERS]);
    s_nodes[S_MEMBERS] = s_start_candidate (S_MEMBERS);
    zclock_sleep (1000);
    s_role (S_MEMBERS, role, sizeof role, members, sizeof members);
    cr_assert_str_eq (role, "forming", "m3 is not let in");
    s_role (0, role, sizeof role, members, sizeof members);
    cr_assert_str_eq (members, "m0,m1,m2");
    //  They restart with the group they stored, though with the fourth
    //  candidate there they would never agree from discovery alone
    for (int i = 0; i <= S_MEMBERS; i++)
        zm_node_destroy (&s_nodes[i]);
    for (int i = 0; i <= S_MEMBERS; i++)
        s_nodes[i] = s_start_candidate (i);
    cr_assert_geq (s_leader (10000), 0, "no leader after the restart");
    s_role (0, role, sizeof role, members, sizeof members);
    cr_assert_str_eq (members, "m0,m1,m2");
    s_role (S_MEMBERS, role, sizeof role, members, sizeof members);
    cr_assert_str_eq (role, "forming", "m3 is not let in");
    uint64_t later = 0;
    cr_assert_eq (zm_lock_acquire (s_nodes[S_MEMBERS], "job", 1000, 5000, &later), 0,
                  "a candidate still forming calls the group like any node");
    cr_assert_gt (later, token);
}

//  Raft messages and hellos that break the rules of docs/protocol.md
//  section 19 get ERROR 400 and change nothing
Test (sync, malformed_raft_messages_are_refused, .fini = s_teardown, .timeout = 60)
{
    s_setup_cluster ();
    int leader = s_leader (10000);
    cr_assert_geq (leader, 0, "no leader");
    char address[128];
    snprintf (address, sizeof address, "tcp://127.0.0.1:%d#%s", s_base + leader,
              s_keys[leader]);
    zm_call_opts_t opts = ZM_CALL_OPTS_DEFAULT;
    opts.address = address;
    opts.timeout_ms = 2000;
    opts.retries = 0;
    for (int bad = 0; bad < 9; bad++) {
        zm_msg_t *req = zm_msg_new ();
        zm_msg_set_uint (req, "t", bad == 0 ? 99 : bad <= 3 ? 7 : 5);
        zm_msg_set_uint (req, "f", bad == 8 ? 1000 : (uint64_t) (leader + 1) % S_MEMBERS);
        zm_msg_set_uint (req, "to", (uint64_t) leader);
        zm_msg_set_uint (req, "term", 1000000); //  a term that would depose the leader
        zm_msg_set_uint (req, "i", 5);
        zm_val_t *entries = bad == 1 ? NULL : zm_val_set_array (zm_msg_root_mut (req), "e");
        for (int e = 0; entries && e < (bad == 2 ? 2 : 1); e++) {
            zm_val_t *entry = zm_val_push_array (entries);
            zm_val_push_uint (entry, 1);
            zm_val_push_uint (entry, bad == 3 ? 9 : bad == 4 ? 7 : bad <= 3 ? 5 : 6);
            if (bad != 5)
                zm_val_push_bin (entry, "x", 1);
            if (bad == 6)
                zm_val_push_str (entry, "extra");
        }
        if (bad == 7)
            zm_val_push_str (entries, "not an entry");
        zm_error_t *error = NULL;
        int rc = zm_call (s_nodes[S_MEMBERS], "$sync", "raft", &req, NULL, &error, &opts);
        cr_assert_eq (rc, ZM_EINVAL, "bad raft message %d: %s", bad, zm_error_detail (error));
        zm_error_destroy (&error);
    }
    //  A hello to a member not forming a group
    zm_msg_t *req = zm_msg_new ();
    zm_msg_set_str (req, "name", "intruder");
    zm_msg_set_int (req, "expect", 3);
    zm_msg_set_str (req, "proposal", "intruder,m0,m1");
    cr_assert_eq (zm_call (s_nodes[S_MEMBERS], "$sync", "bootstrap", &req, NULL, NULL, &opts),
                  ZM_EINVAL);
    //  Nothing changed: the same leader, in the same term range, grants
    zm_msg_t *status = s_status (leader);
    cr_assert_str_eq (zm_msg_get_str (status, "role", ""), "leader");
    cr_assert_lt (zm_msg_get_uint (status, "term", 0), 1000000);
    zm_msg_destroy (&status);
    uint64_t token = 0;
    cr_assert_eq (zm_lock_acquire (s_nodes[S_MEMBERS], "job", 1000, 2000, &token), 0);
}
