/*  The Raft core (actors/zm_raft.c) driven step by step: members in one
    process, a clock the test advances 1 ms at a time, and messages that
    the test carries between them with delays, losses, partitions, crashes
    and restarts (a crashed member keeps its "disk": the memory storage).
    This checks the algorithm's properties under schedules a real network
    rarely produces; the same core over real sockets and processes is
    tested by the sync tests of step 7.

    Checked at every millisecond:
      election safety   at most one leader per term, ever
      leader append-only / completeness
                        a leader's log holds every entry committed before
      state machine safety
                        every member applies the same entry at each index
      log matching      committed prefixes agree everywhere
    With compaction on, members snapshot their "state machine" (a digest
    of every command applied) every few entries; a snapshot a member
    loads, from its disk or from the leader, must be the digest of the
    committed history up to its index.
    and liveness: once the faults stop, a leader is elected and new
    commands commit within a bounded time.
*/
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zm_raft.h"
#include "zmicro.h"

#define S_MAX 5
#define S_FLIGHT_MAX 100000
#define S_HISTORY_MAX 20000

typedef struct {
    zm_raft_msg_t msg;
    int64_t at;                   //  delivery time
} s_flight_t;

typedef struct {
    int count;
    zm_raft_t *member[S_MAX];     //  NULL while crashed
    zm_raft_memory_t disk[S_MAX]; //  survives a crash
    bool link[S_MAX][S_MAX];      //  can i reach j
    s_flight_t *flight;           //  messages on the way
    size_t flights;
    int64_t now;
    uint64_t rng;
    int drop_percent;             //  each message lost with this chance
    int max_delay;                //  ms, each message delayed 1..max_delay
    //  What the cluster committed, as first applied by anyone
    char history[S_HISTORY_MAX][24];
    uint64_t history_term[S_HISTORY_MAX];
    uint64_t history_digest[S_HISTORY_MAX + 1]; //  of the first k entries
    uint64_t digest[S_MAX];       //  each member's state machine
    uint64_t compact_every;       //  0: no snapshots
    uint64_t restored[S_MAX];     //  snapshots each member loaded
    uint64_t committed;           //  entries in history
    uint64_t applied[S_MAX];      //  what each member applied so far
    int leader_of_term[4096];     //  -1: none seen
    uint64_t proposals;
} s_net_t;

#define S_DIGEST_START 14695981039346656037ull

//  FNV-1a of the commands applied so far, each ended by a zero byte
static uint64_t
s_digest (uint64_t digest, const char *text)
{
    for (size_t i = 0; i <= strlen (text); i++)
        digest = (digest ^ (uint8_t) text[i]) * 1099511628211ull;
    return digest;
}

static uint64_t
s_rand (s_net_t *net)
{
    net->rng ^= net->rng << 13;
    net->rng ^= net->rng >> 7;
    net->rng ^= net->rng << 17;
    return net->rng;
}

static zm_raft_t *
s_member_start (s_net_t *net, int i)
{
    zm_raft_config_t config = {.self = i,
                               .count = net->count,
                               .election_ms = 150,
                               .heartbeat_ms = 30,
                               .max_batch = 64,
                               .seed = s_rand (net) | 1,
                               .storage = &zm_raft_memory_ops,
                               .storage_self = &net->disk[i]};
    zm_raft_t *raft = zm_raft_new (&config, net->now);
    cr_assert_not_null (raft, "member %d did not start from its disk", i);
    net->applied[i] = 0; //  a restarted member applies its log again
    net->digest[i] = S_DIGEST_START;
    return raft;
}

static void
s_net_init (s_net_t *net, int count, uint64_t seed)
{
    memset (net, 0, sizeof *net);
    net->count = count;
    net->rng = seed * 2654435761u + 1;
    net->max_delay = 5;
    net->history_digest[0] = S_DIGEST_START;
    net->flight = (s_flight_t *) calloc (S_FLIGHT_MAX, sizeof (s_flight_t));
    cr_assert_not_null (net->flight);
    for (int t = 0; t < 4096; t++)
        net->leader_of_term[t] = -1;
    for (int i = 0; i < count; i++) {
        zm_raft_memory_init (&net->disk[i]);
        for (int j = 0; j < count; j++)
            net->link[i][j] = true;
    }
    for (int i = 0; i < count; i++)
        net->member[i] = s_member_start (net, i);
}

