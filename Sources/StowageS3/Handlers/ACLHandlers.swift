import Foundation
import HTTPTypes
import Hummingbird
import Stowage

/// ACLs (Get/PutBucketAcl, Get/PutObjectAcl, `x-amz-acl` and `x-amz-grant-*` on
/// CreateBucket and on every write) and Object Ownership (Put/Get/DeleteBucketOwnershipControls,
/// `x-amz-object-ownership` on CreateBucket).
///
/// A user's canonical id is its name; the administrator's is `stowage`. A bucket without
/// ownership controls is BucketOwnerEnforced, as S3's new buckets are: ACLs are disabled
/// there (only `private` and `bucket-owner-full-control`, which say the same, are taken).
extension Handlers {
    static let allUsersURI = "http://acs.amazonaws.com/groups/global/AllUsers"
    static let authenticatedUsersURI = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
    static let logDeliveryURI = "http://acs.amazonaws.com/groups/s3/LogDelivery"
    static let xsiNamespace = "http://www.w3.org/2001/XMLSchema-instance"
    static let grantHeaders: [(header: String, permission: AccessControlList.Permission)] = [
        ("x-amz-grant-full-control", .fullControl), ("x-amz-grant-read", .read), ("x-amz-grant-write", .write),
        ("x-amz-grant-read-acp", .readACP), ("x-amz-grant-write-acp", .writeACP),
    ]

    /// The canonical id shown for an engine name ("" the administrator).
    static func canonicalID(_ name: String) -> String { name.isEmpty ? WirePromises.ownerID : name }

    // MARK: Bucket ACL

    func bucketAcl(_ bucket: String) async throws -> Response {
        let access = try await store.offLoop { try $0.bucketAccess(bucket) }
        return xmlResponse(Self.aclDocument(access.acl))
    }

    func putBucketAcl(_ bucket: String, _ s3: S3Request, auth: SigV4Authentication, body: RequestBody) async throws -> Response {
        let access = try await store.offLoop { try $0.bucketAccess(bucket) }
        let acl = try await requestACL(s3, body: body, auth: auth, owner: access.owner, bucketOwner: access.owner)
        try await refusePublicACL(acl, bucket: bucket)
        try await store.setBucketACL(bucket, acl: acl)
        return Response(status: .ok)
    }

    // MARK: Object ACL

    func objectAcl(_ bucket: String, _ key: String, _ s3: S3Request) async throws -> Response {
        let versionID = s3.parameter("versionId")
        let (acl, _) = try await store.offLoop { try $0.objectACL(bucket: bucket, key: key, versionID: versionID) }
        return xmlResponse(Self.aclDocument(acl))
    }

    func putObjectAcl(_ bucket: String, _ key: String, _ s3: S3Request, auth: SigV4Authentication,
                      body: RequestBody) async throws -> Response {
        let versionID = s3.parameter("versionId")
        let (current, _) = try await store.offLoop { try $0.objectACL(bucket: bucket, key: key, versionID: versionID) }
        let access = try await store.offLoop { try $0.bucketAccess(bucket) }
        let acl = try await requestACL(s3, body: body, auth: auth, owner: current.owner, bucketOwner: access.owner)
        try await refusePublicACL(acl, bucket: bucket)
        try await store.setObjectACL(bucket: bucket, key: key, versionID: versionID, acl: acl)
        return Response(status: .ok)
    }

    // MARK: Ownership controls

    func ownershipControls(_ bucket: String) async throws -> Response {
        let ownership = try await store.offLoop { try $0.ownershipControls(bucket) }
        var xml = XMLWriter()
        xml.element("OwnershipControls", namespace: XMLWriter.s3Namespace) { xml in
            xml.element("Rule") { xml in xml.element("ObjectOwnership", ownership.wireName) }
        }
        return xmlResponse(xml)
    }

