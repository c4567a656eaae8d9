/*
 * price_book.h - parses and validates a price book (schema/prices/README.md) from a
 * buffer into plain structs. Pure: no I/O, no global state, thread-safe.
 *
 * Two formats: v1 (no "format" key: base rates and an optional 200000-token long_context)
 * and v2 ("format": 2: any prompt tiers at band breakpoints, fast mode, residency
 * multipliers, a source and read date on every entry). Both parse into the same structs.
 *
 * Prices and multipliers stay exact: each is kept as the validated decimal text of the
 * file ("3.75"), never converted to binary floating point; Postgres stores it as numeric.
 */
#ifndef TALLY_PRICE_BOOK_H
#define TALLY_PRICE_BOOK_H

#include <stdbool.h>
#include <stddef.h>

/* Longest decimal accepted: 9 integer digits, a point, 9 fraction digits. */
#define PRICE_DECIMAL_MAX 20
#define PRICE_DATE_LEN 10 /* YYYY-MM-DD */

/* A v1 book's long_context threshold (the only one v1 accepts). */
#define PRICE_LC_THRESHOLD 200000

/* At most one tier per prompt band breakpoint (common/tokens.h). */
#define PRICE_MAX_TIERS 8
#define PRICE_CLASS_NAME_MAX 32 /* a residency class: [a-z0-9-]+ */

typedef enum {
    PRICE_INPUT,
    PRICE_OUTPUT,
    PRICE_CACHE_WRITE_5M,
    PRICE_CACHE_WRITE_1H,
    PRICE_CACHE_READ,
    PRICE_NCLASSES
} price_class;

/* The JSON key of each class, in price_class order. */
extern const char *const PRICE_CLASS_KEYS[PRICE_NCLASSES];

/*
 * Decimal text per class. "" = no published price (JSON null): only a tier's class can be
 * one, and usage in that tier is unpriced (schema/prices/README.md, "tiers").
 */
typedef struct price_rates {
    char usd_per_mtok[PRICE_NCLASSES][PRICE_DECIMAL_MAX + 1];
} price_rates;

/* The rates of a whole request whose prompt is over over_tokens (a breakpoint). */
typedef struct price_tier {
    long long over_tokens;
    price_rates rates;
} price_tier;

/* One speed's rates: the base tier (over 0 tokens) and the higher ones, ascending. */
typedef struct price_schedule {
    price_rates base;
    size_t ntiers;
    price_tier tiers[PRICE_MAX_TIERS];
} price_schedule;

typedef enum {
    PRICE_FAST_NONE,       /* no fast mode in this range */
    PRICE_FAST_MULTIPLIER, /* fast = multiplier x standard, every class and tier */
    PRICE_FAST_EXPLICIT    /* fast has its own schedule (same tiers as standard) */
} price_fast_kind;

typedef struct price_residency {
    char name[PRICE_CLASS_NAME_MAX + 1];
    char multiplier[PRICE_DECIMAL_MAX + 1]; /* decimal text, > 0 */
} price_residency;

typedef struct price_range {
    char effective_from[PRICE_DATE_LEN + 1]; /* UTC date, inclusive */
    char effective_to[PRICE_DATE_LEN + 1];   /* UTC date, exclusive; "" = open */
    char *source;                            /* v2: URL of the page read; NULL in v1 */
    char read[PRICE_DATE_LEN + 1];           /* v2: when that copy was current; "" in v1 */
    price_schedule standard;                 /* v1: long_context is the one tier, over 200000 */
    price_fast_kind fast_kind;
    char fast_multiplier[PRICE_DECIMAL_MAX + 1]; /* PRICE_FAST_MULTIPLIER */
    price_schedule fast;                         /* PRICE_FAST_EXPLICIT */
    price_residency *residency;                  /* classes not listed: multiplier 1 */
    size_t nresidency;
} price_range;

typedef struct price_model {
    char *model;
    char **aliases;
    size_t naliases;
    char **fast_aliases; /* v2: ids meaning this model in fast mode */
    size_t nfast_aliases;
    price_range *ranges;
    size_t nranges;
} price_model;

typedef struct price_book {
    int format; /* 1 (no "format" key) or 2 */
    char *name;
    char published[PRICE_DATE_LEN + 1];
    char *currency;
    char *unit;
    price_model *models;
    size_t nmodels;
} price_book;

/*
 * Parses and validates len bytes of JSON. Returns a new book (free with
 * price_book_free) or NULL with a one-line message in err naming the model and the
 * field, e.g. model "claude-sonnet-4-5", prices[0]: "input" is negative: "-3".
 */
price_book *price_book_parse(const char *buf, size_t len, char *err, size_t errlen);

void price_book_free(price_book *b);

#endif
