#include "cmd/cli.h"

#include "base/buf.h"

#include "cmd/options.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define O(id) KVZ_OPT(KVZ_OPT_##id)

static const struct kvz_command commands[] = {
    {"validate", cmd_validate, "kvz validate [-f PATH]...", "check manifests; no host access",
     O(FILE) | O(OFFLINE) | O(REQUIRE_SIGNED), 0, NULL, NULL},
    {"plan", cmd_plan,
     "kvz plan [-f PATH]... [-o PLANFILE] [--json | --format FORMAT] [--detailed-exitcode] [--target NAME]... [--host NAME]... [--offline] [--require-signed FILE]",
     "show what apply would change",
     O(FILE) | O(OUT) | O(JSON) | O(DETAILED) | O(TARGET) | O(HOST) | O(LOCKFILE) | O(FORMAT) |
         O(OFFLINE) | O(REQUIRE_SIGNED),
     0, NULL, NULL},
    {"apply", cmd_apply,
     "kvz apply [-f PATH]... [--auto-approve] [--json] [--parallel N] [--target NAME]... [--max-disruption LEVEL] [--force] [--host NAME]... [--offline] [--require-signed FILE] | kvz apply PLANFILE",
     "make the host match the manifests",
     O(FILE) | O(JSON) | O(AUTO_APPROVE) | O(PARALLEL) | O(TARGET) | O(MAX_DISRUPTION) | O(FORCE) |
         O(HOST) | O(LOCKFILE) | O(OFFLINE) | O(REQUIRE_SIGNED),
     1, "'kvz apply' takes one plan file", NULL},
    {"destroy", cmd_destroy,
     "kvz destroy [-f PATH]... [--auto-approve] [--target NAME]... [--parallel N] [--force] [--host NAME]...",
     "delete the stack's guests",
     O(FILE) | O(AUTO_APPROVE) | O(TARGET) | O(PARALLEL) | O(FORCE) | O(HOST), 0, NULL, NULL},
    {"status", cmd_status,
     "kvz status [-f PATH]... [--json] [--host NAME]... | kvz status --all [--json] [--host NAME]... [-f PATH]...",
     "managed resources, state, drift, provenance",
     O(FILE) | O(JSON) | O(HOST) | O(ALL) | O(OFFLINE) | O(REQUIRE_SIGNED), 0, NULL, NULL},
    {"templates", cmd_templates, "kvz templates pull|list|prune|search [WORDS] [-f PATH]...",
     "the download cache and the catalogs", O(FILE) | O(JSON) | O(LOCKFILE), 16,
     "run 'kvz help templates'",
     "  pull                    download, verify and unpack the manifests' templates\n"
     "  search [WORDS]          the entries of the manifests' catalogs (version, type, arch, size,\n"
     "                          digest); --json\n"
     "  list                    each template: kind, size, digest, cached or not\n"
     "  prune                   remove cache entries no given manifest references\n"},
    {"lock", cmd_lock, "kvz lock [-f PATH]... [--upgrade [NAME]...]",
     "pin what the templates resolve to in kvz.lock", O(FILE) | O(UPGRADE), 64,
     "name templates with --upgrade", NULL},
    {"unlock", cmd_unlock, "kvz unlock --host NAME [-f PATH]...",
     "remove the lock held on a host (after a crashed apply)", O(FILE) | O(HOST), 0, NULL, NULL},
    {"import", cmd_import, "kvz import [-f PATH]... [--dry-run] NAME...",
     "adopt existing guests kvz did not make, without a restart", O(FILE) | O(DRY_RUN), 4096, NULL,
     NULL},
    {"doctor", cmd_doctor, "kvz doctor [-f PATH]... [--host NAME]...",
     "host checks: libvirt, KVM, cgroups, storage", O(FILE) | O(HOST), 0, NULL, NULL},
};

