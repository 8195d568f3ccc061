/*  Install: `scons install PREFIX=<dir>` puts the library, the headers,
    zmicro.pc and zm under the prefix, and a program built outside the tree
    with nothing but `pkg-config --cflags --libs zmicro` (what the README
    says) compiles without a warning and runs: it serves a service of its
    own and calls it, and calls this build's greeter_server over CURVE.

    It installs the variant under test (this binary's build/<variant>) from
    the source tree around it, and must not rebuild any of it: other tests
    may be running from there. So a dry run (scons -n) comes first: if it
    would do anything but write under the prefix, the build is out of date
    and the test fails, asking for `scons` first. The real run then only
    copies, and the test checks that the library, zm and the examples under
    build/<variant> are the files they were before. Do not run scons in the
    same tree meanwhile: the two would share its signature database.
*/
#include "support.h"

#include <sys/stat.h>

static char s_dir[64];                    //  the temporary directory
static zt_proc_t s_server = ZT_PROC_NONE; //  the greeter_server

static void
s_teardown (void)
{
    zt_kill (&s_server, SIGTERM);
    if (*s_dir) {
        char command[128];
        snprintf (command, sizeof command, "rm -rf '%s'", s_dir);
        cr_expect_eq (system (command), 0);
        *s_dir = 0;
    }
}

//  The out-of-tree program: a node serving "echo" that calls it, then
//  calls greeter on the static peer argv[1]. Strict C11, only <zmicro.h>.
static const char s_program[] =
    "#include <stdio.h>\n"
    "#include <zmicro.h>\n"
    "\n"
    "static int\n"
    "s_shout (zm_ctx_t *ctx, zm_msg_t *req)\n"
    "{\n"
    "    zm_msg_t *rep = zm_msg_new ();\n"
    "    zm_msg_setf (rep, \"text\", \"%s!\", zm_msg_get_str (req, \"text\", \"\"));\n"
    "    return zm_reply (ctx, &rep);\n"
    "}\n"
    "\n"
    "//  Call service.endpoint with {key: value}; print field of the answer\n"
    "static int\n"
    "s_call (zm_node_t *node, const char *service, const char *endpoint, const char *key,\n"
    "        const char *value, const char *field)\n"
    "{\n"
    "    zm_msg_t *req = zm_msg_new (), *rep = NULL;\n"
    "    zm_msg_set_str (req, key, value);\n"
    "    int rc = zm_call (node, service, endpoint, &req, &rep, NULL, NULL);\n"
    "    printf (\"%s: %s\\n\", service, rc ? zm_strerror (rc) : zm_msg_get_str (rep, field, "
    "\"\"));\n"
    "    zm_msg_destroy (&rep);\n"
    "    return rc;\n"
    "}\n"
    "\n"
    "int\n"
    "main (int argc, char **argv)\n"
    "{\n"
    "    zm_config_t *config = zm_config_new ();\n"
    "    zm_config_set (config, \"registry.beacon\", \"false\", NULL);\n"
    "    zm_config_set (config, \"rpc.bind\", \"127.0.0.1\", NULL);\n"
    "    zm_config_set (config, \"auth.keys\", \":memory:\", NULL);\n"
    "    zm_config_set (config, \"log.level\", \"error\", NULL);\n"
    "    if (argc > 1)\n"
    "        zm_config_set (config, \"registry.peers\", argv[1], NULL);\n"
    "    zm_node_t *node = zm_node_new (&config);\n"
    "    zm_service_t *echo = node ? zm_service_new (node, \"echo\", \"1.0.0\") : NULL;\n"
    "    if (!echo || zm_service_handle (echo, \"Shout\", s_shout) || zm_service_start (echo))\n"
    "        return 1;\n"
    "    printf (\"zmicro %d.%d.%d\\n\", ZM_VERSION_MAJOR, ZM_VERSION_MINOR, ZM_VERSION_PATCH);\n"
    "    int rc = s_call (node, \"echo\", \"Shout\", \"text\", \"hello\", \"text\");\n"
    "    if (argc > 1)\n"
    "        rc |= s_call (node, \"greeter\", \"Say.Hello\", \"name\", \"installed\", "
    "\"greeting\");\n"
    "    zm_node_destroy (&node);\n"
    "    return rc ? 1 : 0;\n"
    "}\n";