static void
s_net_destroy (s_net_t *net)
{
    for (int i = 0; i < net->count; i++) {
        zm_raft_destroy (&net->member[i]);
        zm_raft_memory_clear (&net->disk[i]);
    }
    for (size_t f = 0; f < net->flights; f++)
        zm_raft_msg_clear (&net->flight[f].msg);
    free (net->flight);
}

static void
s_crash (s_net_t *net, int i)
{
    zm_raft_destroy (&net->member[i]);
}

static void
s_restart (s_net_t *net, int i)
{
    if (!net->member[i])
        net->member[i] = s_member_start (net, i);
}

//  Cut the cluster in two: members in group (a bit each) and the others
static void
s_partition (s_net_t *net, unsigned group)
{
    for (int i = 0; i < net->count; i++)
        for (int j = 0; j < net->count; j++)
            net->link[i][j] = ((group >> i) & 1) == ((group >> j) & 1);
}

static void
s_heal (s_net_t *net)
{
    s_partition (net, 0);
}

//  The properties, checked after every step
static void
s_check (s_net_t *net, int i)
{
    zm_raft_t *raft = net->member[i];
    if (!raft)
        return;
    uint64_t term = zm_raft_term (raft);
    cr_assert_lt (term, 4096);
    if (zm_raft_role (raft) == ZM_RAFT_LEADER) {
        int *leader = &net->leader_of_term[term];
        cr_assert (*leader == -1 || *leader == i,
                   "election safety: members %d and %d both led term %" PRIu64, *leader, i,
                   term);
        if (*leader == -1) {
            //  Leader completeness: it holds everything committed so far
            //  (what its snapshot covers was checked when it was made)
            for (uint64_t k = zm_raft_snapshot_index (raft) + 1; k <= net->committed; k++) {
                const zm_raft_entry_t *entry = zm_raft_entry (raft, k);
                cr_assert_not_null (entry, "leader %d of term %" PRIu64 " lacks entry %" PRIu64,
                                    i, term, k);
                cr_assert_eq (entry->term, net->history_term[k - 1],
                              "leader %d of term %" PRIu64 " has another entry %" PRIu64, i,
                              term, k);
            }
        }
        *leader = i;
    }
    //  A snapshot it loads is the committed history up to its index
    const zm_raft_snapshot_t *snapshot;
    if (zm_raft_restore (raft, &snapshot)) {
        uint64_t digest = 0;
        cr_assert_eq (snapshot->size, sizeof digest);
        memcpy (&digest, snapshot->data, sizeof digest);
        cr_assert_leq (snapshot->index, net->committed,
                       "member %d loaded a snapshot of uncommitted entries", i);
        cr_assert_eq (digest, net->history_digest[snapshot->index],
                      "member %d loaded a snapshot at %" PRIu64 " of another history", i,
                      snapshot->index);
        cr_assert_geq (snapshot->index, net->applied[i], "member %d went back", i);
        net->applied[i] = snapshot->index;
        net->digest[i] = digest;
        net->restored[i]++;
    }
    //  State machine safety: what it applies is what the cluster committed
    const zm_raft_entry_t *entry;
    while (zm_raft_apply (raft, &entry)) {
        uint64_t k = entry->index;
        cr_assert_eq (k, net->applied[i] + 1, "member %d applied %" PRIu64 " out of order", i, k);
        net->applied[i] = k;
        char text[24] = "";
        if (entry->size)
            snprintf (text, sizeof text, "%.*s", (int) entry->size, (const char *) entry->data);
        cr_assert_lt (k, S_HISTORY_MAX);
        net->digest[i] = s_digest (net->digest[i], text);
        if (k > net->committed) {
            cr_assert_eq (k, net->committed + 1);
            snprintf (net->history[k - 1], sizeof net->history[0], "%s", text);
            net->history_term[k - 1] = entry->term;
            net->history_digest[k] = net->digest[i];
            net->committed = k;
        }
        else {
            cr_assert_str_eq (text, net->history[k - 1],
                              "member %d applied \"%s\" at %" PRIu64 " where \"%s\" was", i,
                              text, k, net->history[k - 1]);
            cr_assert_eq (entry->term, net->history_term[k - 1]);
            cr_assert_eq (net->digest[i], net->history_digest[k]);
        }
    }
    //  Compaction: the state as of the last entry applied
    if (net->compact_every
        && net->applied[i] >= zm_raft_snapshot_index (raft) + net->compact_every) {
        cr_assert_eq (zm_raft_compact (raft, net->applied[i], &net->digest[i], sizeof (uint64_t)),
                      0);
        cr_assert_eq (zm_raft_snapshot_index (raft), net->applied[i]);
        cr_assert_null (zm_raft_entry (raft, net->applied[i]), "a compacted entry is gone");
    }
}

