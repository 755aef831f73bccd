//! Authentication and per-user topic ACLs.
//!
//! [`Authenticator`] is the hook the server calls: once per CONNECT (off the async runtime,
//! since password hashing is deliberately slow) and on every PUBLISH/SUBSCRIBE for the ACL.
//! [`MemoryAuth`] keeps users with Argon2id PHC hashes (`$argon2id$v=19$...`) in memory; the
//! bridge configuration file will fill it.

use super::codec::ReasonCode;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use std::collections::HashMap;

/// Who a connection is, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No user name given (only when anonymous access is allowed).
    Anonymous,
    /// An authenticated user.
    User(String),
}

/// Authentication and authorization hook.
pub trait Authenticator: Send + Sync + 'static {
    /// Checks CONNECT credentials; `Err` carries the CONNACK reason (0x86 or 0x87).
    fn authenticate(&self, username: Option<&str>, password: Option<&[u8]>) -> Result<Principal, ReasonCode>;
    /// May `who` publish to `topic`?
    fn can_publish(&self, who: &Principal, topic: &str) -> bool;
    /// May `who` subscribe to `filter` (`$share/...` already stripped)?
    fn can_subscribe(&self, who: &Principal, filter: &str) -> bool;
}

/// One ACL rule: a topic pattern (MQTT filter syntax) and what it permits.
#[derive(Debug, Clone)]
pub struct AclRule {
    /// Topic pattern, e.g. `sensors/+/temp` or `dds/#`.
    pub pattern: String,
    /// Publishing to matching topics is allowed.
    pub publish: bool,
    /// Subscribing to filters within the pattern is allowed.
    pub subscribe: bool,
}

impl AclRule {
    /// A rule allowing everything on `pattern`.
    #[must_use]
    pub fn all(pattern: &str) -> Self {
        Self { pattern: pattern.to_owned(), publish: true, subscribe: true }
    }
}

#[derive(Debug, Clone)]
struct User {
    hash: String,
    acl: Option<Vec<AclRule>>,
}

/// In-memory users with Argon2 password hashes and optional ACLs.
///
/// With no users configured, everything is allowed to anonymous clients (the default).
#[derive(Debug, Clone)]
pub struct MemoryAuth {
    allow_anonymous: bool,
    anonymous_acl: Option<Vec<AclRule>>,
    users: HashMap<String, User>,
}

impl Default for MemoryAuth {
    fn default() -> Self {
        Self { allow_anonymous: true, anonymous_acl: None, users: HashMap::new() }
    }
}

/// Errors from [`MemoryAuth`] setup.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The stored hash is not a PHC string argon2 understands.
    #[error("invalid password hash: {0}")]
    BadHash(String),
}

/// Hashes `password` with Argon2id and a random salt, as a PHC string.
pub fn hash_password(password: &[u8]) -> Result<String, AuthError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt = SaltString::encode_b64(&salt_bytes).map_err(|e| AuthError::BadHash(e.to_string()))?;
    Argon2::default()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::BadHash(e.to_string()))
}

impl MemoryAuth {
    /// Allow or refuse clients without a user name.
    pub fn allow_anonymous(&mut self, allow: bool) -> &mut Self {
        self.allow_anonymous = allow;
        self
    }

    /// Restricts anonymous clients to `acl`.
    pub fn anonymous_acl(&mut self, acl: Vec<AclRule>) -> &mut Self {
        self.anonymous_acl = Some(acl);
        self
    }

    /// Adds a user with a PHC hash (see [`hash_password`]); `acl` `None` allows everything.
    pub fn add_user(&mut self, name: &str, phc_hash: &str, acl: Option<Vec<AclRule>>) -> Result<&mut Self, AuthError> {
        PasswordHash::new(phc_hash).map_err(|e| AuthError::BadHash(e.to_string()))?;
        self.users.insert(name.to_owned(), User { hash: phc_hash.to_owned(), acl });
        Ok(self)
    }

    fn acl(&self, who: &Principal) -> Option<&[AclRule]> {
        match who {
            Principal::Anonymous => self.anonymous_acl.as_deref(),
            Principal::User(u) => self.users.get(u).and_then(|u| u.acl.as_deref()),
        }
    }
}

