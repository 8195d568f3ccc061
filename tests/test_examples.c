/*  Examples: they build, they run, and the README shows them as they are. */
#include <criterion/criterion.h>
#include <czmq.h>
#include <libgen.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

//  Directory of the build variant this test binary belongs to.
static char *
s_build_dir (void)
{
    static char path[4096];
    ssize_t len = readlink ("/proc/self/exe", path, sizeof path - 1);
    cr_assert (len > 0);
    path[len] = 0;
    return dirname (dirname (path)); //  build/<variant>/tests/x -> build/<variant>
}

//  Run a command, return its exit status and its stdout in out.
static int
s_run (const char *command, char *out, size_t size)
{
    FILE *pipe = popen (command, "r");
    cr_assert_not_null (pipe);
    size_t got = fread (out, 1, size - 1, pipe);
    out[got] = 0;
    int status = pclose (pipe);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

Test (examples, hello_prints_greeting, .timeout = 20)
{
    char command[4200], out[4096];
    snprintf (command, sizeof command, "%s/examples/hello", s_build_dir ());
    cr_assert_eq (s_run (command, out, sizeof out), 0);
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
    snprintf (command, sizeof command, "%s/examples/demo 100000 4", s_build_dir ());
    cr_assert_eq (s_run (command, out, sizeof out), 0, "%s", out);
    cr_assert (strstr (out, "9592 primes below 100000"), "%s", out);
    cr_assert (strstr (out, "0 failed"), "%s", out);
}

//  A greeter_server process, started by this test and killed by it on every
//  path: the test must never leave one behind, so nothing between start and
//  stop may abort (no cr_assert there), and every wait is bounded.
typedef struct {
    const char *name; //  its node name
    pid_t pid;        //  the process, 0 when not running
    int port;         //  its RPC port, from its READY line
    int out;          //  our end of its stdout, -1 when closed
} server_t;

//  Start build_dir's greeter_server and wait up to 10 s for its READY line.
//  Returns true when it serves. Either way s_server_stop cleans up.
static bool
s_server_start (server_t *self, const char *build_dir)
{
    char path[4200], name_flag[300];
    snprintf (path, sizeof path, "%s/examples/greeter_server", build_dir);
    snprintf (name_flag, sizeof name_flag, "--node.name=%s", self->name);
    int fds[2];
    if (pipe (fds))
        return false;
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init (&actions);
    posix_spawn_file_actions_adddup2 (&actions, fds[1], 1);
    posix_spawn_file_actions_addclose (&actions, fds[0]);
    posix_spawn_file_actions_addclose (&actions, fds[1]);
    char *argv[] = {path,
                    name_flag,
                    "--rpc.bind=127.0.0.1",
                    "--log.level=warning",
                    "--node.shutdown_timeout=1000",
                    NULL};
    int rc = posix_spawn (&self->pid, path, &actions, NULL, argv, environ);
    posix_spawn_file_actions_destroy (&actions);
    close (fds[1]);
    if (rc) {
        self->pid = 0;
        close (fds[0]);
        return false;
    }
    //  Read its stdout until a READY line, for up to 10 s.
    char line[256];
    size_t got = 0;
    int64_t deadline = zclock_mono () + 10000;
    while (self->port == 0 && got < sizeof line - 1) {
        struct pollfd item = {fds[0], POLLIN, 0};
        int64_t left = deadline - zclock_mono ();
        if (left <= 0 || poll (&item, 1, (int)left) <= 0)
            break;
        ssize_t bytes = read (fds[0], line + got, 1);
        if (bytes <= 0)
            break; //  it died
        if (line[got] == '\n') {
            line[got] = 0;
            if (sscanf (line, "READY %d", &self->port) != 1)
                got = 0; //  a log line: next
        } else
            got++;
    }
    //  Kept open until the server stops: a log line on a closed pipe would
    //  kill it with SIGPIPE.
    self->out = fds[0];
    if (self->port == 0) {
        fprintf (stderr, "greeter_server %s did not say READY\n", self->name);
        return false;
    }
    return true;
}

static void
s_server_stop (server_t *self)
{
    if (self->pid > 0) {
        kill (self->pid, SIGTERM);
        //  It stops within node.shutdown_timeout; SIGKILL after 5 s anyway.
        int64_t deadline = zclock_mono () + 5000;
        while (waitpid (self->pid, NULL, WNOHANG) == 0) {
            if (zclock_mono () > deadline) {
                kill (self->pid, SIGKILL);
                waitpid (self->pid, NULL, 0);
                break;
            }
            zclock_sleep (10);
        }
        self->pid = 0;
    }
    if (self->out >= 0) {
        close (self->out);
        self->out = -1;
    }
}

//  popen without asserting (the servers are still up when it runs).
static int
s_run_quiet (const char *command, char *out, size_t size)
{
    out[0] = 0;
    FILE *pipe = popen (command, "r");
    if (!pipe)
        return -1;
    size_t got = fread (out, 1, size - 1, pipe);
    out[got] = 0;
    int status = pclose (pipe);
    return WIFEXITED (status) ? WEXITSTATUS (status) : -1;
}

Test (examples, greeter_client_calls_two_servers_in_turn, .timeout = 60)
{
    const char *build_dir = s_build_dir ();
    server_t servers[2] = {{"alpha", 0, 0, -1}, {"beta", 0, 0, -1}};
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
                  "tcp://127.0.0.1:%d,tcp://127.0.0.1:%d 6 2>&1",
                  build_dir, servers[0].port, servers[1].port);
        status = s_run_quiet (command, out, sizeof out);
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
    const char *build_dir = s_build_dir ();
    server_t server = {"alpha", 0, 0, -1};
    bool started = s_server_start (&server, build_dir);
    int status = -1;
    char out[8192] = "";
    if (started) {
        char command[9000];
        //  Port 1 on loopback: nobody listens there.
        snprintf (command, sizeof command,
                  "ZM_LOG_LEVEL=error timeout 30 "
                  "%s/examples/greeter_client tcp://127.0.0.1:%d,tcp://127.0.0.1:1 4 2>&1",
                  build_dir, server.port);
        status = s_run_quiet (command, out, sizeof out);
    }
    s_server_stop (&server);
    cr_assert (started, "the greeter server did not start");
    cr_expect_eq (status, 1, "greeter_client exited %d:\n%s", status, out);
    cr_expect (strstr (out, "alpha answered 4"), "%s", out);
    cr_expect (strstr (out, "1 of 2 peers answered"), "%s", out);
}
