#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// A failed system call: which call, on what, and errno.
public struct SystemError: Error, Sendable, Equatable, CustomStringConvertible {
    public var call: String
    public var path: String?
    public var code: Int32

    public init(_ call: String, _ path: String? = nil, code: Int32 = errno) {
        self.call = call
        self.path = path
        self.code = code
    }

    public var message: String { String(cString: strerror(code)) }

    public var description: String {
        if let path { return "\(call) \(path): \(message)" }
        return "\(call): \(message)"
    }
}

/// The Engine's one seam onto the kernel: every system call the image store and the runtime make goes
/// through here, retries EINTR, and fails with the call's name.
public enum Sys {
    @discardableResult
    static func check(_ call: String, _ path: String? = nil, _ body: () -> Int32) throws(SystemError) -> Int32 {
        while true {
            let r = body()
            if r >= 0 { return r }
            if errno == EINTR { continue }
            throw SystemError(call, path)
        }
    }

    public static let cwd: Int32 = AT_FDCWD

    public static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0, at dir: Int32 = AT_FDCWD) throws(SystemError) -> Int32 {
        try check("open", path) { cl_openat(dir, path, flags | O_CLOEXEC, mode) }
    }

    public static func close(_ fd: Int32) { _ = Glibc.close(fd) }

    public static func mkdir(_ path: String, _ mode: mode_t = 0o755, at dir: Int32 = AT_FDCWD) throws(SystemError) {
        try check("mkdir", path) { mkdirat(dir, path, mode) }
    }

    /// Creates a directory; false when something of that name exists already.
    public static func makeDirectory(_ path: String, _ mode: mode_t) throws(SystemError) -> Bool {
        if Glibc.mkdir(path, mode) == 0 { return true }
        if errno == EEXIST { return false }
        throw SystemError("mkdir", path)
    }

    /// Creates `path` and its parents; existing directories are fine.
    public static func mkdirAll(_ path: String, _ mode: mode_t = 0o755) throws(SystemError) {
        var current = path.hasPrefix("/") ? "" : "."
        for part in path.split(separator: "/") {
            current += "/" + part
            if mkdirat(AT_FDCWD, current, mode) != 0 && errno != EEXIST {
                throw SystemError("mkdir", current)
            }
        }
    }

    public static func fileStatus(_ path: String, at dir: Int32 = AT_FDCWD, follow: Bool = false) throws(SystemError) -> Glibc.stat {
        var st = Glibc.stat()
        try check("stat", path) { fstatat(dir, path, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW) }
        return st
    }

    public static func fstat(_ fd: Int32) throws(SystemError) -> Glibc.stat {
        var st = Glibc.stat()
        try check("fstat") { Glibc.fstat(fd, &st) }
        return st
    }

    public static func exists(_ path: String) -> Bool {
        var st = Glibc.stat()
        return fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0
    }

    public static func isDirectory(_ path: String) -> Bool {
        var st = Glibc.stat()
        return fstatat(AT_FDCWD, path, &st, 0) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    public static func unlink(_ path: String, at dir: Int32 = AT_FDCWD, directory: Bool = false) throws(SystemError) {
        try check("unlink", path) { unlinkat(dir, path, directory ? AT_REMOVEDIR : 0) }
    }

    public static func isExecutable(_ path: String) -> Bool { access(path, X_OK) == 0 }

    /// The file mode creation mask: sets `mask`, returns the one before.
    @discardableResult
    public static func umask(_ mask: mode_t) -> mode_t { Glibc.umask(mask) }

    /// Moves a descriptor's offset (SEEK_SET, SEEK_END…); the new offset.
    @discardableResult
    public static func seek(_ fd: Int32, _ offset: Int64, _ whence: Int32 = SEEK_SET) throws(SystemError) -> Int64 {
        let r = lseek(fd, off_t(offset), whence)
        if r < 0 { throw SystemError("lseek") }
        return Int64(r)
    }

    /// Makes `fd` also descriptor `target` (dup2).
    public static func duplicate(_ fd: Int32, to target: Int32) throws(SystemError) {
        try check("dup2") { dup2(fd, target) }
    }

    /// Shuts down the writing side of a socket (the peer reads its end).
    public static func shutdownWrite(_ fd: Int32) { _ = shutdown(fd, Int32(SHUT_WR)) }

    public static func removeDirectory(_ path: String) throws(SystemError) {
        try check("rmdir", path) { rmdir(path) }
    }

    /// Sends a signal to a process; false when it could not be sent (gone, or not ours).
    @discardableResult
    public static func signal(_ pid: Int32, _ signal: Int32) -> Bool { kill(pid, signal) == 0 }

    public static func rename(_ from: String, _ to: String, fromDir: Int32 = AT_FDCWD, toDir: Int32 = AT_FDCWD) throws(SystemError) {
        try check("rename", "\(from) -> \(to)") { renameat(fromDir, from, toDir, to) }
    }

    /// Renames only if `to` does not exist yet (false when it does).
    public static func renameNoReplace(_ from: String, _ to: String) throws(SystemError) -> Bool {
        while true {
            if cl_renameat2(AT_FDCWD, from, AT_FDCWD, to, 1 /* RENAME_NOREPLACE */) == 0 { return true }
            if errno == EINTR { continue }
            if errno == EEXIST || errno == ENOTEMPTY { return false }
            throw SystemError("rename", "\(from) -> \(to)")
        }
    }

    public static func symlink(_ target: String, _ path: String, at dir: Int32 = AT_FDCWD) throws(SystemError) {
        try check("symlink", path) { symlinkat(target, dir, path) }
    }

    public static func link(_ from: String, fromDir: Int32, _ to: String, toDir: Int32) throws(SystemError) {
        try check("link", "\(from) -> \(to)") { linkat(fromDir, from, toDir, to, 0) }
    }

    public static func mknod(_ path: String, _ mode: mode_t, _ device: dev_t, at dir: Int32 = AT_FDCWD) throws(SystemError) {
        try check("mknod", path) { mknodat(dir, path, mode, device) }
    }

    public static func chown(_ path: String, _ uid: uid_t, _ gid: gid_t, at dir: Int32 = AT_FDCWD) throws(SystemError) {
        try check("chown", path) { fchownat(dir, path, uid, gid, AT_SYMLINK_NOFOLLOW) }
    }

    public static func chmod(_ path: String, _ mode: mode_t, at dir: Int32 = AT_FDCWD) throws(SystemError) {
        try check("chmod", path) { fchmodat(dir, path, mode, 0) }
    }

    public static func fchmod(_ fd: Int32, _ mode: mode_t) throws(SystemError) {
        try check("fchmod") { Glibc.fchmod(fd, mode) }
    }

    public static func fchown(_ fd: Int32, _ uid: uid_t, _ gid: gid_t) throws(SystemError) {
        try check("fchown") { Glibc.fchown(fd, uid, gid) }
    }

    /// `fchown` that also takes an O_PATH descriptor (fchownat AT_EMPTY_PATH).
    public static func chown(descriptor fd: Int32, _ uid: uid_t, _ gid: gid_t) throws(SystemError) {
        try check("fchownat") { fchownat(fd, "", uid, gid, 0x1000 /* AT_EMPTY_PATH */) }
    }

    public static func setTimes(_ path: String, at dir: Int32, accessed: timespec, modified: timespec) throws(SystemError) {
        var times = [accessed, modified]
        try check("utimensat", path) { utimensat(dir, path, &times, AT_SYMLINK_NOFOLLOW) }
    }

    public static func setXattr(_ path: String, _ name: String, _ value: [UInt8]) throws(SystemError) {
        try check("setxattr \(name)", path) { value.withUnsafeBytes { lsetxattr(path, name, $0.baseAddress, $0.count, 0) } }
    }

    /// An extended attribute on an open file.
    public static func setXattr(_ fd: Int32, _ name: String, _ value: [UInt8]) throws(SystemError) {
        try check("setxattr \(name)") { value.withUnsafeBytes { fsetxattr(fd, name, $0.baseAddress, $0.count, 0) } }
    }

    public static func getXattr(_ path: String, _ name: String) -> [UInt8]? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = buffer.withUnsafeMutableBytes { lgetxattr(path, name, $0.baseAddress, $0.count) }
        guard n >= 0 else { return nil }
        return Array(buffer[0..<n])
    }

    /// The names of a file's extended attributes (a symlink's own).
    public static func listXattrs(_ path: String) -> [String] {
        var size = llistxattr(path, nil, 0)
        while size > 0 {
            var buffer = [CChar](repeating: 0, count: size)
            let n = llistxattr(path, &buffer, buffer.count)
            if n < 0 && errno == ERANGE { size = llistxattr(path, nil, 0); continue }
            guard n > 0 else { return [] }
            return buffer[0..<n].split(separator: 0).map { String(decoding: $0.map { UInt8(bitPattern: $0) }, as: UTF8.self) }
        }
        return []
    }

    public static func removeXattr(_ path: String, _ name: String) throws(SystemError) {
        try check("removexattr \(name)", path) { lremovexattr(path, name) }
    }

    public static func readlink(_ path: String, at dir: Int32 = AT_FDCWD) throws(SystemError) -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let n = try check("readlink", path) { Int32(readlinkat(dir, path, &buffer, buffer.count - 1)) }
        return String(decoding: buffer[0..<Int(n)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public static func write(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(SystemError) {
        var offset = 0
        while offset < bytes.count {
            let n = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("write")
            }
            offset += n
        }
    }

    public static func pwrite(_ fd: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int64) throws(SystemError) {
        var done = 0
        while done < bytes.count {
            let n = Glibc.pwrite(fd, bytes.baseAddress! + done, bytes.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw SystemError("pwrite")
            }
            done += n
        }
    }

    /// Reads up to `buffer.count` bytes; 0 is the end of the file.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer) throws(SystemError) -> Int {
        while true {
            let n = Glibc.read(fd, buffer.baseAddress, buffer.count)
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw SystemError("read")
        }
    }

    /// Reads up to `buffer.count` bytes at `offset` (pread); 0 is the end of the file.
    public static func read(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, at offset: Int64) throws(SystemError) -> Int {
        while true {
            let n = Glibc.pread(fd, buffer.baseAddress, buffer.count, off_t(offset))
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw SystemError("pread")
        }
    }

    /// Reads up to `buffer.count` bytes into an array; 0 is the end of the file.
    public static func read(_ fd: Int32, into buffer: inout [UInt8]) throws(SystemError) -> Int {
        while true {
            let n = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n >= 0 { return n }
            if errno == EINTR { continue }
            throw SystemError("read")
        }
    }

    public static func fsync(_ fd: Int32) throws(SystemError) {
        try check("fsync") { Glibc.fsync(fd) }
    }

    public static func ftruncate(_ fd: Int32, _ size: Int64) throws(SystemError) {
        try check("ftruncate") { Glibc.ftruncate(fd, off_t(size)) }
    }

    /// An exclusive (or shared) advisory lock held until the descriptor is closed.
    public static func lock(_ fd: Int32, exclusive: Bool = true) throws(SystemError) {
        try check("flock") { cl_flock(fd, exclusive ? LOCK_EX : LOCK_SH) }
    }

    public static func mount(source: String, target: String, type: String?, flags: UInt, data: String?) throws(SystemError) {
        try check("mount \(type ?? "")", target) { Glibc.mount(source, target, type, flags, data) }
    }

    public static func unmount(_ target: String, flags: Int32 = 0) throws(SystemError) {
        try check("umount", target) { umount2(target, flags) }
    }

    /// The names in a directory (without `.` and `..`).
    public static func list(_ path: String) throws(SystemError) -> [String] {
        guard let dir = opendir(path) else { throw SystemError("opendir", path) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The names in the directory open at `fd` (without `.` and `..`); `fd` stays open.
    public static func list(directory fd: Int32) throws(SystemError) -> [String] {
        let copy = try duplicate(fd)
        guard let dir = fdopendir(copy) else {
            close(copy)
            throw SystemError("fdopendir")
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// The bytes a tree holds on disk (allocated blocks, hard links counted once, symlinks not
    /// followed), as `du -s` counts them. Missing is zero.
    public static func diskUsage(_ path: String) -> Int64 {
        var seen = Set<[UInt64]>()
        func walk(_ path: String) -> Int64 {
            var st = Glibc.stat()
            guard fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0 else { return 0 }
            if st.st_nlink > 1 && (st.st_mode & S_IFMT) != S_IFDIR {
                guard seen.insert([UInt64(st.st_dev), UInt64(st.st_ino)]).inserted else { return 0 }
            }
            var total = Int64(st.st_blocks) * 512
            if (st.st_mode & S_IFMT) == S_IFDIR, let names = try? list(path) {
                for name in names { total += walk(path + "/" + name) }
            }
            return total
        }
        return walk(path)
    }

    /// Removes a file or a directory tree without following symlinks. Missing is fine.
    public static func removeAll(_ path: String) throws(SystemError) {
        var st = Glibc.stat()
        guard fstatat(AT_FDCWD, path, &st, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return }
            throw SystemError("stat", path)
        }
        if (st.st_mode & S_IFMT) == S_IFDIR {
            // Directories may have been made read-only by an image; make them writable to empty them.
            if st.st_mode & 0o700 != 0o700 { _ = Glibc.chmod(path, 0o700) }
            let names = try list(path)
            for name in names { try removeAll(path + "/" + name) }
            try check("rmdir", path) { Glibc.rmdir(path) }
        } else {
            try check("unlink", path) { Glibc.unlink(path) }
        }
    }

    public static var pid: Int32 { getpid() }

    public static func major(_ device: dev_t) -> UInt32 { cl_major(device) }
    public static func minor(_ device: dev_t) -> UInt32 { cl_minor(device) }

    /// Whether a process with this pid exists.
    public static func processExists(_ pid: Int32) -> Bool {
        kill(pid, 0) == 0 || errno == EPERM
    }

    public static var isRoot: Bool { geteuid() == 0 }

    public static var effectiveUserID: uid_t { geteuid() }

    /// Sleeps the calling thread (the synchronous paths' short backoffs).
    public static func sleep(microseconds: UInt32) { usleep(useconds_t(microseconds)) }

    /// `uname`'s machine (`x86_64`) and release (`6.18.0-1-amd64`).
    public static var kernel: (machine: String, release: String) {
        let u = unameFields()
        return (u.machine, u.release)
    }

    /// This host's name (`uname -n`), as a container on the host's network is given.
    public static var hostname: String { unameFields().nodename }

    private static func unameFields() -> (machine: String, release: String, nodename: String) {
        var u = utsname()
        uname(&u)
        func text<T>(_ field: T) -> String {
            withUnsafeBytes(of: field) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
        }
        return (text(u.machine), text(u.release), text(u.nodename))
    }

    /// Hands back the pages of the executable's and its libraries' mappings (code, constants, data
    /// only read) that only this process maps — `madvise(MADV_PAGEOUT)` (Linux 5.4+; a no-op before)
    /// — and the heap's free memory. A long-lived process calls it once it is quiet, so that what it
    /// touched while starting stops counting against it; what it needs again is read back on first
    /// use. Returns the bytes of mappings asked about.
    @discardableResult
    public static func handBackStartupMemory() -> Int {
        guard let exe = try? readlink("/proc/self/exe"), let maps = try? Files.readText("/proc/self/maps") else { return 0 }
        var total = 0
        for line in maps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // The executable's pages and its libraries' (shared pages of a library other processes
            // use stay: the kernel reclaims only pages mapped once), their data too: what was only
            // read there is clean, what was written stays (there is nothing to write it to).
            guard fields.count >= 6, fields[5] == exe || fields[5].hasPrefix("/") else { continue }
            let range = fields[0].split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16) else { continue }
            if madvise(UnsafeMutableRawPointer(bitPattern: start), Int(end - start), 21 /* MADV_PAGEOUT */) == 0 {
                total += Int(end - start)
            }
        }
        // And the heap's free memory back to the kernel (what starting containers used and freed).
        cl_malloc_trim()
        return total
    }

    /// Reaps the child behind a pidfd. nil when `block` is false and it is still running.
    public static func wait(pidfd: Int32, block: Bool = true) throws(SystemError) -> ExitStatus? {
        var code: Int32 = 0, status: Int32 = 0
        while true {
            let pid = cl_waitid_pidfd(pidfd, &code, &status, WEXITED | (block ? 0 : WNOHANG))
            if pid < 0 {
                if errno == EINTR { continue }
                throw SystemError("waitid")
            }
            if pid == 0 { return nil }
            return ExitStatus(siginfoCode: code, status: status)
        }
    }
}

/// How a process ended: its exit code, or the signal that killed it (reported as 128 + signal, as
/// shells and docker do).
public struct ExitStatus: Sendable, Equatable, Codable {
    public var code: Int32
    public var signal: Int32?

    public init(code: Int32, signal: Int32? = nil) {
        self.code = code
        self.signal = signal
    }

    init(siginfoCode: Int32, status: Int32) {
        if siginfoCode == CLD_EXITED {
            self.init(code: status)
        } else {
            self.init(code: 128 + status, signal: status)
        }
    }

    /// From a wait(2) status word.
    public init(waitStatus: Int32) {
        if waitStatus & 0x7f == 0 {
            self.init(code: (waitStatus >> 8) & 0xff)
        } else {
            self.init(code: 128 + (waitStatus & 0x7f), signal: waitStatus & 0x7f)
        }
    }
}

/// An open file descriptor closed when the value is released.
public final class FileHandle {
    public let fd: Int32

    public init(_ fd: Int32) { self.fd = fd }

    public convenience init(path: String, flags: Int32, mode: mode_t = 0o644, at dir: Int32 = AT_FDCWD) throws(SystemError) {
        self.init(try Sys.open(path, flags, mode, at: dir))
    }

    deinit { Sys.close(fd) }

    public func readAll() throws(SystemError) -> [UInt8] {
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = try Sys.read(fd, into: &chunk)
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
        }
    }

    public func write(_ bytes: [UInt8]) throws(SystemError) {
        var failure: SystemError?
        bytes.withUnsafeBytes { b in
            do throws(SystemError) { try Sys.write(fd, b) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}

/// Whole-file helpers with atomic replacement.
public enum Files {
    public static func read(_ path: String) throws(SystemError) -> [UInt8] {
        try FileHandle(path: path, flags: O_RDONLY).readAll()
    }

    public static func readText(_ path: String) throws(SystemError) -> String {
        String(decoding: try read(path), as: UTF8.self)
    }

    /// Writes a temporary file beside `path` and renames it into place, so readers see the old or the
    /// new content, never a mix. `durable` also fsyncs the file and its directory (records that must
    /// survive a power loss); without it the rename is atomic but may be lost in a crash.
    public static func writeAtomically(_ path: String, _ bytes: [UInt8], mode: mode_t = 0o600, durable: Bool = true) throws(SystemError) {
        let temporary = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        do {
            let file = try FileHandle(path: temporary, flags: O_WRONLY | O_CREAT | O_EXCL, mode: mode)
            try file.write(bytes)
            if durable { try Sys.fsync(file.fd) }
            try Sys.rename(temporary, path)
        } catch {
            try? Sys.unlink(temporary)
            throw error
        }
        if durable { try? syncDirectory(of: path) }
    }

    public static func writeAtomically(_ path: String, _ text: String, mode: mode_t = 0o600, durable: Bool = true) throws(SystemError) {
        try writeAtomically(path, Array(text.utf8), mode: mode, durable: durable)
    }

    /// Makes a rename in a directory durable.
    public static func syncDirectory(of path: String) throws(SystemError) {
        let dir = path.lastIndex(of: "/").map { String(path[..<$0]) } ?? "."
        let handle = try FileHandle(path: dir.isEmpty ? "/" : dir, flags: O_RDONLY | O_DIRECTORY)
        try Sys.fsync(handle.fd)
    }
}

/// An advisory lock on a file, held until released (or the process dies).
public final class FileLock {
    let handle: FileHandle

    /// Blocks until the lock on `path` (created if needed) is held.
    public init(_ path: String, exclusive: Bool = true) throws(SystemError) {
        handle = try FileHandle(path: path, flags: O_RDWR | O_CREAT, mode: 0o600)
        try Sys.lock(handle.fd, exclusive: exclusive)
    }

    /// Takes the lock only if nobody holds it.
    public static func attempt(_ path: String) throws(SystemError) -> FileLock? {
        let handle = try FileHandle(path: path, flags: O_RDWR | O_CREAT, mode: 0o600)
        if cl_flock(handle.fd, LOCK_EX | LOCK_NB) != 0 {
            if errno == EWOULDBLOCK { return nil }
            throw SystemError("flock", path)
        }
        return FileLock(handle: handle)
    }

    private init(handle: FileHandle) { self.handle = handle }
}
