/// The user a container process runs as, resolved from the container's own /etc/passwd and
/// /etc/group the way runc resolves it (`name`, `uid`, `name:group`, `uid:gid`, …).
struct ExecUser: Equatable {
    var uid: UInt32
    var gid: UInt32
    var groups: [UInt32]
    var home: String
}

enum UserDatabase {
    struct PasswdEntry {
        var name: String
        var uid: UInt32
        var gid: UInt32
        var home: String
    }

    struct GroupEntry {
        var name: String
        var gid: UInt32
        var members: [String]
    }

    static func parsePasswd(_ text: String) -> [PasswdEntry] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 4, !line.hasPrefix("#"), let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { return nil }
            return PasswdEntry(name: String(f[0]), uid: uid, gid: gid, home: f.count > 5 ? String(f[5]) : "")
        }
    }

    static func parseGroup(_ text: String) -> [GroupEntry] {
        text.split(separator: "\n").compactMap { line in
            let f = line.split(separator: ":", omittingEmptySubsequences: false)
            guard f.count >= 3, !line.hasPrefix("#"), let gid = UInt32(f[2]) else { return nil }
            let members = f.count > 3 ? f[3].split(separator: ",").map { String($0).trimmingWhitespace() } : []
            return GroupEntry(name: String(f[0]), gid: gid, members: members)
        }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Resolves `spec` (empty: root) with `additional` groups (names or numbers).
    static func resolve(_ spec: String, additional: [String], passwd: String?, group: String?) throws(Failure) -> ExecUser {
        let users = parsePasswd(passwd ?? "")
        let groups = parseGroup(group ?? "")
        let parts = spec.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
        let userPart = parts.isEmpty ? "" : String(parts[0])
        let groupPart = parts.count > 1 ? String(parts[1]) : nil

        var result = ExecUser(uid: 0, gid: 0, groups: [], home: "/")
        var matched: PasswdEntry?
        if userPart.isEmpty {
            matched = users.first { $0.uid == 0 }
        } else if let uid = UInt32(userPart) {
            matched = users.first { $0.uid == uid }
            result.uid = uid
        } else {
            guard let entry = users.first(where: { $0.name == userPart }) else {
                if passwd == nil { throw Failure(description: "unable to find user \(userPart): no passwd file in the image") }
                throw Failure(description: "unable to find user \(userPart): no matching entries in passwd file")
            }
            matched = entry
        }
        if let matched {
            result.uid = matched.uid
            result.gid = matched.gid
            result.home = matched.home.isEmpty ? "/" : matched.home
        }
        if let groupPart, !groupPart.isEmpty {
            if let gid = UInt32(groupPart) {
                result.gid = gid
            } else {
                guard let entry = groups.first(where: { $0.name == groupPart }) else {
                    if group == nil { throw Failure(description: "unable to find group \(groupPart): no group file in the image") }
                    throw Failure(description: "unable to find group \(groupPart): no matching entries in group file")
                }
                result.gid = entry.gid
            }
        } else if let matched {
            // Supplementary groups: those listing the user as a member (only when no group was given).
            result.groups = groups.filter { $0.members.contains(matched.name) }.map(\.gid)
        }
        for g in additional {
            if let gid = UInt32(g) {
                result.groups.append(gid)
            } else if let entry = groups.first(where: { $0.name == g }) {
                result.groups.append(entry.gid)
            } else {
                throw Failure(description: "unable to find group \(g): no matching entries in group file")
            }
        }
        // runc (as docker runs it) keeps the primary group among the supplementary ones.
        result.groups.insert(result.gid, at: 0)
        var seen: Set<UInt32> = []
        result.groups = result.groups.filter { seen.insert($0).inserted }
        return result
    }
}
