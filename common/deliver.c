/* SPDX-License-Identifier: MIT
 *
 * deliver.c — the delivery engine: queue, retries, spool (see deliver.h).
 *
 * One send at a time, always from the front of the queue, so profiles arrive in the order they
 * were made. The engine's state is under one mutex that is never held across I/O: a send takes
 * its profile out of the queue ("in flight") and puts it back if it has to try again.
 * Backoff is per endpoint, not per profile: when the endpoint fails, nothing is sent until
 * the delay has passed, then the front profile is tried again; after `retries` failed
 * attempts it goes to the spool and the next one gets its turn. The spool is drained only by
 * a process whose own last send succeeded, one file per run() step, so a dead endpoint costs
 * one failed request per backoff period and nothing more.
 * Never: hold the lock while sending or writing files, write to the program's descriptors,
 * block longer than the budget a caller gives (sends are bounded by it).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "compress.h"
#include "deliver.h"
#include "fileio.h"
#include "http.h"
#include "pprof.h"
#include "spool.h"

enum { L_DEBUG = 0, L_INFO = 1, L_WARN = 2, L_ERROR = 3 };

#define NS 1000000000LL
#define SPOOL_IDLE_NS (30 * NS)     /* look at an empty spool again after this */
#define RECOVER_EVERY_NS (60 * NS)  /* give back claims of dead drainers this often */
#define ABORT_WAIT_NS (NS / 4)      /* an aborted send returns in ~10 ms; never wait forever */
#define ABORT_SLACK_NS (15000000LL) /* abort this much before the exit budget ends, to end in it */

struct item {
	struct item *next;
	int attempts;
	struct ldp_shipment s;
};

