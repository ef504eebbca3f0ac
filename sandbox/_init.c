/* The init of one long-lived sandbox, in C: runs programs one after another as fresh children.

   Why C: measured on the project's 2-core machines, a Python init spends ~0.5 ms of CPU per
   program (copy-on-write faults after fork, interpreter overhead) and adds wake-ups between
   processes; under load the sandbox then fell below half the bare spawn rate. This init
   forks from a tiny address space and supervises the program itself. sandbox/native.py
   compiles it with gcc at first use; where that is impossible, sandbox/_init.py speaks the
   same protocol (slower, equally isolated).

   It runs as pid 1 of the slot's pid namespace, as root of the host's user namespace (no user
   namespace: root must stay able to setuid the program to the slot's unprivileged uid, for
   which RLIMIT_NPROC then counts). Per program: write it to a fresh private directory, fork
   a child that takes the limits and the uid and execs the runner, read its output under caps,
   enforce wall and summed-CPU limits, then kill every other process of the namespace, reap,
   wipe the private tmp, and answer. Verdicts come from this accounting, never from bwrap.

   Protocol (little-endian), fd 0 requests, fd 1 replies; each frame is u32 length + payload:
     hello   "HELO" u32 flags (1: syscall filter on) , workdir bytes
     request "RUN1" u64 wall_us cpu_us memory_bytes processes output_bytes file_bytes
             code_len stdin_len, u32 filename_len argc, filename, argc x (u32 len, bytes),
             code, stdin
     reply   "RES1" i32 exit_code (-1: none) i32 signal (0: none) u32 reason (1 wall,
             2 cpu, 3 output) u32 flags (1 stdout cut, 2 stderr cut, 4 retire) u64 wall_us
             cpu_us peak_kb, u32 stdout_len stderr_len error_len, stdout, stderr, error
   A reply with an error text means the program could not be run (sandbox_error). EOF on
   fd 0 ends the init, and with it the namespace and everything in it.

   usage: _init [--isolated] [--uid N] --workdir DIR --wipe DIR... --env K=V... */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/msg.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_WIPE 8
#define MAX_ENV 32
#define MAX_REQUEST (64u << 20)
#define CPU_POLL_SECONDS 0.02 /* polled, not signalled: a few-ms program never pays for it */
#define DRAIN_SECONDS 1.0
#define CHUNK 65536

enum { REASON_NONE, REASON_WALL, REASON_CPU, REASON_OUTPUT };
enum { CUT_STDOUT = 1, CUT_STDERR = 2, RETIRE = 4 };

static int isolated;
static long slot_uid = -1;
static const char *workdir;
static const char *wipe_dirs[MAX_WIPE];
static int n_wipe;
static char *env[MAX_ENV + 1];
static int n_env;
static int filter_on;
static int requests_fd, replies_fd;
static long clk_tck;

/* ------------------------------------------------------------------ small helpers */

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int read_full(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n) {
        ssize_t got = read(fd, p, n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return -1;
        p += got;
        n -= (size_t)got;
    }
    return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n) {
        ssize_t put = write(fd, p, n);
        if (put < 0 && errno == EINTR)
            continue;
        if (put <= 0)
            return -1;
        p += put;
        n -= (size_t)put;
    }
    return 0;
}

struct cursor {
    const unsigned char *p, *end;
    int bad;
};

static const void *take(struct cursor *c, size_t n)
{
    if (c->bad || (size_t)(c->end - c->p) < n) {
        c->bad = 1;
        return NULL;
    }
    const void *at = c->p;
    c->p += n;
    return at;
}

static uint64_t take_u64(struct cursor *c)
{
    uint64_t v = 0;
    const void *at = take(c, 8);
    if (at)
        memcpy(&v, at, 8);
    return v;
}

static uint32_t take_u32(struct cursor *c)
{
    uint32_t v = 0;
    const void *at = take(c, 4);
    if (at)
        memcpy(&v, at, 4);
    return v;
}

/* ------------------------------------------------------------------ the syscall filter */

