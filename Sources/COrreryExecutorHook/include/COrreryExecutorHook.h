#ifndef C_ORRERY_EXECUTOR_HOOK_H
#define C_ORRERY_EXECUTOR_HOOK_H

/// Where Swift concurrency's global jobs go once the hook is installed: a plain C function
/// that receives the job (a `swift::Job *`, an `UnownedJob` on the Swift side) and returns 1
/// when it took it, 0 to leave it to the runtime's own global executor.
typedef int (*orrery_global_job_target)(void *_Nonnull job);

/// Installs Swift concurrency's `swift_task_enqueueGlobal_hook` so that every global job is
/// offered to `target` first. Returns 1 when installed, 0 when another hook was there first.
///
/// NIO's `NIOSingletons.unsafeTryInstallSingletonPosixEventLoopGroupAsConcurrencyGlobalExecutor()`
/// does the same through `dlsym`, which finds nothing in a binary linked with
/// `--static-swift-stdlib` (the hook is not exported from it); this reaches the variable at
/// link time instead, so it works with both linkings.
int orrery_install_global_job_hook(orrery_global_job_target _Nonnull target);

/// 1 when the runtime's hook is this one (installed and not replaced since), else 0.
int orrery_global_job_hook_installed(void);

#endif
