import Foundation
import HTTPTypes
import Hummingbird
import Stowage

/// Put/Get/DeleteBucketLifecycleConfiguration (`?lifecycle`). Transitions are refused
/// (501): there is one storage tier, and a rule that promised to move data would be a
/// promise not kept.
extension Handlers {
    func lifecycleConfiguration(_ bucket: String) async throws -> Response {
        let rules = try await store.offLoop { try $0.lifecycleConfiguration(bucket) }
        var xml = XMLWriter()
        xml.element("LifecycleConfiguration", namespace: XMLWriter.s3Namespace) { xml in
            for rule in rules { xml.lifecycleRule(rule) }
        }
        return xmlResponse(xml)
    }

    func putLifecycleConfiguration(_ bucket: String, _ s3: S3Request, auth: SigV4Authentication,
                                   body: RequestBody) async throws -> Response {
        guard let root = try await xmlBody(body, s3, auth: auth), root.name == "LifecycleConfiguration" else {
            throw S3Error.malformedXML("expected a LifecycleConfiguration element")
        }
        let rules = try root.all("Rule").map(Self.lifecycleRule)
        guard !rules.isEmpty, rules.count <= Limits.maxLifecycleRules else {
            throw S3Error.malformedXML("a LifecycleConfiguration has 1 to \(Limits.maxLifecycleRules) rules")
        }
        guard Set(rules.map(\.id)).count == rules.count else {
            throw S3Error.invalidArgument("Rule ID must be unique. Found same ID for more than one rule")
        }
        try await store.setLifecycleConfiguration(bucket, rules: rules)
        return Response(status: .ok)
    }

    func deleteLifecycleConfiguration(_ bucket: String) async throws -> Response {
        try await store.deleteLifecycleConfiguration(bucket)
        return Response(status: .noContent)
    }

    /// One `<Rule>`: ID, Status, a Filter (Prefix, Tag, ObjectSizeGreaterThan,
    /// ObjectSizeLessThan, or an And of them; or the legacy top-level Prefix), and at least
    /// one of Expiration, NoncurrentVersionExpiration, AbortIncompleteMultipartUpload.
    static func lifecycleRule(_ node: XMLNode) throws -> LifecycleRule {
        let id = node.child("ID")?.text ?? UUID().uuidString
        guard id.count <= 255 else { throw S3Error.invalidArgument("ID length should not exceed allowed limit of 255") }
        let status = node.child("Status")?.text
        guard status == "Enabled" || status == "Disabled" else {
            throw S3Error.malformedXML("a Rule's Status is Enabled or Disabled")
        }
        if let transition = ["Transition", "NoncurrentVersionTransition"].first(where: { node.child($0) != nil }) {
            throw S3Error.notImplemented("Lifecycle \(transition) (one storage tier: there is nowhere to transition to)")
        }
        var rule = LifecycleRule(id: id, enabled: status == "Enabled")
        if let filter = node.child("Filter") {
            guard node.child("Prefix") == nil else { throw S3Error.malformedXML("a Rule has a Filter or a Prefix, not both") }
            let conditions = filter.child("And") ?? filter
            if filter.child("And") == nil && filter.children.count > 1 {
                throw S3Error.malformedXML("a Filter with several conditions puts them in an And")
            }
            rule.prefix = conditions.child("Prefix")?.text ?? ""
            rule.tags = try conditions.all("Tag").map { tag in
                guard let key = tag.child("Key")?.text, let value = tag.child("Value")?.text else {
                    throw S3Error.malformedXML("a Tag has a Key and a Value")
                }
                return LifecycleRule.Tag(key: key, value: value)
            }
            rule.sizeGreaterThan = try conditions.child("ObjectSizeGreaterThan").map { try Self.count($0.text, "ObjectSizeGreaterThan") }
            rule.sizeLessThan = try conditions.child("ObjectSizeLessThan").map { try Self.count($0.text, "ObjectSizeLessThan") }
        } else {
            rule.prefix = node.child("Prefix")?.text ?? ""
        }
        if let expiration = node.child("Expiration") {
            let days = expiration.child("Days"), date = expiration.child("Date"), marker = expiration.child("ExpiredObjectDeleteMarker")
            guard [days, date, marker].compactMap({ $0 }).count == 1 else {
                throw S3Error.malformedXML("an Expiration has one of Days, Date and ExpiredObjectDeleteMarker")
            }
            if let days { rule.expirationDays = Int(try Self.positive(days.text, "Days")) }
            if let date {
                guard let milliseconds = Self.iso8601Milliseconds(date.text) else {
                    throw S3Error.invalidArgument("'Date' must be in ISO 8601 format")
                }
                guard milliseconds % ObjectStore.millisecondsPerDay == 0 else {
                    throw S3Error.invalidArgument("'Date' must be at midnight GMT")
                }
                rule.expirationDateMilliseconds = milliseconds
            }
            if let marker {
                guard marker.text == "true" || marker.text == "false" else {
                    throw S3Error.malformedXML("ExpiredObjectDeleteMarker is true or false")
                }
                guard rule.tags.isEmpty else {
                    throw S3Error.invalidArgument("ExpiredObjectDeleteMarker cannot be specified with a Tag filter")
                }
                rule.expiredObjectDeleteMarker = marker.text == "true"
            }
        }
        if let noncurrent = node.child("NoncurrentVersionExpiration") {
            guard let days = noncurrent.child("NoncurrentDays") else {
                throw S3Error.malformedXML("a NoncurrentVersionExpiration has NoncurrentDays")
            }
            rule.noncurrentDays = Int(try Self.positive(days.text, "NoncurrentDays"))
            if let newer = noncurrent.child("NewerNoncurrentVersions") {
                let count = try Self.positive(newer.text, "NewerNoncurrentVersions")
                guard count <= 100 else { throw S3Error.invalidArgument("NewerNoncurrentVersions must be at most 100") }
                rule.newerNoncurrentVersions = Int(count)
            }
        }
        if let abort = node.child("AbortIncompleteMultipartUpload") {
            guard let days = abort.child("DaysAfterInitiation") else {
                throw S3Error.malformedXML("an AbortIncompleteMultipartUpload has DaysAfterInitiation")
            }
            guard rule.tags.isEmpty, rule.sizeGreaterThan == nil, rule.sizeLessThan == nil else {
                throw S3Error.invalidArgument("AbortIncompleteMultipartUpload cannot be specified with Tags or object sizes")
            }
            rule.abortIncompleteUploadDays = Int(try Self.positive(days.text, "DaysAfterInitiation"))
        }
        guard rule.expirationDays != nil || rule.expirationDateMilliseconds != nil || rule.expiredObjectDeleteMarker
                || rule.noncurrentDays != nil || rule.abortIncompleteUploadDays != nil else {
            throw S3Error.invalidArgument("At least one action needs to be specified in a rule")
        }
        return rule
    }

