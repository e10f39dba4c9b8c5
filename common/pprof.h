/* SPDX-License-Identifier: MIT
 *
 * pprof.h — build a CPU profile in pprof's profile.proto format and serialize it gzip-compressed.
 *
 * The builder interns strings, functions and locations so that ids are dense from 1 and
 * string_table[0] is "", as Parca and `go tool pprof` require. Sample types are fixed to the
 * CPU convention Go uses: samples/count and cpu/nanoseconds, period type cpu/nanoseconds.
 * Shared by the collectors (`ldprof run`, the agent) and `ldprof report`.
 * Never called from a signal handler: it allocates. A builder is not locked: one thread at a
 * time. The reader's result is read-only and may be shared.
 *
 * The writer is in pprof.c, the reader (for `ldprof report`, tests and fuzzing) in pprof_read.c.
 */
#ifndef LDP_PPROF_H
#define LDP_PPROF_H

#include <stddef.h>
#include <stdint.h>

struct ldp_pprof;

/* Limits of one builder: past them the add_* calls fail with -E2BIG (the caller drops and
 * counts). Strings, functions, locations and mappings each; the bytes of all strings; and
 * encoded samples in bytes. */
#define LDP_PPROF_MAX_ENTRIES (1u << 20)
#define LDP_PPROF_MAX_STRING_BYTES (64u << 20)
#define LDP_PPROF_MAX_SAMPLE_BYTES (64u << 20)

struct ldp_pprof_label {
	const char *key;
	const char *str; /* string value */
};

/* period_ns: sampling interval in ns. time_ns: window start (unix ns). duration_ns: window
 * length. Returns NULL on ENOMEM. */
struct ldp_pprof *ldp_pprof_new(int64_t period_ns, int64_t time_ns, int64_t duration_ns);
/* Accepts NULL. */
void ldp_pprof_free(struct ldp_pprof *p);

/* Returns the mapping id (>= 1) or -errno. build_id is a hex string or NULL. Add the main
 * executable's mapping first. */
int64_t ldp_pprof_add_mapping(struct ldp_pprof *p, uint64_t start, uint64_t limit, uint64_t offset,
			      const char *filename, const char *build_id);

/* Returns the location id (>= 1) or -errno. The same (mapping, address) returns the same id.
 * func may be NULL (unsymbolized: the location keeps its address for the server). mapping_id 0
 * means "no mapping"; any other id must come from ldp_pprof_add_mapping (else -EINVAL). */
int64_t ldp_pprof_add_location(struct ldp_pprof *p, uint64_t mapping_id, uint64_t address,
			       const char *func);

/* locs: location ids, leaf first. samples: count (>= 0); cpu ns = samples * period_ns.
 * Labels are string-valued; key and str must not be NULL. Returns 0 or -errno; on failure the
 * profile is unchanged (apart from strings interned on the way, which are harmless). */
int ldp_pprof_add_sample(struct ldp_pprof *p, const uint64_t *locs, size_t nlocs, int64_t samples,
			 const struct ldp_pprof_label *labels, size_t nlabels);

/* Serialize and gzip. *ret_buf is malloc()ed and owned by the caller. The builder stays
 * usable (more samples can be added and serialized again). */
int ldp_pprof_serialize(struct ldp_pprof *p, uint8_t **ret_buf, size_t *ret_len);
/* The same, not compressed (for senders that compress as their endpoint wants). */
int ldp_pprof_encode(struct ldp_pprof *p, uint8_t **ret_buf, size_t *ret_len);

/* ---- reading (for `ldprof report` and tests; input is untrusted) ---- */

struct ldp_prof_label { int64_t key, str, num; }; /* key, str: string table indices */
struct ldp_prof_sample {
	uint64_t *locs; /* location ids, leaf first */
	size_t nlocs;
	int64_t *values;
	size_t nvalues;
	struct ldp_prof_label *labels;
	size_t nlabels;
};
struct ldp_prof_mapping { uint64_t id, start, limit, offset; int64_t filename, build_id; };
struct ldp_prof_location { uint64_t id, mapping_id, address; uint64_t *func_ids; size_t nfuncs; };
struct ldp_prof_function { uint64_t id; int64_t name, system_name, filename; };
struct ldp_prof_valuetype { int64_t type, unit; };

struct ldp_profile {
	struct ldp_prof_valuetype *sample_types; size_t nsample_types;
	struct ldp_prof_sample *samples; size_t nsamples;
	struct ldp_prof_mapping *mappings; size_t nmappings;
	struct ldp_prof_location *locations; size_t nlocations;
	struct ldp_prof_function *functions; size_t nfunctions;
	char **strings; size_t nstrings;
	int64_t time_nanos, duration_nanos, period;
	struct ldp_prof_valuetype period_type;
	int64_t default_sample_type; /* string index, 0 if unset */
	int64_t *comments; size_t ncomments; /* string indices */
	void *mem_; /* private: one block backing every array above */
};

/* Limits of the reader: decompressed size, and memory for the parsed tables (-E2BIG past them). */
#define LDP_PROFILE_MAX_RAW (256u << 20)
#define LDP_PROFILE_MAX_MEM (1024u << 20)

/* Parse a profile, gzip-compressed or raw protobuf. Validates every index (string, location,
 * function, mapping ids) so users of the result need not: every string index is < nstrings,
 * strings[0] is "", every sample has exactly nsample_types values, every id a sample or a
 * location refers to resolves through the accessors below (location mapping_id may be 0: no
 * mapping; Line entries with function_id 0 are dropped). Ids are nonzero and unique per table,
 * and each table is sorted by id. Strings end at their first NUL byte. *ret is written only on
 * success. Returns 0 or -errno (-EINVAL,
 * -ENOMEM, -E2BIG for inputs past the size caps). */
int ldp_profile_parse(const uint8_t *buf, size_t len, struct ldp_profile *ret);
/* Accepts NULL and a zeroed profile; leaves *p zeroed. */
void ldp_profile_free(struct ldp_profile *p);

/* raw (an encoded, uncompressed profile of len bytes) with comments[0..n) added to it: their
 * strings appended to the string table and named by comment fields, which is how protobuf
 * merges appended fields into a message. Into a new buffer (*ret, freed by the caller).
 * Returns 0, -EINVAL when raw's top-level fields do not parse, or -ENOMEM. */
int ldp_profile_append_comments(const uint8_t *raw, size_t len, const char *const *comments,
				size_t n, uint8_t **ret, size_t *ret_len);
/* Lookup by id: NULL for id 0 or an unknown id. */
const struct ldp_prof_location *ldp_profile_location(const struct ldp_profile *p, uint64_t id);
const struct ldp_prof_function *ldp_profile_function(const struct ldp_profile *p, uint64_t id);
const struct ldp_prof_mapping *ldp_profile_mapping(const struct ldp_profile *p, uint64_t id);

#endif
