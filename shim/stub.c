/* SPDX-License-Identifier: MIT
 *
 * stub.c — the libldprof.so that 32-bit programs find in /etc/ld.so.preload (build/lib/stub32).
 *
 * `ldprof install` writes the line PREFIX/lib/ldprof/$LIB/libldprof.so: each dynamic loader
 * replaces $LIB with its own library folder (lib/x86_64-linux-gnu, lib32, lib/i386-linux-gnu,
 * lib64, lib), so every loader finds an object of its own ELF class there and says nothing. A
 * 32-bit loader that found the 64-bit shim would print "wrong ELF class: ELFCLASS64" on the
 * program's stderr; this object is what it finds instead. ldprof does not profile 32-bit
 * programs: the object stays off by being empty.
 *
 * Never: have code that runs (no constructor, no function at all), a DT_NEEDED entry, an
 * exported symbol that could interpose one of the program's, or a relocation the loader must
 * process (built with -nostdlib and checked by the Makefile).
 */

/* Only to say what the file is to someone reading it with `strings`. */
static const char stub_what[] __attribute__((used)) =
	"ldprof 32-bit stub: does nothing; ldprof profiles 64-bit programs only";
