/*
 * config.c — topology.yaml and ccl.yaml: parsing, validation, overrides.
 *
 * libyaml's event API builds a small tree whose nodes keep their line and
 * column. A schema (one table per file kind) then walks the tree: every
 * key must be known, every value must have the right type and range, and
 * every problem is reported as `file:line:col: key: problem`. `--set`
 * overrides go through the same converters, so a value typed on the
 * command line is validated exactly like one read from the file.
 */
#include "machine.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

int kb_split_assignment(char *kv, char **key, char **value)
{
	char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return -1;
	*eq = '\0';
	*key = kv;
	*value = eq + 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* YAML tree                                                           */
/* ------------------------------------------------------------------ */

typedef enum { N_SCALAR, N_MAP, N_SEQ } node_type;

typedef struct node {
	node_type type;
	char *text;          /* scalar value */
	int line, col;       /* 1-based */
	struct node **kids;  /* map: key, value, key, value...; seq: items */
	size_t n, cap;
} node;

static void node_free(node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->n; i++)
		node_free(n->kids[i]);
	free(n->kids);
	free(n->text);
	free(n);
}

static node *node_new(node_type t, const yaml_mark_t *mark)
{
	node *n = calloc(1, sizeof *n);
	if (n) {
		n->type = t;
		n->line = (int)mark->line + 1;
		n->col = (int)mark->column + 1;
	}
	return n;
}

static int node_add(node *parent, node *kid)
{
	if (parent->n == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		node **k = realloc(parent->kids, cap * sizeof *k);
		if (!k)
			return -1;
		parent->kids = k;
		parent->cap = cap;
	}
	parent->kids[parent->n++] = kid;
	return 0;
}

/* Parses one document into a tree; an empty document gives an empty map. */
static int yaml_to_tree(const char *name, const char *text, node **out, kb_error *err)
{
	yaml_parser_t p;
	yaml_event_t ev;
	node *stack[64];
	int depth = 0, rc = -1;
	node *root = NULL;

	if (!yaml_parser_initialize(&p))
		return kb_fail(err, "%s: cannot initialise the YAML parser", name);
	yaml_parser_set_input_string(&p, (const unsigned char *)text, strlen(text));
	for (;;) {
		if (!yaml_parser_parse(&p, &ev)) {
			const yaml_mark_t *m = p.problem_mark.line || p.problem_mark.column ? &p.problem_mark : &p.context_mark;
			kb_fail(err, "%s:%zu:%zu: YAML syntax error: %s%s%s", name, m->line + 1, m->column + 1,
				p.problem ? p.problem : "unknown problem", p.context ? " " : "", p.context ? p.context : "");
			goto out;
		}
		yaml_event_type_t t = ev.type;
		node *n = NULL;
		if (t == YAML_ALIAS_EVENT) {
			kb_fail(err, "%s:%zu:%zu: YAML aliases are not supported in configs", name,
				ev.start_mark.line + 1, ev.start_mark.column + 1);
			yaml_event_delete(&ev);
			goto out;
		}
		if (t == YAML_SCALAR_EVENT) {
			n = node_new(N_SCALAR, &ev.start_mark);
			if (n)
				n->text = strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
			if (!n || !n->text) {
				node_free(n);
				yaml_event_delete(&ev);
				kb_fail_status(err, KB_E_NOMEM, "%s: out of memory", name);
				goto out;
			}
		} else if (t == YAML_MAPPING_START_EVENT || t == YAML_SEQUENCE_START_EVENT) {
			n = node_new(t == YAML_MAPPING_START_EVENT ? N_MAP : N_SEQ, &ev.start_mark);
			if (!n || depth == 64) {
				node_free(n);
				yaml_event_delete(&ev);
				kb_fail(err, "%s: document nested too deeply", name);
				goto out;
			}
		}
		if (n) {
			if (depth == 0) {
				if (root) {
					kb_fail(err, "%s:%d:%d: a config holds one YAML document; this is a second one", name,
						n->line, n->col);
					node_free(n);
					yaml_event_delete(&ev);
					goto out;
				}
				root = n;
			} else if (node_add(stack[depth - 1], n) < 0) {
				node_free(n);
				yaml_event_delete(&ev);
				kb_fail_status(err, KB_E_NOMEM, "%s: out of memory", name);
				goto out;
			}
			if (n->type != N_SCALAR)
				stack[depth++] = n;
		}
		if (t == YAML_MAPPING_END_EVENT || t == YAML_SEQUENCE_END_EVENT)
			depth--;
		yaml_event_delete(&ev);
		if (t == YAML_STREAM_END_EVENT)
			break;
	}
	if (!root) {
		yaml_mark_t zero = {0, 0, 0};
		root = node_new(N_MAP, &zero);
	}
	if (root->type != N_MAP) {
		kb_fail(err, "%s:%d:%d: the document must be a mapping of keys", name, root->line, root->col);
		goto out;
	}
	*out = root;
	root = NULL;
	rc = 0;
out:
	if (rc)
		node_free(root); /* frees every node attached below it */
	yaml_parser_delete(&p);
	return rc;
}

