/* Tests for src/providers/provider.c: the registry, state directory and
 * sbx-server resolution, the wrappers' checks, the release functions. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "providers/local/local.h"
#include "providers/provider.h"
#include "sbx/provider.h"

static char tmpdir[64];

static int make_tmp(void **state)
{
    (void)state;
    memcpy(tmpdir, "/tmp/sbx-prov-XXXXXX", 21);
    assert_non_null(mkdtemp(tmpdir));
    unsetenv("SBX_STATE_DIR");
    unsetenv("SBX_SERVER_BIN");
    return 0;
}

static int drop_tmp(void **state)
{
    (void)state;
    unsetenv("SBX_STATE_DIR");
    unsetenv("SBX_SERVER_BIN");
    assert_int_equal(sbx__local_rmtree(tmpdir), 0);
    return 0;
}

static void test_unknown_provider(void **state)
{
    struct sbx_err err = {0};

    (void)state;
    assert_null(sbx_provider_open("nope", NULL, &err));
    assert_int_equal(err.code, -ENOENT);
    assert_string_equal(err.msg, "unknown provider 'nope' (available: local, e2b)");
    assert_null(sbx_provider_open(NULL, NULL, NULL));
    assert_string_equal(sbx_provider_names(), "local, e2b");
    sbx_provider_close(NULL);
}

static void test_state_dir_from_config(void **state)
{
    struct sbx_provider_config cfg = {0};
    struct sbx_err err = {0};
    struct sbx_provider *p;
    char want[128];
    struct stat st;

    (void)state;
    snprintf(want, sizeof(want), "%s/a/b", tmpdir);
    cfg.state_dir = want;
    setenv("SBX_STATE_DIR", "/nonexistent/should-not-be-used", 1);
    p = sbx_provider_open("local", &cfg, &err);
    assert_non_null(p);
    assert_string_equal(sbx_provider_name(p), "local");
    assert_string_equal(sbx_provider_state_dir(p), want);
    assert_int_equal(stat(want, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* the index lives there */
    snprintf(want, sizeof(want), "%s/a/b/sbx.db", tmpdir);
    assert_int_equal(access(want, F_OK), 0);
    sbx_provider_close(p);
}

static void test_state_dir_from_env(void **state)
{
    struct sbx_err err = {0};
    struct sbx_provider *p;
    char want[128], rel[160];
    char cwd[4096];

    (void)state;
    snprintf(want, sizeof(want), "%s/env", tmpdir);
    setenv("SBX_STATE_DIR", want, 1);
    p = sbx_provider_open("local", NULL, &err);
    assert_non_null(p);
    assert_string_equal(sbx_provider_state_dir(p), want);
    sbx_provider_close(p);
    /* a relative path comes back absolute */
    assert_non_null(getcwd(cwd, sizeof(cwd)));
    assert_int_equal(chdir(tmpdir), 0);
    setenv("SBX_STATE_DIR", "rel", 1);
    p = sbx_provider_open("local", NULL, &err);
    assert_int_equal(chdir(cwd), 0);
    assert_non_null(p);
    snprintf(rel, sizeof(rel), "%s/rel", tmpdir);
    assert_string_equal(sbx_provider_state_dir(p), rel);
    sbx_provider_close(p);
}

