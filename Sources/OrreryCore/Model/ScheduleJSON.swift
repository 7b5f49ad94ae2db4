/// Reading and writing schedules as the API (Appendix A) and the store spell them.
extension Schedule {
    /// The longest interval accepted (ten years), so slot arithmetic never overflows.
    public static let maxIntervalSec: Int64 = 315_576_000

    /// Reads and validates a schedule object; `now` fills in `once.at` when omitted.
    /// Errors name the field (`schedule.expression`) and say why; an invalid schedule is
    /// never returned, so it is never stored.
    public static func parse(_ value: JSONValue, path: String = "schedule", now: Timestamp) throws -> Schedule {
        var r = try FieldReader(value, path: path)
        let type = try r.requiredString("type", maxLength: 20)
        let startAt = try r.timestamp("start_at")
        let endAt = try r.timestamp("end_at")
        let jitter = try r.int("jitter_sec", in: 0...86_400)
        if let startAt, let endAt, endAt <= startAt {
            throw OrreryError(.invalidSchedule, "end_at must be after start_at", field: r.fieldPath("end_at"))
        }
        let kind: Kind
        switch type {
        case "once":
            let at = try r.timestamp("at") ?? startAt ?? now.truncatedToMilliseconds
            if let endAt, at > endAt {
                throw OrreryError(.invalidSchedule, "schedule can never fire: at is after end_at", field: r.fieldPath("at"))
            }
            if let startAt, at < startAt {
                throw OrreryError(.invalidSchedule, "schedule can never fire: at is before start_at", field: r.fieldPath("at"))
            }
            kind = .once(at: at)
        case "interval":
            guard let every = try r.int("every_sec") else {
                throw OrreryError(.missingField, "is required", field: r.fieldPath("every_sec"))
            }
            guard every > 0 else {
                throw OrreryError(.invalidSchedule, "must be a positive number of seconds, not \(every)", field: r.fieldPath("every_sec"))
            }
            guard every <= maxIntervalSec else {
                throw OrreryError(.invalidSchedule, "must be at most \(maxIntervalSec) seconds (ten years)", field: r.fieldPath("every_sec"))
            }
            kind = .interval(everySec: every)
        case "cron":
            let text = try r.requiredString("expression", maxLength: 500)
            let (timezone, zone) = try readZone(&r)
            let dst = try readDST(&r)
            let expression = try at(r.fieldPath("expression")) { try CronExpression.parse(text) }
            let recurrence = try at(r.fieldPath("expression")) { try Recurrence(cron: expression, zone: zone, dst: dst) }
            kind = .cron(expression, timezone: timezone, dst: dst, recurrence: recurrence)
        case "calendar":
            let fields = try CalendarFields(
                minutes: readInts(&r, "minutes"), hours: readInts(&r, "hours"), daysOfMonth: readInts(&r, "days_of_month"),
                months: readInts(&r, "months"), weekdays: readWeekdays(&r))
            let (timezone, zone) = try readZone(&r)
            let dst = try readDST(&r)
            let spec = try at(path) {
                try CalendarSpec(minutes: fields.minutes, hours: fields.hours, daysOfMonth: fields.daysOfMonth,
                                 months: fields.months, weekdays: fields.weekdays)
            }
            let recurrence = try at(path) { try Recurrence(calendar: spec, zone: zone, dst: dst) }
            kind = .calendar(fields, timezone: timezone, dst: dst, recurrence: recurrence)
        case "trigger":
            let event = try r.requiredString("event", maxLength: 200)
            guard !event.isEmpty else { throw OrreryError(.invalidSchedule, "must not be empty", field: r.fieldPath("event")) }
            kind = .trigger(TriggerSpec(
                event: event, resourceID: try r.string("resource_id", maxLength: 500),
                delaySec: try r.int("delay_sec", in: 0...31_536_000) ?? 0,
                priority: try r.int("priority", in: -1_000_000...1_000_000) ?? 0,
                taskID: try readFollowedTask(&r, event: event)))
        default:
            throw OrreryError(.invalidSchedule, "unknown schedule type \"\(type)\" (expected once, interval, cron, calendar or trigger)", field: r.fieldPath("type"))
        }
        try r.rejectUnknownFields()
        let schedule = Schedule(kind, startAt: startAt, endAt: endAt, jitterSec: jitter)
        if schedule.isRecurring, let startAt, schedule.nextFire(after: startAt.adding(microseconds: -1), createdAt: startAt) == nil {
            throw OrreryError(.invalidSchedule, "schedule can never fire between start_at and end_at", field: r.fieldPath("end_at"))
        }
        return schedule
    }

