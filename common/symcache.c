/* SPDX-License-Identifier: MIT
 *
 * symcache.c — symbol tables shared by every profile of a collector, read on a thread of
 * their own under budgets (see symcache.h).
 *
 * Every file known is in one list, least recently used first, and in a hash table by inode.
 * The reading thread takes, among the queued files whose uid has reading time left in its
 * window, the oldest of the uid that has read least in its window: a user who queues thousands
 * of files waits behind nobody but delays others by at most the one file being read. Before a
 * read it sets the file's memory budget, the least of what its uid and the whole cache have
 * left once unused tables have been dropped to make room, and the parser refuses a file whose
 * tables would need more (elfsym.c: -E2BIG before they are read); that budget is reserved while
 * the read runs, so the cache never holds more than max_bytes, even at a read's peak.
 * Time is charged as wall time: a read that waits for a slow disk delays the others as much as
 * one that computes.
 * Locking: one mutex for everything but a table's contents, which nobody changes once read
 * and nobody frees while a reference is held.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <linux/openat2.h>

#include "debuginfo.h"
#include "fileio.h"
#include "symcache.h"

#define NBUCKETS 4096
#define MAX_UIDS 256
/* A file that would get less than this to be read in is refused without being read. */
#define MIN_BUDGET (64u << 10)
#define NEVER INT64_MAX /* nothing to wake the thread but new work */

const struct ldp_symcache_limits ldp_symcache_defaults = {
	.max_bytes = 1024ull << 20,
	.uid_bytes = 256ull << 20,
	.uid_read_ns = 5000000000LL,
	.window_ns = 60000000000LL,
	.idle_ns = 600000000000LL,
	.max_files = 16384,
	.max_queued = 4096,
	.uid_queued = 512,
};

enum { QUEUED, READING, DONE };

struct ldp_symfile {
	struct ldp_symcache *sc;
	struct ldp_symfile *hnext;        /* hash chain */
	struct ldp_symfile *prev, *next;  /* the list, least recently used first */
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	uid_t uid;                        /* charged for its memory and reading time */
	unsigned refs;
	int state;
	int err;
	int fd;                           /* O_PATH, while queued */
	int throttled;                    /* counted once as waiting for its uid's window */
	struct ldp_elfsym *syms;
	uint64_t bytes;
	int64_t used_ns;                  /* last get or put */
};

struct acct {
	uid_t uid;
	uint64_t bytes;   /* tables held, and the budget of one being read */
	int64_t read_ns;  /* in the window starting at window_start */
	int64_t window_start;
	unsigned queued;
};

struct ldp_symcache {
	struct ldp_symcache_limits lim;
	pthread_mutex_t mx;
	pthread_cond_t work, idle;
	pthread_t thread;
	int stop;
	struct ldp_symfile *bucket[NBUCKETS];
	struct ldp_symfile *head, *tail;
	unsigned nfiles, nqueued, reading;
	uint64_t bytes;
	struct acct acct[MAX_UIDS];
	unsigned nacct;
	struct ldp_symcache_stats st;
};

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static unsigned hash(dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)ino ^ ((uint64_t)dev << 29)) * 0x9e3779b97f4a7c15ULL;

	return (unsigned)(h >> 52) % NBUCKETS;
}

/* uid's account, made when needed; NULL when MAX_UIDS others hold something. */
static struct acct *acct_of(struct ldp_symcache *sc, uid_t uid, int make)
{
	struct acct *free_one = NULL;

	for (unsigned i = 0; i < sc->nacct; i++) {
		struct acct *a = &sc->acct[i];

		if (a->uid == uid)
			return a;
		if (!free_one && !a->bytes && !a->queued)
			free_one = a;
	}
	if (!make)
		return NULL;
	if (!free_one) {
		if (sc->nacct == MAX_UIDS)
			return NULL;
		free_one = &sc->acct[sc->nacct++];
	}
	*free_one = (struct acct){ .uid = uid };
	return free_one;
}

/* Starts a new window when the last one is over. */
static void acct_window(const struct ldp_symcache *sc, struct acct *a, int64_t now)
{
	if (now - a->window_start >= sc->lim.window_ns) {
		a->window_start = now;
		a->read_ns = 0;
	}
}

