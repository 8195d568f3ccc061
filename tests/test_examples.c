/*  Examples: they build, they run, and the README shows them as they are. */
#include "support.h"
#include <czmq.h>
#include <arpa/inet.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <sys/socket.h>

Test (examples, hello_prints_greeting, .timeout = 20)
{
    char command[4200], out[4096];
    snprintf (command, sizeof command, "%s/examples/hello", zt_build_dir ());
    cr_assert_eq (zt_run (command, out, sizeof out), 0);
    cr_assert_str_eq (out, "Hello world\n");
}

Test (examples, readme_shows_hello_verbatim, .timeout = 10)
{
    char *readme = NULL, *hello = NULL;
    zchunk_t *chunk = zchunk_slurp ("README.md", 0);
    cr_assert_not_null (chunk, "run from the repository root");
    readme = zchunk_strdup (chunk);
    zchunk_destroy (&chunk);
    chunk = zchunk_slurp ("examples/hello.c", 0);
    cr_assert_not_null (chunk);
    hello = zchunk_strdup (chunk);
    zchunk_destroy (&chunk);
    cr_assert (strstr (readme, hello), "README.md no longer shows examples/hello.c as it is");
    zstr_free (&readme);
    zstr_free (&hello);
}

Test (examples, demo_counts_primes, .timeout = 60)
{
    char command[4200], out[4096];
    //  pi(100,000) = 9,592
    snprintf (command, sizeof command, "%s/examples/demo 100000 4", zt_build_dir ());
    cr_assert_eq (zt_run (command, out, sizeof out), 0, "%s", out);
    cr_assert (strstr (out, "9592 primes below 100000"), "%s", out);
    cr_assert (strstr (out, "0 failed"), "%s", out);
}

//  A greeter_server process, started by this test and killed by it on every
//  path: the test must never leave one behind, so nothing between start and
//  stop may abort (no cr_assert there), and every wait is bounded.
typedef struct {
    const char *name; //  its node name
    zt_proc_t proc;   //  the process; its RPC port from its READY line
} server_t;

//  Start build_dir's greeter_server and wait up to 10 s for its READY line.
//  Returns true when it serves. Either way s_server_stop cleans up. Its
//  stdout stays open until it stops: a log line on a closed pipe would kill
//  it with SIGPIPE.
static bool
s_server_start (server_t *self, const char *build_dir)
{
    char path[4200], name_flag[300];
    snprintf (path, sizeof path, "%s/examples/greeter_server", build_dir);
    snprintf (name_flag, sizeof name_flag, "--node.name=%s", self->name);
    const char *argv[] = {path,
                          name_flag,
                          "--rpc.bind=127.0.0.1",
                          "--log.level=warning",
                          "--node.shutdown_timeout=1000",
                          NULL};
    self->proc = zt_spawn (argv, NULL);
    if (self->proc.pid <= 0)
        return false;
    if (zt_ready (&self->proc, 10000) < 0) {
        fprintf (stderr, "greeter_server %s did not say READY\n", self->name);
        return false;
    }
    return true;
}

static void
s_server_stop (server_t *self)
{
    //  It stops within node.shutdown_timeout; SIGKILL after 5 s anyway.
    if (self->proc.pid > 0) {
        kill (self->proc.pid, SIGTERM);
        zt_wait (&self->proc, 5000);
    }
    zt_kill (&self->proc, SIGKILL);
}

Test (examples, greeter_client_calls_two_servers_in_turn, .timeout = 60)
{
    const char *build_dir = zt_build_dir ();
    server_t servers[2] = {{"alpha", ZT_PROC_NONE}, {"beta", ZT_PROC_NONE}};
    bool started =
        s_server_start (&servers[0], build_dir) && s_server_start (&servers[1], build_dir);
    int status = -1;
    char out[8192] = "";
    if (started) {
        char command[9000];
        //  timeout(1) bounds the client well within the test's own timeout,
        //  so the servers are always stopped below.
        snprintf (command, sizeof command,
                  "timeout 30 %s/examples/greeter_client "
                  "'%s,%s' 6 2>&1",
                  build_dir, servers[0].proc.address, servers[1].proc.address);
        status = zt_run (command, out, sizeof out);
    }
    s_server_stop (&servers[0]);
    s_server_stop (&servers[1]);
    cr_assert (started, "the greeter servers did not start");
    cr_expect_eq (status, 0, "greeter_client exited %d:\n%s", status, out);
    //  Round robin over two instances: three calls each.
    cr_expect (strstr (out, "call 1: Hello world 1 (from "), "%s", out);
    cr_expect (strstr (out, "6 calls, 6 ok, 0 failed"), "%s", out);
    cr_expect (strstr (out, "alpha answered 3"), "%s", out);
    cr_expect (strstr (out, "beta answered 3"), "%s", out);
    cr_expect (strstr (out, "2 of 2 peers answered"), "%s", out);
}