//  One millisecond: ticks, deliveries, sends, checks
static void
s_step (s_net_t *net)
{
    net->now++;
    for (int i = 0; i < net->count; i++)
        if (net->member[i])
            zm_raft_tick (net->member[i], net->now);
    //  Deliver what is due (the link must be up at delivery)
    size_t kept = 0;
    for (size_t f = 0; f < net->flights; f++) {
        s_flight_t *flight = &net->flight[f];
        if (flight->at > net->now) {
            net->flight[kept++] = *flight;
            continue;
        }
        int to = flight->msg.to, from = flight->msg.from;
        if (net->member[to] && net->link[from][to])
            zm_raft_step (net->member[to], &flight->msg, net->now);
        else
            zm_raft_msg_clear (&flight->msg);
    }
    net->flights = kept;
    for (int i = 0; i < net->count; i++) {
        zm_raft_msg_t msg;
        while (net->member[i] && zm_raft_pop (net->member[i], &msg)) {
            bool lost = net->drop_percent && (int) (s_rand (net) % 100) < net->drop_percent;
            if (lost || net->flights == S_FLIGHT_MAX) {
                zm_raft_msg_clear (&msg);
                continue;
            }
            net->flight[net->flights++] =
                (s_flight_t) {msg, net->now + 1 + (int64_t) (s_rand (net) % net->max_delay)};
        }
    }
    for (int i = 0; i < net->count; i++)
        s_check (net, i);
}

//  The member that leads now (the one of the highest term), or -1
static int
s_leader (s_net_t *net)
{
    int leader = -1;
    for (int i = 0; i < net->count; i++)
        if (net->member[i] && zm_raft_role (net->member[i]) == ZM_RAFT_LEADER
            && (leader < 0 || zm_raft_term (net->member[i]) > zm_raft_term (net->member[leader])))
            leader = i;
    return leader;
}

//  Propose a new command on the leader, if any; its index or 0
static uint64_t
s_propose (s_net_t *net)
{
    int leader = s_leader (net);
    if (leader < 0)
        return 0;
    char text[24];
    snprintf (text, sizeof text, "cmd-%" PRIu64, ++net->proposals);
    uint64_t index = 0;
    int rc = zm_raft_propose (net->member[leader], text, strlen (text), &index);
    cr_assert_eq (rc, 0);
    return index;
}

//  Run until every live member applied index, or ms pass; true when done
static bool
s_run_until_applied (s_net_t *net, uint64_t index, int ms)
{
    for (int t = 0; t < ms; t++) {
        bool all = true;
        for (int i = 0; i < net->count; i++)
            all &= !net->member[i] || net->applied[i] >= index;
        if (all)
            return true;
        s_step (net);
    }
    return false;
}

static void
s_run (s_net_t *net, int ms)
{
    for (int t = 0; t < ms; t++)
        s_step (net);
}

//  Liveness once faults end: a leader within 2 s, then a command commits
//  and reaches every member
static void
s_expect_live (s_net_t *net)
{
    net->drop_percent = 0;
    s_heal (net);
    for (int i = 0; i < net->count; i++)
        s_restart (net, i);
    int t = 0;
    for (; t < 2000 && s_leader (net) < 0; t++)
        s_step (net);
    cr_assert_geq (s_leader (net), 0, "no leader 2 s after the faults ended");
    uint64_t index = s_propose (net);
    cr_assert_gt (index, 0);
    cr_assert (s_run_until_applied (net, index, 2000),
               "a command did not reach every member within 2 s");
}

Test (raft, one_member_elects_itself_and_commits, .timeout = 10)
{
    s_net_t net;
    s_net_init (&net, 1, 1);
    s_run (&net, 400);
    cr_assert_eq (s_leader (&net), 0);
    uint64_t index = s_propose (&net);
    cr_assert (s_run_until_applied (&net, index, 10));
    cr_assert_str_eq (net.history[index - 1], "cmd-1");
    s_net_destroy (&net);
}

Test (raft, three_members_elect_one_leader_and_replicate, .timeout = 10)
{
    s_net_t net;
    s_net_init (&net, 3, 2);
    s_run (&net, 1000);
    int leader = s_leader (&net);
    cr_assert_geq (leader, 0);
    for (int i = 0; i < 3; i++)
        cr_assert_eq (zm_raft_leader (net.member[i]), leader, "member %d follows %d", i,
                      zm_raft_leader (net.member[i]));
    uint64_t last = 0;
    for (int n = 0; n < 100; n++)
        last = s_propose (&net);
    cr_assert (s_run_until_applied (&net, last, 500));
    //  A follower refuses proposals
    cr_assert_eq (zm_raft_propose (net.member[(leader + 1) % 3], "x", 1, NULL), ZM_EUNAVAIL);
    s_net_destroy (&net);
}

