#!/bin/sh
# SPDX-License-Identifier: MIT
#
# layout.sh — lay out the folder that the line `ldprof install` writes points into:
#
#   sh packaging/layout.sh DEST TRIPLET SHIM [STUB32 TRIPLET32]
#
# The line is DEST/$LIB/libldprof.so as the host sees DEST (/usr/lib/ldprof in the packages,
# build/lib/ldprof in a build tree). Each glibc loader replaces $LIB with its own library
# folder, so each finds an object of its own ELF class and none prints "wrong ELF class":
#
#   DEST/lib/TRIPLET/libldprof.so                          the shim (Debian: lib/x86_64-linux-gnu)
#   DEST/lib64 -> lib/TRIPLET                              the same for loaders whose $LIB is lib64 (Fedora, SUSE...)
#   DEST/lib32/libldprof.so                                the 32-bit stub: Debian's biarch libc6-i386 ($LIB = lib32)
#   DEST/lib/TRIPLET32/libldprof.so                        the same file: Debian's multiarch libc6:i386
#   DEST/lib/libldprof.so                                  the same file: rpm distributions' i686 glibc ($LIB = lib)
#   DEST/libldprof.so -> lib/TRIPLET/libldprof.so          the line older versions wrote keeps working
#
# Files are copied with mode 0644, links are relative; anything DEST held before is replaced
# (each file by a rename, as dpkg would); the in-process core of older versions
# (libldprof-core-gnu.so) is removed: nothing loads it any more. Never writes outside DEST.
set -eu

[ $# -eq 3 ] || [ $# -eq 5 ] || { echo "usage: layout.sh DEST TRIPLET SHIM [STUB32 TRIPLET32]" >&2; exit 2; }
dest=$1 triplet=$2 shim=$3 stub=${4:-} triplet32=${5:-}

put() { # put SRC DESTFILE: a copy, mode 0644, renamed into place
	mkdir -p "$(dirname "$2")"
	cp "$1" "$2.tmp.$$"
	chmod 0644 "$2.tmp.$$"
	mv -f "$2.tmp.$$" "$2"
}
link() { # link TARGET NAME: a relative symlink, renamed into place
	mkdir -p "$(dirname "$2")"
	rm -rf "$2.tmp.$$"
	ln -s "$1" "$2.tmp.$$"
	mv -Tf "$2.tmp.$$" "$2"
}

put "$shim" "$dest/lib/$triplet/libldprof.so"
link "lib/$triplet" "$dest/lib64"
link "lib/$triplet/libldprof.so" "$dest/libldprof.so"
rm -f "$dest/lib/$triplet/libldprof-core-gnu.so" "$dest/libldprof-core-gnu.so"
if [ -n "$stub" ]; then
	put "$stub" "$dest/lib32/libldprof.so"
	put "$stub" "$dest/lib/$triplet32/libldprof.so"
	put "$stub" "$dest/lib/libldprof.so"
fi
