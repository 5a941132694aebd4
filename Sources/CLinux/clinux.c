#define _GNU_SOURCE
#include "clinux.h"
#include <sys/resource.h>
#include <net/if.h>
#include <netinet/in.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <unistd.h>
#include <stdio.h>
#include <malloc.h>
#include <sys/syscall.h>
#include <sys/mman.h>
#include <pthread.h>

int cl_openat(int dirfd, const char *path, int flags, mode_t mode) { return openat(dirfd, path, flags, mode); }
dev_t cl_makedev(unsigned int major, unsigned int minor) { return makedev(major, minor); }
unsigned int cl_major(dev_t dev) { return major(dev); }
unsigned int cl_minor(dev_t dev) { return minor(dev); }

int cl_fsopen(const char *fsname, unsigned int flags) { return (int)syscall(SYS_fsopen, fsname, flags); }
int cl_fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux) {
    return (int)syscall(SYS_fsconfig, fd, cmd, key, value, aux);
}
int cl_fsmount(int fd, unsigned int flags, unsigned int attr_flags) { return (int)syscall(SYS_fsmount, fd, flags, attr_flags); }
int cl_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path, unsigned int flags) {
    return (int)syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags);
}
int cl_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags) {
    return (int)syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags);
}
#include <linux/openat2.h>
int cl_openat2_in_root(int dirfd, const char *path, int flags, mode_t mode) {
    struct open_how how = { .flags = (unsigned long long)flags, .mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0,
                            .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}
int cl_flock(int fd, int operation) { return flock(fd, operation); }
int cl_syncfs(int fd) { return syncfs(fd); }

#include <signal.h>
#include <string.h>
#include <stdlib.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <sys/signalfd.h>
#include <linux/sched.h>
#include <linux/capability.h>
#include <linux/mount.h>
#include <termios.h>
#include <grp.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_send_signal
#define SYS_pidfd_send_signal 424
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif

struct cl_clone_args {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup;
};

static void child_fail(int errfd, int err) {
    while (write(errfd, &err, sizeof err) < 0 && errno == EINTR) {}
    _exit(127);
}

/* Marks every descriptor from `first` on close-on-exec without close_range: the entries of
 * /proc/self/fd read with getdents64 into a stack buffer (async-signal-safe), or, without /proc, every
 * number up to the descriptor limit. */
int cl_cloexec_from(int first) {
    int dir = open("/proc/self/fd", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
        char buffer[4096];
        for (;;) {
            long n = syscall(SYS_getdents64, dir, buffer, sizeof buffer);
            if (n < 0) { int e = errno; close(dir); errno = e; return -1; }
            if (n == 0) break;
            for (long at = 0; at < n;) {
                struct { unsigned long long ino; long long off; unsigned short reclen; unsigned char type; char name[]; } *d = (void *)(buffer + at);
                at += d->reclen;
                int fd = 0, digits = 0;
                for (const char *c = d->name; *c >= '0' && *c <= '9'; c++, digits++) fd = fd * 10 + (*c - '0');
                if (digits == 0 || fd < first || fd == dir) continue;
                fcntl(fd, F_SETFD, FD_CLOEXEC);
            }
        }
        close(dir);
        return 0;
    }
    struct rlimit limit;
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0) return -1;
    for (rlim_t fd = (rlim_t)first; fd < limit.rlim_cur; fd++) fcntl((int)fd, F_SETFD, FD_CLOEXEC);
    return 0;
}

/* What the child of cl_spawn runs until execve: async-signal-safe calls only. It never returns. */
struct cl_spawn_child {
    const cl_spawn_attr *attr;
    int errfd;
};

