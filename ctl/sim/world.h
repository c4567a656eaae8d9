/*
 * world.h - the simulated organisation, shared by the parts of the generator (not for
 * its callers, who use sim.h): the models sessions use, the time zones developers live
 * in, their teams, a developer, and one request as the simulation hands it to rendering
 * and to the totals. The tables are constant; thread-safe.
 */
#ifndef TALLY_SIM_WORLD_H
#define TALLY_SIM_WORLD_H

#include <stdbool.h>
#include <stdint.h>

#include "calendar.h"
#include "membuf.h"

#define NB(a) ((int)(sizeof(a) / sizeof((a)[0])))

typedef struct world_model {
    const char *name;       /* as the usage object and GatewayLlmLogs report it */
    const char *deployment; /* Foundry deployment name */
    const char *legacy;     /* as the accelerator reports it */
    int ppm;                /* share of sessions */
} world_model;

#define WORLD_MODELS 5
#define WORLD_MODEL_OPUS 2
#define WORLD_MODEL_HAIKU 4

extern const world_model world_models[WORLD_MODELS];

typedef struct world_zone {
    const char *name;
    int std_min; /* standard offset east of UTC */
    calendar_dst dst;
    int ppm; /* share of developers */
    const char *region;
    const char *backend;
} world_zone;

#define WORLD_ZONES 9

extern const world_zone world_zones[WORLD_ZONES];

/* Appends the name of team number team (platform, payments, … then platform2, …). */
void world_team_name(membuf *b, int team);

/* A developer: who they are (what rendering reads) and where they are in their day. */
typedef struct sim_dev {
    uint64_t rng;
    int index, zone, team;
    bool opus_fan;
    char oid[37];
    char upn[96];
    char display[96];
    char ip[20];
    /* the working day */
    int day; /* next day to plan */
    int64_t day_end_us;
    int64_t next_us; /* when the next request is made; INT64_MAX when done */
    /* the session */
    char session[37];
    int model;
    bool cache_1h;
    bool cold; /* the next turn finds no cache (new session, after compaction) */
    bool side_next;
    int turns_left;
    int64_t context; /* tokens in the cached prefix */
    int64_t limit;   /* compaction threshold */
    int64_t last_us;
    int64_t last_output;
} sim_dev;

/* What makes a malformed line malformed. */
typedef enum {
    DEFECT_NONE,
    DEFECT_NEGATIVE,
    DEFECT_NO_ID,
    DEFECT_BAD_TIME,
    DEFECT_NO_MODEL,
    DEFECT_BAD_COUNT,
    DEFECT_TRUNCATED,
    DEFECT_NOT_JSON,
    DEFECT_COUNT,
} sim_defect;

/* One request of a developer, as counted (the tokens) and rendered. */
typedef struct sim_req {
    const sim_dev *dev;
    int64_t time_us;
    int model; /* index into world_models */
    int64_t input, output, cache_read, write_5m, write_1h, web_search;
    bool stream;
    bool string_counts;
    uint64_t n; /* request number: the request id and message id */
    sim_defect defect;
} sim_req;

#endif
