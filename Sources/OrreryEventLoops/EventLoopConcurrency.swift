import COrreryExecutorHook
import NIOCore
public import NIOPosix

/// Keeps Swift concurrency's jobs on the NIO event loop they were enqueued from (the loops
/// Hummingbird and PostgresNIO use); every other job goes to the concurrency pool as before.
///
/// A request then runs its handler on its connection's own thread: its task is resumed by the
/// connection's loop, and stays there. Without it, each request hops from the loop to a pool
/// thread and back, and on a 2-core machine those thread switches cost more than the handler
/// (issue 16: GET /v1/tasks/{id} went from 6,700-10,000 to 12,200 req/s, /v1/runs/{id} from
/// 6,700-10,600 to 14,500, wrk -t2 -c32; sending every job to the loops gave 13,700-17,400).
///
/// Work that starts on the pool stays there: the engine's timed waits wake on Dispatch timers,
/// and a woken run starts at once on that thread. Sending every job to the loops (what NIO's
/// own takeover does) moved those starts behind the loops' other work: firing lateness p50
/// went from 0.08-0.09 ms to 0.12-0.15 ms in `OrreryBenchmark`.
public enum EventLoopConcurrency {
    /// Installs the hook for the rest of the process. Call it first in `main`, before any task
    /// runs; a second call, or a hook another library installed, leaves things as they are
    /// and returns false.
    @discardableResult
    public static func install() -> Bool {
        orrery_install_global_job_hook { job in
            guard let loop = MultiThreadedEventLoopGroup.currentEventLoop else { return 0 }
            loop.enqueue(ExecutorJob(unsafeBitCast(job, to: UnownedJob.self)))
            return 1
        } == 1
    }

    /// Whether the hook is installed now (the runtime's hook is the one `install()` set).
    public static var isInstalled: Bool { orrery_global_job_hook_installed() == 1 }
}