Test (raft, a_cut_off_leader_steps_down_and_a_healed_member_does_not_disrupt, .timeout = 20)
{
    s_net_t net;
    s_net_init (&net, 5, 3);
    s_run (&net, 1000);
    int old = s_leader (&net);
    cr_assert_geq (old, 0);
    uint64_t old_term = zm_raft_term (net.member[old]);
    //  The leader alone on one side: the other four elect a new one, and
    //  the old one, unable to reach a majority, steps down (check quorum)
    s_partition (&net, 1u << old);
    uint64_t index = 0;
    zm_raft_propose (net.member[old], "lost", 4, &index);
    s_run (&net, 1000);
    cr_assert_neq (zm_raft_role (net.member[old]), ZM_RAFT_LEADER, "the cut-off leader stepped down");
    int fresh = s_leader (&net);
    cr_assert (fresh >= 0 && fresh != old);
    //  The cut-off member never raised its term alone (pre-vote)
    cr_assert_eq (zm_raft_term (net.member[old]), old_term);
    uint64_t fresh_term = zm_raft_term (net.member[fresh]);
    uint64_t mine = s_propose (&net);
    cr_assert (s_run_until_applied (&net, mine, 1000) || true);
    //  Healed: it follows the new leader, whose term does not move, and its
    //  uncommitted entry is replaced
    s_heal (&net);
    s_run (&net, 1000);
    cr_assert_eq (s_leader (&net), fresh);
    cr_assert_eq (zm_raft_term (net.member[fresh]), fresh_term, "the healed member disrupted");
    cr_assert (s_run_until_applied (&net, mine, 1000));
    for (uint64_t k = 1; k <= net.committed; k++)
        cr_assert_str_neq (net.history[k - 1], "lost", "an entry of a cut-off leader committed");
    s_net_destroy (&net);
}

//  How often each fault strikes, per mille per simulated ms
typedef struct {
    int crash, restart, partition, heal, loss, propose;
    int max_delay;             //  ms
} s_faults_t;

//  Steady: a crash or partition every few hundred ms
static const s_faults_t s_steady = {2, 4, 2, 3, 3, 26, 20};
//  Flapping: members crash and come back every few tens of ms, so
//  elections never stop and votes, terms and logs are read back from
//  disk in the middle of them
static const s_faults_t s_flapping = {20, 40, 5, 5, 3, 60, 40};

//  Random faults for duration ms: crashes and restarts, partitions and
//  heals, message loss, and a proposal now and then
static void
s_chaos (int members, uint64_t seed, int duration, const s_faults_t *faults)
{
    s_net_t net;
    s_net_init (&net, members, seed);
    net.max_delay = faults->max_delay;
    //  Every other run snapshots often, so that lagging and restarted
    //  members load snapshots in the middle of everything else
    net.compact_every = seed % 2 ? 7 : 0;
    for (int t = 0; t < duration; t++) {
        int dice = (int) (s_rand (&net) % 1000);
        int who = (int) (s_rand (&net) % (uint64_t) members);
        int at = 0;
        if (dice < (at += faults->crash))
            s_crash (&net, who);
        else if (dice < (at += faults->restart))
            s_restart (&net, who);
        else if (dice < (at += faults->partition))
            s_partition (&net, (unsigned) (s_rand (&net) % (1u << members)));
        else if (dice < (at += faults->heal))
            s_heal (&net);
        else if (dice < (at += faults->loss))
            net.drop_percent = (int) (s_rand (&net) % 30);
        else if (dice < (at += faults->propose))
            s_propose (&net);
        s_step (&net);
    }
    uint64_t before = net.committed;
    s_expect_live (&net);
    cr_assert_gt (net.committed, before);
    uint64_t restored = 0;
    for (int i = 0; i < members; i++)
        restored += net.restored[i];
    cr_assert (!net.compact_every || restored > 0, "no member ever loaded a snapshot");
    s_net_destroy (&net);
}

Test (raft, randomized_faults_keep_every_safety_property_3, .timeout = 120)
{
    for (uint64_t seed = 1; seed <= 8; seed++)
        s_chaos (3, seed, 20000, &s_steady);
}

