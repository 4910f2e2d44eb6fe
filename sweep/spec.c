/*
 * spec.c — reading a kb-sweep spec: a YAML mapping of bench | trace, set,
 * axes and combine; anything else is an error naming its line.
 */
#include "sweep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static int at(kb_error *err, const char *path, const yaml_node_t *n, const char *what)
{
	return kb_fail(err, "%s:%zu:%zu: %s", path, n->start_mark.line + 1, n->start_mark.column + 1, what);
}

static char *scalar(yaml_document_t *d, yaml_node_t *n)
{
	(void)d;
	return n && n->type == YAML_SCALAR_NODE ? strndup((const char *)n->data.scalar.value, n->data.scalar.length) : NULL;
}

/* A sequence of scalars into a NULL-terminated array of strings. */
static int strings(yaml_document_t *d, yaml_node_t *n, const char *path, const char *key, char ***out, int *count,
		   int max, kb_error *err)
{
	char msg[160];
	if (n->type != YAML_SEQUENCE_NODE) {
		snprintf(msg, sizeof msg, "%s: expected a list ([a, b, ...])", key);
		return at(err, path, n, msg);
	}
	int len = (int)(n->data.sequence.items.top - n->data.sequence.items.start);
	if (len < 1 || len > max) {
		snprintf(msg, sizeof msg, "%s: expected 1 to %d values, got %d", key, max, len);
		return at(err, path, n, msg);
	}
	char **v = calloc((size_t)len + 1, sizeof *v);
	if (!v)
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	for (int i = 0; i < len; i++) {
		yaml_node_t *item = yaml_document_get_node(d, n->data.sequence.items.start[i]);
		if (!(v[i] = scalar(d, item))) {
			for (int k = 0; k < i; k++)
				free(v[k]);
			free(v);
			snprintf(msg, sizeof msg, "%s: value %d is not a scalar", key, i + 1);
			return at(err, path, item ? item : n, msg);
		}
	}
	*out = v;
	*count = len;
	return 0;
}

static int load(kb_sweep_spec *s, yaml_document_t *d, const char *path, kb_error *err)
{
	yaml_node_t *root = yaml_document_get_root_node(d);
	if (!root || root->type != YAML_MAPPING_NODE)
		return kb_fail(err, "%s: a spec is a mapping of bench or trace, set, axes and combine", path);
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key), *v = yaml_document_get_node(d, p->value);
		const char *key = k && k->type == YAML_SCALAR_NODE ? (const char *)k->data.scalar.value : "";
		if (strcmp(key, "bench") == 0 || strcmp(key, "trace") == 0) {
			char **dst = key[0] == 'b' ? &s->bench : &s->trace;
			if (!(*dst = scalar(d, v)) || !**dst)
				return at(err, path, v, "bench / trace: expected a name or a path");
		} else if (strcmp(key, "set") == 0) {
			char **v_list;
			if (strings(d, v, path, "set", &v_list, &s->n_sets, KB_SWEEP_MAX_SETS, err))
				return -1;
			for (int i = 0; i < s->n_sets; i++) {
				s->sets[i] = v_list[i];
				if (!strchr(s->sets[i], '='))
					return at(err, path, v, "set: each value is KEY=VALUE");
			}
			free(v_list);
		} else if (strcmp(key, "axes") == 0) {
			if (v->type != YAML_MAPPING_NODE)
				return at(err, path, v, "axes: expected a mapping of keys to value lists");
			for (yaml_node_pair_t *a = v->data.mapping.pairs.start; a < v->data.mapping.pairs.top; a++) {
				if (s->n_axes == KB_SWEEP_MAX_AXES)
					return at(err, path, v, "axes: at most 16");
				yaml_node_t *ak = yaml_document_get_node(d, a->key), *av = yaml_document_get_node(d, a->value);
				int n = s->n_axes;
				if (!(s->axis_key[n] = scalar(d, ak)) || !*s->axis_key[n])
					return at(err, path, ak, "axes: a key is a name");
				for (int j = 0; j < n; j++)
					if (strcmp(s->axis_key[j], s->axis_key[n]) == 0)
						return at(err, path, ak, "axes: a key appears twice");
				if (strings(d, av, path, s->axis_key[n], &s->axis_values[n], &s->n_values[n], 10000, err))
					return -1;
				s->n_axes++;
			}
		} else if (strcmp(key, "combine") == 0) {
			const char *c = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "";
			if (strcmp(c, "zip") != 0 && strcmp(c, "product") != 0)
				return at(err, path, v, "combine: expected product or zip");
			s->zip = c[0] == 'z';
		} else {
			char msg[160];
			snprintf(msg, sizeof msg, "unknown key '%.60s' (known: bench, trace, set, axes, combine)", key);
			return at(err, path, k, msg);
		}
	}
	if (!s->bench == !s->trace)
		return kb_fail(err, "%s: a spec names a bench or a trace (one of them)", path);
	if (!s->n_axes)
		return kb_fail(err, "%s: no axes: a sweep needs at least one key with values", path);
	for (int a = 1; s->zip && a < s->n_axes; a++)
		if (s->n_values[a] != s->n_values[0])
			return kb_fail(err, "%s: combine: zip needs lists of one length (%s has %d, %s has %d)", path,
				       s->axis_key[0], s->n_values[0], s->axis_key[a], s->n_values[a]);
	return 0;
}

int kb_sweep_spec_load(kb_sweep_spec *s, const char *path, kb_error *err)
{
	memset(s, 0, sizeof *s);
	size_t len;
	if (kb_read_file(path, &s->text, &len, err) || kb_text_check(path, s->text, len, err))
		return -1;
	yaml_parser_t p;
	yaml_document_t d;
	if (!yaml_parser_initialize(&p))
		return kb_fail_status(err, KB_E_NOMEM, "out of memory");
	yaml_parser_set_input_string(&p, (const unsigned char *)s->text, len);
	int rc;
	if (!yaml_parser_load(&p, &d)) {
		rc = kb_fail(err, "%s:%zu:%zu: YAML syntax error: %s", path, p.problem_mark.line + 1,
			     p.problem_mark.column + 1, p.problem ? p.problem : "?");
	} else {
		rc = load(s, &d, path, err);
		yaml_document_delete(&d);
	}
	yaml_parser_delete(&p);
	return rc;
}

void kb_sweep_spec_release(kb_sweep_spec *s)
{
	free(s->text);
	free(s->bench);
	free(s->trace);
	for (int i = 0; i < s->n_sets; i++)
		free(s->sets[i]);
	for (int a = 0; a < s->n_axes; a++) {
		free(s->axis_key[a]);
		for (int v = 0; s->axis_values[a] && v < s->n_values[a]; v++)
			free(s->axis_values[a][v]);
		free(s->axis_values[a]);
	}
	memset(s, 0, sizeof *s);
}