    func putOwnershipControls(_ bucket: String, _ s3: S3Request, auth: SigV4Authentication, body: RequestBody) async throws -> Response {
        guard let root = try await xmlBody(body, s3, auth: auth), root.name == "OwnershipControls" else {
            throw S3Error.malformedXML("expected <OwnershipControls><Rule><ObjectOwnership>…</ObjectOwnership></Rule></OwnershipControls>")
        }
        let rules = root.all("Rule")
        guard rules.count == 1, let value = rules[0].child("ObjectOwnership")?.text else {
            throw S3Error.malformedXML("OwnershipControls has exactly one Rule with an ObjectOwnership")
        }
        guard let ownership = ObjectOwnership(wireName: value) else {
            throw S3Error.malformedXML("ObjectOwnership is BucketOwnerEnforced, BucketOwnerPreferred or ObjectWriter, not \(value)")
        }
        try await store.setOwnershipControls(bucket, ownership)
        return Response(status: .ok)
    }

    func deleteOwnershipControls(_ bucket: String) async throws -> Response {
        try await store.setOwnershipControls(bucket, nil)
        return Response(status: .noContent)
    }

    // MARK: ACLs of writes

    /// The ACL a new object version gets from `x-amz-acl` / `x-amz-grant-*` and the bucket's
    /// ownership, checked before any byte is read: nil for the default (private, owned by
    /// the bucket's owner). The administrator and unsigned writers write as the bucket's
    /// owner; a user writes as itself where ownership is ObjectWriter (or
    /// BucketOwnerPreferred without `bucket-owner-full-control`).
    func writeACL(_ s3: S3Request, bucket: String) async throws -> AccessControlList? {
        try await writeACL(canned: s3.header("x-amz-acl"), grants: try await grantsOfHeaders(s3), bucket: bucket, writer: user)
    }

    /// As `writeACL(_:bucket:)`, from a canned ACL's name and grants (a POST form's `acl`
    /// field too); `writer` nil: the administrator or an unsigned writer.
    func writeACL(canned: String?, grants: [AccessControlList.Grant]?, bucket: String,
                  writer user: String?) async throws -> AccessControlList? {
        if canned == nil, grants == nil, user == nil { return nil }
        if canned != nil, grants != nil { throw Self.cannedAndGrants }
        let access = try await store.offLoop { try $0.bucketAccess(bucket) }
        let writer = user ?? access.owner
        let owner = switch access.ownership {
        case .bucketOwnerEnforced: access.owner
        case .bucketOwnerPreferred: canned == "bucket-owner-full-control" ? access.owner : writer
        case .objectWriter: writer
        }
        let acl = try canned.map { try Self.cannedACL($0, owner: owner, bucketOwner: access.owner) }
            ?? grants.map { AccessControlList(owner: owner, grants: $0) } ?? .private(owner: owner)
        let stored = try ObjectStore.storedObjectACL(acl, access: access)
        if let stored { try await refusePublicACL(stored, bucket: bucket) }
        return stored
    }

    /// CreateBucket's ACL and ownership (`x-amz-acl`, `x-amz-grant-*`, `x-amz-object-ownership`).
    func createBucketAccess(_ s3: S3Request) async throws -> (ownership: ObjectOwnership?, acl: AccessControlList?) {
        var ownership: ObjectOwnership?
        if let value = s3.header("x-amz-object-ownership") {
            guard let parsed = ObjectOwnership(wireName: value) else {
                throw S3Error.invalidArgument("x-amz-object-ownership is BucketOwnerEnforced, BucketOwnerPreferred or ObjectWriter")
            }
            ownership = parsed
        }
        let canned = s3.header("x-amz-acl")
        let grants = try await grantsOfHeaders(s3)
        if canned != nil, grants != nil { throw Self.cannedAndGrants }
        let owner = user ?? ""
        let acl = try canned.map { try Self.cannedACL($0, owner: owner, bucketOwner: owner) }
            ?? grants.map { AccessControlList(owner: owner, grants: $0) }
        return (ownership, acl)
    }

    // MARK: Parsing

    static let cannedAndGrants = S3Error(.badRequest, "InvalidRequest", "Specifying both Canned ACLs and Header Grants is not allowed")

