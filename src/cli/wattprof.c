/*
 * wattprof.c - the wattprof command: the table of subcommands (git's
 * commands[]), option-less entry points (--version, --help, help) and the
 * message helpers every subcommand uses.  Each subcommand lives in its own
 * cmd_<name>.c.
 */
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "wattprof/wattprof.h"
#include "cli.h"

static int cmd_help(int argc, char **argv);

static const struct cli_command commands[] = {
	{ "monitor", cmd_monitor, "run a command and report the energy it took",
	  "usage: wattprof monitor [options] [--] CMD [ARGS...]\n       wattprof monitor [options] --pid PID\n"
	  "\n"
	  "Runs CMD (without a shell), measures every energy domain from its start to\n"
	  "its exit, and writes a report.  The exit status is CMD's, or 128+N when\n"
	  "signal N killed it; 125 when wattprof itself fails, 126/127 when CMD\n"
	  "cannot be run or found.  SIGINT, SIGTERM and SIGHUP are passed on to CMD\n"
	  "and the report is still written.  When stderr is a terminal, a status line\n"
	  "shows the time elapsed, each domain's power and the energy so far, once a\n"
	  "second, and is erased before the report.\n"
	  "\n"
	  "options:\n"
	  "  -d, --domains LIST  comma-separated domains to measure (default: all but\n"
	  "                      GPUs hidden from CMD; 'wattprof list' shows them)\n"
	  "  -f, --frequency HZ  background sampling frequency (default 10; raised\n"
	  "                      where needed so that no counter wrap, and no change\n"
	  "                      of a GPU's power reading, is missed)\n"
	  "      --format FMT    report format: text, json, yaml, csv (the time\n"
	  "                      series, one row per sample) or html (a page with\n"
	  "                      charts) (default text)\n"
	  "      --series        put the time series in a json or yaml report\n"
	  "  -o, --output FILE   write the report to FILE ('-' for stdout) instead of\n"
	  "                      stderr, which keeps CMD's own stdout clean\n"
	  "      --rounds N      benchmark: run CMD N times and report the mean,\n"
	  "                      standard deviation, min and max of every figure\n"
	  "      --warmup-rounds K  run CMD K more times first, not counted\n"
	  "      --idle S        measure S seconds of idle first, and report the\n"
	  "                      energy above idle next to each figure\n"
	  "      --attribute     also report the part of each domain's energy that CMD\n"
	  "                      and all it starts are responsible for, and their\n"
	  "                      processes (give --idle too; docs/ATTRIBUTION.md)\n"
	  "      --pid PID       measure the running process PID and its children\n"
	  "                      instead of CMD, with attribution, until it ends\n"
	  "                      (SIGINT ends the measurement, not the process)\n"
	  "  -s, --source LIST   use only these sources, preferred in this order:\n"
	  "                      perf, powercap, msr, hwmon, nvml, amdgpu,\n"
	  "                      estimate (default: the real ones in that order; the\n"
	  "                      estimate only when none works)\n"
	  "      --tdp W         the estimate's CPU TDP per socket in watts (default:\n"
	  "                      from its table, else 6 W per core)\n"
	  "      --no-live       no live status line on the terminal (for a command\n"
	  "                      that draws on it: an editor, top)\n"
	  "  -c, --config FILE   read FILE instead of ./.wattprof.ini\n"
	  "  -h, --help          show this help\n"
	  "\n"
	  "What the energy means (the text report's last sentence; docs/CARBON.md):\n"
	  "      --pue X         the data centre's power usage effectiveness (default 1)\n"
	  "      --country CODE  ISO 3166 code whose grid carbon intensity to use\n"
	  "                      (default: the world average; showconf --countries)\n"
	  "      --emissions-factor G  gCO2e per kWh, instead of the country's\n"
	  "      --price-factor P, --price-unit U  the price of a kWh, for a cost\n"
	  "\n"
	  "The run is stored as it happens (description, samples every second,\n"
	  "report at the end) for 'wattprof runs', 'report' and 'export':\n"
	  "      --db WHERE      the run database: a file (SQLite) or a\n"
	  "                      postgresql://user@host/db URL (default:\n"
	  "                      " CLI_DEFAULT_DB ")\n"
	  "      --no-store      do not store the run\n"
	  "      --name NAME     the application or project, to compare its runs\n"
	  "      --tag KEY=VALUE a tag (repeatable)\n"
	  "      --package P, --algorithm A, --algorithm-params P, --data-shape S,\n"
	  "      --comment C     the run's description\n"
	  "      --data-type T   tabular, image, text, 'time series' or other\n"
	  "\n"
	  "Every option above but --rounds, --warmup-rounds and --tag can be set in\n"
	  "the configuration: WATTPROF_<KEY> in the environment, ./.wattprof.ini,\n"
	  "~/.config/wattprof/config.ini ('wattprof showconf' shows them all).\n"
	  "environment: WATTPROF_SYSFS_ROOT, WATTPROF_PROC_ROOT and\n"
	  "WATTPROF_DEV_ROOT stand for /sys, /proc and /dev; WATTPROF_NVML_LIB names\n"
	  "the NVML library to open; TERM=dumb turns the live line off.\n"
	  "NVIDIA GPUs that CUDA_VISIBLE_DEVICES hides, and AMD GPUs that\n"
	  "ROCR_VISIBLE_DEVICES or HIP_VISIBLE_DEVICES hide, are measured only when\n"
	  "named with -d.\n" },
	{ "list", cmd_list, "show the energy domains found, and why sources are missing",
	  "usage: wattprof list [options]\n"
	  "\n"
	  "Shows every energy domain found on this machine with its source, the file\n"
	  "it is read from and how soon its counter can wrap; then, for every source\n"
	  "(perf, powercap, msr, hwmon, nvml, amdgpu, estimate), what it found, what it\n"
	  "skipped, or why it gives nothing here and the exact fix.  GPUs show\n"
	  "their name, id and how their energy is obtained.\n"
	  "\n"
	  "options:\n"
	  "  -s, --source LIST  look only at these sources, as monitor does\n"
	  "      --tdp W        the estimate's CPU TDP per socket in watts\n"
	  "  -c, --config FILE  read FILE instead of ./.wattprof.ini\n"
	  "  -h, --help         show this help\n"
	  "\n"
	  "The [monitor] source and tdp_w settings apply as for monitor;\n"
	  "environment: WATTPROF_SYSFS_ROOT, WATTPROF_PROC_ROOT, WATTPROF_DEV_ROOT.\n" },
	{ "runs", cmd_runs, "list the stored runs, or summarise them by name",
	  "usage: wattprof runs [options]\n"
	  "\n"
	  "Lists the runs that 'wattprof monitor' stored, oldest first: id, date, name,\n"
	  "host, duration, the energy of the processors (CPU), memory (DRAM), GPUs and\n"
	  "the rest (OTHER: psys, system meters), the total in joules and kWh, and the\n"
	  "status: finished, running, or unfinished (its wattprof was killed or its\n"
	  "machine stopped; figures up to the last sample stored).\n"
	  "\n"
	  "options:\n"
	  "      --db WHERE     the run database: a file (SQLite) or a\n"
	  "                     postgresql://user@host/db URL (default: the\n"
	  "                     [storage] database setting, else\n"
	  "                     " CLI_DEFAULT_DB ")\n"
	  "  -c, --config FILE  read FILE instead of ./.wattprof.ini\n"
	  "      --name NAME    only the runs of this name\n"
	  "      --summary      one row per name: runs, and the mean and standard\n"
	  "                     deviation of duration and energy over its finished runs\n"
	  "      --format FMT   text, csv or json (default text)\n"
	  "  -h, --help         show this help\n" },
	{ "report", cmd_report, "show a stored run's report",
	  "usage: wattprof report [options] RUN_ID\n"
	  "\n"
	  "Writes the report of a stored run as 'wattprof monitor' wrote it, in any\n"
	  "format.  RUN_ID is a number from 'wattprof runs', or 'last'.  A run that\n"
	  "did not finish is shown up to its last stored sample, with a warning.\n"
	  "\n"
	  "options:\n"
	  "      --db WHERE     the run database (as for 'wattprof runs')\n"
	  "      --format FMT   text, json, yaml, csv or html (default text)\n"
	  "      --series       put the time series in a json or yaml report\n"
	  "  -o, --output FILE  write to FILE instead of stdout\n"
	  "  -c, --config FILE  read FILE instead of ./.wattprof.ini\n"
	  "  -h, --help         show this help\n"
	  "\n"
	  "The carbon figures are those the run was measured with.\n" },
	{ "export", cmd_export, "write stored runs to an HDF5, CSV or JSON file",
	  "usage: wattprof export [options] --format FMT -o FILE RUN_ID...\n"
	  "\n"
	  "Writes stored runs with every sample: hdf5 (one group per application,\n"
	  "run, node and device, the samples as datasets with their units; the\n"
	  "layout of perun's experiment files), csv (one row per sample, domain and\n"
	  "metric, the run id first) or json (each run's description and its report\n"
	  "with the series).  docs/STORAGE.md describes each.  RUN_ID is a number\n"
	  "from 'wattprof runs', 'last', or 'all'.\n"
	  "\n"
	  "options:\n"
	  "      --db WHERE     the run database (as for 'wattprof runs')\n"
	  "      --format FMT   hdf5, csv or json\n"
	  "  -o, --output FILE  the file to write ('-' for stdout, not for hdf5);\n"
	  "                     an existing file is replaced\n"
	  "  -c, --config FILE  read FILE instead of ./.wattprof.ini\n"
	  "  -h, --help         show this help\n" },
	{ "rm", cmd_rm, "remove stored runs",
	  "usage: wattprof rm [--db WHERE] [-c FILE] RUN_ID...\n"
	  "\n"
	  "Removes runs and everything stored with them from the run database.\n" },
	{ "showconf", cmd_showconf, "show the configuration and where each value comes from",
	  "usage: wattprof showconf [-c FILE] [--default | --countries]\n"
	  "\n"
	  "Prints the effective configuration as an INI file that wattprof can read\n"
	  "back, each value followed by where it came from: an option, WATTPROF_<KEY>\n"
	  "in the environment, FILE:LINE, or the default.  The order of priority:\n"
	  "the command line, the environment, ./.wattprof.ini (or -c FILE), then\n"
	  "$XDG_CONFIG_HOME/wattprof/config.ini (default ~/.config/wattprof/), then\n"
	  "the built-in defaults.  docs/CONFIG.md lists every key.\n"
	  "\n"
	  "options:\n"
	  "  -c, --config FILE  read FILE instead of ./.wattprof.ini\n"
	  "      --default      print the built-in defaults only\n"
	  "      --countries    print the carbon-intensity table that --country\n"
	  "                     and 'country' in [report] choose from, with the year\n"
	  "                     and source of every figure\n"
	  "  -h, --help         show this help\n" },
	{ "powercap", cmd_powercap, "show, set and reset power limits; find the best cap",
	  "usage: wattprof powercap show [--format text|json]\n"
	  "       wattprof powercap set (--gpu N | --package N [--constraint C]) WATTS\n"
	  "       wattprof powercap reset [--gpu N | --package N | --all]\n"
	  "       wattprof powercap profile (--gpu N | --package N) [options] -- CMD [ARGS...]\n"
	  "\n"
	  "The power limits of NVIDIA GPUs (NVML) and RAPL packages (powercap), and a\n"
	  "profiler that runs CMD once per cap and recommends the cap that minimises\n"
	  "an objective.  Changing a limit needs root.  Before wattprof first changes\n"
	  "a limit it records the original in a state file (WATTPROF_POWERCAP_STATE,\n"
	  "else /run/wattprof/powercap.state for root), so that 'reset' puts it back\n"
	  "even after wattprof was killed.  docs/POWERCAP.md tells the whole story.\n"
	  "\n"
	  "show      each limit: in force, default, range, time window; those wattprof\n"
	  "          changed, with their original\n"
	  "set       one limit (a package's long_term unless --constraint names another)\n"
	  "reset     the limits wattprof changed back to their originals; --gpu N,\n"
	  "          --package N or --all: to the originals, else to the defaults\n"
	  "          (NVML's; a package's rated power for long_term)\n"
	  "profile   CMD at K caps from 100 % of the default limit down to 30 %,\n"
	  "          energy and time measured at each; a smooth model of both against\n"
	  "          the cap; the cap (maybe between those tried) that minimises the\n"
	  "          objective, with its predicted saving and slowdown against the\n"
	  "          default.  The limit in force before is back at the end, whatever\n"
	  "          ends it (SIGINT, SIGTERM, SIGHUP, CMD failing).  The sweep is\n"
	  "          stored as a run, one region per cap.\n"
	  "\n"
	  "profile options:\n"
	  "      --caps K            caps to try, 1 to 64 (default 8)\n"
	  "      --objective O       ed2p (energy x time^2, the default), edp, energy,\n"
	  "                          time, or cost: eta x energy + (1 - eta) x max power\n"
	  "                          x time, as Zeus defines it\n"
	  "      --eta X             cost's weight of energy, 0 to 1 (default 0.5)\n"
	  "      --warmup-s S        measure from S seconds into each run\n"
	  "      --duration-s S      stop CMD S seconds after the warm-up (needs\n"
	  "                          --progress-regex): for a long training script\n"
	  "      --progress-regex RE CMD's output lines that mark progress: counted, or\n"
	  "                          with a group, its number read as a counter\n"
	  "                          ('step ([0-9]+)'); time and energy are then per unit\n"
	  "      --apply             set the recommended cap at the end ('reset' undoes it)\n"
	  "      --format FMT        text or json (default text)\n"
	  "      --db WHERE          the run database (default: the configured one)\n"
	  "  -c, --config FILE       read FILE instead of ./.wattprof.ini\n"
	  "\n"
	  "CMD's output goes to stderr; stdout carries the result only.\n" },
	{ "exec", cmd_exec, "run a program with MPI jobs measured once per node",
	  "usage: wattprof exec [--] CMD [ARGS...]\n"
	  "\n"
	  "Runs CMD with libwattprof-mpi preloaded: for each rank of an MPI job,\n"
	  "\n"
	  "    mpirun -np 8 wattprof exec ./app\n"
	  "\n"
	  "The lowest rank of each node measures the node, storing its samples on the\n"
	  "node as it goes (WATTPROF_MPI_DIR, default ./wattprof_results/mpi/); at\n"
	  "MPI_Finalize rank 0 stores one run for the job, every node counted once\n"
	  "(WATTPROF_DATABASE, default " CLI_DEFAULT_DB "), with Slurm's job id,\n"
	  "step and node list when they are set.  WATTPROF_NODE_NAME overrides a\n"
	  "rank's node name.  A job that aborts keeps what each node stored, marked\n"
	  "unfinished.  docs/MPI.md tells the whole story.\n" },
	{ "help", cmd_help, "show help for wattprof or one of its commands",
	  "usage: wattprof help [COMMAND]\n" },
};