struct ldp_deliver {
	const struct ldp_config *c;
	ldp_deliver_log_fn log;
	pthread_mutex_t mx;
	pthread_cond_t done;     /* signalled when the send in flight returns */
	struct item *head, *tail;
	uint64_t queued_bytes;
	int busy;                /* a send is in flight (its profile is out of the queue) */
	int abort;               /* read by the send in flight */
	int closing;
	int fails;               /* consecutive failed attempts */
	int ever_sent;
	long logged_status;      /* last 4xx logged, so each is logged once */
	int logged_nocurl;
	int64_t next_try;        /* monotonic ns */
	int64_t next_spool;
	int64_t next_recover;
	unsigned file_seq;
	uint64_t rng;
	int is_file;
	int foreign;             /* the spool is another user's: owner_uid */
	unsigned owner_uid;
	char host[256];
	struct ldp_deliver_stats st;
	/* ldp_deliver_sender_start(): a thread of the caller's running ldp_deliver_run() */
	pthread_t sender;
	pthread_mutex_t smx;
	pthread_cond_t swake;
	int sender_on, sender_stop;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static void say(struct ldp_deliver *d, int level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void say(struct ldp_deliver *d, int level, const char *fmt, ...)
{
	char msg[768];
	va_list ap;

	if (!d->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	d->log(level, msg);
}

static void init_sync(struct ldp_deliver *d)
{
	pthread_condattr_t ca;

	pthread_mutex_init(&d->mx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->done, &ca);
	pthread_condattr_destroy(&ca);
}

int ldp_deliver_own_dirs(struct ldp_config *c, unsigned euid, ldp_deliver_log_fn log, char *why,
			 size_t whylen)
{
	char dir[sizeof(c->endpoint) - 8], note[384], msg[LDP_CONFIG_STR + 512];
	int r;

	if (!strncmp(c->endpoint, "file://", 7)) {
		r = ldp_private_dir(c->endpoint + 7, euid, dir, sizeof(dir), note, sizeof(note));
		if (r < 0) {
			snprintf(why, whylen, "no folder of uid %u's own in %s: %s", euid, c->endpoint + 7,
				 note[0] ? note : strerror(-r));
			log(3, why);
			return r;
		}
		if (note[0]) {
			snprintf(msg, sizeof(msg), "%s: %s", c->endpoint + 7, note);
			log(2, msg);
		}
		snprintf(c->endpoint, sizeof(c->endpoint), "file://%s", dir);
		return 0;
	}
	if (!c->spool_max_bytes)
		return 0;
	r = ldp_private_dir(c->spool_dir, euid, dir, sizeof(dir), note, sizeof(note));
	if (r < 0) {
		/* not a reason to stay off: profiles are sent, only the fallback is missing */
		snprintf(msg, sizeof(msg), "spool off: no folder of uid %u's own in %s (%s): profiles that "
			 "cannot be sent are lost", euid, c->spool_dir, note[0] ? note : strerror(-r));
		log(2, msg);
		c->spool_max_bytes = 0;
		return 0;
	}
	if (note[0]) {
		snprintf(msg, sizeof(msg), "%s: %s", c->spool_dir, note);
		log(2, msg);
	}
	snprintf(c->spool_dir, sizeof(c->spool_dir), "%s", dir);
	return 0;
}

struct ldp_deliver *ldp_deliver_new(const struct ldp_config *c, ldp_deliver_log_fn log)
{
	struct ldp_deliver *d = calloc(1, sizeof(*d));

	if (!d)
		return NULL;
	d->c = c;
	d->log = log;
	init_sync(d);
	d->logged_status = -1;
	d->rng = (uint64_t)mono_ns() ^ ((uint64_t)getpid() << 32) ^ 0x9e3779b97f4a7c15ULL;
	d->is_file = !strncmp(c->endpoint, "file://", 7);
	if (gethostname(d->host, sizeof(d->host) - 1) < 0)
		snprintf(d->host, sizeof(d->host), "unknown");
	return d;
}

static void free_queue(struct ldp_deliver *d)
{
	struct item *it, *next;

	for (it = d->head; it; it = next) {
		next = it->next;
		ldp_shipment_clear(&it->s);
		free(it);
	}
	d->head = d->tail = NULL;
	d->queued_bytes = 0;
}

void ldp_deliver_free(struct ldp_deliver *d)
{
	if (!d)
		return;
	free_queue(d);
	pthread_mutex_destroy(&d->mx);
	pthread_cond_destroy(&d->done);
	free(d);
}

/* ---- labels ---- */

void ldp_deliver_set_spool_owner(struct ldp_deliver *d, unsigned uid)
{
	d->foreign = 1;
	d->owner_uid = uid;
}

/* s's labels with first[0..n) in front, in place of any labels of those keys s had. */
static void labels_first(struct ldp_shipment *s, const struct ldp_ship_label *first, int n)
{
	struct ldp_shipment tmp = *s;

	s->nlabels = 0;
	for (int k = 0; k < n; k++)
		ldp_shipment_add_label(s, first[k].key, first[k].value);
	for (int i = 0; i < tmp.nlabels; i++) {
		int k = 0;

		while (k < n && strcmp(tmp.labels[i].key, first[k].key))
			k++;
		if (k == n)
			ldp_shipment_add_label(s, tmp.labels[i].key, tmp.labels[i].value);
	}
}

/* A spooled profile of another user's: its claims of origin replaced by what we know. */
static void own_labels(struct ldp_deliver *d, struct ldp_shipment *s)
{
	struct ldp_ship_label first[2] = { { LDP_LABEL_HOST, "" }, { LDP_LABEL_UID, "" } };

	snprintf(first[0].value, sizeof(first[0].value), "%s", d->host);
	snprintf(first[1].value, sizeof(first[1].value), "%u", d->owner_uid);
	labels_first(s, first, 2);
}

static void add_labels(struct ldp_deliver *d, struct ldp_shipment *s)
{
	struct ldp_ship_label first[2] = { { LDP_LABEL_SERVICE, "" }, { LDP_LABEL_HOST, "" } };
	const char *svc = d->c->service_name, *exe;

	/* The service name goes first (receivers key on it); the shipment's own labels follow. */
	if (!svc[0]) {
		exe = ldp_shipment_label(s, LDP_LABEL_EXE);
		svc = exe && strrchr(exe, '/') ? strrchr(exe, '/') + 1 : exe;
		if (!svc || !svc[0])
			svc = ldp_shipment_label(s, LDP_LABEL_COMM);
		if (!svc || !svc[0])
			svc = "unknown";
	}
	snprintf(first[0].value, sizeof(first[0].value), "%s", svc);
	snprintf(first[1].value, sizeof(first[1].value), "%s", d->host);
	labels_first(s, first, 2);
	for (int i = 0; i < d->c->nlabels; i++)
		if (!ldp_shipment_label(s, d->c->labels[i].key))
			ldp_shipment_add_label(s, d->c->labels[i].key, d->c->labels[i].value);
}

/* ---- file:// ---- */

static void file_comm(const struct ldp_shipment *s, char *buf, size_t len)
{
	const char *comm = ldp_shipment_label(s, LDP_LABEL_COMM);

	snprintf(buf, len, "%s", comm && comm[0] ? comm : "unknown");
	for (char *p = buf; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '-' || *p == '_' || *p == '.'))
			*p = '_';
	if (buf[0] == '.')
		buf[0] = '_';
}

/* The profile with its labels as comments ("service_name=web", "pid=123", ...): what an HTTP
 * receiver is told in the request, kept in the file (`ldprof report --html` filters by them,
 * `go tool pprof` shows them). */
static int with_labels(const struct ldp_shipment *s, uint8_t **ret, size_t *ret_len)
{
	char text[LDP_SHIP_MAX_LABELS][sizeof(s->labels[0].key) + sizeof(s->labels[0].value) + 2];
	const char *v[LDP_SHIP_MAX_LABELS];
	int n = 0;

	for (int i = 0; i < s->nlabels && i < LDP_SHIP_MAX_LABELS; i++) {
		snprintf(text[n], sizeof(text[n]), "%s=%s", s->labels[i].key, s->labels[i].value);
		v[n] = text[n];
		n++;
	}
	return ldp_profile_append_comments(s->pprof, s->len, v, (size_t)n, ret, ret_len);
}

/* <dir>/<comm>.<pid>.<seq>.pb.gz, written under a temporary name and link()ed into place:
 * link() never replaces, and an image exec'd under the same pid starts its sequence again at
 * 0, so it must not overwrite the files of the image before it. */
static int write_file(struct ldp_deliver *d, const struct ldp_shipment *s, unsigned seq)
{
	const char *dir = d->c->endpoint + 7; /* read each time: a setuid() moves it */
	const char *pid = ldp_shipment_label(s, LDP_LABEL_PID);
	char comm[64], name[160], tmp[160];
	uint8_t *gz = NULL, *raw = NULL;
	size_t gzlen = 0, rawlen = 0;
	int r, fd = -1, dfd;

	tmp[0] = 0;
	if (!pid)
		pid = "0";
	/* The folder by descriptor, no link followed on the way: one planted since the folder
	 * was checked (ldp_private_dir) makes this write fail, not go elsewhere. */
	dfd = ldp_dir_open(dir, O_PATH);
	if (dfd < 0)
		return dfd;
	r = with_labels(s, &raw, &rawlen);
	if (r < 0)
		goto out;
	r = ldp_gzip(raw, rawlen, &gz, &gzlen);
	if (r < 0)
		goto out;
	file_comm(s, comm, sizeof(comm));
	snprintf(tmp, sizeof(tmp), ".%s.%s.%u.tmp", comm, pid, seq);
	/* O_EXCL: never open something that is already there (a link someone planted). A
	 * temporary left by a crash of this very pid is ours to replace. */
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0 && errno == EEXIST && unlinkat(dfd, tmp, 0) == 0)
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		tmp[0] = 0;
		goto out;
	}
	r = ldp_write_all(fd, gz, gzlen);
	if (r < 0)
		goto out;
	r = close(fd);
	fd = -1;
	if (r < 0) {
		r = -errno;
		goto out;
	}
	for (unsigned n = seq;; n++) {
		snprintf(name, sizeof(name), "%s.%s.%u.pb.gz", comm, pid, n);
		if (linkat(dfd, tmp, dfd, name, 0) == 0)
			break;
		if (errno != EEXIST || n - seq > 100000) {
			r = -errno;
			goto out;
		}
	}
	say(d, L_DEBUG, "wrote %s/%s", dir, name);
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	if (tmp[0])
		unlinkat(dfd, tmp, 0);
	close(dfd);
	free(gz);
	free(raw);
	return r;
}

