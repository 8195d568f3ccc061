/*  elected_job - a periodic job that one node of a group runs at a time

    Start three of these (or five) as the members of a sync group
    (docs/sync.md). Each campaigns in the election "elected-job"; the
    winner runs the job every job.period ms while it leads, and stops as
    soon as zm_elect_is_leader says it leads no more (its lease could not
    be renewed: cut off, or frozen). The others wait in zm_elect_campaign.
    When the leader dies, its lease runs out after job.ttl ms and another
    takes over, with a higher term:

        LEADER m0 term 12
        JOB 1 by m0 term 12
        JOB 2 by m0 term 12
        ...                              m0 is killed
        LEADER m2 term 15
        JOB 1 by m2 term 15

    The term is a fencing token: let what the job writes carry it, and let
    the target refuse a term lower than one it has seen, so that a leader
    deposed while it was paused cannot write late.

    Every flag is a config key. On a LAN the members find each other by
    beacon:

        elected_job --node.name=m0 --sync.members=m0,m1,m2
        elected_job --node.name=m1 --sync.members=m0,m1,m2
        elected_job --node.name=m2 --sync.members=m0,m1,m2

    Without beacons give each a fixed --rpc.port, a keypair (--auth.keys,
    made by zm keygen --name node --dir DIR) and the others as
    --registry.peers=tcp://HOST:PORT#KEY,... (tests/test_examples.c does).
    Each keeps the group's log in its store (--store.path). Prints
    "READY <port> <key>" once started. On SIGINT or SIGTERM a leader
    resigns, so that another takes over at once.
*/
#include <czmq.h>
#include "zmicro.h"

#define ELECTION "elected-job"

int
main (int argc, char **argv)
{
    zm_config_t *config = zm_config_new ();
    char *reason = NULL;
    if (!config ||
        zm_config_define (config, "job.period", ZM_CONFIG_INT, "1000",
                          "ms between two runs of the job") ||
        zm_config_define (config, "job.ttl", ZM_CONFIG_INT, "3000",
                          "ms a dead leader keeps the job before another takes it") ||
        zm_config_load_all (config, argc, argv, &reason)) {
        fprintf (stderr, "elected_job: %s\n", reason ? reason : "cannot configure");
        free (reason);
        zm_config_destroy (&config);
        return 2;
    }
    int64_t period = zm_config_get_int (config, "job.period", 1000);
    int64_t ttl = zm_config_get_int (config, "job.ttl", 3000);
    if (period < 10 || ttl < 100) {
        fprintf (stderr, "elected_job: job.period is at least 10, job.ttl at least 100\n");
        zm_config_destroy (&config);
        return 2;
    }
    if (!*zm_config_get_str (config, "sync.members", "")) {
        fprintf (stderr, "elected_job: name the group: --sync.members=m0,m1,m2\n");
        zm_config_destroy (&config);
        return 2;
    }
    zm_node_t *node = zm_node_new (&config);
    if (!node)
        return 1;
    const char *name = zm_node_name (node);
    char key[ZM_KEY_TEXT] = "";
    zm_node_public_key (node, key);
    printf ("READY %d %s\n", zm_node_rpc_port (node, 0), key);
    fflush (stdout);

    //  czmq turns SIGINT and SIGTERM into zsys_interrupted
    int runs = 0;
    while (!zsys_interrupted) {
        //  Wait up to a second for the leader's lease to end, then again
        uint64_t term = 0;
        int rc = zm_elect_campaign (node, ELECTION, name, ttl, 1000, &term);
        if (rc == ZM_ETIMEOUT)
            continue; //  another leads
        if (rc) {
            zclock_sleep (100); //  no quorum (yet): the group is starting, or split
            continue;
        }
        printf ("LEADER %s term %" PRIu64 "\n", name, term);
        fflush (stdout);
        //  Lead: the job runs only right after a check that we still lead
        int64_t next = zclock_mono ();
        while (!zsys_interrupted && zm_elect_is_leader (node, ELECTION, term)) {
            if (zclock_mono () >= next) {
                printf ("JOB %d by %s term %" PRIu64 "\n", ++runs, name, term);
                fflush (stdout);
                next = zclock_mono () + period;
            }
            zclock_sleep (10);
        }
        if (zsys_interrupted) {
            zm_elect_resign (node, ELECTION, term);
            printf ("RESIGNED %s term %" PRIu64 "\n", name, term);
        } else
            printf ("LOST %s term %" PRIu64 "\n", name, term);
        fflush (stdout);
    }
    zm_node_destroy (&node);
    return 0;
}
