/* agentbomb.c — a local user's attacks on ldprof-agent, and a probe that times the agent's
 * answers meanwhile (tests/test_agent_budget.py, make bench).
 *
 * Exercises: the agent reads the symbol tables of a target's executable mappings; a user can
 * map a file of valid headers and millions of symbols, most of it a hole, under several names,
 * and ask again and again. Nothing the user maps may delay another process's answer. And the
 * BPF fork hook passes a process's marks on to its children: a user's forks must not fill the
 * maps every user's requests need.
 *
 * Usage:
 *   agentbomb make FILE NSYMS SIZE_MIB   writes an ELF64 file of SIZE_MIB MiB (a hole but for
 *                                      the tables at its end) with NSYMS distinct functions
 *   agentbomb attack SOCK SECONDS FILE...  maps every FILE executable, then for SECONDS asks the
 *                                      agent "sample go" and "register" in turn; prints
 *                                      "attack: rounds=N slowest_ms=M"
 *   agentbomb maps SOCK SECONDS N      makes N separate mappings (one page each, every other one
 *                                      executable, so none merge), then as attack; prints
 *                                      "maps: rounds=N slowest_ms=M"
 *   agentbomb forks SOCK REQUEST N SECONDS  asks REQUEST for itself ("-": nothing), prints
 *                                      "forks: reply=R", forks N children that wait, prints
 *                                      "forks: held=K", and ends after SECONDS (so do they)
 *   agentbomb churn SOCK SECONDS       for SECONDS asks "sample sigprof", burns 20 ms of CPU,
 *                                      asks "register" (which ends the agent's profile of it);
 *                                      prints "churn: rounds=N sampled=S"
 *   agentbomb probe SOCK N GAP_MS      N times: a new child process registers and times the
 *                                      answer; prints "probe: n=N answered=A late=L
 *                                      median_us=M max_us=X" (late: over the shim's 50 ms)
 * Exit status 0, 1 on a failure (one line on stderr), 2 usage.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SHIM_DEADLINE_US 50000

static long long now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

static int write_all(int fd, const void *p, size_t len, off_t off)
{
	const char *c = p;

	while (len) {
		ssize_t k = pwrite(fd, c, len, off);
		if (k <= 0)
			return -1;
		c += k;
		off += k;
		len -= (size_t)k;
	}
	return 0;
}

static int make(const char *path, long nsyms, long mib)
{
	size_t symsz = (size_t)(nsyms + 1) * sizeof(Elf64_Sym), strsz = (size_t)nsyms * 10 + 1;
	static const char shstr[] = "\0.symtab\0.strtab\0.shstrtab\0";
	off_t size = (off_t)mib << 20, symoff, stroff, shstroff, shoff;
	Elf64_Ehdr eh = { 0 };
	Elf64_Phdr ph = { 0 };
	Elf64_Shdr sh[4] = { { 0 } };
	Elf64_Sym *syms = calloc((size_t)nsyms + 1, sizeof(*syms));
	char *str = malloc(strsz);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0755);

	shoff = size - (off_t)sizeof(sh);
	shstroff = shoff - (off_t)sizeof(shstr);
	stroff = (shstroff - (off_t)strsz) & ~7L;
	symoff = (stroff - (off_t)symsz) & ~7L;
	if (!syms || !str || fd < 0 || symoff < 4096 + nsyms * 16L) {
		fprintf(stderr, "agentbomb: cannot make %s (%s)\n", path, fd < 0 ? strerror(errno) : "too small");
		return 1;
	}
	str[0] = 0;
	for (long i = 0; i < nsyms; i++) {
		snprintf(str + 1 + i * 10, 10, "f%08lx", i);
		syms[i + 1] = (Elf64_Sym){ .st_name = (uint32_t)(1 + i * 10),
					   .st_info = ELF64_ST_INFO(STB_GLOBAL, STT_FUNC),
					   .st_shndx = 1, .st_value = 4096 + (uint64_t)i * 16,
					   .st_size = 16 };
	}
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_ident[EI_VERSION] = EV_CURRENT;
	eh.e_type = ET_DYN;
	eh.e_machine = EM_X86_64;
	eh.e_version = EV_CURRENT;
	eh.e_phoff = sizeof(eh);
	eh.e_shoff = (Elf64_Off)shoff;
	eh.e_ehsize = sizeof(eh);
	eh.e_phentsize = sizeof(ph);
	eh.e_phnum = 1;
	eh.e_shentsize = sizeof(Elf64_Shdr);
	eh.e_shnum = 4;
	eh.e_shstrndx = 3;
	ph = (Elf64_Phdr){ .p_type = PT_LOAD, .p_flags = PF_R | PF_X, .p_offset = 0, .p_vaddr = 0,
			   .p_filesz = (uint64_t)size, .p_memsz = (uint64_t)size, .p_align = 4096 };
	sh[1] = (Elf64_Shdr){ .sh_name = 1, .sh_type = SHT_SYMTAB, .sh_offset = (uint64_t)symoff,
			      .sh_size = symsz, .sh_link = 2, .sh_info = 1, .sh_entsize = sizeof(Elf64_Sym) };
	sh[2] = (Elf64_Shdr){ .sh_name = 9, .sh_type = SHT_STRTAB, .sh_offset = (uint64_t)stroff,
			      .sh_size = strsz };
	sh[3] = (Elf64_Shdr){ .sh_name = 17, .sh_type = SHT_STRTAB, .sh_offset = (uint64_t)shstroff,
			      .sh_size = sizeof(shstr) };
	if (ftruncate(fd, size) < 0 || write_all(fd, &eh, sizeof(eh), 0) ||
	    write_all(fd, &ph, sizeof(ph), sizeof(eh)) || write_all(fd, syms, symsz, symoff) ||
	    write_all(fd, str, strsz, stroff) || write_all(fd, shstr, sizeof(shstr), shstroff) ||
	    write_all(fd, sh, sizeof(sh), shoff) || close(fd) < 0) {
		fprintf(stderr, "agentbomb: writing %s: %s\n", path, strerror(errno));
		return 1;
	}
	free(syms);
	free(str);
	return 0;
}

/* One request on a new connection; the answer's delay in µs, or -1 for none within 30 s. The
 * answer goes to reply (reply_len bytes, NUL-terminated) when given. */
