/*
 * fuzz_config.c — libFuzzer harness: arbitrary bytes as topology.yaml and
 * as ccl.yaml text, then the machine derived from an accepted topology.
 * Every input must end in success or one error line, never a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "machine.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
	if (n > (1 << 16))
		return 0;
	char *text = malloc(n + 1);
	if (!text)
		return 0;
	memcpy(text, data, n);
	text[n] = '\0';
	kb_error err;
	if (kb_text_check("fuzz.yaml", text, n, &err) == 0) {
		kb_topo_cfg topo;
		if (kb_topo_load_text(&topo, "fuzz.yaml", text, &err) == 0) {
			kb_machine m;
			kb_machine_init(&m, &topo, &err);
		}
		kb_topo_release(&topo);
		kb_ccl_cfg ccl;
		if (kb_ccl_load_text(&ccl, "fuzz.yaml", text, &err) == 0) {
			kb_ccl_algo a;
			kb_ccl_resolve(&ccl, NULL, &a, &err);
		}
		kb_ccl_release(&ccl);
	}
	free(text);
	return 0;
}
