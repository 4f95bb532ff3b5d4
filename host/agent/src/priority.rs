//! Keeping an install out of the way of the device's own work (issue 4,
//! §5): the thread that verifies and writes runs at a lower CPU priority
//! (a higher nice value) and in the idle or lowest best-effort I/O class.
//! On Linux both are attributes of the calling thread only. And a
//! long-running agent hands freed heap back to the system ([`trim_heap`]).

/// Lower the calling thread's CPU priority to `nice` (0..=19; raising
/// priority is not this function's business) and its I/O priority to the
/// lowest best-effort level. Returns what could not be applied; the caller
/// logs it and carries on — a device without the permission still updates.
pub fn lower_this_thread(nice: i32) -> Vec<String> {
    let mut problems = Vec::new();
    let nice = nice.clamp(0, 19);
    // SAFETY: setpriority reads only its integer arguments; `who` = 0 is the
    // calling thread on Linux.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if r != 0 {
        problems.push(format!("nice {nice}: {}", std::io::Error::last_os_error()));
    }
    // ioprio_set(IOPRIO_WHO_PROCESS, 0 = this thread, class best-effort (2) << 13 | level 7)
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    const BEST_EFFORT_LOWEST: libc::c_long = (2 << 13) | 7;
    // SAFETY: the ioprio_set system call takes three integers and touches
    // no memory of ours.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0 as libc::c_long, BEST_EFFORT_LOWEST) };
    if r != 0 {
        problems.push(format!("I/O priority: {}", std::io::Error::last_os_error()));
    }
    problems
}

/// The calling thread's nice value.
pub fn this_thread_nice() -> i32 {
    // SAFETY: getpriority reads only its integer arguments. -1 is also a
    // valid result; for a thread we lowered it never is.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
}

/// Give the heap memory freed so far back to the operating system (glibc
/// keeps it otherwise): a long-running agent calls it once it has loaded
/// its policy, so the compiler's scratch memory does not stay resident.
pub fn trim_heap() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}
