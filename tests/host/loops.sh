#!/bin/sh
# loops.sh — corpus item for tests/test_host.py, run by dash (/bin/sh): arithmetic loops, pipes,
# subshells, command substitution, traps on EXIT and on a signal sent to itself, a child's exit
# status and a child killed by a signal. stdout and stderr are deterministic; exit status 0.
trap 'echo "trap: EXIT"' EXIT
trap 'echo "trap: HUP"' HUP
i=0 s=0
while [ $i -lt 3000 ]; do
	s=$(( (s + i * i) % 65521 ))
	i=$((i + 1))
done
echo "sum $s"
kill -HUP $$
printf 'b\na\nc\na\n' | sort | uniq -c | sed 's/^ *//'
v=$( (echo nested; exit 2) )
echo "v=$v status=$?"
for f in one two three; do echo "$f" | tr a-z A-Z; done | paste -sd, -
{ echo grouped; echo "to stderr" >&2; } 2>&1 | cat
echo "only stderr" >&2
sh -c 'exit 5'
echo "child status $?"
sh -c 'kill -TERM $$; echo not reached'
echo "child killed by TERM: status $?"
exit 0
