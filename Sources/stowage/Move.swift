import ArgumentParser
import Foundation
import StowageS3

/// `stowage mv s3://BUCKET/FROM/ s3://BUCKET/TO/`: a prefix move, atomic on Stowage,
/// resumable RenameObject batches elsewhere.
struct Move: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mv",
        abstract: "Move every object under one prefix of a bucket to another prefix of the same bucket.",
        discussion: """
            Against Stowage this is one request (POST /BUCKET?renamePrefix) and one index transaction: \
            every object moves, or none does. Against another S3 endpoint that has RenameObject (its answer \
            to that request is 501 or 405), or with --client-side, objects move by single RenameObject calls, \
            --batch-size at a time, each with its own client token. A journal file records the plan and every \
            finished rename: after a crash, running the same command again continues where it stopped, and a \
            rename retried with its token is answered as done, never done twice.

            Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN).
            """)

    @Argument(help: "Source: s3://BUCKET/PREFIX (a byte prefix: end it with / to move a 'directory').")
    var source: String

    @Argument(help: "Destination: s3://BUCKET/PREFIX, in the same bucket.")
    var destination: String

    @Option(help: "S3 endpoint URL (default: AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL).")
    var endpoint: String?

    @Option(help: "Region to sign for (default: AWS_REGION, AWS_DEFAULT_REGION or us-east-1).")
    var region: String?

    @Flag(help: "Replace destination objects that exist (by default the move is refused if any exists).")
    var overwrite = false

    @Option(help: "Refuse the move unless the source prefix holds exactly this many objects.")
    var expectedCount: Int?

    @Flag(help: "Do not use the atomic endpoint: move with single RenameObject calls.")
    var clientSide = false

    @Option(help: "Journal of a client-side move (default: .stowage-mv-<hash>.journal in the current directory).")
    var journal: String?

    @Option(help: "RenameObject calls in flight at once in a client-side move.")
    var batchSize = 16

    func validate() throws {
        guard batchSize >= 1 else { throw ValidationError("--batch-size must be at least 1") }
        if let expectedCount, expectedCount < 0 { throw ValidationError("--expected-count must not be negative") }
    }

    func run() async throws {
        let from = try S3URL(source), to = try S3URL(destination)
        guard from.bucket == to.bucket else {
            throw ValidationError("source and destination must be in the same bucket (RenameObject does not cross buckets)")
        }
        guard !from.prefix.isEmpty, !to.prefix.isEmpty else {
            throw ValidationError("both URLs need a prefix after the bucket: s3://BUCKET/PREFIX")
        }
        guard !from.prefix.utf8.starts(with: to.prefix.utf8), !to.prefix.utf8.starts(with: from.prefix.utf8) else {
            throw ValidationError("the source and destination prefixes overlap (one starts with the other)")
        }
        let client = try makeClient()
        let journalPath = journal ?? Self.defaultJournalPath(client.endpoint.absoluteString, from.bucket, from.prefix, to.prefix)
        if !clientSide && !FileManager.default.fileExists(atPath: journalPath) {
            do {
                let result = try await client.renamePrefix(bucket: from.bucket, PrefixRenameBody(
                    sourcePrefix: from.prefix, destinationPrefix: to.prefix, overwrite: overwrite, expectedCount: expectedCount))
                print("moved \(result.moved) objects from \(source) to \(destination) in one transaction"
                      + (result.replaced > 0 ? " (\(result.replaced) replaced)" : ""))
                return
            } catch let error as S3ClientError where Self.lacksPrefixRename(error) {
                Terminal.note("the endpoint has no atomic prefix rename (\(error.status) \(error.code)): moving with RenameObject calls")
            }
        }
        let move = ClientSideMove(client: client, bucket: from.bucket, sourcePrefix: from.prefix, destinationPrefix: to.prefix,
                                  overwrite: overwrite, expectedCount: expectedCount, journalPath: journalPath, batchSize: batchSize)
        let (moved, calls) = try await move.run()
        print("moved \(moved) objects from \(source) to \(destination) by RenameObject (\(calls) calls in this run)")
    }

    /// What a server without `?renamePrefix` answers: Stowage's own 501 for an unknown
    /// sub-resource, or 405 where POST on a bucket means something else.
    static func lacksPrefixRename(_ error: S3ClientError) -> Bool {
        error.status == 501 || error.status == 405 || error.code == "NotImplemented" || error.code == "MethodNotAllowed"
    }

    private func makeClient() throws -> S3Client {
        try makeS3Client(endpoint: endpoint, region: region)
    }

    /// One journal per (endpoint, bucket, source, destination), so running the same command
    /// again finds it.
    static func defaultJournalPath(_ endpoint: String, _ bucket: String, _ from: String, _ to: String) -> String {
        let hash = SigV4Signer.sha256Hex(Array([endpoint, bucket, from, to].joined(separator: "\n").utf8)).prefix(16)
        return ".stowage-mv-\(hash).journal"
    }
}