/* Against the kernel attack surface a program never needs: user namespaces and mounts (the
   usual way into kernel bugs for an unprivileged uid), tracing, keyrings, BPF, io_uring...
   and SysV IPC / POSIX queues, which would outlive the run in the slot's IPC namespace.
   clone3 gets ENOSYS so libc falls back to clone, whose flags a filter can inspect. The
   init needs none of these, so it installs the filter on itself and every child inherits
   it. Keep in step with _seccomp_program in _init.py. */
static int install_filter(void)
{
#if defined(__x86_64__)
    static const int denied[] = {
        SYS_unshare, SYS_setns, SYS_mount, SYS_umount2, SYS_pivot_root, SYS_ptrace, SYS_keyctl,
        SYS_add_key, SYS_request_key, SYS_bpf, SYS_perf_event_open, SYS_userfaultfd, SYS_kexec_load,
        SYS_kexec_file_load, SYS_init_module, SYS_finit_module, SYS_delete_module,
        SYS_open_by_handle_at, SYS_name_to_handle_at, 428 /* open_tree */, 429 /* move_mount */,
        430 /* fsopen */, 431 /* fsconfig */, 432 /* fsmount */, 425 /* io_uring_setup */,
        426 /* io_uring_enter */, 427 /* io_uring_register */, SYS_chroot, SYS_acct, SYS_swapon,
        SYS_swapoff, SYS_reboot, SYS_quotactl, SYS_syslog, SYS_process_vm_readv,
        SYS_process_vm_writev, SYS_kcmp, SYS_shmget, SYS_semget, SYS_msgget, SYS_mq_open,
    };
    struct sock_filter f[2 * sizeof denied / sizeof denied[0] + 16];
    unsigned n = 0;
#define INSN(code, jt, jf, k) (f[n++] = (struct sock_filter){(code), (jt), (jf), (k)})
    INSN(BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, arch));
    INSN(BPF_JMP | BPF_JEQ | BPF_K, 1, 0, AUDIT_ARCH_X86_64);
    INSN(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_KILL_PROCESS);
    INSN(BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, nr));
    INSN(BPF_JMP | BPF_JGE | BPF_K, 0, 1, 0x40000000); /* x32 numbers */
    INSN(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | EPERM);
    for (unsigned i = 0; i < sizeof denied / sizeof denied[0]; i++) {
        INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, (unsigned)denied[i]);
        INSN(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | EPERM);
    }
    INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 1, 435 /* clone3 */);
    INSN(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | ENOSYS);
    INSN(BPF_JMP | BPF_JEQ | BPF_K, 0, 4, SYS_clone);
    INSN(BPF_LD | BPF_W | BPF_ABS, 0, 0, offsetof(struct seccomp_data, args[0]));
    INSN(BPF_JMP | BPF_JSET | BPF_K, 0, 1, 0x7E020080u /* CLONE_NEW* */);
    INSN(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ERRNO | EPERM);
    INSN(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
    INSN(BPF_RET | BPF_K, 0, 0, SECCOMP_RET_ALLOW);
#undef INSN
    struct sock_fprog prog = {(unsigned short)n, f};
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
        perror("scriptorium init: seccomp");
        exit(1);
    }
    return 1;
#else
    return 0;
#endif
}

/* ------------------------------------------------------------------ wiping */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

static void remove_sysv_ipc(void)
{
    static const char *kinds[] = {"/proc/sysvipc/shm", "/proc/sysvipc/sem", "/proc/sysvipc/msg"};
    for (int k = 0; k < 3; k++) {
        FILE *f = fopen(kinds[k], "r");
        char line[512];
        if (!f)
            continue;
        if (!fgets(line, sizeof line, f)) {
            fclose(f);
            continue;
        }
        while (fgets(line, sizeof line, f)) {
            long key, id;
            if (sscanf(line, "%ld %ld", &key, &id) != 2)
                continue;
            if (k == 0)
                shmctl((int)id, IPC_RMID, NULL);
            else if (k == 1)
                semctl((int)id, 0, IPC_RMID);
            else
                msgctl((int)id, IPC_RMID, NULL);
        }
        fclose(f);
    }
}

