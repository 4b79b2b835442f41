#!/bin/sh
# help2roff.sh OUT NAME SECTION SUMMARY DATE VERSION HEADING COMMAND [HEADING COMMAND]...
#
# Writes the man page OUT from a program's own --help text, so that the page
# and --help cannot drift: the first "usage:" line becomes the SYNOPSIS, the
# text of each COMMAND (run with sh -c; stdout) a section under HEADING,
# kept as it is laid out (no refilling). Roff specials are escaped.
set -eu
out=$1 name=$2 section=$3 summary=$4 date=$5 version=$6
shift 6
tmp="$out.tmp"
esc() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/" -e 's/-/\\-/g'; }
{
  printf '.TH %s %s "%s" "apnsd %s" "apnsd"\n' "$(echo "$name" | tr a-z A-Z)" "$section" "$date" "$version"
  printf '.SH NAME\n%s \\- %s\n' "$(printf '%s' "$name" | esc)" "$summary"
  first=1
  while [ $# -ge 2 ]; do
    heading=$1 cmd=$2
    shift 2
    text=$(sh -c "$cmd")
    [ -n "$text" ] || { echo "help2roff: '$cmd' printed nothing" >&2; exit 1; }
    if [ $first = 1 ]; then
      first=0
      printf '.SH SYNOPSIS\n'
      printf '%s\n' "$text" | sed -n 's/^usage: *//p' | head -n 1 | esc | sed 's/^/.B /'
      text=$(printf '%s\n' "$text" | sed '1{/^usage:/d}')
    fi
    printf '.SH "%s"\n.nf\n' "$heading"
    printf '%s\n' "$text" | sed '/./,$!d' | esc
    printf '.fi\n'
  done
  printf '.SH "SEE ALSO"\n.BR apnsd (8),\n.BR apnsd.ini (5),\n.BR apns (1),\n.BR apns\\-sim (1),\n.BR apns\\-bench (1)\n'
  printf '.PP\nThe guides in /usr/share/doc/apnsd (operations.md, configuration.md, api.md, cli.md).\n'
} > "$tmp"
mv "$tmp" "$out"
