/* SPDX-License-Identifier: MIT
 *
 * http.c — send one profile to an HTTP(S) endpoint with libcurl (see http.h).
 *
 * Overall design: ldp_http_build() turns a shipment into a request (URL, headers, body) and does
 * no I/O, so every protocol detail is unit-tested without a network. ldp_http_send() builds,
 * then makes exactly one attempt and sorts the outcome into "delivered", "retry later" and
 * "rejected"; retrying, spooling and logging belong to the caller.
 *
 * libcurl is dlopen()ed on the first send, once per process, and never linked: a process whose
 * profiles go to a folder must not pay for curl and the twenty libraries it pulls in. If it
 * cannot be loaded, that is remembered and every send returns -ENOSYS at once.
 * OpenSSL registers an atexit() cleanup when it is first initialized. In a profiled program
 * that handler would run before the shim's own exit flush (atexit handlers run in reverse
 * order) and a TLS send at exit would then use freed state. So when the program had no
 * libcrypto of its own, OpenSSL is initialized by us first, with OPENSSL_INIT_NO_ATEXIT;
 * ldp_http_safe_at_exit() tells the caller whether that worked.
 *
 * Never: print anything (curl's verbose mode stays off, its error text goes to a buffer, the
 * answer body to our callback), follow a redirect, speak any scheme but http and https, use
 * signals (CURLOPT_NOSIGNAL), or wait longer than the caller's timeout.
 * curl's default proxy handling is kept on purpose: http_proxy, https_proxy and no_proxy of
 * the process's environment apply, as they would to any other client in that environment.
 * Never called from a signal handler.
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* CURLOPT_PROTOCOLS is the fallback for a libcurl older than 7.85 found at run time; its
 * deprecation must not break -Werror. Only types and constants come from this header. */
#define CURL_DISABLE_DEPRECATION
#include <curl/curl.h>

#include "compress.h"
#include "fileio.h"
#include "http.h"

#define USER_AGENT "ldprof/0.1"
#define TOKEN_FILE_MAX 4096
#define ZSTD_LEVEL 3
#define OPENSSL_INIT_NO_ATEXIT 0x00080000L /* <openssl/crypto.h>, not needed to build */

/* ---- libcurl, loaded once ---- */

static struct {
	__typeof__(curl_global_init) *global_init;
	__typeof__(curl_easy_init) *init;
	__typeof__(curl_easy_setopt) *setopt;
	__typeof__(curl_easy_getinfo) *getinfo;
	__typeof__(curl_easy_cleanup) *cleanup;
	__typeof__(curl_easy_strerror) *strerror;
	__typeof__(curl_slist_append) *slist_append;
	__typeof__(curl_slist_free_all) *slist_free_all;
	__typeof__(curl_multi_init) *multi_init;
	__typeof__(curl_multi_add_handle) *multi_add;
	__typeof__(curl_multi_remove_handle) *multi_remove;
	__typeof__(curl_multi_perform) *multi_perform;
	__typeof__(curl_multi_poll) *multi_poll;
	__typeof__(curl_multi_info_read) *multi_info_read;
	__typeof__(curl_multi_cleanup) *multi_cleanup;
	int err;            /* 0 once loaded, else -ENOSYS */
	char why[160];      /* why loading failed */
} api;

static pthread_once_t api_once = PTHREAD_ONCE_INIT;
/* -1: not decided yet (libcurl not loaded); 1: safe; 0: the program's own TLS came first */
static atomic_int tls_safe = -1;

static bool program_has_libcrypto(void)
{
	void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_NOLOAD);

	if (!h)
		return false;
	dlclose(h); /* only drops the reference NOLOAD took */
	return true;
}

static void api_load(void)
{
	bool had_crypto = program_has_libcrypto(); /* before libcurl brings its own */
	int (*ossl_init)(uint64_t, const void *);
	void *h;

	api.err = -ENOSYS;
	h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(api.why, sizeof(api.why), "libcurl.so.4 cannot be loaded: %s", dlerror());
		return;
	}
