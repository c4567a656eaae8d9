/*
 * totals.h - the expected sums of a simulated stream, per developer × model, over the
 * valid distinct events and as the parser of the stream's format will read them (a
 * format that does not carry a class reads it as 0), and their CSV (tallyctl simulate
 * --totals). Pure apart from the FILE it writes to; a totals belongs to one thread.
 */
#ifndef TALLY_SIM_TOTALS_H
#define TALLY_SIM_TOTALS_H

#include <stdbool.h>
#include <stdio.h>

#include "event.h"
#include "sim.h"
#include "world.h"

typedef struct totals {
    event_format format;
    int ndevs;
    sim_total *rows;   /* ndevs × WORLD_MODELS, in developer index order */
    sim_total *sorted; /* what totals_sorted hands out */
} totals;

/* Zeroed totals for the ndevs developers at devs (their oids are referenced, not
 * copied: devs must outlive t); false if out of memory. Clean up with totals_cleanup,
 * also after a failure. */
bool totals_init(totals *t, const sim_dev *devs, int ndevs, event_format format);

void totals_cleanup(totals *t);

/* Counts one valid distinct request. */
void totals_add(totals *t, const sim_req *r);

/* The rows with requests, ordered by developer oid then model (bytewise); returns how
 * many. The rows stay valid until the next totals_add, totals_sorted or totals_cleanup. */
int totals_sorted(totals *t, const sim_total **rows);

/* Writes the rows as CSV with a header and a final "total" row; false on a write error. */
bool totals_write(totals *t, FILE *out);

#endif
