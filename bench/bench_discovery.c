/*  bench_discovery - discovery on a LAN of network namespaces

    Builds a 10-host LAN (network namespaces on one bridge, 198.18.0.0/15)
    and measures, with a node per host (tests/helpers/lan_node):
      start_to_callable   from starting a node on host 1 until a client node
                          on host 0 (calling every 5 ms) gets its answer; p50
                          and max over repeated starts. Baseline in the same
                          run: a raw libzmq DEALER on host 0 that knows the
                          address, sending every 5 ms (reconnect interval
                          5 ms) until a raw ROUTER started on host 1 echoes.
      detect_killed       from kill -9 of the node on host 1 until the
                          client's registry drops it (registry.expiry 5000).
      idle_traffic        bytes per second each idle node sends and receives
                          in a 10-node cluster, read off the bridge ports.
    Needs root (network namespaces); prints JSON lines.

    Usage: bench_discovery [starts]   (default 10; bounded 1..100)
*/
#include <czmq.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "bench_util.h"

#define HOSTS 10
static int s_seq;
static char s_self[4096];

typedef struct {
    pid_t pid;
    int out;
    size_t len;
    char buf[4096];
} proc_t;

static int
s_sh (const char *format, ...)
{
    char command[1024];
    va_list args;
    va_start (args, format);
    vsnprintf (command, sizeof command, format, args);
    va_end (args);
    int rc = system (command);
    if (rc != 0)
        fprintf (stderr, "bench_discovery: failed: %s\n", command);
    return rc;
}

static const char *
s_ns (int host)
{
    static char names[HOSTS + 1][48];
    if (host < 0)
        snprintf (names[HOSTS], sizeof names[HOSTS], "zmb%d-sw", s_seq);
    else
        snprintf (names[host], sizeof names[host], "zmb%d-h%d", s_seq, host);
    return host < 0 ? names[HOSTS] : names[host];
}

static void
s_lan_destroy (void)
{
    for (int host = -1; host < HOSTS; host++) {
        char command[256];
        snprintf (command, sizeof command,
                  "for p in $(ip netns pids %s 2>/dev/null); do kill -9 $p; done; "
                  "ip netns del %s 2>/dev/null",
                  s_ns (host), s_ns (host));
        if (system (command)) {
            //  already gone
        }
    }
}

static int
s_lan_new (void)
{
    if (s_sh ("ip netns add %s", s_ns (-1))
        || s_sh ("ip -n %s link add br0 type bridge stp_state 0 mcast_snooping 0", s_ns (-1))
        || s_sh ("ip -n %s link set br0 up", s_ns (-1)))
        return -1;
    for (int host = 0; host < HOSTS; host++)
        if (s_sh ("ip netns add %s", s_ns (host))
            || s_sh ("ip -n %s link add h%d type veth peer name eth0 netns %s", s_ns (-1), host,
                     s_ns (host))
            || s_sh ("ip -n %s link set h%d master br0 up", s_ns (-1), host)
            || s_sh ("ip -n %s addr add 198.18.0.%d/15 brd + dev eth0", s_ns (host), 10 + host)
            || s_sh ("ip -n %s link set lo up", s_ns (host))
            || s_sh ("ip -n %s link set eth0 up", s_ns (host)))
            return -1;
    return 0;
}

//  Start argv inside host's namespace, stdout on a pipe
static proc_t
s_spawn (int host, const char *const *argv)
{
    proc_t proc = {0, -1, 0, ""};
    const char *full[24] = {"ip", "netns", "exec", s_ns (host)};
    int argc = 4;
    for (int i = 0; argv[i] && argc < 23; i++)
        full[argc++] = argv[i];
    full[argc] = NULL;
    int fds[2];
    if (pipe2 (fds, O_CLOEXEC))
        return proc;
    pid_t pid = fork ();
    if (pid == 0) {
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        dup2 (fds[1], 1);
        execvp (full[0], (char *const *) full);
        _exit (127);
    }
    close (fds[1]);
    proc.pid = pid;
    proc.out = fds[0];
    return proc;
}

static bool
s_line (proc_t *proc, char *line, size_t size, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        char *newline = (char *) memchr (proc->buf, '\n', proc->len);
        if (newline) {
            size_t take = (size_t) (newline - proc->buf);
            snprintf (line, size, "%.*s", (int) take, proc->buf);
            memmove (proc->buf, newline + 1, proc->len - take - 1);
            proc->len -= take + 1;
            return true;
        }
        int64_t left = deadline - zclock_mono ();
        struct pollfd item = {proc->out, POLLIN, 0};
        if (left <= 0 || proc->len == sizeof proc->buf || poll (&item, 1, (int) left) <= 0)
            return false;
        ssize_t got = read (proc->out, proc->buf + proc->len, sizeof proc->buf - proc->len);
        if (got <= 0)
            return false;
        proc->len += (size_t) got;
    }
}

