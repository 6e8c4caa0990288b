#ifndef KVZ_CMD_CLI_H
#define KVZ_CMD_CLI_H

#include <stdbool.h>
#include <stddef.h>

struct kvz_diags;
struct kvz_error;

/* Global options, parsed by cmd/main.c before the subcommand runs. */
struct kvz_cli {
    const char *state_dir;      /* --state-dir, $KVZ_STATE_DIR, /var/lib/kvz */
    const char *containers_uri; /* --containers-uri, or NULL: the manifest's */
    const char *vms_uri;        /* --vms-uri, or NULL: the manifest's */
    bool color;                 /* stdout is a terminal and neither --no-color nor NO_COLOR */
    bool color_err;             /* the same for stderr */
    int verbosity;              /* -1 with -q, 0, 1 with -v */
};

struct kvz_command {
    const char *name;
    int (*fn)(struct kvz_cli *cli, int argc, char **argv); /* argv[0] is the command name */
    const char *usage;   /* one line: "kvz validate [-f PATH]..." */
    const char *summary; /* one line for `kvz help` */
    const char *help;    /* the options, for `kvz help COMMAND` and `kvz COMMAND --help` */
};

/* Exit statuses (SPEC.md section 2). */
enum { KVZ_EXIT_OK = 0, KVZ_EXIT_ERROR = 1, KVZ_EXIT_CHANGES = 2 };

int cmd_validate(struct kvz_cli *cli, int argc, char **argv);
int cmd_plan(struct kvz_cli *cli, int argc, char **argv);
int cmd_apply(struct kvz_cli *cli, int argc, char **argv);
int cmd_destroy(struct kvz_cli *cli, int argc, char **argv);
int cmd_status(struct kvz_cli *cli, int argc, char **argv);
int cmd_templates(struct kvz_cli *cli, int argc, char **argv);
int cmd_doctor(struct kvz_cli *cli, int argc, char **argv);

/* The command table entry for NAME, or NULL. */
const struct kvz_command *kvz_cli_command(const char *name);

/* Prints the help of `cmd` to stdout. */
void kvz_cli_print_help(const struct kvz_command *cmd);

/*
 * Shared option parsing for the manifest commands: handles -f PATH (repeatable),
 * --help. Subcommands use getopt_long themselves for the rest; this is the
 * helper for collecting -f values.
 */
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
/* "not implemented yet" for commands a later release brings; returns 1. */
int kvz_out_not_implemented(struct kvz_cli *cli, const char *command);

/* ANSI colour sequences, or "" when colour is off. */
const char *kvz_color(bool on, const char *seq);
#define KVZ_RED    "\033[31m"
#define KVZ_GREEN  "\033[32m"
#define KVZ_YELLOW "\033[33m"
#define KVZ_BOLD   "\033[1m"
#define KVZ_RESET  "\033[0m"

#endif
