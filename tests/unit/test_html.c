/* report/html.c (escaping, URL values, SVG bars) and report/signin.c's cookie parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "html.h"
#include "membuf.h"
#include "signin.h"

static void test_put_escapes_values(void **state)
{
    membuf b = MEMBUF_INIT;

    (void)state;
    html_put(&b, "<td title=\"%s\">%s</td>%d %ld %lld 100%%", "a\"b'c", "<script>&amp;", -7, 8L,
             9LL);
    assert_string_equal(b.data, "<td title=\"a&quot;b&#39;c\">&lt;script&gt;&amp;amp;</td>"
                                "-7 8 9 100%");
    membuf_free(&b);
}

static void test_url_value(void **state)
{
    membuf b = MEMBUF_INIT;

    (void)state;
    html_url_value(&b, "Etc/GMT+5 &\"x\"~");
    assert_string_equal(b.data, "Etc%2FGMT%2B5%20%26%22x%22~");
    membuf_free(&b);
}

static void test_bar_chart(void **state)
{
    membuf b = MEMBUF_INIT;
    html_bar bars[2] = {
        {"red", "red", "$2", "2", "5", HTML_BAR_FULL},
        {"<b>", "a-very-long-team-name-that-goes-on-and-on", "$0.5", NULL, NULL, 250},
    };

    (void)state;
    html_bar_chart(&b, "teams-chart", "Spend by team", bars, 2);
    assert_non_null(strstr(b.data, "<g class=\"bar\" data-key=\"red\" data-usd=\"2\" "
                                   "data-requests=\"5\"><title>red: $2</title>"));
    assert_non_null(strstr(b.data, "<rect x=\"200\" y=\"4\" width=\"300\" height=\"18\""));
    assert_non_null(strstr(b.data, "<g class=\"bar\" data-key=\"&lt;b&gt;\"><title>"));
    assert_non_null(strstr(b.data, "width=\"75\" height=\"18\""));
    /* 26 characters, then an ellipsis; the title keeps the whole name */
    assert_non_null(strstr(b.data, ">a-very-long-team-name-that\xe2\x80\xa6</text>"));
    assert_non_null(strstr(b.data, "<title>a-very-long-team-name-that-goes-on-and-on: $0.5"));
    membuf_reset(&b);
    html_bar_chart(&b, "models-chart", "Spend by model", bars, 0);
    assert_string_equal(b.data, "<p class=\"none\" id=\"models-chart\">none</p>\n");
    membuf_free(&b);
}

static void test_cookie_id(void **state)
{
    char id[SIGNIN_ID_LEN + 1];
    char hex[SIGNIN_ID_LEN + 1], cookie[256];

    (void)state;
    memset(hex, 'a', SIGNIN_ID_LEN);
    hex[SIGNIN_ID_LEN] = '\0';
    snprintf(cookie, sizeof(cookie), "other=1; tally_session=%s; x=y", hex);
    assert_true(signin_cookie_id(cookie, id));
    assert_string_equal(id, hex);
    snprintf(cookie, sizeof(cookie), "tally_session=%s", hex);
    assert_true(signin_cookie_id(cookie, id));
    snprintf(cookie, sizeof(cookie), "tally_session=%sa", hex); /* too long */
    assert_false(signin_cookie_id(cookie, id));
    snprintf(cookie, sizeof(cookie), "xtally_session=%s", hex); /* another name */
    assert_false(signin_cookie_id(cookie, id));
    hex[3] = 'A'; /* upper case is not an id this server made */
    snprintf(cookie, sizeof(cookie), "tally_session=%s", hex);
    assert_false(signin_cookie_id(cookie, id));
    assert_false(signin_cookie_id(NULL, id));
    assert_false(signin_cookie_id("", id));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_put_escapes_values),
        cmocka_unit_test(test_url_value),
        cmocka_unit_test(test_bar_chart),
        cmocka_unit_test(test_cookie_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