/* ---- sending ---- */

static int send_one(struct ldp_deliver *d, const struct ldp_shipment *s, int64_t budget_ns,
		    struct ldp_http_result *res)
{
	memset(res, 0, sizeof(*res));
	if (budget_ns <= 0)
		return -ETIMEDOUT;
	return ldp_http_send(d->c, s, budget_ns, &d->abort, res);
}

static int64_t backoff_ns(struct ldp_deliver *d)
{
	int64_t delay = d->c->backoff_ns;

	for (int i = 1; i < d->fails && delay < d->c->backoff_max_ns; i++)
		delay *= 2;
	if (delay > d->c->backoff_max_ns)
		delay = d->c->backoff_max_ns;
	/* Full jitter on the upper half: processes that failed together retry apart. */
	d->rng ^= d->rng << 13;
	d->rng ^= d->rng >> 7;
	d->rng ^= d->rng << 17;
	return delay / 2 + (int64_t)(d->rng % (uint64_t)(delay / 2 + 1));
}

/* Locked. */
static void push_front(struct ldp_deliver *d, struct item *it)
{
	it->next = d->head;
	d->head = it;
	if (!d->tail)
		d->tail = it;
	d->queued_bytes += it->s.len;
}

static void push_back(struct ldp_deliver *d, struct item *it)
{
	it->next = NULL;
	if (d->tail)
		d->tail->next = it;
	else
		d->head = it;
	d->tail = it;
	d->queued_bytes += it->s.len;
}

