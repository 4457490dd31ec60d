//! The `revcheck` binary.

fn main() -> std::process::ExitCode {
    revcheck::cli::main()
}
