/*
 * prices.c - GET /v1/prices: the rows of one price book (price_book=, default the
 * newest), and in JSON the list of every loaded book.
 */
#include <string.h>

#include "db.h"
#include "routes.h"

static json_t *prices_books(PGconn *conn)
{
    PGresult *res =
        db_query(conn, "list price books",
                 "SELECT name, sha256, published::text, " ROUTE_TS_SQL(
                     "loaded_at") ", "
                                  "id = tally_book(NULL) FROM price_books ORDER BY published, id",
                 0, NULL);
    json_t *books = json_array();

    if (!res)
        return books;
    for (int i = 0; i < PQntuples(res); i++) {
        json_t *b = json_object();
        json_object_set_new(b, "name", json_string(PQgetvalue(res, i, 0)));
        json_object_set_new(b, "sha256", json_string(PQgetvalue(res, i, 1)));
        json_object_set_new(b, "published", json_string(PQgetvalue(res, i, 2)));
        json_object_set_new(b, "loaded_at", json_string(PQgetvalue(res, i, 3)));
        json_object_set_new(b, "newest", json_boolean(PQgetvalue(res, i, 4)[0] == 't'));
        json_array_append_new(books, b);
    }
    PQclear(res);
    return books;
}

void route_prices(http_req *req)
{
    route_book book;
    const char *params[1];
    http_rows rows = {0};
    json_t *header;
    bool csv = http_wants_csv(req);

    if (!route_book_resolve(req, &book))
        return;
    params[0] = route_book_param(&book);
    header = json_object();
    json_object_set_new(header, "price_book", route_book_json(&book));
    if (!csv)
        json_object_set_new(header, "books", prices_books(http_db(req)));
    rows.sql =
        "SELECT b.name AS price_book, p.model, "
        "(SELECT coalesce(string_agg(a.alias, ' ' ORDER BY a.alias), '') "
        "FROM price_aliases a WHERE a.book_id = p.book_id AND a.model = p.model) AS "
        "aliases, " ROUTE_TS_SQL("p.effective_from") " AS effective_from, " ROUTE_TS_SQL(
            "p.effective_to") " AS effective_to, "
                              "p.input, p.output, p.cache_write_5m, p.cache_write_1h, "
                              "p.cache_read, "
                              "p.lc_threshold, p.lc_input, p.lc_output, p.lc_cache_write_5m, "
                              "p.lc_cache_write_1h, p.lc_cache_read "
                              "FROM prices p JOIN price_books b ON b.id = p.book_id "
                              "WHERE p.book_id = $1::int ORDER BY p.model, p.effective_from";
    rows.nparams = 1;
    rows.params = params;
    rows.csv = csv;
    rows.header = header;
    rows.filename = "tally-prices.csv";
    http_reply_rows(req, &rows);
}