Test (examples, greeter_client_fails_when_a_server_is_down, .timeout = 60)
{
    const char *build_dir = zt_build_dir ();
    server_t server = {"alpha", ZT_PROC_NONE};
    bool started = s_server_start (&server, build_dir);
    int status = -1;
    char out[8192] = "";
    if (started) {
        char command[9000];
        //  Port 1 on loopback: nobody listens there.
        snprintf (command, sizeof command,
                  "ZM_LOG_LEVEL=error timeout 30 "
                  "%s/examples/greeter_client '%s,tcp://127.0.0.1:1#%s' 4 2>&1",
                  build_dir, server.proc.address, server.proc.key);
        status = zt_run (command, out, sizeof out);
    }
    s_server_stop (&server);
    cr_assert (started, "the greeter server did not start");
    cr_expect_eq (status, 1, "greeter_client exited %d:\n%s", status, out);
    cr_expect (strstr (out, "alpha answered 4"), "%s", out);
    cr_expect (strstr (out, "1 of 2 peers answered"), "%s", out);
}

Test (examples, events_orders_are_reserved_and_confirmed, .timeout = 40)
{
    char command[4200], out[4096];
    //  timeout(1) bounds it within the test's own timeout; the example gives
    //  up by itself after 10 s.
    snprintf (command, sizeof command,
              "timeout 30 %s/examples/events --events.orders=20 --log.level=warning 2>&1",
              zt_build_dir ());
    int status = zt_run (command, out, sizeof out);
    cr_assert_eq (status, 0, "events exited %d:\n%s", status, out);
    cr_expect (strstr (out, "events: 20 orders created, 20 reserved, 20 confirmed, 0 rejected\n"),
               "%s", out);
}

//  kv_server on store path dir (port 0: any), its READY port in proc.port.
//  Never asserts (see s_server_start).
static bool
s_kv_server_start (zt_proc_t *proc, const char *build_dir, const char *dir, int port)
{
    char path[4200], path_flag[200], port_flag[64], keys_flag[200];
    snprintf (path, sizeof path, "%s/examples/kv_server", build_dir);
    snprintf (path_flag, sizeof path_flag, "--store.path=%s/data", dir);
    //  Its keypair on disk: restarted, it is the same node to its callers
    snprintf (keys_flag, sizeof keys_flag, "--auth.keys=%s/keys", dir);
    snprintf (port_flag, sizeof port_flag, "--rpc.port=%d", port);
    const char *argv[] = {path,
                          path_flag,
                          port_flag,
                          keys_flag,
                          "--rpc.bind=127.0.0.1",
                          "--log.level=warning",
                          "--node.name=kv",
                          "--node.shutdown_timeout=1000",
                          NULL};
    *proc = zt_spawn (argv, NULL);
    return proc->pid > 0 && zt_ready (proc, 10000) > 0;
}