#define SYM(field, name)                                                                    \
	do {                                                                                \
		*(void **)&api.field = dlsym(h, name);                                      \
		if (!api.field) {                                                           \
			snprintf(api.why, sizeof(api.why), "libcurl.so.4 has no %s", name); \
			dlclose(h);                                                         \
			return;                                                             \
		}                                                                           \
	} while (0)
	SYM(global_init, "curl_global_init");
	SYM(init, "curl_easy_init");
	SYM(setopt, "curl_easy_setopt");
	SYM(getinfo, "curl_easy_getinfo");
	SYM(cleanup, "curl_easy_cleanup");
	SYM(strerror, "curl_easy_strerror");
	SYM(slist_append, "curl_slist_append");
	SYM(slist_free_all, "curl_slist_free_all");
	SYM(multi_init, "curl_multi_init");
	SYM(multi_add, "curl_multi_add_handle");
	SYM(multi_remove, "curl_multi_remove_handle");
	SYM(multi_perform, "curl_multi_perform");
	SYM(multi_poll, "curl_multi_poll");
	SYM(multi_info_read, "curl_multi_info_read");
	SYM(multi_cleanup, "curl_multi_cleanup");
#undef SYM

	/* Must come before curl_global_init(), which initializes OpenSSL (with an atexit
	 * cleanup): OpenSSL keeps whichever choice its first initialization made. Looked up
	 * through libcurl's handle, so it is the libcrypto libcurl uses. A libcurl built on
	 * another TLS library has no such symbol: then we cannot promise anything at exit. */
	*(void **)&ossl_init = dlsym(h, "OPENSSL_init_crypto");
	if (had_crypto || !ossl_init || !ossl_init(OPENSSL_INIT_NO_ATEXIT, NULL))
		atomic_store(&tls_safe, 0);
	else
		atomic_store(&tls_safe, 1);

	if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(api.why, sizeof(api.why), "curl_global_init() failed");
		return; /* h stays loaded: OpenSSL may be half set up, and is nodelete anyway */
	}
	api.err = 0;
}

int ldp_http_safe_at_exit(void)
{
	int v = atomic_load(&tls_safe);

	/* Not loaded yet: a send at exit would load it then, which is safe unless the
	 * program's own libcrypto (and its atexit cleanup) is there. */
	return v >= 0 ? v : !program_has_libcrypto();
}

/* ---- building a request: pure ---- */

/* ASCII only, whatever locale the profiled program chose (isalnum() follows setlocale()). */
static bool is_alpha(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* A growing string; the first failed allocation sticks in err and later calls do nothing. */
struct sbuf {
	char *p;
	size_t len, cap;
	int err;
};

static void sb_add(struct sbuf *b, const void *s, size_t n)
{
	if (b->err)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *np;

		while (cap < b->len + n + 1)
			cap *= 2;
		np = realloc(b->p, cap);
		if (!np) {
			b->err = -ENOMEM;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct sbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

static void sb_long(struct sbuf *b, long long v)
{
	char tmp[24];

	snprintf(tmp, sizeof(tmp), "%lld", v);
	sb_str(b, tmp);
}

/* RFC 3986: everything but the unreserved characters is %XX. */
static void sb_urlenc(struct sbuf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";

	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e[3] = { '%', hex[c >> 4], hex[c & 15] };

		if (is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~')
			sb_add(b, s, 1);
		else
			sb_add(b, e, 3);
	}
}

/* A JSON string; s is valid UTF-8 (labels are cleaned first). */
static void sb_json_str(struct sbuf *b, const char *s)
{
	sb_add(b, "\"", 1);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		char e[8];

		if (c == '"' || c == '\\') {
			e[0] = '\\';
			e[1] = (char)c;
			sb_add(b, e, 2);
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(e, sizeof(e), "\\u%04x", c);
			sb_add(b, e, 6);
		} else {
			sb_add(b, s, 1);
		}
	}
	sb_add(b, "\"", 1);
}

/* Standard alphabet, with padding (what protojson expects for bytes). */
static void sb_base64(struct sbuf *b, const uint8_t *in, size_t len)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char q[4];
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		q[0] = tab[v >> 18];
		q[1] = tab[(v >> 12) & 63];
		q[2] = tab[(v >> 6) & 63];
		q[3] = tab[v & 63];
		sb_add(b, q, 4);
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);

		q[0] = tab[v >> 18];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < len ? tab[(v >> 6) & 63] : '=';
		q[3] = '=';
		sb_add(b, q, 4);
	}
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0 if there is none. */
static size_t utf8_len(const unsigned char *s)
{
	size_t n;
	uint32_t cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4, cp = s[0] & 0x07;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0; /* also stops at the NUL */
		cp = cp << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
	    (cp >= 0xd800 && cp <= 0xdfff))
		return 0; /* overlong, out of range, or a surrogate */
	return n;
}

