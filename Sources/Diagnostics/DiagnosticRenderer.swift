/// Formats diagnostics the way compilers do:
///
///     compose.yaml:4:5: error: services.web: unknown key 'portz' (did you mean 'ports'?)
///         portz: ["80"]
///         ^
public struct DiagnosticRenderer: Sendable {
    public var sources: SourceTexts
    /// Paths below this directory are shown relative to it.
    public var workingDirectory: String?
    public var useColor: Bool

    public init(sources: SourceTexts, workingDirectory: String? = nil, useColor: Bool = false) {
        self.sources = sources
        self.workingDirectory = workingDirectory
        self.useColor = useColor
    }

    public func render(_ diagnostics: [Diagnostic]) -> String {
        diagnostics.map { render($0) }.joined()
    }

    public func render(_ diagnostic: Diagnostic) -> String {
        var out = ""
        append(diagnostic, to: &out)
        for note in diagnostic.notes { append(note, to: &out) }
        return out
    }

    public func displayPath(_ file: String) -> String {
        guard let workingDirectory, file.hasPrefix("/") else { return file }
        let base = workingDirectory.hasSuffix("/") ? workingDirectory : workingDirectory + "/"
        if file.hasPrefix(base) { return String(file.dropFirst(base.count)) }
        return file
    }

    private func append(_ d: Diagnostic, to out: inout String) {
        let label: String
        switch d.severity {
        case .error: label = paint("error:", "1;31")
        case .warning: label = paint("warning:", "1;35")
        case .note: label = paint("note:", "1;30")
        }
        if let location = d.location {
            out += paint("\(displayPath(location.file)):\(location.line):\(location.column):", "1") + " "
        }
        out += label + " " + paint(d.message, "1") + "\n"
        guard let location = d.location, let full = sources.line(location.line, of: location.file) else { return }
        // A very long line (minified, generated, hostile) is shown as a window around the column.
        var line = Substring(full)
        var column = location.column
        var lead = ""
        if full.count > Self.maximumLineWidth {
            let before = max(0, min(column - 1, full.count) - Self.maximumLineWidth / 2)
            line = full.dropFirst(before).prefix(Self.maximumLineWidth)
            if before > 0 { lead = "…"; column -= before - 1 }
            if before + line.count < full.count { line = line + "…" }
        }
        out += "    " + lead + line + "\n"
        // Keep tabs in the caret's indentation so that it lines up under the column.
        var pad = ""
        var current = 1
        for ch in lead + line {
            if current >= column { break }
            pad.append(ch == "\t" ? "\t" : " ")
            current += 1
        }
        out += "    " + pad + paint("^", "1;32") + "\n"
    }

    /// The widest source line shown whole under a diagnostic.
    static let maximumLineWidth = 160

    private func paint(_ text: String, _ code: String) -> String {
        useColor ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }
}
