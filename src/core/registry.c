/*
 * registry.c - the explicit tables of every source and every report sink.
 *
 * No registration by constructors: a static library would drop objects that
 * nobody references.  Adding a source means adding its ops here, in order of
 * preference.
 */
#include <stddef.h>

#include "internal.h"
#include "../sinks/sinks.h"

extern const struct wp_sensor_ops wp__sensor_perf;
extern const struct wp_sensor_ops wp__sensor_powercap;
extern const struct wp_sensor_ops wp__sensor_msr;
extern const struct wp_sensor_ops wp__sensor_hwmon;
extern const struct wp_sensor_ops wp__sensor_nvml;
extern const struct wp_sensor_ops wp__sensor_amdgpu;
extern const struct wp_sensor_ops wp__sensor_estimate;

const struct wp_sensor_ops *const wp__sensors[] = {
	&wp__sensor_perf,
	&wp__sensor_powercap,
	&wp__sensor_msr,
	&wp__sensor_hwmon,
	&wp__sensor_nvml,
	&wp__sensor_amdgpu,
	&wp__sensor_estimate, /* last: only where nothing real answers */
	NULL,
};

extern const struct wp_sink_ops wp__sink_text;
extern const struct wp_sink_ops wp__sink_json;
extern const struct wp_sink_ops wp__sink_csv;
extern const struct wp_sink_ops wp__sink_yaml;
extern const struct wp_sink_ops wp__sink_html;

/* Indexed by enum wp_format. */
const struct wp_sink_ops *const wp__sinks[] = {
	[WP_FORMAT_TEXT] = &wp__sink_text,
	[WP_FORMAT_JSON] = &wp__sink_json,
	[WP_FORMAT_CSV] = &wp__sink_csv,
	[WP_FORMAT_YAML] = &wp__sink_yaml,
	[WP_FORMAT_HTML] = &wp__sink_html,
	NULL,
};
