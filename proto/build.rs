//! Generates Rust types from the .proto files with a vendored protoc, so a
//! fresh machine needs no system protoc.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = protoc_bin_vendored::protoc_bin_path()?;
    // SAFETY: build scripts are single-threaded; prost-build reads PROTOC.
    #[allow(unsafe_code)]
    unsafe {
        std::env::set_var("PROTOC", protoc)
    };

    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    let files = [
        "triad/eventlog/v1/envelope.proto",
        "triad/events/v1/events.proto",
        "triad/api/v1/coordinator.proto",
        "triad/api/v1/query.proto",
        "triad/provider/v1/bundle.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    tonic_prost_build::configure()
        .file_descriptor_set_path(out.join("triad_descriptor.bin"))
        .compile_protos(&files, &["."])?;
    Ok(())
}
