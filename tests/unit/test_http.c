/* SPDX-License-Identifier: MIT
 *
 * test_http.c — ldp_http_build(): the exact requests each protocol gets, with no network.
 *
 * Pyroscope's URL to the byte (name syntax, URL-encoding, label key cleaning, the window in
 * whole seconds covering the profile), Parca's protojson to the byte (JSON escaping, base64
 * checked against RFC 4648's test vectors), the pprof endpoint's label header, the gzip and
 * zstd bodies decoded back with zlib and libzstd directly, refused endpoints and headers.
 * The config is filled by hand: this test does not depend on config.c's defaults.
 * Sending is tested against a real receiver in tests/test_http_receiver.py.
 * Prints one line per check; exits 1 if any failed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "http.h"

#include "check.h"

#define T0 1700000000000000000ll

/* ---- helpers ---- */

static void config(struct ldp_config *c, const char *endpoint, enum ldp_protocol p,
		   enum ldp_compression comp)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->endpoint, sizeof(c->endpoint), "%s", endpoint);
	c->protocol = p;
	c->compression = comp;
	c->hz = 99;
	c->timeout_ns = 10000000000ll;
	c->connect_timeout_ns = 2000000000ll;
	c->tls_verify = 1;
}

/* A shipment over [T0 + 0.2 s, T0 + 10.7 s] whose "pprof" is the given bytes (the builder
 * does not parse it). */
static void shipment(struct ldp_shipment *s, const char *pprof, size_t len)
{
	memset(s, 0, sizeof(*s));
	s->from_ns = T0 + 200000000ll;
	s->until_ns = T0 + 10700000000ll;
	s->hz = 99;
	s->pprof = malloc(len ? len : 1);
	memcpy(s->pprof, pprof, len);
	s->len = len;
}

static const char *header(const struct ldp_http_request *r, const char *name)
{
	size_t n = strlen(name);

	for (int i = 0; i < r->nheaders; i++)
		if (!strncasecmp(r->headers[i], name, n) && r->headers[i][n] == ':')
			return r->headers[i] + n + 2;
	return NULL;
}

static int gunzip(const uint8_t *in, size_t len, uint8_t *out, size_t cap, size_t *ret_len)
{
	z_stream zs = { 0 };
	int z;

	if (inflateInit2(&zs, 15 + 16) != Z_OK) /* gzip only: a zlib header would be wrong */
		return -1;
	zs.next_in = (Bytef *)in;
	zs.avail_in = (uInt)len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	z = inflate(&zs, Z_FINISH);
	*ret_len = zs.total_out;
	inflateEnd(&zs);
	return z == Z_STREAM_END ? 0 : -1;
}

/* Just enough base64 decoding to check a round trip (the vectors check the encoder). */
static size_t unbase64(const char *in, size_t len, uint8_t *out)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	uint32_t acc = 0;
	int bits = 0;
	size_t n = 0;

	for (size_t i = 0; i < len && in[i] != '='; i++) {
		const char *p = strchr(tab, in[i]);

		if (!p || !in[i])
			return (size_t)-1;
		acc = acc << 6 | (uint32_t)(p - tab);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	return n;
}

/* ---- Pyroscope ---- */

static void test_pyroscope_url(void)
{
	struct ldp_config c;
	struct ldp_shipment s;
	struct ldp_http_request r;
	int rc;

	config(&c, "http://pyro.example:4040/", LDP_PROTO_PYROSCOPE, LDP_COMP_GZIP);
	shipment(&s, "x", 1);
	ldp_shipment_add_label(&s, "hostname", "h1");
	ldp_shipment_add_label(&s, LDP_LABEL_SERVICE, "myapp");
	ldp_shipment_add_label(&s, "pid", "42");
	ldp_shipment_add_label(&s, "my-key", "v1");
	rc = ldp_http_build(&c, &s, &r);
	CHECK(rc == 0, "build: %d", rc);
	CHECK(r.url && !strcmp(r.url, "http://pyro.example:4040/ingest?name="
				      "myapp%7Bhostname%3Dh1%2Cpid%3D42%2Cmy_key%3Dv1%7D"
				      "&from=1700000000&until=1700000011"
				      "&format=pprof&spyName=ldprof&sampleRate=99"),
	      "url: %s", r.url);
	CHECK(header(&r, "Content-Type") && !strcmp(header(&r, "Content-Type"),
						   "application/octet-stream"), "content type");
	CHECK(header(&r, "User-Agent") && !strcmp(header(&r, "User-Agent"), "ldprof/0.1"),
	      "user agent");
	CHECK(!header(&r, "Content-Encoding"), "no Content-Encoding for gzip (the file is .pb.gz)");
	CHECK(!header(&r, "Authorization"), "the token is added at send time only");
	ldp_http_request_free(&r);
	ldp_shipment_clear(&s);
}

