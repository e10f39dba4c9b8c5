# work.py — corpus item for tests/test_host.py: about half a second of CPU in pure Python
# (a sieve, dict and string work, a sort), then one deterministic line per result.
import hashlib


def sieve(n):
    flags = bytearray([1]) * (n + 1)
    flags[0:2] = b"\0\0"
    for i in range(2, int(n ** 0.5) + 1):
        if flags[i]:
            flags[i * i::i] = bytes(len(range(i * i, n + 1, i)))
    return [i for i, f in enumerate(flags) if f]


def words(n):
    x, out = 12345, {}
    for _ in range(n):
        x = (x * 1103515245 + 12345) % 2147483648
        w = format(x % 40000, "x")
        out[w] = out.get(w, 0) + 1
    return out


primes = sieve(3_000_000)
print("primes", len(primes), primes[-1])
counts = words(900_000)
top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
print("words", len(counts), top)
h = hashlib.sha256(",".join(map(str, primes[:50000])).encode()).hexdigest()
print("sha256", h)