Test (raft, randomized_faults_keep_every_safety_property_5, .timeout = 120)
{
    for (uint64_t seed = 100; seed <= 107; seed++)
        s_chaos (5, seed, 20000, &s_steady);
}

Test (raft, randomized_flapping_members_keep_every_safety_property, .timeout = 120)
{
    for (uint64_t seed = 200; seed <= 215; seed++)
        s_chaos (seed % 2 ? 3 : 5, seed, 10000, &s_flapping);
}

Test (raft, a_member_that_cannot_persist_falls_silent, .timeout = 10)
{
    s_net_t net;
    s_net_init (&net, 3, 4);
    s_run (&net, 1000);
    int leader = s_leader (&net);
    int follower = (leader + 1) % 3;
    net.disk[follower].fail = ZM_EIO;
    uint64_t index = s_propose (&net);
    s_run (&net, 200);
    cr_assert (zm_raft_failed (net.member[follower]));
    cr_assert_lt (zm_raft_last_index (net.member[follower]), index,
                  "it never acknowledged what it could not store");
    //  The two others still commit
    cr_assert_geq (zm_raft_commit_index (net.member[leader]), index);
    s_net_destroy (&net);
}

Test (raft, restarted_members_keep_term_vote_and_log, .timeout = 10)
{
    s_net_t net;
    s_net_init (&net, 3, 5);
    s_run (&net, 1000);
    uint64_t last = 0;
    for (int n = 0; n < 10; n++)
        last = s_propose (&net);
    cr_assert (s_run_until_applied (&net, last, 500));
    uint64_t terms[3];
    for (int i = 0; i < 3; i++) {
        terms[i] = zm_raft_term (net.member[i]);
        s_crash (&net, i);
    }
    for (int i = 0; i < 3; i++) {
        s_restart (&net, i);
        cr_assert_eq (zm_raft_term (net.member[i]), terms[i]);
        cr_assert_geq (zm_raft_last_index (net.member[i]), last);
    }
    //  They elect again and apply the same history (checked by s_check)
    s_expect_live (&net);
    s_net_destroy (&net);
}

Test (raft, bad_config_or_disk_is_refused, .timeout = 10)
{
    zm_raft_memory_t disk;
    zm_raft_memory_init (&disk);
    zm_raft_config_t good = {.self = 0,
                             .count = 3,
                             .election_ms = 150,
                             .heartbeat_ms = 30,
                             .max_batch = 8,
                             .storage = &zm_raft_memory_ops,
                             .storage_self = &disk};
    zm_raft_config_t bad = good;
    bad.count = ZM_RAFT_MAX_MEMBERS + 1;
    cr_assert_null (zm_raft_new (&bad, 0));
    bad = good;
    bad.self = 3;
    cr_assert_null (zm_raft_new (&bad, 0));
    bad = good;
    bad.heartbeat_ms = 150;
    cr_assert_null (zm_raft_new (&bad, 0));
    bad = good;
    bad.storage = NULL;
    cr_assert_null (zm_raft_new (&bad, 0));
    //  A disk whose log is not a Raft log, or whose vote is no member
    zm_raft_entry_t entries[2] = {{.term = 2, .index = 1}, {.term = 1, .index = 2}};
    cr_assert_eq (zm_raft_memory_ops.append (&disk, 1, entries, 2), 0);
    disk.term = 2;
    cr_assert_null (zm_raft_new (&good, 0), "terms going down");
    zm_raft_memory_clear (&disk);
    cr_assert_eq (zm_raft_memory_ops.append (&disk, 1, entries, 1), 0);
    disk.term = 1;
    cr_assert_null (zm_raft_new (&good, 0), "an entry of a term after the current one");
    disk.term = 2;
    disk.vote = 7;
    cr_assert_null (zm_raft_new (&good, 0), "a vote for no member");
    disk.vote = 1;
    zm_raft_t *raft = zm_raft_new (&good, 0);
    cr_assert_not_null (raft);
    cr_assert_eq (zm_raft_term (raft), 2);
    zm_raft_destroy (&raft);
    zm_raft_memory_clear (&disk);
}

//  --------------------------------------------------------------------------
//  Rules the random runs reach too rarely, driven message by message

//  Member self of three, on disk, for messages made by hand
static zm_raft_config_t
s_handmade_config (int self, zm_raft_memory_t *disk)
{
    return (zm_raft_config_t) {.self = self,
                               .count = 3,
                               .election_ms = 150,
                               .heartbeat_ms = 30,
                               .max_batch = 8,
                               .storage = &zm_raft_memory_ops,
                               .storage_self = disk};
}