static int spawn_child(void *p) {
    const struct cl_spawn_child *c = p;
    const cl_spawn_attr *attr = c->attr;
    int errfd = c->errfd;
    /* Default dispositions first, then every signal unblocked (the parent blocked them all around a
     * clone sharing its memory, so that none of its handlers runs here). */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int s = 1; s < 65; s++) if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, NULL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (attr->parent_death_signal > 0) prctl(PR_SET_PDEATHSIG, attr->parent_death_signal, 0, 0, 0);
    if (attr->legacy_clone && attr->cgroup_fd >= 0) {
        /* No CLONE_INTO_CGROUP: join the cgroup before anything runs in it. */
        int procs = openat(attr->cgroup_fd, "cgroup.procs", O_WRONLY | O_CLOEXEC);
        if (procs < 0 || write(procs, "0", 1) != 1) child_fail(errfd, errno);
        close(procs);
    }
    /* Move every source above the target range first, so that dup2 never clobbers a source. */
    int base = attr->nfds + 3;
    if (errfd < base) {
        int moved = fcntl(errfd, F_DUPFD_CLOEXEC, base);
        if (moved < 0) child_fail(errfd, errno);
        errfd = moved;
        base = moved + 1;
    }
    int moved[256];
    int n = attr->nfds > 256 ? 256 : attr->nfds;
    for (int i = 0; i < n; i++) {
        moved[i] = -1;
        if (attr->fds[i] < 0) continue;
        moved[i] = fcntl(attr->fds[i], F_DUPFD_CLOEXEC, base);
        if (moved[i] < 0) child_fail(errfd, errno);
    }
    for (int i = 0; i < n; i++) {
        if (moved[i] < 0) { close(i); continue; }
        if (dup2(moved[i], i) < 0) child_fail(errfd, errno);
    }
    if (attr->new_session && setsid() < 0) child_fail(errfd, errno);
    if (attr->controlling_tty >= 0 && ioctl(attr->controlling_tty, TIOCSCTTY, 0) < 0) child_fail(errfd, errno);
    /* Everything at or above n is close-on-exec or closed now (the moved copies are CLOEXEC). */
    if (syscall(SYS_close_range, (unsigned)n, ~0U, 4 /* CLOSE_RANGE_CLOEXEC */) != 0) {
        /* CLOSE_RANGE_CLOEXEC is Linux 5.11, close_range 5.9: mark them one by one. */
        if (cl_cloexec_from(n) != 0) child_fail(errfd, errno);
    }
    int keep = fcntl(errfd, F_SETFD, FD_CLOEXEC);
    (void)keep;
    execve(attr->path, attr->argv, attr->envp);
    child_fail(errfd, errno);
    return 127;
}

#if defined(__x86_64__)
/* clone3 with CLONE_VM | CLONE_VFORK, as posix_spawn clones: the child shares the caller's memory
 * (no copy of its page tables, none of the copy-on-write faults a fork costs the caller afterwards)
 * and runs `fn(arg)` on its own stack while the caller waits for its execve or exit. Returns what
 * the syscall returns (a negative errno on failure). The child's registers are the caller's at the
 * syscall, its stack pointer the top of args->stack: fn and arg travel in r8 and r9, which the
 * syscall preserves. */
long cl_clone3_vm(struct cl_clone_args *args, size_t size, int (*fn)(void *), void *arg);
__asm__(
    ".text\n"
    ".globl cl_clone3_vm\n"
    ".hidden cl_clone3_vm\n"
    ".type cl_clone3_vm,@function\n"
    "cl_clone3_vm:\n"
    "    mov %rdx, %r8\n"
    "    mov %rcx, %r9\n"
    "    mov $435, %eax\n"
    "    syscall\n"
    "    test %rax, %rax\n"
    "    jnz 1f\n"
    "    xor %ebp, %ebp\n"
    "    and $-16, %rsp\n"
    "    mov %r9, %rdi\n"
    "    call *%r8\n"
    "    mov %eax, %edi\n"
    "    mov $60, %eax\n"
    "    syscall\n"
    "    hlt\n"
    "1:  ret\n"
    ".size cl_clone3_vm, .-cl_clone3_vm\n");
#define CL_HAVE_CLONE3_VM 1
#endif

