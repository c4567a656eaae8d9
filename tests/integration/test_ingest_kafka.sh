#!/usr/bin/env bash
# tally-ingest from Kafka, exactly once: 20,000 messages over 4 partitions with 10 %
# re-deliveries and 1 % malformed lines, produced while the daemon consumes. Afterwards
# usage_events holds exactly the distinct valid events, both rollups equal the raw sums,
# ingest_rejects holds exactly the malformed lines with their reasons, the stored
# offsets are the broker's high watermarks, /metrics counted it all, and SIGTERM exits 0.
source "$(dirname "$0")/../lib.sh"
need_env
source "$SRC/tests/integration/ingest_lib.sh"
new_db
mb_start "$TMP/mb" "$BIN/tests/mockbroker" --brokers 3 --partitions 4 --topic usage
python3 "$SRC/tests/integration/gen_events.py" --events 20000 --dup-pct 10 --bad-pct 1 \
    --seed 20 --keyed --out "$TMP/events" --expect "$TMP/expect"

mport=$(free_port)
"$ING" --db "$DB" --brokers "$MB_BOOTSTRAP" --topic usage --group it-kafka --batch-size 500 "${KAFKA_FAST[@]}" \
    --metrics-listen "127.0.0.1:$mport" 2>"$TMP/ingest.log" &
ipid=$!
TEST_PIDS+=("$ipid")

t0=$(date +%s%N)
kcat -P -b "$MB_BOOTSTRAP" -t usage -K$'\t' <"$TMP/events"
assert_eq 20000 "$(end_offsets usage 4 | awk -F'\t' '{n += $2} END {print n}')" "20,000 messages produced"
wait_for 80 offsets_caught_up it-kafka usage 4
t1=$(date +%s%N)
echo "# ingested 20,000 messages in $(((t1 - t0) / 1000000)) ms ($((20000 * 1000000000 / (t1 - t0))) msg/s)"
assert_eq "$(end_offsets usage 4)" "$(stored_offsets it-kafka usage)" "stored offsets are the high watermarks"
assert_stored "$TMP/expect"

metrics=$(curl -sf "http://127.0.0.1:$mport/metrics")
assert_eq "$(cat "$TMP/expect/distinct")" "$(sed -n 's/^tally_ingest_inserted_events_total //p' <<<"$metrics")" "metrics: inserted"
assert_eq 20000 "$(sed -n 's/^tally_ingest_consumed_messages_total //p' <<<"$metrics")" "metrics: consumed"
assert_eq "$(awk -F'\t' '/^missing / {n += $2} END {print n}' "$TMP/expect/rejects.tsv")" \
    "$(sed -n 's/^tally_ingest_rejected_total{reason="missing field"} //p' <<<"$metrics")" "metrics: rejected by reason"
assert_eq 1 "$(sed -n 's/^tally_ingest_database_up //p' <<<"$metrics")" "metrics: database up"
assert_match 'tally_ingest_partition_lag_messages\{topic="usage",partition="3"\} 0' "$metrics" "metrics: lag per partition"
assert_match 'tally_ingest_commit_seconds_count [1-9]' "$metrics" "metrics: commit latency histogram"

# another consumer moved every offset back to 0 behind this one's back (and the tables
# were emptied): the next batch's compare-and-set fails, the batch is dropped, and the
# daemon re-reads every partition from the stored offsets, so everything comes back
sql "TRUNCATE usage_events, usage_rollup_15m, usage_rollup_day, ingest_rejects;
     UPDATE ingest_offsets SET next_offset = 0 WHERE consumer_group = 'it-kafka'"
grep -v -- '-bad-' "$TMP/events" | head -200 | kcat -P -b "$MB_BOOTSTRAP" -t usage -K$'\t'
wait_for 60 offsets_caught_up it-kafka usage 4
assert_match 'is no longer [0-9]+: another consumer owns it' "$(cat "$TMP/ingest.log")" "compare-and-set miss logged"
assert_eq "$(end_offsets usage 4)" "$(stored_offsets it-kafka usage)" "after the miss: offsets at the high watermarks again"
assert_stored "$TMP/expect"

kill -TERM $ipid
wait $ipid
assert_eq 0 $? "SIGTERM: exit 0"
assert_match 'stopping' "$(cat "$TMP/ingest.log")" "SIGTERM: the batch in flight is committed"
assert_eq "" "$(grep 'level=error' "$TMP/ingest.log")" "no errors logged"

# a second daemon in the same group starts from the stored offsets: nothing new
"$ING" --db "$DB" --brokers "$MB_BOOTSTRAP" --topic usage --group it-kafka --metrics-listen "" "${KAFKA_FAST[@]}" \
    2>"$TMP/ingest2.log" &
