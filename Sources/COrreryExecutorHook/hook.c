#include "COrreryExecutorHook.h"
#include <stddef.h>

// The Swift runtime's hook (swift/Runtime/Concurrency.h):
//   SWIFT_CC(swift) void (*swift_task_enqueueGlobal_hook)(Job *job, swift_task_enqueueGlobal_original original);
extern void *swift_task_enqueueGlobal_hook;

typedef void (*orrery_original_enqueue)(void *job) __attribute__((swiftcall));

static orrery_global_job_target orrery_target;

__attribute__((swiftcall))
static void orrery_enqueue_global(void *job, orrery_original_enqueue original) {
    if (!orrery_target(job)) original(job);
}

int orrery_install_global_job_hook(orrery_global_job_target target) {
    orrery_target = target;
    void *expected = NULL;
    return __atomic_compare_exchange_n(&swift_task_enqueueGlobal_hook, &expected, (void *)&orrery_enqueue_global,
                                       0, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST) ? 1 : 0;
}

int orrery_global_job_hook_installed(void) {
    return __atomic_load_n(&swift_task_enqueueGlobal_hook, __ATOMIC_SEQ_CST) == (void *)&orrery_enqueue_global ? 1 : 0;
}
