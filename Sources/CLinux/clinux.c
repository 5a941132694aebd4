#define _GNU_SOURCE
#include "clinux.h"
#include <unistd.h>
#include <stdio.h>
#include <sys/syscall.h>

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
int cl_flock(int fd, int operation) { return flock(fd, operation); }
int cl_syncfs(int fd) { return syncfs(fd); }
