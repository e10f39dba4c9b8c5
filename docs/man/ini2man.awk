# ini2man.awk — the KEYS section of ldprof.ini(5) from config/ldprof.ini (make runs it): each
# [section] a subsection; each commented-out "key = default" a tagged paragraph with the comment
# lines above it; keys that follow one another share that paragraph.
function esc(s) {
	gsub(/\\/, "\\e", s)
	if (s ~ /^[.']/)
		s = "\\&" s
	return s
}
function flush(   i) {
	for (i = 1; i <= nkeys; i++)
		printf "%s\n.B %s\n", i == 1 ? ".TP" : ".TQ", keys[i]
	if (nkeys)
		printf "%s", grp
	nkeys = 0
	grp = ""
}
/^\[/ { flush(); sect = $0; desc = ""; print ".SS " esc(sect); next }
sect == "" { next }
/^#[a-z_]+ ?=/ {
	if (!nkeys) {
		grp = desc
		desc = ""
	}
	keys[++nkeys] = esc(substr($0, 2))
	next
}
/^#/ { flush(); sub(/^# ?/, ""); desc = desc esc($0) "\n"; next }
END { flush() }
