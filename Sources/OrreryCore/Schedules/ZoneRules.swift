import Foundation
import Synchronization

/// A time zone's UTC offsets as a table of transitions, built once per zone from the tz
/// database (through Foundation) and then read without Foundation: `offset(at:)` is a
/// binary search, cheap enough for a million next-fire computations a second.
public struct ZoneRules: Sendable, Hashable {
    final class Table: Sendable {
        let identifier: String
        /// Instants (UTC seconds) at which the offset changes, ascending.
        let times: [Int64]
        /// `offsets[i]` holds from `times[i - 1]` (or forever before) until `times[i]`;
        /// `offsets.count == times.count + 1`.
        let offsets: [Int]
        let minOffset: Int
        let maxOffset: Int

        init(identifier: String, times: [Int64], offsets: [Int]) {
            self.identifier = identifier
            self.times = times
            self.offsets = offsets
            self.minOffset = offsets.min() ?? 0
            self.maxOffset = offsets.max() ?? 0
        }
    }

    let table: Table

    public var identifier: String { table.identifier }

    public static func == (lhs: ZoneRules, rhs: ZoneRules) -> Bool { lhs.table.identifier == rhs.table.identifier }
    public func hash(into hasher: inout Hasher) { hasher.combine(table.identifier) }

    private static let cache = Mutex<[String: Table]>([:])
    /// The span the table covers; outside it the nearest known offset holds.
    static let firstYear: Int64 = 1900, lastYear: Int64 = 2200

    /// The rules of an IANA zone, or nil when the tz database does not know it.
    public static func named(_ identifier: String) -> ZoneRules? {
        if let table = cache.withLock({ $0[identifier] }) { return ZoneRules(table: table) }
        let table: Table
        if ["UTC", "Etc/UTC", "GMT", "Etc/GMT", "Z"].contains(identifier) {
            table = Table(identifier: identifier, times: [], offsets: [0])
        } else {
            guard !identifier.isEmpty, identifier.count <= 100, let zone = TimeZone(identifier: identifier),
                  identifier.contains("/") || zone.identifier == identifier
            else { return nil }
            table = build(identifier: identifier, zone: zone)
        }
        cache.withLock { $0[identifier] = table }
        return ZoneRules(table: table)
    }

    /// Samples the zone's offset every 12 hours and finds each change to the second by
    /// bisection: this catches DST and changes of standard offset alike (Pacific/Apia
    /// skipping 2011-12-30), which `nextDaylightSavingTimeTransition` alone would miss.
    private static func build(identifier: String, zone: TimeZone) -> Table {
        func offset(_ t: Int64) -> Int { zone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(t))) }
        let start = CivilDate.days(year: firstYear, month: 1, day: 1) * 86_400
        let end = CivilDate.days(year: lastYear, month: 1, day: 1) * 86_400
        let step: Int64 = 43_200
        var times: [Int64] = []
        var offsets = [offset(start)]
        var t = start
        var current = offsets[0]
        while t < end {
            let next = t + step
            let o = offset(next)
            if o != current {
                var lo = t, hi = next  // offset(lo) == current, offset(hi) == o
                while hi - lo > 1 {
                    let mid = (lo + hi) / 2
                    if offset(mid) == current { lo = mid } else { hi = mid }
                }
                times.append(hi)
                offsets.append(o)
                current = o
            }
            t = next
        }
        return Table(identifier: identifier, times: times, offsets: offsets)
    }

    /// The UTC offset in seconds at an instant.
    public func offset(at instant: Timestamp) -> Int {
        offset(atSecond: instant.microseconds.floorDivided(by: 1_000_000).quotient)
    }

    func offset(atSecond t: Int64) -> Int {
        offsets[index(atSecond: t)]
    }

    /// The index into `offsets` for the interval containing `t`.
    func index(atSecond t: Int64) -> Int {
        let times = table.times
        var lo = 0, hi = times.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if times[mid] <= t { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    var offsets: [Int] { table.offsets }
    var times: [Int64] { table.times }

    /// The UTC instants (seconds) whose local reading is `local`: none in a gap, one, or two
    /// in a fall-back overlap (earliest first). For a gap, also the instant the gap ends.
    func instants(ofLocal local: Int64) -> (instants: [Int64], gapEnd: Int64?) {
        let times = table.times
        if times.isEmpty { return ([local - Int64(table.offsets[0])], nil) }
        let guess = index(atSecond: local - Int64(table.offsets[index(atSecond: local)]))
        var found: [Int64] = []
        for i in max(0, guess - 1)...min(times.count, guess + 1) {
            let t = local - Int64(table.offsets[i])
            if index(atSecond: t) == i, !found.contains(t) { found.append(t) }
        }
        if !found.isEmpty { return (found.sorted(), nil) }
        // A gap: the transition whose earlier offset puts `local` after it and whose later
        // offset puts it before; the gap ends at that transition.
        for i in max(1, guess - 1)...min(times.count, guess + 1) {
            let before = local - Int64(table.offsets[i - 1]), after = local - Int64(table.offsets[i])
            if before >= times[i - 1] && after < times[i - 1] { return ([], times[i - 1]) }
        }
        return ([], nil)
    }

    /// The largest offset in force within a day of `t` and until the next two changes.
    func maxOffset(near t: Int64) -> Int {
        let i = index(atSecond: t - 86_400)
        return table.offsets[i...min(table.offsets.count - 1, i + 3)].max() ?? 0
    }

    /// The smallest offset in force from `t` until the change after next.
    func minOffset(near t: Int64) -> Int {
        let i = index(atSecond: t)
        return table.offsets[i...min(table.offsets.count - 1, i + 2)].min() ?? 0
    }
}
