#!/bin/sh
# SPDX-License-Identifier: MIT
#
# with_dev_log.sh — run one command with /dev/log pointing at a socket of the test's own,
# inside a private mount namespace (tests/test_syslog.py; never by hand on a host you care about).
#
# Usage: unshare -m --propagation private sh tests/host/with_dev_log.sh SCRATCH SOCKET CMD [ARGS...]
#
#   SCRATCH  an empty folder for the overlay's upper and work folders
#   SOCKET   the AF_UNIX datagram socket the test listens on
#
# /dev is covered by an overlay (lowerdir=/dev), so /dev/log — absent on some hosts, a socket
# or a symlink into /run/systemd/journal on others — is replaced in SCRATCH only and the real
# one is never touched; the device nodes below stay usable through the overlay. As
# run_in_ns.sh does, the script refuses unless its mount namespace differs from its parent's
# and /dev really is the overlay after mounting. Exit status: CMD's, or 1 (with a message).
set -eu

NS_SCRIPT=with_dev_log.sh
# shellcheck source=tests/host/ns_overlay.sh
. "$(dirname "$0")/ns_overlay.sh"

[ $# -ge 3 ] || die "usage: unshare -m --propagation private sh with_dev_log.sh SCRATCH SOCKET CMD [ARGS...]"
scratch=$1 sock=$2
shift 2

require_private_ns /dev
[ -d "$scratch" ] || die "$scratch is not a folder"
[ -S "$sock" ] || die "$sock is not a socket"

overlay_on /dev "$scratch" ldprof-dev-log
rm -f /dev/log
ln -s "$sock" /dev/log
exec "$@"
