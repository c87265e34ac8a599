import Foundation
import HTTPTypes
import Hummingbird
import Stowage

extension Handlers {
    /// ListObjects (v1) and ListObjectsV2 (`list-type=2`): one engine page, rendered.
    func listObjects(_ bucket: String, _ s3: S3Request) async throws -> Response {
        let v2 = s3.parameter("list-type") == "2"
        if let listType = s3.parameter("list-type"), listType != "2" {
            throw S3Error.invalidArgument("Invalid list-type \(listType)")
        }
        let maxKeys = try Self.maxKeys(s3)
        let urlEncoded = try Self.urlEncoded(s3)
        let prefix = s3.parameter("prefix") ?? ""
        let delimiter = s3.parameter("delimiter").flatMap { $0.isEmpty ? nil : $0 }
        let token = s3.parameter("continuation-token")
        var startAfter = v2 ? s3.parameter("start-after") : s3.parameter("marker")
        if v2, let token {
            guard let data = Data(base64Encoded: token), let marker = String(data: data, encoding: .utf8) else {
                throw S3Error.invalidArgument("The continuation token provided is incorrect")
            }
            startAfter = marker
        }
        let page = try await store.offLoop { [startAfter] in
            try $0.listObjects(bucket: bucket, prefix: prefix, delimiter: delimiter, startAfter: startAfter, maxKeys: maxKeys)
        }.answeringZeroKeys(maxKeys)
        func encode(_ text: String) -> String { urlEncoded ? urlEncode(text) : text }
        let fetchOwner = !v2 || s3.parameter("fetch-owner") == "true"
        let bucketOwner = fetchOwner ? try await store.offLoop { try $0.bucketOwner(bucket) } ?? "" : ""
        var xml = XMLWriter()
        xml.element("ListBucketResult", namespace: XMLWriter.s3Namespace) { xml in
            xml.element("Name", bucket)
            xml.element("Prefix", encode(prefix))
            if v2 {
                if let token { xml.element("ContinuationToken", token) }
                if let after = s3.parameter("start-after") { xml.element("StartAfter", encode(after)) }
                xml.element("KeyCount", String(page.objects.count + page.commonPrefixes.count))
            } else {
                xml.element("Marker", encode(s3.parameter("marker") ?? ""))
            }
            if let delimiter { xml.element("Delimiter", encode(delimiter)) }
            xml.element("MaxKeys", String(maxKeys))
            if urlEncoded { xml.element("EncodingType", "url") }
            xml.element("IsTruncated", page.isTruncated ? "true" : "false")
            if page.isTruncated, let next = page.nextMarker {
                if v2 {
                    xml.element("NextContinuationToken", Data(next.utf8).base64EncodedString())
                } else {
                    xml.element("NextMarker", encode(next))
                }
            }
            for object in page.objects {
                xml.element("Contents") { xml in
                    xml.element("Key", encode(object.key))
                    xml.element("LastModified", HTTPDate.iso8601(milliseconds: object.lastModifiedMilliseconds))
                    xml.listedObject(object, owner: fetchOwner ? object.owner ?? bucketOwner : nil)
                }
            }
            for common in page.commonPrefixes {
                xml.element("CommonPrefixes") { xml in xml.element("Prefix", encode(common)) }
            }
        }
        return xmlResponse(xml)
    }
}