#define NCOMMANDS (sizeof commands / sizeof *commands)

static void vmsg(const char *prefix, const char *fmt, va_list ap)
{
	fprintf(stderr, "%s: ", prefix);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

int cli_find_file(const char *env, const char *name, const char *installed, char *buf,
                  size_t cap)
{
	char exe[PATH_MAX], *slash;
	const char *given = env ? getenv(env) : NULL;
	ssize_t n;

	if (given && *given) {
		snprintf(buf, cap, "%s", given);
		return access(buf, R_OK) == 0 ? 0 : -1;
	}
	snprintf(buf, cap, "%s", name);
	n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (n <= 0)
		return -1;
	exe[n] = '\0';
	if (!(slash = strrchr(exe, '/')))
		return -1;
	*slash = '\0';
	snprintf(buf, cap, "%s/%s", exe, name);
	if (access(buf, R_OK) == 0)
		return 0;
	snprintf(buf, cap, "%s/../lib/%s", exe, installed);
	return access(buf, R_OK) == 0 ? 0 : -1;
}

void cli_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("error", fmt, ap);
	va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("warning", fmt, ap);
	va_end(ap);
}

void cli_hint(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vmsg("hint", fmt, ap);
	va_end(ap);
}

const char *cli_option_name(char **argv, int opt)
{
	static char shortopt[3];
	if (opt > 0 && opt < 256) {
		snprintf(shortopt, sizeof shortopt, "-%c", opt);
		return shortopt;
	}
	return argv[optind - 1];
}

