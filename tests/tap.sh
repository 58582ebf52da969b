# tap.sh — sourced by the shell tests: TAP lines (the plan is the script's).
#   ok TITLE, notok TITLE, skip TITLE WHY
#   check TITLE 'shell condition'   ok when the condition holds (it is eval'd)
# $n counts the tests so far; $failed is 1 once one failed: end with exit $failed.
n=0; failed=0
ok() { n=$((n+1)); echo "ok $n - $1"; }
notok() { n=$((n+1)); failed=1; echo "not ok $n - $1"; }
skip() { n=$((n+1)); echo "ok $n - $1 # SKIP $2"; }
check() { if eval "$2"; then ok "$1"; else notok "$1"; fi; }
