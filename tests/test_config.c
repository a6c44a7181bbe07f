/*
 * test_config.c - the layered configuration through the real wattprof
 * binary (docs/CONFIG.md): every level of the order of priority against
 * the next, shown by `showconf` (the value and where it came from) and by
 * what `monitor` then does; and every kind of bad configuration, which must
 * stop the command before it runs, with an error naming the file, the line
 * and the key.
 *
 * Each test works in a fresh folder (the local ./.wattprof.ini) and gives
 * wattprof a fresh XDG_CONFIG_HOME (the user's file); the runner already
 * removes the shell's WATTPROF_<KEY> variables.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "sim.h"
#include "test.h"

static const struct sim_zone steady[] = {
	{ "intel-rapl:0", "package-0", 262143328850, 20, 0, 0, 0, 0 },
};

/* A folder with a user config home beside it; the test chdirs into it. */
struct place {
	char dir[512];
	char local[600];     /* dir/.wattprof.ini */
	char xdg[600];       /* dir/xdg */
	char user[700];      /* dir/xdg/wattprof/config.ini */
	char xdg_env[620];   /* "XDG_CONFIG_HOME=dir/xdg" */
};

static void place_open(struct place *p)
{
	char sub[640];
	test_tmpdir(p->dir, sizeof p->dir);
	snprintf(p->local, sizeof p->local, "%s/.wattprof.ini", p->dir);
	snprintf(p->xdg, sizeof p->xdg, "%s/xdg", p->dir);
	snprintf(sub, sizeof sub, "%s/wattprof", p->xdg);
	test_mkdirs(sub);
	snprintf(p->user, sizeof p->user, "%s/config.ini", sub);
	snprintf(p->xdg_env, sizeof p->xdg_env, "XDG_CONFIG_HOME=%s", p->xdg);
	ASSERT_EQ(chdir(p->dir), 0);
}

/* The line of `showconf` output for key (must be there). */
static char *conf_line(const char *out, const char *key)
{
	char want[64];
	snprintf(want, sizeof want, "\n%s = ", key);
	const char *at = strstr(out, want);
	if (!at)
		TEST_FAIL_("showconf printed no '%s = ' line:\n%s", key, out);
	at++;
	return strndup(at, strcspn(at, "\n"));
}

/* showconf's line for key holds the value and the origin. */
static void assert_conf(const struct cli_run *r, const char *key, const char *value,
                        const char *origin)
{
	char *line = conf_line(r->out, key), want[256];
	snprintf(want, sizeof want, "%s = %s ", key, value);
	if (strncmp(line, want, strlen(want)) != 0)
		TEST_FAIL_("'%s': expected value '%s', got the line '%s'", key, value, line);
	const char *semi = strrchr(line, ';');
	if (!semi || strcmp(semi + 2, origin) != 0)
		TEST_FAIL_("'%s': expected origin '%s', got the line '%s'", key, origin, line);
	free(line);
}

static void showconf(struct cli_run *r, const char *const env[], const char *config)
{
	if (config)
		cli_runl(r, NULL, env, "showconf", "-c", config, NULL);
	else
		cli_runl(r, NULL, env, "showconf", NULL);
	if (r->status != 0)
		TEST_FAIL_("showconf exited with %d:\n%s", r->status, r->err);
}

/* ---------------------------------------------------- the priority order */