static struct item *pop_front(struct ldp_deliver *d)
{
	struct item *it = d->head;

	if (!it)
		return NULL;
	d->head = it->next;
	if (!d->head)
		d->tail = NULL;
	d->queued_bytes -= it->s.len;
	it->next = NULL;
	return it;
}

/* Writes it to the spool and frees it. Not locked: touches the disk. Returns 0 or -errno. */
static int spool_item(struct ldp_deliver *d, struct item *it, struct ldp_deliver_stats *st)
{
	unsigned dropped = 0;
	int r = -EFBIG;

	if (d->c->spool_max_bytes)
		r = ldp_spool_put(d->c->spool_dir, d->c->spool_max_bytes, &it->s, &dropped);
	if (r == 0)
		st->spooled++;
	else
		st->lost++;
	st->spool_dropped += dropped;
	if (dropped)
		say(d, L_WARN, "spool %s is full: dropped the %u oldest profiles", d->c->spool_dir, dropped);
	if (r < 0)
		say(d, L_WARN, "lost a profile: cannot spool it to %s: %s", d->c->spool_dir,
		    d->c->spool_max_bytes ? strerror(-r) : "the spool is off (max_bytes = 0)");
	ldp_shipment_clear(&it->s);
	free(it);
	return r;
}

/* spool_item() from a locked section: the lock is dropped around the disk work. */
static void spool_unlocked(struct ldp_deliver *d, struct item *it)
{
	struct ldp_deliver_stats st = { 0 };

	pthread_mutex_unlock(&d->mx);
	spool_item(d, it, &st);
	pthread_mutex_lock(&d->mx);
	d->st.spooled += st.spooled;
	d->st.lost += st.lost;
	d->st.spool_dropped += st.spool_dropped;
}

/* Spools the oldest queued profiles until the queue fits its bound. Locked on entry and exit. */
static void trim_queue(struct ldp_deliver *d)
{
	while (d->head && d->queued_bytes > d->c->queue_max_bytes) {
		spool_unlocked(d, pop_front(d));
	}
}