static const char global_help[] =
    "Global options:\n"
    "  --state-dir DIR         state and cache (default /var/lib/kvz, env KVZ_STATE_DIR)\n"
    "  --containers-uri URI    libvirt URI for containers (overrides connection:)\n"
    "  --vms-uri URI           libvirt URI for vms (overrides connection:)\n"
    "  --no-color              no colour (also with NO_COLOR, or when not a terminal)\n"
    "  -q, -v                  quieter, more verbose\n";

const struct kvz_command *kvz_cli_command(const char *name)
{
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (!strcmp(commands[i].name, name))
            return &commands[i];
    return NULL;
}

const struct kvz_command *kvz_cli_command_at(size_t i)
{
    return i < sizeof(commands) / sizeof(commands[0]) ? &commands[i] : NULL;
}

void kvz_cli_print_help(const struct kvz_command *cmd)
{
    printf("usage: %s\n\n%s.\n\n", cmd->usage, cmd->summary);
    if (cmd->help)
        fputs(cmd->help, stdout);
    kvz_opts_print_help(cmd->opts);
    printf("\n%s", global_help);
}

static void print_usage(FILE *f)
{
    fprintf(f, "usage: kvz [global options] COMMAND [options]\n\n"
               "kvz provisions Linux containers and KVM virtual machines from YAML manifests.\n\n"
               "Commands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "  %-10s %s\n\n%s\nSee 'kvz help COMMAND' for a command's options.\n", "help",
            "show help for a command", global_help);
}

static int cmd_help(struct kvz_cli *cli, int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stdout);
        return KVZ_EXIT_OK;
    }
    if (!strcmp(argv[1], "help")) {
        printf("usage: kvz help [COMMAND]\n\nShow the commands, or the options of COMMAND.\n");
        return KVZ_EXIT_OK;
    }
    const struct kvz_command *c = kvz_cli_command(argv[1]);
    if (!c) {
        kvz_out_error(cli, "unknown command '%s'; run 'kvz help' for the list", argv[1]);
        return KVZ_EXIT_ERROR;
    }
    kvz_cli_print_help(c);
    return KVZ_EXIT_OK;
}

/* Global options may stand anywhere before "--"; they are removed from argv. */
static int take_globals(struct kvz_cli *cli, int *argc, char **argv)
{
    int w = 1;
    for (int r = 1; r < *argc; r++) {
        char *a = argv[r];
        const char **slot = NULL;
        const char *name = NULL;
        if (!strcmp(a, "--")) {
            while (r < *argc)
                argv[w++] = argv[r++];
            break;
        }
        if (!strcmp(a, "--no-color")) {
            cli->color = cli->color_err = false;
            continue;
        }
        if (!strcmp(a, "-q")) {
            cli->verbosity = -1;
            continue;
        }
        if (!strcmp(a, "-v")) {
            cli->verbosity = 1;
            continue;
        }
        static const char *const names[] = {"--state-dir", "--containers-uri", "--vms-uri"};
        const char **slots[] = {&cli->state_dir, &cli->containers_uri, &cli->vms_uri};
        for (size_t i = 0; i < 3; i++) {
            size_t l = strlen(names[i]);
            if (!strncmp(a, names[i], l) && (a[l] == '\0' || a[l] == '=')) {
                slot = slots[i];
                name = names[i];
                if (a[l] == '=') {
                    *slot = a + l + 1;
                } else if (r + 1 < *argc) {
                    *slot = argv[++r];
                } else {
                    kvz_out_error(cli, "option '%s' needs a value", name);
                    return -1;
                }
                if (!**slot) {
                    kvz_out_error(cli, "option '%s' needs a non-empty value", name);
                    return -1;
                }
                break;
            }
        }
        if (!slot)
            argv[w++] = a;
    }
    argv[w] = NULL;
    *argc = w;
    return 0;
}

/* The state dir as an absolute path, made once here: libvirt gets paths below it (a relative
 * rootfs path makes a container that cannot find its init). The part that does not exist yet
 * is appended to its deepest existing ancestor, resolved. */
