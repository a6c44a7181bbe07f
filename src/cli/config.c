/*
 * config.c - layered settings (docs/CONFIG.md).  Every setting lives in one
 * table, settings[], with its section and key in the INI files, its
 * command-line option and its check.  A value comes from the first of:
 *
 *   the command line (cli_config_set), the environment (WATTPROF_<KEY>),
 *   the local file (./.wattprof.ini, or the one -c/--config names), the
 *   user's file ($XDG_CONFIG_HOME/wattprof/config.ini, by default
 *   ~/.config/wattprof/config.ini), the built-in default.
 *
 * The files are read with inih (Debian's libinih), through a line reader
 * of our own: it counts lines, so that every error names the file, the
 * line and the key, and refuses what inih would accept silently (an
 * unknown section, an indented continuation line, a line longer than
 * inih's buffer).  Bad configuration is an error, never a guess.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "wattprof/wattprof.h"
#include "cli.h"

/* ------------------------------------------------------------- checks */

/* Each check returns 0, or -1 with a hint saying what to give (cap bytes)
 * and, where "invalid" alone would leave the user guessing, `why` (64
 * bytes): which part of the value is wrong. */
typedef int check_fn(const char *v, char *hint, size_t cap, char *why);

static int number(const char *v, double lo, double hi, int lo_open, double *out)
{
	char *end;
	errno = 0;
	double x = strtod(v, &end);
	while (end && isspace((unsigned char)*end))
		end++;
	if (errno || end == v || *end || !isfinite(x) || x < lo || x > hi || (lo_open && x == lo))
		return -1;
	if (out)
		*out = x;
	return 0;
}

static int check_frequency(const char *v, char *hint, size_t cap, char *why)
{
	(void)why;
	if (number(v, 0, WP_SAMPLER_MAX_HZ, 1, NULL) == 0)
		return 0;
	snprintf(hint, cap, "give a number of Hz above 0 and at most %g, e.g. '-f 100'",
	         WP_SAMPLER_MAX_HZ);
	return -1;
}

static int check_idle(const char *v, char *hint, size_t cap, char *why)
{
	(void)why;
	if (number(v, 0, 86400, 1, NULL) == 0)
		return 0;
	snprintf(hint, cap, "give the seconds of idle to measure before the command, above 0 "
	                    "and at most 86400, e.g. '--idle 10'");
	return -1;
}

static int check_tdp(const char *v, char *hint, size_t cap, char *why)
{
	(void)why;
	if (number(v, 0, 100000, 1, NULL) == 0)
		return 0;
	snprintf(hint, cap, "give the processors' thermal design power in watts, e.g. "
	                    "'--tdp 125'");
	return -1;
}

static int check_pue(const char *v, char *hint, size_t cap, char *why)
{
	(void)why;
	if (number(v, 1, 10, 0, NULL) == 0)
		return 0;
	snprintf(hint, cap, "give the data centre's power usage effectiveness, from 1 "
	                    "(no overhead) to 10, e.g. '--pue 1.4'");
	return -1;
}

static int check_factor(const char *v, char *hint, size_t cap, char *why)
{
	(void)why;
	if (number(v, 0, 1e6, 0, NULL) == 0)
		return 0;
	snprintf(hint, cap, "give a number from 0 to 1000000, per kWh, e.g. '400'");
	return -1;
}

static int check_format(const char *v, char *hint, size_t cap, char *why)
{
	(void)why;
	enum wp_format f;
	if (wp_format_parse(v, &f) == 0)
		return 0;
	snprintf(hint, cap, "use one of: text, json, csv, yaml, html");
	return -1;
}

static int check_bool(const char *v, char *hint, size_t cap, char *why)
{
	(void)why;
	if (cli_config_parse_bool(v) >= 0)
		return 0;
	snprintf(hint, cap, "use yes or no (also true/false, on/off, 1/0)");
	return -1;
}