/* Empty the writable places; 0 if something survived. */
static int wipe(void)
{
    int clean = 1;
    char path[PATH_MAX];
    for (int i = 0; i < n_wipe; i++) {
        DIR *d = opendir(wipe_dirs[i]);
        struct dirent *e;
        if (!d)
            continue;
        while ((e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            if (unlinkat(dirfd(d), e->d_name, 0) == 0 || errno == ENOENT)
                continue;
            snprintf(path, sizeof path, "%s/%s", wipe_dirs[i], e->d_name);
            nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        }
        rewinddir(d);
        while ((e = readdir(d)))
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                clean = 0;
        closedir(d);
    }
    if (isolated && !filter_on)
        remove_sysv_ipc();
    return clean;
}

/* ------------------------------------------------------------------ one run */

struct run {
    pid_t pid;
    int status_known, status;
    double cpu, ended;
    long peak_kb;
};

static void account(struct run *r, pid_t pid, int status, const struct rusage *ru)
{
    r->cpu += (double)ru->ru_utime.tv_sec + (double)ru->ru_utime.tv_usec / 1e6 +
              (double)ru->ru_stime.tv_sec + (double)ru->ru_stime.tv_usec / 1e6;
    if (ru->ru_maxrss > r->peak_kb)
        r->peak_kb = ru->ru_maxrss;
    if (pid == r->pid) {
        r->status_known = 1;
        r->status = status;
        r->ended = now();
    }
}

/* Reap whatever has exited, orphans re-parented to us included. */
static void reap(struct run *r)
{
    for (;;) {
        int status;
        struct rusage ru;
        pid_t pid = wait4(-1, &status, WNOHANG, &ru);
        if (pid <= 0)
            return;
        account(r, pid, status, &ru);
    }
}

static double proc_cpu(const char *pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%s/stat", pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return 0;
    /* after ") ": state(3) ... utime(14) stime(15) cutime(16) cstime(17) */
    unsigned long long v[4] = {0};
    int field = 2;
    for (char *tok = strtok(p + 2, " "); tok && field < 17; tok = strtok(NULL, " ")) {
        field++;
        if (field >= 14)
            v[field - 14] = strtoull(tok, NULL, 10);
    }
    return (double)(v[0] + v[1] + v[2] + v[3]) / (double)clk_tck;
}

static double cpu_used(struct run *r)
{
    reap(r); /* first: a process is then either reaped (counted) or still listed */
    double total = r->cpu;
    if (!isolated) {
        char pid[24];
        snprintf(pid, sizeof pid, "%d", (int)r->pid);
        return r->status_known ? total : total + proc_cpu(pid);
    }
    DIR *d = opendir("/proc");
    struct dirent *e;
    if (!d)
        return total;
    while ((e = readdir(d)))
        if (e->d_name[0] >= '1' && e->d_name[0] <= '9' && strcmp(e->d_name, "1"))
            total += proc_cpu(e->d_name);
    closedir(d);
    return total;
}

static void kill_everything(struct run *r)
{
    int status;
    struct rusage ru;
    pid_t pid;
    if (isolated) {
        /* kill(-1) from pid 1 reaches every other process of the namespace, setsid'd daemons
           included. Kill again before each reap, so a fork racing a kill cannot survive. */
        for (;;) {
            kill(-1, SIGKILL);
            pid = wait4(-1, &status, 0, &ru);
            if (pid < 0) {
                if (errno == EINTR)
                    continue;
                return;
            }
            account(r, pid, status, &ru);
        }
    }
    killpg(r->pid, SIGKILL);
    if (!r->status_known) {
        while ((pid = wait4(r->pid, &status, 0, &ru)) < 0 && errno == EINTR) {
        }
        if (pid > 0)
            account(r, pid, status, &ru);
    }
    reap(r);
}

struct stream {
    int fd;
    int open;
    int cut;
    unsigned char *buf;
    size_t len, cap;
};

/* Read one chunk; 0 once the stream went over its cap. */
static int drain_once(struct stream *s)
{
    static unsigned char chunk[CHUNK];
    ssize_t n = read(s->fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN))
        return 1;
    if (n <= 0) {
        s->open = 0;
        return 1;
    }
    size_t room = s->cap - s->len;
    if ((size_t)n > room) {
        memcpy(s->buf + s->len, chunk, room);
        s->len += room;
        s->cut = 1;
        return 0;
    }
    memcpy(s->buf + s->len, chunk, (size_t)n);
    s->len += (size_t)n;
    return 1;
}

