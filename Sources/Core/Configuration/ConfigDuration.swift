/// Parsing and printing of the configuration's duration strings: `500ms`, `30s`, `5m`, `1h30m`, `90d`.
public enum ConfigDuration {
    /// Parses a duration; `nil` when the text is not one.
    public static func parse(_ text: String) -> Duration? {
        let units: [(suffix: String, milliseconds: Int64)] = [
            ("ms", 1), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000),
        ]
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        guard !rest.isEmpty else { return nil }
        var totalMilliseconds: Double = 0
        while !rest.isEmpty {
            let numberText = rest.prefix { $0.isNumber || $0 == "." }
            guard !numberText.isEmpty, let number = Double(numberText) else { return nil }
            rest = rest.dropFirst(numberText.count)
            let unitText = rest.prefix { $0.isLetter }
            guard let unit = units.first(where: { $0.suffix == unitText }) else { return nil }
            rest = rest.dropFirst(unitText.count)
            totalMilliseconds += number * Double(unit.milliseconds)
        }
        guard totalMilliseconds.isFinite, totalMilliseconds < 1e15 else { return nil }
        return .milliseconds(Int64(totalMilliseconds.rounded()))
    }
}

extension Duration {
    /// The duration in seconds, as a `Double`.
    public var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