impl Authenticator for MemoryAuth {
    fn authenticate(&self, username: Option<&str>, password: Option<&[u8]>) -> Result<Principal, ReasonCode> {
        let Some(name) = username else {
            return if self.allow_anonymous { Ok(Principal::Anonymous) } else { Err(ReasonCode::NOT_AUTHORIZED) };
        };
        let Some(user) = self.users.get(name) else {
            if self.users.is_empty() && self.allow_anonymous {
                // No user database: user names are informational only.
                return Ok(Principal::Anonymous);
            }
            return Err(ReasonCode::BAD_USER_NAME_OR_PASSWORD);
        };
        let hash = PasswordHash::new(&user.hash).map_err(|_| ReasonCode::BAD_USER_NAME_OR_PASSWORD)?;
        match Argon2::default().verify_password(password.unwrap_or_default(), &hash) {
            Ok(()) => Ok(Principal::User(name.to_owned())),
            Err(_) => Err(ReasonCode::BAD_USER_NAME_OR_PASSWORD),
        }
    }

    fn can_publish(&self, who: &Principal, topic: &str) -> bool {
        self.acl(who)
            .is_none_or(|rules| rules.iter().any(|r| r.publish && super::codec::topic::matches(&r.pattern, topic)))
    }

    fn can_subscribe(&self, who: &Principal, filter: &str) -> bool {
        self.acl(who).is_none_or(|rules| rules.iter().any(|r| r.subscribe && filter_within(&r.pattern, filter)))
    }
}

/// The users RabbitMQ lets log in only from loopback by default (`loopback_users`): `guest`.
#[must_use]
pub fn default_loopback_users() -> Vec<String> {
    vec!["guest".to_owned()]
}

/// Whether an authenticated `who` must still be refused because it is one of `loopback_users`
/// (accepted only from a loopback address, as RabbitMQ does with `guest`) and the peer address
/// is not loopback or unknown. IPv4-mapped IPv6 addresses count as their IPv4 address.
#[must_use]
pub fn loopback_refused(loopback_users: &[String], who: &Principal, peer: Option<std::net::IpAddr>) -> bool {
    match who {
        Principal::User(u) if loopback_users.iter().any(|l| l == u) => {
            !peer.is_some_and(|ip| ip.to_canonical().is_loopback())
        }
        _ => false,
    }
}

/// Whether every topic matched by `filter` is also matched by `pattern`.
#[must_use]
pub fn filter_within(pattern: &str, filter: &str) -> bool {
    let mut p = pattern.split('/');
    let mut f = filter.split('/');
    loop {
        match (p.next(), f.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(l)) if l != "#" => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_users_and_acl() {
        let mut a = MemoryAuth::default();
        let h = hash_password(b"secret").unwrap();
        a.allow_anonymous(false);
        a.add_user(
            "alice",
            &h,
            Some(vec![AclRule::all("sensors/#"), AclRule { pattern: "cmd/+".into(), publish: false, subscribe: true }]),
        )
        .unwrap();
        assert_eq!(a.authenticate(None, None), Err(ReasonCode::NOT_AUTHORIZED));
        assert_eq!(a.authenticate(Some("alice"), Some(b"nope")), Err(ReasonCode::BAD_USER_NAME_OR_PASSWORD));
        assert_eq!(a.authenticate(Some("bob"), Some(b"secret")), Err(ReasonCode::BAD_USER_NAME_OR_PASSWORD));
        let who = a.authenticate(Some("alice"), Some(b"secret")).unwrap();
        assert!(a.can_publish(&who, "sensors/a/t"));
        assert!(!a.can_publish(&who, "cmd/x"));
        assert!(a.can_subscribe(&who, "cmd/x"));
        assert!(a.can_subscribe(&who, "cmd/+"));
        assert!(!a.can_subscribe(&who, "cmd/#"));
        assert!(!a.can_subscribe(&who, "#"));
    }

    #[test]
    fn guest_only_from_loopback() {
        let l = default_loopback_users();
        let guest = Principal::User("guest".into());
        let ip = |s: &str| Some(s.parse::<std::net::IpAddr>().unwrap());
        assert!(!loopback_refused(&l, &guest, ip("127.0.0.1")));
        assert!(!loopback_refused(&l, &guest, ip("127.0.0.7")));
        assert!(!loopback_refused(&l, &guest, ip("::1")));
        assert!(!loopback_refused(&l, &guest, ip("::ffff:127.0.0.1")));
        assert!(loopback_refused(&l, &guest, ip("10.1.2.3")));
        assert!(loopback_refused(&l, &guest, ip("::ffff:10.1.2.3")));
        assert!(loopback_refused(&l, &guest, None));
        // Other users and anonymous clients are not concerned.
        assert!(!loopback_refused(&l, &Principal::User("alice".into()), ip("10.1.2.3")));
        assert!(!loopback_refused(&l, &Principal::Anonymous, ip("10.1.2.3")));
        assert!(!loopback_refused(&[], &guest, ip("10.1.2.3")));
    }
}
