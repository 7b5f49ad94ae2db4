import OrreryCore
import Testing

@Suite("Task input validation", .timeLimit(.minutes(5)))
struct TaskInputTests {
    let now = Timestamp(rfc3339: "2026-03-01T12:00:00Z")!
    let modules: [String: ModuleDescriptor] = [
        "noop": ModuleDescriptor(name: "noop", description: ["en-US": "x"]),
        "shell": ModuleDescriptor(name: "shell", description: ["en-US": "x"], params: [
            ParamSpec(name: "command", type: .stringArray, required: true), ParamSpec(name: "cwd", type: .string),
        ]),
    ]

    func create(_ json: String) throws -> ScheduledTask {
        try TaskInput.create(try JSONValue.parse(Array(json.utf8)), id: "T1", now: now, project: "default", owner: "me", modules: modules)
    }

    @Test func createsWithDefaults() throws {
        let task = try create(#"{"name":"n","module":"shell","params":{"command":["echo"]},"schedule":{"type":"interval","every_sec":5},"labels":{"configuration_id":"7"}}"#)
        #expect(task.id == "T1" && task.owner == "me" && task.enabled && task.queue == "default")
        #expect(task.labels == ["configuration_id": "7"])
        #expect(task.retry.maxAttempts == 1 && task.overlap == .skip && task.misfire.policy == .runOnce)
        #expect(task.version == 1)
    }

    @Test("bad bodies name the field", arguments: [
        (#"{"module":"noop","schedule":{"type":"once"}}"#, "name", OrreryError.Code.missingField),
        (#"{"name":"n","schedule":{"type":"once"}}"#, "module", .missingField),
        (#"{"name":"n","module":"noop"}"#, "schedule", .missingField),
        (#"{"name":"n","module":"nope","schedule":{"type":"once"}}"#, "module", .unknownModule),
        (#"{"name":"  ","module":"noop","schedule":{"type":"once"}}"#, "name", .invalidField),
        (#"{"name":"n","module":"shell","schedule":{"type":"once"}}"#, "params.command", .invalidParams),
        (#"{"name":"n","module":"shell","params":{"command":[1]},"schedule":{"type":"once"}}"#, "params.command", .invalidParams),
        (#"{"name":"n","module":"shell","params":{"command":["x"],"shell":true},"schedule":{"type":"once"}}"#, "params.shell", .invalidParams),
        (#"{"name":"n","module":"noop","params":[],"schedule":{"type":"once"}}"#, "params", .invalidParams),
        (#"{"name":"n","module":"noop","schedule":{"type":"once"},"priority":"high"}"#, "priority", .invalidField),
        (#"{"name":"n","module":"noop","schedule":{"type":"once"},"timeout_sec":0}"#, "timeout_sec", .invalidField),
        (#"{"name":"n","module":"noop","schedule":{"type":"once"},"retry":{"max_attempts":0}}"#, "retry.max_attempts", .invalidField),
        (#"{"name":"n","module":"noop","schedule":{"type":"once"},"overlap":"sometimes"}"#, "overlap", .invalidField),
        (#"{"name":"n","module":"noop","schedule":{"type":"once"},"misfire":{"policy":"later"}}"#, "misfire.policy", .invalidField),
        (#"{"name":"n","module":"noop","schedule":{"type":"once"},"labels":{"a":1}}"#, "labels.a", .invalidField),
        (#"{"name":"n","module":"noop","schedule":{"type":"once"},"colour":"red"}"#, "colour", .unknownField),
    ])
    func refuses(json: String, field: String, code: OrreryError.Code) {
        do {
            _ = try create(json)
            Issue.record("\(json) should be refused")
        } catch let error as OrreryError {
            #expect(error.field == field, "\(error)")
            #expect(error.code == code, "\(error)")
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test("a patch changes only what it names and bumps the version")
    func patch() throws {
        let task = try create(#"{"name":"n","module":"noop","schedule":{"type":"interval","every_sec":5}}"#)
        let later = now.adding(seconds: 10)
        let updated = try TaskInput.update(task, with: try JSONValue.parse(Array(#"{"priority":5}"#.utf8)), now: later, modules: modules)
        #expect(updated.priority == 5 && updated.name == "n" && updated.version == 2 && updated.updatedAt == later)
        let same = try TaskInput.update(task, with: .object([:]), now: later, modules: modules)
        #expect(same == task, "an empty patch changes nothing")
    }

    @Test("retry backoff doubles from the base up to the cap, with at most 10% jitter")
    func backoff() {
        let p = RetryPolicy(maxAttempts: 10, backoffBaseSec: 2, backoffMaxSec: 30)
        let seconds = (1...6).map { Double(p.backoff(afterAttempt: $0, jitterUnit: 0).microseconds) / 1e6 }
        #expect(seconds == [2, 4, 8, 16, 30, 30])
        #expect(p.backoff(afterAttempt: 1, jitterUnit: 0.999).microseconds <= 2_200_000)
    }

    @Test("a task built from Swift values gets the same defaults and the same checks as the JSON body")
    func typedInput() throws {
        struct ShellParams: Encodable { var command: [String] }
        var input = TaskInput(name: "n", module: "shell", schedule: .every(seconds: 5), labels: ["configuration_id": "7"])
        input.params = try JSONValue(encoding: ShellParams(command: ["echo"]))
        let typed = try input.task(id: "T1", now: now, project: "default", owner: "me", modules: modules)
        let decoded = try create(#"{"name":"n","module":"shell","params":{"command":["echo"]},"schedule":{"type":"interval","every_sec":5},"labels":{"configuration_id":"7"}}"#)
        #expect(typed == decoded)
        #expect(try TaskInput(json: try JSONValue.parse(Array(#"{"name":"n","module":"noop","schedule":{"type":"once"},"project":"p"}"#.utf8)), now: now, modules: modules).project == "p")

        func field(_ change: (inout TaskInput) throws -> Void) -> (String?, OrreryError.Code?) {
            var bad = TaskInput(name: "n", module: "noop", schedule: .once(at: now))
            do {
                try change(&bad)
                _ = try bad.task(id: "T2", now: now, project: "default", owner: nil, modules: modules)
                return (nil, nil)
            } catch let error as OrreryError {
                return (error.field, error.code)
            } catch {
                return ("?", nil)
            }
        }
        #expect(field { $0.name = " " } == ("name", .invalidField))
        #expect(field { $0.name = String(repeating: "x", count: 201) } == ("name", .invalidField))
        #expect(field { $0.module = "nope" } == ("module", .unknownModule))
        #expect(field { $0.module = "shell" }.0 == "params.command", "the module's params are checked")
        #expect(field { $0.queue = "" } == ("queue", .invalidField))
        #expect(field { $0.priority = 2_000_000 } == ("priority", .invalidField))
        #expect(field { $0.timeoutSec = 0 } == ("timeout_sec", .invalidField))
        #expect(field { $0.schedule = try .cron("0 3 * * *", timezone: "Europe/Berlin") } == (nil, nil))
        #expect(field { $0.schedule = try .cron("61 * * * *") } == ("schedule.expression", .invalidSchedule))
    }
}
