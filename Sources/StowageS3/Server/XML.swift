import Foundation

/// Builds S3's XML responses. Text is escaped; element names are ours.
struct XMLWriter {
    var document = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    static let s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

    mutating func element(_ name: String, namespace: String? = nil, _ body: (inout XMLWriter) -> Void) {
        document += namespace.map { "<\(name) xmlns=\"\($0)\">" } ?? "<\(name)>"
        body(&self)
        document += "</\(name)>"
    }

    /// An element with attributes (names ours, values escaped), e.g. a Grantee's `xsi:type`.
    mutating func element(_ name: String, attributes: KeyValuePairs<String, String>, _ body: (inout XMLWriter) -> Void) {
        document += "<\(name)"
        for (attribute, value) in attributes { document += " \(attribute)=\"\(Self.escape(value))\"" }
        document += ">"
        body(&self)
        document += "</\(name)>"
    }

    mutating func element(_ name: String, _ text: String) {
        document += "<\(name)>\(Self.escape(text))</\(name)>"
    }

    mutating func emptyElement(_ name: String, namespace: String? = nil) {
        document += namespace.map { "<\(name) xmlns=\"\($0)\"/>" } ?? "<\(name)/>"
    }

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\r": out += "&#13;"
            case _ where scalar.value < 0x20 && scalar != "\n" && scalar != "\t":
                // XML 1.0 cannot carry these; S3 answers such keys with encoding-type=url.
                out += "&#\(scalar.value);"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

/// A parsed XML element: name (without its namespace prefix), text, children. Request
/// bodies are small (collected with a limit), so a tree is fine.
final class XMLNode {
    let name: String
    var text = ""
    var children: [XMLNode] = []

    init(name: String) { self.name = name }

    func child(_ name: String) -> XMLNode? { children.first { $0.name == name } }
    func all(_ name: String) -> [XMLNode] { children.filter { $0.name == name } }

    /// Parses `data`; nil when it is not well-formed XML (or uses what S3 bodies never do).
    ///
    /// A small strict parser of our own rather than FoundationXML's `XMLParser`, which
    /// `make fuzz` showed trapping on element names that are not UTF-8, reading through
    /// null on a processing instruction without data, and leaking tens of kilobytes per
    /// malformed document — each reachable with one request body. It accepts UTF-8
    /// documents: an optional XML declaration (UTF-8 or US-ASCII), comments, elements
    /// with attributes (ignored) and namespace prefixes (dropped from names), character
    /// data with the five predefined entities and character references, CDATA sections.
    /// It refuses DTDs, processing instructions, other encodings, control characters,
    /// mismatched or unclosed tags, anything after the root, and nesting over 64 deep.
    static func parse(_ data: Data) -> XMLNode? {
        var parser = XMLBodyParser(bytes: [UInt8](data))
        return parser.document()
    }
}

/// The parser behind `XMLNode.parse`: one pass over the bytes, no recursion.
private struct XMLBodyParser {
    let bytes: [UInt8]
    var position = 0
    static let maxDepth = 64

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func document() -> XMLNode? {
        guard String(validating: bytes, as: UTF8.self) != nil else { return nil }
        if bytes.starts(with: Array("\u{FEFF}".utf8)) { position = 3 }
        if starts("<?xml"), !declaration() { return nil }
        guard miscellany(), position < bytes.count, bytes[position] == UInt8(ascii: "<") else { return nil }
        var stack: [(node: XMLNode, qualifiedName: [UInt8])] = []
        var root: XMLNode?
        repeat {
            guard position < bytes.count else { return nil }
            if bytes[position] != UInt8(ascii: "<") {
                guard let text = characterData(), !stack.isEmpty else { return nil }
                stack[stack.count - 1].node.text += text
            } else if starts("</") {
                position += 2
                guard let name = name(), let open = stack.popLast(), name == open.qualifiedName else { return nil }
                skipSpace()
                guard expect(">") else { return nil }
            } else if starts("<!--") {
                guard comment() else { return nil }
            } else if starts("<![CDATA[") {
                guard !stack.isEmpty, let text = cdata() else { return nil }
                stack[stack.count - 1].node.text += text
            } else {
                position += 1
                guard let name = name(), stack.count < Self.maxDepth else { return nil }
                let node = XMLNode(name: Self.localName(name))
                guard let selfClosing = attributes() else { return nil }
                if let parent = stack.last { parent.node.children.append(node) } else { root = node }
                if !selfClosing { stack.append((node, name)) }
            }
        } while !stack.isEmpty
        guard miscellany(), position == bytes.count else { return nil }
        return root
    }

    private func starts(_ text: String) -> Bool {
        let pattern = Array(text.utf8)
        return bytes.count - position >= pattern.count && bytes[position..<position + pattern.count].elementsEqual(pattern)
    }

    private mutating func expect(_ text: String) -> Bool {
        guard starts(text) else { return false }
        position += text.utf8.count
        return true
    }

    private mutating func skipSpace() {
        while position < bytes.count, Self.isSpace(bytes[position]) { position += 1 }
    }

    private static func isSpace(_ byte: UInt8) -> Bool {
        byte == 0x20 || byte == 0x09 || byte == 0x0A || byte == 0x0D
    }

