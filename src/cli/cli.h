/*
 * cli.h - what the subcommands of the wattprof command share: the command
 * table's entry type and git-style messages.  Only the CLI prints.
 */
#ifndef WATTPROF_CLI_H
#define WATTPROF_CLI_H

struct cli_command {
	const char *name;
	int (*run)(int argc, char **argv); /* argv[0] is the command's name */
	const char *summary;
	const char *usage; /* the full --help text */
};

/* Exit status of a wattprof failure in a command that otherwise passes on
 * its child's status (GNU env and timeout use the same). */
#define CLI_EXIT_FAILURE 125
#define CLI_EXIT_USAGE 2

/* "error: <message>" on stderr; lower case, no full stop, subjects quoted. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "warning: <message>" on stderr. */
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "hint: <what to do>" on stderr, after an error. */
void cli_hint(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Prints a command's --help text to stdout. */
void cli_usage(const char *name);

struct wp_host;
struct wp_report;

/* --source LIST: checks every name; prints the error.  0 or -EINVAL. */
int cli_parse_sources(const char *list, const char **out);
/* --tdp W: a positive number of watts; prints the error.  0 or -EINVAL. */
int cli_parse_tdp(const char *s, double *out);
/* Opens the host with these sources (NULL: the default) and TDP (0: the
 * default); prints the error.  Returns wp_host_open's code. */
int cli_open_host(struct wp_host **host, const char *sources, double tdp_w);
/* Repeats in a report what it must say about sources: disagreements found at
 * start, and that figures are estimates and why.  0 or -ENOMEM. */
int cli_report_source_notes(struct wp_report *r, const struct wp_host *host,
                            const char *sources);

int cmd_monitor(int argc, char **argv);
int cmd_list(int argc, char **argv);

#endif