static void list_unlink(struct ldp_symcache *sc, struct ldp_symfile *f)
{
	if (f->prev)
		f->prev->next = f->next;
	else
		sc->head = f->next;
	if (f->next)
		f->next->prev = f->prev;
	else
		sc->tail = f->prev;
	f->prev = f->next = NULL;
}

static void list_append(struct ldp_symcache *sc, struct ldp_symfile *f)
{
	f->prev = sc->tail;
	f->next = NULL;
	if (sc->tail)
		sc->tail->next = f;
	else
		sc->head = f;
	sc->tail = f;
}

/* Forgets f: out of the hash, the list and its uid's account. f must not be READING. */
static void drop_file(struct ldp_symcache *sc, struct ldp_symfile *f)
{
	struct ldp_symfile **pp = &sc->bucket[hash(f->dev, f->ino)];
	struct acct *a = acct_of(sc, f->uid, 0);

	while (*pp && *pp != f)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = f->hnext;
	list_unlink(sc, f);
	if (f->state == QUEUED) {
		sc->nqueued--;
		if (a)
			a->queued--;
	}
	if (a)
		a->bytes -= f->bytes;
	sc->bytes -= f->bytes;
	sc->nfiles--;
	if (f->fd >= 0)
		close(f->fd);
	ldp_elfsym_free(f->syms);
	free(f);
	pthread_cond_broadcast(&sc->idle);
}

/* 1 when need more bytes fit under the cache's cap. */
static int cache_fits(const struct ldp_symcache *sc, uint64_t need)
{
	return sc->bytes <= sc->lim.max_bytes && need <= sc->lim.max_bytes - sc->bytes;
}

/* ... and, for a uid other than root, under its budget. */
static int fits(const struct ldp_symcache *sc, const struct acct *a, uint64_t need)
{
	return cache_fits(sc, need) &&
	       (!a->uid || (a->bytes <= sc->lim.uid_bytes && need <= sc->lim.uid_bytes - a->bytes));
}

/* Drops unused tables, least recently used first, until need more bytes fit: any user's when
 * the cache is full, else only a's own. */
static void make_room(struct ldp_symcache *sc, struct acct *a, uint64_t need)
{
	for (struct ldp_symfile *f = sc->head, *next; f && !fits(sc, a, need); f = next) {
		next = f->next;
		if (f->refs || f->state != DONE || !f->bytes)
			continue;
		if (!cache_fits(sc, need) || f->uid == a->uid)
			drop_file(sc, f);
	}
}

/* What f may take at its peak: all that its uid and the cache have left, once unused tables
 * have been dropped to make room for as much as the file can need. Its tables' peak is at most
 * twice what they take in the file (elfsym.c), so twice its size is enough: a small file does
 * not push others' tables out. */
static uint64_t budget_for(struct ldp_symcache *sc, struct acct *a, const struct ldp_symfile *f)
{
	uint64_t want = a->uid ? sc->lim.uid_bytes : sc->lim.max_bytes, left;
	uint64_t need = 2 * (uint64_t)f->size + MIN_BUDGET;

	if (need < want)
		want = need;

	make_room(sc, a, want);
	left = sc->bytes < sc->lim.max_bytes ? sc->lim.max_bytes - sc->bytes : 0;
	if (a->uid) {
		uint64_t u = a->bytes < sc->lim.uid_bytes ? sc->lim.uid_bytes - a->bytes : 0;
		if (u < left)
			left = u;
	}
	return left < want ? left : want;
}

/* The next file to read, or NULL; *wait_ns: how long until a throttled uid may read again. */
static struct ldp_symfile *pick(struct ldp_symcache *sc, int64_t now, int64_t *wait_ns)
{
	struct ldp_symfile *best = NULL;
	int64_t best_read = 0;

