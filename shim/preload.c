/* SPDX-License-Identifier: MIT
 *
 * preload.c — the object that goes into LD_PRELOAD and /etc/ld.so.preload (libldprof.so).
 *
 * It is loaded into every dynamically linked process, whatever its libc, or none at all (Go
 * built as PIE without cgo). So it is built without libc (-nostdlib): no DT_NEEDED entry, no
 * strong undefined symbol, no TLS, no stack protector. It talks to the kernel with raw system
 * calls and reaches libc only through weak references, which resolve to NULL where there is
 * no libc.
 *
 * Its constructor decides, in this order and at a small fixed cost, whether to activate:
 *   1. LDPROF_DISABLED=1 (the kill switch) -> off, silently;
 *   2. secure execution (AT_SECURE: setuid, setgid, file capabilities) -> off, silently: the
 *      environment of such a process is not ours to trust, not even to name a log file;
 *   3. no libc -> off; a Go runtime goes on through 4-7 and, if they let it through, asks
 *      ldprof-agent to sample it from the kernel (agentreq.c), the shim staying off;
 *   4. ldprof's own programs (the CLI, the agent) -> off;
 *   5. as root, a config file (or its folder) that someone else than root can write -> off,
 *      logged (to syslog when there is no log file);
 *   6. the [select] rules of the config file and LDPROF_SELECT_* (select.c) -> off, logged;
 *   7. a seccomp filter, unless [select] include_seccomp -> off, logged (to a log file only):
 *      the filter may kill the process for a call the sampler makes and the program never
 *      does; then the host's init (PID 1 of the first PID namespace) -> off, logged (to a log
 *      file only); it registers with the agent, which then covers the static services it
 *      starts;
 *   8. a collector to take its ring: `ldprof run`'s (LDPROF_COLLECTOR), else ldprof-agent's
 *      socket ([agent] rings, the default) -> the ring sampler (ringsamp.c), glibc and musl
 *      alike. With [select] start_after_cpu (20 ms by default) it is deferred with no thread:
 *      our SIGPROF handler and a timer on each thread's CPU clock, the agent's socket looked
 *      for from the handler when the time comes (defer_ring; an exec of a static program
 *      meanwhile registers first, exec_register); with 0 it starts at once, once the agent
 *      has said it takes rings. With no collector (preloaded by hand, no agent, or [agent]
 *      rings = false) it stays off (no-collector).
 * A process where it stays off gets no thread, no signal handler and no timer; none gets a
 * thread, a descriptor or a library of ours. What it decided is published in `ldp_state`
 * (state.h) for `ldprof status`. The config file is read with a few system calls (the
 * [select] keys, the log, the agent's socket); what is read for the rules (/proc/self/exe,
 * comm, cmdline, cgroup, /etc/passwd) is read only when a rule needs it.
 *
 * It also carries the interposed functions (pthread_create, clone, exec*, sigaction, signal,
 * dlopen, dlclose, set*id, unshare, setns, chroot, prctl, syscall): only the preloaded object
 * comes before libc in symbol lookup. Each wrapper finds the real function with
 * dlsym(RTLD_NEXT) on first use (sigaction, on glibc, is its __sigaction) and calls the
 * sampler's hook (hooks.h) only once the sampler is on; otherwise it is a plain pass-through.
 *
 * Its refusals (5, a sampler that cannot start) go to LDPROF_LOG_FILE, or without one to
 * syslog (one datagram to /dev/log); routine decisions only to LDPROF_LOG_FILE.
 *
 * Never: call a libc function before knowing which libc it is, write to the program's file
 * descriptors, edit the environment, take a lock, keep a file descriptor open, or log
 * anything in a secure-execution process.
 */
#include <stdarg.h>
#include <stddef.h>

#include "agentproto.h"
#include "agentreq.h"
#include "exechdr.h"
#include "hooks.h"
#include "rawsys.h"
#include "ringsamp.h"
#include "select.h"
#include "state.h"

#define EXPORT __attribute__((visibility("default")))

/* ---- libc, reached only through weak references ---- */
extern char **environ __attribute__((weak));
extern unsigned long getauxval(unsigned long type) __attribute__((weak));
extern void *dlopen(const char *file, int mode) __attribute__((weak));
extern void *dlsym(void *handle, const char *name) __attribute__((weak));
extern int dladdr(const void *addr, void *info) __attribute__((weak));
extern const char *gnu_get_libc_version(void) __attribute__((weak));
extern int *__errno_location(void) __attribute__((weak));
/* glibc's alone, bound by the loader with the rest: a dlsym() in a new process costs several
 * µs (the deferred start needs these three). __sigaction is glibc's name for the sigaction
 * we interpose; musl has neither it nor __register_atfork, and gets them through dlsym(). */
extern int __sigaction(int sig, const void *act, void *oldact) __attribute__((weak));
extern int __register_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void),
			     void *dso) __attribute__((weak));
extern int ldp_dl_find_object(void *addr, void *result) __asm__("_dl_find_object")
	__attribute__((weak));

#define LDP_RTLD_NEXT ((void *)-1L)
#define LDP_RTLD_NOW 2
#define LDP_AT_PHDR 3
#define LDP_AT_PHNUM 5
#define LDP_AT_ENTRY 9
#define LDP_AT_SECURE 23
#define LDP_AT_EXECFN 31
#define LDP_SIGPROF 27
#define LDP_PT_NOTE 4
#define LDP_ENOSYS 38

struct ldp_dl_info {
	const char *dli_fname;
	void *dli_fbase;
	const char *dli_sname;
	void *dli_saddr;
};

#define O_RDONLY_ 0
#define O_WRONLY_ 01
#define O_CREAT_ 0100
#define O_APPEND_ 02000
#define O_CLOEXEC_ 02000000
#define O_NOFOLLOW_ 0400000
#define O_NONBLOCK_ 04000
#define O_NOCTTY_ 0400
#define S_IFMT_ 0170000
#define S_IFREG_ 0100000
#define W_OK_ 2
#define X_OK_ 1

/* The compiler may emit calls to these even with -ffreestanding; hidden, so they never
 * interpose the program's own. */
__attribute__((visibility("hidden"))) void *memset(void *d, int c, size_t n)
{
	unsigned char *p = d;
	while (n--)
		*p++ = (unsigned char)c;
	return d;
}
__attribute__((visibility("hidden"))) void *memcpy(void *d, const void *s, size_t n)
{
	unsigned char *p = d;
	const unsigned char *q = s;
	while (n--)
		*p++ = *q++;
	return d;
}

static size_t slen(const char *s)
{
	size_t n = 0;
	while (s[n])
		n++;
	return n;
}

static int starts_with(const char *s, const char *prefix)
{
	while (*prefix)
		if (*s++ != *prefix++)
			return 0;
	return 1;
}

/* The process's id while the constructor runs, read once for all its decisions (every system
 * call there is paid by every process on a host); 0 after it. */
static long ctor_pid;

static long my_pid(void)
{
	return ctor_pid ? ctor_pid : sys3(NR_getpid, 0, 0, 0);
}

/* In the constructor: 0 when no variable's name starts with LDPROF_ (as on most of a host's
 * processes), and env() need not look. */
static int ctor_ldprof_vars = 1;

/* Our own getenv over environ: some programs (bash) define getenv themselves and are not
 * ready for it to be called from a constructor. */
static const char *env(const char *name)
{
	size_t n = slen(name);
	char **e;

	if (!&environ || !environ || (ctor_pid && !ctor_ldprof_vars))
		return NULL;
	for (e = environ; *e; e++)
		if (starts_with(*e, name) && (*e)[n] == '=')
			return *e + n + 1;
	return NULL;
}

/* ---- the log: one line per decision, appended to LDPROF_LOG_FILE when it is set ---- */
static char *put(char *p, char *end, const char *s)
{
	while (*s && p < end)
		*p++ = *s++;
	return p;
}

static char *put_num(char *p, char *end, long v)
{
	char tmp[24];
	int i = 0;

	if (v < 0) {
		p = put(p, end, "-");
		v = -v;
	}
	do
		tmp[i++] = (char)('0' + v % 10);
	while ((v /= 10) && i < 23);
	while (i-- && p < end)
		*p++ = tmp[i];
	return p;
}

#define AF_UNIX_ 1
#define SOCK_DGRAM_ 2
#define SOCK_NONBLOCK_ 04000
#define SOCK_CLOEXEC_ 02000000
#define MSG_DONTWAIT_ 0x40
#define MSG_NOSIGNAL_ 0x4000
#define LOG_USER_WARNING "<12>" /* RFC 3164 PRI: facility user (1) * 8 + severity warning (4) */

struct ldp_sockaddr_un {
	unsigned short family;
	char path[108];
};

/* One datagram to /dev/log, when there is no log file: a socket of its own for
 * this line, closed at once, never blocking; nothing at all when no syslog daemon listens. */
static void send_syslog(const char *line, long n)
{
	struct ldp_sockaddr_un sa = { AF_UNIX_, "/dev/log" };
	long fd = sys3(NR_socket, AF_UNIX_, SOCK_DGRAM_ | SOCK_NONBLOCK_ | SOCK_CLOEXEC_, 0);

	if (fd < 0)
		return;
	sys6(NR_sendto, fd, (long)line, n, MSG_DONTWAIT_ | MSG_NOSIGNAL_, (long)&sa, sizeof(sa));
	sys3(NR_close, fd, 0, 0);
}

enum { LOG_INFO_, LOG_WARN_ };

static int log_level(void);