Test (examples, kv_client_survives_a_killed_kv_server, .timeout = 90)
{
    const char *build_dir = zt_build_dir ();
    char dir[64];
    snprintf (dir, sizeof dir, "/tmp/zm-kv-XXXXXX");
    cr_assert_not_null (mkdtemp (dir));
    zt_proc_t server = ZT_PROC_NONE, again = ZT_PROC_NONE, client = ZT_PROC_NONE;
    bool started = s_kv_server_start (&server, build_dir, dir, 0);
    int port = server.port;
    char line[256] = "", summary[256] = "";
    bool killed = false, restarted = false;
    int status = -1;
    if (started) {
        char path[4200], address[128];
        snprintf (path, sizeof path, "%s/examples/kv_client", build_dir);
        snprintf (address, sizeof address, "%s", server.address);
        const char *argv[] = {path, address, "40", NULL};
        client = zt_spawn (argv, NULL);
        //  After ten acknowledged puts, kill -9 the server mid-stream and
        //  start it again on the same port and path 1.5 s later
        int64_t deadline = zt_clock () + 30000;
        while (!killed && zt_clock () < deadline && zt_read_line (&client, line, sizeof line, 5000))
            if (strcmp (line, "put item-10 ok") == 0) {
                kill (server.pid, SIGKILL);
                killed = zt_wait (&server, 5000) == 128 + SIGKILL;
            }
        usleep (1500 * 1000); //  longer than a call's timeout: calls fail meanwhile
        restarted = killed && s_kv_server_start (&again, build_dir, dir, port);
        while (zt_clock () < deadline + 30000 && zt_read_line (&client, line, sizeof line, 5000))
            if (strstr (line, " puts, "))
                snprintf (summary, sizeof summary, "%s", line);
        status = zt_wait (&client, 5000);
    }
    zt_kill (&client, SIGKILL);
    zt_kill (&server, SIGKILL);
    if (again.pid > 0) {
        kill (again.pid, SIGTERM);
        zt_wait (&again, 5000);
    }
    zt_kill (&again, SIGKILL);
    char command[128];
    snprintf (command, sizeof command, "rm -rf '%s'", dir);
    cr_expect_eq (system (command), 0);
    cr_assert (started, "kv_server did not start");
    cr_assert (killed, "kv_server was not killed after ten puts (last line: %s)", line);
    cr_assert (restarted, "kv_server did not start again on port %d", port);
    cr_assert_eq (status, 0, "kv_client exited %d: %s", status, summary);
    //  Every put acknowledged, before and after the crash, was found; some
    //  had to wait for the restart
    int puts = 0, found = 0, retries = 0;
    cr_assert_eq (sscanf (summary, "%d puts, %d found, %d retries", &puts, &found, &retries), 3,
                  "%s", summary);
    cr_assert_eq (puts, 40);
    cr_assert_eq (found, 40);
    cr_assert_gt (retries, 0, "the client never saw the server down: %s", summary);
}

//  lines_server on loopback, its READY port and key in proc. Never asserts
//  (see s_server_start).
static bool
s_lines_server_start (zt_proc_t *proc, const char *build_dir)
{
    char path[4200];
    snprintf (path, sizeof path, "%s/examples/lines_server", build_dir);
    const char *argv[] = {path,
                          "--rpc.bind=127.0.0.1",
                          "--log.level=warning",
                          "--node.name=lines",
                          "--node.shutdown_timeout=1000",
                          NULL};
    *proc = zt_spawn (argv, NULL);
    return proc->pid > 0 && zt_ready (proc, 10000) > 0;
}

static void
s_lines_server_stop (zt_proc_t *proc)
{
    if (proc->pid > 0) {
        kill (proc->pid, SIGTERM);
        zt_wait (proc, 5000);
    }
    zt_kill (proc, SIGKILL);
}

//  Write count lines of varying length (0..99 bytes, some empty, the last
//  one without a newline, so not empty) to path. Returns the bytes of the lines' text,
//  newlines not counted, or -1.
static int64_t
s_write_lines (const char *path, int count)
{
    FILE *file = fopen (path, "w");
    if (!file)
        return -1;
    int64_t bytes = 0;
    uint32_t seed = 12345;
    char line[128];
    for (int i = 0; i < count; i++) {
        seed = seed * 1103515245 + 12345;
        int len = (int) ((seed >> 16) % 100);
        if (i + 1 == count && len == 0)
            len = 1; //  an empty last line without a newline is no line
        for (int c = 0; c < len; c++)
            line[c] = (char) ('a' + (i + c) % 26);
        fwrite (line, 1, (size_t) len, file);
        if (i + 1 < count)
            fputc ('\n', file);
        bytes += len;
    }
    return fclose (file) == 0 ? bytes : -1;
}

Test (examples, lines_client_counts_a_large_file_exactly, .timeout = 120)
{
    const char *build_dir = zt_build_dir ();
    char dir[64], file[128];
    snprintf (dir, sizeof dir, "/tmp/zm-lines-XXXXXX");
    cr_assert_not_null (mkdtemp (dir));
    snprintf (file, sizeof file, "%s/big.txt", dir);
    int64_t bytes = s_write_lines (file, 200000);
    zt_proc_t server = ZT_PROC_NONE;
    bool started = bytes > 0 && s_lines_server_start (&server, build_dir);
    int status = -1;
    char out[4096] = "";
    if (started) {
        char command[9000];
        //  timeout(1): the server is always stopped below
        snprintf (command, sizeof command, "timeout 90 %s/examples/lines_client '%s' '%s' 2>&1",
                  build_dir, server.address, file);
        status = zt_run (command, out, sizeof out);
    }
    s_lines_server_stop (&server);
    char command[128];
    snprintf (command, sizeof command, "rm -rf '%s'", dir);
    cr_expect_eq (system (command), 0);
    cr_assert_gt (bytes, 9000000, "the test file was not written (%" PRId64 ")", bytes);
    cr_assert (started, "lines_server did not start");
    cr_assert_eq (status, 0, "lines_client exited %d:\n%s", status, out);
    char expected[128];
    snprintf (expected, sizeof expected, "200000 lines, %" PRId64 " bytes\n", bytes);
    cr_assert_str_eq (out, expected);
}

