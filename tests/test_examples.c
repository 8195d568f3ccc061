/*  Examples: they build, they run, and the README shows them as they are. */
#include <criterion/criterion.h>
#include <czmq.h>
#include <libgen.h>
#include <stdio.h>
#include <unistd.h>

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