/* ------------------------------------------------------------------ */
/* Schema                                                              */
/* ------------------------------------------------------------------ */

typedef enum { K_INT, K_FLOAT, K_ENUM, K_STR, K_LIST } key_type;

typedef struct key_def {
	const char *path;     /* may contain one '*' segment (any name) */
	key_type type;
	size_t off;           /* into the struct located for this key */
	const char *def;      /* NULL: no default (stays unset) */
	double lo, hi;        /* range for numbers; list length for lists */
	const char *unit;
	const char *choices;  /* '|'-separated, for K_ENUM */
	bool timing;          /* topology: only the timing models read it (KB_TOPOLOGY_KEYS' role) */
} key_def;

typedef struct schema {
	const char *what;                 /* "topology", "ccl" */
	const key_def *keys;
	size_t n_keys;
	const char *const *components;    /* accept {kind, impl, attrs} here */
	size_t n_components;
	/* Returns the struct that holds a key's value; wild is the '*' segment
	 * (NULL when the key has none). May create an entry if create is set. */
	void *(*locate)(void *cfg, const char *wild, bool create);
	kb_origin *(*origin)(void *cfg, size_t key_index);
} schema;

#define WILD_TOO_LONG '\x01'

/* Does path match pattern segment by segment ('*' matches one segment)?
 * With prefix set, path may be a proper prefix of the pattern. On a match,
 * *wild receives the segment that matched '*'. */
static bool path_match(const char *pattern, const char *path, bool prefix, char *wild, size_t wcap)
{
	const char *p = pattern, *s = path;
	for (;;) {
		const char *pe = strchr(p, '.'), *se = strchr(s, '.');
		size_t pl = pe ? (size_t)(pe - p) : strlen(p);
		size_t sl = se ? (size_t)(se - s) : strlen(s);
		if (pl == 1 && *p == '*') {
			if (wild && sl < wcap) {
				memcpy(wild, s, sl);
				wild[sl] = '\0';
			} else if (wild && wcap >= 2) { /* too long a name: never truncated into another */
				wild[0] = WILD_TOO_LONG;
				wild[1] = '\0';
			}
		} else if (pl != sl || strncmp(p, s, pl) != 0) {
			return false;
		}
		if (!se)
			return prefix ? true : !pe;
		if (!pe)
			return false;
		p = pe + 1;
		s = se + 1;
	}
}

static const key_def *find_key(const schema *sc, const char *path, char *wild, size_t wcap)
{
	for (size_t i = 0; i < sc->n_keys; i++)
		if (path_match(sc->keys[i].path, path, false, wild, wcap))
			return &sc->keys[i];
	return NULL;
}

static int segments(const char *p)
{
	int n = *p ? 1 : 0;
	for (; *p; p++)
		n += *p == '.';
	return n;
}

/* Is path a mapping the schema knows (a proper prefix of some key, or a
 * component or one of its ancestors)? */
static bool is_known_map(const schema *sc, const char *path)
{
	int n = segments(path);
	for (size_t i = 0; i < sc->n_keys; i++)
		if (segments(sc->keys[i].path) > n && path_match(sc->keys[i].path, path, true, NULL, 0))
			return true;
	for (size_t i = 0; i < sc->n_components; i++)
		if (segments(sc->components[i]) >= n && path_match(sc->components[i], path, true, NULL, 0))
			return true;
	return false;
}

/* If path is `<component>.kind|impl|attrs`, returns the component name. */
static const char *component_field(const schema *sc, const char *path, const char **field)
{
	for (size_t i = 0; i < sc->n_components; i++) {
		const char *c = sc->components[i];
		size_t cl = strlen(c);
		if (strncmp(path, c, cl) == 0 && path[cl] == '.') {
			*field = path + cl + 1;
			const char *name = strrchr(c, '.');
			return name ? name + 1 : c;
		}
	}
	return NULL;
}

