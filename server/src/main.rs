// mimalloc: the request path allocates many small, short-lived objects; glibc malloc/free
// were ~15% of the token endpoint's CPU time in a profile (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `arena_eager_commit` option (index 4 in `mimalloc.h`'s `mi_option_e`).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

/// mimalloc's `purge_delay` option (index 15 in `mi_option_e`): how long freed memory stays
/// committed before it is given back to the OS (default 10 ms, and ten times that for arena
/// memory). 0 gives it back at once. Each argon2 hash (`users/password.rs`) allocates and
/// frees its memory (7 MiB since issue #16, 19 MiB before); with the delay, blocks freed by
/// one hash were still resident when the next mapped new ones: with 20 sign-ins/s beside the
/// token endpoint RSS stayed at 83 MB after the run (peak 97 MB); with 0, 36 MB (peak
/// 78 MB), and no measurable cost on the token endpoint's CPU per request (BENCHMARKS.md,
/// issue #16).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Commit arena memory as it is used rather than up front: otherwise an idle Latch shows
/// ~18 MB more resident memory for no benefit (BENCHMARKS.md, idle RSS). It must run before
/// the first allocation creates the first arena, so it is an ELF constructor, not code in
/// `main` (the Rust runtime allocates before `main`).
#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array")]
static MIMALLOC_OPTIONS: extern "C" fn() = {
    extern "C" fn set_options() {
        // SAFETY: stores a process-wide allocator option; mimalloc allows it at any time.
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_ARENA_EAGER_COMMIT, 0) };
        // SAFETY: as above. `MIMALLOC_PURGE_DELAY` in the environment is not read once an
        // option is set, so this is the value (see `MI_OPTION_PURGE_DELAY`).
        unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, 0) };
    }
    set_options
};

fn main() -> std::process::ExitCode {
    latch::cli::main()
}
