/*  The wire protocol from the outside: tests/python/zm_client.py, a client
    written from docs/protocol.md alone (pyzmq + msgpack, nothing from our C
    sources), calls a real node (tests/helpers/rpc_node) and must get what a
    zmicro client gets. If these pass, the page is enough for a third party.

    Needs python3 with the Debian packages python3-zmq and python3-msgpack
    (./run.sh test installs them). ZM_PYTHON names another interpreter. A
    machine without them FAILS here, loudly: nothing is skipped.
*/
#include "support.h"
#include <czmq.h>
#include "zmicro.h"

//  The Debian interpreter: python3-zmq and python3-msgpack install for it,
//  whatever python3 comes first in PATH.
static const char *
s_python (void)
{
    const char *python = getenv ("ZM_PYTHON");
    return python && *python ? python : "/usr/bin/python3";
}

static const char *
s_client_path (void)
{
    static char path[4200];
    //  build/<variant> -> the repository root
    snprintf (path, sizeof path, "%s/../../tests/python/zm_client.py", zt_build_dir ());
    return path;
}

//  Fail, never skip, when the interpreter or its modules are missing.
static void
s_require_python (void)
{
    char command[8192];
    snprintf (command, sizeof command,
              "%s -c 'import sys, zmq, msgpack; assert sys.version_info >= (3, 8)' "
              ">/dev/null 2>&1",
              s_python ());
    int status = zt_run (command, NULL, 0);
    if (status != 0)
        cr_assert_fail ("%s cannot import zmq and msgpack: this test needs python3 (>= 3.8) "
                        "with pyzmq and msgpack. Install them with\n"
                        "    apt-get install -y python3 python3-zmq python3-msgpack\n"
                        "(./run.sh test does), or set ZM_PYTHON to an interpreter that has "
                        "them.",
                        s_python ());
    cr_assert (access (s_client_path (), R_OK) == 0, "%s is missing", s_client_path ());
}

//  Start rpc_node (it dies with this process: PR_SET_PDEATHSIG) and wait for
//  its READY line.
static zt_proc_t
s_node_start (const char *name)
{
    char path[4200], name_flag[256];
    snprintf (path, sizeof path, "%s/tests/helpers/rpc_node", zt_build_dir ());
    snprintf (name_flag, sizeof name_flag, "--node.name=%s", name);
    const char *argv[] = {path, name_flag, "--rpc.bind=127.0.0.1", "--log.level=warning", NULL};
    zt_proc_t node = zt_spawn (argv, NULL);
    cr_assert (node.pid > 0, "cannot start %s", path);
    cr_assert (zt_ready (&node, 10000) > 0, "rpc_node %s did not start", name);
    return node;
}

static void
s_node_stop (zt_proc_t *node)
{
    zt_kill (node, SIGTERM);
}

//  Run zm_client.py with args (already shell-quoted) against the node and
//  check its exit status: 0 means a reply as JSON on stdout and nothing on
//  stderr, 1 an error map as JSON on stderr and nothing on stdout. Returns
//  that JSON (caller destroys it).
static zm_msg_t *
s_client (zt_proc_t *node, const char *args, int want_status)
{
    char err_path[] = "/tmp/zm_client_err_XXXXXX";
    int err_fd = mkstemp (err_path);
    cr_assert (err_fd >= 0);
    close (err_fd);
    char command[16384];
    //  timeout(1): a hung client fails here, not at the test's timeout.
    snprintf (command, sizeof command, "timeout 20 %s %s '%s' %s 2>%s", s_python (),
              s_client_path (), node->address, args, err_path);
    char out[8192], err[8192];
    int status = zt_run (command, out, sizeof out);
    FILE *file = fopen (err_path, "r");
    cr_assert_not_null (file);
    size_t got = fread (err, 1, sizeof err - 1, file);
    err[got] = 0;
    fclose (file);
    unlink (err_path);

    cr_assert_eq (status, want_status, "zm_client.py %s\nexit %d\nstdout: %s\nstderr: %s", args,
                  status, out, err);
    const char *text = status == 0 ? out : err;
    cr_assert_str_empty (status == 0 ? err : out, "stdout: %s\nstderr: %s", out, err);
    zm_msg_t *json = NULL;
    cr_assert_eq (zm_msg_decode (ZM_CT_JSON, text, strlen (text), &json, NULL), 0, "not JSON: %s",
                  text);
    return json;
}