//  Modification time of build_dir/path, in ns; 0 when missing
static int64_t
s_mtime (const char *build_dir, const char *path)
{
    char full[4200];
    snprintf (full, sizeof full, "%s/%s", build_dir, path);
    struct stat info;
    if (stat (full, &info))
        return 0;
    return (int64_t)info.st_mtim.tv_sec * 1000000000 + info.st_mtim.tv_nsec;
}

//  What the install must leave alone under build/<variant>
static const char *s_built[] = {"lib/libzmicro.a", "lib/libzmicro.so.0.1.0",  "bin/zm",
                                "zmicro.pc",       "examples/greeter_server", NULL};

Test (install, an_installed_zmicro_builds_and_runs_a_program_out_of_the_tree, .fini = s_teardown,
      .timeout = 300)
{
    //  This binary is <root>/build/<variant>/tests/test_install
    const char *build_dir = zt_build_dir ();
    char root[4096], variant[64], scratch[4096];
    snprintf (scratch, sizeof scratch, "%s", build_dir);
    snprintf (variant, sizeof variant, "%s", basename (scratch));
    snprintf (scratch, sizeof scratch, "%s", build_dir);
    snprintf (root, sizeof root, "%s", dirname (dirname (scratch)));
    char path[4200];
    snprintf (path, sizeof path, "%s/SConstruct", root);
    cr_assert_eq (access (path, R_OK), 0, "no SConstruct at %s: run from a build of the tree",
                  root);
    cr_assert_eq (zt_run ("pkg-config --version >/dev/null 2>&1", NULL, 0), 0,
                  "this test needs pkg-config: apt-get install pkg-config (./run.sh does)");

    snprintf (s_dir, sizeof s_dir, "/tmp/zm-install-XXXXXX");
    cr_assert_not_null (mkdtemp (s_dir));
    char prefix[128];
    snprintf (prefix, sizeof prefix, "%s/prefix", s_dir);
    int64_t before[8];
    for (int i = 0; s_built[i]; i++) {
        before[i] = s_mtime (build_dir, s_built[i]);
        cr_assert_gt (before[i], 0, "%s/%s is missing: build first", build_dir, s_built[i]);
    }

    //  A dry run: every line it prints must be about the prefix
    char command[9000];
    static char out[65536];
    snprintf (command, sizeof command, "cd '%s' && scons -n -Q install PREFIX='%s' variant=%s 2>&1",
              root, prefix, variant);
    cr_assert_eq (zt_run (command, out, sizeof out), 0, "%s:\n%s", command, out);
    char *saveptr = NULL;
    static char lines[65536];
    memcpy (lines, out, sizeof lines);
    for (char *line = strtok_r (lines, "\n", &saveptr); line;
         line = strtok_r (NULL, "\n", &saveptr))
        cr_assert (strstr (line, prefix),
                   "scons install would build in %s first: it is out of date (run scons -Q "
                   "variant=%s in %s): %s\n%s",
                   build_dir, variant, root, line, out);
    //  The real one
    snprintf (command, sizeof command, "cd '%s' && scons -Q install PREFIX='%s' variant=%s 2>&1",
              root, prefix, variant);
    cr_assert_eq (zt_run (command, out, sizeof out), 0, "%s:\n%s", command, out);
    const char *installed[] = {"lib/libzmicro.so",        "lib/libzmicro.so.0",
                               "lib/libzmicro.a",         "include/zmicro.h",
                               "include/zmicro/node.h",   "bin/zm",
                               "lib/pkgconfig/zmicro.pc", NULL};
    for (int i = 0; installed[i]; i++) {
        snprintf (path, sizeof path, "%s/%s", prefix, installed[i]);
        cr_assert_eq (access (path, R_OK), 0, "not installed: %s\n%s", path, out);
    }
    for (int i = 0; s_built[i]; i++)
        cr_assert_eq (s_mtime (build_dir, s_built[i]), before[i], "scons install changed %s/%s",
                      build_dir, s_built[i]);

    //  zmicro.pc: its prefix, its version, and the libraries
    char pc[512];
    snprintf (pc, sizeof pc, "PKG_CONFIG_PATH='%s/lib/pkgconfig' pkg-config", prefix);
    snprintf (command, sizeof command, "%s --modversion --variable=prefix zmicro 2>&1", pc);
    zt_run (command, out, sizeof out);
    char expected[256];
    snprintf (expected, sizeof expected, "0.1.0\n%s\n", prefix);
    cr_assert_str_eq (out, expected);
    snprintf (command, sizeof command, "%s --cflags --libs zmicro 2>&1", pc);
    cr_assert_eq (zt_run (command, out, sizeof out), 0, "%s", out);
    char flag[256];
    snprintf (flag, sizeof flag, "-I%s/include", prefix);
    cr_assert (strstr (out, flag), "%s", out);
    snprintf (flag, sizeof flag, "-L%s/lib", prefix);
    cr_assert (strstr (out, flag), "%s", out);
    const char *libs[] = {"-lzmicro", "-lczmq", "-lzmq", "-lsodium", "-llmdb", "-lmsgpack", NULL};
    for (int i = 0; libs[i]; i++)
        cr_assert (strstr (out, libs[i]), "no %s in: %s", libs[i], out);

    //  The program, compiled out of the tree: strict C11, no warning
    snprintf (path, sizeof path, "%s/program.c", s_dir);
    FILE *file = fopen (path, "w");
    cr_assert_not_null (file);
    cr_assert (fputs (s_program, file) >= 0 && fclose (file) == 0, "cannot write %s", path);
    //  A sanitized library wants its runtime linked first
    const char *sanitize =
        streq (variant, "asan") ? "-fsanitize=address,undefined -fno-omit-frame-pointer" : "";
    snprintf (command, sizeof command,
              "cd '%s' && ${CC:-cc} -std=c11 -pedantic -Wall -Wextra -Werror %s program.c "
              "-o program $(%s --cflags --libs zmicro) 2>&1",
              s_dir, sanitize, pc);
    cr_assert_eq (zt_run (command, out, sizeof out), 0, "%s:\n%s", command, out);
    cr_assert_str_eq (out, "", "the compiler said something: %s", out);
    //  It runs on the installed library, not on another one the system has
    snprintf (command, sizeof command,
              "LD_LIBRARY_PATH='%s/lib' ldd '%s/program' 2>&1 | grep libzmicro", prefix, s_dir);
    zt_run (command, out, sizeof out);
    snprintf (flag, sizeof flag, "%s/lib/libzmicro.so.0", prefix);
    cr_assert (strstr (out, flag), "program does not load %s: %s", flag, out);

    //  It serves and calls, and calls a greeter_server of this build
    snprintf (path, sizeof path, "%s/examples/greeter_server", build_dir);
    const char *argv[] = {path,
                          "--node.name=alpha",
                          "--rpc.bind=127.0.0.1",
                          "--log.level=warning",
                          "--node.shutdown_timeout=1000",
                          NULL};
    s_server = zt_spawn (argv, NULL);
    cr_assert (s_server.pid > 0 && zt_ready (&s_server, 10000) > 0, "no greeter_server");
    snprintf (command, sizeof command,
              "cd '%s' && LD_LIBRARY_PATH='%s/lib' timeout 60 ./program '%s' 2>&1", s_dir, prefix,
              s_server.address);
    int status = zt_run (command, out, sizeof out);
    cr_assert_eq (status, 0, "program exited %d:\n%s", status, out);
    cr_assert_str_eq (out, "zmicro 0.1.0\n"
                           "echo: hello!\n"
                           "greeter: Hello installed\n");
}
