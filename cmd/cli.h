#ifndef KVZ_CMD_CLI_H
#define KVZ_CMD_CLI_H

#include <stdbool.h>
#include <stddef.h>

struct kvz_diags;
struct json_t;
struct kvz_error;

/* Global options, parsed by cmd/main.c before the subcommand runs. */
struct kvz_cli {
    const char *state_dir;      /* --state-dir, $KVZ_STATE_DIR, /var/lib/kvz */
    const char *containers_uri; /* --containers-uri, or NULL: the manifest's */
    const char *vms_uri;        /* --vms-uri, or NULL: the manifest's */
    bool color;                 /* stdout is a terminal and neither --no-color nor NO_COLOR */
    bool color_err;             /* the same for stderr */
    int verbosity;              /* -1 with -q, 0, 1 with -v */
    /* --json of plan and apply: every error and diagnostic printed is also kept here, for the
     * JSON object a failed run prints on stdout (kvz_out_json_end); NULL otherwise */
    struct json_t *json_diags;
    bool json_printed; /* a JSON document went to stdout already */
};

struct kvz_command;

/* A subcommand: argv[0] is its name; c is its entry in the command table. */
typedef int (*kvz_command_fn)(struct kvz_cli *cli, const struct kvz_command *c, int argc,
                              char **argv);

struct kvz_command {
    const char *name;
    kvz_command_fn fn;
    const char *usage;     /* one line: "kvz validate [-f PATH]..." */
    const char *summary;   /* one line for `kvz help` */
    unsigned opts;         /* the options it takes (KVZ_OPT bits, cmd/options.h) */
    size_t max_args;       /* positional arguments it takes */
    const char *args_hint; /* what to do about an unexpected argument, or NULL: use -f */
    const char *help;      /* more help (its actions), or NULL */
};

/* Exit statuses (docs/cli.md). */
enum {
    KVZ_EXIT_OK = 0,
    KVZ_EXIT_ERROR = 1,
    KVZ_EXIT_CHANGES = 2,
    KVZ_EXIT_DISRUPTION = 3, /* apply: the plan goes beyond --max-disruption */
    KVZ_EXIT_SIGNATURE = 4,  /* a git source's commit refused by --require-signed */
};

int cmd_validate(struct kvz_cli *cli, const struct kvz_command *c, int argc, char **argv);
int cmd_plan(struct kvz_cli *cli, const struct kvz_command *c, int argc, char **argv);
int cmd_apply(struct kvz_cli *cli, const struct kvz_command *c, int argc, char **argv);
int cmd_destroy(struct kvz_cli *cli, const struct kvz_command *c, int argc, char **argv);
int cmd_status(struct kvz_cli *cli, const struct kvz_command *c, int argc, char **argv);
int cmd_templates(struct kvz_cli *cli, const struct kvz_command *c, int argc, char **argv);
int cmd_lock(struct kvz_cli *cli, const struct kvz_command *c, int argc, char **argv);
int cmd_version(struct kvz_cli *cli);
struct kvz_opts;
/* kvz status --all (cmd/status_all.c). */
int kvz_status_all(struct kvz_cli *cli, const struct kvz_opts *o);
int cmd_import(struct kvz_cli *cli, const struct kvz_command *c, int argc, char **argv);
int cmd_doctor(struct kvz_cli *cli, const struct kvz_command *c, int argc, char **argv);

/* The i-th entry of the command table, or NULL past the last (for completion). */
const struct kvz_command *kvz_cli_command_at(size_t i);

/* kvz __complete WORD...: the candidates for the last WORD of a command line (cmd/complete.c). */
int cmd_complete(struct kvz_cli *cli, int argc, char **argv);

/* The command table entry for NAME, or NULL. */
const struct kvz_command *kvz_cli_command(const char *name);

/* Prints the help of `cmd` to stdout. */
void kvz_cli_print_help(const struct kvz_command *cmd);

/* A growable list of borrowed strings (argv entries): -f paths, targets, arguments. */
struct kvz_paths {
    const char **v;
    size_t n, cap;
};
int kvz_paths_add(struct kvz_paths *p, const char *path);
void kvz_paths_release(struct kvz_paths *p);

/* Output (cmd/output.c): the only place that writes to the terminal. */
void kvz_out_error(struct kvz_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kvz_out_warn(struct kvz_cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kvz_out_kvz_error(struct kvz_cli *cli, const struct kvz_error *e);
/* Prints every diagnostic to stderr, then "N errors" when there are any. */
void kvz_out_diags(struct kvz_cli *cli, const struct kvz_diags *d);

/* --json among argv (before "--"): errors and diagnostics from now on are also collected. */
void kvz_out_json_begin(struct kvz_cli *cli, int argc, char **argv);
/* With --json, a run that failed (rc KVZ_EXIT_ERROR) before printing its JSON prints
 * {"error": true, "diagnostics": [{file, line, column, severity, code, message}...]} on
 * stdout, so CI reads one format; returns rc. */
int kvz_out_json_end(struct kvz_cli *cli, int rc);

/* ANSI colour sequences, or "" when colour is off. */
const char *kvz_color(bool on, const char *seq);
#define KVZ_RED    "\033[31m"
#define KVZ_GREEN  "\033[32m"
#define KVZ_YELLOW "\033[33m"
#define KVZ_BOLD   "\033[1m"
#define KVZ_RESET  "\033[0m"

#endif
