/// Number formatting as docker compose (a Go program) prints numbers, so that `config` output is
/// byte-for-byte the same.
public enum GoFormat {
    /// Shortest decimal digits of a value and the position of the decimal point:
    /// value = 0.d1d2d3… × 10^point.
    struct Decimal {
        var negative: Bool
        var digits: [UInt8]   // ASCII digits, no leading/trailing zeros; empty for zero
        var point: Int
    }

    static func decimal(_ text: String) -> Decimal {
        // `text` is Swift's shortest round-trip description, e.g. "-1.25e-07", "1e+20", "0.5", "100.0".
        var s = Substring(text)
        var negative = false
        if s.hasPrefix("-") { negative = true; s = s.dropFirst() }
        var exponent = 0
        if let e = s.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            exponent = Int(String(s[s.index(after: e)...].filter { $0 != "+" })) ?? 0
            s = s[..<e]
        }
        var intPart = s
        var fracPart: Substring = ""
        if let dot = s.firstIndex(of: ".") {
            intPart = s[..<dot]
            fracPart = s[s.index(after: dot)...]
        }
        var digits = Array((intPart + fracPart).utf8)
        var point = intPart.count + exponent
        while let first = digits.first, first == UInt8(ascii: "0") {
            digits.removeFirst()
            point -= 1
        }
        while let last = digits.last, last == UInt8(ascii: "0") { digits.removeLast() }
        if digits.isEmpty { point = 0 }
        return Decimal(negative: negative, digits: digits, point: point)
    }

    /// Go's `%v` / `strconv.FormatFloat(f, 'g', -1, 64)`.
    public static func float(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Inf" : "+Inf" }
        return formatG(decimal("\(value)"))
    }

    /// Go's `strconv.FormatFloat(f, 'g', -1, 32)`.
    public static func float32(_ value: Float) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value < 0 ? "-Inf" : "+Inf" }
        return formatG(decimal("\(value)"))
    }

    static func formatG(_ d: Decimal) -> String {
        let exp = d.point - 1
        if d.digits.isEmpty { return d.negative ? "-0" : "0" }
        // strconv: "if precision was the shortest possible, use precision 6 for this decision".
        if exp < -4 || exp >= 6 { return formatE(d) }
        return formatF(d)
    }

    static func formatE(_ d: Decimal) -> String {
        var out = d.negative ? "-" : ""
        out.append(Character(UnicodeScalar(d.digits[0])))
        if d.digits.count > 1 {
            out.append(".")
            out += String(decoding: d.digits[1...], as: UTF8.self)
        }
        let exp = d.point - 1
        out += exp < 0 ? "e-" : "e+"
        let magnitude = abs(exp)
        out += magnitude < 10 ? "0\(magnitude)" : "\(magnitude)"
        return out
    }

    static func formatF(_ d: Decimal) -> String {
        var out = d.negative ? "-" : ""
        if d.point <= 0 {
            out += "0."
            out += String(repeating: "0", count: -d.point)
            out += String(decoding: d.digits, as: UTF8.self)
        } else if d.point >= d.digits.count {
            out += String(decoding: d.digits, as: UTF8.self)
            out += String(repeating: "0", count: d.point - d.digits.count)
        } else {
            out += String(decoding: d.digits[..<d.point], as: UTF8.self)
            out += "."
            out += String(decoding: d.digits[d.point...], as: UTF8.self)
        }
        return out
    }

    /// Go's `encoding/json` formatting of a float64 (or float32 when `bits` is 32).
    public static func jsonFloat(_ value: Double, bits: Int = 64) -> String {
        let d = bits == 32 ? decimal("\(Float(value))") : decimal("\(value)")
        if d.digits.isEmpty { return "0" }
        let magnitude = abs(value)
        if magnitude < 1e-6 || magnitude >= 1e21 {
            var e = formatE(d)
            // encoding/json writes e-07 as e-7.
            if let r = e.firstRange(of: "e-0") { e.replaceSubrange(r, with: "e-") }
            if let r = e.firstRange(of: "e+0") { e.replaceSubrange(r, with: "e+") }
            return e
        }
        return formatF(d)
    }
}