TEST(config_priority_each_level_over_the_next)
{
	struct place p;
	struct cli_run r;
	char origin[800], env_home[620];
	place_open(&p);
	const char *const env[] = { p.xdg_env, NULL };

	/* 1. Defaults alone. */
	showconf(&r, env, NULL);
	assert_conf(&r, "format", "text", "default");
	assert_conf(&r, "pue", "1.0", "default");
	ASSERT_HAS(r.out, ";country = ");
	cli_run_free(&r);

	/* 2. The user's file over the defaults. */
	test_spit(p.user, "; mine\n[monitor]\nformat = json\nfrequency = 50\n[report]\npue = 1.2\n"
	                  "country = FR\n");
	showconf(&r, env, NULL);
	snprintf(origin, sizeof origin, "%s:3", p.user);
	assert_conf(&r, "format", "json", origin);
	snprintf(origin, sizeof origin, "%s:6", p.user);
	assert_conf(&r, "pue", "1.2", origin);
	assert_conf(&r, "live", "yes", "default");
	cli_run_free(&r);
	/* Without XDG_CONFIG_HOME (or with a relative one, which the XDG
	 * specification says to ignore): ~/.config/wattprof/config.ini. */
	snprintf(env_home, sizeof env_home, "HOME=%s/home", p.dir);
	snprintf(origin, sizeof origin, "%s/home/.config/wattprof", p.dir);
	test_mkdirs(origin);
	strcat(origin, "/config.ini");
	test_spit(origin, "[monitor]\nformat = csv\n");
	const char *const home[] = { env_home, "XDG_CONFIG_HOME", NULL };
	const char *const relative[] = { env_home, "XDG_CONFIG_HOME=xdg", NULL };
	for (int i = 0; i < 2; i++) {
		showconf(&r, i ? relative : home, NULL);
		strcat(origin, ":2");
		assert_conf(&r, "format", "csv", origin);
		origin[strlen(origin) - 2] = '\0';
		cli_run_free(&r);
	}

	/* 3. The local file over the user's. */
	test_spit(p.local, "[monitor]\nformat = yaml\n");
	showconf(&r, env, NULL);
	assert_conf(&r, "format", "yaml", ".wattprof.ini:2");
	snprintf(origin, sizeof origin, "%s:4", p.user);
	assert_conf(&r, "frequency", "50", origin); /* only the user's file sets it */
	cli_run_free(&r);

	/* -c FILE replaces the local file: what only the local file set is
	 * not taken, and the user's file still is. */
	test_spit("other.ini", "[report]\ncountry = DE\n");
	showconf(&r, env, "other.ini");
	assert_conf(&r, "country", "DE", "other.ini:2");
	snprintf(origin, sizeof origin, "%s:3", p.user);
	assert_conf(&r, "format", "json", origin);
	cli_run_free(&r);

	/* 4. The environment over the local file. */
	const char *const with_env[] = { p.xdg_env, "WATTPROF_FORMAT=html", "WATTPROF_PUE=1.7",
		                         NULL };
	showconf(&r, with_env, NULL);
	assert_conf(&r, "format", "html", "WATTPROF_FORMAT");
	assert_conf(&r, "pue", "1.7", "WATTPROF_PUE");
	cli_run_free(&r);

	/* 5. The command line over the environment, seen in what monitor
	 * writes: --format json although WATTPROF_FORMAT says html. */
	struct sim s;
	sim_create(&s, steady, 1);
	cli_runl(&r, s.root, with_env, "monitor", "--no-store", "--format", "json", "--", "true",
	         NULL);
	ASSERT_EQ(r.status, 0);
	struct json *j = json_must_parse(r.err);
	ASSERT(json_member(j, "domains") != NULL);
	json_free(j);
	cli_run_free(&r);
	/* ...and, without the option, the environment's html is what it does. */
	cli_runl(&r, s.root, with_env, "monitor", "--no-store", "--", "true", NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_HAS(r.err, "<!DOCTYPE html>");
	cli_run_free(&r);
	/* ...the local file's yaml without the variable... */
	cli_runl(&r, s.root, env, "monitor", "--no-store", "--", "true", NULL);
	ASSERT_EQ(r.status, 0);
	ASSERT_HAS(r.err, "domains:");
	cli_run_free(&r);
	/* ...and the user file's json under -c with a file that has no format. */
	cli_runl(&r, s.root, env, "monitor", "--no-store", "-c", "other.ini", "--", "true", NULL);
	ASSERT_EQ(r.status, 0);
	j = json_must_parse(r.err);
	json_free(j);
	cli_run_free(&r);
	sim_destroy(&s);

	/* --default: the defaults whatever the files and variables say. */
	cli_runl(&r, NULL, with_env, "showconf", "--default", NULL);
	ASSERT_EQ(r.status, 0);
	assert_conf(&r, "format", "text", "default");
	assert_conf(&r, "frequency", "10", "default");
	ASSERT_LACKS(r.out, "WATTPROF_");
	cli_run_free(&r);
	return TEST_OK;
}

/* showconf's output is an INI file wattprof reads back to the same values. */
TEST(config_showconf_reads_back)
{
	struct place p;
	struct cli_run r;
	place_open(&p);
	const char *const env[] = { p.xdg_env, "WATTPROF_DOMAINS=package_0,dram_0", NULL };
	test_spit(p.local, "[run]\nname = my project\ndata_type = time series\n[storage]\n"
	                   "store = off\n[report]\nprice_factor = 0.25\nprice_unit = EUR\n");
	showconf(&r, env, NULL);
	char *first = strdup(r.out);
	cli_run_free(&r);
	test_spit("again.ini", first);
	const char *const bare[] = { p.xdg_env, NULL };
	unlink(p.local);
	showconf(&r, bare, "again.ini");
	/* Every value the same; only the origins (now again.ini:N) differ. */
	static const char *const keys[] = { "domains", "name", "data_type", "store",
		                            "price_factor", "price_unit", "format", "pue" };
	for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
		char *a = conf_line(first, keys[i]), *b = conf_line(r.out, keys[i]);
		*strrchr(a, ';') = '\0';
		*strrchr(b, ';') = '\0';
		ASSERT_STR(a, b);
		free(a);
		free(b);
	}
	/* The origin names the line of again.ini that holds the key. */
	char origin[64], *at = strstr(first, "\nname = ");
	int line = 2;
	ASSERT(at != NULL);
	for (const char *c = first; c < at; c++)
		line += *c == '\n';
	snprintf(origin, sizeof origin, "again.ini:%d", line);
	assert_conf(&r, "name", "my project", origin);
	free(first);
	cli_run_free(&r);
	return TEST_OK;
}

