#include "cmd/options.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct opt_spec {
    const char *name; /* long name */
    char short_name;  /* 0: none */
    const char *arg;  /* the value's name in help, NULL: a flag */
    const char *help;
};

static const struct opt_spec specs[KVZ_N_OPTS] = {
    [KVZ_OPT_FILE] = {"file", 'f', "PATH",
                      "manifest file or directory (repeatable; default ./kvz.yaml)"},
    [KVZ_OPT_OUT] = {"out", 'o', "PLANFILE", "save the plan, for 'kvz apply PLANFILE'"},
    [KVZ_OPT_JSON] = {"json", 0, NULL, "one JSON object on stdout"},
    [KVZ_OPT_DETAILED] = {"detailed-exitcode", 0, NULL, "exit 0: no changes, 2: changes, 1: error"},
    [KVZ_OPT_TARGET] = {"target", 0, "NAME", "only this resource (repeatable)"},
    [KVZ_OPT_AUTO_APPROVE] = {"auto-approve", 0, NULL, "do not ask; required without a terminal"},
    [KVZ_OPT_PARALLEL] = {"parallel", 0, "N", "resources changed at once (default 4)"},
    [KVZ_OPT_MAX_DISRUPTION] =
        {"max-disruption", 0, "LEVEL",
         "live | restart | destroy (default destroy): refuse plans beyond LEVEL"},
    [KVZ_OPT_FORCE] =
        {"force", 0, NULL,
         "guests whose data goes anyway (deletes, replaces) are forced off, no graceful stop"},
    [KVZ_OPT_LOCKFILE] = {"lockfile", 0, "MODE",
                          "readonly: fail unless kvz.lock holds every template as declared (CI)"},
    [KVZ_OPT_UPGRADE] = {"upgrade", 0, NULL,
                         "resolve the templates (all, or those named) anew and rewrite kvz.lock"},
    [KVZ_OPT_OFFLINE] = {"offline", 0, NULL,
                         "git sources: use their mirror as it is, fetch nothing"},
    [KVZ_OPT_REQUIRE_SIGNED] =
        {"require-signed", 0, "FILE",
         "git sources: the commit must be signed by a key in FILE (env KVZ_REQUIRE_SIGNED)"},
    [KVZ_OPT_FORMAT] = {"format", 0, "FORMAT", "text (default), json or markdown"},
    [KVZ_OPT_DRY_RUN] = {"dry-run", 0, NULL, "show what would be recorded; change nothing"},
    [KVZ_OPT_ALL] = {"all", 0, NULL,
                     "every kvz-managed guest and network of every stack; no manifest read"},
};

/* The option getopt_long returned as `ch`: 256 + id for long options, the letter for short. */
static int spec_of(int ch)
{
    if (ch >= 256)
        return ch - 256;
    int id = 0;
    while (id < KVZ_N_OPTS && specs[id].short_name != ch)
        id++;
    return id;
}

static int set_value(struct kvz_opts *o, struct kvz_cli *cli, enum kvz_opt_id id, const char *v)
{
    char *end;
    switch (id) {
    case KVZ_OPT_FILE:
        return kvz_paths_add(&o->files, v);
    case KVZ_OPT_TARGET:
        return kvz_paths_add(&o->targets, v);
    case KVZ_OPT_OUT:
        o->out = v;
        return 0;
    case KVZ_OPT_JSON:
        o->json = true;
        return 0;
    case KVZ_OPT_DETAILED:
        o->detailed = true;
        return 0;
    case KVZ_OPT_AUTO_APPROVE:
        o->auto_approve = true;
        return 0;
    case KVZ_OPT_FORCE:
        o->force = true;
        return 0;
    case KVZ_OPT_DRY_RUN:
        o->dry_run = true;
        return 0;
    case KVZ_OPT_ALL:
        o->all = true;
        return 0;
    case KVZ_OPT_PARALLEL: {
        unsigned long n = strtoul(v, &end, 10);
        if (*v < '0' || *v > '9' || *end || n < 1 || n > 64) {
            kvz_out_error(cli, "--parallel '%s': give a number from 1 to 64", v);
            return -2;
        }
        o->parallel = (unsigned)n;
        return 0;
    }
    case KVZ_OPT_MAX_DISRUPTION:
        if (kvz_disruption_parse(&o->max_disruption, v) < 0) {
            kvz_out_error(cli, "--max-disruption '%s': use live, restart or destroy", v);
            return -2;
        }
        return 0;
    case KVZ_OPT_LOCKFILE:
        if (strcmp(v, "readonly") && strcmp(v, "use")) {
            kvz_out_error(cli, "--lockfile '%s': use readonly (or use, the default)", v);
            return -2;
        }
        o->lock_readonly = !strcmp(v, "readonly");
        return 0;
    case KVZ_OPT_UPGRADE:
        o->upgrade = true;
        return 0;
    case KVZ_OPT_OFFLINE:
        o->offline = true;
        return 0;
    case KVZ_OPT_REQUIRE_SIGNED:
        o->require_signed = v;
        return 0;
    case KVZ_OPT_FORMAT:
        if (!strcmp(v, "json") || !strcmp(v, "markdown") || !strcmp(v, "text")) {
            o->json = !strcmp(v, "json");
            o->markdown = !strcmp(v, "markdown");
            return 0;
        }
        kvz_out_error(cli, "--format '%s': use text, json or markdown", v);
        return -2;
    case KVZ_N_OPTS:
        break;
    }
    return -2;
}

