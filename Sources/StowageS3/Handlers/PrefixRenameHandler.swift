import Foundation
import HTTPTypes
import Hummingbird
import Stowage

extension Handlers {
    /// Stowage's atomic prefix rename — not an S3 operation: `POST /{bucket}?renamePrefix`
    /// with a `PrefixRenameBody`, answered with a `RenamePrefixResult` (README, "Atomic
    /// prefix rename"). A signed body's SHA-256 is checked before anything moves.
    func renamePrefix(_ bucket: String, _ s3: S3Request, auth: SigV4Authentication, body: RequestBody) async throws -> Response {
        let parsed = try PrefixRenameBody(parsing: try await Self.smallBody(body, s3, auth: auth, limit: PrefixRenameBody.maxBytes))
        let outcome = try await store.renamePrefix(parsed.request(bucket: bucket))
        logger.info("rename prefix \(bucket)/\(parsed.sourcePrefix) → \(parsed.destinationPrefix): \(outcome.moved) keys, \(outcome.replaced) replaced")
        var xml = XMLWriter()
        xml.element("RenamePrefixResult", namespace: XMLWriter.s3Namespace) { xml in
            xml.element("SourcePrefix", parsed.sourcePrefix)
            xml.element("DestinationPrefix", parsed.destinationPrefix)
            xml.element("Moved", String(outcome.moved))
            xml.element("Replaced", String(outcome.replaced))
        }
        return xmlResponse(xml)
    }
}

/// The body of `POST /{bucket}?renamePrefix`. Elements in this order; all but the first
/// two optional:
///
/// ```xml
/// <RenamePrefix>
///   <SourcePrefix>tmp/step-1000/</SourcePrefix>
///   <DestinationPrefix>final/step-1000/</DestinationPrefix>
///   <Overwrite>false</Overwrite>
///   <ExpectedCount>512</ExpectedCount>
///   <Manifest><Object><Key>tmp/step-1000/shard-0</Key><ETag>"…"</ETag></Object>…</Manifest>
/// </RenamePrefix>
/// ```
///
/// Prefixes and keys are taken verbatim (no trimming, no URL decoding). The server parses
/// this type and `S3Client` writes it, so the two cannot drift apart.
public struct PrefixRenameBody: Sendable, Equatable {
    public var sourcePrefix: String
    public var destinationPrefix: String
    public var overwrite: Bool
    public var expectedCount: Int?
    public var manifest: [PrefixManifestEntry]?

    /// The largest body read: a full-size manifest (`Limits.maxPrefixRenameKeys` entries)
    /// fits with keys of up to about 250 bytes.
    public static let maxBytes = 32 << 20

    public init(sourcePrefix: String, destinationPrefix: String, overwrite: Bool = false,
                expectedCount: Int? = nil, manifest: [PrefixManifestEntry]? = nil) {
        self.sourcePrefix = sourcePrefix
        self.destinationPrefix = destinationPrefix
        self.overwrite = overwrite
        self.expectedCount = expectedCount
        self.manifest = manifest
    }

    func request(bucket: String) -> PrefixRenameRequest {
        PrefixRenameRequest(bucket: bucket, sourcePrefix: sourcePrefix, destinationPrefix: destinationPrefix,
                            overwrite: overwrite, expectedCount: expectedCount, manifest: manifest)
    }

    public var document: String {
        var xml = XMLWriter()
        xml.element("RenamePrefix", namespace: XMLWriter.s3Namespace) { xml in
            xml.element("SourcePrefix", sourcePrefix)
            xml.element("DestinationPrefix", destinationPrefix)
            xml.element("Overwrite", overwrite ? "true" : "false")
            if let expectedCount { xml.element("ExpectedCount", String(expectedCount)) }
            if let manifest {
                xml.element("Manifest") { xml in
                    for entry in manifest {
                        xml.element("Object") { xml in
                            xml.element("Key", entry.key)
                            xml.element("ETag", entry.etag)
                        }
                    }
                }
            }
        }
        return xml.document
    }

    /// Parses a body; anything but the shape above is `MalformedXML`.
    public init(parsing data: Data) throws(S3Error) {
        guard let root = XMLNode.parse(data), root.name == "RenamePrefix" else {
            throw S3Error.malformedXML("expected a RenamePrefix element")
        }
        guard let source = root.child("SourcePrefix")?.text, let destination = root.child("DestinationPrefix")?.text else {
            throw S3Error.malformedXML("RenamePrefix needs SourcePrefix and DestinationPrefix")
        }
        self.init(sourcePrefix: source, destinationPrefix: destination)
        if let text = root.child("Overwrite")?.text {
            switch text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased() {
            case "true": overwrite = true
            case "false": overwrite = false
            default: throw S3Error.malformedXML("Overwrite must be true or false")
            }
        }
        if let text = root.child("ExpectedCount")?.text {
            guard let count = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw S3Error.malformedXML("ExpectedCount must be an integer")
            }
            expectedCount = count
        }
        if let list = root.child("Manifest") {
            manifest = try list.all("Object").map { object throws(S3Error) in
                guard let key = object.child("Key")?.text, let etag = object.child("ETag")?.text else {
                    throw S3Error.malformedXML("every manifest Object needs a Key and an ETag")
                }
                return PrefixManifestEntry(key: key, etag: etag)
            }
        }
    }
}
