/*
 * cmd_showconf.c - `wattprof showconf`: the effective configuration as an
 * INI file, every value followed by where it came from (docs/CONFIG.md);
 * --default: the built-in defaults only; --countries: the carbon-intensity
 * table that --country picks from.
 */
#include <getopt.h>
#include <stdio.h>

#include "wattprof/wattprof.h"
#include "cli.h"

static void print_countries(void)
{
	printf("%-5s %-5s %-40s %9s %5s  %s\n", "code", "", "country", "gCO2e/kWh", "year",
	       "source");
	for (size_t i = 0; i < wp_carbon_intensity_count(); i++) {
		const struct wp_carbon_intensity *ci = wp_carbon_intensity_at(i);
		printf("%-5s %-5s %-40s %9.2f %5d  %s\n", *ci->alpha2 ? ci->alpha2 : "WORLD",
		       ci->alpha3, ci->name, ci->g_per_kwh, ci->year, ci->source);
	}
}

int cmd_showconf(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "default", no_argument, NULL, 'D' },
		{ "countries", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *config = NULL;
	int c, defaults = 0, countries = 0;
	struct cli_config cfg;

	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			if (config) {
				cli_error("'-c' given twice ('%s' and '%s')", config, optarg);
				cli_hint("give one configuration file");
				return CLI_EXIT_USAGE;
			}
			config = optarg;
			break;
		case 'D':
			defaults = 1;
			break;
		case 'C':
			countries = 1;
			break;
		case 'h':
			cli_usage("showconf");
			return 0;
		default:
			return cli_bad_option("showconf", argv, c);
		}
	}
	if (optind < argc) {
		cli_error("unexpected argument '%s'", argv[optind]);
		cli_hint("'wattprof showconf --help' shows the usage");
		return CLI_EXIT_USAGE;
	}
	if (countries) {
		print_countries();
		return 0;
	}
	cli_config_init(&cfg);
	if (defaults ? cli_config_defaults(&cfg) < 0 : cli_config_load(&cfg, config) < 0) {
		cli_config_free(&cfg);
		return CLI_EXIT_FAILURE;
	}
	printf("; wattprof %s: the %s configuration\n", wp_version(),
	       defaults ? "built-in default" : "effective");
	if (!defaults)
		printf("; from the command line, WATTPROF_<KEY>, %s, the user's config.ini,\n"
		       "; then the defaults: each value says where it came from\n",
		       config ? config : "./" CLI_LOCAL_CONFIG);
	cli_config_print(stdout, &cfg);
	cli_config_free(&cfg);
	return fflush(stdout) == 0 ? 0 : CLI_EXIT_FAILURE;
}