/* Label names as Prometheus, Pyroscope and Parca all accept them: [A-Za-z_][A-Za-z0-9_]*. */
static void clean_key(const char *in, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; in[i] && i + 1 < outlen; i++) {
		unsigned char c = (unsigned char)in[i];

		out[i] = is_alpha(c) || c == '_' || (i > 0 && is_digit(c)) ? (char)c : '_';
	}
	out[i] = '\0';
}

/* Values must be UTF-8 for every server (protojson refuses anything else): a byte that is not
 * part of a valid sequence becomes '?'. */
static void clean_value(const char *in, char *out, size_t outlen)
{
	const unsigned char *s = (const unsigned char *)in;
	size_t o = 0;

	while (*s) {
		size_t n = utf8_len(s);

		if (o + (n ? n : 1) >= outlen)
			break;
		if (!n) {
			out[o++] = '?';
			s++;
			continue;
		}
		memcpy(out + o, s, n);
		o += n;
		s += n;
	}
	out[o] = '\0';
}

/* The shipment's labels as they go out: keys cleaned, values UTF-8, and dropped: empty values
 * (Prometheus' rule: the same as no label), keys starting with "__" (reserved by the servers:
 * Parca's __name__ is ours to set) and a key seen before (first one wins). */
static int clean_labels(const struct ldp_shipment *s, struct ldp_ship_label *out)
{
	int n = 0;

	for (int i = 0; i < s->nlabels && i < LDP_SHIP_MAX_LABELS; i++) {
		struct ldp_ship_label *l = &out[n];
		bool dup = false;

		clean_key(s->labels[i].key, l->key, sizeof(l->key));
		clean_value(s->labels[i].value, l->value, sizeof(l->value));
		if (!l->key[0] || !l->value[0] || !strncmp(l->key, "__", 2))
			continue;
		for (int j = 0; j < n && !dup; j++)
			dup = !strcmp(out[j].key, l->key);
		if (!dup)
			n++;
	}
	return n;
}

/* Pyroscope's name syntax SERVICE{k=v,...} has no escapes: characters that would end a part
 * early become '_'. The service name keeps to what Pyroscope accepts in an application name. */
static void pyro_value(char *v, bool service)
{
	for (; *v; v++) {
		unsigned char c = (unsigned char)*v;

		if (service ? !(is_alpha(c) || is_digit(c) || c == '.' || c == '-' || c == '_')
			    : c == ',' || c == '{' || c == '}' || c == '=')
			*v = '_';
	}
}

static void sec_window(const struct ldp_shipment *s, long long *from, long long *until)
{
	const long long ns = 1000000000;

	/* floor and ceiling for negative times too; a window never ends where it starts */
	*from = s->from_ns / ns - (s->from_ns % ns < 0);
	*until = s->until_ns / ns + (s->until_ns % ns > 0);
	if (*until <= *from)
		*until = *from + 1;
}

static int add_header(struct ldp_http_request *req, const char *name, const char *value)
{
	size_t n = strlen(name) + 2 + strlen(value) + 1;
	char *h;

	if (req->nheaders >= (int)(sizeof(req->headers) / sizeof(req->headers[0])))
		return -E2BIG;
	h = malloc(n);
	if (!h)
		return -ENOMEM;
	snprintf(h, n, "%s: %s", name, value);
	req->headers[req->nheaders++] = h;
	return 0;
}

/* Whether header lines a and b ("Name: value") have the same name. */
static bool same_name(const char *a, const char *b)
{
	size_t n = strcspn(a, ":");

	return b[n] == ':' && !strncasecmp(a, b, n);
}

static bool is_http_url(const char *u)
{
	return !strncasecmp(u, "http://", 7) || !strncasecmp(u, "https://", 8);
}

void ldp_http_request_free(struct ldp_http_request *req)
{
	if (!req)
		return;
	free(req->url);
	for (int i = 0; i < req->nheaders; i++)
		free(req->headers[i]);
	free(req->body);
	memset(req, 0, sizeof(*req));
}