/* A comma-separated list without empty names. */
static int check_list(const char *v, char *hint, size_t cap, char *why)
{
	size_t n = strlen(v);
	if (strpbrk(v, " \t")) {
		snprintf(why, 64, "a space");
	} else if (n && v[0] != ',' && v[n - 1] != ',' && !strstr(v, ",,")) {
		return 0;
	} else {
		snprintf(why, 64, "an empty name");
	}
	snprintf(hint, cap, "separate names with single commas and no spaces, e.g. "
	                    "'package_0,dram_0'");
	return -1;
}

static int check_sources(const char *v, char *hint, size_t cap, char *why)
{
	const char *p = v;
	size_t used = 0;
	if (check_list(v, hint, cap, why) == 0) {
		while (*p) {
			size_t len = strcspn(p, ","), i;
			for (i = 0; wp_source_name(i); i++)
				if (strlen(wp_source_name(i)) == len &&
				    !strncmp(wp_source_name(i), p, len))
					break;
			if (!wp_source_name(i)) {
				snprintf(why, 64, "no source '%.*s'", (int)(len < 40 ? len : 40), p);
				break;
			}
			p += len + (p[len] == ',');
		}
		if (!*p)
			return 0;
	}
	used = (size_t)snprintf(hint, cap, "give one or more of:");
	for (size_t i = 0; wp_source_name(i) && used < cap; i++)
		used += (size_t)snprintf(hint + used, cap - used, "%s %s", i ? "," : "",
		                         wp_source_name(i));
	if (used < cap)
		snprintf(hint + used, cap - used, ", separated by commas");
	return -1;
}

static int check_data_type(const char *v, char *hint, size_t cap, char *why)
{
	(void)why;
	if (wp_data_type_check(v) == 0)
		return 0;
	snprintf(hint, cap, "use one of: tabular, image, text, 'time series', other");
	return -1;
}

static int check_country(const char *v, char *hint, size_t cap, char *why)
{
	(void)why;
	const struct wp_carbon_intensity *ci;
	if (wp_carbon_intensity_find(v, &ci) == 0)
		return 0;
	snprintf(hint, cap, "give an ISO 3166 country code, alpha-2 or alpha-3 (e.g. 'DE' or "
	                    "'DEU'), or WORLD; 'wattprof showconf --countries' lists them");
	return -1;
}

static int check_unit(const char *v, char *hint, size_t cap, char *why)
{
	(void)why;
	size_t n = strlen(v);
	int ok = n > 0 && n <= 16;
	for (size_t i = 0; ok && i < n; i++)
		ok = !isspace((unsigned char)v[i]) && !iscntrl((unsigned char)v[i]);
	if (ok)
		return 0;
	snprintf(hint, cap, "give a currency unit of at most 16 characters without spaces, "
	                    "e.g. 'EUR' or 'USD'");
	return -1;
}

/* ------------------------------------------------------------ the table */

struct setting {
	const char *section, *key;
	const char *option; /* the command-line option, NULL when none */
	const char *noun;   /* for "invalid <noun> 'X'" */
	const char *deflt;  /* NULL: not set */
	check_fn *check;    /* NULL: any text that is not empty */
};

