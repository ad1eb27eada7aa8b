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
        // Spliced as bytes with a plain scan: Foundation's `replacingOccurrences` and `components(separatedBy:)`
        // took ~10 ms of every start on the 117 KB document, and the standard library's generic `ranges(of:)` more.
        let bytes = [UInt8](template)
        let placeholderLine = Array("\n  version: \(versionPlaceholder)\n".utf8)
        let found = offsets(of: placeholderLine, in: bytes)
        guard found.count == 1, let start = found.first else {
            fatalError("openapi.yaml must hold `info.version: \(versionPlaceholder)` exactly once, for the version to be filled in")
        }
        let versionLine = Array("\n  version: \(MessageBridgeVersion.current)\n".utf8)
        let filled = bytes[..<start] + versionLine + bytes[(start + placeholderLine.count)...]
        return String(decoding: filled, as: UTF8.self)
    }

    /// Where each (non-overlapping) occurrence of `needle` starts in `haystack`.
    static func offsets(of needle: [UInt8], in haystack: [UInt8]) -> [Int] {
        guard let first = needle.first, haystack.count >= needle.count else { return [] }
        var found: [Int] = []
        var index = 0
        while index <= haystack.count - needle.count {
            if haystack[index] == first, haystack[index..<(index + needle.count)].elementsEqual(needle) {
                found.append(index)
                index += needle.count
            } else {
                index += 1
            }
        }
        return found
    }
}
