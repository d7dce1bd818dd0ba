#include "server/server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/fd.h"
#include "base/time.h"
#include "json/json.h"
#include "net/loop.h"

static int read_small(const char *path, char *buf, size_t n)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t r;

    if (fd < 0)
        return -errno;
    r = sbx_fd_read(fd, buf, n - 1);
    sbx_fd_close(fd);
    if (r < 0)
        return (int)r;
    buf[r] = '\0';
    return 0;
}

/* Value of a "key: value" line in a /proc file, or -1. */
static long long proc_field(const char *text, const char *key)
{
    const char *p = strstr(text, key);

    if (!p)
        return -1;
    p += strlen(key);
    while (*p == ' ' || *p == '\t' || *p == ':')
        p++;
    return strtoll(p, NULL, 10);
}

/* utime + stime of this process in clock ticks. */
static int64_t cpu_ticks(void)
{
    char buf[1024], *p;
    unsigned long long ut = 0, st = 0;

    if (read_small("/proc/self/stat", buf, sizeof(buf)) < 0)
        return 0;
    p = strrchr(buf, ')');
    if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                     &st) != 2)
        return 0;
    return (int64_t)(ut + st);
}

int sbx_server_info_json(struct sbx_server *s, struct sbx_buf *out)
{
    struct sbx_json *o = sbx_json_object_new(), *res = NULL, *mem = NULL, *disk = NULL,
                    *io = NULL;
    char buf[4096];
    long page = sysconf(_SC_PAGESIZE), hz = sysconf(_SC_CLK_TCK);
    long long mem_total = -1, rss = 0, vms = 0, rb = 0, wb = 0;
    int64_t now = sbx_now_ms(), ticks = cpu_ticks();
    double cpu = 0.0;
    struct statvfs vfs;
    int rc = -ENOMEM;

    if (!o)
        return -ENOMEM;
    /* No sampling sleep: CPU use since the previous call (or start), as
     * psutil's cpu_percent(interval=None) does. */
    if (now > s->cpu_last_wall_ms && hz > 0)
        cpu = (double)(ticks - s->cpu_last_ticks) * 1000.0 / (double)hz /
              (double)(now - s->cpu_last_wall_ms) * 100.0;
    s->cpu_last_ticks = ticks;
    s->cpu_last_wall_ms = now;
    if (read_small("/proc/self/statm", buf, sizeof(buf)) == 0) {
        unsigned long long v = 0, r = 0;

        if (sscanf(buf, "%llu %llu", &v, &r) == 2) {
            vms = (long long)(v * (unsigned long long)page);
            rss = (long long)(r * (unsigned long long)page);
        }
    }
    if (read_small("/proc/meminfo", buf, sizeof(buf)) == 0)
        mem_total = proc_field(buf, "MemTotal") * 1024;
    if (read_small("/proc/self/io", buf, sizeof(buf)) == 0) {
        rb = proc_field(buf, "\nread_bytes");
        wb = proc_field(buf, "\nwrite_bytes");
    }
    res = sbx_json_object_new();
    mem = sbx_json_object_new();
    disk = sbx_json_object_new();
    io = sbx_json_object_new();
    if (!res || !mem || !disk || !io)
        goto out;
    sbx_json_set_real(o, "uptime", (double)(now - s->start_ms) / 1000.0);
    sbx_json_set_real(o, "idle_time", (double)(now - s->last_exec_ms) / 1000.0);
    sbx_json_set_real(res, "cpu_percent", cpu);
    sbx_json_set_int(mem, "rss", rss);
    sbx_json_set_int(mem, "vms", vms);
    sbx_json_set_real(mem, "percent", mem_total > 0 ? (double)rss * 100.0 / (double)mem_total : 0);
    if (statvfs("/", &vfs) == 0) {
        long long total = (long long)vfs.f_blocks * (long long)vfs.f_frsize;
        long long avail = (long long)vfs.f_bavail * (long long)vfs.f_frsize;
        long long used = (long long)(vfs.f_blocks - vfs.f_bfree) * (long long)vfs.f_frsize;
        double pct = used + avail > 0 ? (double)used * 100.0 / (double)(used + avail) : 0;

        sbx_json_set_int(disk, "total", total);
        sbx_json_set_int(disk, "used", used);
        sbx_json_set_int(disk, "free", avail);
        sbx_json_set_real(disk, "percent", (double)(long long)(pct * 10.0 + 0.5) / 10.0);
    } else {
        sbx_json_set_int(disk, "total", 0);
        sbx_json_set_int(disk, "used", 0);
        sbx_json_set_int(disk, "free", 0);
        sbx_json_set_real(disk, "percent", 0);
    }
    sbx_json_set_int(io, "read_bytes", rb > 0 ? rb : 0);
    sbx_json_set_int(io, "write_bytes", wb > 0 ? wb : 0);
    sbx_json_set_take(res, "memory", mem);
    sbx_json_set_take(res, "disk", disk);
    sbx_json_set_take(res, "io", io);
    mem = disk = io = NULL;
    sbx_json_set_take(o, "resources", res);
    res = NULL;
    rc = sbx_json_dump(o, out);
out:
    sbx_json_free(mem);
    sbx_json_free(disk);
    sbx_json_free(io);
    sbx_json_free(res);
    sbx_json_free(o);
    return rc;
}
