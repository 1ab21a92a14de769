// mimalloc: the request path allocates many small, short-lived objects; glibc malloc/free
// were ~15% of the token endpoint's CPU time in a profile (BENCHMARKS.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// mimalloc's `arena_eager_commit` option (index 4 in `mimalloc.h`'s `mi_option_e`).
const MI_OPTION_ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;

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
    }
    set_options
};

fn main() -> std::process::ExitCode {
    latch::cli::main()
}
