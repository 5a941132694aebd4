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

#define CL_FSCONFIG_SET_FLAG 0
#define CL_FSCONFIG_SET_STRING 1
#define CL_FSCONFIG_CMD_CREATE 6
#define CL_FSOPEN_CLOEXEC 1
#define CL_FSMOUNT_CLOEXEC 1
#define CL_MOVE_MOUNT_F_EMPTY_PATH 4

#endif
