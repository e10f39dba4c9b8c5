/* empty.c — libempty.so, an empty shared object for `make bench` (tests/bench/bench.py): the
 * start-up cost of preloading *any* library (open, mmap, relocate), the floor under the cost of
 * preloading the inactive shim. No constructor, no code. */
int ldprof_bench_empty;