Test (examples, lines_client_fails_on_a_missing_file, .timeout = 60)
{
    const char *build_dir = zt_build_dir ();
    char dir[64], file[128];
    snprintf (dir, sizeof dir, "/tmp/zm-lines-XXXXXX");
    cr_assert_not_null (mkdtemp (dir));
    snprintf (file, sizeof file, "%s/missing.txt", dir);
    zt_proc_t server = ZT_PROC_NONE;
    bool started = s_lines_server_start (&server, build_dir);
    int status = -1;
    char out[4096] = "";
    if (started) {
        char command[9000];
        snprintf (command, sizeof command, "timeout 30 %s/examples/lines_client '%s' '%s' 2>&1",
                  build_dir, server.address, file);
        status = zt_run (command, out, sizeof out);
    }
    s_lines_server_stop (&server);
    rmdir (dir);
    cr_assert (started, "lines_server did not start");
    cr_assert_eq (status, 1, "lines_client exited %d:\n%s", status, out);
    //  One line, naming the file and why
    char expected[256];
    snprintf (expected, sizeof expected, "cannot open %s: No such file or directory", file);
    cr_assert (strstr (out, expected), "%s", out);
    cr_assert (strstr (out, "404"), "%s", out);
    cr_assert_eq (strchr (out, '\n'), out + strlen (out) - 1, "one line: %s", out);
}

//  A TCP port on loopback that nobody uses now, or 0. For nodes that must
//  know another's port before it starts (static peers). Below the
//  ephemeral range: no outgoing connection takes it as its source port
//  before its node binds it (nor connects to itself on it).
static int
s_free_port (void)
{
    int low = 32768, high = 60999;
    FILE *file = fopen ("/proc/sys/net/ipv4/ip_local_port_range", "r");
    if (file) {
        if (fscanf (file, "%d %d", &low, &high) != 2)
            low = 32768;
        fclose (file);
    }
    if (low <= 10000)
        return 0;
    static unsigned seed;
    if (!seed)
        seed = (unsigned)getpid () ^ (unsigned)zt_clock ();
    for (int attempt = 0; attempt < 100; attempt++) {
        int port = 10000 + (int)(rand_r (&seed) % (unsigned)(low - 10000));
        int fd = socket (AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons ((uint16_t)port)};
        addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
        bool free = fd >= 0 && bind (fd, (struct sockaddr *)&addr, sizeof addr) == 0;
        if (fd >= 0)
            close (fd);
        if (free)
            return port;
    }
    return 0;
}

//  Read proc's lines into text (appended, cut at size) until it closes
//  stdout or until deadline (zt_clock). Returns the number of lines.
static int
s_read_all (zt_proc_t *proc, char *text, size_t size, int64_t deadline)
{
    char line[512];
    int lines = 0;
    while (zt_clock () < deadline &&
           zt_read_line (proc, line, sizeof line, (int)(deadline - zt_clock ()))) {
        size_t used = strlen (text);
        snprintf (text + used, size - used, "%s\n", line);
        lines++;
    }
    return lines;
}

#define S_EVENTS 500