/* The [storage] and [run] settings reach the stored run. */
TEST(config_storage_and_run_sections)
{
	struct place p;
	struct cli_run r;
	struct sim s;
	place_open(&p);
	sim_create(&s, steady, 1);
	const char *const env[] = { p.xdg_env, "WATTPROF_DATABASE", NULL };
	test_spit(p.user, "[storage]\ndatabase = from-user.db\n");
	test_spit(p.local, "[run]\nname = configured\ncomment = from the file\n");
	cli_runl(&r, s.root, env, "monitor", "--", "true", NULL);
	ASSERT_EQ(r.status, 0);
	cli_run_free(&r);
	struct stat st;
	ASSERT_EQ(stat("from-user.db", &st), 0);
	cli_runl(&r, NULL, env, "runs", "--format", "json", NULL);
	ASSERT_EQ(r.status, 0);
	struct json *j = json_must_parse(r.out);
	ASSERT_EQ(j->n, 1);
	ASSERT_STR(json_member(&j->items[0], "name")->str, "configured");
	json_free(j);
	cli_run_free(&r);
	/* store = no in the environment: not stored; --db on the command line
	 * is above it and stores. */
	const char *const off[] = { p.xdg_env, "WATTPROF_DATABASE", "WATTPROF_STORE=no", NULL };
	cli_runl(&r, s.root, off, "monitor", "--", "true", NULL);
	ASSERT_EQ(r.status, 0);
	cli_run_free(&r);
	cli_runl(&r, s.root, off, "monitor", "--db", "named.db", "--", "true", NULL);
	ASSERT_EQ(r.status, 0);
	cli_run_free(&r);
	ASSERT_EQ(stat("named.db", &st), 0);
	cli_runl(&r, NULL, env, "runs", "--format", "json", NULL);
	j = json_must_parse(r.out);
	ASSERT_EQ(j->n, 1); /* still the one run */
	json_free(j);
	cli_run_free(&r);
	sim_destroy(&s);
	return TEST_OK;
}

/* ---------------------------------------------------- bad configuration */

