import Foundation
import HTTPTypes
import Hummingbird
import Stowage

/// Object Lock on the wire: the bucket configuration (`?object-lock`), a version's
/// retention (`?retention`) and legal hold (`?legal-hold`), the lock headers of PUT and
/// CopyObject, and the ones GET and HEAD answer with.
extension Handlers {
    func objectLockConfiguration(_ bucket: String) async throws -> Response {
        let configuration = try await store.offLoop { try $0.objectLockConfiguration(bucket) }
        var xml = XMLWriter()
        xml.element("ObjectLockConfiguration", namespace: XMLWriter.s3Namespace) { xml in
            xml.element("ObjectLockEnabled", "Enabled")
            if let retention = configuration.defaultRetention {
                xml.element("Rule") { xml in
                    xml.element("DefaultRetention") { xml in
                        xml.element("Mode", retention.mode.name)
                        xml.element(retention.inYears ? "Years" : "Days", String(retention.period))
                    }
                }
            }
        }
        return xmlResponse(xml)
    }

    /// `<ObjectLockConfiguration><ObjectLockEnabled>Enabled</ObjectLockEnabled>[<Rule>
    /// <DefaultRetention><Mode/><Days/>|<Years/></DefaultRetention></Rule>]`.
    func putObjectLockConfiguration(_ bucket: String, _ s3: S3Request, auth: SigV4Authentication,
                                    body: RequestBody) async throws -> Response {
        if s3.header("x-amz-bucket-object-lock-token") != nil {
            throw S3Error.invalidArgument("x-amz-bucket-object-lock-token is not used by this server")
        }
        guard let root = try await xmlBody(body, s3, auth: auth), root.name == "ObjectLockConfiguration" else {
            throw S3Error.malformedXML("expected an ObjectLockConfiguration element")
        }
        guard root.child("ObjectLockEnabled")?.text == "Enabled" else {
            throw S3Error.malformedXML("ObjectLockEnabled must be Enabled")
        }
        var retention: DefaultRetention?
        if let rule = root.child("Rule") {
            guard let defaults = rule.child("DefaultRetention"), let modeName = defaults.child("Mode")?.text,
                  let mode = RetentionMode(name: modeName) else {
                throw S3Error.malformedXML("a Rule has a DefaultRetention with a Mode of GOVERNANCE or COMPLIANCE")
            }
            let days = defaults.child("Days")?.text, years = defaults.child("Years")?.text
            guard (days == nil) != (years == nil), let period = UInt32(days ?? years ?? ""), period > 0 else {
                throw S3Error.malformedXML("a DefaultRetention has Days or Years (a positive integer), not both")
            }
            retention = DefaultRetention(mode: mode, period: period, inYears: years != nil)
        }
        try await store.setObjectLockConfiguration(bucket, defaultRetention: retention)
        return Response(status: .ok)
    }

    func objectRetention(_ bucket: String, _ key: String, _ s3: S3Request) async throws -> Response {
        let versionID = s3.parameter("versionId")
        let lock = try await store.offLoop { try $0.objectRetention(bucket: bucket, key: key, versionID: versionID) }
        var xml = XMLWriter()
        xml.element("Retention", namespace: XMLWriter.s3Namespace) { xml in
            if let mode = lock.mode { xml.element("Mode", mode.name) }
            xml.element("RetainUntilDate", HTTPDate.iso8601(milliseconds: lock.retainUntilMilliseconds))
        }
        return xmlResponse(xml)
    }

    /// `<Retention><Mode/><RetainUntilDate/></Retention>`; an empty Retention removes it
    /// (GOVERNANCE, with the bypass header).
    func putObjectRetention(_ bucket: String, _ key: String, _ s3: S3Request, auth: SigV4Authentication,
                            body: RequestBody) async throws -> Response {
        guard let root = try await xmlBody(body, s3, auth: auth), root.name == "Retention" else {
            throw S3Error.malformedXML("expected a Retention element")
        }
        var mode: RetentionMode?
        var until: Int64 = 0
        if let modeName = root.child("Mode")?.text {
            guard let parsed = RetentionMode(name: modeName) else { throw S3Error.malformedXML("Mode is GOVERNANCE or COMPLIANCE") }
            guard let date = root.child("RetainUntilDate")?.text, let milliseconds = Self.iso8601Milliseconds(date) else {
                throw S3Error.malformedXML("a Retention with a Mode has a RetainUntilDate in ISO 8601 format")
            }
            (mode, until) = (parsed, milliseconds)
        } else if root.child("RetainUntilDate") != nil {
            throw S3Error.malformedXML("a RetainUntilDate needs a Mode")
        }
        try await store.setObjectRetention(bucket: bucket, key: key, versionID: s3.parameter("versionId"), mode: mode,
                                           retainUntilMilliseconds: until, bypassGovernance: Self.bypassesGovernance(s3))
        return Response(status: .ok)
    }