/* Lists the known names one level below parent, for "did you mean". */
static void known_children(const schema *sc, const char *parent, char *buf, size_t cap)
{
	size_t used = 0;
	int depth = segments(parent);
	buf[0] = '\0';
	for (size_t i = 0; i < sc->n_keys + sc->n_components; i++) {
		const char *k = i < sc->n_keys ? sc->keys[i].path : sc->components[i - sc->n_keys];
		if (*parent && !path_match(k, parent, true, NULL, 0))
			continue;
		const char *seg = k;
		for (int d = 0; d < depth && seg; d++)
			seg = strchr(seg, '.') ? strchr(seg, '.') + 1 : NULL;
		if (!seg)
			continue;
		size_t len = strcspn(seg, ".");
		char needle[80], hay[1100];
		snprintf(needle, sizeof needle, " %.*s,", (int)len, seg);
		/* buf is "a, b, c": normalise to " a, b, c," so " x," finds whole names */
		snprintf(hay, sizeof hay, " %s,", buf);
		if (len == 0 || strstr(hay, needle) || used + len + 3 >= cap)
			continue;
		used += (size_t)snprintf(buf + used, cap - used, "%s%.*s", used ? ", " : "", (int)len, seg);
	}
}

/* Rates (bandwidths, clocks) must be strictly positive. */
static bool must_be_positive(const key_def *k)
{
	return k->type == K_FLOAT && k->lo == 0 && (strstr(k->unit, "/s") || strstr(k->unit, "Hz"));
}

static int set_value(const schema *sc, void *cfg, const key_def *k, const char *wild, const char *text,
		     const node *seq, const char *where, kb_error *err)
{
	char *base = sc->locate(cfg, wild, true);
	if (!base)
		return kb_fail(err, "%s: %s: too many entries", where, k->path);
	void *dst = base + k->off;
	if (k->type == K_LIST) {
		char (*names)[KB_NAME_MAX] = dst;
		int *count = (int *)((char *)dst + sizeof(char[KB_MAX_CORNERS][KB_NAME_MAX]));
		int n = 0;
		char items[KB_MAX_CORNERS * KB_NAME_MAX + 64];
		if (seq && seq->type != N_SEQ)
			return kb_fail(err, "%s: %s: expected a list", where, k->path);
		size_t count_in = seq ? seq->n : 0;
		if (!seq) {
			snprintf(items, sizeof items, "%s", text);
			count_in = 1;
			for (const char *c = items; *c; c++)
				count_in += *c == ',';
		}
		if (count_in < (size_t)k->lo || count_in > (size_t)k->hi)
			return kb_fail(err, "%s: %s: expected %g to %g names, got %zu", where, k->path, k->lo, k->hi, count_in);
		char *save = NULL, *tok = seq ? NULL : strtok_r(items, ",", &save);
		for (size_t i = 0; i < count_in; i++) {
			const char *item = seq ? seq->kids[i]->text : tok;
			if (seq && seq->kids[i]->type != N_SCALAR)
				return kb_fail(err, "%s: %s: list items must be names", where, k->path);
			if (!item || !*item || strlen(item) >= KB_NAME_MAX)
				return kb_fail(err, "%s: %s: bad name in list", where, k->path);
			for (int j = 0; j < n; j++)
				if (strcmp(names[j], item) == 0)
					return kb_fail(err, "%s: %s: '%s' is listed twice", where, k->path, item);
			snprintf(names[n++], KB_NAME_MAX, "%s", item);
			if (!seq)
				tok = strtok_r(NULL, ",", &save);
		}
		*count = n;
		return 0;
	}
	if (seq)
		return kb_fail(err, "%s: %s: expected a single value, got a %s", where, k->path,
			       seq->type == N_MAP ? "mapping" : "list");
	if (k->type == K_INT || k->type == K_FLOAT) {
		char *end;
		errno = 0;
		double v = strtod(text, &end);
		while (*end == ' ')
			end++;
		if (!*text || *end || errno || !isfinite(v))
			return kb_fail(err, "%s: %s: '%s' is not a number", where, k->path, text);
		if (k->type == K_INT && v != floor(v))
			return kb_fail(err, "%s: %s: '%s' must be an integer", where, k->path, text);
		if (must_be_positive(k) && v <= 0)
			return kb_fail(err, "%s: %s: %s must be > 0 %s", where, k->path, text, k->unit);
		if (must_be_positive(k) && v < 0.001) /* 1 MB/s, 1 MHz: below, simulated times leave 64 bits */
			return kb_fail(err, "%s: %s: %s is below the 0.001 %s a machine can have", where, k->path, text,
				       k->unit);
		if (v < k->lo || v > k->hi)
			return kb_fail(err, "%s: %s: %s is out of range (%g..%g%s%s)", where, k->path, text, k->lo,
				       k->hi, *k->unit ? " " : "", k->unit);
		if (k->type == K_INT)
			*(int64_t *)dst = (int64_t)v;
		else
			*(double *)dst = v;
		return 0;
	}
	if (strlen(text) >= KB_NAME_MAX)
		return kb_fail(err, "%s: %s: value too long", where, k->path);
	if (k->type == K_ENUM) {
		size_t tl = strlen(text);
		const char *c = k->choices;
		bool ok = false;
		while (*c && !ok) {
			size_t cl = strcspn(c, "|");
			ok = cl == tl && strncmp(c, text, cl) == 0;
			c += cl + (c[cl] == '|');
		}
		if (!ok)
			return kb_fail(err, "%s: %s: '%s' is not one of %s", where, k->path, text, k->choices);
	} else if (!*text) {
		return kb_fail(err, "%s: %s: empty value", where, k->path);
	}
	snprintf(dst, KB_NAME_MAX, "%s", text);
	return 0;
}

