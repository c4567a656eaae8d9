/*
 * ctl.h - the commands of tallyctl. Each takes the loaded configuration (positional
 * arguments after the command words are in c->args) and returns an exit code
 * (0 ok, 1 runtime failure, 2 usage). Commands that need the database connect
 * themselves with ctl_connect. Single-threaded, like tallyctl.
 */
#ifndef TALLY_CTL_H
#define TALLY_CTL_H

#include <stddef.h>

#include <libpq-fe.h>

#include "cfg.h"

/* ctl.c: the helpers every command shares. */

/* Connects to the configured database (a few attempts) or returns NULL after logging. */
PGconn *ctl_connect(const cfg *c);

/* Connects like ctl_connect and sets the session time zone to UTC. */
PGconn *ctl_connect_utc(const cfg *c);

/* Reads a whole file (at most 64 MB) NUL-terminated; NULL after logging. Caller frees. */
char *ctl_read_file(const char *path, size_t *len);

/*
 * Reads one RFC 4180 record at *pos into fields (pointers into buf, which is modified in
 * place: quotes removed, fields NUL-terminated). Returns the number of fields, 0 at the end,
 * -1 on malformed input or more than max fields.
 */
int ctl_csv_record(char *buf, size_t len, size_t *pos, char **fields, int max);

/* ctl_read_file for text: a file holding a NUL byte is refused (logged). Caller frees. */
char *ctl_read_text(const char *path, size_t *len);

/* Prints a result as tab-separated lines under a header of its column names. */
void ctl_print_tsv(const PGresult *res);

/* Runs a query without parameters and prints its rows as tab-separated lines under a
 * header of the column names; returns an exit code. */
int ctl_print_query(const cfg *c, const char *what, const char *sql);

/* The commands, one file per family: migrate.c, prices.c, dimensions.c, tokens.c, quotas.c
 * (quotas and alerts), months.c, grafana.c (per-team Grafana logins), simulate.c, reconcile.c (the
 * Azure bill). */
int ctl_migrate(const cfg *c);
int ctl_prices_load(const cfg *c);
int ctl_prices_list(const cfg *c);
int ctl_prices_show(const cfg *c);
int ctl_prices_check(const cfg *c);
int ctl_deployments_set(const cfg *c);
int ctl_deployments_list(const cfg *c);
int ctl_developers_import(const cfg *c);
int ctl_tokens_create(const cfg *c);
int ctl_tokens_list(const cfg *c);
int ctl_tokens_revoke(const cfg *c);
int ctl_quotas_list(const cfg *c);
int ctl_quotas_create(const cfg *c);
int ctl_quotas_delete(const cfg *c);
int ctl_quotas_status(const cfg *c);
int ctl_quotas_evaluate(const cfg *c);
int ctl_alerts_deliver(const cfg *c);
int ctl_alerts_list(const cfg *c);
int ctl_months_close(const cfg *c);
int ctl_months_list(const cfg *c);
int ctl_months_show(const cfg *c);
int ctl_months_reopen(const cfg *c);
int ctl_grafana_role_create(const cfg *c);
int ctl_grafana_role_list(const cfg *c);
int ctl_grafana_role_drop(const cfg *c);
int ctl_simulate(const cfg *c);
int ctl_reconcile_map(const cfg *c);
int ctl_reconcile_resources(const cfg *c);
int ctl_reconcile_import(const cfg *c);
int ctl_reconcile_imports(const cfg *c);

#endif
