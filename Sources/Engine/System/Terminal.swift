#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Terminals: pseudo-terminal pairs, window sizes, the controlling terminal, raw mode.
public enum TerminalIO {
    public static func isTerminal(_ fd: Int32) -> Bool { isatty(fd) == 1 }

    /// Makes `group` the foreground process group of the terminal on standard input.
    public static func setForegroundGroup(_ group: Int32) { _ = tcsetpgrp(0, group) }

    /// Reads a line from standard input, without echo when `echo` is false (a password).
    public static func readLine(echo: Bool) -> [UInt8] {
        var saved = termios()
        let restore = !echo && tcgetattr(0, &saved) == 0
        if restore {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            tcsetattr(0, TCSANOW, &quiet)
        }
        defer { if restore { tcsetattr(0, TCSANOW, &saved) } }
        var line: [UInt8] = []
        var byte: [UInt8] = [0]
        while (try? Sys.read(0, into: &byte)) == 1 && byte[0] != 10 { line.append(byte[0]) }
        return line
    }

    public static func windowSize(_ fd: Int32) -> (rows: UInt16, columns: UInt16)? {
        var rows: UInt16 = 0, columns: UInt16 = 0
        guard cl_get_winsize(fd, &rows, &columns) == 0 else { return nil }
        return (rows, columns)
    }

    public static func setWindowSize(_ fd: Int32, rows: UInt16, columns: UInt16) {
        _ = cl_set_winsize(fd, rows, columns)
    }

    /// Copies the window size of `from` (standard input) to the terminal `to`.
    public static func copyWindowSize(from: Int32 = 0, to terminal: Int32) {
        if let size = windowSize(from) { setWindowSize(terminal, rows: size.rows, columns: size.columns) }
    }

    /// Opens a pseudo-terminal pair's peer from its master (TIOCGPTPEER), for tests and attach.
    public static func openPair(devRoot: String = "/dev") throws(SystemError) -> (master: Int32, slave: Int32) {
        let pty = try PseudoTerminal.open(devRoot: devRoot)
        return (pty.master, pty.slave)
    }
}

/// The controlling terminal in raw mode for the life of the value (restored on release or `restore`).
public final class RawTerminal {
    var saved = termios()
    var active = false
    let fd: Int32

    public init?(fd: Int32 = 0) {
        self.fd = fd
        guard isatty(fd) == 1, tcgetattr(fd, &saved) == 0 else { return nil }
        var raw = saved
        cfmakeraw(&raw)
        guard tcsetattr(fd, TCSANOW, &raw) == 0 else { return nil }
        active = true
    }

    public func restore() {
        guard active else { return }
        tcsetattr(fd, TCSANOW, &saved)
        active = false
    }

    deinit { restore() }
}

/// A pseudo-terminal pair from a devpts instance (a container's own, or the host's).
struct PseudoTerminal {
    let master: Int32
    let slave: Int32
    let number: Int32

    static func open(devRoot: String) throws(SystemError) -> PseudoTerminal {
        let master = try Sys.open(devRoot + "/pts/ptmx", O_RDWR | O_NOCTTY)
        var unlock: Int32 = 0
        try Sys.check("unlockpt") { cl_ioctl_int(master, CL_TIOCSPTLCK, &unlock) }
        var number: Int32 = 0
        try Sys.check("ptsname") { cl_ioctl_int(master, CL_TIOCGPTN, &number) }
        let slave = try Sys.open(devRoot + "/pts/\(number)", O_RDWR | O_NOCTTY)
        return PseudoTerminal(master: master, slave: slave, number: number)
    }

    /// Makes the slave the controlling terminal and the standard descriptors.
    func makeControlling() throws(SystemError) {
        try Sys.check("ioctl(TIOCSCTTY)") { cl_ioctl_int(slave, UInt(CL_TIOCSCTTY), nil) }
        for fd in Int32(0)...2 { try Sys.check("dup2") { dup2(slave, fd) } }
        if slave > 2 { Sys.close(slave) }
    }
}
