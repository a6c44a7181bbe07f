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

int cmd_monitor(int argc, char **argv);
int cmd_list(int argc, char **argv);

#endif
