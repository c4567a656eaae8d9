#include "problem.h"

#include <string.h>

#include <jansson.h>

const char *problem_title(int status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 503:
        return "Service Unavailable";
    default:
        return status >= 500 ? "Internal Server Error" : "Error";
    }
}

char *problem_json(int status, const char *param, const char *detail)
{
    json_t *o = json_object(), *dv;
    char *text;

    if (!o)
        return NULL;
    json_object_set_new(o, "type", json_string("about:blank"));
    json_object_set_new(o, "title", json_string(problem_title(status)));
    json_object_set_new(o, "status", json_integer(status));
    /* details may quote request input: only valid UTF-8 gets through jansson */
    dv = json_string(detail);
    json_object_set_new(o, "detail", dv ? dv : json_string("invalid input"));
    if (param && param[0]) {
        json_t *pv = json_string(param);
        json_object_set_new(o, "parameter", pv ? pv : json_string("?"));
    }
    text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(o);
    return text;
}

int problem_db_status(const char *sqlstate, bool conn_ok)
{
    if (!conn_ok || !sqlstate || strncmp(sqlstate, "08", 2) == 0 ||
        strcmp(sqlstate, "57014") == 0 || strncmp(sqlstate, "57P", 3) == 0 ||
        strncmp(sqlstate, "53", 2) == 0)
        return 503;
    if (strncmp(sqlstate, "22", 2) == 0 || strcmp(sqlstate, "P0001") == 0 ||
        strcmp(sqlstate, "P0002") == 0)
        return 400;
    return 500;
}
