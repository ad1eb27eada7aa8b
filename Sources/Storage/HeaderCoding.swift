import Core

/// Stores headers as raw `name: value` lines: HTTP forbids CR and LF in names and values, so a newline always
/// separates headers, and this costs no JSON encoding on the ingest path.
enum HeaderCoding {
    static func encode(_ headers: [MessageHeader]) -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 3 })
        for header in headers {
            bytes.append(contentsOf: header.name.utf8)
            bytes.append(UInt8(ascii: ":"))
            bytes.append(UInt8(ascii: " "))
            bytes.append(contentsOf: header.value.utf8)
            bytes.append(UInt8(ascii: "\n"))
        }
        return bytes
    }

    static func decode(_ bytes: [UInt8]) -> [MessageHeader] {
        bytes.split(separator: UInt8(ascii: "\n")).compactMap { line in
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")) else { return nil }
            var valueStart = line.index(after: colon)
            if valueStart < line.endIndex, line[valueStart] == UInt8(ascii: " ") { valueStart = line.index(after: valueStart) }
            return MessageHeader(
                name: String(decoding: line[line.startIndex..<colon], as: UTF8.self),
                value: String(decoding: line[valueStart...], as: UTF8.self)
            )
        }
    }
}
