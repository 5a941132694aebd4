/// Trimming, once for every target: the standard library's `trimmingPrefix(while:)` and the last
/// index that stays.
extension StringProtocol {
    /// The text without the leading and trailing characters for which `drop` holds.
    public func trimming(while drop: (Character) -> Bool) -> SubSequence {
        let head = trimmingPrefix(while: drop)
        guard let last = head.lastIndex(where: { !drop($0) }) else { return head[head.endIndex...] }
        return head[...last]
    }

    /// The text without leading and trailing whitespace (spaces, tabs, newlines).
    public func trimmingWhitespace() -> String { String(trimming(while: \.isWhitespace)) }
}