/* A routine decision (LOG_INFO_: excluded by a rule, a Go program) goes to LDPROF_LOG_FILE
 * only; a refusal the admin must hear of (LOG_WARN_: an unsafe config, a sampler that cannot
 * start) goes to syslog when there is no log file: a host-wide install has no
 * LDPROF_LOG_FILE. Never in a secure-execution process, whose environment is not trusted
 * (checked here too, although the constructor returns before any line for those). */
static unsigned st_u32(const unsigned char *st, int off) { return *(const unsigned *)(st + off); }
static int is_regular(const unsigned char *st) { return (st_u32(st, ST_MODE) & S_IFMT_) == S_IFREG_; }

#define LDP_AT_EUID 12

/* In the constructor the effective uid is still the one the process was started with, which
 * the auxv holds: no system call. */
static int is_root(void)
{
	if (ctor_pid)
		return getauxval(LDP_AT_EUID) == 0;
	return sys3(NR_geteuid, 0, 0, 0) == 0;
}

/* The config's [log] file and level, copied: the config's text is freed once read. */
static char cfg_log_file[256];
static char cfg_log_level[8];

/* Where the first stage logs, as `ldprof run`'s collector does: LDPROF_LOG_FILE, else the
 * config's [log] file; NULL or "" for none ("syslog" for syslog). A root process takes no
 * path from its environment, which may be a user's (config.c ignores it there too; issue 18,
 * finding 8). */
static const char *log_file(void)
{
	const char *p = is_root() ? NULL : env("LDPROF_LOG_FILE");

	return p ? p : cfg_log_file[0] ? cfg_log_file : NULL;
}

static int level_named(void);

static void preload_log(int level, const char *what, const char *detail)
{
	const char *path = log_file();
	char line[512], *p = line, *end = line + sizeof(line) - 1;
	unsigned char st[256];
	int sys = !path || !*path || (starts_with(path, "syslog") && !path[6]);
	long fd;

	if (sys && (level < LOG_WARN_ || log_level() > 2 || !getauxval || getauxval(LDP_AT_SECURE)))
		return;
	/* a file gets the routine decisions too, unless a level says it wants less */
	if (!sys && (level < LOG_WARN_ ? level_named() && log_level() > 1 : log_level() > 2))
		return;
	if (sys)
		p = put(p, end, LOG_USER_WARNING);
	p = put(p, end, "ldprof[");
	p = put_num(p, end, my_pid());
	p = put(p, end, "]: ");
	p = put(p, end, what);
	if (detail) {
		p = put(p, end, ": ");
		p = put(p, end, detail);
	}
	/* one line, whatever a path or a setting holds */
	for (char *q = line; q < p; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f)
			*q = '?';
	if (sys) {
		send_syslog(line, p - line);
		return;
	}
	*p++ = '\n';
	/* Non-blocking: a FIFO planted at the log's path must not hold the program in open();
	 * and only a regular file is written. */
	fd = sys_open(path, O_WRONLY_ | O_CREAT_ | O_APPEND_ | O_CLOEXEC_ | O_NOFOLLOW_ | O_NONBLOCK_ |
			    O_NOCTTY_, 0644);
	if (fd < 0)
		return;
	if (sys3(NR_fstat, fd, (long)st, 0) == 0 && is_regular(st))
		sys3(NR_write, fd, (long)line, p - line);
	sys3(NR_close, fd, 0, 0);
}

/* ---- deciding ---- */

/* Is [addr, addr+len) inside one of the program's PT_LOAD segments (so it is mapped)? */
static int in_load(const unsigned char *phdr, unsigned long phnum, unsigned long base,
		   unsigned long addr, unsigned long len)
{
	for (unsigned long i = 0; i < phnum; i++) {
		const unsigned char *ph = phdr + i * 56;
		unsigned long start = base + *(const unsigned long *)(ph + 16);
		unsigned long memsz = *(const unsigned long *)(ph + 40);
		if (*(const unsigned *)ph == 1 /* PT_LOAD */ && addr >= start && len <= memsz &&
		    addr - start <= memsz - len)
			return 1;
	}
	return 0;
}

/* A Go runtime owns SIGPROF; its binaries carry an ELF note owned by "Go" in a PT_NOTE. Only
 * memory the loader mapped is read: the program headers and notes inside PT_LOAD segments. */
static int is_go_program(void)
{
	const unsigned char *phdr = (const unsigned char *)getauxval(LDP_AT_PHDR);
	unsigned long phnum = getauxval(LDP_AT_PHNUM), i, base = 0;

	if (!phdr || phnum > 512)
		return 0;
	/* Elf64_Phdr: p_type@0 (u32), p_vaddr@16, p_filesz@32, p_memsz@40; 56 bytes each. The
	 * load bias is AT_PHDR minus PT_PHDR's p_vaddr (0 for a non-PIE without PT_PHDR). */
	for (i = 0; i < phnum; i++) {
		const unsigned char *ph = phdr + i * 56;
		if (*(const unsigned *)ph == 6 /* PT_PHDR */)
			base = (unsigned long)phdr - *(const unsigned long *)(ph + 16);
	}
	if (!in_load(phdr, phnum, base, (unsigned long)phdr, phnum * 56))
		return 0;
	for (i = 0; i < phnum; i++) {
		const unsigned char *ph = phdr + i * 56, *n, *end;
		unsigned long addr = base + *(const unsigned long *)(ph + 16);
		unsigned long size = *(const unsigned long *)(ph + 32);
		if (*(const unsigned *)ph != LDP_PT_NOTE || size > 65536 || !in_load(phdr, phnum, base, addr, size))
			continue;
		n = (const unsigned char *)addr;
		end = n + size;
		while (end - n >= 12) {
			unsigned namesz = *(const unsigned *)n, descsz = *(const unsigned *)(n + 4);
			const unsigned char *name = n + 12;
			if (namesz > 64 || descsz > 4096)
				break;
			/* Go writes the name as "Go\0\0" (namesz 4); accept the minimal 3 too. */
			if ((namesz == 3 || namesz == 4) && end - name >= 3 && name[0] == 'G' &&
			    name[1] == 'o' && name[2] == 0)
				return 1;
			if ((unsigned long)(end - name) < ((namesz + 3) & ~3u) + ((descsz + 3) & ~3u))
				break;
			n = name + ((namesz + 3) & ~3u) + ((descsz + 3) & ~3u);
		}
	}
	return 0;
}

/* ---- the published decision (state.h), for `ldprof status` ---- */

EXPORT struct ldp_state ldp_state = { .magic = LDP_STATE_MAGIC };

static void decide(int decision, const char *detail)
{
	size_t i = 0;

	ldp_state.pid = (int)my_pid();
	for (; detail && detail[i] && i + 1 < sizeof(ldp_state.detail); i++)
		ldp_state.detail[i] = detail[i];
	ldp_state.detail[i] = 0;
	ldp_state.decision = decision;
}

/* ---- the agent (agentreq.c, common/agentproto.h) ---- */

static const char *outcome_name(int outcome)
{
	/* a switch, not a table of pointers: no relocation for the loader to apply */
	switch (outcome) {
	case LDP_AG_REGISTERED:
		return "registered";
	case LDP_AG_SAMPLING:
		return "sampling it";
	case LDP_AG_REFUSED:
		return "refused";
	default:
		return "none";
	}
}

/* Asks the agent; says the outcome in a few words into said, note after its name. Returns the
 * outcome (LDP_AG_*), detail what the agent said or why there was no answer. Raw system calls
 * and plain stores only: possibly from a signal handler, or a vfork child. */
static int agent_ask(const char *socket_path, const char *request, const char *note, char *detail,
		     unsigned long detail_len, char *said, unsigned long said_len)
{
	char *p = said, *end = said + said_len - 1;
	int ok = 0, outcome, r;

	r = ldp_agentreq_ask(socket_path, request, &ok, detail, detail_len);
	if (r < 0) {
		outcome = LDP_AG_NONE;
		*put(detail, detail + detail_len - 1, ldp_agentreq_why(r)) = 0;
	} else if (!ok) {
		outcome = LDP_AG_REFUSED;
	} else {
		outcome = starts_with(request, LDP_AGENT_REQ_REGISTER) ? LDP_AG_REGISTERED : LDP_AG_SAMPLING;
	}
	p = put(p, end, outcome_name(outcome));
	if (note)
		p = put(p, end, note);
	if (detail[0]) {
		p = put(p, end, " (");
		p = put(p, end, detail);
		p = put(p, end, ")");
	}
	*p = 0;
	return outcome;
}

/* agent_ask(), the outcome published in ldp_state. Possibly from a signal handler (the
 * deferred activation, a program's sigaction). */
static int agent_request(const char *socket_path, const char *request, char *said,
			 unsigned long said_len)
{
	char detail[sizeof(ldp_state.agent_detail)];
	int outcome = agent_ask(socket_path, request, NULL, detail, sizeof(detail), said, said_len);
	size_t i = 0;

	for (; detail[i] && i + 1 < sizeof(ldp_state.agent_detail); i++)
		ldp_state.agent_detail[i] = detail[i];
	ldp_state.agent_detail[i] = 0;
	ldp_state.agent = outcome;
	return outcome;
}

/* The agent's socket ([agent] socket, LDPROF_AGENT_SOCKET, else the default) into buf, or ""
 * when it must not be asked: set empty, or no path a socket can have (a config error, which
 * `ldprof config check` reports). */