int ldp_deliver_submit(struct ldp_deliver *d, struct ldp_shipment *s)
{
	struct item *it;
	unsigned seq;
	int r;

	add_labels(d, s);
	if (d->is_file) {
		pthread_mutex_lock(&d->mx);
		seq = d->file_seq++;
		pthread_mutex_unlock(&d->mx);
		r = write_file(d, s, seq);
		pthread_mutex_lock(&d->mx);
		if (r == 0)
			d->st.files++;
		else
			d->st.lost++;
		pthread_mutex_unlock(&d->mx);
		if (r < 0)
			say(d, L_WARN, "cannot write a profile to \"%s\": %s", d->c->endpoint + 7, strerror(-r));
		ldp_shipment_clear(s);
		return r;
	}
	it = calloc(1, sizeof(*it));
	if (!it) {
		ldp_shipment_clear(s);
		pthread_mutex_lock(&d->mx);
		d->st.lost++;
		pthread_mutex_unlock(&d->mx);
		return -ENOMEM;
	}
	it->s = *s;
	memset(s, 0, sizeof(*s));
	pthread_mutex_lock(&d->mx);
	push_back(d, it);
	trim_queue(d);
	pthread_mutex_unlock(&d->mx);
	if (d->sender_on) {
		pthread_mutex_lock(&d->smx);
		pthread_cond_signal(&d->swake);
		pthread_mutex_unlock(&d->smx);
	}
	return 0;
}

/* ---- the sender thread (collectors: `ldprof run`) ---- */

static void *sender_main(void *arg)
{
	struct ldp_deliver *d = arg;

	pthread_mutex_lock(&d->smx);
	while (!d->sender_stop) {
		struct timespec ts;
		int64_t wait;

		pthread_mutex_unlock(&d->smx);
		wait = ldp_deliver_run(d, 60 * 1000000000LL);
		pthread_mutex_lock(&d->smx);
		if (d->sender_stop)
			break;
		if (wait <= 0)
			continue;
		if (wait > 1000000000LL)
			wait = 1000000000LL;
		wait += mono_ns();
		ts.tv_sec = wait / 1000000000LL;
		ts.tv_nsec = wait % 1000000000LL;
		pthread_cond_timedwait(&d->swake, &d->smx, &ts);
	}
	pthread_mutex_unlock(&d->smx);
	return NULL;
}

int ldp_deliver_sender_start(struct ldp_deliver *d)
{
	pthread_condattr_t ca;
	sigset_t all, old;
	int r;

	if (d->is_file)
		return 0; /* files are written by submit itself */
	pthread_mutex_init(&d->smx, NULL);
	/* monotonic: a wall clock step back must not stall the sender */
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->swake, &ca);
	pthread_condattr_destroy(&ca);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old); /* the sender takes no signal */
	r = pthread_create(&d->sender, NULL, sender_main, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	d->sender_on = 1;
	return 0;
}

void ldp_deliver_sender_stop(struct ldp_deliver *d)
{
	if (!d->sender_on)
		return;
	ldp_deliver_abort(d);
	pthread_mutex_lock(&d->smx);
	d->sender_stop = 1;
	pthread_cond_signal(&d->swake);
	pthread_mutex_unlock(&d->smx);
	pthread_join(d->sender, NULL);
	d->sender_on = 0;
}

/* What one attempt's result means for the engine. Locked. Returns the item if it must be
 * spooled (the caller does that unlocked), else NULL. */
static struct item *settle(struct ldp_deliver *d, struct item *it, int r,
			   const struct ldp_http_result *res, int64_t now)
{
	if (r == 0) {
		if (d->fails)
			say(d, L_INFO, "endpoint %s answers again", d->c->endpoint);
		d->fails = 0;
		d->ever_sent = 1;
		d->next_try = 0;
		d->st.sent++;
		goto drop;
	}
	if (r == -EPERM) {
		/* The server refused this profile: sending it again would get the same answer. */
		d->st.rejected++;
		d->fails = 0;
		if (res->status != d->logged_status)
			say(d, L_ERROR, "endpoint %s refused a profile with HTTP %ld: %s (not retried; "
			    "further refusals with this status are only counted)", d->c->endpoint,
			    res->status, res->message);
		d->logged_status = res->status;
		goto drop;
	}
	if (r == -EINTR || d->closing) {
		push_front(d, it); /* interrupted, not failed */
		return NULL;
	}
	if (r == -ENOSYS) {
		if (!d->logged_nocurl)
			say(d, L_ERROR, "cannot load libcurl: profiles for %s are spooled", d->c->endpoint);
		d->logged_nocurl = 1;
		d->fails++;
		d->next_try = now + backoff_ns(d);
		return it;
	}
	d->fails++;
	if (d->fails == 1)
		say(d, L_WARN, "cannot deliver to %s: %s; retrying, then spooling to %s",
		    d->c->endpoint, res->message[0] ? res->message : strerror(-r), d->c->spool_dir);
	d->next_try = now + backoff_ns(d);
	if (++it->attempts > d->c->retries)
		return it;
	d->st.retries++;
	push_front(d, it);
	return NULL;
drop:
	ldp_shipment_clear(&it->s);
	free(it);
	return NULL;
}

