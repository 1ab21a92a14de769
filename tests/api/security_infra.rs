//! Security review #9, infrastructure findings.

use latch::rate_limit::Rate;

use crate::helpers::*;

// ---------------------------------------------------------------------------------------
// Finding 15: IPv6 per-IP limits are per prefix.

#[tokio::test]
async fn ipv6_addresses_in_one_64_share_a_limit_and_other_64s_do_not() {
    // Arrange: one request per hour per address on the token and authorization endpoints.
    let app = spawn_app_with(|s| {
        s.rate_limit = true;
        s.behind_proxy = true;
        s.limits.token_ip = Rate::parse("1/h").unwrap();
        s.limits.authorize_ip = Rate::parse("1/h").unwrap();
    })
    .await;
    let token = async |ip: &str| {
        app.http
            .post(app.url("/oauth/token"))
            .header("x-forwarded-for", ip)
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .unwrap()
            .status()
    };
    let authorize = async |ip: &str| {
        app.http
            .get(app.url("/oauth/authorize"))
            .header("x-forwarded-for", ip)
            .send()
            .await
            .unwrap()
            .status()
    };

    // Act + Assert
    assert_ne!(token("2001:db8:1:2::1").await, 429);
    assert_eq!(
        token("2001:db8:1:2:ffff:ffff:ffff:fffe").await,
        429,
        "same /64"
    );
    assert_ne!(token("2001:db8:1:3::1").await, 429, "another /64");
    assert_ne!(authorize("2001:db8:9:9::1").await, 429);
    assert_eq!(authorize("2001:db8:9:9:abcd::7").await, 429, "same /64");
    assert_ne!(authorize("2001:db8:9:a::1").await, 429, "another /64");
}
