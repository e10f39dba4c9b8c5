#!/bin/bash
# SPDX-License-Identifier: MIT
#
# corpus.sh — the real programs tests/test_host.py runs on a test host, once without the shim
# and once with it in /etc/ld.so.preload (tests/host/run_in_ns.sh), to compare byte for byte.
#
# Usage: bash tests/host/corpus.sh OUT WORK BIN [ITEM...]     (default: every item, in order)
#   OUT   folder for the results: ITEM.out, ITEM.err (the item's stdout and stderr), ITEM.rc (its
#         exit status) and ITEM.ms (wall time, not compared), and "items", one name a line
#   WORK  scratch folder, emptied first; each item runs in WORK/ITEM. The same path is used for
#         every pass, so paths that an item prints are the same in every pass.
#   BIN   programs the test prepared: suidprog (setuid root), capprog (file capabilities),
#         hot2copy (hot2 outside /usr and the build tree), abi32 and suid32 (tests/host/abi32.c
#         built with gcc -m32: plain, and a setuid-root copy)
# Every item prints deterministic output: no pids, times or temporary names. Items whose CPU
# work is long enough to be sampled at 99 Hz (0.3-1 s) say so; tests/test_host.py checks their
# profiles by comm. Runs with whatever environment the caller gives (the test gives a minimal
# one: PATH, HOME, LC_ALL=C, TZ=UTC).
set -u
[ $# -ge 3 ] || { echo "usage: corpus.sh OUT WORK BIN [ITEM...]" >&2; exit 2; }
OUT=$1 WORK=$2 BIN=$3
shift 3
HOST=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HOST/../.." && pwd)
PROGS=$ROOT/build/tests/progs

# --- the items: each runs in its own empty folder ---

item_sh_script() {     # dash: loops, pipes, subshells, traps, a child killed by a signal
	sh "$HOST/loops.sh"
}

item_bash_script() {   # bash: arrays, loops, process substitution, traps; exits 3
	bash "$HOST/loops.bash"
}

item_coreutils() {     # sort -g (~0.6 s CPU, 2 threads), uniq -c, wc, cut, tr, seq, xargs
	# (sort catches SIGPROF to remove its temporary files, so ldprof steps aside in it)
	awk 'BEGIN { srand(7); for (i = 0; i < 400000; i++)
		printf "%d %s%d\n", int(rand() * 1000000), substr("abcdefghij", i % 10 + 1, 1), i % 977 }' >big.txt
	wc -l -c <big.txt
	sort -g big.txt >sorted.txt
	md5sum sorted.txt
	head -n 3 sorted.txt
	cut -d' ' -f2 big.txt | tr -d 0-9 | sort | uniq -c
	cut -d' ' -f2 big.txt | sort -u | wc -l
	tr 'a-j' 'A-J' <big.txt | cut -c1-3 | sort | uniq -c | sort -k1,1nr -k2 | head -n 5
	seq 1 200 | xargs -n 7 echo | wc -w
	seq -w 1 5 | tac | paste -sd' ' -
}

item_python() {        # sampled: ~0.5 s CPU
	/usr/bin/python3 "$HOST/work.py"
}

item_perl() {          # sampled: ~0.4 s CPU; one line on stderr
	/usr/bin/perl "$HOST/work.pl"
}

item_make_gcc() {      # make + gcc: cc1 is sampled (~0.5 s CPU on work.c); a compile error too
	cp -r "$HOST/cproj" proj
	make --no-print-directory -C proj run
	printf 'int main(void) { return undeclared; }\n' >bad.c
	gcc -c bad.c -o bad.o
	echo "gcc status $?"
}

item_git() {           # init, add, commit, log in a fresh repository, fixed identity and dates
	export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null HOME=$PWD
	export GIT_AUTHOR_DATE='2024-01-02T03:04:05Z' GIT_COMMITTER_DATE='2024-01-02T03:04:05Z'
	g() { git -c user.name='Host Test' -c user.email=host@example.invalid -c init.defaultBranch=main \
		-c core.pager=cat "$@"; }
	g init repo
	cd repo || return 1
	seq 1 100 >numbers.txt
	printf 'hello\n' >a.txt
	g add numbers.txt a.txt
	g commit -q -m first
	seq 1 2 100 >numbers.txt
	printf 'hello\nworld\n' >a.txt
	g commit -q -a -m second
	g log --stat --format='%H %an <%ae> %ad %s' --date=iso-strict
	g diff --stat HEAD~1 HEAD
	g show HEAD:a.txt
	g rev-list --count HEAD
	g status --short
	g cat-file -p HEAD~5 # fails: no such revision (stderr, status 128)
	echo "git status $?"
}