int cli_bad_option(const char *cmd, char **argv, int c)
{
	if (c == ':')
		cli_error("option '%s' needs a value", cli_option_name(argv, optopt));
	else
		cli_error("unknown option '%s'", cli_option_name(argv, optopt));
	cli_hint("'wattprof %s --help' lists the options", cmd);
	return CLI_EXIT_USAGE;
}

static const struct cli_command *find_command(const char *name)
{
	for (size_t i = 0; name && i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

void cli_usage(const char *name)
{
	const struct cli_command *c = find_command(name);
	if (c)
		fputs(c->usage, stdout);
}

static void main_usage(FILE *f)
{
	fputs("usage: wattprof [--version] [--help] COMMAND [ARGS...]\n"
	      "\n"
	      "Measures the energy, power and carbon footprint of code.\n"
	      "\n"
	      "commands:\n",
	      f);
	for (size_t i = 0; i < NCOMMANDS; i++)
		fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
	fputs("\n'wattprof help COMMAND' or 'wattprof COMMAND --help' shows a command's "
	      "options.\n",
	      f);
}

static int cmd_help(int argc, char **argv)
{
	if (argc < 2) {
		main_usage(stdout);
		return 0;
	}
	if (!find_command(argv[1])) {
		cli_error("unknown command '%s'", argv[1]);
		cli_hint("'wattprof help' lists the commands");
		return CLI_EXIT_USAGE;
	}
	cli_usage(argv[1]);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		main_usage(stderr);
		return CLI_EXIT_USAGE;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
		printf("wattprof %s\n", wp_version());
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		main_usage(stdout);
		return 0;
	}
	const struct cli_command *c = find_command(argv[1]);
	if (!c) {
		cli_error("unknown command '%s'", argv[1]);
		cli_hint("'wattprof help' lists the commands");
		return CLI_EXIT_USAGE;
	}
	return c->run(argc - 1, argv + 1);
}