extension Handlers {
    /// ListObjectVersions: every version of every key (newest first within a key), delete
    /// markers among them, in key order; in a bucket never versioned, each object as its one
    /// version `null`. A `version-id-marker` needs a `key-marker`.
    func listObjectVersions(_ bucket: String, _ s3: S3Request) async throws -> Response {
        let maxKeys = try Self.maxKeys(s3)
        let urlEncoded = try Self.urlEncoded(s3)
        let prefix = s3.parameter("prefix") ?? ""
        let delimiter = s3.parameter("delimiter").flatMap { $0.isEmpty ? nil : $0 }
        let keyMarker = s3.parameter("key-marker").flatMap { $0.isEmpty ? nil : $0 }
        let versionMarker = s3.parameter("version-id-marker").flatMap { $0.isEmpty ? nil : $0 }
        if let versionMarker {
            guard keyMarker != nil else {
                throw S3Error.invalidArgument("A version-id marker cannot be specified without a key marker.")
            }
            guard VersionID.isWellFormed(versionMarker) else { throw S3Error.invalidArgument("Invalid version id specified") }
        }
        let page = try await store.offLoop { [keyMarker] in
            try $0.listObjectVersions(bucket: bucket, prefix: prefix, delimiter: delimiter, keyMarker: keyMarker,
                                      versionIDMarker: versionMarker, maxKeys: maxKeys)
        }
        func encode(_ text: String) -> String { urlEncoded ? urlEncode(text) : text }
        let bucketOwner = try await store.offLoop { try $0.bucketOwner(bucket) } ?? ""
        var xml = XMLWriter()
        xml.element("ListVersionsResult", namespace: XMLWriter.s3Namespace) { xml in
            xml.element("Name", bucket)
            xml.element("Prefix", encode(prefix))
            xml.element("KeyMarker", encode(keyMarker ?? ""))
            xml.element("VersionIdMarker", versionMarker ?? "")
            if page.isTruncated, let next = page.nextKeyMarker {
                xml.element("NextKeyMarker", encode(next))
                if let version = page.nextVersionIDMarker { xml.element("NextVersionIdMarker", version) }
            }
            if let delimiter { xml.element("Delimiter", encode(delimiter)) }
            xml.element("MaxKeys", String(maxKeys))
            if urlEncoded { xml.element("EncodingType", "url") }
            xml.element("IsTruncated", page.isTruncated ? "true" : "false")
            for version in page.versions {
                let object = version.info
                xml.element(object.isDeleteMarker ? "DeleteMarker" : "Version") { xml in
                    xml.element("Key", encode(object.key))
                    xml.element("VersionId", object.versionID ?? VersionID.null)
                    xml.element("IsLatest", version.isLatest ? "true" : "false")
                    xml.element("LastModified", HTTPDate.iso8601(milliseconds: object.lastModifiedMilliseconds))
                    if object.isDeleteMarker {
                        xml.owner(bucketOwner)
                    } else {
                        xml.listedObject(object, owner: object.owner ?? bucketOwner)
                    }
                }
            }
            for common in page.commonPrefixes {
                xml.element("CommonPrefixes") { xml in xml.element("Prefix", encode(common)) }
            }
        }
        return xmlResponse(xml)
    }

    /// `max-keys`: 0 to 1,000 (larger values are capped, as S3 does).
    static func maxKeys(_ s3: S3Request) throws -> Int {
        guard let text = s3.parameter("max-keys") else { return Limits.maxListKeys }
        guard let value = Int(text), value >= 0 else {
            throw S3Error.invalidArgument("Provided max-keys not an integer or within integer range")
        }
        return min(value, Limits.maxListKeys)
    }

    /// `encoding-type`: absent, or `url`.
    static func urlEncoded(_ s3: S3Request) throws -> Bool {
        switch s3.parameter("encoding-type") {
        case nil: return false
        case "url": return true
        case let other?: throw S3Error.invalidArgument("Invalid Encoding Method specified in Request: \(other)")
        }
    }
}

extension ListResult {
    /// `max-keys=0` asks for an empty page, and S3 calls it complete (not truncated).
    func answeringZeroKeys(_ maxKeys: Int) -> ListResult {
        guard maxKeys == 0 else { return self }
        var empty = self
        empty.objects = []
        empty.commonPrefixes = []
        empty.isTruncated = false
        empty.nextMarker = nil
        return empty
    }
}

extension XMLWriter {
    /// What a listing says of an object after its key and date: ETag, size, storage class,
    /// checksum algorithms and, if asked, the owner.
    /// `owner`: the owner's engine name ("" the administrator), shown as its canonical id; nil: no Owner element.
    mutating func listedObject(_ object: ObjectInfo, owner: String?) {
        element("ETag", object.quotedETag)
        element("Size", String(object.size))
        element("StorageClass", object.attributes.storageClass ?? "STANDARD")
        for (algorithm, _) in object.attributes.checksums { element("ChecksumAlgorithm", algorithm) }
        if let owner { self.owner(owner) }
    }

    mutating func owner(_ name: String) {
        element("Owner") { xml in
            xml.element("ID", Handlers.canonicalID(name))
            xml.element("DisplayName", Handlers.canonicalID(name))
        }
    }
}