//  Read until a line holds text; returns the number after its first word
static int64_t
s_until (proc_t *proc, const char *text, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    char line[512];
    while (zclock_mono () < deadline)
        if (s_line (proc, line, sizeof line, (int) (deadline - zclock_mono ()))
            && strstr (line, text)) {
            long long ms = 0;
            sscanf (line, "%*s %lld", &ms);
            return ms;
        }
    return -1;
}

static void
s_stop (proc_t *proc, int signal)
{
    if (proc->pid > 0) {
        kill (proc->pid, signal);
        waitpid (proc->pid, NULL, 0);
        proc->pid = 0;
    }
    if (proc->out >= 0)
        close (proc->out);
    proc->out = -1;
    proc->len = 0;
}

//  Raw baseline programs (this binary, run in a namespace)
static int
s_raw_server (int port)
{
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    if (zsock_bind (router, "tcp://*:%d", port) < 0)
        return 1;
    printf ("READY %d\n", port);
    fflush (stdout);
    while (!zsys_interrupted) {
        zmsg_t *msg = zmsg_recv (router);
        if (!msg)
            break;
        zmsg_send (&msg, router);
    }
    zsock_destroy (&router);
    return 0;
}

static int
s_raw_client (const char *endpoint)
{
    prctl (PR_SET_PDEATHSIG, SIGKILL);
    zsock_t *dealer = zsock_new (ZMQ_DEALER);
    zsock_set_reconnect_ivl (dealer, 5);
    zsock_set_linger (dealer, 0);
    zsock_connect (dealer, "%s", endpoint);
    printf ("READY 1\n");
    fflush (stdout);
    zpoller_t *poller = zpoller_new (dealer, NULL);
    for (int i = 0; i < 4000; i++) { //  bounded: 20 s
        zstr_sendx (dealer, "ping", NULL);
        if (zpoller_wait (poller, 5)) {
            char *answer = zstr_recv (dealer);
            zstr_free (&answer);
            printf ("OK %" PRId64 "\n", zclock_mono ());
            fflush (stdout);
            break;
        }
    }
    zpoller_destroy (&poller);
    zsock_destroy (&dealer);
    return 0;
}