    private static func count(_ text: String, _ name: String) throws -> UInt64 {
        guard let value = UInt64(text.trimmingCharacters(in: .whitespaces)) else {
            throw S3Error.invalidArgument("\(name) must be a non-negative integer")
        }
        return value
    }

    private static func positive(_ text: String, _ name: String) throws -> UInt64 {
        let value = try count(text, name)
        guard value > 0, value <= 1_000_000 else { throw S3Error.invalidArgument("'\(name)' in a lifecycle rule must be a positive integer") }
        return value
    }
}

extension XMLWriter {
    mutating func lifecycleRule(_ rule: LifecycleRule) {
        element("Rule") { xml in
            xml.element("ID", rule.id)
            xml.element("Filter") { xml in
                let conditions = (rule.prefix.isEmpty ? 0 : 1) + rule.tags.count
                    + (rule.sizeGreaterThan == nil ? 0 : 1) + (rule.sizeLessThan == nil ? 0 : 1)
                func body(_ xml: inout XMLWriter) {
                    if !rule.prefix.isEmpty || conditions == 0 { xml.element("Prefix", rule.prefix) }
                    for tag in rule.tags {
                        xml.element("Tag") { xml in
                            xml.element("Key", tag.key)
                            xml.element("Value", tag.value)
                        }
                    }
                    if let size = rule.sizeGreaterThan { xml.element("ObjectSizeGreaterThan", String(size)) }
                    if let size = rule.sizeLessThan { xml.element("ObjectSizeLessThan", String(size)) }
                }
                if conditions > 1 { xml.element("And", body) } else { body(&xml) }
            }
            xml.element("Status", rule.enabled ? "Enabled" : "Disabled")
            if rule.expirationDays != nil || rule.expirationDateMilliseconds != nil || rule.expiredObjectDeleteMarker {
                xml.element("Expiration") { xml in
                    if let days = rule.expirationDays { xml.element("Days", String(days)) }
                    if let date = rule.expirationDateMilliseconds { xml.element("Date", HTTPDate.iso8601(milliseconds: date)) }
                    if rule.expiredObjectDeleteMarker { xml.element("ExpiredObjectDeleteMarker", "true") }
                }
            }
            if let days = rule.noncurrentDays {
                xml.element("NoncurrentVersionExpiration") { xml in
                    xml.element("NoncurrentDays", String(days))
                    if let newer = rule.newerNoncurrentVersions { xml.element("NewerNoncurrentVersions", String(newer)) }
                }
            }
            if let days = rule.abortIncompleteUploadDays {
                xml.element("AbortIncompleteMultipartUpload") { xml in xml.element("DaysAfterInitiation", String(days)) }
            }
        }
    }
}