//  Step a handmade message into raft, then pop its one answer into reply
static void
s_exchange (zm_raft_t *raft, zm_raft_msg_t msg, int64_t now, zm_raft_msg_t *reply)
{
    zm_raft_step (raft, &msg, now);
    cr_assert (zm_raft_pop (raft, reply), "no answer");
}

Test (raft, a_vote_survives_a_restart, .timeout = 10)
{
    zm_raft_memory_t disk;
    zm_raft_memory_init (&disk);
    zm_raft_config_t config = s_handmade_config (2, &disk);
    zm_raft_t *raft = zm_raft_new (&config, 0);
    zm_raft_msg_t reply;
    s_exchange (raft, (zm_raft_msg_t) {.type = ZM_RAFT_VOTE, .from = 0, .to = 2, .term = 1}, 1,
                &reply);
    cr_assert (reply.granted && reply.term == 1, "member 0 gets the vote of term 1");
    zm_raft_destroy (&raft);
    raft = zm_raft_new (&config, 2);
    s_exchange (raft, (zm_raft_msg_t) {.type = ZM_RAFT_VOTE, .from = 1, .to = 2, .term = 1}, 3,
                &reply);
    cr_assert_not (reply.granted, "after a restart, the vote of term 1 is still member 0's");
    s_exchange (raft, (zm_raft_msg_t) {.type = ZM_RAFT_VOTE, .from = 0, .to = 2, .term = 1}, 4,
                &reply);
    cr_assert (reply.granted, "asked again by the same candidate: yes");
    zm_raft_destroy (&raft);
    zm_raft_memory_clear (&disk);
}

Test (raft, entries_of_past_terms_commit_only_under_one_of_the_current_term, .timeout = 10)
{
    //  Member 0 restarts with an entry of term 2 nobody committed
    zm_raft_memory_t disk;
    zm_raft_memory_init (&disk);
    zm_raft_entry_t old[2] = {{.term = 1}, {.term = 2}};
    cr_assert_eq (zm_raft_memory_ops.append (&disk, 1, old, 2), 0);
    disk.term = 2;
    zm_raft_config_t config = s_handmade_config (0, &disk);
    zm_raft_t *raft = zm_raft_new (&config, 0);
    //  It wins term 3 with member 1's pre-vote and vote
    zm_raft_tick (raft, 1000);
    cr_assert_eq (zm_raft_role (raft), ZM_RAFT_PRE_CANDIDATE);
    zm_raft_msg_t msg;
    while (zm_raft_pop (raft, &msg))
        zm_raft_msg_clear (&msg);
    zm_raft_msg_t grant = {.type = ZM_RAFT_PRE_VOTE_REPLY, .from = 1, .to = 0, .term = 3,
                           .granted = true};
    zm_raft_step (raft, &grant, 1001);
    cr_assert_eq (zm_raft_role (raft), ZM_RAFT_CANDIDATE);
    cr_assert_eq (zm_raft_term (raft), 3);
    grant.type = ZM_RAFT_VOTE_REPLY;
    zm_raft_step (raft, &grant, 1002);
    cr_assert_eq (zm_raft_role (raft), ZM_RAFT_LEADER);
    cr_assert_eq (zm_raft_last_index (raft), 3, "its no-op of term 3 follows");
    while (zm_raft_pop (raft, &msg))
        zm_raft_msg_clear (&msg);
    //  Member 1 holds the entry of term 2: a majority has it, and still it
    //  is not committed (Figure 8 of the Raft paper)
    zm_raft_msg_t ack = {.type = ZM_RAFT_APPEND_REPLY, .from = 1, .to = 0, .term = 3,
                         .granted = true, .index = 2};
    zm_raft_step (raft, &ack, 1003);
    cr_assert_eq (zm_raft_commit_index (raft), 0);
    //  Once the no-op of term 3 is on a majority, everything before it is
    ack.index = 3;
    zm_raft_step (raft, &ack, 1004);
    cr_assert_eq (zm_raft_commit_index (raft), 3);
    zm_raft_destroy (&raft);
    zm_raft_memory_clear (&disk);
}

