//! Enrollment tokens: `bwa1_SECRET_FINGERPRINT`, a random secret and the core key's SHA-256
//! fingerprint (without `SHA256:`), so that the agent pins the core from the token alone and
//! never trusts an unauthenticated `GET /v1/meta/pubkey`. Only a hash of the secret is kept.

use sha2::{Digest, Sha256};

/// A token's parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The secret, hex.
    pub secret: String,
    /// The core's key fingerprint, `SHA256:...`.
    pub core: String,
}

/// A new token for the core with this key fingerprint: its text and its secret's hash.
pub fn make_token(core_fingerprint: &str) -> (String, String) {
    let mut bytes = [0u8; 24];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let fp = core_fingerprint.trim_start_matches("SHA256:");
    (format!("bwa1_{secret}_{fp}"), hash(&secret))
}

/// Reads a token's text.
pub fn parse_token(text: &str) -> Option<Token> {
    let rest = text.trim().strip_prefix("bwa1_")?;
    let (secret, fp) = rest.split_once('_')?;
    if secret.len() != 48 || !secret.bytes().all(|b| b.is_ascii_hexdigit()) || fp.is_empty() {
        return None;
    }
    Some(Token {
        secret: secret.to_string(),
        core: format!("SHA256:{fp}"),
    })
}

/// The hash kept of a secret.
pub fn hash(secret: &str) -> String {
    Sha256::digest(secret.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_the_core_fingerprint_and_keep_only_a_hash() {
        let (text, hashed) = make_token("SHA256:abc+/def");
        let t = parse_token(&text).expect("it reads back");
        assert_eq!(t.core, "SHA256:abc+/def");
        assert_eq!(hash(&t.secret), hashed);
        assert!(!hashed.contains(&t.secret));
        assert_ne!(make_token("SHA256:x").0, make_token("SHA256:x").0);
        for bad in ["", "bwa1_", "bwa2_00_x", "bwa1_zz_x", &text[..20]] {
            assert_eq!(parse_token(bad), None, "{bad}");
        }
    }
}