/* One spooled profile, if the endpoint works and one is there. Locked on entry and exit.
 * Returns 1 if it did something. */
static int drain_one(struct ldp_deliver *d, int64_t budget_ns)
{
	struct ldp_shipment *s;
	struct ldp_http_result res;
	char claim[PATH_MAX + 64];
	unsigned bad = 0;
	int64_t now = mono_ns();
	int r = 0, got, recover;

	if (d->is_file || !d->c->spool_max_bytes || !d->ever_sent || d->fails || now < d->next_spool)
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s)
		return 0;
	recover = now >= d->next_recover;
	if (recover)
		d->next_recover = now + RECOVER_EVERY_NS;
	d->busy = 1;
	pthread_mutex_unlock(&d->mx);
	if (recover)
		ldp_spool_recover(d->c->spool_dir);
	got = ldp_spool_claim(d->c->spool_dir, s, claim, sizeof(claim), &bad);
	if (bad)
		say(d, L_WARN, "spool %s: %u unreadable files set aside as *.bad", d->c->spool_dir, bad);
	if (got == 1) {
		if (d->foreign)
			own_labels(d, s);
		r = send_one(d, s, budget_ns, &res);
		if (r == 0 || r == -EPERM)
			ldp_spool_done(claim);
		else
			ldp_spool_release(claim);
	}
	ldp_shipment_clear(s);
	free(s);
	pthread_mutex_lock(&d->mx);
	d->busy = 0;
	pthread_cond_broadcast(&d->done);
	if (got != 1) {
		d->next_spool = now + SPOOL_IDLE_NS;
		return 0;
	}
	if (r == 0) {
		d->st.sent_spooled++;
	} else if (r == -EPERM) {
		d->st.rejected++;
		if (res.status != d->logged_status)
			say(d, L_ERROR, "endpoint %s refused a spooled profile with HTTP %ld: %s (dropped)",
			    d->c->endpoint, res.status, res.message);
		d->logged_status = res.status;
	} else if (r != -EINTR && !d->abort && !d->closing) {
		d->fails++;
		d->next_try = mono_ns() + backoff_ns(d);
	}
	return 1;
}

int64_t ldp_deliver_run(struct ldp_deliver *d, int64_t budget_ns)
{
	int64_t end = mono_ns() + budget_ns, wait = INT64_MAX;

	if (d->is_file)
		return INT64_MAX;
	pthread_mutex_lock(&d->mx);
	while (!d->closing) {
		int64_t now = mono_ns();
		struct ldp_http_result res;
		struct item *it;
		int r;

		if (now >= end || d->abort) {
			wait = 0; /* out of budget, or whoever aborted wants this thread back now */
			break;
		}
		if (now < d->next_try) {
			wait = d->next_try - now;
			break;
		}
		it = pop_front(d);
		if (!it) {
			if (drain_one(d, end - now))
				continue;
			if (d->ever_sent && !d->fails && d->c->spool_max_bytes)
				wait = d->next_spool - now;
			break;
		}
		d->busy = 1;
		pthread_mutex_unlock(&d->mx);
		r = send_one(d, &it->s, end - now, &res);
		pthread_mutex_lock(&d->mx);
		d->busy = 0;
		pthread_cond_broadcast(&d->done);
		if (d->abort && r != 0 && r != -EPERM)
			r = -EINTR; /* aborted just as it failed: not the endpoint's fault */
		it = settle(d, it, r, &res, mono_ns());
		if (it)
			spool_unlocked(d, it);
	}
	d->abort = 0;
	pthread_mutex_unlock(&d->mx);
	return wait < 0 ? 0 : wait;
}

