#if canImport(Glibc)
import Glibc
#endif

/// Containers' output, drained from their FIFOs and terminals into the json log.
extension Supervisor {
    func drain(_ fd: Int32, id: String, stream: LogEntry.Stream) {
        guard let m = managed[id] else { return }
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            switch Sys.readAvailable(fd, into: &buffer) {
            case .data(let n):
                buffer.withUnsafeBytes { m.log.consume(UnsafeRawBufferPointer(rebasing: $0[0..<n]), stream: stream) }
                if n < buffer.count { return }
                continue
            case .wouldBlock:
                return
            case .end:
                break
            }
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