	*wait_ns = NEVER;
	for (struct ldp_symfile *f = sc->head; f; f = f->next) {
		struct acct *a;

		if (f->state != QUEUED)
			continue;
		a = acct_of(sc, f->uid, 0);
		if (!a)
			continue; /* cannot happen: a queued file keeps its account */
		acct_window(sc, a, now);
		if (a->uid && a->read_ns >= sc->lim.uid_read_ns) {
			int64_t w = a->window_start + sc->lim.window_ns - now;

			if (w < *wait_ns)
				*wait_ns = w > 0 ? w : 0;
			if (!f->throttled) {
				f->throttled = 1;
				sc->st.throttled++;
			}
			continue;
		}
		/* the list is in order of use, not of queueing: among one uid's files any order
		 * is fair, among uids the one that has read least goes first */
		if (!best || a->read_ns < best_read) {
			best = f;
			best_read = a->read_ns;
		}
	}
	return best;
}

/* A file's names: from its separate debug file when the host has one for its build ID (a
 * stripped library's .dynsym names none of its internal functions, and attributes their
 * addresses to the exported function before them), with the file's own PLT stubs, else from
 * the file itself, with its MiniDebugInfo when it has some. Each table under the same budget;
 * the debug file is root's (/usr/lib/debug), found by build ID alone, never by a path in the
 * target's file system. */
static int read_syms(int fd, uint64_t budget, struct ldp_elfsym **ret)
{
	struct ldp_elfsym_loads loads;
	char id[160];

	if (ldp_elfsym_read_loads(fd, &loads, id, sizeof(id)) < 0)
		return ldp_elfsym_open_fd(fd, budget, ret);
	if (id[0] && ldp_debuginfo_by_build_id(id, &loads, NULL, budget, ret) == 0) {
		ldp_debuginfo_add_original(fd, budget, *ret); /* without them: the debug file's names */
		return 0;
	}
	if (ldp_debuginfo_mini(fd, &loads, budget, ret) == 0)
		return 0;
	return ldp_elfsym_open_fd(fd, budget, ret);
}

/* Reads one file (unlocked), then charges its uid. Called with the lock held. */
static void read_one(struct ldp_symcache *sc, struct ldp_symfile *f)
{
	struct acct *a = acct_of(sc, f->uid, 0);
	struct ldp_elfsym *syms = NULL;
	uint64_t budget = a ? budget_for(sc, a, f) : 0;
	char path[64];
	int64_t t0;
	int fd, r;

	sc->nqueued--;
	if (a)
		a->queued--;
	if (budget < MIN_BUDGET) {
		f->state = DONE;
		f->err = -EDQUOT;
		sc->st.over_budget++;
		close(f->fd);
		f->fd = -1;
		return;
	}
	f->state = READING;
	sc->reading++;
	a->bytes += budget;
	sc->bytes += budget;
	pthread_mutex_unlock(&sc->mx);

	t0 = mono_ns();
	/* The O_PATH descriptor holds the file; reading needs one opened for reading. O_NONBLOCK:
	 * a FIFO cannot be there (fstat said regular), but nothing here may wait for a writer. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", f->fd);
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	r = fd < 0 ? -errno : read_syms(fd, budget, &syms);
	if (fd >= 0)
		close(fd);

	pthread_mutex_lock(&sc->mx);
	a->bytes -= budget;
	sc->bytes -= budget;
	acct_window(sc, a, t0);
	a->read_ns += mono_ns() - t0;
	close(f->fd);
	f->fd = -1;
	f->state = DONE;
	sc->reading--;
	sc->st.reads++;
	if (r < 0) {
		f->err = r;
		if (r == -E2BIG)
			sc->st.over_budget++;
	} else {
		f->syms = syms;
		f->bytes = ldp_elfsym_bytes(syms);
		a->bytes += f->bytes;
		sc->bytes += f->bytes;
	}
}

static void *reader(void *arg)
{
	struct ldp_symcache *sc = arg;

	pthread_mutex_lock(&sc->mx);
	while (!sc->stop) {
		int64_t now = mono_ns(), wait_ns, drop_ns = NEVER;
		struct ldp_symfile *f;

		for (struct ldp_symfile *g = sc->head, *next; g; g = next) {
			int64_t left;

			next = g->next;
			if (g->refs || g->state != DONE)
				continue;
			left = g->used_ns + sc->lim.idle_ns - now;
			if (left <= 0)
				drop_file(sc, g);
			else if (left < drop_ns)
				drop_ns = left;
		}
		f = pick(sc, now, &wait_ns);
		if (f) {
			read_one(sc, f);
			if (!f->refs)
				f->used_ns = mono_ns(); /* let go while it was read: idle from now */
			pthread_cond_broadcast(&sc->idle);
			continue;
		}
		if (!sc->nqueued)
			pthread_cond_broadcast(&sc->idle);
		/* Asleep until the next thing due: a uid's reading window, a table's idle drop, or
		 * new work (a file queued, a table let go); no wake-up while there is none. */
		if (drop_ns < wait_ns)
			wait_ns = drop_ns;
		if (wait_ns == NEVER) {
			pthread_cond_wait(&sc->work, &sc->mx);
		} else {
			struct timespec ts;
			int64_t until;

			clock_gettime(CLOCK_MONOTONIC, &ts);
			until = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec + (wait_ns > 0 ? wait_ns : 1000000);
			ts.tv_sec = until / 1000000000LL;
			ts.tv_nsec = until % 1000000000LL;
			pthread_cond_timedwait(&sc->work, &sc->mx, &ts);
		}
	}
	pthread_mutex_unlock(&sc->mx);
	return NULL;
}

