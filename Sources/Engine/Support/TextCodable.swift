/// Values that travel in JSON as their text form (digests, addresses, subnets): decoded with their
/// failable `init?(_:)`, encoded as their `description`.
public protocol TextCodable: Codable, CustomStringConvertible {
    init?(_ text: String)
    /// What a value is, for the error about text that is not one ("invalid subnet 10.0.0.0/40").
    static var textKind: String { get }
}

extension TextCodable {
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "invalid \(Self.textKind) \(text)"))
        }
        self = value
    }

    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