static void test_state_dir_unusable(void **state)
{
    struct sbx_provider_config cfg = {0};
    struct sbx_err err = {0};
    char file[128];
    FILE *f;

    (void)state;
    snprintf(file, sizeof(file), "%s/file", tmpdir);
    f = fopen(file, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(file, sizeof(file), "%s/file/sub", tmpdir);
    cfg.state_dir = file;
    assert_null(sbx_provider_open("local", &cfg, &err));
    assert_int_equal(err.code, -ENOTDIR);
    assert_non_null(strstr(err.msg, "state directory"));
}

static void test_server_bin(void **state)
{
    struct sbx_provider_config cfg = {0};
    struct sbx_sandbox_spec spec = {0};
    struct sbx_err err = {0};
    struct sbx_provider *p;
    char sd[128];

    (void)state;
    snprintf(sd, sizeof(sd), "%s/s", tmpdir);
    cfg.state_dir = sd;
    cfg.server_bin = SBX_TEST_SERVER_BIN;
    p = sbx_provider_open("local", &cfg, &err);
    assert_non_null(p);
    assert_string_equal(sbx_provider_server_bin(p), SBX_TEST_SERVER_BIN);
    sbx_provider_close(p);

    /* from the environment */
    cfg.server_bin = NULL;
    setenv("SBX_SERVER_BIN", SBX_TEST_SERVER_BIN, 1);
    p = sbx_provider_open("local", &cfg, &err);
    assert_non_null(p);
    assert_string_equal(sbx_provider_server_bin(p), SBX_TEST_SERVER_BIN);
    sbx_provider_close(p);

    /* not executable: none found (nothing next to this test binary either),
     * which open allows and create reports, naming SBX_SERVER_BIN */
    setenv("SBX_SERVER_BIN", "/etc/passwd", 1);
    p = sbx_provider_open("local", &cfg, &err);
    assert_non_null(p);
    assert_null(sbx_provider_server_bin(p));
    assert_int_equal(sbx_provider_create(p, &spec, NULL, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "SBX_SERVER_BIN"));
    sbx_provider_close(p);
}

static int fake_get(struct sbx_provider *p, const char *ref, struct sbx_sandbox_info *out,
                    struct sbx_err *err)
{
    (void)p;
    (void)err;
    out->id = strdup(ref);
    return 0;
}

static const struct sbx_provider_ops fake_ops = {
    .name = "fake",
    .get = fake_get,
};

static void test_wrappers(void **state)
{
    struct sbx_provider p = {.ops = &fake_ops};
    struct sbx_sandbox_info info;
    struct sbx_exec_result res;
    struct sbx_endpoint ep;
    struct sbx_exec_req req = {0};
    struct sbx_err err = {0};
    struct sbx_sandbox_info *list = NULL;
    char *url = NULL;
    int64_t n = 0;

    (void)state;
    assert_int_equal(sbx_provider_get(&p, "abc", &info, &err), 0);
    assert_string_equal(info.id, "abc");
    sbx_sandbox_info_free(&info);
    assert_null(info.id);
    assert_int_equal(sbx_provider_get(&p, "", &info, &err), -EINVAL);
    assert_int_equal(sbx_provider_get(&p, NULL, &info, &err), -EINVAL);

    assert_int_equal(sbx_provider_pause(&p, "abc", &err), -ENOTSUP);
    assert_string_equal(err.msg, "fake: pause is not supported");
    assert_int_equal(sbx_provider_resume(&p, "abc", &err), -ENOTSUP);
    assert_int_equal(sbx_provider_remove(&p, "abc", &err), -ENOTSUP);
    assert_int_equal(sbx_provider_create(&p, NULL, NULL, &err), -ENOTSUP);
    assert_string_equal(err.msg, "fake: create is not supported");
    assert_int_equal(sbx_provider_list(&p, NULL, &list, &err), -ENOTSUP);
    assert_int_equal(sbx_provider_exec(&p, "abc", &req, &res, &err), -ENOTSUP);
    assert_int_equal(sbx_provider_upload(&p, "abc", "/a", "/b", 0644, &err), -ENOTSUP);
    assert_int_equal(sbx_provider_download(&p, "abc", "/a", "/b", &err), -ENOTSUP);
    assert_int_equal(sbx_provider_port_url(&p, "abc", 80, &url, &err), -ENOTSUP);
    assert_int_equal(sbx_provider_bootstrap(&p, "abc", NULL, &ep, &err), -ENOTSUP);
    assert_int_equal(sbx_provider_oom_kills(&p, "abc", &n, &err), -ENOTSUP);
    assert_string_equal(err.msg, "fake: oom_kills is not supported");
    assert_int_equal(sbx_provider_pause(NULL, "abc", &err), -EINVAL);
    assert_null(sbx_provider_name(NULL));
}

static void test_argument_checks(void **state)
{
    struct sbx_provider_config cfg = {0};
    struct sbx_err err = {0};
    struct sbx_provider *p;
    struct sbx_exec_req req = {0};
    struct sbx_exec_result res;
    struct sbx_sandbox_info info, *list = NULL;
    const char *empty[] = {NULL};
    char sd[128];
    char *url = NULL;

    (void)state;
    snprintf(sd, sizeof(sd), "%s/c", tmpdir);
    cfg.state_dir = sd;
    p = sbx_provider_open("local", &cfg, &err);
    assert_non_null(p);
    assert_int_equal(sbx_provider_port_url(p, "abc", 0, &url, &err), -EINVAL);
    assert_int_equal(sbx_provider_port_url(p, "abc", 65536, &url, &err), -EINVAL);
    assert_non_null(strstr(err.msg, "65536"));
    assert_int_equal(sbx_provider_exec(p, "abc", &req, &res, &err), -EINVAL);
    req.argv = empty;
    assert_int_equal(sbx_provider_exec(p, "abc", &req, &res, &err), -EINVAL);
    assert_int_equal(sbx_provider_upload(p, "abc", NULL, "/b", 0, &err), -EINVAL);
    assert_int_equal(sbx_provider_download(p, "abc", "/a", "", &err), -EINVAL);
    /* an empty index */
    assert_int_equal(sbx_provider_list(p, NULL, &list, &err), 0);
    sbx_sandbox_info_array_free(list, 0);
    assert_int_equal(sbx_provider_get(p, "nosuch", &info, &err), -ENOENT);
    assert_non_null(strstr(err.msg, "nosuch"));
    assert_int_equal(sbx_provider_remove(p, "nosuch", &err), -ENOENT);
    sbx_provider_close(p);
}

static void test_releases(void **state)
{
    struct sbx_sandbox_info *infos = calloc(2, sizeof(*infos));
    struct sbx_exec_result r = {0};
    struct sbx_endpoint ep = {0};

    (void)state;
    assert_non_null(infos);
    infos[0].id = strdup("a");
    infos[0].labels = calloc(1, sizeof(char *));
    infos[0].labels[0] = strdup("k=v");
    infos[0].n_labels = 1;
    infos[1].note = strdup("n");
    sbx_sandbox_info_array_free(infos, 2);
    sbx_sandbox_info_array_free(NULL, 3);
    sbx_sandbox_info_free(NULL);
    r.out = strdup("o");
    r.out_len = 1;
    sbx_exec_result_release(&r);
    assert_null(r.out);
    assert_int_equal(r.out_len, 0);
    sbx_exec_result_release(NULL);
    ep.unix_path = strdup("/s");
    ep.headers = calloc(2, sizeof(char *));
    ep.headers[0] = strdup("A: b");
    sbx_endpoint_release(&ep);
    assert_null(ep.unix_path);
    assert_null(ep.headers);
    sbx_endpoint_release(NULL);
    assert_string_equal(sbx_sandbox_state_name(SBX_SANDBOX_CREATING), "creating");
    assert_string_equal(sbx_sandbox_state_name(SBX_SANDBOX_RUNNING), "running");
    assert_string_equal(sbx_sandbox_state_name(SBX_SANDBOX_PAUSED), "paused");
    assert_string_equal(sbx_sandbox_state_name(SBX_SANDBOX_DEAD), "dead");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_provider),
        cmocka_unit_test_setup_teardown(test_state_dir_from_config, make_tmp, drop_tmp),
        cmocka_unit_test_setup_teardown(test_state_dir_from_env, make_tmp, drop_tmp),
        cmocka_unit_test_setup_teardown(test_state_dir_unusable, make_tmp, drop_tmp),
        cmocka_unit_test_setup_teardown(test_server_bin, make_tmp, drop_tmp),
        cmocka_unit_test(test_wrappers),
        cmocka_unit_test_setup_teardown(test_argument_checks, make_tmp, drop_tmp),
        cmocka_unit_test(test_releases),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
