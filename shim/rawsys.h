/* SPDX-License-Identifier: MIT
 *
 * rawsys.h — the libc-free first stage's system calls (preload.c, agentreq.c): the syscall
 * numbers and struct stat offsets of x86_64 and aarch64, and the instructions that make a call.
 *
 * Each function returns what the kernel returns: the result, or -errno (errno is never
 * touched, so everything here is async-signal-safe). Never add a libc call or a global here:
 * this header is included into an object that has no libc and no writable data of its own.
 */
#ifndef LDP_RAWSYS_H
#define LDP_RAWSYS_H

#if defined(__x86_64__)
#define NR_read 0
#define NR_ioctl 16
#define NR_write 1
#define NR_openat 257
#define NR_close 3
#define NR_fstat 5
#define NR_mmap 9
#define NR_munmap 11
#define NR_faccessat 269
#define NR_getpid 39
#define NR_gettid 186
#define NR_fcntl 72
#define NR_prlimit64 302
#define NR_getuid 102
#define NR_geteuid 107
#define NR_readlinkat 267
#define NR_newfstatat 262
#define NR_socket 41
#define NR_connect 42
#define NR_sendto 44
#define NR_recvfrom 45
#define NR_sendmsg 46
#define NR_clock_gettime 228
#define NR_ppoll 271
#define NR_rt_sigprocmask 14
#define NR_rt_sigtimedwait 128
#define NR_rt_sigqueueinfo 129
#define NR_tgkill 234
#define NR_futex 202
#define NR_prctl 157
#define NR_timer_create 222
#define NR_timer_settime 223
#define NR_timer_delete 226
#define NR_clock_nanosleep 230
#define NR_pread64 17
/* struct stat (x86_64): st_ino at 8 (u64), st_mode at 24 (u32), st_uid at 28 (u32), st_size at 48 (i64) */
#define ST_INO 8
#define ST_MODE 24
#define ST_UID 28
#define ST_SIZE 48
static inline long sys3(long n, long a, long b, long c)
{
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return r;
}
static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long r10 __asm__("r10") = d;
	register long r8 __asm__("r8") = e;
	register long r9 __asm__("r9") = f;
	long r;
	__asm__ volatile("syscall" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
			 : "rcx", "r11", "memory");
	return r;
}
/* The *at forms, as on aarch64 and as ld.so and glibc use them: a seccomp allow-list written
 * for today's glibc may leave out open, access, stat and readlink. */
static inline long sys_open(const char *path, int flags, int mode) { return sys6(NR_openat, -100, (long)path, flags, mode, 0, 0); }
static inline long sys_access(const char *path, int mode) { return sys6(NR_faccessat, -100, (long)path, mode, 0, 0, 0); }
static inline long sys_readlink(const char *path, char *buf, long n) { return sys6(NR_readlinkat, -100, (long)path, (long)buf, n, 0, 0); }
static inline long sys_stat(const char *path, void *st) { return sys6(NR_newfstatat, -100, (long)path, (long)st, 0, 0, 0); }
#elif defined(__aarch64__)
#define NR_read 63
#define NR_ioctl 29
#define NR_write 64
#define NR_openat 56
#define NR_close 57
#define NR_fstat 80
#define NR_mmap 222
#define NR_munmap 215
#define NR_faccessat 48
#define NR_getpid 172
#define NR_gettid 178
#define NR_fcntl 25
#define NR_prlimit64 261
#define NR_getuid 174
#define NR_geteuid 175
#define NR_readlinkat 78
#define NR_newfstatat 79
#define NR_socket 198
#define NR_connect 203
#define NR_sendto 206
#define NR_recvfrom 207
#define NR_sendmsg 211
#define NR_clock_gettime 113
#define NR_ppoll 73
#define NR_rt_sigprocmask 135
#define NR_rt_sigtimedwait 137
#define NR_rt_sigqueueinfo 138
#define NR_tgkill 131
#define NR_futex 98
#define NR_prctl 167
#define NR_timer_create 107
#define NR_timer_settime 110
#define NR_timer_delete 111
#define NR_clock_nanosleep 115
#define NR_pread64 67
/* struct stat (generic): st_ino at 8 (u64), st_mode at 16 (u32), st_uid at 24 (u32), st_size at 48 (i64) */
#define ST_INO 8
#define ST_MODE 16
#define ST_UID 24
#define ST_SIZE 48
static inline long sys3(long n, long a, long b, long c)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2) : "memory");
	return x0;
}
static inline long sys4(long n, long a, long b, long c, long d)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
	return x0;
}
static inline long sys6(long n, long a, long b, long c, long d, long e, long f)
{
	register long x8 __asm__("x8") = n;
	register long x0 __asm__("x0") = a;
	register long x1 __asm__("x1") = b;
	register long x2 __asm__("x2") = c;
	register long x3 __asm__("x3") = d;
	register long x4 __asm__("x4") = e;
	register long x5 __asm__("x5") = f;
	__asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5) : "memory");
	return x0;
}
static inline long sys_open(const char *path, int flags, int mode) { return sys4(NR_openat, -100, (long)path, flags, mode); }
static inline long sys_access(const char *path, int mode) { return sys4(NR_faccessat, -100, (long)path, mode, 0); }
static inline long sys_readlink(const char *path, char *buf, long n) { return sys4(NR_readlinkat, -100, (long)path, (long)buf, n); }
static inline long sys_stat(const char *path, void *st) { return sys4(NR_newfstatat, -100, (long)path, (long)st, 0); }
#else
#error "ldprof's first stage supports x86_64 and aarch64"
#endif

#define LDP_CLOCK_MONOTONIC 1
#define LDP_CLOCK_PROCESS_CPUTIME_ID 2
#define LDP_NS_PER_S 1000000000L

/* The kernel's struct timespec (64-bit). */
struct ldp_k_timespec {
	long sec, nsec;
};

/* A clock's time in ns, 0 if it cannot be read. */
static inline long long sys_clock_ns(int clock)
{
	struct ldp_k_timespec t = { 0, 0 };

	if (sys3(NR_clock_gettime, clock, (long)&t, 0) < 0)
		return 0;
	return t.sec * (long long)LDP_NS_PER_S + t.nsec;
}

#endif
