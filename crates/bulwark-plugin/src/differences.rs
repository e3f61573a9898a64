//! What a `verify` found: the differences between a backup and the restored data, told in one
//! line that names the first few.

use crate::{PluginError, Result};

/// How many differences the failure line names.
const NAMED: usize = 5;

/// The differences a verify collects as it goes.
#[derive(Debug, Default)]
pub struct Differences {
    named: Vec<String>,
    total: u64,
}

impl Differences {
    /// A new, empty list.
    pub fn new() -> Differences {
        Differences::default()
    }

    /// One more difference.
    pub fn note(&mut self, what: impl Into<String>) {
        self.total += 1;
        if self.named.len() < NAMED {
            self.named.push(what.into());
        }
    }

    /// How many were noted.
    pub fn count(&self) -> u64 {
        self.total
    }

    /// Success when nothing differs; otherwise a failure whose line says how many things differ
    /// out of `checked` and names the first few.
    pub fn finish(self, checked: &str) -> Result<()> {
        if self.total == 0 {
            return Ok(());
        }
        let more = self.total - self.named.len() as u64;
        let tail = if more > 0 {
            format!(" (and {more} more)")
        } else {
            String::new()
        };
        Err(PluginError::failed(format!(
            "the restored data differs from the backup in {} of {checked}: {}{tail}",
            self.total,
            self.named.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_first_few_and_counts_the_rest() {
        assert!(Differences::new().finish("3 tables").is_ok());
        let mut d = Differences::new();
        for i in 0..7 {
            d.note(format!("t{i} missing"));
        }
        assert_eq!(d.count(), 7);
        let e = d.finish("9 tables").unwrap_err();
        assert_eq!(
            e.message,
            "the restored data differs from the backup in 7 of 9 tables: t0 missing; t1 missing; t2 missing; t3 missing; t4 missing (and 2 more)"
        );
    }
}
