/* SPDX-License-Identifier: MIT
 *
 * shipment.h — one profile on its way to the endpoint: the serialized pprof, the window it
 * covers, and the labels it is filed under. The unit the HTTP sender, the spool and the
 * delivery queue pass around. Plain data; never used in a signal handler.
 */
#ifndef LDP_SHIPMENT_H
#define LDP_SHIPMENT_H

#include <stddef.h>
#include <stdint.h>

#define LDP_SHIP_MAX_LABELS 48
#define LDP_SHIP_MAX_PPROF (64u << 20) /* a profile larger than this is refused everywhere */

struct ldp_ship_label {
	char key[64];
	char value[256];
};

/* Well-known label keys (every shipment carries the ones it knows). The service name is the
 * label "service_name" (Pyroscope's and Grafana's convention). */
#define LDP_LABEL_SERVICE "service_name"
#define LDP_LABEL_HOST "hostname"
#define LDP_LABEL_PID "pid"
#define LDP_LABEL_EXE "exe"
#define LDP_LABEL_BUILD_ID "build_id"
#define LDP_LABEL_COMM "comm"

struct ldp_shipment {
	int64_t from_ns, until_ns; /* unix ns: the window the profile covers */
	int hz;                    /* sampling rate, for Pyroscope's sampleRate */
	int nlabels;
	struct ldp_ship_label labels[LDP_SHIP_MAX_LABELS];
	uint8_t *pprof;            /* serialized profile.proto, not compressed; malloc()ed */
	size_t len;
};

/* Appends key=value (truncated to fit). Returns 0, or -ENOSPC when the labels are full. */
int ldp_shipment_add_label(struct ldp_shipment *s, const char *key, const char *value);
/* The value of label key, or NULL. */
const char *ldp_shipment_label(const struct ldp_shipment *s, const char *key);
/* Frees s->pprof and clears s. Accepts NULL. */
void ldp_shipment_clear(struct ldp_shipment *s);

#endif
