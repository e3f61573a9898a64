//! Who is calling, and what they may do.
//!
//! Every route has one access rule ([`rules`]); the [`guard`] middleware finds the caller from a
//! bearer token or the session cookie, checks the rule, the target limit and the browser
//! defences, and wraps state changes in an audit scope. Passwords are argon2id hashes; session
//! and API tokens are 256 random bits of which only SHA-256 hashes are kept.

#[cfg(test)]
mod flow_tests;
pub mod guard;
pub mod rules;
pub mod secret;

use bulwark_core::ids::TargetId;
use bulwark_core::role::Role;

pub use secret::{hash_password, verify_password};

/// The prefix of API tokens: `bwk_ID_SECRET`.
pub const TOKEN_PREFIX: &str = "bwk_";
/// The prefix of session tokens: `bws_SECRET`.
pub const SESSION_PREFIX: &str = "bws_";
/// The session cookie's name.
pub const SESSION_COOKIE: &str = "bulwark_session";
/// The header a cookie-authenticated state change must carry.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// How the caller proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A login session: its token hash, its CSRF token, and whether it came as a cookie.
    Session {
        /// SHA-256 of the session token.
        hash: String,
        /// The session's CSRF token.
        csrf: String,
        /// True when the session token came in the cookie (not a bearer header).
        cookie: bool,
    },
    /// An API token.
    Token {
        /// Its id.
        id: String,
        /// Its name.
        name: String,
        /// `metrics` when it may only read `/metrics`.
        scope: Option<String>,
    },
}

/// An authenticated caller, with the rights in effect (a token's, cut to its owner's).
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user's name.
    pub user: String,
    /// The user's uuid.
    pub user_uuid: String,
    /// The role in effect.
    pub role: Role,
    /// The targets the caller is limited to; `None` for every target.
    pub targets: Option<Vec<TargetId>>,
    /// How it authenticated.
    pub via: Via,
}

impl Caller {
    /// The caller as the audit log and task owners name it.
    pub fn actor(&self) -> String {
        match &self.via {
            Via::Session { .. } => self.user.clone(),
            Via::Token { name, .. } => format!("token {name} of {}", self.user),
        }
    }

    /// True when the caller may act on `target` (every caller may, unless limited; a limited
    /// caller may not act on what belongs to no target).
    pub fn may_use(&self, target: Option<TargetId>) -> bool {
        match (&self.targets, target) {
            (None, _) => true,
            (Some(list), Some(t)) => list.contains(&t),
            (Some(_), None) => false,
        }
    }

    /// True for a token that may only read `/metrics`.
    pub fn metrics_only(&self) -> bool {
        matches!(&self.via, Via::Token { scope: Some(s), .. } if s == "metrics")
    }

    /// True for admins.
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

/// The rights of a token used by its owner: the lower role, and the narrower target limit.
pub fn effective(
    user_role: Role,
    user_targets: &Option<Vec<TargetId>>,
    token_role: Role,
    token_targets: &Option<Vec<TargetId>>,
) -> (Role, Option<Vec<TargetId>>) {
    let role = user_role.min(token_role);
    let targets = match (user_targets, token_targets) {
        (None, t) | (t, None) => t.clone(),
        (Some(u), Some(t)) => Some(t.iter().filter(|id| u.contains(id)).copied().collect()),
    };
    (role, targets)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_never_has_more_rights_than_its_owner() {
        let (a, b, c) = (
            TargetId::new_random(),
            TargetId::new_random(),
            TargetId::new_random(),
        );
        let (role, t) = effective(Role::Operator, &None, Role::Admin, &None);
        assert_eq!((role, t), (Role::Operator, None));
        let (role, t) = effective(Role::Admin, &Some(vec![a, b]), Role::Viewer, &None);
        assert_eq!((role, t), (Role::Viewer, Some(vec![a, b])));
        let (_, t) = effective(
            Role::Admin,
            &Some(vec![a, b]),
            Role::Admin,
            &Some(vec![b, c]),
        );
        assert_eq!(t, Some(vec![b]));
        let (_, t) = effective(Role::Admin, &None, Role::Admin, &Some(vec![c]));
        assert_eq!(t, Some(vec![c]));
    }

    #[test]
    fn a_limited_caller_sees_only_its_targets() {
        let (a, b) = (TargetId::new_random(), TargetId::new_random());
        let caller = Caller {
            user: "ops".into(),
            user_uuid: "u".into(),
            role: Role::Operator,
            targets: Some(vec![a]),
            via: Via::Token {
                id: "id".into(),
                name: "ci".into(),
                scope: None,
            },
        };
        assert!(caller.may_use(Some(a)));
        assert!(!caller.may_use(Some(b)));
        assert!(!caller.may_use(None));
        assert_eq!(caller.actor(), "token ci of ops");
    }
}