static const char *find_exe(const char *name, char *out, size_t size)
{
    static char cached_name[256], cached_path[PATH_MAX];
    if (strchr(name, '/'))
        return name;
    if (cached_name[0] && !strcmp(cached_name, name))
        return cached_path;
    const char *path = "/usr/bin:/bin";
    for (int i = 0; i < n_env; i++)
        if (!strncmp(env[i], "PATH=", 5))
            path = env[i] + 5;
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        snprintf(out, size, "%.*s/%s", (int)len, path, name);
        if (access(out, X_OK) == 0) {
            snprintf(cached_name, sizeof cached_name, "%s", name);
            snprintf(cached_path, sizeof cached_path, "%s", out);
            return cached_path;
        }
        path += len + (colon ? 1 : 0);
    }
    return NULL;
}

static void child(const char *exe, char **argv, int stdin_fd, int out_w, int err_w, int errpipe,
                  uint64_t memory, uint64_t file_bytes, uint64_t processes, uint64_t cpu_us)
{
    char msg[512];
    const char *what = "dup2";
    struct sigaction dfl;
    sigset_t none;
    if (dup2(stdin_fd, 0) < 0 || dup2(out_w, 1) < 0 || dup2(err_w, 2) < 0)
        goto fail;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < NSIG; s++)
        sigaction(s, &dfl, NULL); /* an ignored SIGPIPE or SIGXFSZ would survive exec */
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    what = "setsid";
    if (setsid() < 0)
        goto fail;
    rlim_t cpu = (rlim_t)(cpu_us / 1000000) + 1; /* backstop only: the parent sums and polls */
    struct rlimit as = {memory, memory}, fs = {file_bytes, file_bytes}, cp = {cpu, cpu + 1};
    what = "setrlimit";
    if (setrlimit(RLIMIT_AS, &as) || setrlimit(RLIMIT_FSIZE, &fs) || setrlimit(RLIMIT_CPU, &cp))
        goto fail;
    if (slot_uid >= 0) {
        /* RLIMIT_NPROC counts per uid and is ignored for root: it only holds after setuid. */
        struct rlimit np = {processes, processes};
        if (setrlimit(RLIMIT_NPROC, &np))
            goto fail;
        what = "dropping root";
        if (setgroups(0, NULL) || setgid((gid_t)slot_uid) || setuid((uid_t)slot_uid))
            goto fail;
        if (getuid() != (uid_t)slot_uid || geteuid() != (uid_t)slot_uid || setuid(0) == 0)
            goto fail;
    }
    what = "PR_SET_NO_NEW_PRIVS";
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
        goto fail;
    what = "chdir";
    if (chdir(workdir))
        goto fail;
    syscall(SYS_close_range, 3, errpipe - 1, 0);
    syscall(SYS_close_range, errpipe + 1, ~0U, 0);
    what = exe;
    execve(exe, argv, env);
fail:;
    int n = snprintf(msg, sizeof msg, "%s: %s", what, strerror(errno));
    if (write(errpipe, msg, (size_t)n) < 0) {
        /* nothing left to tell */
    }
    _exit(127);
}

struct reply {
    int32_t exit_code, sig;
    uint32_t reason, flags;
    double wall, cpu;
    long peak_kb;
    struct stream out, err;
    char error[600];
};

static void send_reply(struct reply *r)
{
    uint32_t out_len = (uint32_t)r->out.len, err_len = (uint32_t)r->err.len, error_len = (uint32_t)strlen(r->error);
    uint64_t wall_us = (uint64_t)(r->wall * 1e6), cpu_us = (uint64_t)(r->cpu * 1e6), peak = (uint64_t)r->peak_kb;
    unsigned char head[4 + 4 + 4 + 4 + 4 + 8 + 8 + 8 + 4 + 4 + 4];
    unsigned char *p = head;
    uint32_t total = (uint32_t)sizeof head + out_len + err_len + error_len;
#define PUT(v) (memcpy(p, &(v), sizeof(v)), p += sizeof(v))
    memcpy(p, "RES1", 4);
    p += 4;
    PUT(r->exit_code);
    PUT(r->sig);
    PUT(r->reason);
    PUT(r->flags);
    PUT(wall_us);
    PUT(cpu_us);
    PUT(peak);
    PUT(out_len);
    PUT(err_len);
    PUT(error_len);
#undef PUT
    if (write_full(replies_fd, &total, 4) || write_full(replies_fd, head, sizeof head) ||
        write_full(replies_fd, r->out.buf, out_len) || write_full(replies_fd, r->err.buf, err_len) ||
        write_full(replies_fd, r->error, error_len))
        exit(0); /* the host is gone */
}

