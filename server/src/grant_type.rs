//! The grant types Latch supports (RFC 6749 §4, §6): the one list. The token endpoint's
//! dispatch, the metadata's `grant_types_supported` (RFC 8414 §2) and client registration
//! all derive from [`GrantType`], with exhaustive `match`es, so a new variant here fails to
//! compile until each of them handles it. Imports nothing of ours.

/// Declares the enum, its wire names and [`GrantType::ALL`] from one list.
macro_rules! grant_types {
    ($($(#[$doc:meta])* $variant:ident = $wire:literal,)+) => {
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum GrantType {
            $($(#[$doc])* $variant,)+
        }

        impl GrantType {
            /// Every supported grant, in the order metadata and messages list them.
            pub const ALL: &[GrantType] = &[$(GrantType::$variant,)+];

            /// The `grant_type` value (RFC 6749 §4.1.3, §4.4.2, §6).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(GrantType::$variant => $wire,)+
                }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s {
                    $($wire => Some(GrantType::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

grant_types! {
    /// RFC 6749 §4.1.3 with PKCE (RFC 7636 §4.5).
    AuthorizationCode = "authorization_code",
    /// RFC 6749 §6, rotated (RFC 9700 §4.14.2).
    RefreshToken = "refresh_token",
    /// RFC 6749 §4.4, confidential clients only.
    ClientCredentials = "client_credentials",
    /// RFC 8693 §2.1, confidential clients only, into the audiences the client's policy names.
    TokenExchange = "urn:ietf:params:oauth:grant-type:token-exchange",
    /// RFC 8628 §3.4: a device polls with the device code a person approved on `/device`.
    DeviceCode = "urn:ietf:params:oauth:grant-type:device_code",
}

impl GrantType {
    /// How the dashboard names the grant (one arm per grant, so a new one needs a label).
    pub const fn label(self) -> &'static str {
        match self {
            GrantType::AuthorizationCode => "Authorization code",
            GrantType::RefreshToken => "Refresh tokens",
            GrantType::ClientCredentials => "Client credentials",
            GrantType::TokenExchange => "Token exchange",
            GrantType::DeviceCode => "Device code (TVs, CLIs)",
        }
    }

    /// The wire names joined with `sep`, the last with `last` ("a, b or c").
    pub fn names(sep: &str, last: &str) -> String {
        let mut out = String::new();
        for (i, g) in Self::ALL.iter().enumerate() {
            if i > 0 {
                out.push_str(if i + 1 == Self::ALL.len() { last } else { sep });
            }
            out.push_str(g.as_str());
        }
        out
    }

    /// The grants named in a stored, space-separated column; unknown names are skipped.
    pub fn stored(s: &str) -> impl Iterator<Item = GrantType> + '_ {
        s.split(' ').filter_map(Self::parse)
    }
}

/// As its wire name (metadata's `grant_types_supported`).
impl serde::Serialize for GrantType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for GrantType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for g in GrantType::ALL {
            assert_eq!(GrantType::parse(g.as_str()), Some(*g));
        }
        assert_eq!(GrantType::parse("password"), None);
        assert_eq!(GrantType::parse(""), None);
    }

    #[test]
    fn names_lists_every_grant() {
        assert_eq!(
            GrantType::names(", ", ", "),
            "authorization_code, refresh_token, client_credentials, \
             urn:ietf:params:oauth:grant-type:token-exchange, \
             urn:ietf:params:oauth:grant-type:device_code"
        );
        assert_eq!(
            GrantType::names(", ", " or "),
            "authorization_code, refresh_token, client_credentials, \
             urn:ietf:params:oauth:grant-type:token-exchange or \
             urn:ietf:params:oauth:grant-type:device_code"
        );
    }
}