int ldp_http_build(const struct ldp_config *c, const struct ldp_shipment *s,
		   struct ldp_http_request *req)
{
	struct ldp_ship_label *labs = NULL;
	struct sbuf url = { 0 }, body = { 0 }, extra = { 0 };
	uint8_t *gz = NULL, *zbuf = NULL;
	size_t gz_len = 0, zlen = 0, base_len;
	const char *service = "ldprof", *ctype = "application/octet-stream";
	bool zstd = c->compression == LDP_COMP_ZSTD;
	int nlabs, r = -EINVAL;

	memset(req, 0, sizeof(*req));
	if (!is_http_url(c->endpoint) || (!s->pprof && s->len))
		goto out;
	r = -EFBIG;
	if (s->len > LDP_SHIP_MAX_PPROF)
		goto out;
	r = -ENOMEM;
	labs = calloc(LDP_SHIP_MAX_LABELS, sizeof(*labs));
	if (!labs)
		goto out;
	nlabs = clean_labels(s, labs);
	for (int i = 0; i < nlabs; i++)
		if (!strcmp(labs[i].key, LDP_LABEL_SERVICE))
			service = labs[i].value;

	/* gzip wherever a pprof goes as is: the form every receiver sniffs */
	if (c->compression == LDP_COMP_GZIP) {
		r = ldp_gzip(s->pprof, s->len, &gz, &gz_len);
		if (r < 0)
			goto out;
	}

	/* a base URL for Pyroscope and Parca, where we add the path; the URL itself for pprof */
	base_len = strlen(c->endpoint);
	if (c->protocol != LDP_PROTO_PPROF && base_len > 8 && c->endpoint[base_len - 1] == '/')
		base_len--;
	sb_add(&url, c->endpoint, base_len);

	switch (c->protocol) {
	case LDP_PROTO_PYROSCOPE: {
		struct sbuf name = { 0 };
		long long from, until;
		char svc[sizeof(labs[0].value)];
		bool first = true;

		snprintf(svc, sizeof(svc), "%s", service);
		pyro_value(svc, true);
		sb_str(&name, svc);
		sb_str(&name, "{");
		for (int i = 0; i < nlabs; i++) {
			if (!strcmp(labs[i].key, LDP_LABEL_SERVICE))
				continue;
			pyro_value(labs[i].value, false);
			if (!first)
				sb_str(&name, ",");
			first = false;
			sb_str(&name, labs[i].key);
			sb_str(&name, "=");
			sb_str(&name, labs[i].value);
		}
		sb_str(&name, "}");
		sec_window(s, &from, &until);
		sb_str(&url, "/ingest?name=");
		if (name.err)
			url.err = name.err;
		else
			sb_urlenc(&url, name.p);
		free(name.p);
		sb_str(&url, "&from=");
		sb_long(&url, from);
		sb_str(&url, "&until=");
		sb_long(&url, until);
		sb_str(&url, "&format=pprof&spyName=ldprof&sampleRate=");
		sb_long(&url, s->hz > 0 ? s->hz : c->hz > 0 ? c->hz : 99);
		break;
	}
	case LDP_PROTO_PARCA:
		/* zstd: the JSON is compressed as a whole, so the profile inside stays raw rather
		 * than gzip in base64, which zstd could not shrink any further */
		sb_str(&url, "/api/profiles/writeraw");
		sb_str(&body, "{\"series\":[{\"labels\":{\"labels\":["
			      "{\"name\":\"__name__\",\"value\":\"process_cpu\"}");
		for (int i = 0; i < nlabs; i++) {
			sb_str(&body, ",{\"name\":");
			sb_json_str(&body, labs[i].key);
			sb_str(&body, ",\"value\":");
			sb_json_str(&body, labs[i].value);
			sb_str(&body, "}");
		}
		sb_str(&body, "]},\"samples\":[{\"rawProfile\":\"");
		if (gz)
			sb_base64(&body, gz, gz_len);
		else
			sb_base64(&body, s->pprof, s->len);
		sb_str(&body, "\"}]}]}");
		ctype = "application/json";
		break;
	case LDP_PROTO_PPROF:
		/* A plain receiver has no place for labels but a header; values URL-encoded so
		 * any byte fits in it. */
		for (int i = 0; i < nlabs; i++) {
			if (i)
				sb_str(&extra, ",");
			sb_str(&extra, labs[i].key);
			sb_str(&extra, "=");
			sb_urlenc(&extra, labs[i].value);
		}
		break;
	default:
		r = -EINVAL;
		goto out;
	}
	r = url.err ? url.err : body.err ? body.err : extra.err;
	if (r < 0)
		goto out;