Test (protocol_python, say_hello_returns_greeting, .timeout = 60)
{
    s_require_python ();
    zt_proc_t node = s_node_start ("alpha");
    zm_msg_t *rep = s_client (&node, "greeter Say.Hello '{\"name\": \"Zoë\"}' --timeout 2000", 0);
    cr_assert_str_eq (zm_msg_get_str (rep, "greeting", ""), "Hello Zoë");
    cr_assert_str_eq (zm_msg_get_str (rep, "node", ""), "alpha");
    zm_msg_destroy (&rep);
    s_node_stop (&node);
}

Test (protocol_python, handler_error_is_409_with_detail, .timeout = 60)
{
    s_require_python ();
    zt_proc_t node = s_node_start ("alpha");
    zm_msg_t *error = s_client (&node, "greeter Fail '{}'", 1);
    cr_assert_eq (zm_msg_get_int (error, "code", 0), 409);
    cr_assert_str_eq (zm_msg_get_str (error, "detail", ""), "it failed on purpose");
    cr_assert_str_eq (zm_msg_get_str (error, "id", ""), "greeter.Fail");
    cr_assert_str_eq (zm_msg_get_str (error, "status", ""), "Conflict");
    cr_assert_eq (zm_msg_get_int (error, "err", 0), ZM_ECONFLICT);
    zm_msg_destroy (&error);
    s_node_stop (&node);
}

Test (protocol_python, unknown_service_and_endpoint_are_404, .timeout = 60)
{
    s_require_python ();
    zt_proc_t node = s_node_start ("alpha");
    const char *calls[] = {"nobody Say.Hello '{}'", "greeter Say.Bye '{}'"};
    const char *named[] = {"nobody", "Say.Bye"};
    for (int i = 0; i < 2; i++) {
        zm_msg_t *error = s_client (&node, calls[i], 1);
        cr_assert_eq (zm_msg_get_int (error, "code", 0), 404);
        cr_assert_eq (zm_msg_get_int (error, "err", 0), ZM_ENOTFOUND);
        const char *detail = zm_msg_get_str (error, "detail", "");
        cr_assert (strstr (detail, named[i]), "detail: %s", detail);
        zm_msg_destroy (&error);
    }
    s_node_stop (&node);
}

Test (protocol_python, metadata_reaches_the_handler, .timeout = 60)
{
    s_require_python ();
    zt_proc_t node = s_node_start ("alpha");
    zm_msg_t *rep = s_client (
        &node, "greeter Echo '{\"seq\": 42}' --meta user=ada --meta tenant=t1 --timeout 3000", 0);
    cr_assert_str_eq (zm_msg_get_str (rep, "meta_user", ""), "ada");
    cr_assert_eq (zm_msg_get_int (rep, "seq", 0), 42);
    //  The timeout header became the handler's deadline.
    int64_t remaining = zm_msg_get_int (rep, "remaining", -1);
    cr_assert (remaining > 2000 && remaining <= 3000, "remaining %" PRId64, remaining);
    zm_msg_destroy (&rep);
    s_node_stop (&node);
}

Test (protocol_python, ping_gets_pong, .timeout = 60)
{
    s_require_python ();
    zt_proc_t node = s_node_start ("alpha");
    zm_msg_t *rep = s_client (&node, "--ping --timeout 2000", 0);
    cr_assert (zm_msg_get_bool (rep, "pong", false));
    zm_msg_destroy (&rep);
    s_node_stop (&node);
}

Test (protocol_python, deadline_is_kept_by_the_client, .timeout = 60)
{
    s_require_python ();
    zt_proc_t node = s_node_start ("alpha");
    //  "slow" runs on a dedicated reactor: the node keeps reading its socket.
    int64_t start = zclock_mono ();
    zm_msg_t *error = s_client (&node, "slow Slow '{\"ms\": 1500}' --timeout 200", 1);
    int64_t took = zclock_mono () - start;
    cr_assert_eq (zm_msg_get_int (error, "code", 0), 408);
    cr_assert (took < 1500, "the client waited %" PRId64 " ms for a 200 ms deadline", took);
    zm_msg_destroy (&error);
    //  The node still answers afterwards.
    zm_msg_t *rep = s_client (&node, "--ping", 0);
    zm_msg_destroy (&rep);
    s_node_stop (&node);
}
