/* SPDX-License-Identifier: MIT
 *
 * bucket.h — a token bucket per uid: what one user may do in a burst and then at a steady
 * rate, for the agent's limits on requests (server.c) and on the profiles of ended processes
 * (cover.c). A fixed table: when it is full the least recently used uid's bucket is taken for
 * a new uid (it was full by then, or nearly: forgetting it is harmless).
 * One thread at a time; never allocates.
 */
#ifndef LDP_AGENT_BUCKET_H
#define LDP_AGENT_BUCKET_H

#include <stdint.h>
#include <sys/types.h>

#define LDP_UID_BUCKETS 256

struct ldp_uid_buckets {
	struct {
		uid_t uid;
		double tokens;
		int64_t last; /* monotonic ns */
	} b[LDP_UID_BUCKETS];
	unsigned n;
};

/* Takes one token from uid's bucket, which holds at most burst and gains per_s a second;
 * a uid seen for the first time starts full. now_ns: CLOCK_MONOTONIC. Returns 1, or 0 when
 * the bucket is empty. */
int ldp_uid_bucket_take(struct ldp_uid_buckets *bs, uid_t uid, double burst, double per_s,
			int64_t now_ns);

#endif
