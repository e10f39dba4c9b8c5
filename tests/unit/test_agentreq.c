/* SPDX-License-Identifier: MIT
 *
 * test_agentreq.c — the shim's ldprof-agent client (shim/agentreq.c) against a real
 * AF_UNIX SOCK_SEQPACKET server thread in this process: every kind of reply (ok with and
 * without detail, no with a reason, garbage, control bytes, a close, silence), the paths it
 * refuses, the deadline (also under a storm of signals that interrupt the poll), that no
 * descriptor is left open, and what one question costs (printed, not checked: a loaded CI
 * machine must not fail on it).
 * Prints one line per check; exits 1 if any failed.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agentproto.h"
#include "agentreq.h"

#include "check.h"

/* What the server does with the next connection. */
static const char *volatile reply;  /* sent as is; NULL: see mode */
static volatile int mode;           /* 0 reply, 1 close at once, 2 never answer */
static char last_request[LDP_AGENT_REQ_MAX + 1];
static int listener = -1, held[64], nheld;
static char path[108];

static void *serve(void *arg)
{
	for (;;) {
		int c = accept(listener, NULL, NULL);
		ssize_t n;

		if (c < 0)
			return NULL;
		n = recv(c, last_request, LDP_AGENT_REQ_MAX, 0);
		last_request[n > 0 ? n : 0] = 0;
		if (mode == 2 && nheld < 64) {
			held[nheld++] = c; /* silent: keep it open, answer nothing */
			continue;
		}
		if (mode == 0 && send(c, (const void *)reply, strlen((const char *)reply), 0) < 0)
			perror("send");
		close(c);
	}
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	while (d && readdir(d))
		n++;
	if (d)
		closedir(d);
	return n;
}

static int ask(const char *sock, int *ok, char *detail, size_t len)
{
	return ldp_agentreq_ask(sock, LDP_AGENT_REQ_REGISTER, ok, detail, len);
}

/* The server answers `r`; the client must return want (and ok/detail when 0). */
static void expect_reply(const char *r, int want, int want_ok, const char *want_detail)
{
	char detail[64] = "untouched";
	int ok = -1, got;

	mode = 0;
	reply = r;
	got = ask(path, &ok, detail, sizeof(detail));
	if (want == 0)
		CHECK(got == 0 && ok == want_ok && !strcmp(detail, want_detail),
		      "reply \"%s\": %d ok=%d detail \"%s\"", r, got, ok, detail);
	else
		CHECK(got == want && ok == -1 && !strcmp(detail, "untouched"),
		      "reply \"%s\": %d (%s), outputs untouched", r, got, ldp_agentreq_why(got));
}

static void on_alarm(int sig)
{
}

static void test_replies(void)
{
	expect_reply("LDPA1 ok", 0, 1, "");
	CHECK(!strcmp(last_request, LDP_AGENT_REQ_REGISTER), "the request as sent: \"%s\"", last_request);
	expect_reply("LDPA1 ok covered by cpu-clock", 0, 1, "covered by cpu-clock");
	expect_reply("LDPA1 no", 0, 0, "");
	expect_reply("LDPA1 no rate limit", 0, 0, "rate limit");
	expect_reply("LDPA1 okay", -EPROTO, 0, NULL);
	expect_reply("LDPA1 nope", -EPROTO, 0, NULL);
	expect_reply("LDPA1 ok\n", -EPROTO, 0, NULL);
	expect_reply("LDPA1 no \x1b[31mred", -EPROTO, 0, NULL);
	expect_reply("HTTP/1.1 200 OK", -EPROTO, 0, NULL);
	expect_reply("LDPA1", -EPROTO, 0, NULL);

	/* a detail longer than the caller's buffer is cut, NUL-terminated */
	{
		char small[6];
		int ok = -1;

		mode = 0;
		reply = "LDPA1 no a long reason";
		CHECK(ask(path, &ok, small, sizeof(small)) == 0 && ok == 0 && !strcmp(small, "a lon"),
		      "detail cut to the buffer: \"%s\"", small);
	}
	mode = 1;
	{
		int ok;
		char d[8];

		CHECK(ask(path, &ok, d, sizeof(d)) == -ECONNRESET, "closed without a reply");
	}
}

