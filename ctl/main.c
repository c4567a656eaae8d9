/* tallyctl: the admin tool. Reads the config, dispatches the command, exits. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cfg.h"
#include "alert.h"
#include "ctl.h"
#include "log.h"
#include "months.h"

static const cfg_spec CTL_SPEC[] = {
    {"db", CFG_STR, "", 0, 0, NULL, CFG_CONNINFO,
     "PostgreSQL conninfo (libpq; PG* variables work)"},
    {"log_level", CFG_STR, "info", 0, 0, "error|warn|info|debug", CFG_PUBLIC, "log level"},
    {"developers", CFG_INT, "20", 1, 1000000, NULL, CFG_PUBLIC, "simulate: number of developers"},
    {"days", CFG_INT, "7", 1, 3660, NULL, CFG_PUBLIC, "simulate: number of days"},
    {"seed", CFG_INT, "1", 0, 9223372036854775807LL, NULL, CFG_PUBLIC, "simulate: random seed"},
    {"format", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, "simulate: usage|legacy|monitor (usage)"},
    {"start", CFG_STR, "2026-11-02", 0, 0, NULL, CFG_PUBLIC, "simulate: first day, YYYY-MM-DD"},
    {"duplicates", CFG_STR, "1", 0, 0, NULL, CFG_PUBLIC, "simulate: % of lines delivered twice"},
    {"malformed", CFG_STR, "0.5", 0, 0, NULL, CFG_PUBLIC, "simulate: % extra malformed lines"},
    {"teams", CFG_INT, "3", 1, 100000, NULL, CFG_PUBLIC, "simulate: number of teams"},
    {"events", CFG_INT, "0", 0, 9223372036854775807LL, NULL, CFG_PUBLIC,
     "simulate: stop after this many events (0: all)"},
    {"totals", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, "simulate: write expected totals CSV here"},
    {"developers_csv", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC,
     "simulate: write the developer roster CSV here"},
    {"from", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC,
     "deployments set: mapping valid from (UTC); prices check: first day (UTC)"},
    {"to", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, "prices check: day after the last (UTC)"},
    {"book", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, "prices check: price book (the newest)"},
    {"residency", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC,
     "deployments set: residency class of the deployment's usage (e.g. data-zone-us)"},
    {"role", CFG_STR, NULL, 0, 0, "finance|lead|developer|platform", CFG_PUBLIC,
     "tokens create: role of the token"},
    {"team", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC,
     "tokens create: team of a lead token; grafana-role: the login's team"},
    {"login", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC,
     "grafana-role create: name of the team's login (grafana_<team>)"},
    {"password_file", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC,
     "grafana-role create: file holding the login's password (never printed)"},
    {"developer", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, "tokens create: oid of a developer token"},
    {"name", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, "tokens create: name of the token"},
    {"now", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC,
     "quotas evaluate, quotas status: as of this instant instead of now"},
    {"tz", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC, "months close, reopen: the zone of the month"},
    {"price_book", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC,
     "months close: price book of the snapshot (the newest)"},
    {"force", CFG_BOOL, "false", 0, 0, NULL, CFG_PUBLIC,
     "months close: close despite ingest gaps or the lateness window (needs --reason)"},
    {"reason", CFG_STR, NULL, 0, 0, NULL, CFG_PUBLIC,
     "months close --force, months reopen: why (recorded in the audit)"},
    ALERT_CFG_SPEC,
    MONTHS_CFG_SPEC,
};

typedef struct ctl_command {
    const char *words; /* the command words, space-separated */
    int (*run)(const cfg *c);
    const char *usage;
    bool takes_args; /* false: any word after the command is refused here */
} ctl_command;

