import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Builds S3's XML responses. Text is escaped; element names are ours.
struct XMLWriter {
    var document = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    static let s3Namespace = "http://s3.amazonaws.com/doc/2006-03-01/"

    mutating func element(_ name: String, namespace: String? = nil, _ body: (inout XMLWriter) -> Void) {
        document += namespace.map { "<\(name) xmlns=\"\($0)\">" } ?? "<\(name)>"
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

/// A parsed XML element: name, text, children. Request bodies are small (collected with a
/// limit), so a tree is fine.
final class XMLNode {
    let name: String
    var text = ""
    var children: [XMLNode] = []

    init(name: String) { self.name = name }

    func child(_ name: String) -> XMLNode? { children.first { $0.name == name } }
    func all(_ name: String) -> [XMLNode] { children.filter { $0.name == name } }

    /// Parses `data`; nil when it is not well-formed XML.
    ///
    /// Only UTF-8 documents without a DTD and without processing instructions (but the
    /// XML declaration) are handed to the parser. swift-corelibs-foundation's XMLParser
    /// traps on element names that are not valid UTF-8 and dereferences null on a
    /// processing instruction without data (both found by `make fuzz`: one DeleteObjects
    /// body took the server down). S3 request bodies are UTF-8 and need neither a DTD
    /// (whose entities are also a way to inflate a body) nor processing instructions.
    static func parse(_ data: Data) -> XMLNode? {
        let bytes = [UInt8](data)
        guard var text = String(validating: bytes, as: UTF8.self)?[...] else { return nil }
        if text.hasPrefix("<?xml "), let end = text.range(of: "?>"), !text[..<end.lowerBound].dropFirst().contains("<") {
            let declaration = text[..<end.lowerBound].lowercased()
            if declaration.contains("encoding"), !declaration.contains("utf-8"), !declaration.contains("us-ascii") { return nil }
            text = text[end.upperBound...]
        }
        guard !text.contains("<?"), !text.contains("<!DOCTYPE"), !text.contains("<!ENTITY") else { return nil }
        let builder = TreeBuilder()
        let parser = XMLParser(data: data)
        parser.shouldProcessNamespaces = true
        parser.delegate = builder
        // swift-corelibs-foundation's `parse()` returns true when only the end of the data
        // fails (a truncated document, content after the root), leaving `parserError` set.
        guard parser.parse(), parser.parserError == nil, let root = builder.root else { return nil }
        return root
    }

    private final class TreeBuilder: NSObject, XMLParserDelegate {
        var stack: [XMLNode] = []
        var root: XMLNode?

        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
                    qualifiedName qName: String?, attributes attributeDict: [String: String] = [:]) {
            let node = XMLNode(name: elementName)
            stack.last?.children.append(node)
            if stack.isEmpty { root = node }
            stack.append(node)
        }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?,
                    qualifiedName qName: String?) {
            _ = stack.popLast()
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            stack.last?.text += string
        }
    }
}