TEST(config_bad_files_name_file_line_and_key)
{
	struct place p;
	struct cli_run r;
	struct sim s;
	place_open(&p);
	sim_create(&s, steady, 1);
	/* No database from the runner's variable: a file's own must count. */
	const char *const env[] = { p.xdg_env, "WATTPROF_DATABASE", NULL };
	char longline[400];
	snprintf(longline, sizeof longline, "[run]\ncomment = %0300d\n", 7);
	const struct {
		const char *text;
		const char *error, *hint;
	} cases[] = {
		{ "[monitor]\nfrequncy = 3\n", "line 2: unknown key 'frequncy' in [monitor]",
		  "the keys of [monitor] are: frequency, " },
		{ "[monitr]\nformat = json\n", "line 1: unknown section [monitr]",
		  "[monitor], [run], [report] and [storage]" },
		{ "[monitor]\nfrequency = fast\n",
		  "line 2: 'frequency' in [monitor]: invalid sampling frequency 'fast'",
		  "above 0 and at most" },
		{ "[monitor]\n\nformat = xml\n",
		  "line 3: 'format' in [monitor]: invalid report format 'xml'", "text, json" },
		{ "[report]\npue = 0.9\n", "line 2: 'pue' in [report]: invalid PUE '0.9'",
		  "from 1" },
		{ "[report]\ncountry = Atlantis\n",
		  "line 2: 'country' in [report]: invalid country 'Atlantis'", "alpha-2" },
		{ "[report]\nemissions_factor = -5\n",
		  "line 2: 'emissions_factor' in [report]: invalid emissions factor '-5'",
		  "from 0 to 1000000" },
		{ "[monitor]\nlive = maybe\n", "line 2: 'live' in [monitor]: invalid yes/no value "
		  "'maybe'", "yes or no" },
		{ "[run]\ndata_type = video\n", "line 2: 'data_type' in [run]: invalid data type",
		  "tabular" },
		{ "[monitor]\nformat =\n", "line 2: 'format' in [monitor]: empty report format",
		  NULL },
		{ "[monitor]\nformat = json\nformat = yaml\n",
		  "line 3: 'format' in [monitor] is given twice (line 2 and here)", NULL },
		{ "format = json\n", "line 1: 'format' is outside a section", "put it under" },
		{ "[monitor]\nformat json\n", "line 2: not 'key = value', a [section] or a comment",
		  NULL },
		{ "[monitor\nformat = json\n", "line 1: a section header without its ']'", NULL },
		{ "[monitor]\nformat = json\n  frequency = 5\n",
		  "line 3: an indented line: a value must be on one line", NULL },
		{ longline, "line 2: longer than 198 characters", NULL },
		{ "[run]\rname = a\r", "line 1: a carriage return inside the line", "LF or CRLF" },
		{ "[run] name = a\n", "line 1: text after the section header: 'name = a'",
		  "stands alone" },
		{ "[monitor]\ndomains = package_0, dram_0\n",
		  "line 2: 'domains' in [monitor]: invalid domain list 'package_0, dram_0': a space",
		  "no spaces" },
		{ "[storage]\ndatabase = x.db\nstore = no\n", "contradict each other",
		  "keep one" },
		{ "[report]\nprice_factor = 0.3\n", "a price factor is set", "price_unit" },
	};
	char marker[700];
	snprintf(marker, sizeof marker, "%s/ran", p.dir);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		/* In the local file, the user's file and a -c file alike. */
		for (int where = 0; where < 3; where++) {
			const char *path = where == 0 ? p.local : where == 1 ? p.user : "given.ini";
			unlink(p.local);
			unlink(p.user);
			test_spit(path, cases[i].text);
			if (where == 2)
				cli_runl(&r, s.root, env, "monitor", "-c", "given.ini", "--", "touch",
				         marker, NULL);
			else
				cli_runl(&r, s.root, env, "monitor", "--", "touch", marker, NULL);
			if (r.status != 125 || access(marker, F_OK) == 0)
				TEST_FAIL_("case %zu in %s: exit %d (want 125), command %s:\n%s", i,
				           path, r.status, access(marker, F_OK) ? "not run" : "run",
				           r.err);
			char want[900];
			snprintf(want, sizeof want, "error: '%s' %s",
			         where == 0 ? ".wattprof.ini" : path, cases[i].error);
			if (!strncmp(cases[i].error, "a price", 7) || /* not of one line */
			    !strncmp(cases[i].error, "contradict", 10))
				snprintf(want, sizeof want, "%s", cases[i].error);
			ASSERT_HAS(r.err, want);
			if (cases[i].hint)
				ASSERT_HAS(r.err, cases[i].hint);
			/* The same error from showconf, which reads the same files. */
			cli_run_free(&r);
			if (where == 2)
				cli_runl(&r, NULL, env, "showconf", "-c", "given.ini", NULL);
			else
				cli_runl(&r, NULL, env, "showconf", NULL);
			ASSERT(r.status != 0);
			ASSERT_HAS(r.err, want);
			cli_run_free(&r);
			unlink(path);
		}
	}
	sim_destroy(&s);
	return TEST_OK;
}

