import ArgumentParser
import Foundation
import StowageS3

/// `stowage admin`: a running server's own views, over its signed admin API.
struct Admin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask a running server about itself and its buckets (signed admin API).",
        discussion: "Credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, the endpoint from --endpoint or AWS_ENDPOINT_URL.",
        subcommands: [Info.self, Bucket.self, KMS.self, UserCommand.self, KeyCommand.self, PolicyCommand.self])

    struct Connection: ParsableArguments {
        @Option(help: "The server's URL (default: AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, or http://127.0.0.1:9000).")
        var endpoint: String?

        @Option(help: "Region to sign for (default: AWS_REGION, AWS_DEFAULT_REGION or us-east-1).")
        var region: String?

        @Flag(help: "Print the server's JSON as it came.")
        var json = false

        func fetch(_ view: String, method: String = "GET", query: [(String, String?)] = [],
                   body: Data = Data(), expectJSON: Bool = true) async throws -> [String: Any] {
            let environment = ProcessInfo.processInfo.environment
            let url = endpoint ?? environment["AWS_ENDPOINT_URL_S3"] ?? environment["AWS_ENDPOINT_URL"] ?? "http://127.0.0.1:9000"
            let data: Data
            do {
                data = try await makeS3Client(endpoint: url, region: region).admin(view, method: method, query: query, body: body)
            } catch let error as S3ClientError {
                throw AdminError("\(url): \(error)")
            }
            if json { FileHandle.standardOutput.write(data) }
            guard expectJSON else { return [:] }
            guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                throw AdminError("\(url) answered something other than a JSON object")
            }
            return object
        }
    }

    struct Info: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Version, uptime, mode, buckets, objects, bytes, space, compaction and connections.")

        @OptionGroup var connection: Connection

        func run() async throws {
            let info = try await connection.fetch("info")
            guard !connection.json else { return }
            let usage = info["usage"] as? [String: Any] ?? [:]
            let space = info["space"] as? [String: Any] ?? [:]
            let connections = info["connections"] as? [String: Any] ?? [:]
            let capacity = number(space["capacityBytes"]), live = number(space["liveBytes"]), dead = number(space["deadBytes"])
            let ready = (info["ready"] as? Bool) == true ? "ready" : "not ready (\(info["notReadyReason"] ?? "?"))"
            print("""
                version      \(info["version"] ?? "?")
                uptime       \(String(format: "%.0f", number(info["uptimeSeconds"]))) s (since \(info["startedAt"] ?? "?")), \(ready)
                mode         \(info["mode"] ?? "?"), durability \(info["durability"] ?? "?"): \(info["served"] ?? "?")
                buckets      \(Int(number(usage["buckets"])))
                objects      \(Int(number(usage["objects"]))), \(bytes(number(usage["bytes"])))
                uploads      \(Int(number(usage["uploadsInProgress"]))) in progress, \(bytes(number(usage["uploadedPartBytes"]))) in parts
                space        \(Int(number(space["segments"]))) segments, \(bytes(capacity)) capacity: \(bytes(live)) live, \(bytes(dead)) dead, \(bytes(max(0, capacity - live - dead))) free
                index        \(bytes(number(space["indexUsedBytes"]))) used of a \(bytes(number(space["indexMapBytes"]))) map
                compaction   \(Int(number(space["compactionPasses"]))) passes, \(Int(number(space["segmentsRetired"]))) segments retired, \(bytes(number(space["bytesMoved"]))) moved, \(bytes(number(space["bytesReclaimed"]))) reclaimed
                connections  \(Int(number(connections["open"]))) open, \(Int(number(connections["accepted"]))) accepted; \(Int(number(info["requestsInFlight"]))) requests in flight
                """)
        }
    }

    struct Bucket: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "A bucket's views.", subcommands: [Stats.self])

        struct Stats: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Objects, bytes, versions and uploads in progress of one bucket.")

            @Argument(help: "The bucket.")
            var bucket: String

            @OptionGroup var connection: Connection

            func run() async throws {
                let stats = try await connection.fetch("buckets/" + bucket)
                guard !connection.json else { return }
                let usage = stats["usage"] as? [String: Any] ?? [:]
                print("""
                    bucket    \(stats["bucket"] ?? bucket) (created \(stats["created"] ?? "?"))
                    objects   \(Int(number(usage["objects"]))), \(bytes(number(usage["bytes"])))
                    versions  \(Int(number(usage["versions"]))) (\(Int(number(usage["deleteMarkers"]))) delete markers; noncurrent: \(bytes(number(usage["noncurrentBytes"]))))
                    uploads   \(Int(number(usage["uploadsInProgress"]))) in progress: \(Int(number(usage["uploadedParts"]))) parts, \(bytes(number(usage["uploadedPartBytes"])))
                    """)
            }
        }
    }
}

