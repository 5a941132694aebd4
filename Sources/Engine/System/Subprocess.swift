#if canImport(Glibc)
import Glibc
#endif

/// A program run to completion with its output captured (iptables-restore for the firewall, docker
/// credential helpers).
package enum Subprocess {
    package struct Result {
        package var status: Int32
        package var output: String
    }

    package static func run(_ path: String, _ args: [String], input: String = "",
                            environment: [String] = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]) throws(SystemError) -> Result {
        let stdin = try Sys.pipe()
        let stdout: (read: Int32, write: Int32)
        do { stdout = try Sys.pipe() } catch {
            Sys.close(stdin.read)
            Sys.close(stdin.write)
            throw error
        }
        Trace.mark("spawn \(path)")
        let pidfd: Int32
        do {
            pidfd = try Sys.spawn(path, [path] + args, environment: environment, fds: [stdin.read, stdout.write, stdout.write]).pidfd
        } catch {
            for fd in [stdin.read, stdin.write, stdout.read, stdout.write] { Sys.close(fd) }
            throw error
        }
        Sys.close(stdin.read)
        Sys.close(stdout.write)
        // Small inputs: the pipe buffer takes them whole before the program reads.
        Array(input.utf8).withUnsafeBytes { try? Sys.write(stdin.write, $0) }
        Sys.close(stdin.write)
        let output = (try? FileHandle(stdout.read).readAll()) ?? []
        let status = (try? Sys.wait(pidfd: pidfd))??.code ?? -1
        Sys.close(pidfd)
        return Result(status: status, output: String(decoding: output, as: UTF8.self))
    }
}