TEST(config_bad_files_that_cannot_be_read)
{
	struct place p;
	struct cli_run r;
	place_open(&p);
	const char *const env[] = { p.xdg_env, NULL };

	/* -c names a file that is not there: an error (a missing local or
	 * user file is no error: nothing was asked for). */
	cli_runl(&r, NULL, env, "showconf", "-c", "missing.ini", NULL);
	ASSERT(r.status != 0);
	ASSERT_HAS(r.err, "error: cannot read the configuration file 'missing.ini'");
	ASSERT_HAS(r.err, "-c/--config");
	cli_run_free(&r);
	cli_runl(&r, NULL, env, "showconf", NULL);
	ASSERT_EQ(r.status, 0);
	cli_run_free(&r);

	/* A folder where the file should be. */
	test_mkdirs(p.local);
	cli_runl(&r, NULL, env, "showconf", NULL);
	ASSERT(r.status != 0);
	ASSERT_HAS(r.err, "error: cannot read the configuration file '.wattprof.ini': it is a "
	                  "folder");
	cli_run_free(&r);
	rmdir(p.local);

	/* Not a regular file: a device (which could be endless). */
	cli_runl(&r, NULL, env, "showconf", "-c", "/dev/zero", NULL);
	ASSERT(r.status != 0);
	ASSERT_HAS(r.err, "error: cannot read the configuration file '/dev/zero': not a regular "
	                  "file");
	cli_run_free(&r);

	/* A binary file. */
	FILE *f = fopen(p.local, "w");
	ASSERT(f != NULL);
	fwrite("[monitor]\nformat = json\0\x01\x02\n", 1, 27, f);
	fclose(f);
	cli_runl(&r, NULL, env, "showconf", NULL);
	ASSERT(r.status != 0);
	ASSERT_HAS(r.err, "error: '.wattprof.ini' line 2: holds a NUL byte");
	cli_run_free(&r);
	unlink(p.local);

	/* Unreadable: only a user other than root is refused. */
	if (geteuid() != 0) {
		test_spit(p.user, "[monitor]\nformat = json\n");
		ASSERT_EQ(chmod(p.user, 0), 0);
		cli_runl(&r, NULL, env, "showconf", NULL);
		ASSERT(r.status != 0);
		ASSERT_HAS(r.err, "error: cannot read the configuration file");
		ASSERT_HAS(r.err, "config.ini");
		cli_run_free(&r);
	} else {
		fprintf(stderr, "  note: running as root, who reads a mode 000 file: the "
		                "unreadable file's case is not checked\n");
	}

	/* A line of exactly 198 characters is read, with CRLF too; a FIFO is
	 * refused without being opened (which would wait for a writer). */
	char line[260];
	snprintf(line, sizeof line, "[run]\r\ncomment = %0188d\r\n", 1);
	ASSERT_EQ(strlen(strchr(line, 'c')) - 2, 198);
	test_spit(p.local, line);
	cli_runl(&r, NULL, env, "showconf", NULL);
	ASSERT_EQ(r.status, 0);
	cli_run_free(&r);
	unlink(p.local);
	ASSERT_EQ(mkfifo("fifo.ini", 0600), 0);
	cli_runl(&r, NULL, env, "showconf", "-c", "fifo.ini", NULL);
	ASSERT(r.status != 0);
	ASSERT_HAS(r.err, "'fifo.ini': not a regular file");
	cli_run_free(&r);
	/* A local file that is a link to nothing: not taken for absent. */
	ASSERT_EQ(symlink("gone.ini", p.local), 0);
	cli_runl(&r, NULL, env, "showconf", NULL);
	ASSERT(r.status != 0);
	ASSERT_HAS(r.err, "'.wattprof.ini': a link to nothing");
	cli_run_free(&r);
	unlink(p.local);
	/* -c twice: which one was meant? */
	cli_runl(&r, NULL, env, "showconf", "-c", "a.ini", "-c", "b.ini", NULL);
	ASSERT_EQ(r.status, 2);
	ASSERT_HAS(r.err, "error: '-c' given twice ('a.ini' and 'b.ini')");
	cli_run_free(&r);

	/* A UTF-8 byte order mark and CRLF line ends are read. */
	test_spit(p.local, "\xEF\xBB\xBF[monitor]\r\nformat = csv\r\n; note\r\n");
	cli_runl(&r, NULL, env, "showconf", NULL);
	ASSERT_EQ(r.status, 0);
	assert_conf(&r, "format", "csv", ".wattprof.ini:2");
	cli_run_free(&r);
	return TEST_OK;
}

