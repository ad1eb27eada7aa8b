import Foundation

/// The OpenAPI 3.1 description of every HTTP endpoint the server serves, served at `GET /openapi.yaml`.
///
/// The document lives in `Resources/openapi.yaml`, copied into the App target's bundle; its `info.version` there
/// is the placeholder ``versionPlaceholder``, filled from ``MessageBridgeVersion/current`` when the document is
/// first read, so the version is written in one place. Ingest paths come from the configuration, so they are
/// documented once as the template `/{route}`. `OpenAPITests` checks that every route the router serves is
/// described here and that the document validates.
public enum OpenAPIDocument {
    /// What `info.version` holds in the resource file.
    static let versionPlaceholder = "MESSAGEBRIDGE_VERSION"

    /// The document, as YAML, with the version filled in.
    ///
    /// Read once, on first use (``OpenAPIController`` touches it while the router is built, so a missing resource
    /// stops the server at startup rather than on a request).
    public static let yaml: String = load()

    static func load() -> String {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
              let template = try? Data(contentsOf: url)
        else {
            fatalError("openapi.yaml is missing from the App resource bundle at \(Bundle.module.bundlePath): install the bundle next to the binary")
        }
        // Spliced as bytes (`Data.range(of:)`, 0.2 ms): Foundation's `replacingOccurrences` and
        // `components(separatedBy:)` on the String took ~10 ms of every start on the 117 KB document.
        let placeholderLine = Data("\n  version: \(versionPlaceholder)\n".utf8)
        guard let line = template.range(of: placeholderLine),
              template.range(of: placeholderLine, in: line.upperBound..<template.endIndex) == nil
        else {
            fatalError("openapi.yaml must hold `info.version: \(versionPlaceholder)` exactly once, for the version to be filled in")
        }
        var filled = template
        filled.replaceSubrange(line, with: Data("\n  version: \(MessageBridgeVersion.current)\n".utf8))
        return String(decoding: filled, as: UTF8.self)
    }
}
