#include "decimal.h"

#include <string.h>

#define DEC_DIGITS (DEC_INT + DEC_FRAC)

void dec_init(dec_sum *s)
{
    memset(s, 0, sizeof(*s));
}

/* a += b, digit arrays; false on overflow of the integer part */
static bool dec_digits_add(unsigned char *a, const unsigned char *b)
{
    int carry = 0;

    for (int i = DEC_DIGITS - 1; i >= 0; i--) {
        int d = a[i] + b[i] + carry;
        carry = d >= 10;
        a[i] = (unsigned char)(d % 10);
    }
    return carry == 0;
}

bool dec_add(dec_sum *s, const char *text)
{
    unsigned char v[DEC_DIGITS] = {0};
    unsigned char tmp[DEC_DIGITS];
    const char *p = text, *dot, *end;
    bool negative = false;
    size_t nint, nfrac;

    if (*p == '-' || *p == '+') {
        negative = *p == '-';
        p++;
    }
    end = p + strlen(p);
    dot = strchr(p, '.');
    nint = (size_t)((dot ? dot : end) - p);
    nfrac = dot ? (size_t)(end - dot - 1) : 0;
    if (nint == 0 || nint > DEC_INT || nfrac > DEC_FRAC || (dot && nfrac == 0))
        return false;
    for (size_t i = 0; i < nint; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v[DEC_INT - nint + i] = (unsigned char)(p[i] - '0');
    }
    for (size_t i = 0; i < nfrac; i++) {
        if (dot[1 + i] < '0' || dot[1 + i] > '9')
            return false;
        v[DEC_INT + i] = (unsigned char)(dot[1 + i] - '0');
    }
    memcpy(tmp, negative ? s->neg : s->pos, DEC_DIGITS);
    if (!dec_digits_add(tmp, v))
        return false;
    memcpy(negative ? s->neg : s->pos, tmp, DEC_DIGITS);
    return true;
}

bool dec_format(const dec_sum *s, char *out, size_t outlen)
{
    unsigned char r[DEC_DIGITS];
    const unsigned char *big = s->pos, *small = s->neg;
    bool negative = false;
    int borrow = 0, first, last;
    size_t n = 0;

    if (memcmp(s->pos, s->neg, DEC_DIGITS) < 0) {
        big = s->neg;
        small = s->pos;
        negative = true;
    }
    for (int i = DEC_DIGITS - 1; i >= 0; i--) {
        int d = big[i] - small[i] - borrow;
        borrow = d < 0;
        r[i] = (unsigned char)(d < 0 ? d + 10 : d);
    }
    for (first = 0; first < DEC_INT - 1 && r[first] == 0; first++)
        ;
    for (last = DEC_DIGITS - 1; last >= DEC_INT && r[last] == 0; last--)
        ;
    if (negative && outlen > 0)
        out[n++] = '-';
    for (int i = first; i <= last; i++) {
        if (i == DEC_INT && n < outlen)
            out[n++] = '.';
        if (n < outlen)
            out[n++] = (char)('0' + r[i]);
    }
    if (n >= outlen)
        return false;
    out[n] = '\0';
    return true;
}

void dec_trim(char *text)
{
    char *dot = strchr(text, '.');
    size_t n;

    if (!dot || strpbrk(text, "eE"))
        return;
    n = strlen(text);
    while (n > (size_t)(dot - text) + 1 && text[n - 1] == '0')
        text[--n] = '\0';
    if (text[n - 1] == '.')
        text[n - 1] = '\0';
}