/* In the order of enum cli_setting (cli.h); showconf prints them so. */
static const struct setting settings[CFG_COUNT] = {
	[CFG_FREQUENCY] = { "monitor", "frequency", "--frequency", "sampling frequency", "10",
	                    check_frequency },
	[CFG_DOMAINS] = { "monitor", "domains", "--domains", "domain list", NULL, check_list },
	[CFG_FORMAT] = { "monitor", "format", "--format", "report format", "text", check_format },
	[CFG_OUTPUT] = { "monitor", "output", "--output", "output file", NULL, NULL },
	[CFG_SOURCE] = { "monitor", "source", "--source", "source list", NULL, check_sources },
	[CFG_TDP_W] = { "monitor", "tdp_w", "--tdp", "TDP", NULL, check_tdp },
	[CFG_IDLE] = { "monitor", "idle", "--idle", "idle time", NULL, check_idle },
	[CFG_LIVE] = { "monitor", "live", "--no-live", "yes/no value", "yes", check_bool },
	[CFG_SERIES] = { "monitor", "series", "--series", "yes/no value", "no", check_bool },
	[CFG_ATTRIBUTE] = { "monitor", "attribute", "--attribute", "yes/no value", "no", check_bool },
	[CFG_NAME] = { "run", "name", "--name", "name", NULL, NULL },
	[CFG_PACKAGE] = { "run", "package", "--package", "package", NULL, NULL },
	[CFG_ALGORITHM] = { "run", "algorithm", "--algorithm", "algorithm", NULL, NULL },
	[CFG_ALGORITHM_PARAMS] = { "run", "algorithm_params", "--algorithm-params",
	                           "algorithm parameters", NULL, NULL },
	[CFG_DATA_TYPE] = { "run", "data_type", "--data-type", "data type", NULL,
	                    check_data_type },
	[CFG_DATA_SHAPE] = { "run", "data_shape", "--data-shape", "data shape", NULL, NULL },
	[CFG_COMMENT] = { "run", "comment", "--comment", "comment", NULL, NULL },
	[CFG_PUE] = { "report", "pue", "--pue", "PUE", "1.0", check_pue },
	[CFG_COUNTRY] = { "report", "country", "--country", "country", NULL, check_country },
	[CFG_EMISSIONS_FACTOR] = { "report", "emissions_factor", "--emissions-factor",
	                           "emissions factor", NULL, check_factor },
	[CFG_PRICE_FACTOR] = { "report", "price_factor", "--price-factor", "price factor", NULL,
	                       check_factor },
	[CFG_PRICE_UNIT] = { "report", "price_unit", "--price-unit", "price unit", NULL,
	                     check_unit },
	[CFG_DATABASE] = { "storage", "database", "--db", "database", CLI_DEFAULT_DB, NULL },
	[CFG_STORE] = { "storage", "store", "--no-store", "yes/no value", "yes", check_bool },
};

static const char *const sections[] = { "monitor", "run", "report", "storage" };

int cli_config_parse_bool(const char *v)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i]))
			return 1;
		if (!strcasecmp(v, no[i]))
			return 0;
	}
	return -1;
}

const char *cli_config_key(enum cli_setting id)
{
	return settings[id].key;
}

/* WATTPROF_ and the key in capitals. */
static void env_name(enum cli_setting id, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, "WATTPROF_");
	for (const char *k = settings[id].key; *k && n + 1 < cap; k++)
		buf[n++] = (char)toupper((unsigned char)*k);
	buf[n] = '\0';
}

/* Checks v; on a failure prints the error (`where` says where v was given,
 * `key` how it was named there) and the hint. */
static int check(enum cli_setting id, const char *v, const char *where)
{
	char hint[400] = "", why[64] = "";
	const struct setting *s = &settings[id];
	int bad = !*v || (s->check && s->check(v, hint, sizeof hint, why) < 0);
	if (!bad)
		return 0;
	if (!*v)
		cli_error("%sempty %s", where, s->noun);
	else
		cli_error("%sinvalid %s '%s'%s%s", where, s->noun, v, *why ? ": " : "", why);
	if (*hint)
		cli_hint("%s", hint);
	return -1;
}

static int put(struct cli_config *c, enum cli_setting id, const char *v, enum cli_level level,
               const char *origin)
{
	struct cli_value *val = &c->v[id];
	if (val->level > level)
		return 0; /* a higher level has it already */
	char *nv = strdup(v), *no = strdup(origin);
	if (!nv || !no) {
		free(nv);
		free(no);
		cli_error("out of memory");
		return -1;
	}
	free(val->value);
	free(val->origin);
	val->value = nv;
	val->origin = no;
	val->level = level;
	return 0;
}