static const ctl_command CTL_COMMANDS[] = {
    {"migrate", ctl_migrate, "migrate                      apply pending schema migrations", false},
    {"simulate", ctl_simulate,
     "simulate [--developers N] [--days N] [--seed N] [--format usage|legacy|monitor]\n"
     "           [--start YYYY-MM-DD] [--events N] [--duplicates PCT] [--malformed PCT]\n"
     "           [--teams N] [--totals FILE] [--developers-csv FILE]\n"
     "                               Claude Code traffic as events on stdout",
     false},
    {"prices load", ctl_prices_load, "prices load FILE             load a price book (JSON)", true},
    {"prices list", ctl_prices_list, "prices list                  list loaded price books", false},
    {"prices show", ctl_prices_show, "prices show BOOK             the prices of a loaded book",
     true},
    {"prices check", ctl_prices_check,
     "prices check [--book NAME] [--from DATE] [--to DATE]\n"
     "                               usage the book cannot price, and why (exit 1 if any)",
     false},
    {"deployments set", ctl_deployments_set,
     "deployments set NAME MODEL [--from TIMESTAMP] [--residency CLASS]\n"
     "                               map a deployment to a model (and residency) from a time on",
     true},
    {"deployments list", ctl_deployments_list, "deployments list             the dated mappings",
     false},
    {"developers import", ctl_developers_import,
     "developers import FILE.csv   oid,upn,display_name,team,cost_center[,valid_from]", true},
    {"tokens create", ctl_tokens_create,
     "tokens create --role finance|lead|developer|platform [--team T] [--developer OID]\n"
     "           --name N          prints the token once",
     false},
    {"tokens list", ctl_tokens_list, "tokens list                  API tokens (never their values)",
     false},
    {"tokens revoke", ctl_tokens_revoke, "tokens revoke NAME           revoke an API token", true},
    {"quotas list", ctl_quotas_list, "quotas list                  quotas and their targets' kinds",
     false},
    {"quotas create", ctl_quotas_create,
     "quotas create name=N scope=developer|team|everyone [subject=S] metric=cost_usd|tokens\n"
     "           period=day|week|month [tz=ZONE] limit=DECIMAL [thresholds=50,80,100]\n"
     "           [forecast=true] [target=KIND,URL[,env:NAME|file:PATH]]…",
     true},
    {"quotas delete", ctl_quotas_delete,
     "quotas delete ID|NAME        delete a quota and its alerts", true},
    {"quotas status", ctl_quotas_status,
     "quotas status [--now TS]     usage in the current periods", false},
    {"quotas evaluate", ctl_quotas_evaluate,
     "quotas evaluate [--now TS]   fire the thresholds crossed (once per period)", false},
    {"months close", ctl_months_close,
     "months close YYYY-MM --tz ZONE [--price-book NAME] [--force --reason TEXT]\n"
     "                               freeze the month's chargeback (CSV, JSON, lines)",
     true},
    {"months list", ctl_months_list, "months list                  every close, newest first",
     false},
    {"months show", ctl_months_show,
     "months show YYYY-MM          closes, audit and pending corrections (JSON)", true},
    {"months reopen", ctl_months_reopen,
     "months reopen YYYY-MM --tz ZONE --reason TEXT\n"
     "                               reopen a closed month (recorded)",
     true},
    {"alerts deliver", ctl_alerts_deliver, "alerts deliver               send the alerts due now",
     false},
    {"grafana-role create", ctl_grafana_role_create,
     "grafana-role create --team T [--login NAME] [--password-file FILE]\n"
     "                               a login for the team's Grafana data source: its rows only",
     false},
    {"grafana-role list", ctl_grafana_role_list,
     "grafana-role list            the teams' Grafana logins (never their passwords)", false},
    {"grafana-role drop", ctl_grafana_role_drop,
     "grafana-role drop LOGIN | --team T\n"
     "                               drop a team's Grafana login(s)",
     true},
    {"reconcile map", ctl_reconcile_map,
     "reconcile map DEPLOYMENT RESOURCE_ID\n"
     "                               the Foundry resource (ARM id) serving a deployment",
     true},
    {"reconcile resources", ctl_reconcile_resources,
     "reconcile resources          the deployment -> Foundry resource mappings", false},
    {"reconcile import", ctl_reconcile_import,
     "reconcile import FILE.csv…   load an Azure Cost Management FOCUS export (one run)", true},
    {"reconcile imports", ctl_reconcile_imports,
     "reconcile imports            the imported exports and the months they are the bill of",
     false},
    {"alerts list", ctl_alerts_list, "alerts list                  fired alerts and delivery state",
     false},
};

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void ctl_usage(FILE *out)
{
    fprintf(out, "usage: tallyctl [--config FILE] [--db CONNINFO] COMMAND …\n\ncommands:\n");
    for (int i = 0; i < N(CTL_COMMANDS); i++)
        fprintf(out, "  tallyctl %s\n", CTL_COMMANDS[i].usage);
}

/* Matches the leading positional words of c against a command; returns how many. */
static int ctl_match(const cfg *c, const char *words)
{
    char buf[128];
    int n = 0;

    snprintf(buf, sizeof(buf), "%s", words);
    for (char *save = NULL, *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        if (n >= c->nargs || strcmp(c->args[n], w) != 0)
            return -1;
        n++;
    }
    return n;
}

int main(int argc, char **argv)
{
    cfg c;
    int rc = cfg_load(&c, "tallyctl", CTL_SPEC, N(CTL_SPEC), argc, argv);

    if (rc != CFG_EXIT_OK)
        goto out;
    if (c.help) {
        ctl_usage(stdout);
        putchar('\n');
    }
    rc = cfg_info(&c, "tallyctl [options] COMMAND …");
    if (rc >= 0)
        goto out;
    if (c.nargs == 0) {
        ctl_usage(stderr);
        rc = CFG_EXIT_USAGE;
        goto out;
    }
    if (log_init("tallyctl", cfg_str(&c, "log_level")) != 0) {
        fprintf(stderr, "tallyctl: invalid value for \"log_level\"\n");
        rc = CFG_EXIT_USAGE;
        goto out;
    }
    for (int i = 0; i < N(CTL_COMMANDS); i++) {
        int used = ctl_match(&c, CTL_COMMANDS[i].words);
        if (used > 0) {
            if (!CTL_COMMANDS[i].takes_args && !cfg_no_args(&c, used)) {
                rc = CFG_EXIT_USAGE;
                goto out;
            }
            c.args += used;
            c.nargs -= used;
            rc = CTL_COMMANDS[i].run(&c);
            c.args -= used;
            goto out;
        }
    }
    fprintf(stderr, "tallyctl: unknown command \"%s\"\n", c.args[0]);
    ctl_usage(stderr);
    rc = CFG_EXIT_USAGE;
out:
    cfg_cleanup(&c);
    return rc;
}
