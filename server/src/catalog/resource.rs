//! Resource indicators (RFC 8707): which APIs a `resource` parameter names, and the scopes
//! a request keeps once it names them. Shared by `/oauth/authorize` (RFC 8707 §2.1) and
//! `/oauth/token` (§2.2); pure, over one [`Snapshot`].

use super::{Api, OPENID, Snapshot};
use crate::scope::ScopeSet;

/// Why a `resource` value is refused: RFC 8707 §2 `invalid_target`; the text is the
/// `error_description`.
#[derive(Debug, PartialEq, Eq)]
pub struct InvalidTarget(pub String);

/// RFC 8707 §2: "an absolute URI … MUST NOT include a fragment component".
fn well_formed(value: &str) -> bool {
    !value.contains('#') && url::Url::parse(value).is_ok_and(|u| !u.cannot_be_a_base())
}

impl Snapshot {
    /// The APIs named by `resources`, in catalog order, each of which must be registered and
    /// own a scope of `allowed` (what the client may use at authorize; what the grant holds
    /// at the token endpoint). An empty `resources` is an empty list (no narrowing).
    pub fn resolve_resources(
        &self,
        resources: &[String],
        allowed: &ScopeSet<'_>,
    ) -> Result<Vec<&Api>, InvalidTarget> {
        let mut apis: Vec<&Api> = Vec::with_capacity(resources.len());
        for value in resources {
            if !well_formed(value) {
                return Err(InvalidTarget(format!(
                    "The resource {value:?} is not an absolute URI without a fragment"
                )));
            }
            let Some(api) = self.by_identifier(value) else {
                return Err(InvalidTarget(format!(
                    "The resource {value:?} is not a registered API"
                )));
            };
            if !allowed.iter().any(|s| api.has_scope(s)) {
                return Err(InvalidTarget(format!(
                    "The resource {value:?} is not allowed for this request (no scope of {} is)",
                    api.name
                )));
            }
            if !apis.iter().any(|a| a.id == api.id) {
                apis.push(api);
            }
        }
        apis.sort_by_key(|a| self.apis.iter().position(|b| b.id == a.id));
        Ok(apis)
    }

    /// `scopes` limited to those of `apis` and the OpenID ones (RFC 8707 §2: the token is
    /// for those resources only). Each API must keep at least one scope, else its audience
    /// would silently vanish from the token.
    pub fn narrow_to<'a>(
        &self,
        scopes: ScopeSet<'a>,
        apis: &[&Api],
    ) -> Result<ScopeSet<'a>, InvalidTarget> {
        let kept = scopes.filter(|s| OPENID.contains(&s) || apis.iter().any(|a| a.has_scope(s)));
        if let Some(api) = apis.iter().find(|a| !kept.iter().any(|s| a.has_scope(s))) {
            return Err(InvalidTarget(format!(
                "No requested scope belongs to the resource {:?}",
                api.identifier
            )));
        }
        Ok(kept)
    }

    /// The `aud` of an access token for `scopes` (RFC 9068 §2.2): every API owning one of
    /// them, else (only OpenID scopes) the built-in API.
    pub fn audience_of(&self, scopes: &ScopeSet<'_>) -> (Vec<&Api>, Vec<String>) {
        let apis = self.audiences(scopes);
        let ids = if apis.is_empty() {
            vec![self.builtin().identifier.clone()]
        } else {
            apis.iter().map(|a| a.identifier.clone()).collect()
        };
        (apis, ids)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::snapshot;
    use super::*;

    fn res(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn resources_must_be_registered_well_formed_and_allowed() {
        let s = snapshot();
        let allowed = ScopeSet::parse("read invoices:read openid").unwrap();
        let apis = s
            .resolve_resources(
                &res(&["https://billing.example", "https://latch.example"]),
                &allowed,
            )
            .unwrap();
        let ids: Vec<_> = apis.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, [super::super::BUILTIN_ID, "api_1"]);
        for bad in [
            "https://billing.example#x",
            "billing",
            "https://other.example",
            "https://billing.example/",
        ] {
            assert!(
                s.resolve_resources(&res(&[bad]), &allowed).is_err(),
                "{bad}"
            );
        }
        let only_latch = ScopeSet::parse("read").unwrap();
        assert!(
            s.resolve_resources(&res(&["https://billing.example"]), &only_latch)
                .is_err()
        );
    }

    #[test]
    fn narrowing_keeps_the_apis_scopes_and_openid() {
        let s = snapshot();
        let billing = s.by_identifier("https://billing.example").unwrap();
        let all = ScopeSet::parse("openid read invoices:read").unwrap();
        let kept = s.narrow_to(all, &[billing]).unwrap();
        assert_eq!(kept.to_string(), "openid invoices:read");
        let none = ScopeSet::parse("openid read").unwrap();
        assert!(s.narrow_to(none, &[billing]).is_err());
        let (_, aud) = s.audience_of(&ScopeSet::parse("openid").unwrap());
        assert_eq!(aud, ["https://latch.example"]);
        let (_, aud) = s.audience_of(&ScopeSet::parse("read invoices:read").unwrap());
        assert_eq!(aud, ["https://latch.example", "https://billing.example"]);
    }
}
