public import Hummingbird
public import HummingbirdCore
public import Logging
public import NIOCore

extension HTTPServerBuilder {
    /// HTTP/1.1 whose connections answer their requests on their own event loop (issue 16).
    ///
    /// Hummingbird runs each connection as a task on the global concurrent executor, so every
    /// request crosses threads twice (the event loop reads it, a pool thread answers, the
    /// event loop writes the answer): on 2 cores most of a short request's time went to
    /// switching threads. Here a connection's task prefers its channel's event loop as task
    /// executor, so reading, answering and writing stay on one thread; an `await` on other
    /// work (a database write, a listing read) still leaves the loop and comes back to it.
    /// Handlers must therefore never block for long: the store's synchronous reads are
    /// bounded point reads only.
    public static func http1OnEventLoop(configuration: HTTP1Channel.Configuration = .init()) -> HTTPServerBuilder {
        .init { responder in
            EventLoopBoundChannel(base: HTTP1Channel(responder: responder, configuration: configuration))
        }
    }
}

/// A server child channel whose connections are handled with their event loop as task executor.
struct EventLoopBoundChannel<Base: ServerChildChannel>: ServerChildChannel {
    let base: Base

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Base.Value> {
        base.setup(channel: channel, logger: logger)
    }

    func handle(value: Base.Value, logger: Logger) async {
        await withTaskExecutorPreference(EventLoopTaskExecutor(value.channel.eventLoop)) {
            await base.handle(value: value, logger: logger)
        }
    }
}

/// Runs a task's jobs on one NIO event loop (SwiftNIO 2.101 offers event loops as serial
/// executors for actors, not as task executors).
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(_ eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }
}