Test (examples, pub_reaches_every_subscriber_with_every_event_once, .timeout = 90)
{
    const char *build_dir = zt_build_dir ();
    char dir[64];
    snprintf (dir, sizeof dir, "/tmp/zm-pubsub-XXXXXX");
    cr_assert_not_null (mkdtemp (dir));
    //  The subscribers start first and name the publisher as a static peer:
    //  its keypair (what zm keygen --name node --dir DIR makes) and port
    //  are fixed beforehand
    char keys[128], key[ZM_KEY_TEXT] = "";
    snprintf (keys, sizeof keys, "%s/pub-keys", dir);
    bool made = zm_keypair_create (keys, "node", NULL, key) == 0;
    int port = s_free_port ();
    char sub_path[4200], pub_path[4200], peers[256], port_flag[64], keys_flag[200];
    snprintf (sub_path, sizeof sub_path, "%s/examples/sub", build_dir);
    snprintf (pub_path, sizeof pub_path, "%s/examples/pub", build_dir);
    snprintf (peers, sizeof peers, "--registry.peers=tcp://127.0.0.1:%d#%s", port, key);
    snprintf (port_flag, sizeof port_flag, "--rpc.port=%d", port);
    snprintf (keys_flag, sizeof keys_flag, "--auth.keys=%s", keys);
    const char *sub_argv[] = {sub_path,
                              peers,
                              "--registry.ttl=200",
                              "--rpc.bind=127.0.0.1",
                              "--log.level=error",
                              "--sub.wait=30000",
                              NULL};
    const char *pub_argv[] = {pub_path,
                              port_flag,
                              keys_flag,
                              "--rpc.bind=127.0.0.1",
                              "--log.level=error",
                              "--pub.subscribers=2",
                              "--pub.count=500",
                              "--pub.wait=30000",
                              NULL};
    zt_proc_t subs[2] = {ZT_PROC_NONE, ZT_PROC_NONE}, pub = ZT_PROC_NONE;
    int listening = 0, pub_status = -1, sub_status[2] = {-1, -1};
    static char pub_out[4096], sub_out[2][S_EVENTS * 32 + 4096];
    pub_out[0] = sub_out[0][0] = sub_out[1][0] = 0;
    char line[256];
    for (int i = 0; made && port > 0 && i < 2; i++) {
        subs[i] = zt_spawn (sub_argv, NULL);
        int64_t deadline = zt_clock () + 10000;
        while (subs[i].pid > 0 && zt_clock () < deadline &&
               zt_read_line (&subs[i], line, sizeof line, 1000))
            if (strcmp (line, "sub: listening on demo.>") == 0) {
                listening++;
                break;
            }
    }
    if (listening == 2) {
        pub = zt_spawn (pub_argv, NULL);
        int64_t deadline = zt_clock () + 45000;
        s_read_all (&pub, pub_out, sizeof pub_out, deadline);
        pub_status = zt_wait (&pub, 5000);
        for (int i = 0; i < 2; i++) {
            s_read_all (&subs[i], sub_out[i], sizeof sub_out[i], deadline);
            sub_status[i] = zt_wait (&subs[i], 5000);
        }
    }
    zt_kill (&pub, SIGKILL);
    zt_kill (&subs[0], SIGKILL);
    zt_kill (&subs[1], SIGKILL);
    char command[128];
    snprintf (command, sizeof command, "rm -rf '%s'", dir);
    cr_expect_eq (system (command), 0);
    cr_assert (made, "cannot make the publisher's keypair");
    cr_assert_gt (port, 0, "no free port");
    cr_assert_eq (listening, 2, "the subscribers did not start");
    cr_assert_eq (pub_status, 0, "pub exited %d:\n%s", pub_status, pub_out);
    cr_expect (strstr (pub_out, "pub: 2 subscribers listening\n"), "%s", pub_out);
    cr_expect (strstr (pub_out, "pub: 500 events published on demo.tick\n"), "%s", pub_out);
    //  Each subscriber printed every event, n = 1..500, once
    for (int i = 0; i < 2; i++) {
        cr_assert_eq (sub_status[i], 0, "sub %d exited %d:\n%s", i, sub_status[i], sub_out[i]);
        cr_expect (strstr (sub_out[i], "sub: 500 of 500 events, 0 missing, 0 twice\n"), "%s",
                   sub_out[i]);
        static uint8_t seen[S_EVENTS + 1];
        memset (seen, 0, sizeof seen);
        int events = 0;
        for (char *at = strstr (sub_out[i], "demo.tick "); at; at = strstr (at + 1, "demo.tick ")) {
            int n = 0, of = 0;
            cr_assert_eq (sscanf (at, "demo.tick %d of %d", &n, &of), 2);
            cr_assert (n >= 1 && n <= S_EVENTS && of == S_EVENTS, "%d of %d", n, of);
            cr_assert_eq (seen[n]++, 0, "sub %d got event %d twice", i, n);
            events++;
        }
        cr_assert_eq (events, S_EVENTS, "sub %d printed %d events", i, events);
    }
}

//  elected_job: what the members said, in the order the test read it
#define S_MEMBERS 3
#define S_LINES 4000

typedef struct {
    int64_t at;    //  zt_clock when read
    int member;    //  who said it
    char kind[16]; //  LEADER, JOB, LOST, RESIGNED
    int n;         //  JOB: its number on that member
    uint64_t term; //  the election's term
} said_t;

static said_t s_said[S_LINES];
static int s_said_count;

