# ini2roff.awk - apnsd.ini(5) from the configuration reference that
# man/apnsd_ini_ref prints (the Markdown embedded in docs/configuration.md).
#   ### [section]           -> .SS
#   a paragraph             -> text
#   | `key` | type | default | description |  -> .TP entry
# Backquoted words become bold; roff specials are escaped.
# Variables: version, date, confdir (the install's APNSD_CONFDIR: /etc/apnsd).
function esc(s) {
  gsub(/\\/, "\\e", s)
  gsub(/-/, "\\-", s)
  while (match(s, /`[^`]*`/))
    s = substr(s, 1, RSTART - 1) "\\fB" substr(s, RSTART + 1, RLENGTH - 2) "\\fR" substr(s, RSTART + RLENGTH)
  sub(/^[.']/, "\\\\\\&&", s)
  return s
}
BEGIN {
  print ".TH APNSD.INI 5 \"" date "\" \"apnsd " version "\" \"apnsd\""
  print ".SH NAME"
  print "apnsd.ini \\- configuration file of the apnsd push gateway"
  print ".SH SYNOPSIS"
  print esc(confdir) "/apnsd.ini"
  print ".SH DESCRIPTION"
  print "An INI file: \\fB[server]\\fR, \\fB[queue]\\fR, \\fB[log]\\fR and one \\fB[app NAME]\\fR section per app,"
  print "\\fBkey = value\\fR lines, comments start with \\fB;\\fR or \\fB#\\fR."
  print "Sizes take KiB/MiB/GiB, durations ms/s/m/h/d; booleans yes/no."
  print "Every key can be set from the environment instead: \\fBAPNSD_<SECTION>_<KEY>\\fR,"
  print "\\fBAPNSD_APP_<NAME>_<KEY>\\fR (upper case; characters other than A\\-Z and 0\\-9 become _)."
  print "\\fBAPNSD_APPS=shop,watch\\fR declares apps without a section, so the environment"
  print "alone can configure apnsd (a name the file has is that app)."
  print ".PP"
  print "\\fBapnsd\\fR reads the file named by \\fB\\-\\-config\\fR, else \\fB$APNSD_CONFIG\\fR, else"
  print esc(confdir) "/apnsd.ini; when that is missing and \\fBAPNSD_APPS\\fR is set, the environment alone."
  print "Keys marked \\fIlive\\fR take effect on reload (\\fBapnsd \\-\\-reload\\fR, SIGHUP);"
  print "\\fIsecret\\fR values are masked by \\fBapnsd \\-\\-dump\\-config\\fR."
  print ".PP"
  print "\\fBapnsd \\-\\-check\\-config\\fR lists every problem of a file, with line and key."
  print ".SH KEYS"
}
/^### / { sub(/^### /, ""); print ".SS \"" esc($0) "\""; next }
/^\| key \|/ || /^\|---/ { next }
/^\| / {
  line = substr($0, 3, length($0) - 4)
  n = split(line, f, / \| /)
  desc = f[4]
  for (i = 5; i <= n; i++) desc = desc " | " f[i]
  print ".TP"
  print esc(f[1]) " (" esc(f[2]) "; default " esc(f[3]) ")"
  print esc(desc)
  next
}
/^$/ { next }
{ print ".PP"; print esc($0) }
END {
  print ".SH FILES"
  print ".TP"
  print esc(confdir) "/apnsd.ini"
  print "the configuration, read when none is named (root:apnsd, mode 0640)"
  print ".TP"
  print esc(confdir) "/keys/"
  print "keys and certificates (root:apnsd, directory 0750, files 0640)"
  print ".TP"
  print "/var/lib/apnsd/"
  print "the queue database (owned by apnsd)"
  print ".SH \"SEE ALSO\""
  print ".BR apnsd (8),"
  print ".BR apns (1)"
  print ".PP"
  print "/usr/share/doc/apnsd/configuration.md, the same reference with examples."
}