static void agent_socket(struct ldp_sel_str v, char *buf, size_t len)
{
	if (!v.p) {
		v.p = LDP_AGENT_SOCKET_DEFAULT;
		v.n = slen(v.p);
	}
	buf[0] = 0;
	if (!v.n || v.n >= len || v.p[0] != '/')
		return;
	memcpy(buf, v.p, v.n);
	buf[v.n] = 0;
}

/* ---- files, read with raw system calls ---- */

#define CONFIG_MAX (1L << 20)  /* as config.c's reader: a larger config is an error there */
#define CONFIG_STACK 8192      /* a config this large or larger is mapped, not read */

struct text {
	const char *p;
	long n;
	void *map;   /* munmap() when set */
	long maplen;
};

static void text_free(struct text *t)
{
	if (t->map)
		sys3(NR_munmap, (long)t->map, t->maplen, 0);
	t->map = 0;
}

/* Reads fd into buf (cap bytes), or maps it when it is larger: a config or /etc/passwd is
 * usually a few KiB, but may be more. Returns 0 or -1. Closes nothing. */
static int read_fd(long fd, long size, char *buf, long cap, struct text *t)
{
	long n = 0, r;

	t->map = 0;
	if (size >= cap) {
		void *m = (void *)sys6(NR_mmap, 0, size, 1 /* PROT_READ */, 2 /* MAP_PRIVATE */, fd, 0);
		if ((unsigned long)m > -4096UL)
			return -1;
		t->p = m;
		t->n = size;
		t->map = m;
		t->maplen = size;
		return 0;
	}
	/* /proc files say size 0: read to the end, up to the buffer; a file of known size needs
	 * no read that returns 0 to say so */
	r = 0;
	while (n < cap - 1 && (!size || n < size) &&
	       (r = sys3(NR_read, fd, (long)(buf + n), cap - 1 - n)) > 0)
		n += r;
	if (r < 0 && n == 0)
		return -1;
	buf[n] = 0;
	t->p = buf;
	t->n = n;
	return 0;
}

/* A small /proc or /etc file, NUL-terminated in buf. Returns its length or -1. */
static long read_small(const char *path, char *buf, long cap)
{
	struct text t;
	long fd = sys_open(path, O_RDONLY_ | O_CLOEXEC_, 0), n = -1;

	if (fd < 0)
		return -1;
	if (read_fd(fd, 0, buf, cap, &t) == 0)
		n = t.n;
	sys3(NR_close, fd, 0, 0);
	return n;
}

/* Is a file or folder root's alone (owned by root, writable by nobody else)? */
static int root_only(const unsigned char *st)
{
	return st_u32(st, ST_UID) == 0 && !(st_u32(st, ST_MODE) & 022);
}

enum { CFG_NONE, CFG_OK, CFG_UNSAFE, CFG_BAD };

/* The config file (LDPROF_CONFIG, else the default path), opened: *fd and *size set when
 * CFG_OK (the caller reads it and closes *fd). As root, a file or folder anyone else could
 * have written is not trusted. */
static int open_config(long *fd, long *size, const char **ret_path)
{
	const char *path = env("LDPROF_CONFIG");
	unsigned char st[256], dst[256];
	char dir[512];
	long n;
	int r = CFG_BAD;

	if (!path || !*path)
		path = "/etc/ldprof/ldprof.ini";
	*ret_path = path;
	*fd = sys_open(path, O_RDONLY_ | O_CLOEXEC_, 0);
	if (*fd < 0)
		return CFG_NONE; /* the default may be absent; a named one missing is config check's error */
	if (sys3(NR_fstat, *fd, (long)st, 0) < 0)
		goto out;
	if (is_root()) {
		n = slen(path);
		while (n && path[n - 1] != '/')
			n--;
		if (n == 0 || n >= (long)sizeof(dir)) {
			dir[0] = '.';
			n = 1;
		} else {
			memcpy(dir, path, (size_t)n);
		}
		dir[n] = 0;
		r = CFG_UNSAFE;
		if (!root_only(st))
			goto out;
		if (sys_stat(dir, dst) < 0 || !root_only(dst))
			goto out;
	}
	r = CFG_BAD;
	*size = *(const long *)(st + ST_SIZE);
	if (*size < 0 || *size > CONFIG_MAX)
		goto out;
	return CFG_OK;
out:
	sys3(NR_close, *fd, 0, 0);
	*fd = -1;
	return r;
}

/* A setting of the config text into buf, NUL-terminated; left empty when it does not fit or,
 * with want_path, is neither an absolute path nor "syslog" (config.c refuses those). */
static void copy_setting(char *buf, size_t len, struct ldp_sel_str v, int want_path)
{
	buf[0] = 0;
	if (!v.p || v.n >= len)
		return;
	if (want_path && !(v.n && v.p[0] == '/') && !(v.n == 6 && starts_with(v.p, "syslog")))
		return;
	memcpy(buf, v.p, v.n);
	buf[v.n] = 0;
}

static const char *base_name(const char *p)
{
	const char *b = p;

	for (; *p; p++)
		if (*p == '/')
			b = p + 1;
	return b;
}

/* Gathers what the rules need, and applies them. Returns 1 when excluded (detail says why). */
static __attribute__((noinline)) int excluded(const struct ldp_select_rules *r, const char *argv0,
					      char *detail, long detail_len)
{
	unsigned need = ldp_select_needs(r);
	struct ldp_select_facts f = { "", "", "", 0, 0, 0 };
	char exe[1024], comm[16], user[64], cgroup[2048], pw[8192];
	struct text t;
	long n;

	if (!need)
		return 0;
	if (need & (1u << LDP_SEL_EXE)) {
		n = sys_readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		exe[n > 0 ? n : 0] = 0;
		f.exe = exe;
	}
	if (need & (1u << LDP_SEL_COMM)) {
		/* No system call: at exec the kernel names the process after the base name of the
		 * file exec'd (AT_EXECFN), cut to 15 bytes, and nothing has renamed it yet; argv
		 * comes with the constructor's arguments. */
		const char *fn = (const char *)getauxval(LDP_AT_EXECFN);

		n = 0;
		for (const char *b = fn ? base_name(fn) : ""; b[n] && n < 15; n++)
			comm[n] = b[n];
		comm[n] = 0;
		f.comm = comm;
		f.argv0 = argv0 ? base_name(argv0) : "";
	}
	if (need & (1u << LDP_SEL_USER)) {
		f.uid = (unsigned)sys3(NR_getuid, 0, 0, 0);
		if (need & LDP_SEL_NEED_USERNAME) {
			long fd = sys_open("/etc/passwd", O_RDONLY_ | O_CLOEXEC_, 0);
			unsigned char st[256];

			if (fd >= 0 && sys3(NR_fstat, fd, (long)st, 0) == 0 &&
			    read_fd(fd, *(const long *)(st + ST_SIZE), pw, sizeof(pw), &t) == 0) {
				if (ldp_select_passwd_name(t.p, (size_t)t.n, f.uid, user, sizeof(user)) == 0)
					f.user = user;
				text_free(&t);
			}
			if (fd >= 0)
				sys3(NR_close, fd, 0, 0);
		}
	}
	if (need & (1u << LDP_SEL_CGROUP))
		f.cgroup = read_small("/proc/self/cgroup", cgroup, sizeof(cgroup)) > 0 ? cgroup : 0;
	return ldp_select_decide(r, &f, detail, (size_t)detail_len);
}

/* Does the process run under a seccomp filter (systemd's SystemCallFilter=, a container
 * runtime's profile)? The filter may kill it for a call the sampler makes and the program never
 * does, so the shim stays off unless told otherwise. Asked through /proc/self/status (its
 * Seccomp: line), with openat, read and close, which ld.so itself made to load this object.
 * 1 yes, 0 no, -1 cannot tell (no /proc): stay off too. */
/* The same from the kernel's own answer, PR_GET_SECCOMP: one system call, no file. It goes
 * through a filter like any call; one that refuses it with an error counts as a filter. The
 * file's reading above is the safer question (the loader has just made those calls), and the
 * dearer: about 30 us in a new process, for /proc/self alone. */
static int seccomp_mode(void)
{
	return sys6(NR_prctl, 21 /* PR_GET_SECCOMP */, 0, 0, 0, 0, 0) != 0;
}

static __attribute__((noinline)) int seccomp_filter(void)
{
	char buf[4096];
	long n = read_small("/proc/self/status", buf, sizeof(buf));

	for (long i = 0; i + 10 < n; i++) {
		if (buf[i] != '\n' || !starts_with(buf + i + 1, "Seccomp:"))
			continue;
		for (i += 9; i < n && (buf[i] == ' ' || buf[i] == '\t'); i++)
			;
		return i < n && buf[i] != '0';
	}
	return -1;
}

/* ldprof's own programs are never profiled: the CLI (its `run` is a thin parent) and the
 * agent. The auxv's AT_EXECFN names the file exec'd, at no cost. */
static int own_tool(void)
{
	const char *fn = (const char *)getauxval(LDP_AT_EXECFN), *b;

	if (!fn)
		return 0;
	b = base_name(fn);
	return starts_with(b, "ldprof") && (!b[6] || (starts_with(b + 6, "-agent") && !b[12]));
}

/* The host's init is never sampled: a fault of ours there is a kernel panic, and every
 * service it starts would fork through our threads. A container's PID 1, often the application
 * itself, is any process. The first PID namespace has a fixed inode (the kernel's
 * PROC_PID_INIT_INO). Only PID 1 pays the stat; without /proc to tell (early boot) it stays
 * off too. */
#define PID_NS_INIT_INO 0xeffffffcul