    func objectLegalHold(_ bucket: String, _ key: String, _ s3: S3Request) async throws -> Response {
        let versionID = s3.parameter("versionId")
        let on = try await store.offLoop { try $0.objectLegalHold(bucket: bucket, key: key, versionID: versionID) }
        var xml = XMLWriter()
        xml.element("LegalHold", namespace: XMLWriter.s3Namespace) { xml in xml.element("Status", on ? "ON" : "OFF") }
        return xmlResponse(xml)
    }

    func putObjectLegalHold(_ bucket: String, _ key: String, _ s3: S3Request, auth: SigV4Authentication,
                            body: RequestBody) async throws -> Response {
        guard let root = try await xmlBody(body, s3, auth: auth), root.name == "LegalHold",
              let status = root.child("Status")?.text, status == "ON" || status == "OFF" else {
            throw S3Error.malformedXML("expected <LegalHold><Status>ON|OFF</Status></LegalHold>")
        }
        try await store.setObjectLegalHold(bucket: bucket, key: key, versionID: s3.parameter("versionId"), on: status == "ON")
        return Response(status: .ok)
    }

    /// The lock headers of PutObject and CopyObject: a mode with its retain-until date (both
    /// or neither; the date in the future) and a legal hold. Nil when none is sent.
    static func lockHeaders(_ s3: S3Request) throws -> ObjectLock? {
        let modeName = s3.header("x-amz-object-lock-mode")
        let dateText = s3.header("x-amz-object-lock-retain-until-date")
        let hold = s3.header("x-amz-object-lock-legal-hold")
        guard modeName != nil || dateText != nil || hold != nil else { return nil }
        guard (modeName == nil) == (dateText == nil) else {
            throw S3Error.invalidArgument("x-amz-object-lock-retain-until-date and x-amz-object-lock-mode must both be supplied")
        }
        var lock = ObjectLock()
        if let modeName, let dateText {
            guard let mode = RetentionMode(name: modeName) else {
                throw S3Error.invalidArgument("Unknown wormMode directive: \(modeName)")
            }
            guard let milliseconds = Self.iso8601Milliseconds(dateText) else {
                throw S3Error.invalidArgument("The retain until date must be provided in ISO 8601 format")
            }
            guard milliseconds > Int64(Date().timeIntervalSince1970 * 1000) else {
                throw S3Error.invalidArgument("The retain until date must be in the future!")
            }
            lock = ObjectLock(mode: mode, retainUntilMilliseconds: milliseconds)
        }
        if let hold {
            guard hold == "ON" || hold == "OFF" else { throw S3Error.invalidArgument("Legal Hold must be either of 'ON' or 'OFF'") }
            lock.legalHold = hold == "ON"
        }
        return lock
    }

    /// An ISO 8601 date and time (`2026-12-03T10:00:00Z`, with fractional seconds or a UTC
    /// offset), in milliseconds since 1970.
    static func iso8601Milliseconds(_ text: String) -> Int64? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return Int64((date.timeIntervalSince1970 * 1000).rounded(.down)) }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text).map { Int64($0.timeIntervalSince1970 * 1000) }
    }

    static func bypassesGovernance(_ s3: S3Request) -> Bool {
        s3.header("x-amz-bypass-governance-retention")?.lowercased() == "true"
    }

    /// What GET and HEAD answer about a version's lock.
    static func lockResponseHeaders(_ lock: ObjectLock?, into headers: inout HTTPFields) {
        guard let lock else { return }
        if let mode = lock.mode {
            headers[.init("x-amz-object-lock-mode")!] = mode.name
            headers[.init("x-amz-object-lock-retain-until-date")!] = HTTPDate.iso8601(milliseconds: lock.retainUntilMilliseconds)
        }
        if lock.legalHold { headers[.init("x-amz-object-lock-legal-hold")!] = "ON" }
    }
}