//  Read what the members say for ms (each pipe in turn, briefly), into
//  s_said. Never asserts.
static void
s_members_pump (zt_proc_t *members, int ms)
{
    int64_t until = zt_clock () + ms;
    do {
        bool any = false;
        for (int i = 0; i < S_MEMBERS; i++) {
            char line[1024];
            while (members[i].out >= 0 && zt_read_line (&members[i], line, sizeof line, 0)) {
                any = true;
                if (getenv ("ZT_LOG")) //  their log lines too: czmq logs to stdout
                    fprintf (stderr, "%" PRId64 " m%d: %s\n", zt_clock (), i, line);
                said_t said = {.at = zt_clock (), .member = i};
                char node[32];
                uint64_t term = 0;
                int n = 0;
                if (sscanf (line, "JOB %d by %31s term %" SCNu64, &n, node, &term) == 3)
                    snprintf (said.kind, sizeof said.kind, "JOB");
                else if (sscanf (line, "%15s %31s term %" SCNu64, said.kind, node, &term) != 3)
                    continue;
                said.n = n;
                said.term = term;
                if (s_said_count < S_LINES)
                    s_said[s_said_count++] = said;
            }
        }
        if (!any)
            usleep (5000);
    } while (zt_clock () < until);
}

//  The first JOB at or after index from by a member other than not (-1:
//  any), with a term above above; its index, or -1
static int
s_next_job (int from, int not, uint64_t above)
{
    for (int i = from; i < s_said_count; i++)
        if (streq (s_said[i].kind, "JOB") && s_said[i].member != not &&s_said[i].term > above)
            return i;
    return -1;
}

