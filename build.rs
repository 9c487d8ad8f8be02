//! Link-time settings of the `stratum` executable.
//!
//! On Linux the executable's RUNPATH names `$ORIGIN/lib` (a portable
//! folder) and `$ORIGIN/../lib/stratum` (the package): libraries the app
//! opens by name at run time are looked for there too. The OpenXR loader is
//! opened as `libopenxr_loader.so`, a name Debian and Ubuntu only give it in
//! their -dev package; the package puts that name in /usr/lib/stratum,
//! pointing at the run-time library (libopenxr-loader1).

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bins=-Wl,-rpath,$ORIGIN/lib:$ORIGIN/../lib/stratum");
    }
}
