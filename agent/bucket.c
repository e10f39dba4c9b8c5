/* SPDX-License-Identifier: MIT
 *
 * bucket.c — a token bucket per uid (see bucket.h).
 */
#include "bucket.h"

int ldp_uid_bucket_take(struct ldp_uid_buckets *bs, uid_t uid, double burst, double per_s,
			int64_t now_ns)
{
	unsigned i, k = bs->n;

	for (i = 0; i < bs->n; i++)
		if (bs->b[i].uid == uid) {
			k = i;
			break;
		}
	if (k == bs->n) {
		if (bs->n < LDP_UID_BUCKETS) {
			k = bs->n++;
		} else {
			k = 0;
			for (i = 1; i < bs->n; i++)
				if (bs->b[i].last < bs->b[k].last)
					k = i;
		}
		bs->b[k].uid = uid;
		bs->b[k].tokens = burst;
		bs->b[k].last = now_ns;
	}
	bs->b[k].tokens += (double)(now_ns - bs->b[k].last) / 1e9 * per_s;
	if (bs->b[k].tokens > burst)
		bs->b[k].tokens = burst;
	bs->b[k].last = now_ns;
	if (bs->b[k].tokens < 1.0)
		return 0;
	bs->b[k].tokens -= 1.0;
	return 1;
}