static void execute(const unsigned char *frame, size_t size, struct reply *rep)
{
    struct cursor c = {frame, frame + size, 0};
    const void *magic = take(&c, 4);
    uint64_t wall_us = take_u64(&c), cpu_us = take_u64(&c), memory = take_u64(&c), processes = take_u64(&c),
             output_bytes = take_u64(&c), file_bytes = take_u64(&c), code_len = take_u64(&c),
             stdin_len = take_u64(&c);
    uint32_t name_len = take_u32(&c), argc = take_u32(&c);
    const char *name = take(&c, name_len);
    char filename[256], exe_buf[PATH_MAX], path[PATH_MAX];
    char *argv[65];
    if (c.bad || memcmp(magic, "RUN1", 4) || argc == 0 || argc > 64 || name_len == 0 || name_len >= sizeof filename) {
        snprintf(rep->error, sizeof rep->error, "malformed request");
        rep->flags |= RETIRE;
        return;
    }
    memcpy(filename, name, name_len);
    filename[name_len] = 0;
    for (uint32_t i = 0; i < argc; i++) {
        uint32_t len = take_u32(&c);
        const char *arg = take(&c, len);
        argv[i] = c.bad ? NULL : strndup(arg, len);
    }
    argv[argc] = NULL;
    const unsigned char *code = take(&c, code_len), *input = take(&c, stdin_len);
    if (c.bad || strchr(filename, '/') || !strcmp(filename, ".") || !strcmp(filename, "..") ||
        output_bytes > (256u << 20)) {
        snprintf(rep->error, sizeof rep->error, "malformed request");
        rep->flags |= RETIRE;
        goto out;
    }
    const char *exe = find_exe(argv[0], exe_buf, sizeof exe_buf);
    if (!exe) {
        snprintf(rep->error, sizeof rep->error, "runner '%s' not found in the sandbox", argv[0]);
        goto out;
    }
    if (mkdir(workdir, 0700) && (errno != EEXIST || !wipe() || mkdir(workdir, 0700))) {
        snprintf(rep->error, sizeof rep->error, "cannot create the work directory: %s", strerror(errno));
        rep->flags |= RETIRE;
        goto out;
    }
    snprintf(path, sizeof path, "%s/%s", workdir, filename);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 || write_full(fd, code, code_len) || close(fd) ||
        (slot_uid >= 0 && (chown(workdir, (uid_t)slot_uid, (gid_t)slot_uid) ||
                           chown(path, (uid_t)slot_uid, (gid_t)slot_uid)))) {
        snprintf(rep->error, sizeof rep->error, "cannot write the program: %s", strerror(errno));
        rep->flags |= RETIRE;
        goto out;
    }
    int stdin_fd = stdin_len ? memfd_create("stdin", MFD_CLOEXEC) : open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (stdin_len && (stdin_fd < 0 || write_full(stdin_fd, input, stdin_len) || lseek(stdin_fd, 0, SEEK_SET))) {
        snprintf(rep->error, sizeof rep->error, "cannot pass stdin: %s", strerror(errno));
        rep->flags |= RETIRE;
        goto out;
    }
    int out_p[2], err_p[2], err_pipe[2];
    if (pipe2(out_p, O_CLOEXEC) || pipe2(err_p, O_CLOEXEC) || pipe2(err_pipe, O_CLOEXEC)) {
        snprintf(rep->error, sizeof rep->error, "pipe: %s", strerror(errno));
        rep->flags |= RETIRE;
        goto out;
    }
    rep->out = (struct stream){out_p[0], 1, 0, rep->out.buf, 0, output_bytes};
    rep->err = (struct stream){err_p[0], 1, 0, rep->err.buf, 0, output_bytes};
    double started = now();
    pid_t pid = fork();
    if (pid == 0)
        child(exe, argv, stdin_fd, out_p[1], err_p[1], err_pipe[1], memory, file_bytes, processes, cpu_us);
    close(stdin_fd);
    close(out_p[1]);
    close(err_p[1]);
    close(err_pipe[1]);
    struct run run = {pid, 0, 0, 0, 0, 0};
    char failure[512];
    ssize_t failed = pid < 0 ? -1 : read(err_pipe[0], failure, sizeof failure - 1); /* returns at exec */
    close(err_pipe[0]);
    if (pid < 0 || failed > 0) {
        if (failed > 0)
            failure[failed] = 0;
        snprintf(rep->error, sizeof rep->error, "could not start the program: %s",
                 pid < 0 ? strerror(errno) : failure);
        if (pid > 0)
            kill_everything(&run);
        close(out_p[0]);
        close(err_p[0]);
        goto out;
    }

    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    struct pollfd fds[3];
    double wall_deadline = started + (double)wall_us / 1e6, cpu_limit = (double)cpu_us / 1e6;
    double next_cpu = started + (CPU_POLL_SECONDS < cpu_limit ? CPU_POLL_SECONDS : cpu_limit);
    if (pidfd < 0) {
        snprintf(rep->error, sizeof rep->error, "pidfd_open: %s", strerror(errno));
        rep->flags |= RETIRE;
        kill_everything(&run);
        close(out_p[0]);
        close(err_p[0]);
        goto out;
    }
    while (!run.status_known && !rep->reason) {
        double t = now();
        if (t >= wall_deadline) {
            rep->reason = REASON_WALL;
            break;
        }
        if (t >= next_cpu) {
            if (cpu_used(&run) > cpu_limit) {
                rep->reason = REASON_CPU;
                break;
            }
            if (run.status_known)
                break;
            next_cpu = t + CPU_POLL_SECONDS;
        }
        double until = (wall_deadline < next_cpu ? wall_deadline : next_cpu) - t;
        int n = 0;
        fds[n++] = (struct pollfd){pidfd, POLLIN, 0};
        if (rep->out.open)
            fds[n++] = (struct pollfd){rep->out.fd, POLLIN, 0};
        if (rep->err.open)
            fds[n++] = (struct pollfd){rep->err.fd, POLLIN, 0};
        if (poll(fds, (nfds_t)n, (int)(until * 1000) + 1) <= 0)
            continue;
        for (int i = 0; i < n; i++) {
            if (!fds[i].revents)
                continue;
            if (fds[i].fd == pidfd)
                reap(&run);
            else if (!drain_once(fds[i].fd == rep->out.fd ? &rep->out : &rep->err))
                rep->reason = REASON_OUTPUT;
        }
    }
    kill_everything(&run);
    close(pidfd);
    /* Every writer is dead now, so the pipes reach EOF after what is buffered. */
    double drain_deadline = now() + DRAIN_SECONDS;
    while ((rep->out.open || rep->err.open) && rep->reason != REASON_OUTPUT && now() < drain_deadline) {
        int n = 0;
        if (rep->out.open)
            fds[n++] = (struct pollfd){rep->out.fd, POLLIN, 0};
        if (rep->err.open)
            fds[n++] = (struct pollfd){rep->err.fd, POLLIN, 0};
        if (poll(fds, (nfds_t)n, 50) <= 0)
            continue;
        for (int i = 0; i < n; i++)
            if (fds[i].revents && !drain_once(fds[i].fd == rep->out.fd ? &rep->out : &rep->err))
                rep->reason = REASON_OUTPUT;
    }
    close(out_p[0]);
    close(err_p[0]);
    rep->wall = (run.status_known ? run.ended : now()) - started;
    rep->cpu = run.cpu;
    rep->peak_kb = run.peak_kb;
    rep->flags |= (rep->out.cut ? CUT_STDOUT : 0) | (rep->err.cut ? CUT_STDERR : 0);
    if (run.status_known && WIFEXITED(run.status))
        rep->exit_code = WEXITSTATUS(run.status);
    else if (run.status_known && WIFSIGNALED(run.status))
        rep->sig = WTERMSIG(run.status);