int cl_spawn(const cl_spawn_attr *attr, int *pidfd) {
    int errpipe[2];
    if (pipe2(errpipe, O_CLOEXEC) != 0) return -1;
    struct cl_clone_args args;
    memset(&args, 0, sizeof args);
    int pfd = -1;
    args.flags = attr->flags;
    if (pidfd) { args.flags |= CLONE_PIDFD; args.pidfd = (uint64_t)(uintptr_t)&pfd; }
    if (attr->cgroup_fd >= 0 && !attr->legacy_clone) { args.flags |= 0x200000000ULL /* CLONE_INTO_CGROUP */; args.cgroup = (uint64_t)attr->cgroup_fd; }
    args.exit_signal = SIGCHLD;
    struct cl_spawn_child child = { attr, errpipe[1] };
    /* Joining a pid namespace: setns sets this thread's namespace for children only. */
    int own_pid_ns = -1;
    if (attr->pid_namespace_fd >= 0) {
        own_pid_ns = open("/proc/thread-self/ns/pid", O_RDONLY | O_CLOEXEC);
        if (own_pid_ns < 0) { int e = errno; close(errpipe[0]); close(errpipe[1]); errno = e; return -1; }
        if (setns(attr->pid_namespace_fd, CLONE_NEWPID) != 0) {
            int e = errno; close(own_pid_ns); close(errpipe[0]); close(errpipe[1]); errno = e; return -1;
        }
    }
    long pid;
    if (attr->legacy_clone) {
        /* clone(2) with no new stack: fork semantics. x86_64 and arm64 order: flags, stack, parent_tid
         * (the pidfd with CLONE_PIDFD), child_tid, tls. */
        pid = syscall(SYS_clone, (unsigned long)(args.flags | SIGCHLD), NULL, pidfd ? &pfd : NULL, NULL, 0);
        if (pid == 0) spawn_child(&child);
    } else {
#ifdef CL_HAVE_CLONE3_VM
        /* The child's stack; every signal blocked across the clone (the child unblocks them once its
         * dispositions are the defaults). */
        size_t stack_size = 64 * 1024;
        void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (stack == MAP_FAILED) {
            pid = -1;
        } else {
            sigset_t all, saved;
            sigfillset(&all);
            pthread_sigmask(SIG_SETMASK, &all, &saved);
            args.flags |= CLONE_VM | CLONE_VFORK;
            args.stack = (uint64_t)(uintptr_t)stack;
            args.stack_size = stack_size;
            long r = cl_clone3_vm(&args, sizeof args, spawn_child, &child);
            int e = r < 0 ? (int)-r : 0;
            pthread_sigmask(SIG_SETMASK, &saved, NULL);
            munmap(stack, stack_size);
            pid = r < 0 ? -1 : r;
            errno = e;
        }
#else
        pid = syscall(SYS_clone3, &args, sizeof args);
        if (pid == 0) spawn_child(&child);
#endif
    }
    if (pid != 0 && own_pid_ns >= 0) {
        int e = errno;
        if (setns(own_pid_ns, CLONE_NEWPID) != 0) abort(); /* never leave the thread's children elsewhere */
        close(own_pid_ns);
        errno = e;
    }
    if (pid < 0) {
        int e = errno;
        close(errpipe[0]); close(errpipe[1]);
        errno = e;
        return -1;
    }
    close(errpipe[1]);
    int err = 0;
    ssize_t got;
    do { got = read(errpipe[0], &err, sizeof err); } while (got < 0 && errno == EINTR);
    close(errpipe[0]);
    if (got == sizeof err) {
        int status;
        while (waitpid((pid_t)pid, &status, 0) < 0 && errno == EINTR) {}
        if (pfd >= 0) close(pfd);
        errno = err;
        return -2;
    }
    if (pidfd) *pidfd = pfd;
    return (int)pid;
}

int cl_pidfd_open(int pid, unsigned int flags) { return (int)syscall(SYS_pidfd_open, pid, flags); }
int cl_pidfd_send_signal(int pidfd, int sig, unsigned int flags) { return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, flags); }
int cl_pivot_root(const char *new_root, const char *put_old) { return (int)syscall(SYS_pivot_root, new_root, put_old); }
int cl_setns(int fd, int nstype) { return setns(fd, nstype); }
int cl_unshare(int flags) { return unshare(flags); }
int cl_sethostname(const char *name, size_t len) { return sethostname(name, len); }
int cl_setdomainname(const char *name, size_t len) { return setdomainname(name, len); }
int cl_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5) { return prctl(option, a2, a3, a4, a5); }
int cl_ioctl_int(int fd, unsigned long request, int *value) { return ioctl(fd, request, value); }
int cl_ioctl_ptr(int fd, unsigned long request, void *value) { return ioctl(fd, request, value); }

