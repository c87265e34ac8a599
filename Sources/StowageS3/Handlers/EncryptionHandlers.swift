import Foundation
import HTTPTypes
import Hummingbird
import Stowage

/// Server-side encryption on the wire: the SSE-S3, SSE-KMS and SSE-C request headers, the
/// headers every answer about an encrypted version carries, and
/// Put/Get/DeleteBucketEncryption (`?encryption`).
extension Handlers {
    static let customerPrefix = "x-amz-server-side-encryption-customer-"
    static let copySourceCustomerPrefix = "x-amz-copy-source-server-side-encryption-customer-"

    /// What a write asks for: `x-amz-server-side-encryption` (with its KMS key id), or an
    /// SSE-C key — not both. Nil encryption: the bucket's default applies.
    func writeEncryption(_ s3: S3Request) throws -> (encryption: ServerSideEncryption?, customerKey: CustomerKey?) {
        let customerKey = try customerKey(s3, prefix: Self.customerPrefix)
        let kmsKeyID = s3.header("x-amz-server-side-encryption-aws-kms-key-id")
        guard let algorithm = s3.header("x-amz-server-side-encryption")?.trimmingCharacters(in: .whitespaces) else {
            if kmsKeyID != nil {
                throw S3Error.invalidArgument("Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms")
            }
            return (customerKey.map { .customer(keyMD5: $0.md5Base64) }, customerKey)
        }
        guard customerKey == nil else {
            throw S3Error.invalidArgument("Server Side Encryption with Customer provided key is incompatible with the encryption method specified")
        }
        switch algorithm {
        case "AES256":
            guard kmsKeyID == nil else {
                throw S3Error.invalidArgument("Server Side Encryption with AWS KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms")
            }
            return (.s3, nil)
        case "aws:kms":
            return (.kms(keyID: try Self.kmsKeyID(kmsKeyID)), nil)
        case "aws:kms:dsse":
            throw S3Error.notImplemented("Dual-layer SSE-KMS (aws:kms:dsse)")
        default:
            throw S3Error.invalidArgument("The encryption method specified is not supported")
        }
    }

    static func kmsKeyID(_ wire: String?) throws(S3Error) -> String {
        guard let wire = wire?.trimmingCharacters(in: .whitespaces), !wire.isEmpty else { return KeyStore.defaultKeyID }
        let id = KeyStore.keyID(fromWire: wire)
        guard KeyStore.isValidKeyID(id) else { throw S3Error(.badRequest, "KMS.NotFoundException", "Invalid keyId \(wire)") }
        return id
    }

    /// An SSE-C key from the three headers under `prefix`, checked as S3 checks them:
    /// all three or none, AES256, 256 bits, the MD5 matching; and only over TLS.
    func customerKey(_ s3: S3Request, prefix: String) throws -> CustomerKey? {
        // Most requests carry none: one pass over the names before three lookups.
        guard s3.headers.contains(where: { $0.name.canonicalName.hasPrefix(prefix) }) else { return nil }
        let algorithm = s3.header(prefix + "algorithm")
        let key = s3.header(prefix + "key")
        let md5 = s3.header(prefix + "key-md5")
        guard algorithm != nil || key != nil || md5 != nil else { return nil }
        guard secure else {
            throw S3Error(.badRequest, "InvalidRequest", "Requests specifying Server Side Encryption with Customer provided keys must be made over a secure connection.")
        }
        guard let algorithm, let key, let md5 else {
            throw S3Error.invalidArgument("Requests specifying Server Side Encryption with Customer provided keys must provide the algorithm, the key and the key's MD5 (\(prefix)*).")
        }
        guard algorithm == "AES256" else {
            throw S3Error(.badRequest, "InvalidEncryptionAlgorithmError", "The encryption request you specified is not valid. The valid value is AES256.")
        }
        guard let raw = Data(base64Encoded: key), let customer = CustomerKey(bytes: Array(raw)) else {
            throw S3Error.invalidArgument("The secret key was invalid for the specified algorithm.")
        }
        guard customer.md5Base64 == md5 else {
            throw S3Error.invalidArgument("The calculated MD5 hash of the key did not match the hash that was provided.")
        }
        return customer
    }