static char *absolute_state_dir(struct kvz_cli *cli, const char *dir)
{
    struct kvz_buf rest = KVZ_BUF_INIT;
    char *head = strdup(dir), *abs = NULL, *real = NULL;
    const char *why = NULL;
    while (head && !(real = realpath(*head ? head : ".", NULL)) && errno == ENOENT) {
        char *slash = strrchr(head, '/');
        const char *last = slash ? slash + 1 : head;
        if (!strcmp(last, "..")) {
            why = "'..' after a directory that does not exist";
            break;
        }
        if (*last && strcmp(last, ".")) {
            struct kvz_buf b = KVZ_BUF_INIT;
            kvz_buf_printf(&b, "/%s%s", last, kvz_buf_cstr(&rest));
            kvz_buf_release(&rest);
            rest = b;
        }
        if (!slash)
            *head = '\0';
        else
            *(slash == head ? slash + 1 : slash) = '\0';
    }
    if (real && !why) {
        struct kvz_buf b = KVZ_BUF_INIT;
        kvz_buf_printf(&b, "%s%s", strcmp(real, "/") || !rest.len ? real : "", kvz_buf_cstr(&rest));
        abs = kvz_buf_detach(&b);
    }
    if (!abs)
        kvz_out_error(
            cli,
            "state dir '%s' cannot be resolved to an absolute path: %s; give another --state-dir",
            dir, why ? why : strerror(errno ? errno : ENOMEM));
    free(real);
    free(head);
    kvz_buf_release(&rest);
    return abs;
}

static int run_command(struct kvz_cli *cli, int argc, char **argv)
{
    if (argc < 2) {
        print_usage(stderr);
        return KVZ_EXIT_ERROR;
    }
    const char *name = argv[1];
    if (!strcmp(name, "--version") || !strcmp(name, "version"))
        return cmd_version(cli);
    if (!strcmp(name, "help") || !strcmp(name, "--help") || !strcmp(name, "-h"))
        return cmd_help(cli, argc - 1, argv + 1);
    const struct kvz_command *c = kvz_cli_command(name);
    if (!c) {
        kvz_out_error(cli, "unknown command '%s'; run 'kvz help' for the list", name);
        return KVZ_EXIT_ERROR;
    }
    for (int i = 2; i < argc && strcmp(argv[i], "--"); i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            kvz_cli_print_help(c);
            return KVZ_EXIT_OK;
        }
    return c->fn(cli, c, argc - 1, argv + 1);
}

static void on_sigpipe(int sig)
{
    (void)sig;
}

int main(int argc, char **argv)
{
    /* libvirt talks to an ssh child through pipes: a host whose ssh has died must fail its own
     * connection with EPIPE, not kill the whole run (libvirt leaves SIGPIPE to its caller). A
     * handler, not SIG_IGN, so that the programs kvz runs start with the default. */
    struct sigaction sa = {.sa_handler = on_sigpipe};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGPIPE, &sa, NULL);
    const char *nc = getenv("NO_COLOR");
    bool color_ok = !(nc && *nc);
    struct kvz_cli cli = {
        .state_dir = getenv("KVZ_STATE_DIR"),
        .color = color_ok && isatty(STDOUT_FILENO),
        .color_err = color_ok && isatty(STDERR_FILENO),
    };
    if (!cli.state_dir || !*cli.state_dir)
        cli.state_dir = "/var/lib/kvz";
    /* hidden, for the shell completion scripts: the words as typed, global options and all */
    if (argc >= 2 && !strcmp(argv[1], "__complete"))
        return cmd_complete(&cli, argc - 1, argv + 1);
    if (take_globals(&cli, &argc, argv) < 0)
        return KVZ_EXIT_ERROR;
    char *state_dir = absolute_state_dir(&cli, cli.state_dir);
    if (!state_dir)
        return KVZ_EXIT_ERROR;
    cli.state_dir = state_dir;
    int rc = run_command(&cli, argc, argv);
    free(state_dir); /* freed, so that LeakSanitizer sees no leak in any build */
    return rc;
}
