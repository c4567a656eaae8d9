/* unpriced.c - GET /v1/usage/unpriced: usage the newest price book cannot price. */
#include "routes.h"

void route_usage_unpriced(http_req *req)
{
    const query *q = http_query(req);
    char from[40], to[40];
    const char *params[2] = {from, to};
    route_book book;
    json_t *header;

    /* tally_unpriced judges by the newest book: name it */
    if (!route_book_resolve(req, &book) || !route_range(req, from, to))
        return;
    header = json_object();
    json_object_set_new(header, "from", json_string(from));
    json_object_set_new(header, "to", json_string(to));
    json_object_set_new(header, "tz", json_string(q->tz));
    json_object_set_new(header, "price_book", route_book_json(&book));
    route_reply_usage(req, "SELECT * FROM tally_unpriced($1::timestamptz, $2::timestamptz)", 2,
                      params, header, "tally-unpriced.csv");
}
