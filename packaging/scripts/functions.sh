# --- ldprof: what every maintainer script shares, deb and rpm (packaging/scripts/functions.sh).
# `make deb` and `make rpm` put this file in place of the line "#@LDPROF_FUNCTIONS@".
# No percent sign anywhere in it: rpm would take one for a macro. Not every script calls every
# function: each carries the shellcheck directive for that (SC2317, "unreachable").
#
# A line in /etc/ld.so.preload that names a library that is gone makes every program started
# on the host print an error. So the library may only go once our line is out, and a package
# never adds the line by itself: the admin runs `ldprof install`.

LDPROF_DIR=/usr/lib/ldprof
# The line `ldprof install` writes: each loader reads $LIB as its own library folder, so 64-bit
# programs load the shim and 32-bit ones a stub that does nothing (packaging/README.md).
# shellcheck disable=SC2016
LDPROF_LINE='/usr/lib/ldprof/$LIB/libldprof.so'
# A file that is there as long as the package is (the path older versions' line named).
LDPROF_LIB=/usr/lib/ldprof/libldprof.so
LDPROF_PRELOAD=/etc/ld.so.preload
# The lines `ldprof install` writes, this version's and older ones': alone on the line, blanks
# around tolerated.
LDPROF_LINE_RE='^[[:space:]]*/usr/lib/ldprof/([$](LIB|[{]LIB[}])/)?libldprof[.]so[[:space:]]*$'
# Any of our files as ld.so reads the file: a word between blanks or colons, anywhere on any
# line, naming a libldprof.so under /usr/lib/ldprof.
LDPROF_WORD_RE='(^|[[:space:]:])/usr/lib/ldprof/([^[:space:]:]*/)?libldprof[.]so([[:space:]:]|$)'

# Is our line in /etc/ld.so.preload?
# shellcheck disable=SC2317
ldprof_preload_has_line() {
	[ -f "$LDPROF_PRELOAD" ] && grep -Eq "$LDPROF_LINE_RE" "$LDPROF_PRELOAD"
}

# Does /etc/ld.so.preload name our library anywhere, in a line of ours or of someone else's?
# Comments count too: glibc (2.36 at least) blanks the first "#" comment of the file, but of
# the next ones only part, and reads the rest as names of libraries to load.
# shellcheck disable=SC2317
ldprof_preload_names_lib() {
	[ -f "$LDPROF_PRELOAD" ] && grep -Eq "$LDPROF_WORD_RE" "$LDPROF_PRELOAD"
}

# Does a line that is not ours name our library (an admin's line listing several libraries)?
# shellcheck disable=SC2317
ldprof_preload_names_lib_elsewhere() {
	[ -f "$LDPROF_PRELOAD" ] && grep -Ev "$LDPROF_LINE_RE" "$LDPROF_PRELOAD" | grep -Eq "$LDPROF_WORD_RE"
}

# Take our line out of /etc/ld.so.preload: with `ldprof uninstall` while the program is there
# (atomic, keeps every other byte), else, or when it fails, with sed (which also writes a new
# file and renames it). Returns 1, saying why on stderr, while the file still names the library
# anywhere: the caller must then keep the library where it is. A line that is not ours but
# names the library is not edited: the function refuses before it changes anything.
# shellcheck disable=SC2317
ldprof_preload_take_out() {
	if ldprof_preload_names_lib_elsewhere; then
		echo "ldprof: $LDPROF_PRELOAD names a library in $LDPROF_DIR in a line that \"ldprof install\" did not write; the library must stay while it does: take it out of that line by hand, then remove the package again" >&2
		return 1
	fi
	if ldprof_preload_has_line && [ -x /usr/bin/ldprof ]; then
		# (never profiled itself; a hang would hold the package manager: 60 s at most)
		if ! LDPROF_DISABLED=1 timeout 60 /usr/bin/ldprof uninstall --lib "$LDPROF_LINE"; then
			echo "ldprof: \"ldprof uninstall\" failed; taking our line out of $LDPROF_PRELOAD with sed" >&2
		fi
	fi
	if ldprof_preload_has_line; then
		sed --follow-symlinks -i -E "\\#$LDPROF_LINE_RE#d" "$LDPROF_PRELOAD" || true
		# As `ldprof uninstall` does: a file that ldprof created and that is now empty goes.
		if [ -f "$LDPROF_PRELOAD.ldprof-created" ] && ! grep -q '[^[:space:]]' "$LDPROF_PRELOAD"; then
			rm -f "$LDPROF_PRELOAD" "$LDPROF_PRELOAD.ldprof-created"
		fi
	fi
	if ldprof_preload_names_lib; then
		echo "ldprof: $LDPROF_PRELOAD still names a library in $LDPROF_DIR, which is about to be deleted: take it out of that file by hand, then remove the package again" >&2
		return 1
	fi
	return 0
}

# The one line a fresh install prints: the package profiles nothing until the admin says so.
# shellcheck disable=SC2317
ldprof_say_how_to_start() {
	if ! ldprof_preload_has_line; then
		echo "ldprof: installed, profiling nothing yet: run \"ldprof install\" to profile every program on this host (\"ldprof uninstall\" undoes it)"
	fi
}

# After an upgrade from a version that wrote the plain path (which still works: the package
# keeps it), one line says how to get the line that 32-bit programs load quietly too. Only
# says: the line is the admin's to change.
# shellcheck disable=SC2317
ldprof_say_line_is_old() {
	if [ -f "$LDPROF_PRELOAD" ] && grep -Eq '^[[:space:]]*/usr/lib/ldprof/libldprof[.]so[[:space:]]*$' "$LDPROF_PRELOAD"; then
		echo "ldprof: $LDPROF_PRELOAD names $LDPROF_LIB, which 32-bit programs cannot load (their loader prints an error): run \"ldprof install\" to replace it with $LDPROF_LINE"
	fi
}
# --- end of packaging/scripts/functions.sh