TEST(config_bad_environment_and_options)
{
	struct place p;
	struct cli_run r;
	struct sim s;
	place_open(&p);
	sim_create(&s, steady, 1);
	static const struct {
		const char *env, *error;
	} cases[] = {
		{ "WATTPROF_FREQUENCY=0", "error: WATTPROF_FREQUENCY: invalid sampling frequency '0'" },
		{ "WATTPROF_FORMAT=xml", "error: WATTPROF_FORMAT: invalid report format 'xml'" },
		{ "WATTPROF_STORE=perhaps", "error: WATTPROF_STORE: invalid yes/no value 'perhaps'" },
		{ "WATTPROF_COUNTRY=ZZ", "error: WATTPROF_COUNTRY: invalid country 'ZZ'" },
		{ "WATTPROF_PRICE_UNIT=", "error: WATTPROF_PRICE_UNIT: empty price unit" },
		{ "WATTPROF_SOURCE=rapl", "error: WATTPROF_SOURCE: invalid source list 'rapl'" },
		{ "WATTPROF_PUE=nan", "error: WATTPROF_PUE: invalid PUE 'nan'" },
	};
	/* The variables renamed since the first builds are refused, not ignored. */
	static const char *const renamed[][2] = {
		{ "WATTPROF_DB=x.db", "WATTPROF_DATABASE" },
		{ "WATTPROF_NO_STORE=1", "WATTPROF_STORE=no" },
		{ "WATTPROF_NO_LIVE=1", "WATTPROF_LIVE=no" },
	};
	char marker[700];
	snprintf(marker, sizeof marker, "%s/ran", p.dir);
	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		const char *const env[] = { p.xdg_env, cases[i].env, NULL };
		cli_runl(&r, s.root, env, "monitor", "--", "touch", marker, NULL);
		if (r.status != 125 || access(marker, F_OK) == 0)
			TEST_FAIL_("%s: exit %d (want 125), command %s:\n%s", cases[i].env, r.status,
			           access(marker, F_OK) ? "not run" : "run", r.err);
		ASSERT_HAS(r.err, cases[i].error);
		char unset[80];
		snprintf(unset, sizeof unset, "or unset %.*s", (int)strcspn(cases[i].env, "="),
		         cases[i].env);
		ASSERT_HAS(r.err, unset);
		cli_run_free(&r);
	}
	for (size_t i = 0; i < sizeof renamed / sizeof *renamed; i++) {
		const char *const env[] = { p.xdg_env, renamed[i][0], NULL };
		cli_runl(&r, s.root, env, "monitor", "--", "touch", marker, NULL);
		ASSERT_EQ(r.status, 125);
		ASSERT(access(marker, F_OK) != 0);
		char want[80];
		snprintf(want, sizeof want, "error: %.*s is no longer read",
		         (int)strcspn(renamed[i][0], "="), renamed[i][0]);
		ASSERT_HAS(r.err, want);
		ASSERT_HAS(r.err, renamed[i][1]);
		cli_run_free(&r);
	}
	/* The new options are checked as the old ones are. */
	static const char *const opts[][3] = {
		{ "--pue", "0", "error: invalid PUE '0'" },
		{ "--country", "XX", "error: invalid country 'XX'" },
		{ "--emissions-factor", "lots", "error: invalid emissions factor 'lots'" },
		{ "--price-factor", "-1", "error: invalid price factor '-1'" },
		{ "--price-unit", "euro cents", "error: invalid price unit 'euro cents'" },
	};
	const char *const env[] = { p.xdg_env, NULL };
	for (size_t i = 0; i < sizeof opts / sizeof *opts; i++) {
		cli_runl(&r, s.root, env, "monitor", opts[i][0], opts[i][1], "--", "touch", marker,
		         NULL);
		ASSERT_EQ(r.status, 125);
		ASSERT(access(marker, F_OK) != 0);
		ASSERT_HAS(r.err, opts[i][2]);
		cli_run_free(&r);
	}
	/* A price without its unit, even when each is given at its level. */
	cli_runl(&r, s.root, env, "monitor", "--price-factor", "0.3", "--", "true", NULL);
	ASSERT_EQ(r.status, 125);
	ASSERT_HAS(r.err, "error: a price factor is set (--price-factor) but no price unit");
	cli_run_free(&r);
	test_spit(p.local, "[report]\nprice_unit = USD\n");
	cli_runl(&r, s.root, env, "monitor", "--no-store", "--price-factor", "0.3", "--", "true",
	         NULL);
	ASSERT_EQ(r.status, 0);
	cli_run_free(&r);
	sim_destroy(&s);
	return TEST_OK;
}