int cli_config_set(struct cli_config *c, enum cli_setting id, const char *value,
                   const char *option)
{
	if (check(id, value, "") < 0)
		return -1;
	return put(c, id, value, CLI_LEVEL_CLI, option ? option : settings[id].option);
}

/* ------------------------------------------------------------ the files */

struct parse {
	struct cli_config *c;
	const char *path;
	enum cli_level level;
	FILE *f;
	int line;
	int failed;
	char buf[INI_MAX_LINE + 2];
	unsigned char seen[CFG_COUNT]; /* keys given in this file */
	int seen_line[CFG_COUNT];
};

static void file_error(struct parse *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void file_error(struct parse *p, const char *fmt, ...)
{
	char msg[600];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	cli_error("'%s' line %d: %s", p->path, p->line, msg);
	p->failed = 1;
}

static int known_section(const char *name)
{
	for (size_t i = 0; i < sizeof sections / sizeof *sections; i++)
		if (!strcmp(sections[i], name))
			return 1;
	return 0;
}

/* The keys of a section, for a hint. */
static void section_keys(const char *section, char *buf, size_t cap)
{
	size_t n = 0;
	buf[0] = '\0';
	for (int i = 0; i < CFG_COUNT && n < cap; i++)
		if (!strcmp(settings[i].section, section))
			n += (size_t)snprintf(buf + n, cap - n, "%s%s", n ? ", " : "",
			                      settings[i].key);
}

/*
 * inih's reader: one line per call, counted.  Lines inih would misread are
 * refused here, and the parse then ends (NULL: end of file).
 */
static char *read_line(char *str, int num, void *stream)
{
	struct parse *p = stream;
	char *s = p->buf;
	size_t n = 0, max = (size_t)num - 2; /* room for "\n" and the NUL */
	int ch, nul = 0, cr = 0;

	if (p->failed)
		return NULL;
	if (num > (int)sizeof p->buf) /* a library built with a longer line */
		max = sizeof p->buf - 2;
	/* One line, never more than max + 2 bytes kept: a huge line costs no
	 * memory, and a NUL or a bare CR is seen. */
	while ((ch = getc(p->f)) != EOF && ch != '\n') {
		if (n < max + 1)
			s[n] = (char)ch;
		nul |= ch == '\0';
		if (ch == '\r')
			cr = cr == 2 ? 2 : 1; /* 1: the last byte so far is a CR */
		else if (cr == 1)
			cr = 2; /* 2: a CR inside the line */
		n++;
	}
	if (ch == EOF && ferror(p->f)) {
		p->line++;
		file_error(p, "cannot be read: %s", strerror(errno));
		return NULL;
	}
	if (ch == EOF && n == 0)
		return NULL;
	p->line++;
	if (cr == 1) /* a CRLF line end */
		n--, cr = 0;
	if (nul) {
		file_error(p, "holds a NUL byte: this is not a text file");
		cli_hint("give an INI file of 'key = value' lines");
		return NULL;
	}
	if (cr) {
		file_error(p, "a carriage return inside the line (old Mac line ends?)");
		cli_hint("end lines with LF or CRLF");
		return NULL;
	}
	if (n > max) {
		file_error(p, "longer than %zu characters", max);
		cli_hint("shorten the line; a value cannot be longer than that");
		return NULL;
	}
	s[n] = '\0';
	if (p->line == 1 && !strncmp(s, "\xEF\xBB\xBF", 3))
		memmove(s, s + 3, (n -= 3) + 1); /* a UTF-8 byte order mark */
	char *t = s;
	while (*t == ' ' || *t == '\t')
		t++;
	if (t != s && *t && *t != ';' && *t != '#') {
		file_error(p, "an indented line: a value must be on one line");
		cli_hint("remove the indentation; wattprof takes no values spread over lines");
		return NULL;
	}
	if (*t == '[') {
		char name[64];
		size_t len = strcspn(t + 1, "]");
		if (t[1 + len] != ']') {
			file_error(p, "a section header without its ']'");
			cli_hint("write sections as [monitor], [run], [report] or [storage]");
			return NULL;
		}
		const char *after = t + 2 + len;
		after += strspn(after, " \t");
		if (*after && *after != ';' && *after != '#') {
			file_error(p, "text after the section header: '%s'", after);
			cli_hint("a section header stands alone on its line");
			return NULL;
		}
		snprintf(name, sizeof name, "%.*s", (int)(len < 63 ? len : 63), t + 1);
		if (!known_section(name)) {
			file_error(p, "unknown section [%s]", name);
			cli_hint("the sections are [monitor], [run], [report] and [storage]");
			return NULL;
		}
	}
	snprintf(str, (size_t)num, "%s\n", s);
	return str;
}

static int on_key(void *user, const char *section, const char *name, const char *value)
{
	struct parse *p = user;
	char where[700], keys[300];
	if (p->failed)
		return 0;
	if (!*section) {
		file_error(p, "'%s' is outside a section", name);
		cli_hint("put it under [monitor], [run], [report] or [storage]");
		return 0;
	}
	for (int i = 0; i < CFG_COUNT; i++) {
		if (strcmp(settings[i].section, section) || strcmp(settings[i].key, name))
			continue;
		if (p->seen[i]) {
			file_error(p, "'%s' in [%s] is given twice (line %d and here)", name,
			           section, p->seen_line[i]);
			return 0;
		}
		p->seen[i] = 1;
		p->seen_line[i] = p->line;
		snprintf(where, sizeof where, "'%s' line %d: '%s' in [%s]: ", p->path, p->line,
		         name, section);
		if (check((enum cli_setting)i, value, where) < 0) {
			p->failed = 1;
			return 0;
		}
		snprintf(where, sizeof where, "%s:%d", p->path, p->line);
		if (put(p->c, (enum cli_setting)i, value, p->level, where) < 0) {
			p->failed = 1;
			return 0;
		}
		return 1;
	}
	file_error(p, "unknown key '%s' in [%s]", name, section);
	section_keys(section, keys, sizeof keys);
	cli_hint("the keys of [%s] are: %s", section, keys);
	return 0;
}

/*
 * Reads one file.  A missing file is fine unless `must` (it was named with
 * -c); anything else that stops it being read is an error.
 */
static int read_file(struct cli_config *c, const char *path, enum cli_level level, int must)
{
	struct parse p = { .c = c, .path = path, .level = level };
	struct stat st;
	if (stat(path, &st) < 0) {
		/* Absent is fine unless asked for; a link to nothing is not absent. */
		if (errno == ENOENT && !must && lstat(path, &st) < 0)
			return 0;
		if (errno == ENOENT && !must) {
			cli_error("cannot read the configuration file '%s': a link to nothing",
			          path);
			cli_hint("remove the link, or make it point to a file");
			return -1;
		}
	} else if (S_ISDIR(st.st_mode)) {
		cli_error("cannot read the configuration file '%s': it is a folder", path);
		return -1;
	} else if (!S_ISREG(st.st_mode)) {
		/* Not a pipe or a device: /dev/zero would be one endless line. */
		cli_error("cannot read the configuration file '%s': not a regular file", path);
		cli_hint("give a file of 'key = value' lines");
		return -1;
	}
	p.f = fopen(path, "r");
	if (!p.f) {
		cli_error("cannot read the configuration file '%s': %s", path, strerror(errno));
		cli_hint(errno == ENOENT ? "check the path given with -c/--config"
		                         : "check its permissions, or remove it");
		return -1;
	}
	int rc = ini_parse_stream(read_line, &p, on_key, &p);
	fclose(p.f);
	if (p.failed)
		return -1;
	if (rc != 0) {
		/* inih's own refusal: a line that is no section, key or comment. */
		cli_error("'%s' line %d: not 'key = value', a [section] or a comment", path, rc);
		cli_hint("write settings as 'key = value' under a [section]; comments start "
		         "with ';' or '#'");
		return -1;
	}
	return 0;
}

/* $XDG_CONFIG_HOME/wattprof/config.ini, or ~/.config/...; "" when neither. */
static void user_file(char *buf, size_t cap)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	struct passwd *pw;
	buf[0] = '\0';
	if ((!home || !*home) && (pw = getpwuid(getuid())))
		home = pw->pw_dir; /* HOME unset (cron, some services) */
	if (xdg && xdg[0] == '/') /* a relative one is to be ignored (XDG spec) */
		snprintf(buf, cap, "%s/wattprof/config.ini", xdg);
	else if (home && *home)
		snprintf(buf, cap, "%s/.config/wattprof/config.ini", home);
}