int ldp_symcache_new(const struct ldp_symcache_limits *lim, struct ldp_symcache **ret)
{
	struct ldp_symcache *sc;
	pthread_condattr_t ca;
	sigset_t all, old;
	int r;

	if (!lim || !ret || !lim->max_files || lim->window_ns <= 0)
		return -EINVAL;
	sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	sc->lim = *lim;
	pthread_mutex_init(&sc->mx, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&sc->work, &ca);
	pthread_cond_init(&sc->idle, &ca);
	pthread_condattr_destroy(&ca);
	/* the reader takes no signal: the caller's handlers and their EINTRs stay the caller's */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = -pthread_create(&sc->thread, NULL, reader, sc);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		pthread_cond_destroy(&sc->work);
		pthread_cond_destroy(&sc->idle);
		pthread_mutex_destroy(&sc->mx);
		free(sc);
		return r;
	}
	*ret = sc;
	return 0;
}

void ldp_symcache_free(struct ldp_symcache *sc)
{
	if (!sc)
		return;
	pthread_mutex_lock(&sc->mx);
	sc->stop = 1;
	pthread_cond_broadcast(&sc->work);
	pthread_mutex_unlock(&sc->mx);
	pthread_join(sc->thread, NULL);
	while (sc->head)
		drop_file(sc, sc->head);
	pthread_cond_destroy(&sc->work);
	pthread_cond_destroy(&sc->idle);
	pthread_mutex_destroy(&sc->mx);
	free(sc);
}


int ldp_symcache_get(struct ldp_symcache *sc, int rootfd, const char *path, uint64_t inode,
		     uid_t uid, struct ldp_symfile **ret)
{
	struct ldp_symfile *f;
	struct acct *a;
	struct stat st;
	int fd, r;

	if (!sc || !path || !ret)
		return -EINVAL;
	/* under the process's root, no link followed: a user who swaps a component of the path
	 * of a file their process mapped for a symbolic link gets ELOOP, not root's reading of
	 * the link's target */
	fd = ldp_openat_nolinks(rootfd, path, O_PATH, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0) {
		r = -errno;
		goto fail;
	}
	r = -ENOEXEC;
	if (!S_ISREG(st.st_mode))
		goto fail;
	r = -ESTALE; /* not the file the process mapped: replaced since */
	if (inode && (uint64_t)st.st_ino != inode)
		goto fail;

	pthread_mutex_lock(&sc->mx);
	for (f = sc->bucket[hash(st.st_dev, st.st_ino)]; f; f = f->hnext)
		if (f->dev == st.st_dev && f->ino == st.st_ino && f->size == st.st_size &&
		    f->mtime.tv_sec == st.st_mtim.tv_sec && f->mtime.tv_nsec == st.st_mtim.tv_nsec &&
		    f->ctime.tv_sec == st.st_ctim.tv_sec && f->ctime.tv_nsec == st.st_ctim.tv_nsec)
			break;
	if (f) {
		f->refs++;
		f->used_ns = mono_ns();
		list_unlink(sc, f);
		list_append(sc, f);
		sc->st.hits++;
		pthread_mutex_unlock(&sc->mx);
		close(fd);
		*ret = f;
		return 0;
	}
	r = -ENOSPC;
	if (sc->nfiles >= sc->lim.max_files || sc->nqueued >= sc->lim.max_queued)
		goto unlock;
	r = -EDQUOT;
	a = acct_of(sc, uid, 1);
	if (!a || (uid && a->queued >= sc->lim.uid_queued))
		goto unlock;
	r = -ENOMEM;
	f = calloc(1, sizeof(*f));
	if (!f)
		goto unlock;
	*f = (struct ldp_symfile){
		.sc = sc, .dev = st.st_dev, .ino = st.st_ino, .size = st.st_size,
		.mtime = st.st_mtim, .ctime = st.st_ctim, .uid = uid, .refs = 1, .state = QUEUED,
		.fd = fd, .used_ns = mono_ns(),
	};
	f->hnext = sc->bucket[hash(f->dev, f->ino)];
	sc->bucket[hash(f->dev, f->ino)] = f;
	list_append(sc, f);
	sc->nfiles++;
	sc->nqueued++;
	a->queued++;
	pthread_cond_signal(&sc->work);
	pthread_mutex_unlock(&sc->mx);
	*ret = f;
	return 0;
unlock:
	pthread_mutex_unlock(&sc->mx);
fail:
	close(fd);
	return r;
}

