//! Reading typed values out of an endpoint, with the protocol's exit codes for what is missing
//! (12) or of the wrong type (13).

use std::path::PathBuf;

use serde_json::Value;

use crate::{Endpoint, Exit, PluginError, Result};

/// A required key holding an absolute path.
pub fn required_abspath(endpoint: &Endpoint, key: &str) -> Result<PathBuf> {
    match endpoint.get(key) {
        None | Some(Value::Null) => Err(PluginError::new(
            Exit::MissingEndpointKey,
            format!("endpoint key '{key}' is required"),
        )),
        Some(Value::String(s)) if s.starts_with('/') => Ok(PathBuf::from(s)),
        Some(Value::String(s)) => Err(PluginError::new(
            Exit::WrongEndpointType,
            format!("endpoint key '{key}' must be an absolute path, not '{s}'"),
        )),
        Some(_) => Err(PluginError::new(
            Exit::WrongEndpointType,
            format!("endpoint key '{key}' must be a string"),
        )),
    }
}

/// An optional string key.
pub fn optional_str<'a>(endpoint: &'a Endpoint, key: &str) -> Result<Option<&'a str>> {
    match endpoint.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(PluginError::new(
            Exit::WrongEndpointType,
            format!("endpoint key '{key}' must be a string"),
        )),
    }
}
