import Glibc

/// HTTP dates (RFC 9110: IMF-fixdate, plus the obsolete RFC 850 and asctime forms) and
/// S3's ISO 8601 timestamps. Formatting goes through `gmtime_r`/`strftime` (C locale);
/// parsing is by hand, since glibc's `strptime` is not visible to Swift.
enum HTTPDate {
    /// `Wed, 21 Oct 2015 07:28:00 GMT`.
    /// Written by hand, not by `strftime` (every GET and HEAD answers one: perf put the
    /// pattern's parsing and the buffers at 0.5 % of a 4 KiB GET load).
    static func format(milliseconds: Int64) -> String {
        var time = time_t(milliseconds / 1000)
        var parts = tm()
        gmtime_r(&time, &parts)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(32)
        bytes.append(contentsOf: dayNames[Int(parts.tm_wday) % 7].utf8)
        bytes.append(contentsOf: ", ".utf8)
        SigV4Timestamp.appendDigits(Int64(parts.tm_mday), 2, to: &bytes)
        bytes.append(UInt8(ascii: " "))
        bytes.append(contentsOf: SigV4Timestamp.monthNames[Int(parts.tm_mon) % 12].utf8)
        bytes.append(UInt8(ascii: " "))
        SigV4Timestamp.appendDigits(Int64(parts.tm_year) + 1900, 4, to: &bytes)
        bytes.append(UInt8(ascii: " "))
        SigV4Timestamp.appendDigits(Int64(parts.tm_hour), 2, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        SigV4Timestamp.appendDigits(Int64(parts.tm_min), 2, to: &bytes)
        bytes.append(UInt8(ascii: ":"))
        SigV4Timestamp.appendDigits(Int64(parts.tm_sec), 2, to: &bytes)
        bytes.append(contentsOf: " GMT".utf8)
        return String(decoding: bytes, as: UTF8.self)
    }

    private static let dayNames = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]

    /// `2015-10-21T07:28:00.000Z`, as S3 writes LastModified in XML: whole seconds, like
    /// the Last-Modified header, so a listing and a HEAD of one object agree.
    static func iso8601(milliseconds: Int64) -> String {
        format(seconds: milliseconds / 1000, pattern: "%Y-%m-%dT%H:%M:%S") + ".000Z"
    }

    private static func format(seconds: Int64, pattern: String) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, pattern, &parts)
        return String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static let months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]

    /// Seconds since 1970, or nil when the text is no date (an unparseable conditional
    /// date is ignored, as HTTP says). Accepts IMF-fixdate (`Sun, 06 Nov 1994 08:49:37
    /// GMT`), RFC 850 (`Sunday, 06-Nov-94 08:49:37 GMT`), asctime (`Sun Nov  6 08:49:37
    /// 1994`) and ISO 8601 (`1994-11-06T08:49:37Z`, `.000Z`).
    static func parse(_ text: String) -> Int64? {
        let tokens = text.split { !$0.isLetter && !$0.isNumber }.map(String.init)
        let numbers = tokens.compactMap { Int($0) }
        if let first = text.first, first.isNumber {
            guard numbers.count >= 6 else { return nil }
            return epoch(year: numbers[0], month: numbers[1], day: numbers[2], hour: numbers[3], minute: numbers[4], second: numbers[5])
        }
        guard let monthToken = tokens.first(where: { months.contains(String($0.lowercased().prefix(3))) && Int($0) == nil }),
              let month = months.firstIndex(of: String(monthToken.lowercased().prefix(3))), numbers.count == 5 else { return nil }
        let asctime = tokens.last.flatMap { Int($0) } != nil
        let (day, year, clock) = asctime ? (numbers[0], numbers[4], Array(numbers[1...3]))
                                         : (numbers[0], numbers[1], Array(numbers[2...4]))
        let fullYear = year < 100 ? (year < 70 ? 2000 + year : 1900 + year) : year
        return epoch(year: fullYear, month: month + 1, day: day, hour: clock[0], minute: clock[1], second: clock[2])
    }

    /// Days from 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
    private static func epoch(year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) -> Int64? {
        // Four-digit years only: HTTP dates have them, and an unbounded year would
        // overflow the arithmetic below (a header must never crash the server).
        guard (1000...9999).contains(year), (1...12).contains(month), (1...31).contains(day), (0...23).contains(hour),
              (0...59).contains(minute), (0...60).contains(second) else { return nil }
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        let days = era * 146_097 + dayOfEra - 719_468
        return Int64(days) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }
}
