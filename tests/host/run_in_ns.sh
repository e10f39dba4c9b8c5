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

NS_SCRIPT=run_in_ns.sh
# shellcheck source=tests/host/ns_overlay.sh
. "$(dirname "$0")/ns_overlay.sh"

[ $# -ge 4 ] || die "usage: unshare -m --propagation private sh run_in_ns.sh SCRATCH PRELOAD CONFIG CMD [ARGS...]"
scratch=$1 preload=$2 config=$3
shift 3

require_private_ns /etc
[ -d "$scratch" ] || die "$scratch is not a folder"
[ "$preload" = - ] || [ -f "$preload" ] || die "$preload: no such file"
[ "$config" = - ] || [ -f "$config" ] || die "$config: no such file"

overlay_on /etc "$scratch" ldprof-host-test

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