static void test_paths(void)
{
	char long_path[200], d[8];
	int ok, r;

	CHECK(ask("", &ok, d, sizeof(d)) == -EINVAL, "empty path");
	CHECK(ask(NULL, &ok, d, sizeof(d)) == -EINVAL, "no path");
	CHECK(ask("agent.sock", &ok, d, sizeof(d)) == -EINVAL, "relative path");
	memset(long_path, 'x', sizeof(long_path));
	long_path[0] = '/';
	long_path[108] = 0;
	CHECK(ask(long_path, &ok, d, sizeof(d)) == -EINVAL, "108 bytes do not fit sun_path");
	long_path[107] = 0;
	r = ask(long_path, &ok, d, sizeof(d));
	CHECK(r == -ENOENT, "107 bytes fit (and are absent): %d", r);
	CHECK(ask("/nonexistent/ldprof/agent.sock", &ok, d, sizeof(d)) == -ENOENT, "absent: ENOENT");
}

static void test_deadline(void)
{
	struct sigaction sa;
	struct itimerval it = { { 0, 2000 }, { 0, 2000 } }, off = { { 0, 0 }, { 0, 0 } };
	char d[8];
	int64_t t;
	int ok, r;

	mode = 2;
	t = now_ns();
	r = ask(path, &ok, d, sizeof(d));
	t = now_ns() - t;
	CHECK(r == -ETIMEDOUT && t >= LDP_AGENT_REPLY_MS * 1000000LL && t < 3 * LDP_AGENT_REPLY_MS * 1000000LL,
	      "silent agent: %d after %.1f ms", r, t / 1e6);

	/* SIGALRM every 2 ms, no SA_RESTART: every poll is interrupted; the deadline holds */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;
	sigaction(SIGALRM, &sa, NULL);
	setitimer(ITIMER_REAL, &it, NULL);
	t = now_ns();
	r = ask(path, &ok, d, sizeof(d));
	t = now_ns() - t;
	setitimer(ITIMER_REAL, &off, NULL);
	CHECK(r == -ETIMEDOUT && t >= LDP_AGENT_REPLY_MS * 1000000LL && t < 3 * LDP_AGENT_REPLY_MS * 1000000LL,
	      "silent agent under EINTR: %d after %.1f ms", r, t / 1e6);
}

static void test_refused(void)
{
	char p2[108], d[8];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_SEQPACKET, 0), ok;

	/* bound, never listening: a dead agent's socket file */
	snprintf(p2, sizeof(p2), "/tmp/ldprof-test-agentreq-%d.dead", (int)getpid());
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", p2);
	CHECK(s >= 0 && bind(s, (struct sockaddr *)&sa, sizeof(sa)) == 0, "dead socket bound");
	CHECK(ask(p2, &ok, d, sizeof(d)) == -ECONNREFUSED, "nobody listening: ECONNREFUSED");
	close(s);
	unlink(p2);
}

static void cost(void)
{
	enum { N = 2000 };
	char d[8];
	int64_t t;
	int ok;

	t = now_ns();
	for (int i = 0; i < N; i++)
		ask("/nonexistent/ldprof/agent.sock", &ok, d, sizeof(d));
	printf("info: absent socket: %.1f us per question\n", (now_ns() - t) / 1e3 / N);
	mode = 0;
	reply = "LDPA1 ok";
	t = now_ns();
	for (int i = 0; i < N; i++)
		ask(path, &ok, d, sizeof(d));
	printf("info: round trip with a live server (a thread of this process): %.1f us per question\n",
	       (now_ns() - t) / 1e3 / N);
}

int main(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	pthread_t th;
	int fds;

	signal(SIGPIPE, SIG_DFL); /* a SIGPIPE would kill the test: the client must never raise one */
	snprintf(path, sizeof(path), "/tmp/ldprof-test-agentreq-%d.sock", (int)getpid());
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	unlink(path);
	listener = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (listener < 0 || bind(listener, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(listener, 64) < 0 ||
	    pthread_create(&th, NULL, serve, NULL) != 0) {
		perror("server");
		return 1;
	}
	fds = open_fds();
	test_replies();
	test_paths();
	test_refused();
	test_deadline();
	for (int i = 0; i < nheld; i++)
		close(held[i]);
	nheld = 0;
	CHECK(open_fds() == fds, "no descriptor left open: %d before, %d after", fds, open_fds());
	cost();
	shutdown(listener, SHUT_RDWR);
	close(listener);
	pthread_join(th, NULL);
	unlink(path);
	printf("%d passed, %d failed\n", passed, failed);
	return failed != 0;
}