void cli_config_init(struct cli_config *c)
{
	memset(c, 0, sizeof *c);
}

int cli_config_defaults(struct cli_config *c)
{
	for (int i = 0; i < CFG_COUNT; i++)
		if (settings[i].deflt && put(c, (enum cli_setting)i, settings[i].deflt,
		                             CLI_LEVEL_DEFAULT, "default") < 0)
			return -1;
	return 0;
}

int cli_config_load(struct cli_config *c, const char *local)
{
	char path[4096], name[64];
	if (cli_config_defaults(c) < 0)
		return -1;
	user_file(path, sizeof path);
	if (*path && read_file(c, path, CLI_LEVEL_USER, 0) < 0)
		return -1;
	if (read_file(c, local ? local : CLI_LOCAL_CONFIG, CLI_LEVEL_LOCAL, local != NULL) < 0)
		return -1;
	/* The variables of wattprof 0.1's first builds, renamed since: not
	 * to be ignored without a word. */
	static const char *const renamed[][2] = {
		{ "WATTPROF_DB", "WATTPROF_DATABASE" },
		{ "WATTPROF_NO_STORE", "WATTPROF_STORE=no" },
		{ "WATTPROF_NO_LIVE", "WATTPROF_LIVE=no" },
	};
	for (size_t i = 0; i < sizeof renamed / sizeof *renamed; i++)
		if (getenv(renamed[i][0])) {
			cli_error("%s is no longer read", renamed[i][0]);
			cli_hint("use %s instead (docs/CONFIG.md)", renamed[i][1]);
			return -1;
		}
	for (int i = 0; i < CFG_COUNT; i++) {
		env_name((enum cli_setting)i, name, sizeof name);
		const char *v = getenv(name);
		char where[96];
		if (!v)
			continue;
		snprintf(where, sizeof where, "%s: ", name);
		if (check((enum cli_setting)i, v, where) < 0) {
			cli_hint("or unset %s", name);
			return -1;
		}
		if (put(c, (enum cli_setting)i, v, CLI_LEVEL_ENV, name) < 0)
			return -1;
	}
	/* A database named beside store = no, at one level: which was meant? */
	if (cli_config_parse_bool(c->v[CFG_STORE].value) == 0 &&
	    c->v[CFG_STORE].level > CLI_LEVEL_DEFAULT &&
	    c->v[CFG_DATABASE].level == c->v[CFG_STORE].level) {
		cli_error("'database' (%s) and 'store = no' (%s) contradict each other",
		          c->v[CFG_DATABASE].origin, c->v[CFG_STORE].origin);
		cli_hint("keep one of them");
		return -1;
	}
	/* A price needs its unit, wherever each was given. */
	if (c->v[CFG_PRICE_FACTOR].value && !c->v[CFG_PRICE_UNIT].value) {
		cli_error("a price factor is set (%s) but no price unit",
		          c->v[CFG_PRICE_FACTOR].origin);
		cli_hint("set price_unit in [report] too, e.g. 'price_unit = EUR', or "
		         "--price-unit");
		return -1;
	}
	return 0;
}

