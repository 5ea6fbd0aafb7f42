/* tests/unit/test_request_id.c — od_request_id: 24 hex digits, ordered by
 * time, unique, and not repeated by a forked child (workers fork after the
 * master may have made ids). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "core/od.h"

static int cmp(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void t_shape_order_unique(void **state)
{
    (void)state;
    enum { N = 100000 };
    char (*ids)[25] = calloc(N, sizeof *ids);
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        od_request_id(ids[i]);
        assert_int_equal(strlen(ids[i]), 24);
        assert_int_equal(strspn(ids[i], "0123456789abcdef"), 24);
        if (i) assert_true(memcmp(ids[i - 1], ids[i], 12) <= 0); /* the time prefix never goes back */
    }
    qsort(ids, N, sizeof *ids, cmp);
    for (int i = 1; i < N; i++)
        assert_true(strcmp(ids[i - 1], ids[i]) != 0);
    free(ids);
}

static void t_child_does_not_repeat_parent(void **state)
{
    (void)state;
    char before[25], mine[25], theirs[25] = "";
    int fds[2];
    od_request_id(before); /* the parent's generator is seeded */
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char id[25];
        od_request_id(id);
        ssize_t w = write(fds[1], id, 24);
        _exit(w == 24 ? 0 : 1);
    }
    od_request_id(mine);
    assert_int_equal(read(fds[0], theirs, 24), 24);
    theirs[24] = 0;
    int st;
    waitpid(pid, &st, 0);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    /* same millisecond or not, the random half must differ */
    assert_true(memcmp(mine + 12, theirs + 12, 12) != 0);
    close(fds[0]);
    close(fds[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_shape_order_unique),
        cmocka_unit_test(t_child_does_not_repeat_parent),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