/// A client of the endpoint (`--endpoint`, else AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL),
/// signing with AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN).
func makeS3Client(endpoint: String?, region: String?) throws -> S3Client {
    let environment = ProcessInfo.processInfo.environment
    guard let text = endpoint ?? environment["AWS_ENDPOINT_URL_S3"] ?? environment["AWS_ENDPOINT_URL"],
          let url = URL(string: text), url.scheme != nil, url.host != nil else {
        throw ValidationError("an endpoint URL is needed: --endpoint http://HOST:PORT (or AWS_ENDPOINT_URL)")
    }
    guard let accessKey = environment["AWS_ACCESS_KEY_ID"], let secretKey = environment["AWS_SECRET_ACCESS_KEY"] else {
        throw ValidationError("set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
    }
    let region = region ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1"
    return S3Client(endpoint: url, signer: SigV4Signer(accessKey: accessKey, secretKey: secretKey, region: region),
                    sessionToken: environment["AWS_SESSION_TOKEN"])
}

/// `s3://BUCKET/PREFIX`.
struct S3URL {
    let bucket: String
    let prefix: String

    init(_ text: String) throws {
        guard text.hasPrefix("s3://") else { throw ValidationError("'\(text)' is not an s3://BUCKET/PREFIX URL") }
        let rest = text.dropFirst("s3://".count)
        let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard let bucket = parts.first, !bucket.isEmpty else { throw ValidationError("'\(text)' names no bucket") }
        self.bucket = String(bucket)
        prefix = parts.count > 1 ? String(parts[1]) : ""
    }
}

/// A failed move, said plainly (ArgumentParser prints it and exits 1).
struct MoveError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

// MARK: - Client-side move

/// The fallback: plan once (list the source, check the destination), write the plan to the
/// journal, then rename in batches, journaling each batch's finished renames before the next.
struct ClientSideMove {
    let client: S3Client
    let bucket: String
    let sourcePrefix: String
    let destinationPrefix: String
    let overwrite: Bool
    let expectedCount: Int?
    let journalPath: String
    let batchSize: Int

    /// Attempts of one rename on a transport error or a 5xx (same token each time), with
    /// the wait doubling from 200 ms.
    static let attempts = 5

    /// Returns (objects moved in all, RenameObject calls that succeeded in this run).
    func run() async throws -> (Int, Int) {
        let header = MoveJournal.Header(endpoint: client.endpoint.absoluteString, bucket: bucket,
                                        source: sourcePrefix, destination: destinationPrefix, overwrite: overwrite)
        var journal: MoveJournal
        if let existing = try MoveJournal.open(journalPath) {
            guard existing.header == header else {
                throw MoveError("the journal \(journalPath) belongs to another move (\(existing.header.summary)): finish that move, or remove the file")
            }
            journal = existing
            Terminal.note("resuming from \(journalPath): \(journal.done.count) of \(journal.entries.count) already moved")
        } else {
            journal = try MoveJournal.create(journalPath, header: header, entries: try await plan())
        }
        let total = journal.entries.count
        var progress = ProgressLine(total: total)
        progress.show(journal.done.count)
        let pending = journal.entries.indices.filter { !journal.done.contains($0) }
        var calls = 0
        for start in stride(from: 0, to: pending.count, by: batchSize) {
            let batch = Array(pending[start..<min(start + batchSize, pending.count)])
            let entries = journal.entries
            let results = await withTaskGroup(of: (Int, (any Error)?).self) { group in
                for index in batch {
                    group.addTask {
                        do { try await rename(entries[index]); return (index, nil) } catch { return (index, error) }
                    }
                }
                return await group.reduce(into: [(Int, (any Error)?)]()) { $0.append($1) }
            }
            let finished = results.filter { $0.1 == nil }.map(\.0)
            try journal.markDone(finished)
            calls += finished.count
            progress.show(journal.done.count)
            if case let (index, error?)? = results.first(where: { $0.1 != nil }) {
                throw MoveError("renaming '\(entries[index].source)' failed: \(error). \(journal.done.count) of \(total) objects are moved; "
                                + "run the same command again to continue (journal: \(journalPath))")
            }
        }
        try journal.remove()
        return (total, calls)
    }

    /// The renames to make: every object under the source prefix now. Refused before
    /// anything moves when the count is not the expected one, a destination key would be
    /// too long, or (without --overwrite) a destination exists.
    private func plan() async throws -> [MoveJournal.Entry] {
        let sources = try await client.listObjects(bucket: bucket, prefix: sourcePrefix)
        guard !sources.isEmpty else { throw MoveError("no object under s3://\(bucket)/\(sourcePrefix)") }
        if let expectedCount, expectedCount != sources.count {
            throw MoveError("expected \(expectedCount) objects under s3://\(bucket)/\(sourcePrefix), found \(sources.count); nothing moved")
        }
        let entries = try sources.enumerated().map { index, object in
            let rest = Array(object.key.utf8).dropFirst(sourcePrefix.utf8.count)
            let destination = String(decoding: Array(destinationPrefix.utf8) + rest, as: UTF8.self)
            guard destination.utf8.count <= 1024 else {
                throw MoveError("moving '\(object.key)' would make a key longer than 1024 bytes; nothing moved")
            }
            return MoveJournal.Entry(plan: index, source: object.key, destination: destination, etag: object.etag,
                                     token: UUID().uuidString)
        }
        if !overwrite {
            let existing = Set(try await client.listObjects(bucket: bucket, prefix: destinationPrefix).map(\.key))
            let taken = entries.filter { existing.contains($0.destination) }
            if let first = taken.first {
                throw MoveError("s3://\(bucket)/\(first.destination) exists (\(taken.count) destination objects in all); "
                                + "use --overwrite to replace them; nothing moved")
            }
        }
        return entries
    }

    /// One RenameObject with the entry's token; retried on transport errors and 5xx. A
    /// source that is gone counts as moved when the destination holds the planned object
    /// (an earlier run's rename whose token the server has since forgotten).
    private func rename(_ entry: MoveJournal.Entry) async throws {
        var attempt = 1
        while true {
            do {
                try await client.renameObject(bucket: bucket, source: entry.source, destination: entry.destination,
                                              clientToken: entry.token, destinationMustNotExist: !overwrite)
                return
            } catch let error as S3ClientError where error.status == 404 && error.code == "NoSuchKey" {
                if try await client.headObject(bucket: bucket, key: entry.destination) == entry.etag { return }
                throw error
            } catch let error as S3ClientError where error.status < 500 || error.status == 501 || attempt == Self.attempts {
                throw error
            } catch where attempt < Self.attempts {
                try await Task.sleep(for: .milliseconds(100 << attempt))
                attempt += 1
            }
        }
    }
}

// MARK: - Journal

/// The journal of a client-side move, one JSON object per line:
///
/// ```
/// {"journal":"stowage-mv","version":1,"endpoint":"http://…","bucket":"b","source":"from/","destination":"to/","overwrite":false}
/// {"plan":0,"source":"from/a","destination":"to/a","etag":"…","token":"…"}      one per object
/// {"planned":N}                                                                 the plan is complete
/// {"done":0}                                                                    appended as renames finish
/// ```
///
/// The header, plan and `planned` line are written to a temporary file, synced and renamed
/// into place, so a journal always holds a whole plan; `done` lines are appended and synced
/// after each batch. A torn last line (a crash mid-append) is ignored: that rename is simply
/// retried, and its token makes the retry a no-op. The file is removed when the move ends.
struct MoveJournal {
    struct Header: Equatable {
        var endpoint: String
        var bucket: String
        var source: String
        var destination: String
        var overwrite: Bool

        var summary: String { "s3://\(bucket)/\(source) → s3://\(bucket)/\(destination) on \(endpoint)" }
    }

    struct Entry: Sendable {
        var plan: Int
        var source: String
        var destination: String
        /// The source's ETag when planned, without quotes.
        var etag: String
        var token: String
    }

    /// Every kind of line; each sets its own fields (nil fields are not written).
    private struct Line: Codable {
        var journal: String?
        var version: Int?
        var endpoint: String?
        var bucket: String?
        var source: String?
        var destination: String?
        var overwrite: Bool?
        var plan: Int?
        var etag: String?
        var token: String?
        var planned: Int?
        var done: Int?
    }

    static let magic = "stowage-mv"
    static let version = 1

    let path: String
    let header: Header
    let entries: [Entry]
    private(set) var done: Set<Int>

    private init(path: String, header: Header, entries: [Entry], done: Set<Int>) {
        self.path = path
        self.header = header
        self.entries = entries
        self.done = done
    }

    /// Writes a new journal holding the whole plan.
    static func create(_ path: String, header: Header, entries: [Entry]) throws -> MoveJournal {
        var lines = [Line(journal: magic, version: version, endpoint: header.endpoint, bucket: header.bucket,
                          source: header.source, destination: header.destination, overwrite: header.overwrite)]
        lines += entries.map { Line(source: $0.source, destination: $0.destination, plan: $0.plan, etag: $0.etag, token: $0.token) }
        lines.append(Line(planned: entries.count))
        let temporary = path + ".tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: try encode(lines)),
              let handle = FileHandle(forWritingAtPath: temporary) else {
            throw MoveError("cannot write the journal \(temporary)")
        }
        try handle.synchronize()
        try handle.close()
        guard rename(temporary, path) == 0 else { throw MoveError("cannot rename \(temporary) to \(path): errno \(errno)") }
        // The plan must be on disk before the first rename: a rerun after a crash would
        // otherwise plan again from a half-moved prefix.
        let directory = (path as NSString).deletingLastPathComponent
        let descriptor = Foundation.open(directory.isEmpty ? "." : directory, O_RDONLY)
        if descriptor >= 0 {
            fsync(descriptor)
            close(descriptor)
        }
        return MoveJournal(path: path, header: header, entries: entries, done: [])
    }

    /// The journal at `path`, or nil when there is none.
    static func open(_ path: String) throws -> MoveJournal? {
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        func corrupt(_ why: String) -> MoveError { MoveError("the journal \(path) is damaged (\(why)); remove it to start over") }
        let rawLines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true)
        let decoder = JSONDecoder()
        guard let first = rawLines.first, let top = try? decoder.decode(Line.self, from: Data(first)),
              top.journal == magic, top.version == version,
              let endpoint = top.endpoint, let bucket = top.bucket, let source = top.source,
              let destination = top.destination, let overwrite = top.overwrite else {
            throw corrupt("no stowage-mv version \(version) header")
        }
        var entries: [Entry] = []
        var planned: Int?
        var done = Set<Int>()
        for (number, raw) in rawLines.enumerated().dropFirst() {
            guard let line = try? decoder.decode(Line.self, from: Data(raw)) else {
                guard planned != nil, number == rawLines.count - 1 else { throw corrupt("line \(number + 1)") }
                continue   // a torn last append
            }
            if let index = line.plan, planned == nil, index == entries.count,
               let source = line.source, let destination = line.destination, let etag = line.etag, let token = line.token {
                entries.append(Entry(plan: index, source: source, destination: destination, etag: etag, token: token))
            } else if let count = line.planned, planned == nil, count == entries.count {
                planned = count
            } else if let index = line.done, planned != nil, entries.indices.contains(index) {
                done.insert(index)
            } else {
                throw corrupt("line \(number + 1)")
            }
        }
        guard planned != nil else { throw corrupt("the plan is incomplete") }
        return MoveJournal(path: path,
                           header: Header(endpoint: endpoint, bucket: bucket, source: source, destination: destination, overwrite: overwrite),
                           entries: entries, done: done)
    }

    /// Appends a `done` line per index and syncs the file before returning.
    mutating func markDone(_ indices: [Int]) throws {
        guard !indices.isEmpty else { return }
        guard let handle = FileHandle(forUpdatingAtPath: path) else { throw MoveError("cannot open the journal \(path)") }
        defer { try? handle.close() }
        let end = try handle.seekToEnd()
        var bytes = Data()
        if end > 0 {
            // After a torn append the file does not end in a newline: start a fresh line.
            try handle.seek(toOffset: end - 1)
            if handle.readData(ofLength: 1) != Data("\n".utf8) { bytes.append(UInt8(ascii: "\n")) }
        }
        bytes.append(try Self.encode(indices.map { Line(done: $0) }))
        try handle.write(contentsOf: bytes)
        try handle.synchronize()
        done.formUnion(indices)
    }

    func remove() throws {
        try FileManager.default.removeItem(atPath: path)
    }

    private static func encode(_ lines: [Line]) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data()
        for line in lines {
            data.append(try encoder.encode(line))
            data.append(UInt8(ascii: "\n"))
        }
        return data
    }
}

// MARK: - Terminal

enum Terminal {
    /// A line on standard error.
    static func note(_ text: String) {
        FileHandle.standardError.write(Data("stowage mv: \(text)\n".utf8))
    }
}

/// "N/M objects moved (P%)" on standard error: redrawn in place on a terminal, otherwise
/// one line per tenth of the way.
struct ProgressLine {
    let total: Int
    private let interactive = isatty(STDERR_FILENO) != 0
    private var lastTenth = -1

    init(total: Int) { self.total = total }

    mutating func show(_ done: Int) {
        let percent = total == 0 ? 100 : done * 100 / total
        let text = "\(done)/\(total) objects moved (\(percent)%)"
        if interactive {
            FileHandle.standardError.write(Data("\r\(text)\(done == total ? "\n" : "")".utf8))
        } else if percent / 10 != lastTenth {
            lastTenth = percent / 10
            FileHandle.standardError.write(Data("\(text)\n".utf8))
        }
    }
}