void cli_config_free(struct cli_config *c)
{
	for (int i = 0; i < CFG_COUNT; i++) {
		free(c->v[i].value);
		free(c->v[i].origin);
	}
	memset(c, 0, sizeof *c);
}

const char *cli_config_get(const struct cli_config *c, enum cli_setting id)
{
	return c->v[id].value;
}

double cli_config_number(const struct cli_config *c, enum cli_setting id)
{
	double x = NAN;
	if (c->v[id].value)
		number(c->v[id].value, -INFINITY, INFINITY, 0, &x);
	return x;
}

int cli_config_given(const struct cli_config *c, enum cli_setting id)
{
	return c->v[id].value && c->v[id].level > CLI_LEVEL_DEFAULT;
}

/*
 * The carbon factors from the settings; a given emissions factor's source
 * says where it was given.
 */
int cli_carbon_options(const struct cli_config *c, struct wp_carbon_options *co, char *src,
                       size_t cap)
{
	memset(co, 0, sizeof *co);
	co->version = WP_CARBON_OPTIONS_VERSION;
	co->pue = cli_config_number(c, CFG_PUE);
	co->country = cli_config_get(c, CFG_COUNTRY);
	/* A factor counts unless a country was set at a higher level (a
	 * project's country over the user's usual factor). */
	if (cli_config_get(c, CFG_EMISSIONS_FACTOR) &&
	    (!co->country || c->v[CFG_EMISSIONS_FACTOR].level >= c->v[CFG_COUNTRY].level)) {
		co->flags |= WP_CARBON_EMISSIONS_FACTOR;
		co->emissions_factor = cli_config_number(c, CFG_EMISSIONS_FACTOR);
		const char *o = c->v[CFG_EMISSIONS_FACTOR].origin;
		snprintf(src, cap, "%s %s", !strncmp(o, "--", 2) ? "given with" : "set in", o);
		co->emissions_factor_source = src;
	}
	if (cli_config_get(c, CFG_PRICE_FACTOR)) {
		co->flags |= WP_CARBON_PRICE;
		co->price_factor = cli_config_number(c, CFG_PRICE_FACTOR);
		co->price_unit = cli_config_get(c, CFG_PRICE_UNIT);
	}
	return 0;
}