    /// The headers S3 answers with about a version's encryption.
    static func encryptionHeaders(_ stored: String?, into headers: inout HTTPFields) {
        switch ServerSideEncryption(stored: stored) {
        case .s3?:
            headers[.init("x-amz-server-side-encryption")!] = "AES256"
        case .kms(let keyID)?:
            headers[.init("x-amz-server-side-encryption")!] = "aws:kms"
            headers[.init("x-amz-server-side-encryption-aws-kms-key-id")!] = keyID
        case .customer(let md5)?:
            headers[.init(customerPrefix + "algorithm")!] = "AES256"
            headers[.init(customerPrefix + "key-md5")!] = md5
        case nil:
            break
        }
    }

    // MARK: Bucket default encryption

    func bucketEncryption(_ bucket: String) async throws -> Response {
        let configuration = try await store.offLoop { try $0.bucketEncryption(bucket) }
        var xml = XMLWriter()
        xml.element("ServerSideEncryptionConfiguration", namespace: XMLWriter.s3Namespace) { xml in
            xml.element("Rule") { xml in
                xml.element("ApplyServerSideEncryptionByDefault") { xml in
                    switch configuration.encryption {
                    case .kms(let keyID):
                        xml.element("SSEAlgorithm", "aws:kms")
                        xml.element("KMSMasterKeyID", keyID)
                    default:
                        xml.element("SSEAlgorithm", "AES256")
                    }
                }
                xml.element("BucketKeyEnabled", configuration.bucketKeyEnabled ? "true" : "false")
            }
        }
        return xmlResponse(xml)
    }

    /// `<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault>
    /// <SSEAlgorithm/><KMSMasterKeyID/></…><BucketKeyEnabled/></Rule></…>`: one rule.
    func putBucketEncryption(_ bucket: String, _ s3: S3Request, auth: SigV4Authentication, body: RequestBody) async throws -> Response {
        guard let root = try await xmlBody(body, s3, auth: auth), root.name == "ServerSideEncryptionConfiguration" else {
            throw S3Error.malformedXML("expected a ServerSideEncryptionConfiguration element")
        }
        let rules = root.all("Rule")
        guard rules.count == 1, let apply = rules[0].child("ApplyServerSideEncryptionByDefault"),
              let algorithm = apply.child("SSEAlgorithm")?.text.trimmingCharacters(in: .whitespaces) else {
            throw S3Error.malformedXML("a ServerSideEncryptionConfiguration has one Rule with ApplyServerSideEncryptionByDefault and its SSEAlgorithm")
        }
        if rules[0].child("BlockedEncryptionTypes") != nil {
            throw S3Error.notImplemented("BlockedEncryptionTypes")
        }
        let keyID = apply.child("KMSMasterKeyID")?.text
        let encryption: ServerSideEncryption
        switch algorithm {
        case "AES256":
            guard keyID == nil else {
                throw S3Error.invalidArgument("a KMSMasterKeyID is allowed only when SSEAlgorithm is aws:kms")
            }
            encryption = .s3
        case "aws:kms":
            encryption = .kms(keyID: try Self.kmsKeyID(keyID))
        case "aws:kms:dsse":
            throw S3Error.notImplemented("Dual-layer SSE-KMS (aws:kms:dsse)")
        default:
            throw S3Error.malformedXML("SSEAlgorithm is AES256 or aws:kms")
        }
        let bucketKey = rules[0].child("BucketKeyEnabled")?.text.trimmingCharacters(in: .whitespaces).lowercased() == "true"
        try await store.setBucketEncryption(bucket, BucketEncryption(encryption: encryption, bucketKeyEnabled: bucketKey))
        return Response(status: .ok)
    }

    func deleteBucketEncryption(_ bucket: String) async throws -> Response {
        try await store.setBucketEncryption(bucket, nil)
        return Response(status: .noContent)
    }
}