static long long ask_reply(const char *sock, const char *req, char *reply, size_t reply_len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	long long t0 = now_us(), dt = -1;
	char buf[256];
	struct pollfd pfd;
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    send(fd, req, strlen(req), 0) < 0)
		goto out;
	pfd = (struct pollfd){ .fd = fd, .events = POLLIN };
	if (poll(&pfd, 1, 30000) == 1) {
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);

		if (n > 0) {
			dt = now_us() - t0;
			buf[n] = 0;
			if (reply)
				snprintf(reply, reply_len, "%s", buf);
		}
	}
out:
	if (fd >= 0)
		close(fd);
	return dt;
}

static long long ask(const char *sock, const char *req)
{
	return ask_reply(sock, req, NULL, 0);
}

static int forks(const char *sock, const char *req, int n, int seconds)
{
	char reply[256] = "-";
	int held = 0;

	if (strcmp(req, "-"))
		ask_reply(sock, req, reply, sizeof(reply));
	printf("forks: reply=%s\n", reply);
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			if (getppid() == 1)
				_exit(0);
			pause();
			_exit(0);
		}
		if (pid < 0)
			break;
		held++;
	}
	printf("forks: held=%d\n", held);
	fflush(stdout);
	sleep((unsigned)seconds);
	return 0;
}

static void ask_loop(const char *sock, double seconds, const char *what)
{
	long long end = now_us() + (long long)(seconds * 1e6), slowest = 0;
	long rounds = 0;

	while (now_us() < end) {
		long long a = ask(sock, "LDPA1 sample go"), b = ask(sock, "LDPA1 register");

		if (a > slowest)
			slowest = a;
		if (b > slowest)
			slowest = b;
		rounds++;
	}
	printf("%s: rounds=%ld slowest_ms=%lld\n", what, rounds, slowest / 1000);
}

static int many_maps(const char *sock, double seconds, long n)
{
	char *p = mmap(NULL, (size_t)n * 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		fprintf(stderr, "agentbomb: mmap: %s\n", strerror(errno));
		return 1;
	}
	for (long i = 0; i < n; i += 2)
		if (mprotect(p + i * 4096, 4096, PROT_READ | PROT_EXEC) < 0) {
			fprintf(stderr, "agentbomb: mprotect: %s (after %ld)\n", strerror(errno), i);
			break;
		}
	ask_loop(sock, seconds, "maps");
	return 0;
}

