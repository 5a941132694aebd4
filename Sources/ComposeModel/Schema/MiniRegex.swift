/// A small backtracking regular expression engine for the patterns the compose schema uses:
/// literals, `.`, character classes with ranges, groups, alternation, `*`, `+`, `?`, `{n,m}`, `^` and
/// `$`. Matching searches anywhere in the text, as JSON Schema's `pattern` does.
struct MiniRegex: Sendable {
    indirect enum Node: Sendable {
        case literal(UInt8)
        case any
        case set([ClosedRange<UInt8>], negated: Bool)
        case start
        case end
        case group([[Node]])          // alternatives, each a sequence
        case repeatNode(Node, min: Int, max: Int?)
    }

    let alternatives: [[Node]]
    /// The pattern as written.
    let source: String

    init?(_ pattern: String) {
        var parser = Parser(bytes: Array(pattern.utf8))
        guard let alts = parser.parseAlternatives(), parser.index == parser.bytes.count else { return nil }
        alternatives = alts
        source = pattern
    }

    func matches(_ text: String) -> Bool {
        let bytes = Array(text.utf8)
        for start in 0...bytes.count {
            if match(.group(alternatives), bytes, start, { _ in true }) { return true }
        }
        return false
    }

    private func match(_ node: Node, _ s: [UInt8], _ i: Int, _ k: (Int) -> Bool) -> Bool {
        switch node {
        case .literal(let c): return i < s.count && s[i] == c && k(i + 1)
        case .any: return i < s.count && s[i] != UInt8(ascii: "\n") && k(i + 1)
        case .set(let ranges, let negated):
            guard i < s.count else { return false }
            let inSet = ranges.contains { $0.contains(s[i]) }
            return inSet != negated && k(i + 1)
        case .start: return i == 0 && k(i)
        case .end: return i == s.count && k(i)
        case .group(let alts):
            for alt in alts where matchSequence(alt[...], s, i, k) { return true }
            return false
        case .repeatNode(let inner, let min, let max):
            return matchRepeat(inner, min: min, max: max, count: 0, s, i, k)
        }
    }

    private func matchSequence(_ seq: ArraySlice<Node>, _ s: [UInt8], _ i: Int, _ k: (Int) -> Bool) -> Bool {
        guard let first = seq.first else { return k(i) }
        let rest = seq.dropFirst()
        return match(first, s, i) { j in matchSequence(rest, s, j, k) }
    }

    private func matchRepeat(_ inner: Node, min: Int, max: Int?, count: Int, _ s: [UInt8], _ i: Int, _ k: (Int) -> Bool) -> Bool {
        // Greedy: try one more repetition first (guarding against empty loops), then stop.
        if max.map({ count < $0 }) ?? true {
            if match(inner, s, i, { j in j > i && matchRepeat(inner, min: min, max: max, count: count + 1, s, j, k) }) {
                return true
            }
        }
        return count >= min && k(i)
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        mutating func parseAlternatives() -> [[Node]]? {
            var alts: [[Node]] = []
            var current: [Node] = []
            while index < bytes.count {
                let c = bytes[index]
                if c == UInt8(ascii: ")") { break }
                if c == UInt8(ascii: "|") {
                    alts.append(current)
                    current = []
                    index += 1
                    continue
                }
                guard var atom = parseAtom() else { return nil }
                if index < bytes.count {
                    switch bytes[index] {
                    case UInt8(ascii: "*"): atom = .repeatNode(atom, min: 0, max: nil); index += 1
                    case UInt8(ascii: "+"): atom = .repeatNode(atom, min: 1, max: nil); index += 1
                    case UInt8(ascii: "?"): atom = .repeatNode(atom, min: 0, max: 1); index += 1
                    case UInt8(ascii: "{"):
                        guard let (lo, hi) = parseBraces() else { return nil }
                        atom = .repeatNode(atom, min: lo, max: hi)
                    default: break
                    }
                }
                current.append(atom)
            }
            alts.append(current)
            return alts
        }

        mutating func parseBraces() -> (Int, Int?)? {
            index += 1
            var lo = 0
            var digits = 0
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                lo = lo * 10 + Int(bytes[index] - 48); index += 1; digits += 1
            }
            guard digits > 0, index < bytes.count else { return nil }
            var hi: Int? = lo
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                var value = 0
                var hiDigits = 0
                while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                    value = value * 10 + Int(bytes[index] - 48); index += 1; hiDigits += 1
                }
                hi = hiDigits > 0 ? value : nil
            }
            guard index < bytes.count, bytes[index] == UInt8(ascii: "}") else { return nil }
            index += 1
            return (lo, hi)
        }

        mutating func parseAtom() -> Node? {
            let c = bytes[index]
            index += 1
            switch c {
            case UInt8(ascii: "."): return .any
            case UInt8(ascii: "^"): return .start
            case UInt8(ascii: "$"): return .end
            case UInt8(ascii: "("):
                if index + 1 < bytes.count, bytes[index] == UInt8(ascii: "?"), bytes[index + 1] == UInt8(ascii: ":") { index += 2 }
                guard let alts = parseAlternatives(), index < bytes.count, bytes[index] == UInt8(ascii: ")") else { return nil }
                index += 1
                return .group(alts)
            case UInt8(ascii: "["): return parseSet()
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { return nil }
                let e = bytes[index]
                index += 1
                switch e {
                case UInt8(ascii: "d"): return .set([48...57], negated: false)
                case UInt8(ascii: "w"): return .set([48...57, 65...90, 97...122, 95...95], negated: false)
                case UInt8(ascii: "s"): return .set([9...13, 32...32], negated: false)
                default: return .literal(e)
                }
            default: return .literal(c)
            }
        }

        mutating func parseSet() -> Node? {
            var negated = false
            if index < bytes.count, bytes[index] == UInt8(ascii: "^") { negated = true; index += 1 }
            var ranges: [ClosedRange<UInt8>] = []
            var first = true
            while index < bytes.count {
                var c = bytes[index]
                if c == UInt8(ascii: "]") && !first { index += 1; return .set(ranges, negated: negated) }
                first = false
                index += 1
                if c == UInt8(ascii: "\\"), index < bytes.count { c = bytes[index]; index += 1 }
                if index + 1 < bytes.count, bytes[index] == UInt8(ascii: "-"), bytes[index + 1] != UInt8(ascii: "]") {
                    var hi = bytes[index + 1]
                    index += 2
                    if hi == UInt8(ascii: "\\"), index < bytes.count { hi = bytes[index]; index += 1 }
                    guard c <= hi else { return nil }
                    ranges.append(c...hi)
                } else {
                    ranges.append(c...c)
                }
            }
            return nil
        }
    }
}