static void record_origin(const schema *sc, void *cfg, const key_def *k, int line, int col, bool over)
{
	if (!sc->origin)
		return;
	kb_origin *o = sc->origin(cfg, (size_t)(k - sc->keys));
	if (o) {
		o->line = line;
		o->col = col;
		o->overridden = over;
	}
}

static int walk(const schema *sc, void *cfg, const char *file, const node *map, const char *prefix, kb_error *err)
{
	for (size_t i = 0; i + 1 < map->n; i += 2) {
		const node *kn = map->kids[i], *vn = map->kids[i + 1];
		char path[256], where[320];
		if (kn->type != N_SCALAR)
			return kb_fail(err, "%s:%d:%d: keys must be plain names", file, kn->line, kn->col);
		for (size_t j = 0; j < i; j += 2)
			if (strcmp(map->kids[j]->text, kn->text) == 0)
				return kb_fail(err, "%s:%d:%d: duplicate key '%s%s%s'", file, kn->line, kn->col,
					       prefix, *prefix ? "." : "", kn->text);
		snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", kn->text);
		snprintf(where, sizeof where, "%s:%d:%d", file, vn->line, vn->col);
		char wild[KB_NAME_MAX] = "";
		const key_def *k = find_key(sc, path, wild, sizeof wild);
		if (k && wild[0] == WILD_TOO_LONG)
			return kb_fail(err, "%s:%d:%d: the name in '%s' is longer than %d characters", file, kn->line, kn->col,
				       path, KB_NAME_MAX - 1);
		const char *field;
		const char *comp = component_field(sc, path, &field);
		if (k) {
			int rc = set_value(sc, cfg, k, wild, vn->text, vn->type == N_SCALAR ? NULL : vn, where, err);
			if (rc)
				return rc;
			record_origin(sc, cfg, k, vn->line, vn->col, false);
		} else if (comp && (strcmp(field, "kind") == 0 || strcmp(field, "impl") == 0)) {
			if (vn->type != N_SCALAR)
				return kb_fail(err, "%s: %s: expected a name", where, path);
			if (strcmp(field, "kind") == 0 && strcmp(vn->text, comp) != 0)
				return kb_fail(err, "%s: %s: component '%s' must have kind '%s', not '%s'", where, path,
					       comp, comp, vn->text);
			if (strcmp(field, "impl") == 0 && strncmp(vn->text, "builtin.", 8) != 0)
				return kb_fail(err, "%s: %s: only builtin implementations exist ('builtin.%s')", where,
					       path, comp);
		} else if (comp && strcmp(field, "attrs") == 0 && vn->type == N_MAP && vn->n == 0) {
			/* `attrs: {}` on a component without parameters */
		} else if (vn->type == N_MAP && is_known_map(sc, path)) {
			int rc = walk(sc, cfg, file, vn, path, err);
			if (rc)
				return rc;
		} else {
			char known[600];
			known_children(sc, prefix, known, sizeof known);
			if (vn->type != N_MAP && is_known_map(sc, path))
				return kb_fail(err, "%s:%d:%d: %s: expected a mapping", file, vn->line, vn->col, path);
			return kb_fail(err, "%s:%d:%d: unknown key '%s'%s%s%s", file, kn->line, kn->col, path,
				       *known ? " (known here: " : "", known, *known ? ")" : "");
		}
	}
	return 0;
}

static void apply_defaults(const schema *sc, void *cfg)
{
	for (size_t i = 0; i < sc->n_keys; i++) {
		const key_def *k = &sc->keys[i];
		if (!k->def || strchr(k->path, '*'))
			continue;
		int rc = set_value(sc, cfg, k, NULL, k->def, NULL, "default", NULL);
		assert(rc == 0 && "schema defaults are valid");
		(void)rc;
	}
}

