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

    /// The headers in `bytes`, in order; a line without a colon (none is ever written) is skipped.
    static func decode(_ bytes: some Collection<UInt8>) -> [MessageHeader] {
        // One pass over contiguous bytes, with no array of lines in between: this runs for every claimed message.
        let decoded = bytes.withContiguousStorageIfAvailable { buffer -> [MessageHeader] in
            var headers: [MessageHeader] = []
            var lineStart = 0
            while lineStart < buffer.count {
                let lineEnd = buffer[lineStart...].firstIndex(of: UInt8(ascii: "\n")) ?? buffer.count
                if let colon = buffer[lineStart..<lineEnd].firstIndex(of: UInt8(ascii: ":")) {
                    var valueStart = colon + 1
                    if valueStart < lineEnd, buffer[valueStart] == UInt8(ascii: " ") { valueStart += 1 }
                    headers.append(MessageHeader(
                        name: String(decoding: UnsafeBufferPointer(rebasing: buffer[lineStart..<colon]), as: UTF8.self),
                        value: String(decoding: UnsafeBufferPointer(rebasing: buffer[valueStart..<lineEnd]), as: UTF8.self)
                    ))
                }
                lineStart = lineEnd + 1
            }
            return headers
        }
        return decoded ?? decode(Array(bytes))
    }
}