    static func cannedACL(_ name: String, owner: String, bucketOwner: String) throws -> AccessControlList {
        if name == "aws-exec-read" { throw S3Error.notImplemented("The aws-exec-read canned ACL (there is no EC2 here)") }
        guard let acl = AccessControlList.canned(name, owner: owner, bucketOwner: bucketOwner) else {
            throw S3Error.invalidArgument("\(name) is not a canned ACL")
        }
        return acl
    }

    /// The ACL of a PutBucketAcl or PutObjectAcl: a canned ACL, grant headers, or an
    /// `AccessControlPolicy` body — exactly one of them.
    func requestACL(_ s3: S3Request, body: RequestBody, auth: SigV4Authentication, owner: String,
                    bucketOwner: String) async throws -> AccessControlList {
        let canned = s3.header("x-amz-acl")
        let grants = try await grantsOfHeaders(s3)
        let document = try await xmlBody(body, s3, auth: auth)
        if canned != nil, grants != nil { throw Self.cannedAndGrants }
        if let document {
            guard canned == nil, grants == nil else {
                throw S3Error(.badRequest, "UnexpectedContent", "This request does not support content with an ACL header")
            }
            return try await policyDocumentACL(document)
        }
        if let canned { return try Self.cannedACL(canned, owner: owner, bucketOwner: bucketOwner) }
        if let grants { return AccessControlList(owner: owner, grants: grants) }
        throw S3Error(.badRequest, "MissingSecurityHeader", "Your request was missing a required header: x-amz-acl, x-amz-grant-* or an AccessControlPolicy body")
    }

    /// `x-amz-grant-*`: each a comma-separated list of `id="…"`, `uri="…"` or
    /// `emailAddress="…"`. nil when none is sent.
    func grantsOfHeaders(_ s3: S3Request) async throws -> [AccessControlList.Grant]? {
        var grants: [AccessControlList.Grant] = []
        var any = false
        for (header, permission) in Self.grantHeaders {
            guard let value = s3.header(header) else { continue }
            any = true
            for item in value.split(separator: ",") {
                let parts = item.split(separator: "=", maxSplits: 1)
                guard parts.count == 2 else { throw S3Error.invalidArgument("\(header): expected type=\"value\", got \(item)") }
                let type = parts[0].trimmingCharacters(in: .whitespaces).lowercased()
                var text = parts[1].trimmingCharacters(in: .whitespaces)
                if text.count >= 2, text.hasPrefix("\""), text.hasSuffix("\"") { text = String(text.dropFirst().dropLast()) }
                let grantee: AccessControlList.Grantee = switch type {
                case "id": try await userGrantee(id: text)
                case "uri": try Self.groupGrantee(uri: text)
                case "emailaddress": throw Self.unresolvableEmail(text)
                default: throw S3Error.invalidArgument("\(header): a grantee is id=, uri= or emailAddress=, not \(type)=")
                }
                grants.append(AccessControlList.Grant(grantee, permission))
            }
        }
        guard any else { return nil }
        guard grants.count <= Limits.maxGrants else { throw S3Error.invalidArgument("An ACL has at most \(Limits.maxGrants) grants") }
        return grants
    }

