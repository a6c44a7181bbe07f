/*
 * json.h - a small strict JSON reader for the tests, so that they check
 * reports as a program reading them would, not by searching text.
 */
#ifndef WATTPROF_TEST_JSON_H
#define WATTPROF_TEST_JSON_H

#include <stddef.h>

enum json_type { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };

struct json {
	enum json_type type;
	double num;
	int boolean;
	char *str;          /* J_STR, UTF-8 */
	size_t n;           /* items in J_ARR / J_OBJ */
	struct json *items; /* J_ARR, J_OBJ values */
	char **keys;        /* J_OBJ */
};

/* Parses a whole document; NULL with a message in err when it is not JSON. */
struct json *json_parse(const char *text, char *err, size_t errcap);
void json_free(struct json *j);
/* Member of an object, or NULL. */
const struct json *json_get(const struct json *obj, const char *key);
/* Member of an object, or the test fails naming it. */
const struct json *json_member(const struct json *obj, const char *key);
/* Parses or fails the test with the reason and the text. */
struct json *json_must_parse(const char *text);

#endif