/*
 * The [report] settings, from three levels at once, reach the report and
 * the stored run: the figures against values computed by hand from the
 * table's row for France (84.88 gCO2e/kWh, Ember 2022).
 */
TEST(config_carbon_reaches_report_and_runs)
{
	struct place p;
	struct cli_run r;
	struct sim s;
	place_open(&p);
	sim_create(&s, steady, 1);
	sim_start(&s, 1000000); /* the counter moves: energy above 0 */
	test_spit(p.local, "[report]\ncountry = fra\npue = 1.5\n");
	const char *const env[] = { p.xdg_env, "WATTPROF_PRICE_FACTOR=0.2", NULL };
	cli_runl(&r, s.root, env, "monitor", "--db", "c.db", "--price-unit", "EUR", "--format",
	         "json", "-o", "r.json", "--", "sleep", "0.2", NULL);
	ASSERT_EQ(r.status, 0);
	cli_run_free(&r);
	char *text = test_slurp("r.json");
	struct json *j = json_must_parse(text);
	const struct json *c = json_member(j, "carbon");
	ASSERT(c && c->type == J_OBJ);
	double kwh = json_member(j, "total_energy_j")->num / 3.6e6;
	ASSERT(kwh > 0);
	ASSERT_NEAR(json_member(c, "energy_kwh")->num, kwh, kwh * 1e-9);
	ASSERT_NEAR(json_member(c, "pue")->num, 1.5, 0);
	ASSERT_NEAR(json_member(c, "facility_energy_kwh")->num, kwh * 1.5, kwh * 1e-9);
	ASSERT_STR(json_member(c, "country")->str, "FR");
	ASSERT_NEAR(json_member(c, "emissions_factor_g_per_kwh")->num, 84.88, 0);
	ASSERT_HAS(json_member(c, "emissions_factor_source")->str, "France");
	ASSERT_HAS(json_member(c, "emissions_factor_source")->str, "2022");
	ASSERT_NEAR(json_member(c, "co2e_g")->num, kwh * 1.5 * 84.88, kwh * 1e-6);
	ASSERT_NEAR(json_member(c, "price_factor")->num, 0.2, 0);
	ASSERT_STR(json_member(c, "price_unit")->str, "EUR");
	ASSERT_NEAR(json_member(c, "cost")->num, kwh * 1.5 * 0.2, kwh * 1e-9);

	/* The stored run: the same figures in runs and report.  (Without the
	 * price's variable: a price factor without its unit is refused by
	 * every command.) */
	const char *const plain[] = { p.xdg_env, NULL };
	cli_runl(&r, NULL, plain, "runs", "--db", "c.db", "--format", "json", NULL);
	ASSERT_EQ(r.status, 0);
	struct json *runs = json_must_parse(r.out);
	const struct json *rc = json_member(&runs->items[0], "carbon");
	/* The report prints 10 significant digits, runs every one. */
	double co2 = json_member(c, "co2e_g")->num;
	ASSERT_NEAR(json_member(rc, "co2e_g")->num, co2, co2 * 1e-9);
	ASSERT_STR(json_member(rc, "country")->str, "FR");
	ASSERT_STR(json_member(rc, "price_unit")->str, "EUR");
	json_free(runs);
	cli_run_free(&r);
	/* report uses the run's own factors, whatever the settings now say. */
	const char *const now[] = { p.xdg_env, "WATTPROF_COUNTRY=US", NULL };
	cli_runl(&r, NULL, now, "report", "--db", "c.db", "--format", "json", "last", NULL);
	ASSERT_EQ(r.status, 0);
	struct json *again = json_must_parse(r.out);
	const struct json *ac = json_member(again, "carbon");
	ASSERT_STR(json_member(ac, "country")->str, "FR");
	ASSERT_NEAR(json_member(ac, "co2e_g")->num, co2, co2 * 1e-9);
	json_free(again);
	cli_run_free(&r);
	/* The runs table has the columns. */
	cli_runl(&r, NULL, plain, "runs", "--db", "c.db", NULL);
	ASSERT_HAS(r.out, "CO2e");
	ASSERT_HAS(r.out, " EUR");
	cli_run_free(&r);
	json_free(j);
	free(text);

	/* A given factor says where it was given, and wins over the country. */
	const char *const given[] = { p.xdg_env, "WATTPROF_EMISSIONS_FACTOR=100", NULL };
	cli_runl(&r, s.root, given, "monitor", "--no-store", "--format", "json", "--", "true",
	         NULL);
	ASSERT_EQ(r.status, 0);
	j = json_must_parse(r.err);
	c = json_member(j, "carbon");
	ASSERT_NEAR(json_member(c, "emissions_factor_g_per_kwh")->num, 100, 0);
	ASSERT_STR(json_member(c, "emissions_factor_source")->str,
	           "set in WATTPROF_EMISSIONS_FACTOR");
	ASSERT_STR(json_member(c, "country")->str, "FR"); /* still recorded */
	json_free(j);
	cli_run_free(&r);
	/* A factor in the user's file, a country in the local one: the higher
	 * level, the country, counts. */
	test_spit(p.user, "[report]\nemissions_factor = 100\n");
	cli_runl(&r, s.root, plain, "monitor", "--no-store", "--format", "json", "--", "true",
	         NULL);
	ASSERT_EQ(r.status, 0);
	j = json_must_parse(r.err);
	c = json_member(j, "carbon");
	ASSERT_NEAR(json_member(c, "emissions_factor_g_per_kwh")->num, 84.88, 0);
	ASSERT_HAS(json_member(c, "emissions_factor_source")->str, "France");
	json_free(j);
	cli_run_free(&r);
	sim_destroy(&s);
	return TEST_OK;
}