static int host_init(void)
{
	unsigned char st[256];

	if (my_pid() != 1)
		return 0;
	return sys_stat("/proc/self/ns/pid", st) < 0 || *(const unsigned long *)(st + ST_INO) == PID_NS_INIT_INO;
}

/* ---- interposed functions ---- */

static void *real(void **slot, const char *name)
{
	void *f = __atomic_load_n(slot, __ATOMIC_ACQUIRE);

	if (!f && dlsym) {
		f = dlsym(LDP_RTLD_NEXT, name);
		__atomic_store_n(slot, f, __ATOMIC_RELEASE);
	}
	return f;
}

#define REAL(name) real(&real_##name, #name)
/* Every libc function the first stage calls: one slot each, found on first use. */
#define REAL_NAMES(X)                                                                          \
	X(pthread_create) X(clone) X(execve) X(execv) X(execvp) X(execvpe) X(fexecve) X(sigaction)     \
	X(signal) X(sigset) X(dlclose) X(setuid) X(setgid) X(seteuid) X(setegid) X(setreuid) \
	X(setregid) X(setresuid) X(setresgid) X(setgroups) X(initgroups) X(unshare) X(setns)  \
	X(prctl) X(chroot) X(pthread_attr_destroy)
#define REAL_SLOT(name) static void *real_##name;
REAL_NAMES(REAL_SLOT)

static const struct ldp_hooks *volatile hooks;

static const struct ldp_hooks *active(void)
{
	return __atomic_load_n(&hooks, __ATOMIC_ACQUIRE);
}

/* LDPROF_LOG_LEVEL, else the config's [log] level: 0 debug, 1 info, 2 warn (unset), 3 error. */
static const char *level_text(void)
{
	const char *l = env("LDPROF_LOG_LEVEL");

	return l ? l : cfg_log_level[0] ? cfg_log_level : NULL;
}

static int level_named(void)
{
	return level_text() != NULL;
}

static int log_level(void)
{
	const char *l = level_text();

	if (!l)
		return 2;
	if (starts_with(l, "debug"))
		return 0;
	if (starts_with(l, "info"))
		return 1;
	if (starts_with(l, "error"))
		return 3;
	return 2;
}

/* A Go program: the shim stays off whatever else applies. not_asked says why the agent is not
 * asked either (NULL: it is, next). One log line. */
static void go_off(const char *not_asked)
{
	char detail[sizeof(ldp_state.detail)], *p = detail, *end = detail + sizeof(detail) - 1;

	p = put(p, end, "Go runtime owns SIGPROF");
	if (not_asked) {
		p = put(p, end, "; agent not asked: ");
		p = put(p, end, not_asked);
	}
	*p = 0;
	decide(LDP_ST_GO, detail);
	preload_log(LOG_INFO_, "staying off", detail);
}

static char agent_sock[108]; /* the agent's socket; "" when it is not to be asked */

/* Asks ldprof-agent, when there is one to ask, and logs its answer at level info. */
static void ask_agent(const char *request)
{
	char said[112];

	if (!agent_sock[0])
		return;
	agent_request(agent_sock, request, said, sizeof(said));
	if (log_level() <= 1)
		preload_log(LOG_INFO_, "agent", said);
}

/* ---- the ring sampler (ringsamp.c): `ldprof run` collects, in glibc and musl alike ---- */

/* LDPROF_COLLECTOR: the socket of the collector `ldprof run` runs for the tree it starts: the
 * ring goes there, not to the agent. */
static const char *collector(void)
{
	const char *c = env("LDPROF_COLLECTOR");

	return c && c[0] ? c : NULL;
}

/* Set once the ring sampler runs in a musl process: dlopen() goes through ldp_dlopen_musl(),
 * which puts the new object into the unwinder's table before the program can run its code.
 * glibc needs no such wrapper (the handler finds new objects through _dl_find_object), and
 * must not have one: its dlopen() looks up the caller's RUNPATH and $ORIGIN from its return
 * address, so the stub below jumps to it with the caller's return address untouched. */
__attribute__((visibility("hidden"))) int ldp_dlopen_wrap;
/* REAL(dlopen)'s slot, read by the stub too: hidden, not static, so the asm can name it */
__attribute__((visibility("hidden"))) void *real_dlopen;
static void *real_pthread_atfork, *real_dl_iterate_phdr, *real_pthread_self,
	*real_pthread_getattr_np, *real_pthread_attr_getstack;

__attribute__((visibility("hidden"))) void *ldp_dlopen_resolve(void);
void *ldp_dlopen_resolve(void)
{
	return REAL(dlopen);
}

typedef void *(*dlopen_fn)(const char *, int);

__attribute__((visibility("hidden"))) void *ldp_dlopen_musl(const char *file, int mode);
void *ldp_dlopen_musl(const char *file, int mode)
{
	dlopen_fn f = (dlopen_fn)REAL(dlopen);
	int held = ldp_rs_hold();
	void *h = f ? f(file, mode) : NULL;

	if (h)
		ldp_rs_loaded();
	if (held)
		ldp_rs_release();
	return h;
}

#if defined(__x86_64__)
__asm__(".text\n"
	".globl dlopen\n"
	".type dlopen,@function\n"
	"dlopen:\n"
	"	cmpl $0, ldp_dlopen_wrap(%rip)\n"
	"	jne ldp_dlopen_musl\n"
	"	mov real_dlopen(%rip), %rax\n"
	"	test %rax, %rax\n"
	"	jnz 1f\n"
	"	push %rdi\n"
	"	push %rsi\n"
	"	sub $8, %rsp\n"
	"	call ldp_dlopen_resolve\n"
	"	add $8, %rsp\n"
	"	pop %rsi\n"
	"	pop %rdi\n"
	"	test %rax, %rax\n"
	"	jz 2f\n"
	"1:	jmp *%rax\n"
	"2:	xor %eax, %eax\n"
	"	ret\n"
	".size dlopen, .-dlopen\n");
#endif

/* The libc's sigaction: glibc's under its other name, musl's by dlsym(). */
static ldp_sigaction_fn libc_sigaction(void)
{
	return __sigaction ? __sigaction : (ldp_sigaction_fn)REAL(sigaction);
}

typedef int (*atfork3_fn)(void (*)(void), void (*)(void), void (*)(void));

/* glibc registers fork handlers with __register_atfork (pthread_atfork is a static stub of
 * libc_nonshared.a, not in libc.so); musl exports pthread_atfork. */
static int rs_atfork(void (*prepare)(void), void (*parent)(void), void (*child)(void))
{
	if (gnu_get_libc_version)
		return __register_atfork ? __register_atfork(prepare, parent, child, 0) : -1;
	atfork3_fn g = (atfork3_fn)REAL(pthread_atfork);
	return g ? g(prepare, parent, child) : -1;
}

/* LDPROF_SAMPLING_HZ (`ldprof run` sets it from --hz or the config), else 99. */
/* The period of the rate in decimal at *v (1 to 1000 Hz; *v moves past the digits), or 0. */
static long period_of_hz(const char **v)
{
	long hz = 0;

	while (**v >= '0' && **v <= '9' && hz <= 1000)
		hz = hz * 10 + (*(*v)++ - '0');
	return hz >= 1 && hz <= 1000 ? LDP_NS_PER_S / hz : 0;
}

/* [sampling] hz (or LDPROF_SAMPLING_HZ, which the rules took) as a period; 99 Hz when not
 * set; 0 when it is not a rate from 1 to 1000. */
static long sel_period_ns(struct ldp_sel_str hz)
{
	char buf[8];
	const char *v = buf;
	long ns;

	if (!hz.p)
		return LDP_NS_PER_S / 99;
	if (!hz.n || hz.n >= sizeof(buf))
		return 0;
	for (size_t i = 0; i < hz.n; i++)
		buf[i] = hz.p[i];
	buf[hz.n] = 0;
	ns = period_of_hz(&v);
	return ns && !*v ? ns : 0;
}

static long rs_period_ns(void)
{
	const char *v = env("LDPROF_SAMPLING_HZ");
	long ns = v ? period_of_hz(&v) : 0;

	return ns && !*v ? ns : LDP_NS_PER_S / 99;
}

/* The sampler's log lines (from its handler: preload_log() is raw system calls only). */
static void rs_log(const char *what, const char *detail)
{
	preload_log(LOG_WARN_, what, detail);
}

/* The libc functions the sampler calls only outside its handler, looked up on first use: a
 * process that never activates never pays their dlsym()s. */
static int rs_iterate_phdr(ldp_rs_phdr_cb cb, void *data)
{
	int (*f)(ldp_rs_phdr_cb, void *) = (int (*)(ldp_rs_phdr_cb, void *))REAL(dl_iterate_phdr);

	return f ? f(cb, data) : 0;
}

static void *rs_pthread_self(void)
{
	void *(*f)(void) = (void *(*)(void))REAL(pthread_self);

	return f ? f() : NULL;
}

static int rs_getattr_np(void *thread, void *attr)
{
	int (*f)(void *, void *) = (int (*)(void *, void *))REAL(pthread_getattr_np);

	return f && thread ? f(thread, attr) : -1;
}

static int rs_attr_getstack(const void *attr, void **addr, unsigned long *size)
{
	int (*f)(const void *, void **, unsigned long *) =
		(int (*)(const void *, void **, unsigned long *))REAL(pthread_attr_getstack);

	return f ? f(attr, addr, size) : -1;
}

static int rs_attr_destroy(void *attr)
{
	int (*f)(void *) = (int (*)(void *))REAL(pthread_attr_destroy);

	return f ? f(attr) : -1;
}

