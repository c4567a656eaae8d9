# Helpers of the quick-start tests (sourced after tests/lib.sh and need_env).

chmod 755 "$TMP" # the quick start's PostgreSQL runs as the postgres user in here

# qs_background DIR OUT [VAR=VALUE…]: deploy/quickstart.sh, interactive, in the background on
# the built binaries, in DIR, its output in OUT; sets QS_PID. On the test's exit it is
# stopped with SIGTERM (it then stops what it started), never left to kill -9.
qs_background() {
    local dir=$1 out=$2
    shift 2
    env QUICKSTART_SKIP_BUILD=1 QUICKSTART_BUILD_DIR="$BIN" QUICKSTART_DIR="$dir" "$@" \
        bash "$SRC/deploy/quickstart.sh" </dev/null >"$out" 2>&1 &
    QS_PID=$!
    trap qs_cleanup EXIT
}

qs_cleanup() {
    local rc=$?
    if kill -0 "$QS_PID" 2>/dev/null; then
        kill -TERM "$QS_PID"
        for _ in $(seq 1 300); do kill -0 "$QS_PID" 2>/dev/null || break; sleep 0.1; done
    fi
    (exit $rc)
    test_cleanup
}
