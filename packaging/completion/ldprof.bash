# bash completion for ldprof(1): commands, their options, and the files or folders they take.
# Installed as /usr/share/bash-completion/completions/ldprof.

# The words compgen ARGS offers for the word being completed ($cur of the caller).
_ldprof_reply()
{
	mapfile -t COMPREPLY < <(compgen "$@" -- "$cur")
}

_ldprof()
{
	local cur prev words cword cmd i
	_init_completion 2>/dev/null || {
		cur=${COMP_WORDS[COMP_CWORD]}
		prev=${COMP_WORDS[COMP_CWORD - 1]}
		words=("${COMP_WORDS[@]}")
		cword=$COMP_CWORD
	}
	cmd=${words[1]}
	if [ "$cword" -eq 1 ]; then
		_ldprof_reply -W 'run report diff config flush install uninstall status --version --help'
		return
	fi
	case $prev in
	--config|--svg|--html|--lib)
		_ldprof_reply -f
		return ;;
	-o|--output|--root|--debug-dir)
		_ldprof_reply -d
		return ;;
	--hz|--top|--flush-interval|--start-after-cpu)
		return ;;
	esac
	case $cmd in
	run)
		# after "--" (or the first word that is not an option): a command and its arguments
		for ((i = 2; i < cword; i++)); do
			if [ "${words[i]}" = -- ]; then
				_ldprof_reply -c
				[ $((i + 1)) -lt "$cword" ] && _ldprof_reply -f
				return
			fi
		done
		_ldprof_reply -W '--config --hz -o --output --flush-interval --start-after-cpu --help --' ;;
	report)
		if [[ $cur == -* ]]; then
			_ldprof_reply -W '--top --folded --svg --html --debug-dir --help'
		else
			_ldprof_reply -f
		fi ;;
	diff)
		if [[ $cur == -* ]]; then
			_ldprof_reply -W '--top --svg --html --debug-dir --help --'
		else
			_ldprof_reply -f
		fi ;;
	config)
		if [ "$cword" -eq 2 ]; then
			_ldprof_reply -W 'check'
		elif [[ $cur == -* ]]; then
			_ldprof_reply -W '--show --help'
		else
			_ldprof_reply -f
		fi ;;
	flush)
		_ldprof_reply -W '--config --help' ;;
	install|uninstall)
		_ldprof_reply -W '--root --dry-run --lib --help' ;;
	status)
		if [[ $cur == -* ]]; then
			_ldprof_reply -W '--root --help'
		else
			local pids=(/proc/[0-9]*)
			_ldprof_reply -W "${pids[*]#/proc/}"
		fi ;;
	esac
}
complete -F _ldprof ldprof