static void test_pyroscope_escaping(void)
{
	struct ldp_config c;
	struct ldp_shipment s;
	struct ldp_http_request r;
	int rc;

	config(&c, "https://p.example/base", LDP_PROTO_PYROSCOPE, LDP_COMP_NONE);
	shipment(&s, "x", 1);
	/* no service_name: "ldprof"; values keep everything but Pyroscope's separators, and
	 * all of it is URL-encoded */
	ldp_shipment_add_label(&s, "exe", "/usr/bin/a b&c?d%e+f");
	ldp_shipment_add_label(&s, "comm", "caf\xc3\xa9,x{y}=z");
	rc = ldp_http_build(&c, &s, &r);
	CHECK(rc == 0, "build: %d", rc);
	CHECK(r.url && !strcmp(r.url, "https://p.example/base/ingest?name=ldprof%7B"
				      "exe%3D%2Fusr%2Fbin%2Fa%20b%26c%3Fd%25e%2Bf%2C"
				      "comm%3Dcaf%C3%A9_x_y__z%7D"
				      "&from=1700000000&until=1700000011"
				      "&format=pprof&spyName=ldprof&sampleRate=99"),
	      "url: %s", r.url);
	ldp_http_request_free(&r);
	ldp_shipment_clear(&s);

	/* a service name keeps to [A-Za-z0-9._-]; no other label: empty braces */
	shipment(&s, "x", 1);
	ldp_shipment_add_label(&s, LDP_LABEL_SERVICE, "my app{1}");
	s.hz = 0; /* unknown in the shipment: the configured rate */
	c.hz = 250;
	rc = ldp_http_build(&c, &s, &r);
	CHECK(rc == 0 && strstr(r.url, "?name=my_app_1_%7B%7D&") &&
		      strstr(r.url, "&sampleRate=250"), "url: %s", r.url);
	ldp_http_request_free(&r);
	ldp_shipment_clear(&s);
}

static void test_label_keys(void)
{
	struct ldp_config c;
	struct ldp_shipment s;
	struct ldp_http_request r;
	int rc;

	config(&c, "http://h", LDP_PROTO_PYROSCOPE, LDP_COMP_NONE);
	shipment(&s, "x", 1);
	ldp_shipment_add_label(&s, "9lives", "a");
	ldp_shipment_add_label(&s, "k.8-x", "b");
	ldp_shipment_add_label(&s, "k\xd0\xba", "c");        /* a Cyrillic letter: two bytes */
	ldp_shipment_add_label(&s, "\xd0\xba", "c2");        /* "__": reserved, dropped */
	ldp_shipment_add_label(&s, "k_8_x", "dup");          /* same key once cleaned: dropped */
	ldp_shipment_add_label(&s, "__name__", "reserved");  /* servers' own: dropped */
	ldp_shipment_add_label(&s, "empty", "");             /* same as no label: dropped */
	ldp_shipment_add_label(&s, "", "nokey");             /* dropped */
	ldp_shipment_add_label(&s, "bad_utf8", "a\xff" "b"); /* invalid byte: '?' */
	rc = ldp_http_build(&c, &s, &r);
	CHECK(rc == 0, "build: %d", rc);
	CHECK(r.url && !strcmp(r.url, "http://h/ingest?name=ldprof%7B_lives%3Da%2Ck_8_x%3Db%2C"
				      "k__%3Dc%2Cbad_utf8%3Da%3Fb%7D&from=1700000000"
				      "&until=1700000011&format=pprof&spyName=ldprof&sampleRate=99"),
	      "url: %s", r.url);
	ldp_http_request_free(&r);
	ldp_shipment_clear(&s);
}

