#!/usr/bin/env bash
# The harness itself: 1,000 messages produced to the mock broker with kcat and read back
# by a consumer in a consumer group, over TCP.
source "$(dirname "$0")/../lib.sh"
need_env
[ -n "${TALLY_TEST_BROKERS:-}" ] || { echo "SKIP: no broker"; exit 77; }
topic=tally-harness-$$-$RANDOM # a fresh topic: both builds run this test on one broker
seq 1 1000 | sed 's/^.*$/&:msg-&/' | kcat -P -b "$TALLY_TEST_BROKERS" -t $topic -K: -l /dev/stdin 2>"$TMP/p.err"
assert_eq 0 $? "kcat produced 1,000 messages"
timeout 60 kcat -C -b "$TALLY_TEST_BROKERS" -G harness-$$ -o beginning -c 1000 -q -f '%p %s\n' $topic \
    >"$TMP/out" 2>"$TMP/c.err"
assert_eq 1000 "$(wc -l <"$TMP/out")" "the group consumer read 1,000 messages"
assert_eq 1000 "$(awk '{print $2}' "$TMP/out" | sort -u | wc -l)" "each exactly once"
assert_eq 4 "$(awk '{print $1}' "$TMP/out" | sort -u | wc -l)" "from all 4 partitions"
assert_eq "msg-1000" "$(awk '{print $2}' "$TMP/out" | sort -t- -k2 -n | tail -1)" "the last message arrived"
finish
