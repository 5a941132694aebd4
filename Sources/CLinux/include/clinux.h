#ifndef SWCOMPOSE_CLINUX_H
#define SWCOMPOSE_CLINUX_H

#include <sys/types.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <sys/file.h>
#include <fcntl.h>
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <signal.h>
#include <sys/inotify.h>
#include <poll.h>

/// Linux calls that Swift cannot reach through Glibc's overlay (macros, variadics, newer syscalls).
int cl_openat(int dirfd, const char *path, int flags, mode_t mode);
dev_t cl_makedev(unsigned int major, unsigned int minor);
unsigned int cl_major(dev_t dev);
unsigned int cl_minor(dev_t dev);
int cl_fsopen(const char *fsname, unsigned int flags);
int cl_fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux);
int cl_fsmount(int fd, unsigned int flags, unsigned int attr_flags);
int cl_move_mount(int from_dirfd, const char *from_path, int to_dirfd, const char *to_path, unsigned int flags);
int cl_flock(int fd, int operation);
int cl_syncfs(int fd);
int cl_renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, unsigned int flags);
/// openat2(2) with RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS: `path` resolved as if `dirfd` were `/`.
int cl_openat2_in_root(int dirfd, const char *path, int flags, mode_t mode);

/// Spawning a process in new namespaces. The child runs only async-signal-safe C between clone3 and
/// execve, so this is safe from a multithreaded parent.
typedef struct {
    const char *path;              /* program to execve */
    char *const *argv;
    char *const *envp;
    const int *fds;                /* child descriptor i becomes fds[i] (-1: closed) */
    int nfds;
    unsigned long long flags;      /* CLONE_NEW* flags */
    int cgroup_fd;                 /* >= 0: CLONE_INTO_CGROUP (cgroup v2) */
    int new_session;               /* setsid() in the child */
    int controlling_tty;           /* >= 0: child fd to make the controlling terminal (after setsid) */
    int parent_death_signal;       /* > 0: PR_SET_PDEATHSIG */
    int legacy_clone;              /* 1: clone(2) instead of clone3 (kernels or seccomp filters without
                                      clone3): the child joins cgroup_fd itself before execve */
    int pid_namespace_fd;          /* >= 0: the child is born in this (existing) pid namespace: the
                                      calling thread enters it for its children around the clone */
} cl_spawn_attr;

/// Returns the child's pid (and its pidfd in *pidfd when not NULL); -1 with errno set when the clone
/// failed, -2 with errno set when the child failed before or at execve.
int cl_spawn(const cl_spawn_attr *attr, int *pidfd);
/* Marks every descriptor from first on close-on-exec, without close_range (async-signal-safe). */
int cl_cloexec_from(int first);

int cl_pidfd_open(int pid, unsigned int flags);
int cl_pidfd_send_signal(int pidfd, int sig, unsigned int flags);
int cl_pivot_root(const char *new_root, const char *put_old);
int cl_setns(int fd, int nstype);
int cl_unshare(int flags);
int cl_sethostname(const char *name, size_t len);
int cl_setdomainname(const char *name, size_t len);
int cl_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5);
int cl_ioctl_int(int fd, unsigned long request, int *value);
int cl_ioctl_ptr(int fd, unsigned long request, void *value);
int cl_set_winsize(int fd, unsigned short rows, unsigned short cols);
int cl_get_winsize(int fd, unsigned short *rows, unsigned short *cols);
int cl_capget(unsigned int *effective, unsigned int *permitted, unsigned int *inheritable);
int cl_capset(const unsigned int *effective, const unsigned int *permitted, const unsigned int *inheritable);
int cl_setresuid(unsigned int r, unsigned int e, unsigned int s);
int cl_setresgid(unsigned int r, unsigned int e, unsigned int s);
int cl_setgroups(size_t n, const unsigned int *groups);
int cl_close_range(unsigned int first, unsigned int last, unsigned int flags);
int cl_memfd_create(const char *name, unsigned int flags);
int cl_mount_setattr_ro_recursive(int dirfd, const char *path);

/// Installs a classic BPF seccomp program (an array of struct sock_filter, 8 bytes each).
int cl_seccomp_load(const void *program, size_t bytes);

