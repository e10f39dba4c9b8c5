#!/bin/sh
# SPDX-License-Identifier: MIT
#
# run_in_ns.sh — run one command on a test copy of /etc, inside a private mount namespace.
#
# Usage (from tests/test_host.py; never by hand on a host you care about):
#   unshare -m --propagation private sh tests/host/run_in_ns.sh SCRATCH PRELOAD CONFIG CMD [ARGS...]
#
#   SCRATCH  an empty folder for the overlay's upper and work folders
#   PRELOAD  a file whose bytes become /etc/ld.so.preload, or "-" for no /etc/ld.so.preload at all
#   CONFIG   a file whose bytes become /etc/ldprof/ldprof.ini, or "-" for none
#
# /etc is covered by an overlay (lowerdir=/etc, upper and work folders under SCRATCH), so every
# change lands in SCRATCH and disappears with the namespace; the host may have no
# /etc/ld.so.preload to bind-mount over, and an overlay needs none. The real /etc is never
# written: the script refuses to do anything unless its mount namespace differs from its
# parent's (unshare execs this shell, so the parent is the caller, in the host's namespace) and
# unless /etc really is the overlay after mounting. /etc/ld.so.preload is written last: from
# that moment on, every program this script and CMD start has the shim preloaded.
# Exit status: CMD's, or 1 (with a message) when the namespace could not be set up.
set -eu

die() {
	echo "run_in_ns.sh: $*" >&2
	exit 1
}

[ $# -ge 4 ] || die "usage: unshare -m --propagation private sh run_in_ns.sh SCRATCH PRELOAD CONFIG CMD [ARGS...]"
scratch=$1 preload=$2 config=$3
shift 3

self_ns=$(readlink /proc/self/ns/mnt)
parent_ns=$(readlink "/proc/$PPID/ns/mnt") || die "cannot read the parent's mount namespace"
[ "$self_ns" != "$parent_ns" ] ||
	die "not in a private mount namespace (run me under 'unshare -m --propagation private'): refusing to touch /etc"
[ -d "$scratch" ] || die "$scratch is not a folder"
[ "$preload" = - ] || [ -f "$preload" ] || die "$preload: no such file"
[ "$config" = - ] || [ -f "$config" ] || die "$config: no such file"

mkdir -p "$scratch/upper" "$scratch/work"
mount -t overlay ldprof-host-test -o "lowerdir=/etc,upperdir=$scratch/upper,workdir=$scratch/work" /etc ||
	die "cannot mount an overlay on /etc"
# /proc/self/mountinfo: field 5 is the mount point, the filesystem type follows the " - ".
awk '$5 == "/etc" { for (i = 6; i <= NF; i++) if ($i == "-") { print $(i + 1); break } }' \
	/proc/self/mountinfo | tail -n 1 | grep -qx overlay || die "/etc is not the test overlay: refusing to write"

if [ "$config" = - ]; then
	rm -rf /etc/ldprof
else
	mkdir -p /etc/ldprof
	cp "$config" /etc/ldprof/ldprof.ini
	chmod 0644 /etc/ldprof/ldprof.ini
fi
if [ "$preload" = - ]; then
	rm -f /etc/ld.so.preload
else
	cp "$preload" /etc/ld.so.preload.tmp
	chmod 0644 /etc/ld.so.preload.tmp
	mv /etc/ld.so.preload.tmp /etc/ld.so.preload
fi
exec "$@"