//  A leader's round is confirmed only once a majority answered a round that
//  began after it: a leader cut off in a minority confirms nothing more,
//  even before it notices and steps down
Test (raft, a_round_is_confirmed_only_by_a_majority, .timeout = 10)
{
    s_net_t net;
    s_net_init (&net, 5, 11);
    s_run (&net, 1000);
    int leader = s_leader (&net);
    cr_assert_geq (leader, 0);
    zm_raft_t *raft = net.member[leader];
    uint64_t round = zm_raft_round (raft);
    s_run (&net, 100);
    cr_assert_gt (zm_raft_confirmed (raft), round, "a connected leader confirms later rounds");
    //  With one follower it is two of five: nothing after the cut confirms
    int follower = (leader + 1) % net.count;
    s_partition (&net, (1u << leader) | (1u << follower));
    s_run (&net, 20);
    round = zm_raft_round (raft);
    uint64_t confirmed = zm_raft_confirmed (raft);
    for (int ms = 0; ms < 140 && zm_raft_role (raft) == ZM_RAFT_LEADER; ms++) {
        s_run (&net, 1);
        cr_assert_leq (zm_raft_confirmed (raft), round, "confirmed without a majority");
    }
    cr_assert_geq (confirmed, 1);
    //  Not a leader: nothing is confirmed
    s_run (&net, 500);
    cr_assert_neq (zm_raft_role (raft), ZM_RAFT_LEADER);
    cr_assert_eq (zm_raft_confirmed (raft), 0);
    s_net_destroy (&net);
}

//  --------------------------------------------------------------------------
//  Log compaction

//  A member that was down while the others compacted past what it holds
//  gets the leader's snapshot, loads it and goes on from there; restarted,
//  every member starts from its own snapshot
Test (raft, a_lagging_member_catches_up_from_a_snapshot, .timeout = 20)
{
    s_net_t net;
    s_net_init (&net, 3, 21);
    net.compact_every = 10;
    s_run (&net, 1000);
    int leader = s_leader (&net);
    cr_assert_geq (leader, 0);
    int lagging = (leader + 1) % 3;
    s_crash (&net, lagging);
    uint64_t last = 0;
    for (int n = 0; n < 100; n++)
        last = s_propose (&net);
    cr_assert (s_run_until_applied (&net, last, 1000));
    uint64_t compacted = zm_raft_snapshot_index (net.member[leader]);
    cr_assert_geq (compacted, 90, "the leader compacted its log (snapshot at %" PRIu64 ")",
                   compacted);
    cr_assert_lt (zm_raft_last_index (net.member[leader]) - compacted, 10);
    cr_assert_null (zm_raft_entry (net.member[leader], 1));
    //  Back, it lacks entries the leader no longer has: a snapshot
    s_restart (&net, lagging);
    uint64_t restored = net.restored[lagging];
    cr_assert (s_run_until_applied (&net, last, 1000), "the lagging member did not catch up");
    cr_assert_eq (net.restored[lagging], restored + 1, "it loaded the leader's snapshot");
    cr_assert_eq (net.disk[lagging].snapshot.index, zm_raft_snapshot_index (net.member[lagging]));
    cr_assert_geq (net.disk[lagging].snapshot.index, compacted, "it is on its disk");
    //  Everyone restarts from their own snapshot and the history goes on
    for (int i = 0; i < 3; i++)
        s_crash (&net, i);
    for (int i = 0; i < 3; i++) {
        s_restart (&net, i);
        cr_assert_eq (zm_raft_commit_index (net.member[i]), net.disk[i].snapshot.index,
                      "what a snapshot covers is committed from the start");
    }
    s_expect_live (&net);
    for (int i = 0; i < 3; i++)
        cr_assert_geq (net.restored[i], 1, "member %d started from its snapshot", i);
    s_net_destroy (&net);
}

//  A cut-off leader's entries that never committed conflict with what the
//  others went on to commit and compact: the snapshot replaces them
Test (raft, a_snapshot_replaces_a_conflicting_log, .timeout = 20)
{
    s_net_t net;
    s_net_init (&net, 5, 22);
    net.compact_every = 5;
    s_run (&net, 1000);
    int old = s_leader (&net);
    cr_assert_geq (old, 0);
    s_partition (&net, 1u << old);
    for (int n = 0; n < 3; n++)
        cr_assert_eq (zm_raft_propose (net.member[old], "lost", 4, NULL), 0);
    s_run (&net, 1000);
    int fresh = s_leader (&net);
    cr_assert (fresh >= 0 && fresh != old);
    uint64_t last = 0;
    for (int n = 0; n < 40; n++)
        last = s_propose (&net);
    s_run (&net, 300);
    cr_assert_gt (zm_raft_snapshot_index (net.member[fresh]), zm_raft_last_index (net.member[old]),
                  "the new leader compacted past the old one's log");
    s_heal (&net);
    uint64_t restored = net.restored[old];
    cr_assert (s_run_until_applied (&net, last, 2000));
    cr_assert_gt (net.restored[old], restored, "the old leader loaded a snapshot");
    for (uint64_t k = 1; k <= net.committed; k++)
        cr_assert_str_neq (net.history[k - 1], "lost", "an entry of a cut-off leader committed");
    s_net_destroy (&net);
}