	if (c->protocol == LDP_PROTO_PARCA) {
		req->body = (uint8_t *)body.p;
		req->body_len = body.len;
		body.p = NULL;
	} else if (gz) {
		req->body = gz;
		req->body_len = gz_len;
		gz = NULL;
	} else if (!zstd) {
		r = -ENOMEM;
		req->body = malloc(s->len ? s->len : 1);
		if (!req->body)
			goto out;
		if (s->len)
			memcpy(req->body, s->pprof, s->len);
		req->body_len = s->len;
	}
	if (zstd) {
		/* the JSON for Parca, else the raw pprof */
		const uint8_t *in = req->body ? req->body : s->pprof;
		size_t in_len = req->body ? req->body_len : s->len;

		r = ldp_zstd(in, in_len, ZSTD_LEVEL, &zbuf, &zlen);
		if (r < 0)
			goto out;
		free(req->body);
		req->body = zbuf;
		req->body_len = zlen;
	}

	req->url = url.p;
	url.p = NULL;
	r = add_header(req, "Content-Type", ctype);
	if (r >= 0 && zstd)
		r = add_header(req, "Content-Encoding", "zstd");
	if (r >= 0)
		r = add_header(req, "User-Agent", USER_AGENT);
	if (r >= 0 && c->protocol == LDP_PROTO_PPROF && extra.len)
		r = add_header(req, "X-Ldprof-Labels", extra.p);
	for (int i = 0; r >= 0 && i < c->nheaders && i < LDP_CONFIG_MAX_HEADERS; i++) {
		const char *h = c->headers[i];
		char *nh;
		int j;

		/* config.c checks headers; a line break here would still smuggle in a header */
		if (strpbrk(h, "\r\n") || !strchr(h, ':')) {
			r = -EINVAL;
			break;
		}
		nh = strdup(h);
		if (!nh) {
			r = -ENOMEM;
			break;
		}
		/* a configured header replaces ours of the same name (curl would send both) */
		for (j = 0; j < req->nheaders && !same_name(req->headers[j], h); j++)
			;
		if (j < req->nheaders)
			free(req->headers[j]);
		else
			req->nheaders++;
		req->headers[j] = nh;
	}
	if (r >= 0)
		r = 0;
out:
	if (r < 0)
		ldp_http_request_free(req);
	free(labs);
	free(url.p);
	free(body.p);
	free(extra.p);
	free(gz);
	return r;
}

/* ---- sending ---- */

struct answer {
	char text[200]; /* leaves room in ldp_http_result.message for "http NNN: " */
	size_t len;
};

