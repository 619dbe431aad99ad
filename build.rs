//! Regenerates include/aigw.h from the FFI layer on every build, so the
//! committed header is always what the library exports (CI checks that the
//! committed copy is fresh).

use std::env;
use std::path::PathBuf;

/// Programs linked with `-laigw` record the SONAME (`libaigw.so.<major>`)
/// and look for that file at run time. Make it exist next to the library
/// cargo builds, so `cargo build --release` alone gives a usable directory
/// (the link may dangle until cargo writes libaigw.so after this script).
fn link_soname(major: &str) {
    // OUT_DIR is <target>/<profile>/build/aigw-<hash>/out.
    let Some(out) = env::var_os("OUT_DIR").map(PathBuf::from) else {
        return;
    };
    let Some(profile_dir) = out.ancestors().nth(3) else {
        return;
    };
    let link = profile_dir.join(format!("libaigw.so.{major}"));
    if std::fs::symlink_metadata(&link).is_err() {
        #[cfg(unix)]
        if let Err(e) = std::os::unix::fs::symlink("libaigw.so", &link) {
            println!("cargo:warning=could not create {}: {e}", link.display());
        }
    }
}

fn main() {
    let crate_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    println!("cargo:rerun-if-changed=src/ffi");
    println!("cargo:rerun-if-changed=cbindgen.toml");

    // The shared library's SONAME carries the ABI version (the major), so
    // programs linked against libaigw.so.0 keep loading 0.x releases and
    // refuse a 1.0. Linux ELF only; macOS uses install names instead.
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        let major = env::var("CARGO_PKG_VERSION_MAJOR").expect("set by cargo");
        println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libaigw.so.{major}");
        link_soname(&major);
    }

    let mut config = cbindgen::Config::from_file(crate_dir.join("cbindgen.toml"))
        .expect("cbindgen.toml is valid");
    // The version macros come from Cargo.toml, so they cannot drift.
    let version = |key: &str| env::var(key).expect("set by cargo");
    config.after_includes = Some(format!(
        "\n// The version of this header: Cargo.toml's, which aigw_version() returns\n\
         // at run time. See README's ABI policy.\n\
         // The major version; the shared library's SONAME is libaigw.so.<major>.\n\
         #define AIGW_VERSION_MAJOR {}\n\
         // The minor version: a later minor only adds to the API.\n\
         #define AIGW_VERSION_MINOR {}\n\
         // The patch version: fixes only, no declaration changes.\n\
         #define AIGW_VERSION_PATCH {}\n\
         // The whole version as a string, e.g. \"0.1.0\".\n\
         #define AIGW_VERSION \"{}\"\n",
        version("CARGO_PKG_VERSION_MAJOR"),
        version("CARGO_PKG_VERSION_MINOR"),
        version("CARGO_PKG_VERSION_PATCH"),
        version("CARGO_PKG_VERSION"),
    ));
    let header = crate_dir.join("include").join("aigw.h");
    // Only the FFI layer is C-facing: cbindgen reads src/ffi/mod.rs and the
    // modules it declares, which keeps core types (and their generic
    // aliases) out of its view.
    let builder = cbindgen::Builder::new()
        .with_config(config)
        .with_src(crate_dir.join("src/ffi/mod.rs"));
    match builder.generate() {
        Ok(bindings) => {
            bindings.write_to_file(header);
        }
        // Keep the old header rather than fail the build on a parse hiccup
        // mid-edit; CI's freshness check catches a stale header.
        Err(e) => println!("cargo:warning=cbindgen could not generate include/aigw.h: {e}"),
    }
}
