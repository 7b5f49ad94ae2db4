import COrreryExecutorHook
import NIOCore
public import NIOPosix

/// Runs Swift concurrency's jobs on NIO's shared event loops (`MultiThreadedEventLoopGroup.singleton`,
/// the loops Hummingbird and PostgresNIO use) instead of the concurrency pool's threads.
///
/// A request then runs its handler on its connection's own thread: without it, each request
/// hops from the event loop to a pool thread and back, and on a 2-core machine those thread
/// switches cost more than the handler (issue 16: GET by id went from 8,300 to 11,200 req/s).
/// A job enqueued from a loop's thread stays on that loop (`any()` is sticky); from any other
/// thread it goes to the next loop in turn.
public enum EventLoopConcurrency {
    /// Installs the loops as the global executor for the rest of the process. Call it first in
    /// `main`, before any task runs; a second call, or a hook another library installed, leaves
    /// things as they are and returns false.
    @discardableResult
    public static func install() -> Bool {
        orrery_install_global_job_hook { job in
            MultiThreadedEventLoopGroup.singleton.any().enqueue(ExecutorJob(unsafeBitCast(job, to: UnownedJob.self)))
        } == 1
    }

    /// Whether tasks run on the event loops now (the runtime's hook is the one `install()` set).
    public static var isInstalled: Bool { orrery_global_job_hook_installed() == 1 }
}
