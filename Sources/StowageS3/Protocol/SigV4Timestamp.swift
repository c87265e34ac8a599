import Foundation

/// The time a request was signed: `X-Amz-Date`/`x-amz-date` in ISO 8601 basic form
/// (`20130524T000000Z`), or failing that the `Date` header (`Fri, 24 May 2013 00:00:00 GMT`).
/// Parsed by hand: the formats are fixed, and a fuzzer should not reach a `DateFormatter`.
struct SigV4Timestamp: Equatable, Sendable {
    let secondsSince1970: Int64
    /// `yyyyMMdd'T'HHmmss'Z'`, the form the string to sign carries: formatted once, when
    /// the timestamp is made (a request reads it twice: the credential's day and the string
    /// to sign).
    let basicISO8601: String

    static let secondsPerDay: Int64 = 86_400
    private static let basicLength = 16
    /// Also `HTTPDate`'s (IMF-fixdate writes the same names).
    static let monthNames = ["Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    /// Zone spellings a `Date` header may end with; Python's `formatdate` (botocore) writes
    /// `-0000`.
    private static let utcZones: Set<Substring> = ["GMT", "UTC", "UT", "Z", "+0000", "-0000"]

    init(secondsSince1970: Int64) {
        self.secondsSince1970 = secondsSince1970
        self.basicISO8601 = Self.format(secondsSince1970)
    }

    /// A time parsed from `basicISO8601`, which is already its own formatted form.
    private init(secondsSince1970: Int64, basicISO8601: String) {
        self.secondsSince1970 = secondsSince1970
        self.basicISO8601 = basicISO8601
    }

    var date: Date { Date(timeIntervalSince1970: TimeInterval(secondsSince1970)) }

    private static func format(_ secondsSince1970: Int64) -> String {
        let days = secondsSince1970 >= 0 ? secondsSince1970 / Self.secondsPerDay
                                         : (secondsSince1970 - Self.secondsPerDay + 1) / Self.secondsPerDay
        let seconds = secondsSince1970 - days * Self.secondsPerDay
        let (year, month, day) = Self.civil(fromDays: days)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(basicLength)
        appendDigits(year, 4, to: &bytes)
        appendDigits(month, 2, to: &bytes)
        appendDigits(day, 2, to: &bytes)
        bytes.append(UInt8(ascii: "T"))
        appendDigits(seconds / 3600, 2, to: &bytes)
        appendDigits(seconds / 60 % 60, 2, to: &bytes)
        appendDigits(seconds % 60, 2, to: &bytes)
        bytes.append(UInt8(ascii: "Z"))
        return String(decoding: bytes, as: UTF8.self)
    }

    /// `value` in decimal, zero-padded to `width`; wider values (years past 9999) in full.
    static func appendDigits(_ value: Int64, _ width: Int, to bytes: inout [UInt8]) {
        guard value >= 0 else { bytes.append(contentsOf: String(value).utf8); return }
        var count = 1
        var power: Int64 = 1
        while value / power >= 10 { power *= 10; count += 1 }
        for _ in count..<max(count, width) { bytes.append(UInt8(ascii: "0")) }
        while power > 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(value / power % 10))
            power /= 10
        }
    }

    /// `yyyyMMdd`, the first element of the credential scope.
    var day: String { String(basicISO8601.prefix(8)) }

    init?(basicISO8601 text: String) {
        let utf8 = text.utf8
        guard utf8.count == Self.basicLength else { return nil }
        let bytes = Array(utf8)
        guard bytes[8] == UInt8(ascii: "T"), bytes[15] == UInt8(ascii: "Z"),
              let year = Self.number(bytes[0..<4]), let month = Self.number(bytes[4..<6]),
              let day = Self.number(bytes[6..<8]), let hour = Self.number(bytes[9..<11]),
              let minute = Self.number(bytes[11..<13]), let second = Self.number(bytes[13..<15]),
              let seconds = Self.seconds(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        else { return nil }
        // Fixed-width digits with every field in range: the text is what `format` writes.
        self.init(secondsSince1970: seconds, basicISO8601: text)
    }

    /// RFC 1123 (`Fri, 24 May 2013 00:00:00 GMT`), the only `Date` form SigV4 clients send.
    init?(rfc1123 text: String) {
        let fields = text.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count == 6, fields[0].hasSuffix(","), Self.utcZones.contains(fields[5]),
              let day = Self.number(fields[1].utf8), let monthIndex = Self.monthNames.firstIndex(of: String(fields[2])),
              let year = Self.number(fields[3].utf8)
        else { return nil }
        let clock = fields[4].split(separator: ":", omittingEmptySubsequences: false)
        guard clock.count == 3, clock.allSatisfy({ $0.utf8.count == 2 }),
              let hour = Self.number(clock[0].utf8), let minute = Self.number(clock[1].utf8),
              let second = Self.number(clock[2].utf8)
        else { return nil }
        self.init(year: year, month: monthIndex + 1, day: day, hour: hour, minute: minute, second: second)
    }

    private init?(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        guard let seconds = Self.seconds(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        else { return nil }
        self.init(secondsSince1970: seconds)
    }

    private static func seconds(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int64? {
        guard (1...12).contains(month), (1...Self.daysIn(month: month, year: year)).contains(day),
              (0...23).contains(hour), (0...59).contains(minute), (0...59).contains(second)
        else { return nil }
        let days = Self.days(year: Int64(year), month: Int64(month), day: Int64(day))
        return days * Self.secondsPerDay + Int64(hour * 3600 + minute * 60 + second)
    }

    /// Digits only, at most four of them (years, days, clock fields).
    private static func number(_ digits: some Collection<UInt8>) -> Int? {
        guard !digits.isEmpty, digits.count <= 4 else { return nil }
        var value = 0
        for digit in digits {
            guard digit >= UInt8(ascii: "0"), digit <= UInt8(ascii: "9") else { return nil }
            value = value * 10 + Int(digit - UInt8(ascii: "0"))
        }
        return value
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2: (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    /// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
    private static func days(year: Int64, month: Int64, day: Int64) -> Int64 {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    /// The inverse of `days(year:month:day:)` (`civil_from_days`).
    private static func civil(fromDays count: Int64) -> (Int64, Int64, Int64) {
        let shifted = count + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
