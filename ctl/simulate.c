/*
 * simulate.c - tallyctl simulate: realistic Claude Code traffic as messages on
 * stdout, one per line, for the quick start, tests and benchmarks. The expected
 * totals (--totals FILE) and the developer roster (--developers-csv FILE) let a test
 * assert exact sums and let the quick start import the same developers.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "log.h"
#include "sim/sim.h"

/* Writes a file with one of the sim writers; false (logged) on failure. */
static bool write_side_file(const char *path, const char *what, sim *s,
                            bool (*writer)(sim *, FILE *))
{
    FILE *f = fopen(path, "w");
    bool ok;

    if (!f) {
        log_error("could not open %s file \"%s\": %s", what, path, strerror(errno));
        return false;
    }
    ok = writer(s, f);
    if (fclose(f) != 0)
        ok = false;
    if (!ok)
        log_error("could not write %s file \"%s\"", what, path);
    return ok;
}

static bool roster_writer(sim *s, FILE *f)
{
    return sim_roster_write(s, f);
}

/* Reads the options; false (after a message) on a usage error. */
static bool simulate_options(const cfg *c, sim_options *o)
{
    const char *format = cfg_str(c, "format");
    const char *start = cfg_str(c, "start");
    int fmt;

    sim_options_default(o);
    o->developers = (int)cfg_int(c, "developers");
    o->days = (int)cfg_int(c, "days");
    o->seed = (uint64_t)cfg_int(c, "seed");
    o->teams = (int)cfg_int(c, "teams");
    o->max_events = cfg_int(c, "events");
    fmt = sim_format_from_name(format ? format : "usage");
    if (fmt < 0) {
        fprintf(stderr, "tallyctl: invalid value for \"format\": use usage, legacy or monitor\n");
        return false;
    }
    o->format = (event_format)fmt;
    if (start && !sim_parse_date(start, &o->start_us)) {
        fprintf(stderr, "tallyctl: invalid value for \"start\": use YYYY-MM-DD\n");
        return false;
    }
    o->duplicates_ppm = sim_parse_percent(cfg_str(c, "duplicates"));
    o->malformed_ppm = sim_parse_percent(cfg_str(c, "malformed"));
    if (o->duplicates_ppm < 0 || o->malformed_ppm < 0) {
        fprintf(stderr, "tallyctl: invalid value for \"%s\": use a percentage from 0 to 100\n",
                o->duplicates_ppm < 0 ? "duplicates" : "malformed");
        return false;
    }
    return true;
}

int ctl_simulate(const cfg *c)
{
    static char outbuf[1 << 20];
    const char *totals = cfg_str(c, "totals");
    const char *roster = cfg_str(c, "developers_csv");
    const sim_stats *st;
    sim_options o;
    const char *line;
    size_t len;
    char err[128];
    sim *s;
    int rc = CFG_EXIT_RUNTIME;

    if (c->nargs > 0) {
        fprintf(stderr, "tallyctl: simulate takes no arguments\n");
        return CFG_EXIT_USAGE;
    }
    if (!simulate_options(c, &o))
        return CFG_EXIT_USAGE;
    s = sim_new(&o, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "tallyctl: %s\n", err);
        return CFG_EXIT_USAGE;
    }
    if (roster && !write_side_file(roster, "developers", s, roster_writer))
        goto out;
    setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
    while (sim_next(s, &line, &len)) {
        if (fwrite(line, 1, len, stdout) != len || putchar('\n') == EOF) {
            log_error("could not write to standard output: %s", strerror(errno));
            goto out;
        }
    }
    if (sim_error(s)) {
        log_error("could not simulate: %s", sim_error(s));
        goto out;
    }
    if (fflush(stdout) != 0) {
        log_error("could not write to standard output: %s", strerror(errno));
        goto out;
    }
    if (totals && !write_side_file(totals, "totals", s, sim_totals_write))
        goto out;
    st = sim_get_stats(s);
    fprintf(stderr,
            "simulate: lines=%lld events=%lld duplicates=%lld malformed=%lld deferred=%lld "
            "chunked=%lld\n",
            (long long)st->lines, (long long)st->events, (long long)st->duplicates,
            (long long)st->malformed, (long long)st->deferred, (long long)st->chunked);
    rc = CFG_EXIT_OK;
out:
    sim_free(s);
    return rc;
}
