#if canImport(Glibc)
import Glibc
#endif
import CLinux

/// Containers' output, drained from their FIFOs and terminals into the json log.
extension Supervisor {
    func drain(_ fd: Int32, id: String, stream: LogEntry.Stream) {
        guard let m = managed[id] else { return }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                buffer.withUnsafeBytes { m.log.consume(UnsafeRawBufferPointer(rebasing: $0[0..<n]), stream: stream) }
                if n < buffer.count { return }
                continue
            }
            if n < 0 && (errno == EINTR) { continue }
            if n < 0 && errno == EAGAIN { return }
            // End of stream (or EIO on a terminal whose other side is gone).
            unwatch(fd)
            if fd == m.terminal {
                Sys.close(fd)
                m.terminal = -1
            } else if m.outputs.removeValue(forKey: fd) != nil {
                Sys.close(fd)
            }
            return
        }
    }
}
