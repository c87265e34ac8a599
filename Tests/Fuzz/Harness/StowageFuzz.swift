// The libFuzzer harness: `make fuzz` builds this with `-sanitize=fuzzer` and runs it once
// per target, choosing the target with STOWAGE_FUZZ_TARGET. SwiftPM names an executable's
// entry point itself, so instead of libFuzzer's `main` this hands the command line to
// libFuzzer's driver (`LLVMFuzzerRunDriver`). The targets live in StowageS3
// (`FuzzTargets`), where the corpus replay in the tests reaches them too.
import Foundation
import StowageS3

@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(_ argc: UnsafeMutablePointer<Int32>,
                     _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
                     _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32) -> Int32

nonisolated(unsafe) var target = ""

/// libFuzzer's runtime references this symbol; the driver is handed it too.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ count: Int) -> Int32 {
    FuzzTargets.run(target, UnsafeRawBufferPointer(start: data, count: count))
    return 0
}

@main
struct StowageFuzz {
    static func main() {
        let name = ProcessInfo.processInfo.environment["STOWAGE_FUZZ_TARGET"] ?? ""
        guard FuzzTargets.names.contains(name) else {
            FileHandle.standardError.write(Data("set STOWAGE_FUZZ_TARGET to one of \(FuzzTargets.names)\n".utf8))
            exit(2)
        }
        target = name
        var argc = CommandLine.argc
        var argv = CommandLine.unsafeArgv
        exit(runFuzzerDriver(&argc, &argv, fuzzOne))
    }
}
