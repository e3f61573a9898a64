//! The plugins compiled into Bulwark, found by name.

mod endpoint;
pub mod fs_store;

pub use endpoint::{optional_str, required_abspath};

use crate::StorePlugin;

/// The built-in store plugins' names.
pub const STORES: &[&str] = &["fs"];

/// The built-in store plugin called `name`.
pub fn store(name: &str) -> Option<Box<dyn StorePlugin>> {
    match name {
        "fs" => Some(Box::new(fs_store::FsStore)),
        _ => None,
    }
}