int cl_set_winsize(int fd, unsigned short rows, unsigned short cols) {
    struct winsize ws;
    memset(&ws, 0, sizeof ws);
    ws.ws_row = rows;
    ws.ws_col = cols;
    return ioctl(fd, TIOCSWINSZ, &ws);
}

int cl_get_winsize(int fd, unsigned short *rows, unsigned short *cols) {
    struct winsize ws;
    if (ioctl(fd, TIOCGWINSZ, &ws) != 0) return -1;
    *rows = ws.ws_row;
    *cols = ws.ws_col;
    return 0;
}

int cl_capget(unsigned int *effective, unsigned int *permitted, unsigned int *inheritable) {
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    memset(d, 0, sizeof d);
    if (syscall(SYS_capget, &h, d) != 0) return -1;
    for (int i = 0; i < 2; i++) { effective[i] = d[i].effective; permitted[i] = d[i].permitted; inheritable[i] = d[i].inheritable; }
    return 0;
}

int cl_capset(const unsigned int *effective, const unsigned int *permitted, const unsigned int *inheritable) {
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    for (int i = 0; i < 2; i++) { d[i].effective = effective[i]; d[i].permitted = permitted[i]; d[i].inheritable = inheritable[i]; }
    return (int)syscall(SYS_capset, &h, d);
}

/* Raw system calls: glibc's wrappers broadcast id changes to every thread, which is not wanted (and
   not needed) in the single-threaded helpers. */
int cl_setresuid(unsigned int r, unsigned int e, unsigned int s) { return (int)syscall(SYS_setresuid, r, e, s); }
int cl_setresgid(unsigned int r, unsigned int e, unsigned int s) { return (int)syscall(SYS_setresgid, r, e, s); }
int cl_setgroups(size_t n, const unsigned int *groups) { return (int)syscall(SYS_setgroups, n, groups); }
int cl_close_range(unsigned int first, unsigned int last, unsigned int flags) { return (int)syscall(SYS_close_range, first, last, flags); }
int cl_memfd_create(const char *name, unsigned int flags) { return (int)syscall(SYS_memfd_create, name, flags); }

int cl_mount_setattr_ro_recursive(int dirfd, const char *path) {
    struct mount_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.attr_set = MOUNT_ATTR_RDONLY;
    return (int)syscall(SYS_mount_setattr, dirfd, path, AT_RECURSIVE, &attr, sizeof attr);
}

ssize_t cl_send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds) {
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    struct iovec iov = { (void *)buf, len };
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    char control[CMSG_SPACE(sizeof(int) * 16)];
    if (nfds > 16) { errno = EINVAL; return -1; }
    if (nfds > 0) {
        memset(control, 0, sizeof control);
        msg.msg_control = control;
        msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
    }
    ssize_t r;
    do { r = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (r < 0 && errno == EINTR);
    return r;
}

ssize_t cl_recv_fds(int sock, void *buf, size_t len, int *fds, int *nfds) {
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    struct iovec iov = { buf, len };
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    char control[CMSG_SPACE(sizeof(int) * 16)];
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t r;
    do { r = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); } while (r < 0 && errno == EINTR);
    int got = 0;
    if (r >= 0) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
            int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            int *data = (int *)CMSG_DATA(c);
            for (int i = 0; i < count; i++) {
                if (got < *nfds) fds[got++] = data[i];
                else close(data[i]);
            }
        }
    }
    *nfds = got;
    return r;
}

ssize_t cl_next_packet_size(int sock) {
    char byte;
    ssize_t r;
    do { r = recv(sock, &byte, 1, MSG_PEEK | MSG_TRUNC); } while (r < 0 && errno == EINTR);
    return r;
}

int cl_peer_pid(int sock) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return -1;
    return cred.pid;
}

int cl_signalfd(int fd, const int *signals, int nsignals, int flags) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < nsignals; i++) sigaddset(&set, signals[i]);
    return signalfd(fd, &set, flags);
}

int cl_block_signals(const int *signals, int nsignals) {
    sigset_t set;
    sigemptyset(&set);
    for (int i = 0; i < nsignals; i++) sigaddset(&set, signals[i]);
    return sigprocmask(SIG_BLOCK, &set, NULL);
}