/* Locked: wait until the send in flight has come back, or until (monotonic ns). */
static void wait_inflight(struct ldp_deliver *d, int64_t until)
{
	struct timespec ts;

	ts.tv_sec = until / NS;
	ts.tv_nsec = until % NS;
	while (d->busy)
		if (pthread_cond_timedwait(&d->done, &d->mx, &ts) == ETIMEDOUT)
			break;
}

void ldp_deliver_abort(struct ldp_deliver *d)
{
	pthread_mutex_lock(&d->mx);
	if (d->busy)
		__atomic_store_n(&d->abort, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&d->mx);
}

void ldp_deliver_finish(struct ldp_deliver *d, int64_t budget_ns)
{
	int64_t end = mono_ns() + budget_ns;
	struct item *it;
	int net;

	if (d->is_file)
		return;
	pthread_mutex_lock(&d->mx);
	d->closing = 1;
	/* A send in flight may be about to succeed: give it the budget first. Aborted, it would
	 * be sent again (or spooled) although the server may have taken it already. */
	wait_inflight(d, end - ABORT_SLACK_NS);
	if (d->busy) {
		__atomic_store_n(&d->abort, 1, __ATOMIC_RELEASE);
		wait_inflight(d, mono_ns() + ABORT_WAIT_NS);
	}
	/* No network when the endpoint is failing (it would fail again, slowly) or when the
	 * program's own TLS library may already be torn down. */
	net = budget_ns > 0 && !d->fails && !d->busy && ldp_http_safe_at_exit();
	d->abort = 0;
	while ((it = pop_front(d))) {
		struct ldp_http_result res;
		int64_t now = mono_ns();
		int r = -ETIMEDOUT;

		pthread_mutex_unlock(&d->mx);
		if (net && now < end)
			r = send_one(d, &it->s, end - now, &res);
		pthread_mutex_lock(&d->mx);
		if (r == 0 || r == -EPERM) {
			settle(d, it, r, &res, now); /* counts and frees: closing matters only to failures */
			continue;
		}
		if (r != -ETIMEDOUT && net) {
			net = 0;
			say(d, L_WARN, "cannot deliver to %s at exit: %s; spooling to %s", d->c->endpoint,
			    res.message[0] ? res.message : strerror(-r), d->c->spool_dir);
		}
		spool_unlocked(d, it);
	}
	pthread_mutex_unlock(&d->mx);
}

int ldp_deliver_drain_spool(struct ldp_deliver *d, int64_t budget_ns)
{
	int64_t end = mono_ns() + budget_ns;
	uint64_t before;
	int n;

	if (d->is_file)
		return -EINVAL;
	pthread_mutex_lock(&d->mx);
	before = d->st.sent_spooled;
	d->ever_sent = 1;  /* the caller asks for it: try even without a success first */
	d->next_spool = 0;
	d->next_recover = 0;
	while (mono_ns() < end && !d->fails && drain_one(d, end - mono_ns()))
		;
	n = (int)(d->st.sent_spooled - before);
	pthread_mutex_unlock(&d->mx);
	return n;
}

void ldp_deliver_stats(struct ldp_deliver *d, struct ldp_deliver_stats *ret)
{
	pthread_mutex_lock(&d->mx);
	*ret = d->st;
	pthread_mutex_unlock(&d->mx);
}

char *ldp_deliver_summary(const struct ldp_deliver_stats *st, char *buf, size_t len)
{
	snprintf(buf, len,
		 "delivery: %llu sent, %llu sent from the spool, %llu files, %llu spooled, %llu dropped "
		 "from a full spool, %llu refused, %llu lost, %llu retries",
		 (unsigned long long)st->sent, (unsigned long long)st->sent_spooled,
		 (unsigned long long)st->files, (unsigned long long)st->spooled,
		 (unsigned long long)st->spool_dropped, (unsigned long long)st->rejected,
		 (unsigned long long)st->lost, (unsigned long long)st->retries);
	return buf;
}