static void ring_boot(struct ldp_rs_boot *b, const char *collector_sock, long period_ns)
{
	b->collector = collector_sock;
	b->pid = ctor_pid;
	b->period_ns = period_ns;
	b->state = &ldp_state;
	b->real_sigaction = libc_sigaction();
	b->iterate_phdr = rs_iterate_phdr;
	b->pthread_self = rs_pthread_self;
	b->getattr_np = rs_getattr_np;
	b->attr_getstack = rs_attr_getstack;
	b->attr_destroy = rs_attr_destroy;
	b->atfork = rs_atfork;
	b->find_object = gnu_get_libc_version ? ldp_dl_find_object : NULL;
	b->errno_location = __errno_location;
	b->main_stack_hint = getauxval(LDP_AT_EXECFN);
	b->entry = getauxval(LDP_AT_ENTRY);
	b->log = rs_log;
	b->ask_agent = ask_agent;
}

/* The sampler could not start (why), or ldp_rs_start/ldp_rs_defer refused. */
static void ring_failed(const char *why)
{
	__atomic_store_n(&ldp_dlopen_wrap, 0, __ATOMIC_RELEASE);
	if (why == ldp_rs_foreign_sigprof) {
		/* the agent may sample it from the kernel */
		decide(LDP_ST_FOREIGN_SIGPROF, why);
		preload_log(LOG_WARN_, "staying off", why);
		ask_agent(LDP_AGENT_REQ_SAMPLE_SIGPROF);
		return;
	}
	decide(LDP_ST_FAILED, why);
	preload_log(LOG_WARN_, "staying off, the ring sampler cannot start", why);
}

/* Sampling into a ring for collector_sock: published, and logged at level info, with how long
 * a deferred activation took (took_ns >= 0). Raw system calls only (from the handler, after a
 * deferred activation). */
static void ring_on(const char *collector_sock, long period_ns, long took_ns)
{
	char detail[sizeof(ldp_state.detail)], *p = detail, *end = detail + sizeof(detail) - 1;

	p = put(p, end, LDP_STATE_RING_DETAIL);
	p = put(p, end, collector_sock);
	*p = 0;
	decide(LDP_ST_RING, detail);
	if (log_level() <= 1) {
		/* the activation line `ldprof run` users and the tests read */
		char line[256];

		p = line;
		end = line + sizeof(line) - 1;
		p = put(p, end, "info: " LDP_STATE_ACTIVE_LINE);
		p = put_num(p, end, my_pid());
		p = put(p, end, " hz=");
		p = put_num(p, end, LDP_NS_PER_S / period_ns);
		p = put(p, end, " threads=");
		p = put_num(p, end, (long)ldp_rs_threads());
		p = put(p, end, " collector=");
		p = put(p, end, collector_sock);
		if (took_ns >= 0) {
			p = put(p, end, " activation_us=");
			p = put_num(p, end, took_ns / 1000);
		}
		*p = 0;
		preload_log(LOG_INFO_, line, 0);
	}
}

/* collector: the socket the ring goes to (`ldprof run`'s, or ldprof-agent's); registered: the
 * agent has been asked already. */
static void start_ring(const char *collector_sock, long period_ns, int registered)
{
	struct ldp_rs_boot b = { 0 };
	const struct ldp_hooks *ops;
	const char *why = NULL;

	ring_boot(&b, collector_sock, period_ns);
	/* Before the first sample: every dlopen from here on passes through the table. */
	if (!gnu_get_libc_version)
		__atomic_store_n(&ldp_dlopen_wrap, 1, __ATOMIC_RELEASE);
	if (!registered)
		ask_agent(LDP_AGENT_REQ_REGISTER);
	ops = ldp_rs_start(&b, &why);
	if (!ops) {
		ring_failed(why);
		return;
	}
	ring_on(b.collector, b.period_ns, -1);
	__atomic_store_n(&hooks, ops, __ATOMIC_RELEASE);
}

/* Registers with the agent; its answer says whether it collects rings, and at what rate
 * ("registered rings hz=N", [agent] rings): then *period_ns, and 1. */
static int agent_collects(long *period_ns)
{
	const char *d = ldp_state.agent_detail, *w = "rings hz=";

	ask_agent(LDP_AGENT_REQ_REGISTER);
	if (ldp_state.agent != LDP_AG_REGISTERED)
		return 0;
	while (*d && !starts_with(d, w))
		d++;
	if (!*d)
		return 0;
	d += slen(w);
	*period_ns = period_of_hz(&d);
	return *period_ns != 0;
}

/* Off for want of a collector (no ring taken from the start): said in the log and in
 * `ldprof status` (no-collector), with what the agent answered. */
static void no_collector(int asked, int rings)
{
	char why[sizeof(ldp_state.detail)], *p = why, *end = why + sizeof(why) - 1;

	if (!rings)
		p = put(p, end, "no collector: [agent] rings = false (ldprof-agent takes no ring); ldprof run collects");
	else if (!asked)
		p = put(p, end, "no collector: no [agent] socket; ldprof run collects");
	else if (ldp_state.agent == LDP_AG_REGISTERED)
		p = put(p, end, "no collector: ldprof-agent collects no rings ([agent] rings = false there)");
	else {
		p = put(p, end, "no collector: ldprof-agent ");
		p = put(p, end, outcome_name(ldp_state.agent));
		if (ldp_state.agent_detail[0]) {
			p = put(p, end, " (");
			p = put(p, end, ldp_state.agent_detail);
			p = put(p, end, ")");
		}
		p = put(p, end, "; ldprof run collects");
	}
	*p = 0;
	decide(LDP_ST_NO_COLLECTOR, why);
	preload_log(LOG_INFO_, "staying off", why);
}

/* ---- deferred activation on the ring sampler: no thread ----
 *
 * Until the process has used start_after_cpu of CPU time it has our SIGPROF handler and one
 * timer (ringsamp.c's ldp_rs_defer); the activation runs in the handler and waits for no
 * one: the ring goes to the agent (or `ldprof run`) at the first sample, and a process that
 * never gets there costs the agent nothing. */

static const char *defer_sock; /* where the ring goes: `ldprof run`'s collector, or the agent */
static long defer_period_ns;   /* the rate: `ldprof run`'s, or [sampling] hz of the config */

/* From the handler: the sampling period, or 0 to stay off. Nothing waits for the agent here:
 * the ring's hand-over, at the first sample, registers the process with it (a faster rate
 * than the agent's, or a user past its limits, is refused in the ring's header, and the
 * sampler stops); `ldprof run` collects, and the agent only learns of us (never twice, cover). */
static long ring_activate(void)
{
	char why[sizeof(ldp_state.detail)], *p = why, *end = why + sizeof(why) - 1;
	long r;

	if (defer_sock != agent_sock) {
		ask_agent(LDP_AGENT_REQ_REGISTER);
		return defer_period_ns;
	}
	r = sys_access(agent_sock, 0);
	if (r == 0)
		return defer_period_ns;
	p = put(p, end, "ldprof-agent takes no ring here: none (");
	p = put(p, end, ldp_agentreq_why((int)r));
	p = put(p, end, ")");
	*p = 0;
	decide(LDP_ST_NO_COLLECTOR, why);
	preload_log(LOG_INFO_, "staying off", why);
	return 0;
}

static void ring_activated(const char *why, long period_ns, long took_ns)
{
	if (why) {
		decide(LDP_ST_FAILED, why);
		preload_log(LOG_WARN_, "staying off, the ring sampler cannot start", why);
		return;
	}
	ring_on(defer_sock, period_ns, took_ns);
}

/* sock: the collector the ring goes to; period_ns: the rate. */
static void defer_ring(const char *sock, long period_ns, long long after_ns)
{
	struct ldp_rs_boot b = { 0 };
	const struct ldp_hooks *ops;
	const char *why = NULL;

	defer_sock = sock;
	defer_period_ns = period_ns;
	ring_boot(&b, sock, period_ns);
	b.activate = ring_activate;
	b.activated = ring_activated;
	if (!gnu_get_libc_version)
		__atomic_store_n(&ldp_dlopen_wrap, 1, __ATOMIC_RELEASE);
	ops = ldp_rs_defer(&b, after_ns, &why);
	if (!ops) {
		ring_failed(why);
		return;
	}
	decide(LDP_ST_WAITING, LDP_STATE_RING_WAITING_DETAIL);
	__atomic_store_n(&hooks, ops, __ATOMIC_RELEASE);
}

/* What the rules leave to the start (preload_rules). */
struct plan {
	long period;             /* the config's rate ([sampling] hz), 0 when it is not one */
	long long start_after_ns;
	int later;               /* deferred: start_after_cpu above 0, and a collector to hand to */
	int agent_rings;
};

/* The config and the rules, in a frame of their own, off the stack again before the sampler
 * starts. Each page of stack a new process touches for the first time is a page fault (about
 * 2 us here, counted with perf stat and timed with the TSC): the config's buffer is the file's
 * size, none when there is no file, and excluded()'s 11 KiB frame is entered only when a rule
 * needs a fact. 1: decided here (off, published and logged); 0: *p says what is left. */