    /// Runs `body`, giving its schedule errors the field `field` when they name none.
    private static func at<T>(_ field: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch var error as OrreryError {
            if error.field == nil { error.field = field }
            error.code = .invalidSchedule
            throw error
        }
    }

    private static func readZone(_ r: inout FieldReader) throws -> (String, ZoneRules) {
        let name = try r.string("timezone", maxLength: 100) ?? "UTC"
        guard let zone = ZoneRules.named(name) else {
            throw OrreryError(.invalidSchedule, "unknown time zone \"\(name)\"", field: r.fieldPath("timezone"))
        }
        return (name, zone)
    }

    private static func readDST(_ r: inout FieldReader) throws -> DSTPolicy {
        guard var d = try r.object("dst") else { return DSTPolicy() }
        var policy = DSTPolicy()
        if let gap = try d.string("gap", maxLength: 10) {
            guard let value = DSTPolicy.Gap(rawValue: gap) else {
                throw OrreryError(.invalidSchedule, "must be shift or skip, not \"\(gap)\"", field: d.fieldPath("gap"))
            }
            policy.gap = value
        }
        if let overlap = try d.string("overlap", maxLength: 10) {
            guard let value = DSTPolicy.Overlap(rawValue: overlap) else {
                throw OrreryError(.invalidSchedule, "must be first, last or both, not \"\(overlap)\"", field: d.fieldPath("overlap"))
            }
            policy.overlap = value
        }
        try d.rejectUnknownFields()
        return policy
    }

    private static func readInts(_ r: inout FieldReader, _ key: String) throws -> [Int] {
        guard let value = r.value(key) else { return [] }
        guard case .array(let items) = value, items.count <= 100 else {
            throw OrreryError(.invalidSchedule, "must be an array of integers (at most 100)", field: r.fieldPath(key))
        }
        return try items.map { item in
            guard case .int(let n) = item else {
                throw OrreryError(.invalidSchedule, "must contain integers, not \(item.typeName)", field: r.fieldPath(key))
            }
            return Int(clamping: n)
        }
    }

    private static func readWeekdays(_ r: inout FieldReader) throws -> [Int] {
        guard let value = r.value("weekdays") else { return [] }
        guard case .array(let items) = value, items.count <= 100 else {
            throw OrreryError(.invalidSchedule, "must be an array of weekday names", field: r.fieldPath("weekdays"))
        }
        return try items.map { item in
            switch item {
            case .string(let name):
                guard let day = CalendarSpec.weekday(named: name) else {
                    throw OrreryError(.invalidSchedule, "unknown weekday \"\(name)\" (expected monday … sunday)", field: r.fieldPath("weekdays"))
                }
                return day
            case .int(let n) where (0...7).contains(n):
                return Int(n % 7)
            default:
                throw OrreryError(.invalidSchedule, "must contain weekday names (monday … sunday) or 0-7", field: r.fieldPath("weekdays"))
            }
        }
    }

    static let weekdayNames = ["sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday"]

    /// The API and storage form (Appendix A).
    public var json: JSONValue {
        var o: [String: JSONValue] = ["type": .string(typeName)]
        switch kind {
        case .once(let at):
            o["at"] = .string(at.rfc3339)
        case .interval(let every):
            o["every_sec"] = .int(every)
        case .cron(let expression, let timezone, let dst, _):
            o["expression"] = .string(expression.source)
            o["timezone"] = .string(timezone)
            if dst != DSTPolicy() { o["dst"] = .object(["gap": .string(dst.gap.rawValue), "overlap": .string(dst.overlap.rawValue)]) }
        case .calendar(let f, let timezone, let dst, _):
            let ints = { (list: [Int]) in JSONValue.array(list.map { .int(Int64($0)) }) }
            o["minutes"] = ints(f.minutes)
            o["hours"] = ints(f.hours)
            o["days_of_month"] = ints(f.daysOfMonth)
            o["months"] = ints(f.months)
            o["weekdays"] = .array(f.weekdays.map { .string(Self.weekdayNames[$0 % 7]) })
            o["timezone"] = .string(timezone)
            if dst != DSTPolicy() { o["dst"] = .object(["gap": .string(dst.gap.rawValue), "overlap": .string(dst.overlap.rawValue)]) }
        case .trigger(let t):
            o["event"] = .string(t.event)
            if let resource = t.resourceID { o["resource_id"] = .string(resource) }
            o["delay_sec"] = .int(t.delaySec)
            o["priority"] = .int(t.priority)
            if let taskID = t.taskID { o["task_id"] = .string(taskID) }
        }
        if let startAt { o["start_at"] = .string(startAt.rfc3339) }
        if let endAt { o["end_at"] = .string(endAt.rfc3339) }
        if let jitterSec { o["jitter_sec"] = .int(jitterSec) }
        return .object(o)
    }
}
