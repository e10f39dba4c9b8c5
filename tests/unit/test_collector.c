/* SPDX-License-Identifier: MIT
 *
 * test_collector.c — common/collector.c on a real ring from a real process (a forked child of
 * this test), under ASan/UBSan: the child hands its ring over the socket as the sampler does,
 * puts samples whose addresses are a function of this program's, and exits; the collector
 * takes the ring, drains it, sees the child gone and writes its profile through delivery, with
 * every sample counted and named. Next to it, what is not a ring is refused: an unsealed
 * memfd, the wrong words, a connection that never sends.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agentproto.h"
#include "collector.h"
#include "compress.h"
#include "config.h"
#include "deliver.h"
#include "fileio.h"
#include "pprof.h"
#include "ring.h"

#include "check.h"
#include "profnames.h"

#define SAMPLES 100

int main(void);

__attribute__((noinline)) void collector_test_hot(void);
__attribute__((noinline)) void collector_test_hot(void)
{
	__asm__ volatile("" ::: "memory");
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(s);
		return -1;
	}
	return s;
}

/* One message with one descriptor, as shim/agentreq.c's ldp_agentreq_hand() sends it. */
static int hand(const char *path, const char *msg, int fd)
{
	char ctl[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { (void *)msg, strlen(msg) };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
	struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
	int s = connect_to(path), r;

	if (s < 0)
		return -1;
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	r = sendmsg(s, &m, MSG_NOSIGNAL) < 0 ? -1 : 0;
	close(s);
	return r;
}

static void child(const char *sock, int go)
{
	uint64_t frames[2] = { (uint64_t)(uintptr_t)collector_test_hot, (uint64_t)(uintptr_t)main + 8 };
	void *mem;
	char c;
	int fd = ldp_ring_create(128, (uint32_t)getpid(), &mem);

	if (fd < 0 || hand(sock, LDP_AGENT_REQ_RING, fd) < 0)
		_exit(2);
	close(fd);
	if (read(go, &c, 1) != 1)
		_exit(3);
	for (int i = 0; i < SAMPLES; i++)
		if (ldp_ring_put(mem, 128, (uint32_t)getpid(), 1, frames, 2) < 0)
			_exit(4);
	_exit(0);
}

static void run_until(struct ldp_collector *c, int (*done)(const struct ldp_collector_stats *))
{
	struct ldp_collector_stats st;

	for (int i = 0; i < 400; i++) {
		ldp_collector_accept(c);
		ldp_collector_tick(c);
		ldp_collector_stats(c, &st);
		if (done(&st))
			return;
		usleep(10000);
	}
}

static int one_ring(const struct ldp_collector_stats *st) { return st->rings == 1; }
static int one_profile(const struct ldp_collector_stats *st) { return st->profiles == 1; }
static int two_refused(const struct ldp_collector_stats *st) { return st->refused >= 2; }

/* The one profile file in dir, read and parsed. */
static int read_profile(const char *dir, struct ldp_profile *p, int *nfiles)
{
	char path[512], *gz = NULL;
	uint8_t *raw = NULL;
	size_t gzlen, rawlen;
	struct dirent *de;
	DIR *d = opendir(dir);
	int r = -ENOENT;

	*nfiles = 0;
	while (d && (de = readdir(d)))
		if (strstr(de->d_name, ".pb.gz")) {
			snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
			(*nfiles)++;
		}
	if (d)
		closedir(d);
	if (*nfiles != 1)
		return r;
	r = ldp_read_file(path, 0, 1 << 20, &gz, &gzlen);
	if (r == 0)
		r = ldp_gunzip((uint8_t *)gz, gzlen, 16 << 20, &raw, &rawlen);
	if (r == 0)
		r = ldp_profile_parse(raw, rawlen, p);
	free(gz);
	free(raw);
	return r;
}

/* How soon the collector wants its next tick: within 50 ms of taking a ring, 125 ms while its
 * ring stays empty or fills slowly, 50 ms again once a drain finds a third of it used. */
static void pace(struct ldp_collector *c, void *mem, uint32_t nslots)
{
	uint64_t frames[2] = { (uint64_t)(uintptr_t)collector_test_hot, (uint64_t)(uintptr_t)main + 8 };
	int ms = ldp_collector_wait_ms(c);

	CHECK(ms <= LDP_COLLECTOR_TICK_MS, "a ring just taken is drained within %d ms (%d)", LDP_COLLECTOR_TICK_MS, ms);
	ldp_collector_tick(c);
	ms = ldp_collector_wait_ms(c);
	CHECK(ms > 100 && ms <= 125, "an empty ring: the next tick in %d ms", ms);
	for (uint32_t i = 0; i < nslots / 2; i++)
		ldp_ring_put(mem, nslots, (uint32_t)getpid(), 1, frames, 2);
	ldp_collector_tick(c); /* half the ring in the moment since the last tick */
	ms = ldp_collector_wait_ms(c);
	CHECK(ms <= LDP_COLLECTOR_TICK_MS, "a ring half filled at once: the next tick in %d ms", ms);
	usleep(100000);
	ldp_collector_tick(c);
	ldp_ring_put(mem, nslots, (uint32_t)getpid(), 1, frames, 2);
	usleep(100000);
	ldp_collector_tick(c); /* one sample in 100 ms */
	ms = ldp_collector_wait_ms(c);
	CHECK(ms > 100 && ms <= 125, "a ring that fills slowly: the next tick in %d ms", ms);
}

int main(void)
{
	char dir[] = "/tmp/ldprof-test-collector.XXXXXX", sock[256], out[256];
	struct ldp_collector_stats st;
	struct ldp_collector *c = NULL;
	struct ldp_profile p = { 0 };
	struct ldp_deliver *d;
	struct ldp_config cfg;
	int go[2], status, nfiles, silent, fd;
	int64_t total = 0;
	pid_t pid;

	if (!mkdtemp(dir) || pipe(go) < 0)
		return 1;
	snprintf(sock, sizeof(sock), "%s/c.sock", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	mkdir(out, 0700);
	ldp_config_defaults(&cfg);
	snprintf(cfg.endpoint, sizeof(cfg.endpoint), "file://%s", out);
	d = ldp_deliver_new(&cfg, NULL);
	CHECK(d && ldp_collector_new(sock, d, NULL, 10000000, 60000000000LL, NULL, &c) == 0, "listening at %s", sock);
	if (!c)
		return 1;
	CHECK(ldp_collector_new(sock, d, NULL, 10000000, 60000000000LL, NULL, &(struct ldp_collector *){ 0 }) < 0,
	      "a second collector at the same path is refused");

	/* what is not a ring */
	fd = memfd_create("unsealed", MFD_CLOEXEC);
	CHECK(fd >= 0 && ftruncate(fd, ldp_ring_size(64)) == 0 && hand(sock, LDP_AGENT_REQ_RING, fd) == 0,
	      "an unsealed memfd sent");
	close(fd);
	{
		void *mem;
		fd = ldp_ring_create(64, (uint32_t)getpid(), &mem);
		CHECK(fd >= 0 && hand(sock, "LDPA1 gift", fd) == 0, "a ring sent with the wrong words");
		close(fd);
	}
	silent = connect_to(sock);
	CHECK(silent >= 0, "a connection that never sends");
	run_until(c, two_refused);
	ldp_collector_stats(c, &st);
	CHECK(st.refused == 2 && st.rings == 0, "%llu refused so far, %llu rings", (unsigned long long)st.refused,
	      (unsigned long long)st.rings);
	usleep(1100000); /* past the second a connection may wait for its message */
	ldp_collector_tick(c);
	ldp_collector_stats(c, &st);
	CHECK(st.refused == 3, "the silent connection closed after a second (%llu refused)",
	      (unsigned long long)st.refused);
	close(silent);

	/* a real ring from a real process */
	pid = fork();
	if (pid == 0) {
		close(go[1]);
		child(sock, go[0]);
	}
	close(go[0]);
	run_until(c, one_ring);
	ldp_collector_stats(c, &st);
	CHECK(st.rings == 1, "the child's ring taken");
	CHECK(write(go[1], "g", 1) == 1, "the child told to sample");
	run_until(c, one_profile);
	ldp_collector_stats(c, &st);
	CHECK(st.samples == SAMPLES && st.weight == SAMPLES && st.bad == 0 && st.profiles == 1,
	      "%llu samples, %llu bad, %llu profiles once the child ended", (unsigned long long)st.samples,
	      (unsigned long long)st.bad, (unsigned long long)st.profiles);
	CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0,
	      "the child ran as asked (status %d)", status);

	CHECK(read_profile(out, &p, &nfiles) == 0, "one profile file written (%d)", nfiles);
	for (size_t i = 0; i < p.nsamples; i++) {
		total += p.samples[i].values[0];
		CHECK(p.samples[i].nlocs == 2 && !strcmp(loc_name(&p, p.samples[i].locs[0]), "collector_test_hot") &&
		      !strcmp(loc_name(&p, p.samples[i].locs[1]), "main"),
		      "the stack named from the child's mappings");
	}
	CHECK(total == SAMPLES, "%lld samples in the profile", (long long)total);
	ldp_profile_free(&p);

	ldp_collector_free(c);
	CHECK(access(sock, F_OK) < 0 && errno == ENOENT, "the socket removed");

	/* listening nowhere (ldprof-agent takes the connections on its own socket): a ring
	 * adopted from a live process, once; the limit on all rings' bytes */
	{
		struct ldp_collector_limits lim = { .bytes = ldp_ring_size(64) + ldp_ring_size(LDP_RING_MIN_SLOTS) };
		struct ldp_collector *c2 = NULL;
		void *mem, *mem2;
		int f1, f2;
		pid_t kid;

		CHECK(ldp_collector_new(NULL, NULL, NULL, 10000000, 60000000000LL, NULL, &c2) == 0,
		      "a collector listening nowhere");
		if (!c2)
			return 1;
		ldp_collector_limit(c2, &lim);
		f1 = ldp_ring_create(64, (uint32_t)getpid(), &mem);
		CHECK(f1 >= 0 && ldp_collector_adopt(c2, getpid(), f1) == 0, "this process's ring adopted");
		CHECK(ldp_collector_adopt(c2, getpid(), f1) == -EEXIST, "and only once");
		CHECK(ldp_collector_room(c2, 0), "room left for the smallest ring");
		pace(c2, mem, 64);
		kid = fork();
		if (kid == 0) {
			pause();
			_exit(0);
		}
		f2 = ldp_ring_create(64, (uint32_t)kid, &mem2);
		CHECK(f2 >= 0 && ldp_collector_adopt(c2, kid, f2) == -EDQUOT, "a ring past the bytes of all rings refused");
		CHECK(__atomic_load_n(&((struct ldp_ring_hdr *)mem2)->refused, __ATOMIC_ACQUIRE) == LDP_RING_REFUSED &&
		      ((struct ldp_ring_hdr *)mem)->refused == 0,
		      "the refused ring says so to its producer, the taken one does not");
		ldp_collector_stats(c2, &st);
		CHECK(st.rings == 1 && st.limited == 1 && st.refused == 1 && st.ring_bytes == ldp_ring_size(64),
		      "%llu rings of %llu bytes, %llu refused, %llu past a limit", (unsigned long long)st.rings,
		      (unsigned long long)st.ring_bytes, (unsigned long long)st.refused,
		      (unsigned long long)st.limited);
		kill(kid, SIGKILL);
		waitpid(kid, NULL, 0);
		CHECK(ldp_collector_adopt(c2, kid, f2) < 0, "a process gone is not adopted");
		close(f1);
		close(f2);
		ldp_collector_free(c2);
	}
	/* the producer's rate: faster than the collector's refused (said in the ring), slower
	 * taken; a hand-over nobody collects marked refused as such */
	{
		struct ldp_collector *c3 = NULL;
		void *fast, *slow, *off;
		int ff, fs, fo, sv[2];
		char ctl[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { (void *)LDP_AGENT_REQ_RING, strlen(LDP_AGENT_REQ_RING) };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
				    .msg_controllen = sizeof(ctl) };
		struct cmsghdr *cm;

		CHECK(ldp_collector_new(NULL, NULL, NULL, 10000000, 60000000000LL, NULL, &c3) == 0,
		      "a collector at 100 Hz");
		if (!c3)
			return 1;
		ff = ldp_ring_create(64, (uint32_t)getpid(), &fast);
		((struct ldp_ring_hdr *)fast)->period_ns = 1000000;
		CHECK(ff >= 0 && ldp_collector_adopt(c3, getpid(), ff) == -ERANGE &&
		      ((struct ldp_ring_hdr *)fast)->refused == LDP_RING_REFUSED_RATE,
		      "a ring at 1000 Hz refused, and told why");
		fs = ldp_ring_create(64, (uint32_t)getpid(), &slow);
		((struct ldp_ring_hdr *)slow)->period_ns = 20000000;
		CHECK(fs >= 0 && ldp_collector_adopt(c3, getpid(), fs) == 0 &&
		      ((struct ldp_ring_hdr *)slow)->refused == 0, "a ring at 50 Hz taken");
		ldp_collector_free(c3);
		fo = ldp_ring_create(64, (uint32_t)getpid(), &off);
		CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) == 0, "a socket pair");
		cm = CMSG_FIRSTHDR(&m);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &fo, sizeof(int));
		CHECK(sendmsg(sv[0], &m, 0) >= 0 && ldp_collector_refuse(sv[1], LDP_RING_REFUSED_OFF) == 0 &&
		      ((struct ldp_ring_hdr *)off)->refused == LDP_RING_REFUSED_OFF,
		      "a ring handed to no collector marked refused");
		CHECK(send(sv[0], "LDPA1 ring", 10, 0) == 10 && ldp_collector_refuse(sv[1], LDP_RING_REFUSED) == -EPROTO,
		      "a hand-over without its ring is no ring");
		close(sv[0]);
		close(sv[1]);
		close(ff);
		close(fs);
		close(fo);
	}
	ldp_deliver_free(d);
	{
		char cmd[600];
		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		CHECK(system(cmd) == 0, "cleaned up");
	}
	printf("%d checks passed, %d failed\n", passed, failed);
	return failed ? 1 : 0;
}