static int load_text(const schema *sc, void *cfg, const char *name, const char *text, kb_error *err)
{
	node *root = NULL;
	if (kb_text_check(name, text, strlen(text), err))
		return -1;
	if (yaml_to_tree(name, text, &root, err))
		return -1;
	int rc = walk(sc, cfg, name, root, "", err);
	node_free(root);
	return rc;
}

/* Appends "key=value\n" to an owned override log. */
static int log_override(char **log, const char *key, const char *value)
{
	size_t old = *log ? strlen(*log) : 0, add = strlen(key) + strlen(value) + 2;
	char *n = realloc(*log, old + add + 1);
	if (!n)
		return -1;
	snprintf(n + old, add + 1, "%s=%s\n", key, value);
	*log = n;
	return 0;
}

static int set_key(const schema *sc, void *cfg, char **log, const char *key, const char *value, kb_error *err)
{
	char wild[KB_NAME_MAX] = "", where[400];
	snprintf(where, sizeof where, "--set %s%s=%s", strcmp(sc->what, "ccl") == 0 ? "ccl." : "", key, value);
	const key_def *k = find_key(sc, key, wild, sizeof wild);
	if (k && wild[0] == WILD_TOO_LONG)
		return kb_fail(err, "%s: the name in '%s' is longer than %d characters", where, key, KB_NAME_MAX - 1);
	if (!k) {
		char known[600], parent[256];
		snprintf(parent, sizeof parent, "%s", key);
		char *dot = strrchr(parent, '.');
		if (dot)
			*dot = '\0';
		else
			parent[0] = '\0';
		known_children(sc, is_known_map(sc, parent) ? parent : "", known, sizeof known);
		return kb_fail(err, "%s: unknown %s key '%s' (known here: %s)", where, sc->what, key, known);
	}
	if (*wild && !sc->locate(cfg, wild, false))
		return kb_fail(err, "%s: no entry '%s' in the %s config", where, wild, sc->what);
	if (set_value(sc, cfg, k, wild, value, NULL, where, err))
		return -1;
	record_origin(sc, cfg, k, 0, 0, true);
	if (log_override(log, key, value))
		return kb_fail_status(err, KB_E_NOMEM, "%s: out of memory", where);
	return 0;
}

/* Loads path, or the built-in text when path is NULL, through load_text. */
static int load_path(void *cfg, const char *path, const char *builtin_name, const char *builtin,
		     int (*load)(void *cfg, const char *name, const char *text, kb_error *err), kb_error *err)
{
	if (!path)
		return load(cfg, builtin_name, builtin, err);
	char *text;
	size_t len;
	if (kb_read_file(path, &text, &len, err))
		return -1;
	int rc = kb_text_check(path, text, len, err) ? -1 : load(cfg, path, text, err);
	free(text);
	return rc;
}

/* ------------------------------------------------------------------ */
/* topology.yaml                                                       */
/* ------------------------------------------------------------------ */

