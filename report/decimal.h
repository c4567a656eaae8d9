/*
 * decimal.h - exact sums of decimal strings (Postgres numeric text), for the totals of
 * JSON reports: money never passes through a double. Fixed point with DEC_FRAC
 * fraction digits and DEC_INT integer digits, which covers any cost a report sums.
 * Pure; a dec_sum is not shared between threads.
 */
#ifndef TALLY_DECIMAL_H
#define TALLY_DECIMAL_H

#include <stdbool.h>
#include <stddef.h>

#define DEC_INT 40
#define DEC_FRAC 40

typedef struct dec_sum {
    unsigned char pos[DEC_INT + DEC_FRAC]; /* digits, most significant first */
    unsigned char neg[DEC_INT + DEC_FRAC];
} dec_sum;

void dec_init(dec_sum *s);

/*
 * Adds a decimal string ("-12.3400", "5", ".5" is refused: Postgres never prints it).
 * False (sum unchanged) when the text is not a plain decimal or does not fit.
 */
bool dec_add(dec_sum *s, const char *text);

/*
 * Writes the sum with trailing fraction zeros trimmed ("0", "12.34", "-0.5") into out;
 * false when it does not fit in outlen.
 */
bool dec_format(const dec_sum *s, char *out, size_t outlen);

/* Trims trailing fraction zeros of a decimal string in place ("1.500" -> "1.5", "2.0" -> "2"). */
void dec_trim(char *text);

#endif
