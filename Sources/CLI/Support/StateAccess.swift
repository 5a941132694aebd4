#if canImport(Glibc)
import Glibc
#endif
import Engine

/// The state root every command works in: `$SWCOMPOSE_ROOT`, made private before anything reads or
/// writes it. A root found readable by other users is tightened (and the user told); one owned by
/// another user ends the command.
enum StateAccess {
    static func root(_ environment: [String: String] = Terminal.environment) -> StateRoot {
        let root = StateRoot(environment: environment)
        do {
            for t in try root.prepare() {
                Terminal.writeError("WARN[0000] \(t.path) was open to other users (mode \(String(t.oldMode, radix: 8))): made it private (mode \(String(t.newMode, radix: 8)))\n")
            }
        } catch {
            Terminal.writeError("error: \(error)\n")
            exit(1)
        }
        Recovery.clean(root)
        return root
    }
}