int cl_unblock_all_signals(void) {
    sigset_t set;
    sigemptyset(&set);
    return sigprocmask(SIG_SETMASK, &set, NULL);
}

int cl_waitid_pidfd(int pidfd, int *code, int *status, int options) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PIDFD, (id_t)pidfd, &info, options) != 0) return -1;
    *code = info.si_code;
    *status = info.si_status;
    return info.si_pid;
}

#include <sys/epoll.h>

int cl_accept(int fd) { return accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK); }
int cl_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }

long cl_splice(int from, int to, unsigned long length) {
    ssize_t n;
    do { n = splice(from, NULL, to, NULL, length, SPLICE_F_MOVE | SPLICE_F_NONBLOCK); } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

int cl_set_pipe_size(int fd, int size) { return fcntl(fd, F_SETPIPE_SZ, size); }

void cl_malloc_trim(void) { malloc_trim(0); }

int cl_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

int cl_epoll_ctl(int epfd, int op, int fd, unsigned int events) {
    struct epoll_event ev;
    memset(&ev, 0, sizeof ev);
    ev.events = events;
    ev.data.fd = fd;
    return epoll_ctl(epfd, op, fd, &ev);
}

int cl_epoll_wait(int epfd, int *fds, unsigned int *events, int max, int timeout_ms) {
    struct epoll_event ev[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epfd, ev, max, timeout_ms);
    for (int i = 0; i < n; i++) { fds[i] = ev[i].data.fd; events[i] = ev[i].events; }
    return n;
}

#include <linux/filter.h>
#include <linux/seccomp.h>

int cl_seccomp_load(const void *program, size_t bytes) {
    struct sock_fprog prog;
    prog.len = (unsigned short)(bytes / sizeof(struct sock_filter));
    prog.filter = (struct sock_filter *)program;
    return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

#include <linux/bpf.h>

int cl_attach_device_filter(int cgroup_fd, const void *insns, size_t count, char *log, size_t log_size) {
    return cl_attach_cgroup_program(cgroup_fd, BPF_PROG_TYPE_CGROUP_DEVICE, BPF_CGROUP_DEVICE, insns, count, log, log_size);
}

/* Before Linux 5.11 a BPF program's memory is charged to its user's locked memory and checked against
 * the loader's RLIMIT_MEMLOCK (64 KiB by default): a few containers' device and socket programs
 * exhaust it, and the next load fails with EPERM. The limit is lifted for the load (to the hard limit
 * when this process may not raise that) and put back after, so that the processes this one starts
 * (containers) keep the limit they would have; later kernels ignore it. */
static void lift_memlock(struct rlimit *saved) {
    if (getrlimit(RLIMIT_MEMLOCK, saved) != 0) { saved->rlim_cur = saved->rlim_max = 0; return; }
    struct rlimit unlimited = { RLIM_INFINITY, RLIM_INFINITY };
    if (setrlimit(RLIMIT_MEMLOCK, &unlimited) == 0) return;
    struct rlimit raised = { saved->rlim_max, saved->rlim_max };
    setrlimit(RLIMIT_MEMLOCK, &raised);
}

static void restore_memlock(const struct rlimit *saved) {
    if (saved->rlim_max == 0 && saved->rlim_cur == 0) return;
    int e = errno;
    setrlimit(RLIMIT_MEMLOCK, saved);
    errno = e;
}

static int attach_cgroup_program(int cgroup_fd, int prog_type, int attach_type, const void *insns, size_t count, char *log, size_t log_size);

int cl_attach_cgroup_program(int cgroup_fd, int prog_type, int attach_type, const void *insns, size_t count, char *log, size_t log_size) {
    struct rlimit saved;
    lift_memlock(&saved);
    int result = attach_cgroup_program(cgroup_fd, prog_type, attach_type, insns, count, log, log_size);
    restore_memlock(&saved);
    return result;
}

static int attach_cgroup_program(int cgroup_fd, int prog_type, int attach_type, const void *insns, size_t count, char *log, size_t log_size) {
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.prog_type = (uint32_t)prog_type;
    if (prog_type == BPF_PROG_TYPE_CGROUP_SOCK_ADDR) attr.expected_attach_type = (uint32_t)attach_type;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.insn_cnt = (uint32_t)count;
    attr.license = (uint64_t)(uintptr_t)"Apache";
    int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
    if (prog < 0) {
        /* Again with the verifier's log, to say why (a log that fills up fails the load with ENOSPC). */
        int e = errno;
        if (log && log_size > 0) {
            log[0] = 0;
            attr.log_buf = (uint64_t)(uintptr_t)log;
            attr.log_size = (uint32_t)log_size;
            attr.log_level = 1;
            int again = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
            if (again >= 0) close(again);
        }
        errno = e;
        return -1;
    }
    memset(&attr, 0, sizeof attr);
    attr.target_fd = (uint32_t)cgroup_fd;
    attr.attach_bpf_fd = (uint32_t)prog;
    attr.attach_type = (uint32_t)attach_type;
    attr.attach_flags = BPF_F_ALLOW_MULTI;
    int r = (int)syscall(SYS_bpf, BPF_PROG_ATTACH, &attr, sizeof attr);
    int e = errno;
    close(prog);
    errno = e;
    return r;
}

/* Loads (and drops) a trivial device program: whether the kernel takes cgroup device filters. */
int cl_probe_device_filter(void) {
    struct { uint8_t code, regs; int16_t off; int32_t imm; } insns[2] = { { 0xb7, 0, 0, 1 }, { 0x95, 0, 0, 0 } };
    union bpf_attr attr;
    memset(&attr, 0, sizeof attr);
    attr.prog_type = BPF_PROG_TYPE_CGROUP_DEVICE;
    attr.insns = (uint64_t)(uintptr_t)insns;
    attr.insn_cnt = 2;
    attr.license = (uint64_t)(uintptr_t)"Apache";
    struct rlimit saved;
    lift_memlock(&saved);
    int prog = (int)syscall(SYS_bpf, BPF_PROG_LOAD, &attr, sizeof attr);
    restore_memlock(&saved);
    if (prog < 0) return -1;
    close(prog);
    return 0;
}

#include <linux/netlink.h>

int cl_netlink_route_socket(int netns_fd) { return cl_netlink_socket(netns_fd, NETLINK_ROUTE); }

int cl_netlink_socket(int netns_fd, int protocol) {
    int own = -1;
    if (netns_fd >= 0) {
        own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
        if (own < 0) return -1;
        if (setns(netns_fd, CLONE_NEWNET) != 0) { int e = errno; close(own); errno = e; return -1; }
    }
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    int e = errno;
    if (fd >= 0) {
        struct sockaddr_nl addr;
        memset(&addr, 0, sizeof addr);
        addr.nl_family = AF_NETLINK;
        if (bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0) { e = errno; close(fd); fd = -1; }
    }
    if (own >= 0) {
        if (setns(own, CLONE_NEWNET) != 0) abort(); /* never leave the thread in the other namespace */
        close(own);
    }
    errno = e;
    return fd;
}

int cl_socket_in_netns(int netns_fd, int domain, int type, int protocol) {
    int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (own < 0) return -1;
    if (setns(netns_fd, CLONE_NEWNET) != 0) { int e = errno; close(own); errno = e; return -1; }
    int fd = socket(domain, type | SOCK_CLOEXEC, protocol);
    int e = errno;
    if (setns(own, CLONE_NEWNET) != 0) abort(); /* never leave the thread in the other namespace */
    close(own);
    errno = e;
    return fd;
}

int cl_write_in_netns(int netns_fd, const char *path, const char *value, size_t length) {
    int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (own < 0) return -1;
    if (setns(netns_fd, CLONE_NEWNET) != 0) { int e = errno; close(own); errno = e; return -1; }
    /* /proc/sys/net is the calling thread's network namespace's when it is opened. */
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    int e = errno;
    int r = -1;
    if (fd >= 0) {
        ssize_t n = write(fd, value, length);
        e = errno;
        r = n == (ssize_t)length ? 0 : -1;
        close(fd);
    }
    if (setns(own, CLONE_NEWNET) != 0) abort(); /* never leave the thread in the other namespace */
    close(own);
    errno = e;
    return r;
}

int cl_arp_socket(int netns_fd, const char *ifname, int *ifindex) {
    int own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (own < 0) return -1;
    if (setns(netns_fd, CLONE_NEWNET) != 0) { int e = errno; close(own); errno = e; return -1; }
    /* Protocol 0: the socket receives nothing, it only sends (sendto names ETH_P_ARP). */
    int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int e = errno;
    if (fd >= 0) {
        unsigned index = if_nametoindex(ifname);
        if (index == 0) { e = errno; close(fd); fd = -1; } else { *ifindex = (int)index; }
    }
    if (setns(own, CLONE_NEWNET) != 0) abort(); /* never leave the thread in the other namespace */
    close(own);
    errno = e;
    return fd;
}

int cl_arp_broadcast(int fd, int ifindex, const void *payload, size_t length) {
    struct sockaddr_ll to;
    memset(&to, 0, sizeof to);
    to.sll_family = AF_PACKET;
    to.sll_protocol = htons(ETH_P_ARP);
    to.sll_ifindex = ifindex;
    to.sll_halen = 6;
    memset(to.sll_addr, 0xff, 6);
    ssize_t n = sendto(fd, payload, length, 0, (struct sockaddr *)&to, sizeof to);
    return n < 0 ? -1 : 0;
}

#include <linux/netfilter_ipv4/ip_tables.h>
#include <linux/netfilter_ipv6/ip6_tables.h>

static uint64_t fnv1a(uint64_t h, const void *data, size_t length) {
    const unsigned char *p = data;
    for (size_t i = 0; i < length; i++) { h ^= p[i]; h *= 1099511628211ULL; }
    return h;
}

/* The legacy x_tables table `table` (IPv4, or IPv6 with ipv6 != 0) as one number: its hooks, entry
 * count and size, and every entry with its packet and byte counters left out (they move with traffic). */
int cl_xtables_fingerprint(int ipv6, const char *table, uint64_t *out) {
    int fd = socket(ipv6 ? AF_INET6 : AF_INET, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_RAW);
    if (fd < 0) return -1;
    int level = ipv6 ? IPPROTO_IPV6 : IPPROTO_IP;
    struct ipt_getinfo info;   /* the same layout as ip6t_getinfo */
    memset(&info, 0, sizeof info);
    strncpy(info.name, table, sizeof info.name - 1);
    socklen_t length = sizeof info;
    if (getsockopt(fd, level, ipv6 ? IP6T_SO_GET_INFO : IPT_SO_GET_INFO, &info, &length) != 0) { int e = errno; close(fd); errno = e; return -1; }
    size_t header = ipv6 ? sizeof(struct ip6t_get_entries) : sizeof(struct ipt_get_entries);
    char *buffer = calloc(1, header + info.size);
    if (buffer == NULL) { close(fd); errno = ENOMEM; return -1; }
    struct ipt_get_entries *entries = (struct ipt_get_entries *)buffer;   /* name and size lead both */
    strncpy(entries->name, table, sizeof entries->name - 1);
    entries->size = info.size;
    length = (socklen_t)(header + info.size);
    if (getsockopt(fd, level, ipv6 ? IP6T_SO_GET_ENTRIES : IPT_SO_GET_ENTRIES, buffer, &length) != 0) {
        int e = errno; free(buffer); close(fd); errno = e; return -1;
    }
    close(fd);
    uint64_t h = 14695981039346656037ULL;
    h = fnv1a(h, &info.valid_hooks, sizeof info.valid_hooks);
    h = fnv1a(h, info.hook_entry, sizeof info.hook_entry);
    h = fnv1a(h, info.underflow, sizeof info.underflow);
    h = fnv1a(h, &info.num_entries, sizeof info.num_entries);
    h = fnv1a(h, &info.size, sizeof info.size);
    char *table_start = buffer + header;
    size_t counters_at = ipv6 ? offsetof(struct ip6t_entry, counters) : offsetof(struct ipt_entry, counters);
    size_t offset = 0;
    while (offset < info.size) {
        char *entry = table_start + offset;
        unsigned short next = ipv6 ? ((struct ip6t_entry *)entry)->next_offset : ((struct ipt_entry *)entry)->next_offset;
        if (next == 0 || offset + next > info.size) { free(buffer); errno = EPROTO; return -1; }
        memset(entry + counters_at, 0, sizeof(struct xt_counters));
        h = fnv1a(h, entry, next);
        offset += next;
    }
    free(buffer);
    *out = h;
    return 0;
}
