@_exported import Diagnostics

/// The error thrown when a project cannot be loaded: every problem found, and the text of the files
/// they point into so that they can be shown with the offending line.
public struct ComposeError: Error, Sendable, CustomStringConvertible {
    public var diagnostics: [Diagnostic]
    public var sources: SourceTexts

    public init(_ diagnostics: [Diagnostic], sources: SourceTexts = SourceTexts()) {
        self.diagnostics = diagnostics
        self.sources = sources
    }

    public init(_ diagnostic: Diagnostic, sources: SourceTexts = SourceTexts()) {
        self.init([diagnostic], sources: sources)
    }

    public var description: String {
        diagnostics.map(\.description).joined(separator: "\n")
    }
}
