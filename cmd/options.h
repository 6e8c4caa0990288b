#ifndef KVZ_CMD_OPTIONS_H
#define KVZ_CMD_OPTIONS_H

/*
 * The one declarative option table of the subcommands (cmd/options.c): each
 * option once, with its help line; each command says which it takes. One
 * parser fills struct kvz_opts for every command, so no command has a getopt
 * loop of its own.
 */

#include "cmd/cli.h"
#include "planner/plan.h"

#include <stdbool.h>

enum kvz_opt_id {
    KVZ_OPT_FILE = 0,
    KVZ_OPT_OUT,
    KVZ_OPT_JSON,
    KVZ_OPT_DETAILED,
    KVZ_OPT_TARGET,
    KVZ_OPT_AUTO_APPROVE,
    KVZ_OPT_PARALLEL,
    KVZ_OPT_MAX_DISRUPTION,
    KVZ_OPT_FORCE,
    KVZ_OPT_LOCKFILE,
    KVZ_OPT_UPGRADE,
    KVZ_OPT_OFFLINE,
    KVZ_OPT_REQUIRE_SIGNED,
    KVZ_OPT_FORMAT,
    KVZ_OPT_DRY_RUN,
    KVZ_OPT_ALL,
    KVZ_N_OPTS
};

/* A set of options, for struct kvz_command's `opts`. */
#define KVZ_OPT(id) (1u << (id))

/* What the options of one run say. */
struct kvz_opts {
    struct kvz_paths files;   /* -f, repeatable */
    struct kvz_paths targets; /* --target, repeatable */
    const char *out;          /* -o PLANFILE */
    bool json, detailed, auto_approve, force, dry_run, all;
    unsigned parallel;                  /* --parallel, default 4 */
    enum kvz_disruption max_disruption; /* --max-disruption, default destroy */
    struct kvz_paths args;              /* the positional arguments */
    bool lock_readonly;                 /* --lockfile readonly */
    bool upgrade;                       /* --upgrade */
    bool offline;                       /* --offline: git sources from their mirror as it is */
    const char *require_signed;         /* --require-signed FILE, $KVZ_REQUIRE_SIGNED, or NULL */
    bool markdown;                      /* --format markdown */
};

/*
 * Parses the options of command `c` (argv[0] is its name): only those in c->opts, and at most
 * c->max_args positional arguments. Prints what is wrong and what to do, and returns -1, on an
 * unknown option, a missing or bad value, or an unexpected argument; 0 otherwise. Release *o
 * with kvz_opts_release either way.
 */
int kvz_opts_parse(struct kvz_opts *o, struct kvz_cli *cli, const struct kvz_command *c, int argc,
                   char **argv);

void kvz_opts_release(struct kvz_opts *o);

/* An option's names, for completion: long name, short letter (0: none), its value's name
 * ("PATH", "NAME"; NULL for a flag). */
struct kvz_opt_desc {
    const char *name;
    char short_name;
    const char *arg;
};
/* Describes option `id` (enum kvz_opt_id); -1 past the last. */
int kvz_opts_describe(struct kvz_opt_desc *out, int id);

/* Prints the help lines of the options in `set` (KVZ_OPT bits) to stdout. */
void kvz_opts_print_help(unsigned set);

#endif