item_tar_xz() {        # tar + xz: create, list, extract, compare checksums
	mkdir -p src/sub src/empty
	awk 'BEGIN { srand(3); for (i = 0; i < 120000; i++) printf "%d %d\n", i, int(rand() * 1e6) }' >src/data.txt
	seq 1 1000 >src/sub/seq.txt
	printf 'small\n' >src/sub/small.txt
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf a.tar src
	xz -T1 -6 -k a.tar
	sha256sum a.tar a.tar.xz
	xz -l a.tar.xz | tail -n 1 | awk '{ print $5, $6, $7, $8 }'
	mkdir out
	xz -dc a.tar.xz | tar -xf - -C out
	(cd src && find . -type f | sort | xargs sha256sum) >sums.src
	(cd out/src && find . -type f | sort | xargs sha256sum) >sums.out
	cmp sums.src sums.out && echo "extracted: same checksums"
	tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cJf b.tar.xz src
	tar -tJf b.tar.xz
	xz -dc no-such-file.xz
	echo "xz status $?"
}

item_threads() {       # hot2: 5 threads x 0.1 s of CPU (sampled); its CPU times go through sed
	"$PROGS/hot2" 100 2>err.txt
	local st=$?
	sed 's/[0-9][0-9]*/N/g' err.txt >&2
	return $st
}

item_threads_tmp() {   # the same program copied outside /usr and the build tree (for include_exe)
	"$BIN/hot2copy" 100 2>err.txt
	local st=$?
	sed 's/[0-9][0-9]*/N/g' err.txt >&2
	return $st
}

item_go_cgo() {        # Go with cgo: the Go runtime owns SIGPROF; its own profiler must work
	"$PROGS/go_cgo"
}

item_go_nolibc() {     # Go PIE without any libc
	"$PROGS/go_nolibc" a b
}

item_setuid() {        # setuid-root copy, run as nobody: AT_SECURE
	setpriv --reuid=65534 --regid=65534 --clear-groups "$BIN/suidprog"
}

item_filecaps() {      # cap_net_bind_service+ep copy, run as nobody: AT_SECURE
	setpriv --reuid=65534 --regid=65534 --clear-groups "$BIN/capprog"
}

item_abi32() {         # a 32-bit program: its loader must find the 32-bit stub and say nothing
	"$BIN/abi32"
}

item_abi32_setuid() {  # its setuid-root copy, run as nobody: AT_SECURE, 32-bit
	setpriv --reuid=65534 --regid=65534 --clear-groups "$BIN/suid32"
}

item_confinement() {   # a user namespace, another mount namespace, a chroot and seccomp filters:
	# the kernel refuses some of these to a multi-threaded process, a filter may kill for a call
	# only a profiler makes, a chroot moves its files
	unshare -Ur sh -c 'echo "uid in a new user namespace: $(id -u)"'
	unshare -m sleep 5 &
	local p=$!
	nsenter -t "$p" -m sh -c 'echo in its mount namespace'
	kill "$p"
	wait "$p" 2>/dev/null
	"$PROGS/nsmove" 100 chroot . | sed 's/pid=[0-9]*/pid=/'
	"$PROGS/seccomp_exec" kill deny 27 -- sh -c 'echo under a filter that kills for mincore'
	"$PROGS/selfseccomp" 100 syscall | sed 's/pid=[0-9]*/pid=/'
	echo done
}

ITEMS="sh_script bash_script coreutils python perl make_gcc git tar_xz threads threads_tmp
	go_cgo go_nolibc setuid filecaps abi32 abi32_setuid confinement"
[ $# -eq 0 ] || ITEMS="$*"
for it in $ITEMS; do
	declare -F "item_$it" >/dev/null || { echo "corpus.sh: no item $it" >&2; exit 2; }
done

rm -rf "$WORK"
mkdir -p "$OUT" "$WORK"
chmod 0755 "$WORK"
: >"$OUT/items"
for it in $ITEMS; do
	mkdir "$WORK/$it"
	t0=$EPOCHREALTIME
	(cd "$WORK/$it" && "item_$it") <"/dev/null" >"$OUT/$it.out" 2>"$OUT/$it.err"
	echo $? >"$OUT/$it.rc"
	t1=$EPOCHREALTIME
	echo $(( (${t1/./} - ${t0/./}) / 1000 )) >"$OUT/$it.ms"
	echo "$it" >>"$OUT/items"
done
