/*
 * fuzz_set.c — libFuzzer harness: lines of `--set KEY=VALUE` applied to the
 * default topology and ccl configs (a `ccl.` prefix routes to ccl.yaml, as
 * the CLI does), then the machine derived from the result.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "machine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	if (n > 4096)
		return 0;
	char *text = malloc(n + 1);
	if (!text)
		return 0;
	memcpy(text, data, n);
	text[n] = '\0';
	kb_topo_cfg topo;
	kb_ccl_cfg ccl;
	kb_error err;
	kb_topo_defaults(&topo);
	kb_ccl_defaults(&ccl);
	for (char *line = text, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *key, *value;
		if (kb_split_assignment(line, &key, &value))
			continue;
		if (strncmp(key, "ccl.", 4) == 0)
			kb_ccl_set(&ccl, key + 4, value, &err);
		else
			kb_topo_set(&topo, key, value, &err);
	}
	kb_machine m;
	kb_machine_init(&m, &topo, &err);
	kb_ccl_algo a;
	kb_ccl_resolve(&ccl, NULL, &a, &err);
	kb_topo_release(&topo);
	kb_ccl_release(&ccl);
	free(text);
	return 0;
}
