/*
 * price_book.h - parses and validates a price book (schema/prices/README.md) from a
 * buffer into plain structs. Pure: no I/O, no global state, thread-safe.
 *
 * Prices stay exact: each is kept as the validated decimal text of the file
 * ("3.75"), never converted to binary floating point; Postgres stores it as numeric.
 */
#ifndef TALLY_PRICE_BOOK_H
#define TALLY_PRICE_BOOK_H

#include <stdbool.h>
#include <stddef.h>

/* Longest decimal accepted: 9 integer digits, a point, 9 fraction digits. */
#define PRICE_DECIMAL_MAX 20
#define PRICE_DATE_LEN 10 /* YYYY-MM-DD */

/* The only long-context threshold the rollups can honour (events are flagged at it). */
#define PRICE_LC_THRESHOLD 200000

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

typedef struct price_rates {
    char usd_per_mtok[PRICE_NCLASSES][PRICE_DECIMAL_MAX + 1]; /* decimal text */
} price_rates;

typedef struct price_range {
    char effective_from[PRICE_DATE_LEN + 1]; /* UTC date, inclusive */
    char effective_to[PRICE_DATE_LEN + 1];   /* UTC date, exclusive; "" = open */
    price_rates base;
    bool has_long_context;
    long long lc_threshold;
    price_rates long_context;
} price_range;

typedef struct price_model {
    char *model;
    char **aliases;
    size_t naliases;
    price_range *ranges;
    size_t nranges;
} price_model;

typedef struct price_book {
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
