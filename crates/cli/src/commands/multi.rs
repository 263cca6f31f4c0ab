//! Running one daemon call per named container, printing each name on success and the
//! errors at the end, as Docker's `stop`, `kill`, `rm`, `pause`… do (exit 1 if any failed).

use crate::client::{error_text, status_err};
use anyhow::Result;
use std::future::Future;

/// Apply `f` to every name; print the name (or `print(name)`) on success.
pub async fn for_each<F, Fut>(names: &[String], mut f: F) -> Result<u8>
where
    F: FnMut(String) -> Fut,
    Fut: Future<Output = std::result::Result<Option<String>, bollard::errors::Error>>,
{
    let mut errors = Vec::new();
    for n in names {
        match f(n.clone()).await {
            Ok(Some(out)) => println!("{out}"),
            Ok(None) => {}
            Err(e) => errors.push(error_text(&e.into())),
        }
    }
    if errors.is_empty() {
        Ok(0)
    } else {
        Err(status_err(1, errors.join("\n")))
    }
}
