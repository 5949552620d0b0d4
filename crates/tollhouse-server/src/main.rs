//! `tollhouse`: the server and its admin commands. Each command is a file in `commands/`.

mod commands;

/// mimalloc rather than glibc malloc: reports and ingest batches allocate many small rows (the
/// profiles that showed glibc's allocator are in bench/RESULTS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    commands::main().await
}