    /// `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>`: only UTF-8 or US-ASCII.
    private mutating func declaration() -> Bool {
        guard let end = find("?>") else { return false }
        let text = String(decoding: bytes[position..<end], as: UTF8.self).lowercased()
        guard !text.dropFirst().contains("<") else { return false }
        if text.contains("encoding"), !text.contains("utf-8"), !text.contains("us-ascii") { return false }
        position = end + 2
        return true
    }

    /// Whitespace and comments, before or after the root.
    private mutating func miscellany() -> Bool {
        while true {
            skipSpace()
            guard starts("<!--") else { return true }
            guard comment() else { return false }
        }
    }

    private mutating func comment() -> Bool {
        guard let end = find("-->", from: position + 4) else { return false }
        position = end + 3
        return true
    }

    private mutating func cdata() -> String? {
        let start = position + 9
        guard let end = find("]]>", from: start), let text = Self.text(bytes[start..<end]) else { return nil }
        position = end + 3
        return text
    }

    private func find(_ text: String, from start: Int? = nil) -> Int? {
        let pattern = Array(text.utf8)
        var i = start ?? position
        while i + pattern.count <= bytes.count {
            if bytes[i] == pattern[0], bytes[i..<i + pattern.count].elementsEqual(pattern) { return i }
            i += 1
        }
        return nil
    }

    /// A name: up to whitespace, `/`, `>`, `=` or a quote. `<`, `&` and control bytes refuse it.
    private mutating func name() -> [UInt8]? {
        let start = position
        while position < bytes.count {
            let byte = bytes[position]
            if Self.isSpace(byte) || byte == UInt8(ascii: "/") || byte == UInt8(ascii: ">") || byte == UInt8(ascii: "=") { break }
            if byte == UInt8(ascii: "<") || byte == UInt8(ascii: "&") || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'")
                || byte < 0x20 || byte == UInt8(ascii: "!") || byte == UInt8(ascii: "?") { return nil }
            position += 1
        }
        return position > start ? Array(bytes[start..<position]) : nil
    }

    /// Attributes up to `>` or `/>`: true when the element closed itself.
    private mutating func attributes() -> Bool? {
        while true {
            let hadSpace = position < bytes.count && Self.isSpace(bytes[position])
            skipSpace()
            if expect("/>") { return true }
            if expect(">") { return false }
            guard hadSpace, name() != nil else { return nil }
            skipSpace()
            guard expect("=") else { return nil }
            skipSpace()
            guard position < bytes.count else { return nil }
            let quote = bytes[position]
            guard quote == UInt8(ascii: "\"") || quote == UInt8(ascii: "'") else { return nil }
            position += 1
            let start = position
            while position < bytes.count, bytes[position] != quote {
                if bytes[position] == UInt8(ascii: "<") { return nil }
                position += 1
            }
            guard position < bytes.count, Self.text(bytes[start..<position]).flatMap(Self.decodeReferences) != nil else { return nil }
            position += 1
        }
    }

    /// Text up to the next `<`, with its references decoded.
    private mutating func characterData() -> String? {
        let start = position
        while position < bytes.count, bytes[position] != UInt8(ascii: "<") {
            if bytes[position] == UInt8(ascii: ">"), position >= 2, bytes[position - 2] == UInt8(ascii: "]"),
               bytes[position - 1] == UInt8(ascii: "]") { return nil }
            position += 1
        }
        return Self.text(bytes[start..<position]).flatMap(Self.decodeReferences)
    }

    /// The bytes as text, refusing the control characters XML 1.0 does not allow.
    private static func text(_ slice: ArraySlice<UInt8>) -> String? {
        guard !slice.contains(where: { $0 < 0x20 && !isSpace($0) }) else { return nil }
        return String(decoding: slice, as: UTF8.self)
    }

    /// `&lt; &gt; &amp; &quot; &apos; &#N; &#xN;`; any other `&` refuses the text.
    private static func decodeReferences(_ text: String) -> String? {
        guard text.contains("&") else { return text }
        var out = ""
        var rest = text[...]
        while let amp = rest.firstIndex(of: "&") {
            out += rest[..<amp]
            guard let semicolon = rest[amp...].firstIndex(of: ";") else { return nil }
            let entity = rest[rest.index(after: amp)..<semicolon]
            switch entity {
            case "lt": out += "<"
            case "gt": out += ">"
            case "amp": out += "&"
            case "quot": out += "\""
            case "apos": out += "'"
            default:
                guard entity.hasPrefix("#") else { return nil }
                let digits = entity.dropFirst()
                let value = digits.hasPrefix("x") ? UInt32(digits.dropFirst(), radix: 16) : UInt32(digits, radix: 10)
                guard let value, let scalar = Unicode.Scalar(value),
                      value == 0x9 || value == 0xA || value == 0xD || value >= 0x20 else { return nil }
                out.unicodeScalars.append(scalar)
            }
            rest = rest[rest.index(after: semicolon)...]
        }
        return out + rest
    }
}

extension XMLBodyParser {
    /// `s3:Key` → `Key`: names are compared without their namespace prefix.
    static func localName(_ qualified: [UInt8]) -> String {
        let name = String(decoding: qualified, as: UTF8.self)
        guard let colon = name.lastIndex(of: ":") else { return name }
        return String(name[name.index(after: colon)...])
    }
}
