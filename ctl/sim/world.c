/*
 * world.c - the constant tables of the simulated organisation (see world.h).
 */
#include "world.h"

/* Today's Claude Code mix: Opus 5.5 and Sonnet 5.5 as main agents, Haiku 5.5 for
 * subagents, a little Opus 5 and Fable 5.2, the 4.x models rare. A session picks among
 * the models released by its day. The Foundry deployments: Sonnet 5.5 in a US Data Zone
 * Standard deployment, and Opus 5.5's fast-mode model (its own id ending in -fast). */
#define M1 1000000 /* a 1M-token context window */
const world_model world_models[WORLD_MODELS] = {
    {"claude-opus-5-5", "claude-opus-5-5", "claude-opus-5-5", "", 380000, 2026, 9, 22, M1, true,
     WORLD_GEO_API},
    {"claude-sonnet-5-5", "claude-sonnet-5-5", "claude-sonnet-5-5", "", 330000, 2026, 9, 28, M1,
     false, WORLD_GEO_API},
    {"claude-sonnet-5-5", "claude-sonnet-5-5-us", "claude-sonnet-5-5", "data-zone-us", 50000, 2026,
     9, 28, M1, false, WORLD_GEO_NONE},
    {"claude-opus-5-5-fast", "claude-opus-5-5-fast", "claude-opus-5-5-fast", "", 30000, 2026, 9, 22,
     M1, false, WORLD_GEO_NONE},
    {"claude-haiku-5-5", "claude-haiku-5-5", "claude-haiku-5-5", "", 60000, 2026, 10, 7, M1, false,
     WORLD_GEO_API},
    {"claude-opus-5", "claude-opus-5", "claude-opus-5", "", 50000, 2026, 7, 24, M1, true,
     WORLD_GEO_API},
    {"claude-fable-5-2", "claude-fable-5-2", "claude-fable-5-2", "", 50000, 2026, 11, 9, M1, true,
     WORLD_GEO_API},
    {"claude-sonnet-4-6", "claude-sonnet-4-6", "claude-sonnet-4-6", "", 20000, 1970, 1, 1, M1,
     false, WORLD_GEO_API},
    {"claude-opus-4-6", "opus-prod", "claude-opus-4-6", "", 15000, 1970, 1, 1, M1, false,
     WORLD_GEO_API},
    {"claude-haiku-4-5", "claude-haiku-4-5", "claude-haiku-4-5-20251001", "", 15000, 1970, 1, 1,
     200000, false, WORLD_GEO_LEGACY},
};

const int64_t world_breakpoints[WORLD_BREAKPOINTS] = {32000,  64000,  100000, 128000,
                                                      200000, 256000, 500000, 1000000};

const world_zone world_zones[WORLD_ZONES] = {
    {"Europe/Berlin", 60, CALENDAR_DST_EU, 250000, "Sweden Central", "foundry-swc"},
    {"America/New_York", -300, CALENDAR_DST_US, 200000, "East US 2", "foundry-eus2"},
    {"Asia/Kolkata", 330, CALENDAR_DST_NONE, 150000, "Central India", "foundry-inc"},
    {"America/Los_Angeles", -480, CALENDAR_DST_US, 120000, "East US 2", "foundry-eus2"},
    {"Europe/London", 0, CALENDAR_DST_EU, 80000, "Sweden Central", "foundry-swc"},
    {"Asia/Kathmandu", 345, CALENDAR_DST_NONE, 50000, "Central India", "foundry-inc"},
    {"Europe/Warsaw", 60, CALENDAR_DST_EU, 50000, "Sweden Central", "foundry-swc"},
    {"America/Sao_Paulo", -180, CALENDAR_DST_NONE, 50000, "East US 2", "foundry-eus2"},
    {"Asia/Tokyo", 540, CALENDAR_DST_NONE, 50000, "Central India", "foundry-inc"},
};

static const char *const TEAM_NAMES[] = {"platform", "payments", "search",   "mobile",
                                         "data",     "identity", "checkout", "infra",
                                         "ml",       "web",      "billing",  "growth"};

void world_team_name(membuf *b, int team)
{
    membuf_puts(b, TEAM_NAMES[team % NB(TEAM_NAMES)]);
    if (team >= NB(TEAM_NAMES))
        membuf_printf(b, "%d", team / NB(TEAM_NAMES) + 1);
}