static void test_window(void)
{
	struct ldp_config c;
	struct ldp_shipment s;
	struct ldp_http_request r;

	config(&c, "http://h", LDP_PROTO_PYROSCOPE, LDP_COMP_NONE);
	shipment(&s, "x", 1);
	s.from_ns = T0;
	s.until_ns = T0 + 10000000000ll; /* whole seconds stay as they are */
	CHECK(ldp_http_build(&c, &s, &r) == 0 &&
		      strstr(r.url, "&from=1700000000&until=1700000010&"), "url: %s", r.url);
	ldp_http_request_free(&r);
	s.until_ns = T0; /* an empty window still spans a second: from < until */
	CHECK(ldp_http_build(&c, &s, &r) == 0 &&
		      strstr(r.url, "&from=1700000000&until=1700000001&"), "url: %s", r.url);
	ldp_http_request_free(&r);
	ldp_shipment_clear(&s);
}

/* ---- bodies ---- */

static void test_gzip_body(void)
{
	static const char pprof[] = "\x0a\x04\x08\x01\x10\x02 a fake profile, not parsed here";
	struct ldp_config c;
	struct ldp_shipment s;
	struct ldp_http_request r;
	uint8_t out[256];
	size_t n = 0;
	int rc;

	config(&c, "http://h/", LDP_PROTO_PPROF, LDP_COMP_GZIP);
	shipment(&s, pprof, sizeof(pprof) - 1);
	rc = ldp_http_build(&c, &s, &r);
	CHECK(rc == 0, "build: %d", rc);
	CHECK(r.body_len > 2 && r.body[0] == 0x1f && r.body[1] == 0x8b, "gzip magic");
	CHECK(gunzip(r.body, r.body_len, out, sizeof(out), &n) == 0 && n == s.len &&
		      !memcmp(out, pprof, n), "gunzips back to the pprof (%zu bytes)", n);
	CHECK(!strcmp(r.url, "http://h/"), "pprof endpoint URL used as given: %s", r.url);
	ldp_http_request_free(&r);

	c.compression = LDP_COMP_NONE;
	CHECK(ldp_http_build(&c, &s, &r) == 0 && r.body_len == s.len &&
		      !memcmp(r.body, pprof, s.len) && !header(&r, "Content-Encoding"),
	      "none: the raw pprof");
	ldp_http_request_free(&r);
	ldp_shipment_clear(&s);
}

static void test_zstd_body(void)
{
	static const char pprof[] = "\x0a\x04\x08\x01\x10\x02 zstd zstd zstd zstd zstd zstd";
	struct ldp_config c;
	struct ldp_shipment s;
	struct ldp_http_request r;
	char out[1024];
	size_t n;
	int rc;

	config(&c, "http://h", LDP_PROTO_PYROSCOPE, LDP_COMP_ZSTD);
	shipment(&s, pprof, sizeof(pprof) - 1);
	rc = ldp_http_build(&c, &s, &r);
	CHECK(rc == 0, "build: %d", rc);
	CHECK(header(&r, "Content-Encoding") && !strcmp(header(&r, "Content-Encoding"), "zstd"),
	      "Content-Encoding: zstd");
	n = ZSTD_decompress(out, sizeof(out), r.body, r.body_len);
	CHECK(!ZSTD_isError(n) && n == s.len && !memcmp(out, pprof, n),
	      "zstd decompresses to the raw pprof");
	ldp_http_request_free(&r);

	/* Parca: the whole JSON is compressed; the profile inside stays raw */
	c.protocol = LDP_PROTO_PARCA;
	rc = ldp_http_build(&c, &s, &r);
	CHECK(rc == 0 && header(&r, "Content-Encoding") && header(&r, "Content-Type") &&
		      !strcmp(header(&r, "Content-Type"), "application/json"), "parca zstd headers");
	n = ZSTD_decompress(out, sizeof(out) - 1, r.body, r.body_len);
	if (ZSTD_isError(n))
		n = 0;
	out[n] = '\0';
	CHECK(!strncmp(out, "{\"series\":[{", 12) && strstr(out, "\"rawProfile\":\"CgQIARAC"),
	      "zstd decompresses to the JSON with the raw pprof: %s", out);
	ldp_http_request_free(&r);
	ldp_shipment_clear(&s);
}

/* ---- Parca ---- */

