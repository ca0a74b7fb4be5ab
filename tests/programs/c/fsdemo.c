/* A C program on wasi-libc: stdio, dirent, stat, rename, unlink, mkdir/rmdir.
 * Usage: c_fsdemo.wasm DIR, where DIR is the guest name of the (empty, writable) scratch
 * preopen, e.g. /scratch. Prints "ok CASE" lines and "all ok"; on failure
 * "FAIL CASE: expected X got Y" and exit code 1. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char path_buf[4][512];

/* DIR/name in one of four rotating buffers */
static const char *at(const char *dir, const char *name) {
    static int next;
    char *b = path_buf[next++ % 4];
    snprintf(b, sizeof path_buf[0], "%s/%s", dir, name);
    return b;
}

static void fail(const char *c, const char *expected, const char *got) {
    printf("FAIL %s: expected %s got %s\n", c, expected, got);
    exit(1);
}

static void check(const char *c, int cond, const char *expected, const char *got) {
    if (!cond)
        fail(c, expected, got);
    printf("ok %s\n", c);
}

static void check_errno(const char *c, int rc, int want) {
    char got[64];
    snprintf(got, sizeof got, "rc=%d errno=%s", rc, rc == 0 ? "0" : strerror(errno));
    check(c, rc != 0 && errno == want, strerror(want), got);
}

static int cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int main(int argc, char **argv) {
    if (argc != 2)
        fail("usage", "c_fsdemo.wasm DIR", "wrong arguments");
    const char *d = argv[1];
    char got[256];

    FILE *f = fopen(at(d, "hello.txt"), "w");
    check("fopen w", f != NULL, "a FILE", strerror(errno));
    int n = fprintf(f, "hello %s %d\n", "from C", 42);
    check("fprintf", n == 16, "16", "other");
    check("fclose", fclose(f) == 0, "0", strerror(errno));

    f = fopen(at(d, "hello.txt"), "a");
    check("fopen a", f != NULL, "a FILE", strerror(errno));
    fputs("appended\n", f);
    fclose(f);

    f = fopen(at(d, "hello.txt"), "r");
    check("fopen r", f != NULL, "a FILE", strerror(errno));
    char line[64];
    check("fgets 1", fgets(line, sizeof line, f) && strcmp(line, "hello from C 42\n") == 0, "hello from C 42", line);
    check("fgets 2", fgets(line, sizeof line, f) && strcmp(line, "appended\n") == 0, "appended", line);
    check("fgets eof", fgets(line, sizeof line, f) == NULL && feof(f), "EOF", "more data");
    check("fseek/ftell", fseek(f, 6, SEEK_SET) == 0 && ftell(f) == 6, "6", "other");
    check("fgetc after fseek", fgetc(f) == 'f', "f", "other");
    fclose(f);

    struct stat st;
    check("stat file", stat(at(d, "hello.txt"), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 25, "regular, 25 bytes", strerror(errno));
    check("mkdir", mkdir(at(d, "sub"), 0755) == 0, "0", strerror(errno));
    check("stat dir", stat(at(d, "sub"), &st) == 0 && S_ISDIR(st.st_mode), "directory", strerror(errno));
    check_errno("mkdir existing", mkdir(at(d, "sub"), 0755), EEXIST);
    check_errno("stat missing", stat(at(d, "missing"), &st), ENOENT);
    check_errno("fopen missing", fopen(at(d, "missing"), "r") == NULL ? -1 : 0, ENOENT);

    for (int i = 0; i < 3; i++) {
        char name[16];
        snprintf(name, sizeof name, "sub/f%d", i);
        f = fopen(at(d, name), "w");
        if (!f)
            fail("create sub files", "a FILE", strerror(errno));
        fprintf(f, "%d", i);
        fclose(f);
    }
    printf("ok create sub files\n");

    DIR *dir = opendir(at(d, "sub"));
    check("opendir", dir != NULL, "a DIR", strerror(errno));
    char *names[16];
    int count = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL && count < 16)
        names[count++] = strdup(e->d_name);
    closedir(dir);
    qsort(names, count, sizeof names[0], cmp);
    got[0] = 0;
    for (int i = 0; i < count; i++) {
        strcat(got, names[i]);
        strcat(got, i + 1 < count ? "," : "");
        free(names[i]);
    }
    check("readdir", strcmp(got, ".,..,f0,f1,f2") == 0, ".,..,f0,f1,f2", got);

    check("rename", rename(at(d, "sub/f0"), at(d, "moved")) == 0, "0", strerror(errno));
    check_errno("rename source gone", stat(at(d, "sub/f0"), &st), ENOENT);
    check("rename target", stat(at(d, "moved"), &st) == 0 && st.st_size == 1, "1 byte", strerror(errno));
    check_errno("rmdir non-empty", rmdir(at(d, "sub")), ENOTEMPTY);
    check("unlink", unlink(at(d, "sub/f1")) == 0 && unlink(at(d, "sub/f2")) == 0, "0", strerror(errno));
    check_errno("unlink missing", unlink(at(d, "sub/f1")), ENOENT);
    check("rmdir", rmdir(at(d, "sub")) == 0, "0", strerror(errno));
    check("access", access(at(d, "moved"), F_OK) == 0, "0", strerror(errno));
    check("unlink moved", unlink(at(d, "moved")) == 0, "0", strerror(errno));
    check_errno("escape with ..", fopen(at(d, "../x"), "w") == NULL ? -1 : 0, EPERM);

    printf("all ok\n");
    return 0;
}