static __attribute__((noinline)) int preload_rules(int argc, char **argv, struct plan *p)
{
	char var[256], why[112];
	struct ldp_select_rules rules = { 0 };
	struct text cfg = { 0 };
	const char *v, *cfg_path;
	long fd = -1, size = 0;
	size_t n;
	int c, go, root;

	ldp_select_init(&rules);
	/* The config first: it may name the log that the decisions below go to. */
	c = open_config(&fd, &size, &cfg_path);
	/* On the stack, not in .bss (a .bss costs every process an extra zero-fill mapping); a
	 * file of CONFIG_STACK bytes or more is mapped instead (read_fd). */
	char cfgbuf[c == CFG_OK && size < CONFIG_STACK ? size + 1 : 1];
	if (c == CFG_OK) {
		if (read_fd(fd, size, cfgbuf, (long)sizeof(cfgbuf), &cfg) < 0)
			c = CFG_BAD;
		sys3(NR_close, fd, 0, 0);
	}
	if (c == CFG_OK) {
		ldp_select_scan(cfg.p, (size_t)cfg.n, &rules);
		copy_setting(cfg_log_file, sizeof(cfg_log_file), rules.log_file, 1);
		copy_setting(cfg_log_level, sizeof(cfg_log_level), rules.log_level, 0);
	}
	/* A Go runtime owns SIGPROF: the shim stays off, but the agent may sample the process
	 * from the kernel if the checks below would have let the shim in. */
	go = is_go_program();
	if (own_tool()) {
		text_free(&cfg);
		decide(LDP_ST_EXCLUDED, "ldprof's own tool");
		return 1;
	}

	/* The rules: the config file's [select], then LDPROF_SELECT_* from the environment. */
	if (c == CFG_UNSAFE) {
		if (go) {
			go_off("unsafe config file (root)");
			return 1;
		}
		decide(LDP_ST_UNSAFE_CONFIG, cfg_path);
		preload_log(LOG_WARN_, "staying off: root, and the config file or its folder can be written by "
			    "someone else than root", cfg_path);
		return 1;
	}
	root = is_root();
	for (char **e = ctor_ldprof_vars ? environ : 0; e && *e; e++) {
		if (!starts_with(*e, "LDPROF_"))
			continue;
		n = 0;
		while ((*e)[n] && (*e)[n] != '=' && n < sizeof(var) - 1) {
			var[n] = (*e)[n];
			n++;
		}
		if ((*e)[n] != '=')
			continue;
		var[n] = 0;
		if (ldp_select_env(&rules, var, *e + n + 1))
			continue;
		if (root) /* places come from root's config file only, as in config.c */
			continue;
		if (starts_with(var, "LDPROF_AGENT_SOCKET") && !var[19])
			rules.agent_socket = (struct ldp_sel_str){ *e + n + 1, slen(*e + n + 1) };
	}
	/* musl calls constructors with no arguments: argc and argv are whatever the registers
	 * held */
	if (ldp_select_needs(&rules) &&
	    excluded(&rules, gnu_get_libc_version && argc > 0 && argv ? argv[0] : 0, why, sizeof(why))) {
		text_free(&cfg);
		if (go) {
			go_off(why);
			return 1;
		}
		decide(LDP_ST_EXCLUDED, why);
		preload_log(LOG_INFO_, "staying off, excluded by", why);
		return 1;
	}
	/* before text_free(): the values may point into the config text */
	agent_socket(rules.agent_socket, agent_sock, sizeof(agent_sock));
	p->period = sel_period_ns(rules.sampling_hz);
	p->start_after_ns = rules.start_after_ns;
	p->agent_rings = rules.agent_rings;
	/* The ring sampler's deferred start (defer_ring) reads no file here: reading one in /proc
	 * costs a new process about 30 us, more than all the rest. */
	p->later = rules.start_after_ns > 0 && (collector() || (rules.agent_rings && agent_sock[0]));
	if (!rules.include_seccomp && (c = p->later ? seccomp_mode() : seccomp_filter()) != 0) {
		text_free(&cfg);
		v = c > 0 ? "a seccomp filter is on ([select] include_seccomp = yes profiles it anyway)"
			  : "cannot read /proc/self/status to rule out a seccomp filter";
		if (go) {
			go_off(v);
			return 1;
		}
		decide(LDP_ST_SECCOMP, v);
		preload_log(LOG_INFO_, "staying off", v);
		return 1;
	}
	if (go) {
		text_free(&cfg);
		go_off(agent_sock[0] ? 0 : "no [agent] socket");
		ask_agent(LDP_AGENT_REQ_SAMPLE_GO);
		return 1;
	}
	if (host_init()) {
		text_free(&cfg);
		decide(LDP_ST_HOST_INIT, "the host's init (PID 1) is never sampled");
		preload_log(LOG_INFO_, "staying off", "the host's init (PID 1) is never sampled");
		/* so that the static services it starts are covered ([agent] cover = registered) */
		ask_agent(LDP_AGENT_REQ_REGISTER);
		return 1;
	}
	text_free(&cfg);
	return 0;
}

static void preload_decide(int argc, char **argv, char **envp)
{
	struct plan p;
	const char *v;
	long period;
	int asked;

	(void)envp;
	/* No libc we can talk to (a Go PIE without cgo, say): nothing to do and nobody to tell. */
	if (!&environ || !getauxval || !dlopen || !dlsym || !dladdr) {
		decide(LDP_ST_NO_LIBC, 0);
		return;
	}
	v = env("LDPROF_DISABLED");
	if (v && v[0] == '1') {
		decide(LDP_ST_DISABLED, "LDPROF_DISABLED=1");
		return;
	}
	if (getauxval(LDP_AT_SECURE)) {
		decide(LDP_ST_SECURE, 0);
		return;
	}
	if (preload_rules(argc, argv, &p))
		return;
	period = p.period;
	if (collector()) {
		if (p.later)
			defer_ring(collector(), rs_period_ns(), p.start_after_ns);
		else
			start_ring(collector(), rs_period_ns(), 0);
		return;
	}
	/* From its start: the ring sampler if the agent collects rings, glibc and musl alike. With
	 * [agent] rings = false the agent still learns of the process ([agent] cover = registered
	 * covers the static programs it starts), but nothing samples it. */
	asked = p.start_after_ns == 0 && agent_sock[0];
	if (asked && agent_collects(&period) && p.agent_rings) {
		start_ring(agent_sock, period, 1);
		return;
	}
	/* No collector (preloaded by hand and no agent running, or one that takes no ring): off.
	 * A collector of our own started from here would be a process the program did not start
	 * (in its process group, its session, its cgroup's task count; reparented to it if it is
	 * a subreaper): docs/architecture.md, "No collector reachable". */
	if (!p.later) {
		no_collector(asked, p.agent_rings);
		return;
	}
	/* Later: from the handler, with no thread, glibc and musl alike. */
	if (!period) {
		v = "[sampling] hz (or LDPROF_SAMPLING_HZ) is not a rate from 1 to 1000";
		decide(LDP_ST_CONFIG_ERROR, v);
		preload_log(LOG_WARN_, "staying off", v);
		return;
	}
	defer_ring(agent_sock, period, p.start_after_ns);
}

/* glibc calls constructors with (argc, argv, envp); the arguments are read only once the
 * libc is known to be glibc. */
__attribute__((constructor)) static void preload_init(int argc, char **argv, char **envp)
{
	ctor_pid = sys3(NR_getpid, 0, 0, 0);
	ctor_ldprof_vars = 0;
	for (char **e = &environ ? environ : 0; e && *e && !ctor_ldprof_vars; e++)
		ctor_ldprof_vars = starts_with(*e, "LDPROF_");
	preload_decide(argc, argv, envp);
	ctor_pid = 0;
	ctor_ldprof_vars = 1;
}

__attribute__((visibility("hidden"))) long ldp_fail_errno(long negerr);

/* clone() with CLONE_THREAD starts a thread no pthread_create() wrapper sees. Its optional
 * arguments (parent_tid, tls, child_tid) are passed on as received: reading one the caller did
 * not pass reads its register or stack slot, harmless. Only the parent returns here: the child
 * runs fn and ends inside libc. */
#define CLONE_THREAD_ 0x10000
typedef int (*clone_fn)(int (*)(void *), void *, int, void *, ...);

EXPORT int clone(int (*fn)(void *), void *stack, int flags, void *arg, ...)
{
	clone_fn f = (clone_fn)REAL(clone);
	const struct ldp_hooks *ops;
	void *ptid, *tls, *ctid;
	va_list ap;
	int r;

	va_start(ap, arg);
	ptid = va_arg(ap, void *);
	tls = va_arg(ap, void *);
	ctid = va_arg(ap, void *);
	va_end(ap);
	if (!f)
		return (int)ldp_fail_errno(-LDP_ENOSYS);
	r = f(fn, stack, flags, arg, ptid, tls, ctid);
	ops = active();
	if (r > 0 && (flags & CLONE_THREAD_) && ops)
		ops->cloned(r);
	return r;
}

EXPORT int pthread_create(void *thread, const void *attr, void *(*fn)(void *), void *arg)
{
	ldp_pthread_create_fn f = (ldp_pthread_create_fn)REAL(pthread_create);
	const struct ldp_hooks *ops = active();

	if (!f)
		return 11; /* EAGAIN: cannot happen in a process that links pthread_create */
	if (ops)
		return ops->pthread_create(f, thread, attr, fn, arg);
	return f(thread, attr, fn, arg);
}

/* ---- a static program exec'd while the activation waits ---- */

/* With [agent] cover = registered the kernel covers a static program that a registered process
 * execs (the agent's fork hook passes the mark on, its exec hook decides). A process still
 * waiting for start_after_cpu has not registered: a short shell running a static tool would
 * leave it uncovered. So its exec of a file with no ELF interpreter registers first, once per
 * process (a fork child inherits the mark in the kernel). Costs an exec of a waiting process
 * a stat, an open and a read (about 5 us here) the first time it runs a file; only a static
 * image costs the agent's round trip. */
