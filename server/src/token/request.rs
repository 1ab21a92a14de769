//! A token request parsed once (RFC 6749 §4.1.3, §4.4.2, §6; RFC 8693 §2.1): one [`GrantRequest`]
//! variant per [`GrantType`], holding that grant's parameters. A new grant adds a variant
//! here and a file in `grants/`; the compiler lists the `match`es to update.

use crate::errors::{OAuthCode, OAuthError};
use crate::grant_type::GrantType;
use crate::oauth::Form;
use crate::scope::ScopeSet;

/// A requested `scope` (RFC 6749 §3.3), parsed; `Err` holds the first token that breaks the
/// syntax. The grant reports it, at the point it checks scopes, so the order of checks (and
/// so which error a request gets) is the grant's to decide.
pub type RequestedScope<'a> = Option<Result<ScopeSet<'a>, &'a str>>;

fn requested_scope(form: &Form) -> RequestedScope<'_> {
    form.get("scope").map(ScopeSet::parse)
}

fn required<'a>(form: &'a Form, name: &'static str) -> Result<&'a str, OAuthError> {
    form.get(name)
        .ok_or_else(|| OAuthError::invalid_request(format!("The {name} parameter is missing")))
}

/// RFC 6749 §4.1.3 with RFC 7636 §4.5 and RFC 8707 §2.2.
pub struct CodeRequest<'a> {
    pub code: &'a str,
    pub redirect_uri: Option<&'a str>,
    pub code_verifier: Option<&'a str>,
    /// RFC 8707 `resource` values (repeatable); empty: the whole grant.
    pub resources: &'a [String],
}

/// RFC 6749 §6 with RFC 8707 §2.2.
pub struct RefreshRequest<'a> {
    pub refresh_token: &'a str,
    pub scope: RequestedScope<'a>,
    pub resources: &'a [String],
}

/// RFC 6749 §4.4.2 with RFC 8707 §2.
pub struct ClientCredentialsRequest<'a> {
    pub scope: RequestedScope<'a>,
    pub resources: &'a [String],
}

/// RFC 8693 §2.1 with RFC 8707 §2: several targets are several `resource` or `audience`
/// values (both may repeat).
pub struct TokenExchangeRequest<'a> {
    pub subject_token: &'a str,
    pub subject_token_type: &'a str,
    pub actor_token: Option<&'a str>,
    pub actor_token_type: Option<&'a str>,
    pub requested_token_type: Option<&'a str>,
    pub scope: RequestedScope<'a>,
    pub resources: &'a [String],
    pub audiences: &'a [String],
}

/// RFC 8628 §3.4 with RFC 8707 §2.2.
pub struct DeviceCodeRequest<'a> {
    pub device_code: &'a str,
    pub resources: &'a [String],
}

