/// `meta["cors/" ‖ bucket]`: a bucket's CORS rules (layout: docs/ARCHITECTURE.md §2).
struct CORSRecord: Equatable {
    static let version: UInt8 = 1
    static let keyPrefix = Array("cors/".utf8)
    static func key(bucket: String) -> [UInt8] { keyPrefix + Array(bucket.utf8) }

    var rules: [CORSRule]

    init(rules: [CORSRule]) { self.rules = rules }

    func encoded() -> [UInt8] {
        var w = RecordWriter(version: Self.version)
        w.u32(UInt32(rules.count))
        for rule in rules {
            w.optionalString(rule.id)
            Self.strings(rule.allowedOrigins, into: &w)
            w.u32(UInt32(rule.allowedMethods.count))
            for method in rule.allowedMethods {
                // Validation.checkCORSRules admits only the five: each has a code.
                w.u8(UInt8(CORSRule.methods.firstIndex(of: method)! + 1))
            }
            Self.strings(rule.allowedHeaders, into: &w)
            Self.strings(rule.exposeHeaders, into: &w)
            w.u8(rule.maxAgeSeconds == nil ? 0 : 1)
            w.i64(Int64(rule.maxAgeSeconds ?? 0))
        }
        return w.bytes
    }

    init(decoding bytes: UnsafeRawBufferPointer) throws(RecordError) {
        var r = try RecordReader(bytes, record: "cors", expectedVersion: Self.version)
        let count = Int(try r.u32())
        guard (1...Limits.maxCORSRules).contains(count) else { throw RecordError(record: "cors", reason: "\(count) rules") }
        rules = []
        for _ in 0..<count {
            let id = try r.optionalString()
            let origins = try Self.strings(&r)
            let methodCount = Int(try r.u32())
            guard methodCount <= r.remaining else { throw RecordError(record: "cors", reason: "\(methodCount) methods") }
            var methods: [String] = []
            for _ in 0..<methodCount {
                let code = Int(try r.u8())
                guard (1...CORSRule.methods.count).contains(code) else {
                    throw RecordError(record: "cors", reason: "unknown method code \(code)")
                }
                methods.append(CORSRule.methods[code - 1])
            }
            let headers = try Self.strings(&r)
            let exposed = try Self.strings(&r)
            let hasMaxAge = try r.u8() == 1
            let maxAge = try r.i64()
            rules.append(CORSRule(id: id, allowedOrigins: origins, allowedMethods: methods, allowedHeaders: headers,
                                  exposeHeaders: exposed, maxAgeSeconds: hasMaxAge ? Int(maxAge) : nil))
        }
        try r.finish()
    }

    /// u32 count, then each string.
    private static func strings(_ values: [String], into w: inout RecordWriter) {
        w.u32(UInt32(values.count))
        for value in values { w.string(value) }
    }

    private static func strings(_ r: inout RecordReader) throws(RecordError) -> [String] {
        let count = Int(try r.u32())
        // Each string takes at least its 4-byte length: a count beyond that is damage.
        guard count <= r.remaining / 4 else { throw RecordError(record: "cors", reason: "\(count) strings") }
        var values: [String] = []
        for _ in 0..<count { values.append(try r.string()) }
        return values
    }
}
