/* tests/unit/test_metrics_merge.c — gw_metrics_merge: the /metrics of
 * several workers summed into one exposition. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gateway/gw.h"

static const char *A =
    "# HELP odock_requests_total Requests.\n# TYPE odock_requests_total counter\n"
    "odock_requests_total{model=\"gpt 4o\",status=\"200\"} 3\n"
    "# HELP odock_lat Latency.\n# TYPE odock_lat histogram\n"
    "odock_lat_bucket{model=\"m\",le=\"0.5\"} 2\nodock_lat_bucket{model=\"m\",le=\"+Inf\"} 3\n"
    "odock_lat_sum{model=\"m\"} 0.250000\nodock_lat_count{model=\"m\"} 3\n"
    "# HELP odock_inflight_requests In flight.\n# TYPE odock_inflight_requests gauge\nodock_inflight_requests 2\n";
static const char *B =
    "# HELP odock_requests_total Requests.\n# TYPE odock_requests_total counter\n"
    "odock_requests_total{model=\"gpt 4o\",status=\"200\"} 4\n"
    "odock_requests_total{model=\"other\",status=\"429\"} 1\n"
    "# HELP odock_lat Latency.\n# TYPE odock_lat histogram\n"
    "odock_lat_bucket{model=\"m\",le=\"0.5\"} 1\nodock_lat_bucket{model=\"m\",le=\"+Inf\"} 1\n"
    "odock_lat_sum{model=\"m\"} 1.5\nodock_lat_count{model=\"m\"} 1\n"
    "# HELP odock_inflight_requests In flight.\n# TYPE odock_inflight_requests gauge\nodock_inflight_requests 5\n";

static void t_sums_and_groups(void **state)
{
    (void)state;
    const char *in[] = {A, B, ""};
    char *out = gw_metrics_merge(in, 3, 0);
    const char *want =
        "# HELP odock_requests_total Requests.\n# TYPE odock_requests_total counter\n"
        "odock_requests_total{model=\"gpt 4o\",status=\"200\"} 7\n"
        "odock_requests_total{model=\"other\",status=\"429\"} 1\n" /* with its family, not at the end */
        "# HELP odock_lat Latency.\n# TYPE odock_lat histogram\n"
        "odock_lat_bucket{model=\"m\",le=\"0.5\"} 3\nodock_lat_bucket{model=\"m\",le=\"+Inf\"} 4\n"
        "odock_lat_sum{model=\"m\"} 1.750000\nodock_lat_count{model=\"m\"} 4\n"
        "# HELP odock_inflight_requests In flight.\n# TYPE odock_inflight_requests gauge\nodock_inflight_requests 7\n";
    assert_string_equal(out, want);
    free(out);
}

static void t_no_gauges(void **state)
{
    (void)state;
    const char *in[] = {A};
    char *out = gw_metrics_merge(in, 1, 1);
    assert_non_null(strstr(out, "odock_requests_total{model=\"gpt 4o\",status=\"200\"} 3\n"));
    assert_null(strstr(out, "odock_inflight_requests 2"));
    free(out);
}

static void t_empty(void **state)
{
    (void)state;
    const char *in[] = {"", ""};
    char *out = gw_metrics_merge(in, 2, 0);
    assert_string_equal(out, "");
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_sums_and_groups),
        cmocka_unit_test(t_no_gauges),
        cmocka_unit_test(t_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
