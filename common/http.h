/* SPDX-License-Identifier: MIT
 *
 * http.h — send one profile to an HTTP(S) endpoint with libcurl, in the endpoint's protocol:
 *   pyroscope  POST {url}/ingest?name=SERVICE{k=v,...}&from=S&until=S&format=pprof
 *                   &spyName=ldprof&sampleRate=HZ            body: the pprof
 *   parca      POST {url}/api/profiles/writeraw   JSON, the pprof in base64, labels with __name__
 *   pprof      POST {url}                          body: the pprof; the labels in the header
 *                   "X-Ldprof-Labels: k=v,k2=v2" (values URL-encoded), for plain receivers
 * {url} is the endpoint less one trailing '/' (the pprof endpoint is used exactly as written).
 * Labels go out as every server accepts them: keys [A-Za-z_][A-Za-z0-9_]* (other bytes become
 * '_'), values UTF-8 (invalid bytes become '?'); dropped: empty values, keys starting with "__",
 * a key seen before. Pyroscope's name syntax has no escapes: ',', '{', '}', '=' in a value and
 * anything but [A-Za-z0-9._-] in the service name become '_'. The service is the label
 * "service_name" ("ldprof" without one); from/until are whole seconds covering the window.
 * compression gzip (default): the pprof is gzip-compressed, as pprof files are, which every
 * receiver takes; zstd: the body is zstd with "Content-Encoding: zstd" (for Parca the JSON is,
 * and the profile inside it is raw); none: raw protobuf.
 * TLS as configured (verify on by default, CA file, client certificate), a bearer token read
 * from token_file at each send (it wins over a configured Authorization header), extra headers
 * (a configured header replaces ours of the same name, e.g. User-Agent). curl's usual proxy
 * variables (http_proxy, https_proxy, no_proxy) of the process's environment apply. Redirects
 * are not followed; only http and https are spoken.
 *
 * libcurl is dlopen()ed on first use, so a process whose profiles go to a folder never loads
 * it. Runs only on a thread with every signal blocked (the shim's background thread, or the CLI);
 * curl is told not to use signals. Never called from a signal handler.
 */
#ifndef LDP_HTTP_H
#define LDP_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "shipment.h"

struct ldp_http_request {
	char *url;               /* malloc()ed */
	char *headers[LDP_CONFIG_MAX_HEADERS + 4]; /* "Name: value", malloc()ed each */
	int nheaders;
	uint8_t *body;           /* malloc()ed */
	size_t body_len;
};

/* Builds the request for s under c's protocol and compression (token not included: it is read
 * at send time). Pure: no I/O. Returns 0 or -errno (-EINVAL: endpoint not http(s), or a
 * configured header with a line break; -EFBIG: a pprof over LDP_SHIP_MAX_PPROF; -ENOMEM).
 * On failure req is left empty. */
int ldp_http_build(const struct ldp_config *c, const struct ldp_shipment *s,
		   struct ldp_http_request *req);
void ldp_http_request_free(struct ldp_http_request *req);

struct ldp_http_result {
	long status;             /* HTTP status, 0 if none came back */
	char message[256];       /* curl's error, or the start of the server's answer (printable) */
};

/* One attempt, at most timeout_ns in all (capped by c->timeout_ns; connect by
 * c->connect_timeout_ns). Returns 0 on a 2xx; -EAGAIN for what is worth retrying (connection
 * refused or reset, timeout, DNS failure, 5xx, 429, a token file that cannot be read);
 * -EPERM for any other 4xx and for 3xx (do not retry; res says what the server said); -ENOSYS
 * when libcurl cannot be loaded (tried once per process); -EINVAL for a request that cannot be
 * built. TLS problems (unknown CA, bad certificate file) are -EAGAIN with a message starting
 * "tls:": most likely a setting to fix, and the spool keeps the profile meanwhile.
 * res (may be NULL) always gets a message, "http NNN: <start of the answer>" when one came.
 * abort (may be NULL): when another thread sets *abort, the send gives up within ~10 ms and
 * returns -EINTR. */
int ldp_http_send(const struct ldp_config *c, const struct ldp_shipment *s, int64_t timeout_ns,
		  const int *abort, struct ldp_http_result *res);

/* Whether network I/O is safe in an atexit() handler: false when the program loaded its own
 * TLS library before ours (its atexit cleanup may already have run: a TLS send then crashes,
 * tested). True when we initialized OpenSSL ourselves (with OPENSSL_INIT_NO_ATEXIT, so it
 * registers no cleanup) or no TLS library is loaded yet. */
int ldp_http_safe_at_exit(void);

#endif
