/*
 * yaml.c - the YAML report, as perun's users know it: the same members as
 * the JSON report (docs/REPORT.md), in block style, from doc.c's walk.
 */
#include "sinks.h"

static int write_yaml(const struct wp_report *r, FILE *f)
{
	return wp__report_doc(r, f, 1);
}

const struct wp_sink_ops wp__sink_yaml = {
	.version = 1,
	.name = "yaml",
	.write = write_yaml,
};