out:
    for (uint32_t i = 0; i < argc; i++)
        free(argv[i]);
}

int main(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--isolated"))
            isolated = 1;
        else if (!strcmp(argv[i], "--uid") && i + 1 < argc)
            slot_uid = strtol(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--workdir") && i + 1 < argc)
            workdir = argv[++i];
        else if (!strcmp(argv[i], "--wipe") && i + 1 < argc && n_wipe < MAX_WIPE)
            wipe_dirs[n_wipe++] = argv[++i];
        else if (!strcmp(argv[i], "--env") && i + 1 < argc && n_env < MAX_ENV)
            env[n_env++] = argv[++i];
        else {
            fprintf(stderr, "scriptorium init: bad argument %s\n", argv[i]);
            return 2;
        }
    }
    if (!workdir) {
        fprintf(stderr, "scriptorium init: --workdir is required\n");
        return 2;
    }
    clk_tck = sysconf(_SC_CLK_TCK);
    struct rlimit zero = {0, 0}, files = {256, 256};
    setrlimit(RLIMIT_CORE, &zero);
    setrlimit(RLIMIT_MSGQUEUE, &zero);
    setrlimit(RLIMIT_MEMLOCK, &zero);
    setrlimit(RLIMIT_NOFILE, &files);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    if (isolated)
        filter_on = install_filter();
    else if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) {
        perror("scriptorium init: PR_SET_CHILD_SUBREAPER");
        return 1;
    }
    /* Keep the protocol away from fds 0-2, so nothing a child inherits can touch it. */
    requests_fd = fcntl(0, F_DUPFD_CLOEXEC, 3);
    replies_fd = fcntl(1, F_DUPFD_CLOEXEC, 3);
    int null = open("/dev/null", O_RDWR);
    if (requests_fd < 0 || replies_fd < 0 || null < 0 || dup2(null, 0) < 0 || dup2(null, 1) < 0) {
        perror("scriptorium init: fds");
        return 1;
    }
    close(null);
    if (isolated)
        for (int i = 0; i < n_wipe; i++)
            chmod(wipe_dirs[i], 01777);
    wipe();

    uint32_t flags = (uint32_t)filter_on, hello_len = 8 + (uint32_t)strlen(workdir);
    if (write_full(replies_fd, &hello_len, 4) || write_full(replies_fd, "HELO", 4) ||
        write_full(replies_fd, &flags, 4) || write_full(replies_fd, workdir, strlen(workdir)))
        return 0;

    unsigned char *frame = NULL;
    size_t frame_cap = 0;
    struct reply rep;
    memset(&rep, 0, sizeof rep);
    size_t buf_cap = 0;
    for (;;) {
        uint32_t size;
        if (read_full(requests_fd, &size, 4))
            return 0;
        if (size > MAX_REQUEST)
            return 1;
        if (size > frame_cap) {
            free(frame);
            frame_cap = size;
            frame = malloc(frame_cap);
            if (!frame)
                return 1;
        }
        if (read_full(requests_fd, frame, size))
            return 0;
        /* Output buffers are sized by the largest cap seen so far and reused. */
        uint64_t cap = 0;
        if (size >= 4 + 8 * 5)
            memcpy(&cap, frame + 4 + 8 * 4, 8);
        if (cap > (256u << 20))
            cap = 0;
        if (cap > buf_cap) {
            free(rep.out.buf);
            free(rep.err.buf);
            rep.out.buf = malloc(cap);
            rep.err.buf = malloc(cap);
            buf_cap = cap;
            if (!rep.out.buf || !rep.err.buf)
                return 1;
        }
        unsigned char *out_buf = rep.out.buf, *err_buf = rep.err.buf;
        memset(&rep, 0, sizeof rep);
        rep.out.buf = out_buf;
        rep.err.buf = err_buf;
        rep.exit_code = -1;
        execute(frame, size, &rep);
        if (!wipe())
            rep.flags |= RETIRE; /* whatever survived could reach the next program */
        if (rep.error[0])
            rep.out.len = rep.err.len = 0;
        send_reply(&rep);
        if (rep.flags & RETIRE)
            return 0;
    }
}