pub enum GrantRequest<'a> {
    AuthorizationCode(CodeRequest<'a>),
    RefreshToken(RefreshRequest<'a>),
    ClientCredentials(ClientCredentialsRequest<'a>),
    TokenExchange(TokenExchangeRequest<'a>),
    DeviceCode(DeviceCodeRequest<'a>),
}

/// The `grant_type` parameter, refused unless it names a grant Latch supports. Runs
/// before client authentication: it costs nothing and reveals nothing.
pub fn grant_type(form: &Form) -> Result<GrantType, OAuthError> {
    let name = form
        .get("grant_type")
        .ok_or_else(|| OAuthError::invalid_request("The grant_type parameter is missing"))?;
    // RFC 9700 §2.4: the password grant MUST NOT be used; implicit is not a token grant.
    GrantType::parse(name).ok_or_else(|| {
        OAuthError::new(
            OAuthCode::UnsupportedGrantType,
            format!("Supported grant types: {}", GrantType::names(", ", ", ")),
        )
    })
}

impl<'a> GrantRequest<'a> {
    /// The parameters of `grant` from the form (after the client is authenticated and
    /// allowed the grant: a missing parameter is not worth reporting to anyone else).
    pub fn parse(grant: GrantType, form: &'a Form) -> Result<Self, OAuthError> {
        Ok(match grant {
            GrantType::AuthorizationCode => Self::AuthorizationCode(CodeRequest {
                code: required(form, "code")?,
                redirect_uri: form.get("redirect_uri"),
                code_verifier: form.get("code_verifier"),
                resources: form.resources(),
            }),
            GrantType::RefreshToken => Self::RefreshToken(RefreshRequest {
                refresh_token: required(form, "refresh_token")?,
                scope: requested_scope(form),
                resources: form.resources(),
            }),
            GrantType::ClientCredentials => Self::ClientCredentials(ClientCredentialsRequest {
                scope: requested_scope(form),
                resources: form.resources(),
            }),
            GrantType::TokenExchange => Self::TokenExchange(TokenExchangeRequest {
                subject_token: required(form, "subject_token")?,
                subject_token_type: required(form, "subject_token_type")?,
                actor_token: form.get("actor_token"),
                actor_token_type: form.get("actor_token_type"),
                requested_token_type: form.get("requested_token_type"),
                scope: requested_scope(form),
                resources: form.resources(),
                audiences: form.audiences(),
            }),
            GrantType::DeviceCode => Self::DeviceCode(DeviceCodeRequest {
                device_code: required(form, "device_code")?,
                resources: form.resources(),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(hostile_config!())]

        /// Any form never panics; only the three supported grants get past `grant_type`
        /// (RFC 9700 §2.4: never `password`), and a parsed request holds what was sent.
        #[test]
        fn prop_only_supported_grants_parse(
            grant in prop_oneof![
                Just("authorization_code".to_owned()), Just("refresh_token".to_owned()),
                Just("client_credentials".to_owned()), Just("password".to_owned()),
                Just("urn:ietf:params:oauth:grant-type:token-exchange".to_owned()),
                Just("urn:ietf:params:oauth:grant-type:device_code".to_owned()),
                Just("implicit".to_owned()), Just("AUTHORIZATION_CODE".to_owned()), any::<String>(),
            ],
            others in prop::collection::vec(
                (prop::sample::select(vec!["code", "refresh_token", "scope", "resource",
                    "redirect_uri", "code_verifier", "subject_token", "subject_token_type",
                    "audience", "device_code"]), any::<String>()),
                0..6,
            ),
        ) {
            let mut body = url::form_urlencoded::Serializer::new(String::new());
            body.append_pair("grant_type", &grant);
            for (k, v) in &others {
                body.append_pair(k, v);
            }
            let req = actix_web::test::TestRequest::post()
                .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
                .to_http_request();
            let Ok(form) = crate::oauth::form::parse_form(&req, body.finish().as_bytes()) else {
                return Ok(());
            };
            match grant_type(&form) {
                Ok(g) => {
                    prop_assert!(["authorization_code", "refresh_token", "client_credentials",
                        "urn:ietf:params:oauth:grant-type:token-exchange",
                        "urn:ietf:params:oauth:grant-type:device_code"]
                        .contains(&grant.as_str()));
                    if let Ok(GrantRequest::AuthorizationCode(c)) = GrantRequest::parse(g, &form) {
                        prop_assert_eq!(Some(c.code), form.get("code"));
                        prop_assert!(!c.code.is_empty());
                    }
                    if let Ok(GrantRequest::RefreshToken(r)) = GrantRequest::parse(g, &form) {
                        prop_assert!(!r.refresh_token.is_empty());
                    }
                    if let Ok(GrantRequest::TokenExchange(r)) = GrantRequest::parse(g, &form) {
                        prop_assert_eq!(Some(r.subject_token), form.get("subject_token"));
                        prop_assert_eq!(Some(r.subject_token_type), form.get("subject_token_type"));
                    }
                    if let Ok(GrantRequest::DeviceCode(d)) = GrantRequest::parse(g, &form) {
                        prop_assert_eq!(Some(d.device_code), form.get("device_code"));
                    }
                }
                Err(_) => prop_assert!(GrantType::parse(&grant).is_none()),
            }
        }
    }
}