static int attack(const char *sock, double seconds, char **files, int nfiles)
{
	for (int i = 0; i < nfiles; i++) {
		int fd = open(files[i], O_RDONLY);
		off_t len = fd < 0 ? 0 : lseek(fd, 0, SEEK_END);

		if (fd < 0 || len <= 0 ||
		    mmap(NULL, (size_t)len, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 0) == MAP_FAILED) {
			fprintf(stderr, "agentbomb: cannot map %s: %s\n", files[i], strerror(errno));
			return 1;
		}
		close(fd);
	}
	ask_loop(sock, seconds, "attack");
	return 0;
}

static void burn_ms(int ms)
{
	struct timespec ts;
	long long end;
	volatile unsigned long x = 0;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	end = ts.tv_sec * 1000000000LL + ts.tv_nsec + ms * 1000000LL;
	do {
		for (int i = 0; i < 10000; i++)
			x += (unsigned long)i * i;
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	} while (ts.tv_sec * 1000000000LL + ts.tv_nsec < end);
}

static int churn(const char *sock, double seconds)
{
	long long end = now_us() + (long long)(seconds * 1e6);
	long rounds = 0, sampled = 0;
	char reply[256];

	while (now_us() < end) {
		reply[0] = 0;
		ask_reply(sock, "LDPA1 sample sigprof", reply, sizeof(reply));
		sampled += !strncmp(reply, "LDPA1 ok", 8);
		burn_ms(20);
		ask(sock, "LDPA1 register");
		rounds++;
	}
	printf("churn: rounds=%ld sampled=%ld\n", rounds, sampled);
	return 0;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return x < y ? -1 : x > y;
}

static int probe(const char *sock, int n, int gap_ms)
{
	long long *t = calloc((size_t)n, sizeof(*t));
	int answered = 0, late = 0;
	int p[2];

	if (!t || pipe(p) < 0)
		return 1;
	for (int i = 0; i < n; i++) {
		pid_t pid = fork();

		if (pid == 0) {
			long long dt = ask(sock, "LDPA1 register");
			_exit(write(p[1], &dt, sizeof(dt)) == sizeof(dt) ? 0 : 1);
		}
		if (pid < 0 || read(p[0], &t[i], sizeof(t[i])) != sizeof(t[i]))
			return 1;
		waitpid(pid, NULL, 0);
		if (t[i] >= 0)
			answered++;
		if (t[i] < 0 || t[i] > SHIM_DEADLINE_US)
			late++;
		if (t[i] < 0)
			t[i] = 30000000;
		usleep((useconds_t)gap_ms * 1000);
	}
	qsort(t, (size_t)n, sizeof(*t), cmp_ll);
	printf("probe: n=%d answered=%d late=%d median_us=%lld max_us=%lld\n", n, answered, late,
	       t[n / 2], t[n - 1]);
	free(t);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "make"))
		return make(argv[2], atol(argv[3]), atol(argv[4]));
	if (argc >= 5 && !strcmp(argv[1], "attack"))
		return attack(argv[2], atof(argv[3]), argv + 4, argc - 4);
	if (argc == 5 && !strcmp(argv[1], "maps"))
		return many_maps(argv[2], atof(argv[3]), atol(argv[4]));
	if (argc == 6 && !strcmp(argv[1], "forks"))
		return forks(argv[2], argv[3], atoi(argv[4]), atoi(argv[5]));
	if (argc == 4 && !strcmp(argv[1], "churn"))
		return churn(argv[2], atof(argv[3]));
	if (argc == 5 && !strcmp(argv[1], "probe"))
		return probe(argv[2], atoi(argv[3]), atoi(argv[4]));
	fprintf(stderr, "usage: agentbomb make FILE NSYMS SIZE_MIB | attack SOCK SECONDS FILE... | "
			"maps SOCK SECONDS N | forks SOCK REQUEST N SECONDS | churn SOCK SECONDS | probe SOCK N GAP_MS\n");
	return 2;
}
