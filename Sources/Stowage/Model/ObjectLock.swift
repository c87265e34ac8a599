/// Object Lock (write-once retention): a version under retention or a legal hold cannot
/// be deleted for good — by DELETE with its version id, DeleteObjects, a lifecycle rule or
/// fsck's repair — until the retention ends and the hold is off. GOVERNANCE retention
/// gives way to `x-amz-bypass-governance-retention: true`; COMPLIANCE gives way to nothing,
/// and can only be extended.
public enum RetentionMode: UInt8, Sendable, CaseIterable {
    case governance = 1
    case compliance = 2

    /// S3's wire name.
    public var name: String { self == .governance ? "GOVERNANCE" : "COMPLIANCE" }

    public init?(name: String) {
        guard let mode = Self.allCases.first(where: { $0.name == name }) else { return nil }
        self = mode
    }
}

/// One version's retention and legal hold.
public struct ObjectLock: Sendable, Equatable {
    /// nil: no retention.
    public var mode: RetentionMode?
    /// Milliseconds since 1970; meaningful with a mode.
    public var retainUntilMilliseconds: Int64 = 0
    public var legalHold = false

    public init(mode: RetentionMode? = nil, retainUntilMilliseconds: Int64 = 0, legalHold: Bool = false) {
        self.mode = mode
        self.retainUntilMilliseconds = mode == nil ? 0 : retainUntilMilliseconds
        self.legalHold = legalHold
    }

    /// Whether the version may be deleted for good at `now`.
    func refusal(now: Int64, bypassGovernance: Bool) -> StoreError? {
        if legalHold {
            return StoreError(.accessDenied, "Access Denied because object protected by object lock (legal hold).")
        }
        guard let mode, retainUntilMilliseconds > now else { return nil }
        if mode == .governance && bypassGovernance { return nil }
        return StoreError(.accessDenied, "Access Denied because object protected by object lock (\(mode.name) retention).")
    }
}

/// A bucket's default retention: applied to every new object version written without a
/// retention of its own.
public struct DefaultRetention: Sendable, Equatable {
    public var mode: RetentionMode
    /// Days, or years when `inYears` (as configured: S3 gives back what was set).
    public var period: UInt32
    public var inYears: Bool

    public init(mode: RetentionMode, period: UInt32, inYears: Bool) {
        self.mode = mode
        self.period = period
        self.inYears = inYears
    }

    func retainUntil(from now: Int64) -> Int64 {
        let days = Int64(period) * (inYears ? 365 : 1)
        return now + days * 86_400_000
    }
}

/// A bucket's Object Lock configuration (`GetObjectLockConfiguration`).
public struct ObjectLockConfiguration: Sendable, Equatable {
    public var enabled: Bool
    public var defaultRetention: DefaultRetention?

    public init(enabled: Bool, defaultRetention: DefaultRetention? = nil) {
        self.enabled = enabled
        self.defaultRetention = defaultRetention
    }
}