Test (examples, elected_job_runs_on_one_leader_and_moves_when_it_dies, .timeout = 120)
{
    const char *build_dir = zt_build_dir ();
    char dir[64];
    snprintf (dir, sizeof dir, "/tmp/zm-job-XXXXXX");
    cr_assert_not_null (mkdtemp (dir));
    //  Three members on loopback, each with a keypair and port fixed
    //  beforehand, and the two others as static peers
    char keys[S_MEMBERS][ZM_KEY_TEXT];
    int ports[S_MEMBERS];
    bool made = true;
    for (int i = 0; i < S_MEMBERS; i++) {
        char path[128];
        snprintf (path, sizeof path, "%s/keys-%d", dir, i);
        made = made && zm_keypair_create (path, "node", NULL, keys[i]) == 0;
        ports[i] = s_free_port ();
        made = made && ports[i] > 0;
    }
    zt_proc_t members[S_MEMBERS] = {ZT_PROC_NONE, ZT_PROC_NONE, ZT_PROC_NONE};
    int ready = 0;
    char log_level[64]; //  ZT_LOG=info shows what the members do
    snprintf (log_level, sizeof log_level, "--log.level=%s",
              getenv ("ZT_LOG") ? getenv ("ZT_LOG") : "error");
    for (int i = 0; made && i < S_MEMBERS; i++) {
        char path[4200], name[32], port[32], keys_flag[128], store[128], peers[512] = "";
        snprintf (path, sizeof path, "%s/examples/elected_job", build_dir);
        snprintf (name, sizeof name, "--node.name=m%d", i);
        snprintf (port, sizeof port, "--rpc.port=%d", ports[i]);
        snprintf (keys_flag, sizeof keys_flag, "--auth.keys=%s/keys-%d", dir, i);
        snprintf (store, sizeof store, "--store.path=%s/store-%d", dir, i);
        snprintf (peers, sizeof peers, "--registry.peers=");
        for (int j = 0, listed = 0; j < S_MEMBERS; j++)
            if (j != i) {
                size_t used = strlen (peers);
                snprintf (peers + used, sizeof peers - used, "%stcp://127.0.0.1:%d#%s",
                          listed++ ? "," : "", ports[j], keys[j]);
            }
        const char *argv[] = {path,
                              name,
                              port,
                              keys_flag,
                              store,
                              peers,
                              "--sync.members=m0,m1,m2",
                              "--rpc.bind=127.0.0.1",
                              "--registry.ttl=200",
                              log_level,
                              "--job.period=100",
                              "--job.ttl=1000",
                              "--node.shutdown_timeout=1000",
                              NULL};
        members[i] = zt_spawn (argv, NULL);
        if (members[i].pid > 0 && zt_ready (&members[i], 10000) > 0)
            ready++;
    }
    //  A leader runs the job; then it is killed, and another takes over
    s_said_count = 0;
    int first = -1, leader = -1, next = -1, killed_at = -1;
    int64_t killed = 0;
    if (ready == S_MEMBERS) {
        int64_t deadline = zt_clock () + 20000;
        while (first < 0 && zt_clock () < deadline) {
            s_members_pump (members, 50);
            first = s_next_job (0, -1, 0);
        }
    }
    if (first >= 0) {
        leader = s_said[first].member;
        s_members_pump (members, 1500);
        kill (members[leader].pid, SIGKILL);
        killed = zt_clock ();
        zt_wait (&members[leader], 5000);
        s_members_pump (members, 200); //  what it said before it died
        killed_at = s_said_count;
        int64_t deadline = zt_clock () + 15000;
        while (next < 0 && zt_clock () < deadline) {
            s_members_pump (members, 50);
            next = s_next_job (killed_at, leader, s_said[first].term);
        }
        if (next >= 0)
            s_members_pump (members, 1500);
    }
    //  The survivors stop; the leader resigns as it goes
    for (int i = 0; i < S_MEMBERS; i++)
        if (members[i].pid > 0)
            kill (members[i].pid, SIGTERM);
    s_members_pump (members, 1000);
    int status[S_MEMBERS];
    for (int i = 0; i < S_MEMBERS; i++) {
        status[i] = zt_wait (&members[i], 10000);
        zt_kill (&members[i], SIGKILL);
    }
    char command[128];
    snprintf (command, sizeof command, "rm -rf '%s'", dir);
    cr_expect_eq (system (command), 0);

    cr_assert (made, "cannot make the keypairs or find free ports");
    cr_assert_eq (ready, S_MEMBERS, "the members did not start");
    cr_assert_geq (first, 0, "no member ran the job within 20 s");
    cr_assert_geq (next, 0, "nobody took over within 15 s of m%d's death", leader);
    int64_t took = s_said[next].at - killed;
    cr_log_info ("m%d killed; m%d ran the job %" PRId64 " ms later", leader, s_said[next].member,
                 took);
    //  Bounded: the dead leader's lease (job.ttl, 1 s) runs out, a new
    //  Raft leader (if the dead one led the group too) may add up to that
    cr_assert_lt (took, 5000, "m%d took over %" PRId64 " ms after the kill", s_said[next].member,
                  took);
    //  and not before: the lease was renewed at most ttl / 3 before the kill
    cr_assert_geq (took, 500,
                   "m%d took over %" PRId64 " ms after the kill: before the lease "
                   "could have run out",
                   s_said[next].member, took);
    //  One at a time: every JOB line before the kill is the first leader's,
    //  in its term, numbered 1, 2, 3...; every one after it is the new
    //  leader's, in a higher term, numbered on
    int before = 0, after = 0;
    uint64_t term = s_said[first].term, new_term = s_said[next].term;
    int new_leader = s_said[next].member;
    for (int i = 0; i < s_said_count; i++) {
        said_t *said = &s_said[i];
        if (!streq (said->kind, "JOB"))
            continue;
        if (i < killed_at) {
            cr_assert (said->member == leader && said->term == term,
                       "JOB %d by m%d term %" PRIu64 " while m%d led in term %" PRIu64, said->n,
                       said->member, said->term, leader, term);
            cr_assert_eq (said->n, ++before);
        } else {
            cr_assert (said->member == new_leader && said->term == new_term,
                       "JOB %d by m%d term %" PRIu64 " while m%d led in term %" PRIu64, said->n,
                       said->member, said->term, new_leader, new_term);
            cr_assert_eq (said->n, ++after);
        }
    }
    cr_assert_gt (new_term, term, "the term is a fencing token: it increases");
    //  Every 100 ms for 1.5 s: about 15 runs on each side
    cr_assert_geq (before, 8, "%d runs before the kill", before);
    cr_assert_geq (after, 8, "%d runs after the takeover", after);
    //  The survivors stopped cleanly, the leader resigning
    bool resigned = false;
    for (int i = 0; i < s_said_count; i++)
        if (streq (s_said[i].kind, "RESIGNED") && s_said[i].member == new_leader &&
            s_said[i].term == new_term)
            resigned = true;
    cr_expect (resigned, "m%d did not resign", new_leader);
    for (int i = 0; i < S_MEMBERS; i++)
        if (i != leader)
            cr_expect_eq (status[i], 0, "m%d exited %d", i, status[i]);
}

//  Run secure_client as identity (DIR/NAME under dir) on endpoint; its
//  exit status, its output in out
static int
s_secure_call (const char *build_dir, const char *dir, const char *identity, const char *address,
               const char *endpoint, char *out, size_t size)
{
    char command[9000];
    snprintf (command, sizeof command, "timeout 30 %s/examples/secure_client '%s/%s' '%s' %s 2>&1",
              build_dir, dir, identity, address, endpoint);
    return zt_run (command, out, size);
}