static void test_parca_json(void)
{
	struct ldp_config c;
	struct ldp_shipment s;
	struct ldp_http_request r;
	char *body;
	int rc;

	config(&c, "https://parca.example:7070/", LDP_PROTO_PARCA, LDP_COMP_NONE);
	shipment(&s, "foobar", 6);
	ldp_shipment_add_label(&s, LDP_LABEL_SERVICE, "svc");
	ldp_shipment_add_label(&s, "note", "q\"b\\s\nc\x01" "d\x7f" "\xe2\x82\xac");
	rc = ldp_http_build(&c, &s, &r);
	CHECK(rc == 0, "build: %d", rc);
	CHECK(!strcmp(r.url, "https://parca.example:7070/api/profiles/writeraw"), "url: %s", r.url);
	body = strndup((char *)r.body, r.body_len);
	CHECK(!strcmp(body, "{\"series\":[{\"labels\":{\"labels\":["
			    "{\"name\":\"__name__\",\"value\":\"process_cpu\"},"
			    "{\"name\":\"service_name\",\"value\":\"svc\"},"
			    "{\"name\":\"note\",\"value\":\"q\\\"b\\\\s\\u000ac\\u0001d\\u007f"
			    "\xe2\x82\xac\"}]},"
			    "\"samples\":[{\"rawProfile\":\"Zm9vYmFy\"}]}]}"),
	      "body: %s", body);
	CHECK(header(&r, "Content-Type") && !strcmp(header(&r, "Content-Type"), "application/json"),
	      "content type");
	free(body);
	ldp_http_request_free(&r);
	ldp_shipment_clear(&s);
}