extension Admin {
    /// `stowage admin user create|list|delete`: users of the store (each owns the buckets
    /// it creates and may act on no other).
    struct UserCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "user", abstract: "Users: each owns the buckets it creates.",
            subcommands: [Create.self, List.self, Delete.self])

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Make a user (no keys yet: `stowage admin key create NAME`).")
            @Argument(help: "The user's name: 1 to 64 letters, digits or +=,.@_-.") var name: String
            @OptionGroup var connection: Connection
            func run() async throws {
                _ = try await connection.fetch("users", method: "POST", query: [("name", name)])
                if !connection.json { print("user \(name) created") }
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "The users and their access key ids.")
            @OptionGroup var connection: Connection
            func run() async throws {
                let answer = try await connection.fetch("users")
                guard !connection.json else { return }
                for user in answer["users"] as? [[String: Any]] ?? [] {
                    let keys = (user["accessKeys"] as? [String] ?? []).joined(separator: ",")
                    print("\(user["name"] as? String ?? "?")\t\(user["created"] as? String ?? "")\t\(keys.isEmpty ? "-" : keys)")
                }
            }
        }

        struct Delete: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Delete a user that has no keys and owns no bucket.")
            @Argument(help: "The user's name.") var name: String
            @OptionGroup var connection: Connection
            func run() async throws {
                _ = try await connection.fetch("users/" + name, method: "DELETE", expectJSON: false)
                if !connection.json { print("user \(name) deleted") }
            }
        }
    }

    /// `stowage admin policy attach USER NAME --file F | detach USER NAME | list USER`: a
    /// user's own policies (IAM's language, without Principal), which grant and deny on any
    /// bucket beside the buckets' own policies.
    struct PolicyCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "policy", abstract: "Users' own policies (what a user may do, on any bucket).",
            subcommands: [Attach.self, Detach.self, List.self])

        struct Attach: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Attach (or replace) a named policy of a user.")
            @Argument(help: "The user.") var user: String
            @Argument(help: "The policy's name.") var name: String
            @Option(help: "The policy document (JSON; '-' reads standard input).") var file: String
            @OptionGroup var connection: Connection
            func run() async throws {
                let document = file == "-" ? FileHandle.standardInput.readDataToEndOfFile()
                    : try Data(contentsOf: URL(fileURLWithPath: file))
                _ = try await connection.fetch("users/\(user)/policies/\(name)", method: "PUT", body: document, expectJSON: false)
                if !connection.json { print("policy \(name) attached to \(user)") }
            }
        }

        struct Detach: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Detach a user's policy.")
            @Argument(help: "The user.") var user: String
            @Argument(help: "The policy's name.") var name: String
            @OptionGroup var connection: Connection
            func run() async throws {
                _ = try await connection.fetch("users/\(user)/policies/\(name)", method: "DELETE", expectJSON: false)
                if !connection.json { print("policy \(name) detached from \(user)") }
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "A user's policies, with their documents.")
            @Argument(help: "The user.") var user: String
            @OptionGroup var connection: Connection
            func run() async throws {
                let answer = try await connection.fetch("users/\(user)/policies")
                guard !connection.json else { return }
                for policy in answer["policies"] as? [[String: Any]] ?? [] {
                    print("\(policy["name"] as? String ?? "?")\t\(policy["document"] as? String ?? "")")
                }
            }
        }
    }

    /// `stowage admin key create USER | delete ID`.
    struct KeyCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "key", abstract: "Users' access keys (the secret is shown once, when made).",
            subcommands: [Create.self, Delete.self])

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Make an access key for a user; prints ID and SECRET.")
            @Argument(help: "The user.") var user: String
            @OptionGroup var connection: Connection
            func run() async throws {
                let key = try await connection.fetch("users/\(user)/keys", method: "POST")
                if !connection.json { print("\(key["accessKeyID"] as? String ?? "?") \(key["secretKey"] as? String ?? "?")") }
            }
        }

        struct Delete: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Delete an access key: requests signed with it are refused (within 2 s on every gateway).")
            @Argument(help: "The access key id.") var id: String
            @OptionGroup var connection: Connection
            func run() async throws {
                _ = try await connection.fetch("keys/" + id, method: "DELETE", expectJSON: false)
                if !connection.json { print("access key \(id) deleted") }
            }
        }
    }

    /// `stowage admin kms create|list`: the key store behind SSE-KMS.
    struct KMS: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "kms", abstract: "The SSE-KMS key store: its keys are sealed by the server's master key.",
            subcommands: [Create.self, List.self])

        struct Create: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "Make a key; prints its id (x-amz-server-side-encryption-aws-kms-key-id).")

            @Option(help: "The key's id: 1 to 64 letters, digits, '-' or '_' (default: a new UUID).")
            var id: String?

            @OptionGroup var connection: Connection

            func run() async throws {
                let key = try await connection.fetch("kms-keys", method: "POST", query: id.map { [("id", $0)] } ?? [])
                guard !connection.json else { return }
                print(key["keyID"] as? String ?? "?")
            }
        }

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(abstract: "The keys, the built-in one first.")

            @OptionGroup var connection: Connection

            func run() async throws {
                let answer = try await connection.fetch("kms-keys")
                guard !connection.json else { return }
                for key in answer["keys"] as? [[String: Any]] ?? [] {
                    let builtIn = key["builtIn"] as? Bool ?? false
                    print("\(key["keyID"] as? String ?? "?")\t\(builtIn ? "built in (derived from the master key)" : key["created"] as? String ?? "")")
                }
            }
        }
    }
}

private func number(_ value: Any?) -> Double {
    (value as? NSNumber)?.doubleValue ?? 0
}

/// Bytes, exactly, and in binary units.
private func bytes(_ value: Double) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    var scaled = value, unit = 0
    while scaled >= 1024, unit < units.count - 1 { scaled /= 1024; unit += 1 }
    return unit == 0 ? "\(Int(value)) B" : String(format: "%.1f %@ (%.0f bytes)", scaled, units[unit], value)
}

struct AdminError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
