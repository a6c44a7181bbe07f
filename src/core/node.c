/* placeholder until the node readings land: nothing is readable */
#include <math.h>
#include <stdlib.h>
#include "internal.h"
struct wp__node { int unused; };
const char *wp__node_reading_name(enum wp__node_reading r) { static const char *const n[] = { "cpu_util_pct", "mem_used_b", "cpu_temp_c" }; return (unsigned)r < WP__NODE_COUNT ? n[r] : NULL; }
const char *wp__node_reading_unit(enum wp__node_reading r) { static const char *const n[] = { "%", "B", "C" }; return (unsigned)r < WP__NODE_COUNT ? n[r] : NULL; }
int wp__node_open(struct wp__node **out, const struct wp_host *host) { (void)host; *out = calloc(1, sizeof **out); return *out ? 0 : -12; }
int wp__node_has(const struct wp__node *node, enum wp__node_reading r) { (void)node; (void)r; return 0; }
void wp__node_read(struct wp__node *node, double *out) { (void)node; for (int i = 0; i < WP__NODE_COUNT; i++) out[i] = NAN; }
void wp__node_close(struct wp__node *node) { free(node); }