static long exec_registered; /* the pid that registered here */

/* The files last found to have an interpreter (or to be no ELF: a script): a shell loop
 * exec'ing the same programs looks at each once, not at every exec (dash's vfork children
 * write here for their parent). By FNV-1a hash of the name as given (and $PATH when searched);
 * a collision or a file replaced since costs a static program its coverage, never the
 * program anything. Only "not static" is kept: a static file is looked at every time, its
 * exec costing the agent's round trip anyway. */
#define EXEC_SEEN 16
static unsigned long exec_dynamic[EXEC_SEEN];
static unsigned exec_dynamic_next;

static unsigned long fnv(unsigned long h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ul;
	return h;
}

static long sys_pread(long fd, void *buf, long n, long off)
{
	return sys6(NR_pread64, fd, (long)buf, n, off, 0, 0);
}

/* 1 when fd is a 64-bit ELF executable with no PT_INTERP (static, static-PIE), 0 when it has
 * one or is no such ELF, -1 when it cannot tell (exechdr.c). Linkers put the program headers
 * right after the ELF header, which one read of 1 KiB takes in with them. */
static int static_elf(long fd)
{
	unsigned char b[64 + LDP_EXECHDR_PHDRS * LDP_EXECHDR_PHENT];
	unsigned long phoff;
	long n = sys_pread(fd, b, sizeof(b), 0), len;

	if (n < 0)
		return -1;
	if (!ldp_exechdr_head(b, n, &phoff, &len))
		return 0;
	if (phoff >= 64 && phoff + (unsigned long)len <= (unsigned long)n)
		return ldp_exechdr_static(b + phoff, len);
	n = sys_pread(fd, b, len, (long)phoff); /* elsewhere in the file */
	return n < 0 ? -1 : ldp_exechdr_static(b, n);
}

/* A regular file opened to read its headers: never a FIFO (the open would wait for a writer)
 * or a device (opening one may do something). -1 otherwise. */
static long open_regular(const char *path)
{
	unsigned char st[256];

	if (sys_stat(path, st) < 0 || !is_regular(st))
		return -1;
	return sys_open(path, O_RDONLY_ | O_CLOEXEC_ | O_NOCTTY_ | O_NONBLOCK_, 0);
}

/* The file execvp() would run: file itself when it names a path, else the first of $PATH's
 * folders (glibc's default when unset) that holds one we can open. -1 when none. */
static long open_exec(const char *file, int search, char *buf, size_t len)
{
	const char *path, *d, *e;
	size_t fl = slen(file), dl;
	long fd;

	if (!search || !*file)
		return open_regular(file);
	for (const char *c = file; *c; c++)
		if (*c == '/')
			return open_regular(file);
	path = env("PATH");
	if (!path)
		path = "/bin:/usr/bin";
	for (d = path;; d = e + 1) {
		for (e = d; *e && *e != ':'; e++)
			;
		dl = (size_t)(e - d);
		if (dl + 1 + fl < len) {
			char *p = buf;

			if (dl) {
				memcpy(p, d, dl);
				p += dl;
				*p++ = '/';
			}
			memcpy(p, file, fl + 1);
			fd = open_regular(buf);
			if (fd >= 0)
				return fd; /* else, as execvp, the next folder */
		}
		if (!*e)
			return -1;
	}
}

/* Before an exec of file (by path; search: as execvp; fd >= 0: fexecve's). Also in a vfork
 * child (dash runs its commands so), which shares its parent's memory: it publishes nothing in
 * ldp_state, and the pid it leaves in exec_registered is not its parent's. */
static void exec_register(const char *file, int search, int fd)
{
	char buf[512], detail[sizeof(ldp_state.agent_detail)], said[112];
	const char *v;
	unsigned long h = 0;
	long pid, own = -1;
	int st;

	if (!agent_sock[0] || !ldp_rs_waiting() || (fd < 0 && !file))
		return;
	if (fd < 0) {
		v = search ? env("PATH") : 0;
		h = fnv(fnv(0xcbf29ce484222325ul, file), v ? v : "") | 1;
		for (unsigned i = 0; i < EXEC_SEEN; i++)
			if (__atomic_load_n(&exec_dynamic[i], __ATOMIC_RELAXED) == h)
				return;
	}
	pid = sys3(NR_getpid, 0, 0, 0);
	if (__atomic_load_n(&exec_registered, __ATOMIC_RELAXED) == pid)
		return;
	if (fd < 0) {
		fd = own = open_exec(file, search, buf, sizeof(buf));
		if (fd < 0)
			return;
	} else {
		unsigned char s[256];

		if (sys3(NR_fstat, fd, (long)s, 0) < 0 || !is_regular(s))
			return;
	}
	st = static_elf(fd);
	if (own >= 0)
		sys3(NR_close, own, 0, 0);
	if (st == 0 && h)
		__atomic_store_n(&exec_dynamic[__atomic_fetch_add(&exec_dynamic_next, 1, __ATOMIC_RELAXED) %
					       EXEC_SEEN], h, __ATOMIC_RELAXED);
	if (st <= 0)
		return;
	if (agent_ask(agent_sock, LDP_AGENT_REQ_REGISTER, " before the exec of a static program", detail,
		      sizeof(detail), said, sizeof(said)) == LDP_AG_REGISTERED)
		__atomic_store_n(&exec_registered, pid, __ATOMIC_RELAXED);
	if (log_level() <= 1)
		preload_log(LOG_INFO_, "agent", said);
}

/* Every exec entry point: glibc's execvp, posix_spawn etc. call internal functions, so a
 * wrapper of execve alone would not see them. posix_spawn and vfork children are not wrapped
 * on purpose: they never run our code. */
#define EXEC_WRAP(file, search, fd, call)                        \
	do {                                                     \
		const struct ldp_hooks *ops = active();          \
		int r;                                           \
		if (ops) {                                       \
			exec_register(file, search, fd);         \
			ops->exec_prepare();                     \
		}                                                \
		r = call;                                        \
		if (ops)                                         \
			ops->exec_failed();                      \
		return r;                                        \
	} while (0)

typedef int (*exec3_fn)(const char *, char *const *, char *const *);
typedef int (*exec2_fn)(const char *, char *const *);
typedef int (*fexec_fn)(int, char *const *, char *const *);

EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	exec3_fn f = (exec3_fn)REAL(execve);
	EXEC_WRAP(path, 0, -1, f(path, argv, envp));
}

EXPORT int execv(const char *path, char *const argv[])
{
	exec2_fn f = (exec2_fn)REAL(execv);
	EXEC_WRAP(path, 0, -1, f(path, argv));
}

EXPORT int execvp(const char *file, char *const argv[])
{
	exec2_fn f = (exec2_fn)REAL(execvp);
	EXEC_WRAP(file, 1, -1, f(file, argv));
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	exec3_fn f = (exec3_fn)REAL(execvpe);
	EXEC_WRAP(file, 1, -1, f(file, argv, envp));
}

EXPORT int fexecve(int fd, char *const argv[], char *const envp[])
{
	fexec_fn f = (fexec_fn)REAL(fexecve);
	EXEC_WRAP(NULL, 0, fd, f(fd, argv, envp));
}

/* execl* take their arguments on the stack; collect them and hand them to the v-variants.
 * The count is bounded only by what the caller passed, as in libc. */
static size_t count_args(const char *arg, va_list ap)
{
	size_t n = 1;

	if (!arg)
		return 1;
	while (va_arg(ap, const char *))
		n++;
	return n + 1;
}

#define COLLECT_ARGS(arg, argv, n, ap, last)                             \
	do {                                                             \
		size_t i_ = 0;                                           \
		argv[i_++] = (char *)arg;                                \
		while (arg && i_ < n)                                    \
			if (!(argv[i_++] = va_arg(ap, char *)))          \
				break;                                   \
		argv[n - 1] = NULL;                                      \
		last;                                                    \
	} while (0)

EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, arg);
	n = count_args(arg, ap);
	va_end(ap);
	{
		char *argv[n];
		va_start(ap, arg);
		COLLECT_ARGS(arg, argv, n, ap, (void)0);
		va_end(ap);
		return execv(path, argv);
	}
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, arg);
	n = count_args(arg, ap);
	va_end(ap);
	{
		char *argv[n];
		va_start(ap, arg);
		COLLECT_ARGS(arg, argv, n, ap, (void)0);
		va_end(ap);
		return execvp(file, argv);
	}
}

EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	size_t n;
	char *const *envp;

	va_start(ap, arg);
	n = count_args(arg, ap);
	va_end(ap);
	{
		char *argv[n];
		va_start(ap, arg);
		COLLECT_ARGS(arg, argv, n, ap, envp = va_arg(ap, char *const *));
		va_end(ap);
		return execve(path, argv, envp);
	}
}

/* SIGPROF: the sampler is asked (a pending activation holds itself off meanwhile). */
EXPORT int sigaction(int sig, const void *sa, void *oldsa)
{
	ldp_sigaction_fn f = libc_sigaction();
	const struct ldp_hooks *ops;

	if (sig != LDP_SIGPROF)
		return f(sig, sa, oldsa);
	ops = active();
	return ops ? ops->sigaction(f, sig, sa, oldsa) : f(sig, sa, oldsa);
}

typedef void *(*signal_fn)(int, void *);