void ldp_symcache_put(struct ldp_symfile *f)
{
	struct ldp_symcache *sc;

	if (!f)
		return;
	sc = f->sc;
	pthread_mutex_lock(&sc->mx);
	f->used_ns = mono_ns();
	if (--f->refs == 0 && f->state == QUEUED)
		drop_file(sc, f); /* nobody wants it any more: never read */
	else if (f->refs == 0 && f->state == DONE)
		pthread_cond_signal(&sc->work); /* its idle drop is now due some day */
	pthread_mutex_unlock(&sc->mx);
}

const struct ldp_elfsym *ldp_symcache_syms(struct ldp_symfile *f)
{
	const struct ldp_elfsym *s;

	if (!f)
		return NULL;
	pthread_mutex_lock(&f->sc->mx);
	s = f->state == DONE ? f->syms : NULL;
	pthread_mutex_unlock(&f->sc->mx);
	return s;
}

int ldp_symcache_pending(struct ldp_symfile *f)
{
	int p;

	if (!f)
		return 0;
	pthread_mutex_lock(&f->sc->mx);
	p = f->state != DONE;
	pthread_mutex_unlock(&f->sc->mx);
	return p;
}

int ldp_symcache_error(struct ldp_symfile *f)
{
	int e;

	if (!f)
		return 0;
	pthread_mutex_lock(&f->sc->mx);
	e = f->state == DONE ? f->err : 0;
	pthread_mutex_unlock(&f->sc->mx);
	return e;
}

void ldp_symcache_stats(struct ldp_symcache *sc, struct ldp_symcache_stats *ret)
{
	pthread_mutex_lock(&sc->mx);
	*ret = sc->st;
	ret->files = sc->nfiles;
	ret->queued = sc->nqueued;
	ret->bytes = sc->bytes;
	pthread_mutex_unlock(&sc->mx);
}

void ldp_symcache_uid_usage(struct ldp_symcache *sc, uid_t uid, uint64_t *bytes, int64_t *read_ns)
{
	struct acct *a;

	pthread_mutex_lock(&sc->mx);
	a = acct_of(sc, uid, 0);
	if (a)
		acct_window(sc, a, mono_ns());
	*bytes = a ? a->bytes : 0;
	*read_ns = a ? a->read_ns : 0;
	pthread_mutex_unlock(&sc->mx);
}

int ldp_symcache_drain(struct ldp_symcache *sc, int64_t timeout_ns)
{
	int64_t until = mono_ns() + timeout_ns;
	int r = 0;

	pthread_mutex_lock(&sc->mx);
	while ((sc->nqueued || sc->reading) && r == 0) {
		struct timespec ts = { .tv_sec = until / 1000000000LL, .tv_nsec = until % 1000000000LL };

		if (pthread_cond_timedwait(&sc->idle, &sc->mx, &ts) == ETIMEDOUT &&
		    (sc->nqueued || sc->reading))
			r = -ETIMEDOUT;
	}
	pthread_mutex_unlock(&sc->mx);
	return r;
}