//  Messages and disks about snapshots that do not hold together are refused
Test (raft, bad_snapshots_are_refused, .timeout = 10)
{
    zm_raft_memory_t disk;
    zm_raft_memory_init (&disk);
    zm_raft_config_t config = s_handmade_config (1, &disk);
    //  A disk whose snapshot is of a later term than the current, or whose
    //  entries do not follow on
    disk.term = 2;
    disk.snapshot = (zm_raft_snapshot_t) {.index = 5, .term = 3};
    cr_assert_null (zm_raft_new (&config, 0), "a snapshot of a term after the current one");
    disk.snapshot.term = 2;
    zm_raft_entry_t entries[1] = {{.term = 2}};
    cr_assert_eq (zm_raft_memory_ops.append (&disk, 6, entries, 1), 0);
    disk.entries[0].index = 7;
    cr_assert_null (zm_raft_new (&config, 0), "entries that do not follow the snapshot");
    disk.entries[0].index = 6;
    zm_raft_t *raft = zm_raft_new (&config, 0);
    cr_assert_not_null (raft);
    cr_assert_eq (zm_raft_last_index (raft), 6);
    cr_assert_eq (zm_raft_commit_index (raft), 5);
    const zm_raft_snapshot_t *snapshot;
    const zm_raft_entry_t *entry;
    cr_assert_not (zm_raft_apply (raft, &entry), "nothing applies before the snapshot loads");
    cr_assert (zm_raft_restore (raft, &snapshot));
    cr_assert_eq (snapshot->index, 5);
    cr_assert_not (zm_raft_restore (raft, &snapshot), "once");
    //  Compaction only of what was applied, past the snapshot
    cr_assert_eq (zm_raft_compact (raft, 6, "x", 1), ZM_EINVAL);
    cr_assert_eq (zm_raft_compact (raft, 5, "x", 1), ZM_EINVAL);
    //  A snapshot message without its data, or with the wrong index, does nothing
    zm_raft_msg_t msg = {.type = ZM_RAFT_SNAPSHOT, .from = 0, .to = 1, .term = 2, .index = 9,
                         .log_term = 2};
    zm_raft_step (raft, &msg, 1);
    cr_assert_eq (zm_raft_snapshot_index (raft), 5);
    zm_raft_entry_t *data = (zm_raft_entry_t *) calloc (1, sizeof *data);
    *data = (zm_raft_entry_t) {.term = 2, .index = 8};
    msg = (zm_raft_msg_t) {.type = ZM_RAFT_SNAPSHOT, .from = 0, .to = 1, .term = 2, .index = 9,
                           .log_term = 2, .entries = data, .count = 1};
    zm_raft_step (raft, &msg, 2);
    cr_assert_eq (zm_raft_snapshot_index (raft), 5);
    //  A good one is installed, on disk first
    data = (zm_raft_entry_t *) calloc (1, sizeof *data);
    *data = (zm_raft_entry_t) {.term = 2, .index = 9, .data = strdup ("state"), .size = 5};
    msg = (zm_raft_msg_t) {.type = ZM_RAFT_SNAPSHOT, .from = 0, .to = 1, .term = 2, .index = 9,
                           .log_term = 2, .entries = data, .count = 1};
    zm_raft_step (raft, &msg, 3);
    cr_assert_eq (zm_raft_snapshot_index (raft), 9);
    cr_assert_eq (disk.snapshot.index, 9);
    cr_assert_eq (disk.count, 0, "the log it did not reach is gone");
    cr_assert_eq (zm_raft_last_index (raft), 9);
    zm_raft_msg_t reply;
    cr_assert (zm_raft_pop (raft, &reply));
    cr_assert (reply.type == ZM_RAFT_APPEND_REPLY && reply.granted && reply.index == 9);
    cr_assert (zm_raft_restore (raft, &snapshot));
    cr_assert (snapshot->size == 5 && memcmp (snapshot->data, "state", 5) == 0);
    zm_raft_destroy (&raft);
    zm_raft_memory_clear (&disk);
}