/* Keeps the first bytes of the server's answer, printable, for the message; drops the rest. */
static size_t on_body(char *data, size_t size, size_t nmemb, void *ctx)
{
	struct answer *a = ctx;
	size_t n = size * nmemb;

	for (size_t i = 0; i < n && a->len + 1 < sizeof(a->text); i++) {
		unsigned char ch = (unsigned char)data[i];

		if (ch == '\n' || ch == '\r' || ch == '\t')
			ch = ' ';
		a->text[a->len++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
	}
	a->text[a->len] = '\0';
	return n;
}

/* The first line of token_file, without surrounding blanks, as "Authorization: Bearer ..."
 * (malloc()ed). Read at every send: tokens are rotated under running processes. */
static int token_header(const char *path, char **ret, char *why, size_t why_len)
{
	char *buf = NULL, *t, *end;
	size_t len, n;
	int r;

	r = ldp_read_file(path, 0, TOKEN_FILE_MAX, &buf, &len);
	if (r < 0) {
		snprintf(why, why_len, "token file \"%.150s\" cannot be read: %s", path, strerror(-r));
		goto out;
	}
	for (t = buf; *t == ' ' || *t == '\t'; t++)
		;
	end = t + strcspn(t, "\r\n");
	while (end > t && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*end = '\0';
	r = -EINVAL;
	if (t == end) {
		snprintf(why, why_len, "token file \"%.150s\" is empty", path);
		goto out;
	}
	for (char *p = t; p < end; p++) {
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			snprintf(why, why_len, "token file \"%.150s\": control character in the token",
				 path);
			goto out;
		}
	}
	n = sizeof("Authorization: Bearer ") + (size_t)(end - t);
	r = -ENOMEM;
	*ret = malloc(n);
	if (!*ret)
		goto out;
	snprintf(*ret, n, "Authorization: Bearer %s", t);
	r = 0;
out:
	free(buf);
	return r;
}

/* One curl_easy_setopt() for a long option; an option this libcurl lacks is an error. */
#define SETL(h, opt, v) (api.setopt((h), (opt), (long)(v)) == CURLE_OK)
#define SETP(h, opt, v) (api.setopt((h), (opt), (v)) == CURLE_OK)

static int classify(CURLcode cc, const char *errbuf, struct ldp_http_result *res)
{
	const char *detail = errbuf[0] ? errbuf : api.strerror(cc);

	switch (cc) {
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
		/* almost surely the configuration ([tls] ca_file, cert_file, verify), but the
		 * profile is kept: the spool holds it until the setting is fixed */
		snprintf(res->message, sizeof(res->message), "tls: %.200s (check the [tls] settings)",
			 detail);
		break;
	case CURLE_SSL_CONNECT_ERROR:
		snprintf(res->message, sizeof(res->message), "tls handshake: %.200s", detail);
		break;
	default:
		/* connection refused or reset, timeout, DNS, nothing or half an answer, and
		 * whatever else: the server may do better later */
		snprintf(res->message, sizeof(res->message), "%s", detail);
		break;
	}
	return -EAGAIN;
}

/* curl_easy_perform(), but in a loop of our own that looks at *abort every 10 ms: the
 * thread that stops the sender (exit, exec, setuid) must not wait for a whole timeout.
 * A hundred wake-ups a second, only while a transfer waits, cost nothing measurable. */
static CURLcode perform(CURL *h, const int *abort, int *aborted)
{
	CURLM *m = api.multi_init();
	CURLcode cc = CURLE_OUT_OF_MEMORY;
	CURLMsg *msg;
	int running = 1, left;

	if (!m)
		return cc;
	if (api.multi_add(m, h) != CURLM_OK)
		goto out;
	while (running) {
		if (api.multi_perform(m, &running) != CURLM_OK)
			goto remove;
		if (!running)
			break;
		if (abort && __atomic_load_n(abort, __ATOMIC_ACQUIRE)) {
			*aborted = 1;
			cc = CURLE_ABORTED_BY_CALLBACK;
			goto remove;
		}
		if (api.multi_poll(m, NULL, 0, 10, NULL) != CURLM_OK)
			goto remove;
	}
	cc = CURLE_RECV_ERROR; /* no message: should not happen */
	while ((msg = api.multi_info_read(m, &left)))
		if (msg->msg == CURLMSG_DONE && msg->easy_handle == h)
			cc = msg->data.result;
remove:
	api.multi_remove(m, h);
out:
	api.multi_cleanup(m);
	return cc;
}

int ldp_http_send(const struct ldp_config *c, const struct ldp_shipment *s, int64_t timeout_ns,
		  const int *abort, struct ldp_http_result *res)
{
	int aborted = 0;
	struct ldp_http_request req = { 0 };
	struct ldp_http_result dummy;
	struct curl_slist *hl = NULL, *nl;
	struct answer ans = { .len = 0 };
	char errbuf[CURL_ERROR_SIZE] = "", *auth = NULL;
	int64_t total_ns, connect_ns;
	CURL *h = NULL;
	const char *why = NULL; /* set with a goto out from the curl calls below */
	CURLcode cc;
	long status = 0;
	int r;

	if (!res)
		res = &dummy;
	memset(res, 0, sizeof(*res));

	r = ldp_http_build(c, s, &req);
	if (r < 0) {
		snprintf(res->message, sizeof(res->message), "request cannot be built: %s",
			 strerror(-r));
		r = r == -ENOMEM ? -EAGAIN : -EINVAL;
		goto out;
	}
	total_ns = timeout_ns < c->timeout_ns ? timeout_ns : c->timeout_ns;
	if (total_ns < 1000000) {
		/* curl reads 0 as "no limit"; an exhausted budget is not worth a connection */
		snprintf(res->message, sizeof(res->message), "no time left to send");
		r = -EAGAIN;
		goto out;
	}
	connect_ns = c->connect_timeout_ns > 0 && c->connect_timeout_ns < total_ns
			     ? c->connect_timeout_ns : total_ns;

	pthread_once(&api_once, api_load);
	if (api.err) {
		snprintf(res->message, sizeof(res->message), "%s", api.why);
		r = api.err;
		goto out;
	}

	r = -EAGAIN; /* from here a failure is curl running short of memory: later may work */
	if (c->token_file[0] && token_header(c->token_file, &auth, res->message,
					     sizeof(res->message)) < 0)
		goto out;
	/* The token file's Authorization wins over a configured one. "Expect:" with no value:
	 * curl would otherwise wait for a "100 Continue" (up to 1 s) before sending a body over
	 * 1 MiB, which many receivers never send. */
	for (int i = 0; i <= req.nheaders + 1; i++) {
		const char *line = i < req.nheaders ? req.headers[i] : i == req.nheaders ? auth
											 : "Expect:";
		if (!line || (auth && line != auth && same_name(line, auth)))
			continue;
		why = "out of memory";
		if (!(nl = api.slist_append(hl, line)))
			goto out;
		hl = nl;
	}

	h = api.init();
	if (!h)
		goto out;
	why = "libcurl refused an option";
	if (!SETL(h, CURLOPT_NOSIGNAL, 1) || !SETL(h, CURLOPT_VERBOSE, 0) ||
	    !SETL(h, CURLOPT_NOPROGRESS, 1) || !SETP(h, CURLOPT_ERRORBUFFER, errbuf) ||
	    !SETP(h, CURLOPT_URL, req.url) || !SETL(h, CURLOPT_FOLLOWLOCATION, 0) ||
	    !SETL(h, CURLOPT_POST, 1) || !SETP(h, CURLOPT_POSTFIELDS, (char *)req.body) ||
	    !SETP(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req.body_len) ||
	    !SETP(h, CURLOPT_HTTPHEADER, hl) ||
	    !SETL(h, CURLOPT_CONNECTTIMEOUT_MS, connect_ns / 1000000) ||
	    !SETL(h, CURLOPT_TIMEOUT_MS, total_ns / 1000000) ||
	    !SETL(h, CURLOPT_SSL_VERIFYPEER, c->tls_verify ? 1 : 0) ||
	    !SETL(h, CURLOPT_SSL_VERIFYHOST, c->tls_verify ? 2 : 0) ||
	    !SETP(h, CURLOPT_WRITEFUNCTION, on_body) || !SETP(h, CURLOPT_WRITEDATA, &ans))
		goto out;
	if (!SETP(h, CURLOPT_PROTOCOLS_STR, "http,https") &&
	    !SETL(h, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS))
		goto out; /* CURLOPT_PROTOCOLS_STR: curl 7.85 and later */
	if ((c->tls_ca_file[0] && !SETP(h, CURLOPT_CAINFO, c->tls_ca_file)) ||
	    (c->tls_cert_file[0] && !SETP(h, CURLOPT_SSLCERT, c->tls_cert_file)) ||
	    (c->tls_key_file[0] && !SETP(h, CURLOPT_SSLKEY, c->tls_key_file)))
		goto out;

	why = NULL;
	cc = perform(h, abort, &aborted);
	if (aborted) {
		snprintf(res->message, sizeof(res->message), "interrupted");
		r = -EINTR;
		goto out;
	}
	if (cc != CURLE_OK) {
		r = classify(cc, errbuf, res);
		goto out;
	}
	api.getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	res->status = status;
	if (status >= 200 && status < 300)
		r = 0;
	else if (status == 429 || status >= 500)
		r = -EAGAIN;
	else
		r = -EPERM; /* 3xx (not followed) and other 4xx: asking again will not help */
	snprintf(res->message, sizeof(res->message), "http %ld%s%s", status, ans.len ? ": " : "",
		 ans.text);
out:
	if (why)
		snprintf(res->message, sizeof(res->message), "%s", why);
	if (h)
		api.cleanup(h);
	if (hl)
		api.slist_free_all(hl);
	free(auth);
	ldp_http_request_free(&req);
	return r;
}