ipid=$!
TEST_PIDS+=("$ipid")
wait_for 30 grep -q 'assigned partition 3' "$TMP/ingest2.log"
sleep 1
kill -TERM $ipid
wait $ipid
assert_eq 0 $? "restart: SIGTERM exits 0"
assert_match "assigned partition 0 of .{1,2}usage.{1,2} at offset $(end_offsets usage 4 | head -1 | cut -f2)\"" \
    "$(cat "$TMP/ingest2.log")" "restart: seeks to the stored offset"
assert_stored "$TMP/expect"

# Event Hubs connection string: SASL PLAIN as $ConnectionString; the secret is masked in
# --check-config and never logged, even when the broker refuses the handshake
secret='Endpoint=sb://x.servicebus.windows.net/;SharedAccessKeyName=k;SharedAccessKey=S3cr3tK3y'
out=$(TALLY_KAFKA_PASSWORD=$secret "$ING" --db "$DB" --brokers "$MB_BOOTSTRAP" --topic usage \
    --auth connection-string --check-config)
assert_match 'kafka_password = \*\*\*\*\*\*\*\*' "$out" "--check-config masks the connection string"
assert_eq "" "$(grep S3cr3tK3y <<<"$out")" "--check-config shows no part of it"
TALLY_KAFKA_PASSWORD=$secret "$ING" --db "$DB" --brokers "$MB_BOOTSTRAP" --topic usage \
    --group it-sasl --auth connection-string -X security.protocol=SASL_PLAINTEXT \
    --metrics-listen "" --log-level debug -X debug=security,broker 2>"$TMP/sasl.log" &
spid=$!
TEST_PIDS+=("$spid")
sleep 3
kill -TERM $spid
wait $spid
assert_match 'for SASL mechanism PLAIN' "$(cat "$TMP/sasl.log")" "SASL mechanism PLAIN selected"
assert_eq "" "$(grep -c S3cr3tK3y "$TMP/sasl.log" | grep -v '^0$')" "the connection string is never logged"

# bad configuration is a usage error naming the key
"$ING" --db "$DB" --brokers "$MB_BOOTSTRAP" --topic usage --batch-size 0 2>"$TMP/err"
assert_eq 2 $? "bad batch_size: exit 2"
assert_match '"batch_size"' "$(cat "$TMP/err")" "bad batch_size: key named"
"$ING" --db "$DB" --topic usage 2>"$TMP/err"
assert_eq 2 $? "no brokers: exit 2"
"$ING" --db "$DB" --brokers "$MB_BOOTSTRAP" --topic usage -X no.such.property=1 --metrics-listen "" 2>"$TMP/err"
assert_eq 2 $? "unknown kafka property: exit 2"

# librdkafka's debug=conf dump redacts only what it flags sensitive (not a PEM blob such as
# ssl.certificate.pem, which may hold the key too, nor the OIDC client secret, which this
# build does not support): no secret -X property reaches the log, nor --check-config
secrets=(-X ssl.certificate.pem=CertAndK3y -X sasl.oauthbearer.config=principal=Pr1nc1pal
    -X ssl.key.password=K3yPassw0rd -X sasl.password=SaslPassw0rd)
"$ING" --db "$DB" --brokers "$MB_BOOTSTRAP" --topic usage --group it-secrets --metrics-listen "" \
    --log-level debug -X debug=conf "${secrets[@]}" 2>"$TMP/secrets.log" &
spid=$!
TEST_PIDS+=("$spid")
wait_for 30 grep -qE 'Client configuration|level=error' "$TMP/secrets.log"
kill -TERM $spid
wait $spid
assert_match 'ssl.certificate.pem = \*\*\*\*\*\*\*\*' "$(cat "$TMP/secrets.log")" "debug=conf: PEM masked"
assert_eq "" "$(grep -E 'CertAndK3y|Pr1nc1pal|K3yPassw0rd|SaslPassw0rd' "$TMP/secrets.log")" "debug=conf: no secret logged"
"$ING" --brokers "$MB_BOOTSTRAP" --topic usage "${secrets[@]}" -X ssl.key.pem=PEMkeyB0dy \
    -X sasl.oauthbearer.client.secret=Cl1entS3cret --check-config >"$TMP/check"
assert_eq 0 $? "--check-config with secret kafka properties: exit 0"
assert_eq "" "$(grep -E 'CertAndK3y|Pr1nc1pal|K3yPassw0rd|SaslPassw0rd|PEMkeyB0dy|Cl1entS3cret' "$TMP/check")" "--check-config: no secret printed"
finish
