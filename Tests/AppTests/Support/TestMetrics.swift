import App
import Foundation
import HTTPTypes
import Metrics
import Prometheus

/// The one place the tests bootstrap swift-metrics: `MetricsSystem.bootstrap` may run once per process, so every
/// test that wants swift-metrics output (the delivery counters) passes `TestMetrics.makeAppMetrics()` to
/// `buildApplication`, and all of them share this registry. Tests assert on label values unique to them.
enum TestMetrics {
    static let registry: PrometheusCollectorRegistry = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(DescribedMetricsFactory(registry: registry))
        return registry
    }()

    static func makeAppMetrics() -> AppMetrics {
        AppMetrics(registry: registry)
    }
}

/// One sample of the Prometheus text format: `name{label="value",...} value`.
struct PrometheusSample: Equatable {
    var name: String
    var labels: [String: String]
    var value: Double
}

/// Parses the Prometheus text exposition format (the subset swift-prometheus writes): comments skipped, label
/// values unescaped. Throws on a line it cannot read, so a malformed exposition fails the test.
func parsePrometheusText(_ text: String) throws -> [PrometheusSample] {
    var samples: [PrometheusSample] = []
    for line in text.split(separator: "\n") where !line.hasPrefix("#") && !line.trimmingCharacters(in: .whitespaces).isEmpty {
        guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) ?? (line.hasSuffix("+Inf") ? .infinity : nil) else {
            throw CLIError(message: "unreadable metrics line: \(line)")
        }
        let series = line[..<space]
        var labels: [String: String] = [:]
        let name: String
        if let brace = series.firstIndex(of: "{") {
            name = String(series[..<brace])
            guard series.hasSuffix("}") else { throw CLIError(message: "unterminated labels: \(line)") }
            var rest = series[series.index(after: brace)..<series.index(before: series.endIndex)]
            while !rest.isEmpty {
                guard let equals = rest.firstIndex(of: "="), rest[rest.index(after: equals)] == "\"" else {
                    throw CLIError(message: "bad label in: \(line)")
                }
                let labelName = String(rest[..<equals]).trimmingCharacters(in: CharacterSet(charactersIn: ", "))
                var index = rest.index(equals, offsetBy: 2)
                var labelValue = ""
                while index < rest.endIndex, rest[index] != "\"" {
                    if rest[index] == "\\", rest.index(after: index) < rest.endIndex {
                        index = rest.index(after: index)
                        labelValue.append(rest[index] == "n" ? "\n" : rest[index])
                    } else {
                        labelValue.append(rest[index])
                    }
                    index = rest.index(after: index)
                }
                guard index < rest.endIndex else { throw CLIError(message: "unterminated label value in: \(line)") }
                labels[labelName] = labelValue
                rest = rest[rest.index(after: index)...]
                if rest.hasPrefix(",") { rest = rest.dropFirst() }
            }
        } else {
            name = String(series)
        }
        samples.append(PrometheusSample(name: name, labels: labels, value: value))
    }
    return samples
}

extension HTTPFields {
    /// `Authorization: Bearer <key>`.
    static func bearer(_ key: String) -> HTTPFields {
        [.authorization: "Bearer \(key)"]
    }
}
