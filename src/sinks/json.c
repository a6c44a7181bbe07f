/*
 * json.c - the JSON report, the contract that scripts and later tools read.
 * Members are documented in docs/REPORT.md; new members may be added, none
 * is ever renamed or removed.  The walk over the report is doc.c's, shared
 * with YAML.
 */
#include "sinks.h"

static int write_json(const struct wp_report *r, FILE *f)
{
	return wp__report_doc(r, f, 0);
}

const struct wp_sink_ops wp__sink_json = {
	.version = 1,
	.name = "json",
	.write = write_json,
};
