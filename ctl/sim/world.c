/*
 * world.c - the constant tables of the simulated organisation (see world.h).
 */
#include "world.h"

const world_model world_models[WORLD_MODELS] = {
    {"claude-sonnet-4-6", "claude-sonnet-4-6", "claude-sonnet-4-6", 500000},
    {"claude-sonnet-4-5", "claude-sonnet-4-5", "claude-sonnet-4-5-20250929", 200000},
    {"claude-opus-4-6", "opus-prod", "claude-opus-4-6", 130000},
    {"claude-opus-4-1", "claude-opus-4-1", "claude-opus-4-1-20250805", 50000},
    {"claude-haiku-4-5", "claude-haiku-4-5", "claude-haiku-4-5-20251001", 120000},
};

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
