/*  The demo that ./run.sh demo shows a newcomer (examples/demo.sh), run
    against this build's binaries: three demo_node processes find each
    other, answer calls, get an event, share a lock and survive the death
    of one. The script checks each step itself; this test checks that it
    says so, that the lines a reader follows are there, and that it leaves
    no process and no scratch directory behind. So the demo cannot rot.
*/
#include "support.h"

#include <czmq.h>
#include <inttypes.h>

//  How many times needle occurs in text
static int
s_count (const char *text, const char *needle)
{
    int count = 0;
    for (const char *at = strstr (text, needle); at; at = strstr (at + 1, needle))
        count++;
    return count;
}

Test (demo, every_step_does_what_it_says_and_nothing_is_left_behind, .timeout = 150)
{
    //  build/<variant> -> the repository root, where examples/demo.sh is
    char build[4096], scrap[4096], root[4096];
    snprintf (build, sizeof build, "%s", zt_build_dir ());
    snprintf (scrap, sizeof scrap, "%s", build);
    snprintf (root, sizeof root, "%s", dirname (dirname (scrap)));
    char dir[64];
    snprintf (dir, sizeof dir, "/tmp/zm-demo-test-XXXXXX");
    cr_assert_not_null (mkdtemp (dir));

    //  timeout ends the script with SIGTERM, and its trap still stops the
    //  nodes: well within this test's own timeout
    char command[12500], path[128];
    snprintf (path, sizeof path, "%s/out", dir);
    snprintf (command, sizeof command,
              "ZM_DEMO_BUILD='%s' timeout 120 '%s/examples/demo.sh' >'%s' 2>&1", build, root,
              path);
    int64_t start = zt_clock ();
    int status = zt_run (command, NULL, 0);
    int64_t took = zt_clock () - start;
    zchunk_t *chunk = zchunk_slurp (path, 0);
    char *out = chunk ? zchunk_strdup (chunk) : strdup ("");
    zchunk_destroy (&chunk);
    snprintf (command, sizeof command, "rm -rf '%s'", dir);
    cr_expect_eq (system (command), 0);
    cr_log_info ("examples/demo.sh took %" PRId64 " ms", took);

    cr_assert_eq (status, 0, "examples/demo.sh exited %d:\n%s", status, out);
    cr_assert (strstr (out, "\n== demo: all 7 steps did what they should\n"), "%s", out);
    cr_assert_eq (s_count (out, "!! FAILED"), 0, "%s", out);
    cr_assert_eq (s_count (out, "\nok: "), 7, "one ok line per step:\n%s", out);
    for (int step = 1; step <= 7; step++) {
        char title[32];
        snprintf (title, sizeof title, "\n-- %d/7 ", step);
        cr_assert (strstr (out, title), "no step %d:\n%s", step, out);
    }
    //  What a reader follows: the nodes' own lines, the tools' answers
    const char *names[] = {"n1", "n2", "n3"};
    for (int i = 0; i < 3; i++) {
        char line[128];
        snprintf (line, sizeof line, "    %s: up on tcp://127.0.0.1:", names[i]);
        cr_expect (strstr (out, line), "%s never said it is up:\n%s", names[i], out);
        snprintf (line, sizeof line, "    %s: event demo.greeting from n", names[i]);
        cr_expect_eq (s_count (out, line), 1, "%s did not print the event once:\n%s", names[i],
                      out);
    }
    cr_expect_eq (s_count (out, ": found n"), 6, "each node finds the two others:\n%s", out);
    cr_expect (strstr (out, "\n$ zm services\n{\"services\":[{\"name\":\"greeter\""), "%s", out);
    cr_expect (strstr (out, "6 calls, 6 ok, 0 failed;"), "%s", out);
    cr_expect (strstr (out, "3 of 3 peers answered"), "%s", out);
    cr_expect (strstr (out, "4 calls, 4 ok, 0 failed;"), "after the kill:\n%s", out);
    cr_expect (strstr (out, "2 of 2 peers answered"), "after the kill:\n%s", out);
    cr_expect_eq (s_count (out, "\nA holds demo-report, token "), 1, "%s", out);
    cr_expect_eq (s_count (out, "\nB holds demo-report, token "), 1, "%s", out);
    cr_expect_eq (s_count (out, "\nC holds demo-report, token "), 1, "%s", out);
    cr_expect_eq (s_count (out, ": I lead election demo-leader (term "), 2,
                  "a leader, then another after the kill:\n%s", out);
    cr_expect_eq (s_count (out, " said on stderr:"), 0, "the nodes complained:\n%s", out);
    cr_expect_eq (s_count (out, "zm-keys"), 0, "a keypair was written to zm-keys:\n%s", out);

    //  Nothing left behind: the processes it started, its scratch directory
    const char *stopped = strstr (out, "\n== stopped every process the demo started: pids ");
    cr_assert (stopped, "%s", out);
    char *cursor = (char *) stopped + strlen ("\n== stopped every process the demo started: pids ");
    int pids = 0;
    while (true) {
        char *end;
        long pid = strtol (cursor, &end, 10);
        if (end == cursor)
            break;
        cursor = end;
        pids++;
        cr_expect (pid > 1 && kill ((pid_t) pid, 0) == -1 && errno == ESRCH,
                   "process %ld is still running", pid);
    }
    cr_expect_eq (pids, 5, "three nodes and two zm lock:\n%s", out);
    const char *in = strstr (out, "(in /");
    cr_assert (in, "%s", out);
    char scratch[256] = "";
    cr_assert_eq (sscanf (in, "(in %255[^)])", scratch), 1);
    cr_expect_neq (access (scratch, F_OK), 0, "%s is still there", scratch);
    free (out);
}
