#include "cmd/cli.h"

#include "cmd/options.h"
#include "parser/diag.h"
#include "parser/manifest.h"

#include <stdio.h>
#include <string.h>

/*
 * kvz __complete WORD...: the words of a command line after "kvz", the last one being the word
 * under the cursor (empty for a new one). Prints the candidates that start with it, one a line;
 * nothing where the shell should complete file names (-f, -o, plan files). The bash and zsh
 * scripts (dist/completion/) only call this, so they cannot drift from the command table.
 */

static const char *const global_flags[] = {"--no-color", "-q", "-v"};
static const char *const global_values[] = {"--state-dir", "--containers-uri", "--vms-uri"};

static void offer(const char *cur, const char *word)
{
    if (!strncmp(word, cur, strlen(cur)))
        printf("%s\n", word);
}

static bool is_global_value(const char *w)
{
    for (size_t i = 0; i < sizeof(global_values) / sizeof(global_values[0]); i++)
        if (!strcmp(w, global_values[i]))
            return true;
    return false;
}

/* The option of `c` that `w` names ("-f", "--file"), or -1. */
static int option_of(const struct kvz_command *c, const char *w)
{
    struct kvz_opt_desc d;
    for (int id = 0; kvz_opts_describe(&d, id) == 0; id++) {
        if (!(c->opts & KVZ_OPT(id)))
            continue;
        if ((w[0] == '-' && w[1] == d.short_name && d.short_name && !w[2]) ||
            (!strncmp(w, "--", 2) && !strcmp(w + 2, d.name)))
            return id;
    }
    return -1;
}

/* The resource names of the manifests given with -f on the line (or ./kvz.yaml), quietly. */
static void offer_resources(const char *cur, const struct kvz_paths *files, bool guests_only)
{
    struct kvz_diags diags = KVZ_DIAGS_INIT;
    struct kvz_manifest *m = NULL;
    if (kvz_manifest_load(&m, files->v, files->n, &diags) == 0)
        for (size_t i = 0; i < m->n_resources; i++)
            if (!guests_only || m->resources[i].kind != KVZ_KIND_NETWORK)
                offer(cur, m->resources[i].name);
    kvz_manifest_free(m);
    kvz_diags_release(&diags);
}

static void offer_options(const char *cur, const struct kvz_command *c)
{
    struct kvz_opt_desc d;
    for (int id = 0; kvz_opts_describe(&d, id) == 0; id++) {
        if (!c || !(c->opts & KVZ_OPT(id)))
            continue;
        char s[3] = {'-', d.short_name, 0}, l[64];
        snprintf(l, sizeof(l), "--%s", d.name);
        if (d.short_name)
            offer(cur, s);
        offer(cur, l);
    }
    for (size_t i = 0; i < 3; i++) {
        offer(cur, global_flags[i]);
        offer(cur, global_values[i]);
    }
    if (!c)
        offer(cur, "--version");
    offer(cur, "--help");
}

int cmd_complete(struct kvz_cli *cli, int argc, char **argv)
{
    /* argv[0] is "__complete"; the word being completed is the last */
    if (argc < 2)
        return KVZ_EXIT_OK;
    const char *cur = argv[argc - 1], *prev = argc > 2 ? argv[argc - 2] : "";
    const struct kvz_command *c = NULL;
    const char *name = NULL;
    struct kvz_paths files = {0};
    size_t positional = 0;
    for (int i = 1; i < argc - 1; i++) {
        const char *w = argv[i];
        if (is_global_value(w)) {
            i++;
            continue;
        }
        if (w[0] == '-') {
            int id = c ? option_of(c, w) : -1;
            struct kvz_opt_desc d;
            if (id >= 0 && kvz_opts_describe(&d, id) == 0 && d.arg && i + 1 < argc - 1) {
                if (id == KVZ_OPT_FILE && kvz_paths_add(&files, argv[i + 1]) < 0)
                    break;
                i++;
            }
            continue;
        }
        if (!name) {
            name = w;
            c = kvz_cli_command(w);
        } else {
            positional++;
        }
    }
    struct kvz_opt_desc d = {0};
    int pid = c ? option_of(c, prev) : -1;
    if (is_global_value(prev) || (pid >= 0 && kvz_opts_describe(&d, pid) == 0 && d.arg)) {
        /* the value of an option: names where kvz knows them; else the shell's files */
        if (pid == KVZ_OPT_TARGET)
            offer_resources(cur, &files, false);
        else if (pid == KVZ_OPT_MAX_DISRUPTION)
            for (size_t i = 0; i < 3; i++)
                offer(cur, (const char *[]){"live", "restart", "destroy"}[i]);
    } else if (cur[0] == '-') {
        offer_options(cur, c);
    } else if (!name) {
        for (size_t i = 0; kvz_cli_command_at(i); i++)
            offer(cur, kvz_cli_command_at(i)->name);
        offer(cur, "help");
    } else if (!strcmp(name, "help") && !positional) {
        for (size_t i = 0; kvz_cli_command_at(i); i++)
            offer(cur, kvz_cli_command_at(i)->name);
        offer(cur, "help");
    } else if (c && !strcmp(c->name, "import")) {
        /* the guests to adopt are named in the manifests */
        offer_resources(cur, &files, true);
    } else if (c && !strcmp(c->name, "templates") && !positional) {
        for (size_t i = 0; i < 3; i++)
            offer(cur, (const char *[]){"pull", "list", "prune"}[i]);
    }
    kvz_paths_release(&files);
    (void)cli;
    return KVZ_EXIT_OK;
}