static void test_base64_vectors(void)
{
	/* RFC 4648, section 10 */
	static const char *const vec[][2] = {
		{ "", "" }, { "f", "Zg==" }, { "fo", "Zm8=" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" }, { "foobar", "Zm9vYmFy" },
	};
	struct ldp_config c;
	struct ldp_shipment s;
	struct ldp_http_request r;

	config(&c, "http://h", LDP_PROTO_PARCA, LDP_COMP_NONE);
	for (size_t i = 0; i < sizeof(vec) / sizeof(vec[0]); i++) {
		char want[64], *body;

		shipment(&s, vec[i][0], strlen(vec[i][0]));
		snprintf(want, sizeof(want), "\"rawProfile\":\"%s\"}", vec[i][1]);
		CHECK(ldp_http_build(&c, &s, &r) == 0, "build");
		body = strndup((char *)r.body, r.body_len);
		CHECK(strstr(body, want), "base64(\"%s\") = \"%s\"", vec[i][0], vec[i][1]);
		free(body);
		ldp_http_request_free(&r);
		ldp_shipment_clear(&s);
	}
}

static void test_parca_gzip(void)
{
	uint8_t pprof[300], dec[600], out[600];
	struct ldp_config c;
	struct ldp_shipment s;
	struct ldp_http_request r;
	const char *b64, *end;
	size_t n = 0, m;
	char *body;

	for (size_t i = 0; i < sizeof(pprof); i++)
		pprof[i] = (uint8_t)(i * 7);
	config(&c, "http://h", LDP_PROTO_PARCA, LDP_COMP_GZIP);
	shipment(&s, (const char *)pprof, sizeof(pprof));
	CHECK(ldp_http_build(&c, &s, &r) == 0 && !header(&r, "Content-Encoding"), "build");
	body = strndup((char *)r.body, r.body_len);
	b64 = strstr(body, "\"rawProfile\":\"");
	b64 = b64 ? b64 + 14 : "";
	end = strchr(b64, '"');
	m = end ? unbase64(b64, (size_t)(end - b64), dec) : (size_t)-1;
	CHECK(m != (size_t)-1 && m > 2 && dec[0] == 0x1f && dec[1] == 0x8b,
	      "rawProfile is base64 of gzip");
	CHECK(m != (size_t)-1 && gunzip(dec, m, out, sizeof(out), &n) == 0 && n == sizeof(pprof) &&
		      !memcmp(out, pprof, n), "and gunzips back to the pprof");
	free(body);
	ldp_http_request_free(&r);
	ldp_shipment_clear(&s);
}

/* ---- the plain pprof endpoint, headers, refusals ---- */

static void test_pprof_labels_header(void)
{
	struct ldp_config c;
	struct ldp_shipment s;
	struct ldp_http_request r;
	const char *h;

	config(&c, "http://recv.example/upload", LDP_PROTO_PPROF, LDP_COMP_GZIP);
	c.nheaders = 2;
	snprintf(c.headers[0], sizeof(c.headers[0]), "X-Scope-OrgID: tenant1");
	snprintf(c.headers[1], sizeof(c.headers[1]), "X-Other: a: b");
	shipment(&s, "x", 1);
	ldp_shipment_add_label(&s, LDP_LABEL_SERVICE, "svc");
	ldp_shipment_add_label(&s, "exe", "/bin/a b,c=d");
	CHECK(ldp_http_build(&c, &s, &r) == 0, "build");
	CHECK(!strcmp(r.url, "http://recv.example/upload"), "url: %s", r.url);
	h = header(&r, "X-Ldprof-Labels");
	CHECK(h && !strcmp(h, "service_name=svc,exe=%2Fbin%2Fa%20b%2Cc%3Dd"), "labels: %s", h);
	CHECK(header(&r, "X-Scope-OrgID") && !strcmp(header(&r, "X-Scope-OrgID"), "tenant1") &&
		      header(&r, "X-Other") && !strcmp(header(&r, "X-Other"), "a: b"),
	      "configured headers, as written");
	CHECK(r.nheaders == 5, "Content-Type, User-Agent, X-Ldprof-Labels and 2 configured: %d",
	      r.nheaders);
	ldp_http_request_free(&r);

	/* every configured header fits next to ours */
	c.compression = LDP_COMP_ZSTD;
	c.nheaders = LDP_CONFIG_MAX_HEADERS;
	for (int i = 0; i < c.nheaders; i++)
		snprintf(c.headers[i], sizeof(c.headers[i]), "X-H%d: %d", i, i);
	CHECK(ldp_http_build(&c, &s, &r) == 0 && r.nheaders == LDP_CONFIG_MAX_HEADERS + 4,
	      "%d headers", r.nheaders);
	ldp_http_request_free(&r);

	/* a configured header replaces ours of the same name, whatever its case */
	c.nheaders = 1;
	snprintf(c.headers[0], sizeof(c.headers[0]), "user-agent: custom/1");
	CHECK(ldp_http_build(&c, &s, &r) == 0 && r.nheaders == 4 &&
		      !strcmp(header(&r, "User-Agent"), "custom/1"), "User-Agent replaced");
	ldp_http_request_free(&r);

	/* a header with a line break would smuggle in another one */
	c.nheaders = 1;
	snprintf(c.headers[0], sizeof(c.headers[0]), "X-A: b\r\nX-Evil: 1");
	CHECK(ldp_http_build(&c, &s, &r) == -EINVAL && !r.url && !r.body && !r.nheaders,
	      "header with CR LF refused, request left empty");
	ldp_shipment_clear(&s);
}

static void test_refused(void)
{
	static const char *const bad[] = { "file:///var/lib/ldprof", "ftp://h/", "", "http:/h",
					   "httpx://h", "/tmp/x" };
	struct ldp_config c;
	struct ldp_shipment s;
	struct ldp_http_request r;
	struct ldp_http_result res;

	shipment(&s, "x", 1);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		config(&c, bad[i], LDP_PROTO_PYROSCOPE, LDP_COMP_GZIP);
		CHECK(ldp_http_build(&c, &s, &r) == -EINVAL && !r.url && !r.body,
		      "\"%s\" refused", bad[i]);
	}
	config(&c, "HTTPS://h", LDP_PROTO_PARCA, LDP_COMP_GZIP);
	CHECK(ldp_http_build(&c, &s, &r) == 0, "scheme is case-insensitive");
	ldp_http_request_free(&r);
	ldp_http_request_free(&r); /* twice, and NULL: both fine */
	ldp_http_request_free(NULL);

	/* send refuses before loading libcurl: what cannot be built, and no time left */
	config(&c, "file:///tmp", LDP_PROTO_PYROSCOPE, LDP_COMP_GZIP);
	CHECK(ldp_http_send(&c, &s, 1000000000, NULL, &res) == -EINVAL && res.message[0],
	      "send file://: -EINVAL (%s)", res.message);
	config(&c, "http://127.0.0.1:9", LDP_PROTO_PYROSCOPE, LDP_COMP_GZIP);
	CHECK(ldp_http_send(&c, &s, 0, NULL, &res) == -EAGAIN && res.status == 0,
	      "no time left: -EAGAIN (%s)", res.message);
	CHECK(ldp_http_safe_at_exit() == 1, "no TLS library in this process: safe at exit");
	ldp_shipment_clear(&s);
}

int main(void)
{
	test_pyroscope_url();
	test_pyroscope_escaping();
	test_label_keys();
	test_window();
	test_gzip_body();
	test_zstd_body();
	test_parca_json();
	test_base64_vectors();
	test_parca_gzip();
	test_pprof_labels_header();
	test_refused();
	printf("%d passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
