fn main() -> std::process::ExitCode {
    latch::cli::main()
}