/* signal() and sigset() on SIGPROF: the sampler steps aside before the real call. */
static void *signal_call(signal_fn f, int sig, void *handler)
{
	const struct ldp_hooks *ops;

	if (sig != LDP_SIGPROF)
		return f(sig, handler);
	ops = active();
	if (ops)
		ops->sigprof_claim();
	return f(sig, handler);
}

EXPORT void *signal(int sig, void *handler)
{
	return signal_call((signal_fn)REAL(signal), sig, handler);
}

EXPORT void *sigset(int sig, void *handler)
{
	return signal_call((signal_fn)REAL(sigset), sig, handler);
}

/* -1 with errno set to -negerr, as glibc's wrappers fail (hidden: the syscall() below jumps
 * here). */
long ldp_fail_errno(long negerr)
{
	if (__errno_location)
		*__errno_location() = (int)-negerr;
	return -1;
}

typedef int (*dlclose_fn)(void *);

EXPORT int dlclose(void *handle)
{
	dlclose_fn f = (dlclose_fn)REAL(dlclose);
	const struct ldp_hooks *ops = active();
	int r;

	if (ops)
		ops->dlclose_prepare();
	r = f(handle);
	if (ops)
		ops->dlclose_done();
	return r;
}

/* Runs call (returning type) between the sampler's solo_prepare and solo_done (hooks.h) when
 * needed and the sampler is on (or its activation pending); as a plain call otherwise.
 * leaving: where a successful call takes the process (NULL: nowhere); for_good: the sampler
 * steps aside before the call. */
#define SOLO_WRAP(type, needed, leaving, for_good, call)                                  \
	do {                                                                              \
		const struct ldp_hooks *ops_ = (needed) ? active() : NULL;                \
		const char *leaving_ = (leaving);                                         \
		type ret_;                                                                \
		if (ops_)                                                                 \
			ops_->solo_prepare(leaving_, for_good);                           \
		ret_ = call;                                                              \
		if (ops_)                                                                 \
			ops_->solo_done(leaving_ && ret_ == 0);                           \
		return ret_;                                                              \
	} while (0)

/* Credential changes. */
#define CREDS_WRAP(call) SOLO_WRAP(int, 1, NULL, 0, call)

typedef int (*id1_fn)(unsigned);
typedef int (*id2_fn)(unsigned, unsigned);
typedef int (*id3_fn)(unsigned, unsigned, unsigned);
typedef int (*groups_fn)(size_t, const void *);
typedef int (*initgroups_fn)(const char *, unsigned);

EXPORT int setuid(unsigned id) { id1_fn f = (id1_fn)REAL(setuid); CREDS_WRAP(f(id)); }
EXPORT int setgid(unsigned id) { id1_fn f = (id1_fn)REAL(setgid); CREDS_WRAP(f(id)); }
EXPORT int seteuid(unsigned id) { id1_fn f = (id1_fn)REAL(seteuid); CREDS_WRAP(f(id)); }
EXPORT int setegid(unsigned id) { id1_fn f = (id1_fn)REAL(setegid); CREDS_WRAP(f(id)); }
EXPORT int setreuid(unsigned r, unsigned e) { id2_fn f = (id2_fn)REAL(setreuid); CREDS_WRAP(f(r, e)); }
EXPORT int setregid(unsigned r, unsigned e) { id2_fn f = (id2_fn)REAL(setregid); CREDS_WRAP(f(r, e)); }
EXPORT int setresuid(unsigned r, unsigned e, unsigned s)
{
	id3_fn f = (id3_fn)REAL(setresuid);
	CREDS_WRAP(f(r, e, s));
}
EXPORT int setresgid(unsigned r, unsigned e, unsigned s)
{
	id3_fn f = (id3_fn)REAL(setresgid);
	CREDS_WRAP(f(r, e, s));
}
EXPORT int setgroups(size_t n, const void *list)
{
	groups_fn f = (groups_fn)REAL(setgroups);
	CREDS_WRAP(f(n, list));
}
EXPORT int initgroups(const char *user, unsigned group)
{
	initgroups_fn f = (initgroups_fn)REAL(initgroups);
	CREDS_WRAP(f(user, group));
}

/* Namespaces: see solo_prepare in hooks.h. Only the moves that may put our socket out of
 * reach are the sampler's business; unshare(CLONE_NEWNS), setns() into a network namespace
 * and the like pass straight through. */
#define CLONE_VM_ 0x100
#define CLONE_SIGHAND_ 0x800
#define CLONE_NEWNS_ 0x20000
#define CLONE_NEWTIME_ 0x80
#define CLONE_NEWUSER_ 0x10000000
#define NS_GET_NSTYPE_ 0xb703

typedef int (*unshare_fn)(int);
typedef int (*setns_fn)(int, int);
typedef int (*chroot_fn)(const char *);

#define ANOTHER_NS "another user or mount namespace"

EXPORT int unshare(int flags)
{
	unshare_fn f = (unshare_fn)REAL(unshare);

	SOLO_WRAP(int, flags & (CLONE_NEWUSER_ | CLONE_THREAD_ | CLONE_SIGHAND_ | CLONE_VM_),
		  flags & CLONE_NEWUSER_ ? ANOTHER_NS : NULL, 0, f(flags));
}

/* chroot(): the collector's socket would be looked up under the new root. Like a move to
 * another mount namespace. */
EXPORT int chroot(const char *path)
{
	chroot_fn f = (chroot_fn)REAL(chroot);

	if (!f)
		return -1;
	SOLO_WRAP(int, 1, "another root directory (chroot)", 0, f(path));
}

EXPORT int setns(int fd, int nstype)
{
	setns_fn f = (setns_fn)REAL(setns);
	long type = nstype;

	/* 0 takes whatever namespace fd is: ask it (a pidfd, or a kernel too old to answer,
	 * counts as all of them). */
	if (active() && !type) {
		type = sys3(NR_ioctl, fd, NS_GET_NSTYPE_, 0);
		if (type < 0)
			type = CLONE_NEWUSER_ | CLONE_NEWNS_;
	}
	SOLO_WRAP(int, type & (CLONE_NEWUSER_ | CLONE_NEWNS_ | CLONE_NEWTIME_),
		  type & (CLONE_NEWUSER_ | CLONE_NEWNS_) ? ANOTHER_NS : NULL, 0, f(fd, nstype));
}

/* seccomp: a filter the program installs may kill it for a call only the sampler makes (at
 * the next sample), so the sampler steps aside first, whatever the call then returns
 * (hooks.h). libseccomp installs filters with syscall(SYS_seccomp) on
 * today's kernels and prctl() on older ones; sshd and others call prctl(). A program making
 * the system call itself (Chromium's sandbox) is not seen. */
#define PR_SET_SECCOMP_ 22
#define SECCOMP_MODE_STRICT_ 1
#define SECCOMP_MODE_FILTER_ 2
#define SECCOMP_SET_MODE_STRICT_ 0
#define SECCOMP_SET_MODE_FILTER_ 1
#define A_SECCOMP_FILTER "a seccomp filter"

typedef int (*prctl_fn)(int, unsigned long, unsigned long, unsigned long, unsigned long);

/* prctl is variadic; every argument is a register-sized integer on x86_64 and aarch64, so the
 * five are passed on exactly as received. */
EXPORT int prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5)
{
	prctl_fn f = (prctl_fn)REAL(prctl);

	if (!f)
		return -1;
	SOLO_WRAP(int, option == PR_SET_SECCOMP_ &&
			       (a2 == SECCOMP_MODE_STRICT_ || (a2 == SECCOMP_MODE_FILTER_ && a3)),
		  A_SECCOMP_FILTER, 1, f(option, a2, a3, a4, a5));
}

#if defined(__x86_64__)
/* syscall(): glibc's own instructions (x86_64 syscall.S), so that every call but seccomp's
 * (317) runs exactly as it would without us, with no frame of ours on the stack (a clone child
 * returns straight to its caller); seccomp's goes to ldp_seccomp_syscall with the arguments
 * as received. Async-signal-safe, as glibc's. */
__attribute__((visibility("hidden"))) long ldp_seccomp_syscall(long n, long a, long b, long c, long d,
							     long e, long f);

__asm__(".text\n"
	".globl syscall\n"
	".type syscall, @function\n"
	"syscall:\n"
	"	cmpq $317, %rdi\n"
	"	je ldp_seccomp_syscall\n"
	"	movq %rdi, %rax\n"
	"	movq %rsi, %rdi\n"
	"	movq %rdx, %rsi\n"
	"	movq %rcx, %rdx\n"
	"	movq %r8, %r10\n"
	"	movq %r9, %r8\n"
	"	movq 8(%rsp), %r9\n"
	"	syscall\n"
	"	cmpq $-4095, %rax\n"
	"	jae 1f\n"
	"	ret\n"
	"1:	movq %rax, %rdi\n"
	"	jmp ldp_fail_errno\n"
	".size syscall, .-syscall\n");

/* The system call as glibc's syscall() makes it: -1 and errno on failure. */
static long sys_call(long n, long a, long b, long c, long d, long e, long f)
{
	long r = sys6(n, a, b, c, d, e, f);

	return (unsigned long)r > -4096UL ? ldp_fail_errno(r) : r;
}

long ldp_seccomp_syscall(long n, long a, long b, long c, long d, long e, long f)
{
	SOLO_WRAP(long, a == SECCOMP_SET_MODE_STRICT_ || (a == SECCOMP_SET_MODE_FILTER_ && c),
		  A_SECCOMP_FILTER, 1, sys_call(n, a, b, c, d, e, f));
}
#endif
