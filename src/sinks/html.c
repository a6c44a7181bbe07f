/*
 * html.c - placeholder: the HTML report is being written (issue 5).
 */
#include <errno.h>
#include "sinks.h"

static int write_html(const struct wp_report *r, FILE *f)
{
	(void)r;
	(void)f;
	return -ENOSYS;
}

const struct wp_sink_ops wp__sink_html = {
	.version = 1,
	.name = "html",
	.write = write_html,
};