int
main (int argc, char **argv)
{
    if (argc == 3 && streq (argv[1], "raw-server"))
        return s_raw_server (atoi (argv[2]));
    if (argc == 3 && streq (argv[1], "raw-client"))
        return s_raw_client (argv[2]);
    int starts = argc > 1 ? atoi (argv[1]) : 10;
    if (starts < 1 || starts > 100) {
        fprintf (stderr, "usage: bench_discovery [starts 1..100]\n");
        return 2;
    }
    if (geteuid () != 0) {
        printf ("{\"bench\":\"discovery\",\"skipped\":\"needs root for network namespaces\"}\n");
        return 0;
    }
    ssize_t len = readlink ("/proc/self/exe", s_self, sizeof s_self - 1);
    if (len <= 0)
        return 1;
    s_self[len] = 0;
    char node_path[4200];
    snprintf (node_path, sizeof node_path, "%s/../tests/helpers/lan_node",
              dirname (strdup (s_self)));
    s_seq = getpid ();
    signal (SIGPIPE, SIG_IGN);
    if (s_lan_new () != 0) {
        s_lan_destroy ();
        return 1;
    }

    //  start_to_callable, zmicro
    const char *client_argv[] = {node_path, "--node.name=client", "--log.level=error",
                                 "--app.call=greeter", "--app.serve=false",
                                 "--app.call_interval=5", NULL};
    proc_t client = s_spawn (0, client_argv);
    s_until (&client, "READY", 10000);
    int64_t *ours = (int64_t *) calloc ((size_t) starts, sizeof (int64_t));
    int64_t *raw = (int64_t *) calloc ((size_t) starts, sizeof (int64_t));
    const char *server_argv[] = {node_path, "--node.name=s1", "--log.level=error", NULL};
    int failures = 0;
    for (int run = 0; run < starts; run++) {
        zclock_sleep (300);
        int64_t start = zclock_mono ();
        proc_t server = s_spawn (1, server_argv);
        int64_t answered = s_until (&client, "ok s1", 10000);
        ours[run] = answered > 0 ? answered - start : 10000;
        failures += answered <= 0;
        s_stop (&server, SIGTERM);
        s_until (&client, "remove node s1", 5000);
    }
    //  start_to_callable, raw libzmq with the address known
    for (int run = 0; run < starts; run++) {
        const char *raw_client_argv[] = {s_self, "raw-client", "tcp://198.18.0.11:7400", NULL};
        const char *raw_server_argv[] = {s_self, "raw-server", "7400", NULL};
        proc_t raw_client = s_spawn (0, raw_client_argv);
        s_until (&raw_client, "READY", 10000);
        zclock_sleep (100);
        int64_t start = zclock_mono ();
        proc_t raw_server = s_spawn (1, raw_server_argv);
        int64_t answered = s_until (&raw_client, "OK", 10000);
        raw[run] = answered > 0 ? answered - start : 10000;
        s_stop (&raw_client, SIGKILL);
        s_stop (&raw_server, SIGKILL);
    }
    qsort (ours, (size_t) starts, sizeof (int64_t), s_cmp);
    qsort (raw, (size_t) starts, sizeof (int64_t), s_cmp);
    printf ("{\"bench\":\"discovery\",\"case\":\"start_to_callable\",\"starts\":%d,"
            "\"p50_ms\":%" PRId64 ",\"max_ms\":%" PRId64 ",\"failures\":%d,"
            "\"baseline\":\"raw DEALER knowing the address, ROUTER started\","
            "\"baseline_p50_ms\":%" PRId64 ",\"baseline_max_ms\":%" PRId64 ",\"target_ms\":200}\n",
            starts, ours[starts / 2], ours[starts - 1], failures, raw[starts / 2],
            raw[starts - 1]);
    fflush (stdout);

    //  detect_killed: registry.expiry default (5000 ms)
    int kills = starts < 3 ? starts : 3;
    int64_t detect[3] = {0, 0, 0};
    for (int run = 0; run < kills; run++) {
        proc_t server = s_spawn (1, server_argv);
        s_until (&client, "ok s1", 10000);
        zclock_sleep (500);
        int64_t killed = zclock_mono ();
        kill (server.pid, SIGKILL);
        int64_t removed = s_until (&client, "remove node s1", 10000);
        detect[run] = removed > 0 ? removed - killed : 10000;
        s_stop (&server, SIGKILL);
    }
    qsort (detect, (size_t) kills, sizeof (int64_t), s_cmp);
    printf ("{\"bench\":\"discovery\",\"case\":\"detect_killed\",\"kills\":%d,\"p50_ms\":%" PRId64
            ",\"max_ms\":%" PRId64 ",\"expiry_ms\":5000,\"baseline\":\"none: raw libzmq has no "
            "membership\"}\n",
            kills, detect[kills / 2], detect[kills - 1]);
    fflush (stdout);
    s_stop (&client, SIGTERM);

    //  idle_traffic: a node on every host, nothing called
    proc_t nodes[HOSTS];
    for (int host = 0; host < HOSTS; host++) {
        char name[32];
        snprintf (name, sizeof name, "--node.name=n%d", host);
        const char *idle_argv[] = {node_path, name, "--log.level=error", NULL};
        nodes[host] = s_spawn (host, idle_argv);
        s_until (&nodes[host], "READY", 10000);
    }
    zclock_sleep (3000); //  HELLOs done
    uint64_t before_rx = 0, before_tx = 0, after_rx = 0, after_tx = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int host = 0; host < HOSTS; host++) {
            char command[256], out[256] = "";
            snprintf (command, sizeof command,
                      "ip -n %s -s link show h%d | awk '/RX:/{getline; r=$1} /TX:/{getline; t=$1} "
                      "END{print r, t}'",
                      s_ns (-1), host);
            FILE *pipe = popen (command, "r");
            unsigned long long rx = 0, tx = 0;
            if (pipe && fgets (out, sizeof out, pipe))
                sscanf (out, "%llu %llu", &rx, &tx);
            if (pipe)
                pclose (pipe);
            //  The switch port receives what the node sends
            if (pass == 0) {
                before_rx += rx;
                before_tx += tx;
            }
            else {
                after_rx += rx;
                after_tx += tx;
            }
        }
        if (pass == 0)
            zclock_sleep (10000);
    }
    printf ("{\"bench\":\"discovery\",\"case\":\"idle_traffic\",\"nodes\":%d,\"seconds\":10,"
            "\"sent_bytes_per_s_per_node\":%.0f,\"received_bytes_per_s_per_node\":%.0f,"
            "\"interval_ms\":1000}\n",
            HOSTS, (double) (after_rx - before_rx) / 10.0 / HOSTS,
            (double) (after_tx - before_tx) / 10.0 / HOSTS);
    fflush (stdout);
    for (int host = 0; host < HOSTS; host++)
        s_stop (&nodes[host], SIGTERM);
    free (ours);
    free (raw);
    s_lan_destroy ();
    return 0;
}