#define KT_I K_INT
#define KT_F K_FLOAT
#define KT_E K_ENUM
#define KT_L K_LIST
#define KB_ROLE_TIME true
#define KB_ROLE_TRACE false
#define TOPO_KEY(role, T, f, path, def, lo, hi, unit, choices) \
	{path, KT_##T, offsetof(kb_topo_cfg, f), def, lo, hi, unit, choices, KB_ROLE_##role},

static const key_def topo_keys[] = {KB_TOPOLOGY_KEYS(TOPO_KEY)};
static const char *const topo_components[] = {KB_TOPOLOGY_COMPONENTS};

static void *topo_locate(void *cfg, const char *wild, bool create)
{
	(void)wild;
	(void)create;
	return cfg;
}

static kb_origin *topo_origin(void *cfg, size_t i)
{
	return &((kb_topo_cfg *)cfg)->origin[i];
}

static const schema topo_schema = {
	"topology", topo_keys, sizeof topo_keys / sizeof topo_keys[0],
	topo_components, sizeof topo_components / sizeof topo_components[0],
	topo_locate, topo_origin,
};

void kb_topo_defaults(kb_topo_cfg *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	apply_defaults(&topo_schema, cfg);
	snprintf(cfg->source, sizeof cfg->source, "<defaults>");
}

int kb_topo_load_text(kb_topo_cfg *cfg, const char *name, const char *text, kb_error *err)
{
	kb_topo_defaults(cfg);
	snprintf(cfg->source, sizeof cfg->source, "%s", name);
	if (load_text(&topo_schema, cfg, name, text, err))
		return -1;
	cfg->yaml_text = strdup(text);
	return cfg->yaml_text ? 0 : kb_fail_status(err, KB_E_NOMEM, "%s: out of memory", name);
}

static int topo_load_text(void *cfg, const char *name, const char *text, kb_error *err)
{
	return kb_topo_load_text(cfg, name, text, err);
}

int kb_topo_load(kb_topo_cfg *cfg, const char *path, kb_error *err)
{
	return load_path(cfg, path, "configs/topology.yaml (built in)", kb_builtin_topology_yaml, topo_load_text, err);
}

bool kb_topo_key_is_timing(const char *path)
{
	for (size_t i = 0; i < sizeof topo_keys / sizeof topo_keys[0]; i++)
		if (strcmp(topo_keys[i].path, path) == 0)
			return topo_keys[i].timing;
	return false;
}

/* A key's value as text, for messages. */
static void key_text(const key_def *k, const kb_topo_cfg *c, char *buf, size_t cap)
{
	const char *p = (const char *)c + k->off;
	switch (k->type) {
	case K_INT: snprintf(buf, cap, "%lld", (long long)*(const int64_t *)p); break;
	case K_FLOAT: snprintf(buf, cap, "%g", *(const double *)p); break;
	case K_LIST: {
		const char(*items)[KB_NAME_MAX] = (const void *)p;
		size_t o = 0;
		for (int i = 0; i < c->n_corners && o < cap; i++)
			o += (size_t)snprintf(buf + o, cap - o, "%s%s", i ? "," : "", items[i]);
		if (!c->n_corners)
			snprintf(buf, cap, "(none)");
		break;
	}
	default: snprintf(buf, cap, "%s", p); break;
	}
}

int kb_topo_same_structure(const kb_topo_cfg *was, const kb_topo_cfg *now, kb_error *err)
{
	for (size_t i = 0; i < sizeof topo_keys / sizeof topo_keys[0]; i++) {
		const key_def *k = &topo_keys[i];
		if (k->timing)
			continue;
		char a[512], b[512];
		key_text(k, was, a, sizeof a);
		key_text(k, now, b, sizeof b);
		if (strcmp(a, b) != 0)
			return kb_fail(err, "%s is %s but the trace was recorded with %s (only timing parameters may change)",
				       k->path, b, a);
	}
	return 0;
}

int kb_topo_set(kb_topo_cfg *cfg, const char *key, const char *value, kb_error *err)
{
	return set_key(&topo_schema, cfg, &cfg->overrides, key, value, err);
}

void kb_topo_release(kb_topo_cfg *cfg)
{
	free(cfg->yaml_text);
	free(cfg->overrides);
	cfg->yaml_text = cfg->overrides = NULL;
}

char *kb_topo_effective(const kb_topo_cfg *cfg)
{
	size_t cap = 8192, used = 0;
	char *out = malloc(cap);
	if (!out)
		return NULL;
	out[0] = '\0';
	for (size_t i = 0; i < topo_schema.n_keys; i++) {
		const key_def *k = &topo_keys[i];
		const char *v = (const char *)cfg + k->off;
		char val[KB_MAX_CORNERS * KB_NAME_MAX];
		if (k->type == K_INT)
			snprintf(val, sizeof val, "%lld", (long long)*(const int64_t *)v);
		else if (k->type == K_FLOAT)
			snprintf(val, sizeof val, "%g", *(const double *)v);
		else if (k->type == K_ENUM)
			snprintf(val, sizeof val, "%s", v);
		else {
			const char (*names)[KB_NAME_MAX] = (const void *)v;
			size_t o = 0;
			val[0] = '\0';
			for (int j = 0; j < cfg->n_corners; j++)
				o += (size_t)snprintf(val + o, sizeof val - o, "%s%s", j ? "," : "", names[j]);
		}
		char line[512];
		int n = snprintf(line, sizeof line, "%s: %s%s%s\n", k->path, val, *k->unit ? "  # " : "", k->unit);
		if (used + (size_t)n + 1 > cap) {
			cap *= 2;
			char *nb = realloc(out, cap);
			if (!nb) {
				free(out);
				return NULL;
			}
			out = nb;
		}
		memcpy(out + used, line, (size_t)n + 1);
		used += (size_t)n;
	}
	return out;
}

/* For machine.c: where a key was set, as "file:line:col" or "--set". */
void kb_topo_where(const kb_topo_cfg *cfg, size_t off, char *buf, size_t cap, const char **path);
void kb_topo_where(const kb_topo_cfg *cfg, size_t off, char *buf, size_t cap, const char **path)
{
	for (size_t i = 0; i < topo_schema.n_keys; i++) {
		if (topo_keys[i].off != off)
			continue;
		const kb_origin *o = &cfg->origin[i];
		*path = topo_keys[i].path;
		if (o->overridden)
			snprintf(buf, cap, "--set %s", topo_keys[i].path);
		else if (o->line)
			snprintf(buf, cap, "%s:%d:%d", cfg->source, o->line, o->col);
		else
			snprintf(buf, cap, "%s (default)", cfg->source);
		return;
	}
	snprintf(buf, cap, "%s", cfg->source);
	*path = "?";
}

/* ------------------------------------------------------------------ */
/* ccl.yaml                                                            */
/* ------------------------------------------------------------------ */

#define BUFFER_KINDS "tcm|hbm|sram"
#define CCL_TOPOLOGIES "ring_1d|ring_1d_unidir|mesh_2d|torus_2d|mesh_2d_no_wrap|tree_binary|hierarchical_3level|" \
	"intercube_multisip|intracube_pe_ring|none"
#define A(field) offsetof(kb_ccl_algo, field)

static const key_def ccl_keys[] = {
	{"defaults.algorithm", K_STR, A(algorithm), "intercube_allreduce", 0, 0, "", NULL, false},
	{"defaults.buffer_kind", K_ENUM, A(buffer_kind), "tcm", 0, 0, "", BUFFER_KINDS, false},
	{"defaults.backpressure", K_ENUM, A(backpressure), "sleep", 0, 0, "", "sleep", false},
	{"defaults.n_slots", K_INT, A(n_slots), "4", 1, 1024, "slots", NULL, false},
	{"defaults.slot_size", K_INT, A(slot_size), "4096", 16, 1 << 26, "bytes", NULL, false},
	{"defaults.vc_chunk_size", K_INT, A(vc_chunk_size), "256", 1, 1 << 26, "bytes", NULL, false},
	{"defaults.ipcq_credit_size_bytes", K_INT, A(ipcq_credit_size_bytes), "16", 1, 4096, "bytes", NULL, false},
	{"defaults.world_size", K_INT, A(world_size), NULL, 1, 1 << 20, "ranks", NULL, false},
	{"defaults.n_elem", K_INT, A(n_elem), "8", 1, 1 << 30, "elements", NULL, false},
	{"algorithms.*.module", K_STR, A(module), NULL, 0, 0, "", NULL, false},
	{"algorithms.*.topology", K_ENUM, A(topology), NULL, 0, 0, "", CCL_TOPOLOGIES, false},
	{"algorithms.*.buffer_kind", K_ENUM, A(buffer_kind), NULL, 0, 0, "", BUFFER_KINDS, false},
	{"algorithms.*.backpressure", K_ENUM, A(backpressure), NULL, 0, 0, "", "sleep", false},
	{"algorithms.*.mapper", K_ENUM, A(mapper), NULL, 0, 0, "", "leader_only|all_pes", false},
	{"algorithms.*.validator", K_ENUM, A(validator), NULL, 0, 0, "", "single_shard_per_rank|multi_pe_sip_local", false},
	{"algorithms.*.reduce_op", K_ENUM, A(reduce_op), NULL, 0, 0, "", "sum", false},
	{"algorithms.*.n_slots", K_INT, A(n_slots), NULL, 1, 1024, "slots", NULL, false},
	{"algorithms.*.slot_size", K_INT, A(slot_size), NULL, 16, 1 << 26, "bytes", NULL, false},
	{"algorithms.*.vc_chunk_size", K_INT, A(vc_chunk_size), NULL, 1, 1 << 26, "bytes", NULL, false},
	{"algorithms.*.ipcq_credit_size_bytes", K_INT, A(ipcq_credit_size_bytes), NULL, 1, 4096, "bytes", NULL, false},
	{"algorithms.*.n_elem", K_INT, A(n_elem), NULL, 1, 1 << 30, "elements", NULL, false},
	{"algorithms.*.world_size", K_INT, A(world_size), NULL, 1, 1 << 20, "ranks", NULL, false},
	{"algorithms.*.root_cube", K_INT, A(root_cube), NULL, 0, 1023, "", NULL, false},
	{"algorithms.*.chunk_size", K_INT, A(chunk_size), NULL, 1, 1 << 30, "elements", NULL, false},
};

static void algo_unset(kb_ccl_algo *a, const char *name)
{
	memset(a, 0, sizeof *a);
	snprintf(a->name, sizeof a->name, "%s", name);
	a->n_slots = a->slot_size = a->vc_chunk_size = a->ipcq_credit_size_bytes = -1;
	a->world_size = a->n_elem = a->root_cube = a->chunk_size = -1;
}

static void *ccl_locate(void *vcfg, const char *wild, bool create)
{
	kb_ccl_cfg *cfg = vcfg;
	if (!wild || !*wild)
		return &cfg->defaults;
	for (int i = 0; i < cfg->n_algos; i++)
		if (strcmp(cfg->algos[i].name, wild) == 0)
			return &cfg->algos[i];
	if (!create || cfg->n_algos == KB_CCL_MAX_ALGOS || strlen(wild) >= KB_NAME_MAX)
		return NULL;
	algo_unset(&cfg->algos[cfg->n_algos], wild);
	return &cfg->algos[cfg->n_algos++];
}

static const schema ccl_schema = {
	"ccl", ccl_keys, sizeof ccl_keys / sizeof ccl_keys[0], NULL, 0, ccl_locate, NULL,
};

void kb_ccl_defaults(kb_ccl_cfg *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	algo_unset(&cfg->defaults, "defaults");
	apply_defaults(&ccl_schema, cfg);
	snprintf(cfg->source, sizeof cfg->source, "<defaults>");
}

/* The selected algorithm must exist once anything names algorithms. */
static int ccl_check(const kb_ccl_cfg *cfg, kb_error *err)
{
	for (int i = 0; i < cfg->n_algos; i++)
		if (!cfg->algos[i].module[0])
			return kb_fail(err, "%s: algorithms.%s.module: missing (every algorithm names its module)",
				       cfg->source, cfg->algos[i].name);
	if (cfg->n_algos && !ccl_locate((void *)cfg, cfg->defaults.algorithm, false))
		return kb_fail(err, "%s: defaults.algorithm: '%s' is not an entry of algorithms", cfg->source,
			       cfg->defaults.algorithm);
	return 0;
}

int kb_ccl_load_text(kb_ccl_cfg *cfg, const char *name, const char *text, kb_error *err)
{
	kb_ccl_defaults(cfg);
	snprintf(cfg->source, sizeof cfg->source, "%s", name);
	if (load_text(&ccl_schema, cfg, name, text, err) || ccl_check(cfg, err))
		return -1;
	cfg->yaml_text = strdup(text);
	return cfg->yaml_text ? 0 : kb_fail_status(err, KB_E_NOMEM, "%s: out of memory", name);
}

static int ccl_load_text(void *cfg, const char *name, const char *text, kb_error *err)
{
	return kb_ccl_load_text(cfg, name, text, err);
}

int kb_ccl_load(kb_ccl_cfg *cfg, const char *path, kb_error *err)
{
	return load_path(cfg, path, "configs/ccl.yaml (built in)", kb_builtin_ccl_yaml, ccl_load_text, err);
}

int kb_ccl_set(kb_ccl_cfg *cfg, const char *key, const char *value, kb_error *err)
{
	if (set_key(&ccl_schema, cfg, &cfg->overrides, key, value, err))
		return -1;
	return ccl_check(cfg, err);
}

int kb_ccl_resolve(const kb_ccl_cfg *cfg, const char *name, kb_ccl_algo *out, kb_error *err)
{
	const char *want = name ? name : cfg->defaults.algorithm;
	const kb_ccl_algo *a = ccl_locate((void *)cfg, want, false);
	if (!a || a == &cfg->defaults)
		return kb_fail(err, "%s: no algorithm '%s'", cfg->source, want);
	*out = cfg->defaults;
	snprintf(out->name, sizeof out->name, "%s", a->name);
	snprintf(out->algorithm, sizeof out->algorithm, "%s", a->name);
#define MERGE_STR(f) if (a->f[0]) snprintf(out->f, sizeof out->f, "%s", a->f)
#define MERGE_INT(f) if (a->f >= 0) out->f = a->f
	MERGE_STR(module); MERGE_STR(topology); MERGE_STR(buffer_kind); MERGE_STR(backpressure);
	MERGE_STR(mapper); MERGE_STR(validator); MERGE_STR(reduce_op);
	MERGE_INT(n_slots); MERGE_INT(slot_size); MERGE_INT(vc_chunk_size); MERGE_INT(ipcq_credit_size_bytes);
	MERGE_INT(world_size); MERGE_INT(n_elem); MERGE_INT(root_cube); MERGE_INT(chunk_size);
#undef MERGE_STR
#undef MERGE_INT
	if (!out->mapper[0])
		snprintf(out->mapper, sizeof out->mapper, "leader_only");
	return 0;
}

void kb_ccl_release(kb_ccl_cfg *cfg)
{
	free(cfg->yaml_text);
	free(cfg->overrides);
	cfg->yaml_text = cfg->overrides = NULL;
}
