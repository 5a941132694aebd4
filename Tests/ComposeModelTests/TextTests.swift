import Testing
import Diagnostics

/// The shared text helpers: JSON strings as Go escapes them, and trimming.
@Suite struct TextTests {
    @Test func jsonStringsAsEncodingJSON() {
        #expect(JSONString.quoted("plain") == #""plain""#)
        #expect(JSONString.quoted("a\"b\\c") == #""a\"b\\c""#)
        #expect(JSONString.quoted("<&>") == #""\u003c\u0026\u003e""#, "HTML-safe, as docker compose's --format json")
        #expect(JSONString.quoted("\u{8}\u{c}\n\r\t\u{1}") == #""\b\f\n\r\t\u0001""#)
        #expect(JSONString.quoted("\u{2028}\u{2029}") == #""\u2028\u2029""#)
        #expect(JSONString.quoted("é✓🙂") == "\"é✓🙂\"", "other text passes as UTF-8")
    }

    @Test func jsonStringsAsTheJSONFileLog() {
        #expect(JSONString.quoted("\u{8}\u{c}\n", .jsonLog) == #""\u0008\u000c\n""#, "moby's log writer has no short forms for \\b and \\f")
        #expect(JSONString.quoted("<a>", .jsonLog) == #""\u003ca\u003e""#)
    }

    @Test func trimming() {
        #expect(" \t a b \n".trimmingWhitespace() == "a b")
        #expect("".trimmingWhitespace() == "")
        #expect("   ".trimmingWhitespace() == "")
        #expect("x".trimmingWhitespace() == "x")
        #expect("..example.com.".trimming(while: { $0 == "." }) == "example.com")
        #expect("...".trimming(while: { $0 == "." }) == "")
    }
}