/* ---------------------------------------------------------- showconf */

/* A value as an INI line can hold it (inih strips the spaces around). */
static void print_line(FILE *out, const char *key, const char *value, const char *origin,
                       int commented)
{
	char line[600];
	int n = snprintf(line, sizeof line, "%s%s = %s", commented ? ";" : "", key,
	                 value ? value : "");
	fprintf(out, "%s%*s ; %s\n", line, n < 32 ? 32 - n : 0, "", origin);
}

void cli_config_print(FILE *out, const struct cli_config *c)
{
	const char *last = "";
	for (int i = 0; i < CFG_COUNT; i++) {
		const struct setting *s = &settings[i];
		const struct cli_value *v = &c->v[i];
		if (strcmp(last, s->section))
			fprintf(out, "%s[%s]\n", *last ? "\n" : "", s->section);
		last = s->section;
		if (v->value && (strstr(v->value, " ;") || strpbrk(v->value, "\r\n") ||
		                 strlen(s->key) + 3 + strlen(v->value) > INI_MAX_LINE - 2))
		{
			/* A value INI cannot hold: shown commented out, not read back. */
			char why[600];
			snprintf(why, sizeof why, "%s; INI cannot hold this value", v->origin);
			print_line(out, s->key, v->value, why, 1);
		} else if (v->value)
			print_line(out, s->key, v->value, v->origin, 0);
		else
			print_line(out, s->key, NULL, "not set", 1);
	}
}
