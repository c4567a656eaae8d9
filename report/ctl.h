/*
 * ctl.h - the commands of tallyctl. Each takes the loaded configuration (positional
 * arguments after the command words are in c->args) and returns an exit code
 * (0 ok, 1 runtime failure, 2 usage). Commands that need the database connect
 * themselves with ctl_connect.
 */
#ifndef TALLY_CTL_H
#define TALLY_CTL_H

#include <libpq-fe.h>

#include "cfg.h"

/* Connects to the configured database (a few attempts) or returns NULL after logging. */
PGconn *ctl_connect(const cfg *c);

int ctl_migrate(const cfg *c);
int ctl_simulate(const cfg *c);

#endif
