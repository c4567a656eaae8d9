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

/* What a deployment's responses say about where they ran (usage.inference_geo). */
typedef enum {
    WORLD_GEO_API, /* Claude API, Claude 4.6 and later: "us" for US-only sessions, else "global" */
    WORLD_GEO_LEGACY, /* older models cannot pin a region: "not_available" */
    WORLD_GEO_NONE,   /* Foundry: no inference_geo; the deployment type sets the residency */
} world_geo;

typedef struct world_model {
    const char *name;           /* as the usage object and GatewayLlmLogs report it */
    const char *deployment;     /* Foundry deployment name */
    const char *legacy;         /* as the accelerator reports it */
    const char *residency;      /* the deployment's residency class ("" = none), for the roster */
    int ppm;                    /* share of sessions (among the models out by then) */
    int from_y, from_m, from_d; /* released: no traffic before this UTC day */
    int64_t max_prompt;         /* the context window: no prompt is larger */
    bool fast;                  /* offers usage.speed "fast" (the Claude API's fast mode) */
    world_geo geo;
} world_model;

#define WORLD_MODELS 10
#define WORLD_MODEL_OPUS 0      /* claude-opus-5-5: Opus fans, the advisor */
#define WORLD_MODEL_HAIKU 4     /* claude-haiku-5-5: subagents and background requests */
#define WORLD_MODEL_OPUS_OLD 8  /* claude-opus-4-6: Opus before Opus 5.5 was out */
#define WORLD_MODEL_HAIKU_OLD 9 /* claude-haiku-4-5: Haiku before Haiku 5.5 was out */
#define WORLD_ADVISOR WORLD_MODEL_OPUS

/* The prompt sizes (input + cache reads + cache writes) where price books may start a
 * tier: the rollups' band breakpoints (docs/architecture.md, the cost engine). */
#define WORLD_BREAKPOINTS 8

extern const int64_t world_breakpoints[WORLD_BREAKPOINTS];

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
    bool fast;   /* the session runs in fast mode (models that offer it) */
    bool geo_us; /* the session pins inference to the US (inference_geo "us") */
    bool cache_1h;
    bool cold; /* the next turn finds no cache (new session, after compaction) */
    int extra; /* a sim_extra: the one-off request that comes before the next turn */
    int turns_left;
    int64_t context; /* tokens in the cached prefix */
    int64_t limit;   /* compaction threshold */
    int64_t last_us;
    int64_t last_output;
} sim_dev;

/* One-off requests between the turns of a session. */
typedef enum {
    EXTRA_NONE,
    EXTRA_SIDE,     /* Claude Code's small background requests (titles, checks): Haiku, uncached */
    EXTRA_SUBAGENT, /* a Haiku subagent's request, prompts on both sides of Haiku 5.5's tier */
    EXTRA_EDGE,     /* the session's model with a prompt at a breakpoint, one under or one over */
} sim_extra;

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
    bool fast;
    bool geo_us;
    /* an advisor iteration (usage format only): the top-level usage is the executor's
     * message iteration, these are the advisor's (WORLD_ADVISOR) */
    bool advisor;
    int64_t adv_input, adv_output, adv_cache_read, adv_write_5m;
    bool stream;
    bool string_counts;
    uint64_t n; /* request number: the request id and message id */
    sim_defect defect;
} sim_req;

#endif