int kvz_opts_parse(struct kvz_opts *o, struct kvz_cli *cli, const struct kvz_command *c, int argc,
                   char **argv)
{
    struct option longs[KVZ_N_OPTS + 1];
    char shorts[3 * KVZ_N_OPTS + 3] = "+:";
    size_t nl = 0, ns = 2;
    int ch;

    memset(o, 0, sizeof(*o));
    o->parallel = 4;
    o->max_disruption = KVZ_DISRUPT_DESTROY;
    if (c->opts & KVZ_OPT(KVZ_OPT_REQUIRE_SIGNED)) {
        const char *env = getenv("KVZ_REQUIRE_SIGNED");
        o->require_signed = env && *env ? env : NULL;
    }
    for (int id = 0; id < KVZ_N_OPTS; id++) {
        if (!(c->opts & KVZ_OPT(id)))
            continue;
        const struct opt_spec *s = &specs[id];
        longs[nl++] =
            (struct option){s->name, s->arg ? required_argument : no_argument, NULL, 256 + id};
        if (s->short_name) {
            shorts[ns++] = s->short_name;
            if (s->arg)
                shorts[ns++] = ':';
        }
    }
    longs[nl] = (struct option){NULL, 0, NULL, 0};
    shorts[ns] = '\0';
    optind = 1;
    opterr = 0;
    /* Options and positional arguments may come in any order ("kvz templates -f x pull"). */
    while (optind < argc) {
        if ((ch = getopt_long(argc, argv, shorts, longs, NULL)) == -1) {
            if (kvz_paths_add(&o->args, argv[optind++]) < 0)
                goto oom;
            continue;
        }
        if (ch == ':') {
            int id = spec_of(optopt);
            const char *arg = id < KVZ_N_OPTS ? specs[id].arg : NULL;
            kvz_out_error(cli, "option '%s' needs a %s; run 'kvz help %s'", argv[optind - 1],
                          arg && !strcmp(arg, "PATH") ? "path" : "value", c->name);
            return -1;
        }
        if (ch == '?') {
            kvz_out_error(cli, "unknown option '%s'; run 'kvz help %s'", argv[optind - 1], c->name);
            return -1;
        }
        int r = set_value(o, cli, (enum kvz_opt_id)spec_of(ch), optarg);
        if (r == -1)
            goto oom;
        if (r < 0)
            return -1;
    }
    if (o->args.n > c->max_args) {
        const char *hint = c->args_hint ? c->args_hint : "give manifests with -f PATH";
        kvz_out_error(cli, "unexpected argument '%s'; %s", o->args.v[c->max_args], hint);
        return -1;
    }
    return 0;
oom:
    kvz_out_error(cli, "out of memory");
    return -1;
}

void kvz_opts_release(struct kvz_opts *o)
{
    kvz_paths_release(&o->files);
    kvz_paths_release(&o->targets);
    kvz_paths_release(&o->args);
}

void kvz_opts_print_help(unsigned set)
{
    for (int id = 0; id < KVZ_N_OPTS; id++) {
        if (!(set & KVZ_OPT(id)))
            continue;
        const struct opt_spec *s = &specs[id];
        char left[64];
        if (s->short_name)
            snprintf(left, sizeof(left), "-%c %s", s->short_name, s->arg ? s->arg : "");
        else
            snprintf(left, sizeof(left), "--%s%s%s", s->name, s->arg ? " " : "",
                     s->arg ? s->arg : "");
        printf("  %-23s %s\n", left, s->help);
    }
}

int kvz_opts_describe(struct kvz_opt_desc *out, int id)
{
    if (id < 0 || id >= KVZ_N_OPTS)
        return -1;
    *out = (struct kvz_opt_desc){specs[id].name, specs[id].short_name, specs[id].arg};
    return 0;
}