/// Loads a BPF_PROG_TYPE_CGROUP_DEVICE program (instructions, 8 bytes each) and attaches it to the
/// cgroup2 directory `cgroup_fd` (BPF_F_ALLOW_MULTI). Returns 0, or -1 with errno and the verifier's
/// log in `log`.
int cl_attach_device_filter(int cgroup_fd, const void *insns, size_t count, char *log, size_t log_size);
/// Loads an eBPF program of `prog_type` (with `attach_type` as its expected attach type where the type
/// needs one) and attaches it to the cgroup2 directory `cgroup_fd` at `attach_type` (BPF_F_ALLOW_MULTI).
int cl_attach_cgroup_program(int cgroup_fd, int prog_type, int attach_type, const void *insns, size_t count, char *log, size_t log_size);
/// Writes `value` to `path` (a /proc/sys/net file) as the network namespace `netns_fd` sees it.
int cl_write_in_netns(int netns_fd, const char *path, const char *value, size_t length);
/// A socket made in the network namespace `netns_fd` (the calling thread enters it and returns).
int cl_socket_in_netns(int netns_fd, int domain, int type, int protocol);

/// A NETLINK_ROUTE socket, bound; in the network namespace `netns_fd` when it is >= 0 (the calling
/// thread enters it to create the socket and returns to its own).
int cl_netlink_route_socket(int netns_fd);
/// A netlink socket of `protocol` (NETLINK_NETFILTER, ...), bound; in `netns_fd` as above.
int cl_netlink_socket(int netns_fd, int protocol);
/// The legacy x_tables table `table` (IPv4, or IPv6 when `ipv6`) as one number: its hooks, size and
/// entries without their counters; equal numbers, equal rules. -1 with errno (ENOENT: no such table).
int cl_xtables_fingerprint(int ipv6, const char *table, uint64_t *out);
int cl_probe_device_filter(void);
/* An AF_PACKET datagram socket for ARP in the network namespace netns_fd, and the index there of the
 * interface named ifname (in *ifindex). -1 with errno on failure. */
int cl_arp_socket(int netns_fd, const char *ifname, int *ifindex);
/* Sends payload as an ARP frame out of ifindex to the link-layer broadcast address. */
int cl_arp_broadcast(int fd, int ifindex, const void *payload, size_t length);

/// Sends bytes with descriptors attached (SCM_RIGHTS). Returns bytes sent or -1.
ssize_t cl_send_fds(int sock, const void *buf, size_t len, const int *fds, int nfds);
/// Receives bytes and up to *nfds descriptors (made close-on-exec); *nfds is set to how many came.
ssize_t cl_recv_fds(int sock, void *buf, size_t len, int *fds, int *nfds);
/// The size of the next packet on a SOCK_SEQPACKET socket (blocking until one comes; 0 at its end).
ssize_t cl_next_packet_size(int sock);
/// The peer's credentials on a unix socket.
int cl_peer_pid(int sock);

int cl_signalfd(int fd, const int *signals, int nsignals, int flags);
int cl_block_signals(const int *signals, int nsignals);
int cl_unblock_all_signals(void);
int cl_waitid_pidfd(int pidfd, int *code, int *status, int options);

/// epoll without the packed struct (which Swift cannot lay out): events come back as parallel arrays.
int cl_epoll_create(void);
/// accept4 with close-on-exec and non-blocking set.
int cl_accept(int fd);
int cl_pipe2(int fds[2], int flags);
/* splice(2) between a socket and a pipe, never blocking on the pipe; -errno on failure. */
long cl_splice(int from, int to, unsigned long length);
/* Returns the heap's free memory to the kernel (malloc_trim(0)). */
void cl_malloc_trim(void);
/* Sets a pipe's capacity (F_SETPIPE_SZ); the capacity it got, or -1. */
int cl_set_pipe_size(int fd, int size);
int cl_epoll_ctl(int epfd, int op, int fd, unsigned int events);
int cl_epoll_wait(int epfd, int *fds, unsigned int *events, int max, int timeout_ms);

#define CL_EPOLL_CTL_ADD 1
#define CL_EPOLL_CTL_DEL 2
#define CL_EPOLLIN 0x001
#define CL_EPOLLOUT 0x004
#define CL_EPOLLHUP 0x010
#define CL_TIOCSCTTY 0x540E
#define CL_TIOCGPTN 0x80045430UL
#define CL_TIOCSPTLCK 0x40045431UL
#define CL_TIOCGPTPEER 0x5441
#define CL_CLONE_NEWNS 0x00020000
#define CL_CLONE_NEWCGROUP 0x02000000
#define CL_CLONE_NEWUTS 0x04000000
#define CL_CLONE_NEWIPC 0x08000000
#define CL_CLONE_NEWUSER 0x10000000
#define CL_CLONE_NEWPID 0x20000000
#define CL_CLONE_NEWNET 0x40000000

#define CL_FSCONFIG_SET_FLAG 0
#define CL_FSCONFIG_SET_STRING 1
#define CL_FSCONFIG_CMD_CREATE 6
#define CL_FSOPEN_CLOEXEC 1
#define CL_FSMOUNT_CLOEXEC 1
#define CL_MOVE_MOUNT_F_EMPTY_PATH 4

#endif
