#!/bin/sh
# Prints one line on the integration suites that skipped during make test
# (from the report the test helpers append to; see internal/testenv).
report=${1:?usage: skip-summary.sh REPORT}
if [ ! -s "$report" ]; then
  echo "integration suites: none skipped"
  exit 0
fi
sort "$report" | uniq -c | awk -F'\t' '
  { split($1, a, " "); n = a[1]; suite = a[2]; line = line sep suite ": " $2 " (" n "x)"; sep = "; " }
  END { print "integration suites skipped: " line }'
