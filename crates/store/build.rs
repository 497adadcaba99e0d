//! Rebuild when a migration is added or edited: `sqlx::migrate!` embeds the files at compile
//! time, and on stable Rust cargo cannot see that dependency by itself.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