    /// An `AccessControlPolicy` document: its Owner's ID and its grants.
    func policyDocumentACL(_ root: XMLNode) async throws -> AccessControlList {
        guard root.name == "AccessControlPolicy" else { throw Self.malformedACL("expected <AccessControlPolicy>") }
        guard let ownerID = root.child("Owner")?.child("ID")?.text else {
            throw Self.malformedACL("the AccessControlPolicy has no Owner ID")
        }
        let owner = try await userName(ofCanonicalID: ownerID)
        var grants: [AccessControlList.Grant] = []
        for grant in root.child("AccessControlList")?.all("Grant") ?? [] {
            guard let grantee = grant.child("Grantee"), let permissionText = grant.child("Permission")?.text,
                  let permission = AccessControlList.Permission(wireName: permissionText) else {
                throw Self.malformedACL("a Grant has a Grantee and a Permission (FULL_CONTROL, READ, WRITE, READ_ACP or WRITE_ACP)")
            }
            if let id = grantee.child("ID")?.text {
                grants.append(.init(try await userGrantee(id: id), permission))
            } else if let uri = grantee.child("URI")?.text {
                grants.append(.init(try Self.groupGrantee(uri: uri), permission))
            } else if let email = grantee.child("EmailAddress")?.text {
                throw Self.unresolvableEmail(email)
            } else {
                throw Self.malformedACL("a Grantee has an ID, a URI or an EmailAddress")
            }
        }
        guard grants.count <= Limits.maxGrants else { throw Self.malformedACL("an ACL has at most \(Limits.maxGrants) grants") }
        return AccessControlList(owner: owner, grants: grants)
    }

    static func malformedACL(_ why: String) -> S3Error {
        S3Error(.badRequest, "MalformedACLError", "The XML you provided was not well-formed or did not validate against our published schema: \(why)")
    }

    static func unresolvableEmail(_ email: String) -> S3Error {
        S3Error(.badRequest, "UnresolvableGrantByEmailAddress",
                "The e-mail address you provided does not match any account on record: \(email) (grant by id= instead)")
    }

    private func userGrantee(id: String) async throws -> AccessControlList.Grantee {
        .user(try await userName(ofCanonicalID: id))
    }

    /// The engine's name for a canonical id: "" for `stowage`, else a user that exists.
    private func userName(ofCanonicalID id: String) async throws -> String {
        if id == WirePromises.ownerID { return "" }
        guard try await store.offLoop({ try $0.userExists(id) }) else {
            throw S3Error.invalidArgument("Invalid id: \(id) is no user of this server")
        }
        return id
    }

    static func groupGrantee(uri: String) throws -> AccessControlList.Grantee {
        switch uri {
        case allUsersURI: .allUsers
        case authenticatedUsersURI: .authenticatedUsers
        case logDeliveryURI: .logDelivery
        default: throw S3Error.invalidArgument("Invalid group uri: \(uri)")
        }
    }

    /// BlockPublicAcls: an ACL that grants to everyone is refused (403), nothing changed.
    func refusePublicACL(_ acl: AccessControlList, bucket: String) async throws {
        guard acl.isPublic else { return }
        if try await store.offLoop({ try $0.publicAccessBlock(bucket) })?.blockPublicAcls == true {
            throw S3Error(.forbidden, "AccessDenied", "Access Denied: the bucket's PublicAccessBlock blocks public ACLs")
        }
    }

    // MARK: Rendering

    static func aclDocument(_ acl: AccessControlList) -> XMLWriter {
        var xml = XMLWriter()
        xml.element("AccessControlPolicy", namespace: XMLWriter.s3Namespace) { xml in
            xml.element("Owner") { xml in
                xml.element("ID", canonicalID(acl.owner))
                xml.element("DisplayName", canonicalID(acl.owner))
            }
            xml.element("AccessControlList") { xml in
                for grant in acl.grants {
                    xml.element("Grant") { xml in
                        switch grant.grantee {
                        case .user(let name):
                            xml.element("Grantee", attributes: ["xmlns:xsi": xsiNamespace, "xsi:type": "CanonicalUser"]) { xml in
                                xml.element("ID", canonicalID(name))
                                xml.element("DisplayName", canonicalID(name))
                            }
                        case .allUsers, .authenticatedUsers, .logDelivery:
                            let uri = grant.grantee == .allUsers ? allUsersURI
                                : grant.grantee == .authenticatedUsers ? authenticatedUsersURI : logDeliveryURI
                            xml.element("Grantee", attributes: ["xmlns:xsi": xsiNamespace, "xsi:type": "Group"]) { xml in
                                xml.element("URI", uri)
                            }
                        }
                        xml.element("Permission", grant.permission.wireName)
                    }
                }
            }
        }
        return xml
    }
}