Test (examples, secure_server_answers_admitted_identities_by_their_roles, .timeout = 90)
{
    const char *build_dir = zt_build_dir ();
    char dir[64];
    snprintf (dir, sizeof dir, "/tmp/zm-secure-XXXXXX");
    cr_assert_not_null (mkdtemp (dir));
    //  The keys, as the top of secure_server.c makes them; mallory's
    //  keypair claims role admin, but no node admits it
    zt_must ("cd '%s' && %s/bin/zm keygen --cluster --out cluster.key"
             " && %s/bin/zm keygen --name alice --roles admin --dir keys"
             " && %s/bin/zm keygen --name bob --roles ops --dir keys"
             " && mkdir admitted && cp keys/alice.cert keys/bob.cert admitted/"
             " && %s/bin/zm keygen --name mallory --roles admin --dir stranger",
             dir, build_dir, build_dir, build_dir, build_dir);
    char path[4200], cluster[128], admitted[128];
    snprintf (path, sizeof path, "%s/examples/secure_server", build_dir);
    snprintf (cluster, sizeof cluster, "--auth.cluster_key=%s/cluster.key", dir);
    snprintf (admitted, sizeof admitted, "--auth.identities=%s/admitted", dir);
    //  Without a cluster key it would be open to anybody: it refuses
    char command[9000], refused[1024];
    snprintf (command, sizeof command, "%s '%s' 2>&1", path, admitted);
    int open_status = zt_run (command, refused, sizeof refused);
    const char *argv[] = {path,
                          cluster,
                          admitted,
                          "--rpc.bind=127.0.0.1",
                          "--log.level=error",
                          "--node.shutdown_timeout=1000",
                          NULL};
    zt_proc_t server = zt_spawn (argv, NULL);
    bool started = server.pid > 0 && zt_ready (&server, 10000) > 0;
    char alice[1024] = "", alice_status[1024] = "", bob[1024] = "", bob_status[1024] = "",
         mallory[1024] = "";
    int rc[5] = {-1, -1, -1, -1, -1};
    int64_t mallory_ms = 0;
    if (started) {
        rc[0] = s_secure_call (build_dir, dir, "keys/alice", server.address, "Secret.Read", alice,
                               sizeof alice);
        rc[1] = s_secure_call (build_dir, dir, "keys/alice", server.address, "Status", alice_status,
                               sizeof alice_status);
        rc[2] = s_secure_call (build_dir, dir, "keys/bob", server.address, "Secret.Read", bob,
                               sizeof bob);
        rc[3] = s_secure_call (build_dir, dir, "keys/bob", server.address, "Status", bob_status,
                               sizeof bob_status);
        int64_t start = zt_clock ();
        rc[4] = s_secure_call (build_dir, dir, "stranger/mallory", server.address, "Secret.Read",
                               mallory, sizeof mallory);
        mallory_ms = zt_clock () - start;
    }
    if (server.pid > 0) {
        kill (server.pid, SIGTERM);
        zt_wait (&server, 5000);
    }
    zt_kill (&server, SIGKILL);
    snprintf (command, sizeof command, "rm -rf '%s'", dir);
    cr_expect_eq (system (command), 0);

    cr_expect_eq (open_status, 2, "started without a cluster key (%d): %s", open_status, refused);
    cr_assert (started, "secure_server did not start");
    //  alice (admin): both endpoints
    cr_expect_eq (rc[0], 0, "%s", alice);
    cr_expect_str_eq (alice, "Secret.Read: the combination is 12-34-56 (as alice)\n");
    cr_expect_eq (rc[1], 0, "%s", alice_status);
    cr_expect_str_eq (alice_status, "Status: sealed (as alice)\n");
    //  bob (ops): the status, and 403 for the secret
    cr_expect_eq (rc[2], 1, "%s", bob);
    cr_expect (strstr (bob, "Secret.Read: error 403: "), "%s", bob);
    cr_expect_eq (rc[3], 0, "%s", bob_status);
    cr_expect_str_eq (bob_status, "Status: sealed (as bob)\n");
    //  mallory: no answer at all, whatever its certificate claims; the
    //  handshake fails, and the call fails with it (not a 403: the request
    //  never reached the node), within the client's 3 s
    cr_expect_eq (rc[4], 1, "%s", mallory);
    cr_expect (strstr (mallory, "Secret.Read: error 503: ") ||
                   strstr (mallory, "Secret.Read: error 408: "),
               "%s", mallory);
    cr_expect_lt (mallory_ms, 10000, "mallory's call took %" PRId64 " ms", mallory_ms);
}
