/*
 * json.c - strict JSON reader for the tests (RFC 8259): no trailing commas,
 * no comments, strings must be valid with \u escapes and surrogate pairs.
 */
#include <ctype.h>
#include <locale.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "test.h"

struct parser {
	const char *p;
	char *err;
	size_t errcap;
	int depth;
};

static int fail(struct parser *ps, const char *what)
{
	if (!*ps->err)
		snprintf(ps->err, ps->errcap, "%s at offset near '%.20s'", what, ps->p);
	return -1;
}

static void ws(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
		ps->p++;
}

static int hex4(const char *s, unsigned *out)
{
	unsigned v = 0;
	for (int i = 0; i < 4; i++) {
		char c = s[i];
		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xC0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xE0 | cp >> 12);
		o[1] = (char)(0x80 | (cp >> 6 & 0x3F));
		o[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (char)(0xF0 | cp >> 18);
	o[1] = (char)(0x80 | (cp >> 12 & 0x3F));
	o[2] = (char)(0x80 | (cp >> 6 & 0x3F));
	o[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

static int string(struct parser *ps, char **out)
{
	const char *p = ++ps->p;
	char *buf = malloc(strlen(p) * 2 + 4), *o = buf;
	if (!buf)
		return fail(ps, "out of memory");
	while (*p != '"') {
		unsigned char c = (unsigned char)*p;
		if (c == 0 || c < 0x20) {
			free(buf);
			ps->p = p;
			return fail(ps, "bad character in string");
		}
		if (c != '\\') {
			*o++ = (char)c;
			p++;
			continue;
		}
		p++;
		unsigned cp;
		switch (*p) {
		case '"': case '\\': case '/':
			*o++ = *p++;
			break;
		case 'b': *o++ = '\b'; p++; break;
		case 'f': *o++ = '\f'; p++; break;
		case 'n': *o++ = '\n'; p++; break;
		case 'r': *o++ = '\r'; p++; break;
		case 't': *o++ = '\t'; p++; break;
		case 'u':
			if (hex4(p + 1, &cp) < 0)
				goto bad;
			p += 5;
			if (cp >= 0xD800 && cp <= 0xDBFF) {
				unsigned lo;
				if (p[0] != '\\' || p[1] != 'u' || hex4(p + 2, &lo) < 0 ||
				    lo < 0xDC00 || lo > 0xDFFF)
					goto bad;
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				p += 6;
			} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
				goto bad;
			}
			o += put_utf8(o, cp);
			break;
		default:
			goto bad;
		}
	}
	*o = '\0';
	ps->p = p + 1;
	*out = buf;
	return 0;
bad:
	free(buf);
	ps->p = p;
	return fail(ps, "bad escape in string");
}

static int value(struct parser *ps, struct json *j);

static int push(struct json *j, size_t *cap)
{
	if (j->n < *cap)
		return 0;
	*cap = *cap ? *cap * 2 : 4;
	struct json *it = realloc(j->items, *cap * sizeof *it);
	char **k = realloc(j->keys, *cap * sizeof *k);
	if (it)
		j->items = it;
	if (k)
		j->keys = k;
	return it && k ? 0 : -1;
}

static int container(struct parser *ps, struct json *j, char close)
{
	size_t cap = 0;
	j->type = close == '}' ? J_OBJ : J_ARR;
	if (++ps->depth > 64)
		return fail(ps, "nested too deep");
	ps->p++;
	ws(ps);
	if (*ps->p == close) {
		ps->p++;
		ps->depth--;
		return 0;
	}
	for (;;) {
		if (push(j, &cap) < 0)
			return fail(ps, "out of memory");
		j->keys[j->n] = NULL;
		memset(&j->items[j->n], 0, sizeof *j->items);
		ws(ps);
		if (j->type == J_OBJ) {
			if (*ps->p != '"' || string(ps, &j->keys[j->n]) < 0)
				return fail(ps, "expected a key");
			ws(ps);
			if (*ps->p++ != ':')
				return fail(ps, "expected ':'");
		}
		j->n++;
		if (value(ps, &j->items[j->n - 1]) < 0)
			return -1;
		ws(ps);
		if (*ps->p == ',') {
			ps->p++;
			continue;
		}
		if (*ps->p == close) {
			ps->p++;
			ps->depth--;
			return 0;
		}
		return fail(ps, "expected ',' or a closing bracket");
	}
}

static int number(struct parser *ps, struct json *j)
{
	const char *p = ps->p;
	if (*p == '-')
		p++;
	if (*p == '0')
		p++;
	else if (isdigit((unsigned char)*p))
		while (isdigit((unsigned char)*p))
			p++;
	else
		return fail(ps, "bad number");
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return fail(ps, "bad fraction");
		while (isdigit((unsigned char)*p))
			p++;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		if (!isdigit((unsigned char)*p))
			return fail(ps, "bad exponent");
		while (isdigit((unsigned char)*p))
			p++;
	}
	j->type = J_NUM;
	/* JSON numbers use '.', whatever the locale. */
	static locale_t c_locale;
	if (!c_locale)
		c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
	j->num = strtod_l(ps->p, NULL, c_locale);
	ps->p = p;
	return 0;
}

static int value(struct parser *ps, struct json *j)
{
	ws(ps);
	switch (*ps->p) {
	case '{':
		return container(ps, j, '}');
	case '[':
		return container(ps, j, ']');
	case '"':
		j->type = J_STR;
		return string(ps, &j->str);
	case 't':
		if (strncmp(ps->p, "true", 4))
			break;
		ps->p += 4;
		j->type = J_BOOL;
		j->boolean = 1;
		return 0;
	case 'f':
		if (strncmp(ps->p, "false", 5))
			break;
		ps->p += 5;
		j->type = J_BOOL;
		return 0;
	case 'n':
		if (strncmp(ps->p, "null", 4))
			break;
		ps->p += 4;
		j->type = J_NULL;
		return 0;
	default:
		return number(ps, j);
	}
	return fail(ps, "unexpected word");
}

static void release(struct json *j)
{
	for (size_t i = 0; i < j->n; i++) {
		release(&j->items[i]);
		if (j->keys)
			free(j->keys[i]);
	}
	free(j->items);
	free(j->keys);
	free(j->str);
}

void json_free(struct json *j)
{
	if (j) {
		release(j);
		free(j);
	}
}

struct json *json_parse(const char *text, char *err, size_t errcap)
{
	struct parser ps = { text, err, errcap, 0 };
	struct json *j = calloc(1, sizeof *j);
	err[0] = '\0';
	if (!j)
		return NULL;
	if (value(&ps, j) < 0) {
		json_free(j);
		return NULL;
	}
	ws(&ps);
	if (*ps.p) {
		fail(&ps, "trailing text");
		json_free(j);
		return NULL;
	}
	return j;
}

const struct json *json_get(const struct json *obj, const char *key)
{
	for (size_t i = 0; obj && obj->type == J_OBJ && i < obj->n; i++)
		if (strcmp(obj->keys[i], key) == 0)
			return &obj->items[i];
	return NULL;
}

struct json *json_must_parse(const char *text)
{
	char err[128];
	struct json *j = json_parse(text ? text : "", err, sizeof err);
	if (!j)
		TEST_FAIL_("not valid JSON (%s):\n%s", err, text ? text : "(null)");
	return j;
}

const struct json *json_member(const struct json *obj, const char *key)
{
	const struct json *m = json_get(obj, key);
	if (!m)
		TEST_FAIL_("no member '%s'", key);
	return m;
}
