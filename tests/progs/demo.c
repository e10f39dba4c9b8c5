/* demo.c — the sample program `make demo` profiles: about 1.5 s of CPU in three recognizable
 * functions (mandelbrot, crc32_bytes on the main thread, sieve_primes on a second thread "demo-primes";
 * roughly a third each).
 *
 * Exercises: nothing in particular — it is what a user sees first. Fixed work, deterministic
 * output: "demo: mandelbrot=N primes=N crc=HEX".
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

__attribute__((noinline)) long mandelbrot(int size, int maxit)
{
	long inside = 0;
	for (int py = 0; py < size; py++)
		for (int px = 0; px < size; px++) {
			double x0 = px * 3.0 / size - 2.0, y0 = py * 2.0 / size - 1.0, x = 0, y = 0;
			int it = 0;
			while (x * x + y * y <= 4 && it < maxit) {
				double t = x * x - y * y + x0;
				y = 2 * x * y + y0;
				x = t;
				it++;
			}
			inside += it == maxit;
		}
	return inside;
}

__attribute__((noinline)) long sieve_primes(int n)
{
	char *comp = calloc(n + 1, 1);
	long count = 0;
	for (long i = 2; i <= n; i++) {
		if (comp[i])
			continue;
		count++;
		for (long j = i * i; j <= n; j += i)
			comp[j] = 1;
	}
	free(comp);
	return count;
}

__attribute__((noinline)) uint32_t crc32_bytes(const uint8_t *p, size_t n, uint32_t crc)
{
	crc = ~crc;
	while (n--) {
		crc ^= *p++;
		for (int k = 0; k < 8; k++)
			crc = (crc >> 1) ^ (0xedb88320u & -(crc & 1));
	}
	return ~crc;
}

static long primes_total;
static void *primes_thread(void *arg)
{
	pthread_setname_np(pthread_self(), "demo-primes");
	for (int r = 0; r < 10; r++)
		primes_total += sieve_primes(8000000);
	return NULL;
}

int main(void)
{
	pthread_t th;
	pthread_create(&th, NULL, primes_thread, NULL);
	long m = mandelbrot(1000, 600);
	static uint8_t buf[1 << 20];
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 2654435761u >> 13);
	uint32_t crc = 0;
	for (int r = 0; r < 50; r++)
		crc = crc32_bytes(buf, sizeof(buf), crc);
	pthread_join(th, NULL);
	printf("demo: mandelbrot=%ld primes=%ld crc=%08x\n", m, primes_total, crc);
	return 0;
}
