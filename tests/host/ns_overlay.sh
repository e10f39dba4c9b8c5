# SPDX-License-Identifier: MIT
#
# ns_overlay.sh — what run_in_ns.sh and with_dev_log.sh share, sourced by both (never run by
# itself): refuse unless in a private mount namespace, and cover a folder with an overlay whose
# changes land in a scratch folder, checking it really is the overlay before anyone writes.
# The caller sets NS_SCRIPT (its name, for messages).

die() {
	echo "$NS_SCRIPT: $*" >&2
	exit 1
}

# require_private_ns WHAT: the shell's mount namespace must differ from its parent's (unshare
# execs the script, so the parent is the caller, in the host's namespace).
require_private_ns() {
	self_ns=$(readlink /proc/self/ns/mnt)
	parent_ns=$(readlink "/proc/$PPID/ns/mnt") || die "cannot read the parent's mount namespace"
	[ "$self_ns" != "$parent_ns" ] ||
		die "not in a private mount namespace (run me under 'unshare -m --propagation private'): refusing to touch $1"
}

# overlay_on DIR SCRATCH NAME: DIR becomes an overlay (lowerdir=DIR) whose upper and work
# folders are in SCRATCH; dies unless DIR is that overlay afterwards.
overlay_on() {
	mkdir -p "$2/upper" "$2/work"
	mount -t overlay "$3" -o "lowerdir=$1,upperdir=$2/upper,workdir=$2/work" "$1" ||
		die "cannot mount an overlay on $1"
	# /proc/self/mountinfo: field 5 is the mount point, the filesystem type follows the " - ".
	awk -v d="$1" '$5 == d { for (i = 6; i <= NF; i++) if ($i == "-") { print $(i + 1); break } }' \
		/proc/self/mountinfo | tail -n 1 | grep -qx overlay || die "$1 is not the test overlay: refusing to write"
}
