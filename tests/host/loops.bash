#!/bin/bash
# loops.bash — corpus item for tests/test_host.py, run by bash: associative arrays, C-style
# loops, pipes into while-read, subshells, process substitution, a background job, traps on
# EXIT, ERR and a signal sent to itself. stdout and stderr are deterministic; exit status 3.
trap 'echo "trap: EXIT status=$?"' EXIT
trap 'echo "trap: USR1"' USR1
trap 'echo "trap: ERR at line $LINENO" >&2' ERR
declare -A count
for w in alpha beta gamma alpha beta alpha; do
	count[$w]=$(( ${count[$w]:-0} + 1 ))
done
for k in $(printf '%s\n' "${!count[@]}" | sort); do echo "$k ${count[$k]}"; done
kill -USR1 $$
total=0
for ((i = 0; i < 5000; i++)); do total=$(( (total * 31 + i) % 1000003 )); done
echo "total $total"
seq 1 50 | while read -r n; do if (( n % 7 == 0 )); then echo "seven $n"; fi; done
( cd /; echo "subshell in $PWD"; exit 4 )
echo "subshell status $?"
x=$(echo outer $(echo inner | tr a-z A-Z))
echo "$x"
diff <(seq 1 5) <(seq 1 5) && echo "process substitution: same"
sleep 0.05 &
wait $!
echo "background status $?"
false
echo "to stderr" >&2
mapfile -t lines < <(printf '%s\n' c b a | sort -r)
echo "${lines[*]}"
exit 3
