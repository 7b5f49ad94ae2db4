// libFuzzer entry: cron expressions, schedule JSON and task bodies — the text every request
// brings — must parse or be refused with an OrreryError; never crash, hang or trap.
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    let text = String(decoding: bytes, as: UTF8.self)
    let now = Timestamp(microseconds: 1_764_547_200_000_000)  // fixed: runs are reproducible
    FuzzTargets.run(target: ProcessInfo.processInfo.environment["ORRERY_FUZZ_TARGET"] ?? "all", bytes: bytes, text: text, now: now)
    return 0
}
