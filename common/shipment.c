/* SPDX-License-Identifier: MIT
 *
 * shipment.c — labels of a shipment (see shipment.h). Never used in a signal handler.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "shipment.h"

int ldp_shipment_add_label(struct ldp_shipment *s, const char *key, const char *value)
{
	struct ldp_ship_label *l;

	if (s->nlabels >= LDP_SHIP_MAX_LABELS)
		return -ENOSPC;
	l = &s->labels[s->nlabels++];
	snprintf(l->key, sizeof(l->key), "%s", key);
	snprintf(l->value, sizeof(l->value), "%s", value);
	return 0;
}

const char *ldp_shipment_label(const struct ldp_shipment *s, const char *key)
{
	for (int i = 0; i < s->nlabels; i++)
		if (!strcmp(s->labels[i].key, key))
			return s->labels[i].value;
	return NULL;
}

void ldp_shipment_clear(struct ldp_shipment *s)
{
	if (!s)
		return;
	free(s->pprof);
	memset(s, 0, sizeof(*s));
}
