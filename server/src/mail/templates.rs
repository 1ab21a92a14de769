//! The mails Latch sends, each plain text and HTML (askama, `templates/mail/`), with the
//! link on a line of its own in both (mail clients that break long lines keep it whole,
//! and a person can copy it when the button does not work).

use askama::Template;

use super::{Kind, Outgoing};

#[derive(Template)]
#[template(path = "mail/password_reset.txt", whitespace = "preserve")]
struct ResetText<'a> {
    brand: &'a str,
    email: &'a str,
    link: &'a str,
    minutes: i64,
}

#[derive(Template)]
#[template(path = "mail/password_reset.html", whitespace = "preserve")]
struct ResetHtml<'a> {
    brand: &'a str,
    email: &'a str,
    link: &'a str,
    minutes: i64,
}

#[derive(Template)]
#[template(path = "mail/verify_email.txt", whitespace = "preserve")]
struct VerifyText<'a> {
    brand: &'a str,
    email: &'a str,
    link: &'a str,
    hours: i64,
}

#[derive(Template)]
#[template(path = "mail/verify_email.html", whitespace = "preserve")]
struct VerifyHtml<'a> {
    brand: &'a str,
    email: &'a str,
    link: &'a str,
    hours: i64,
}

fn render(t: &impl Template) -> Result<String, anyhow::Error> {
    t.render()
        .map_err(|e| anyhow::anyhow!("mail template: {e}"))
}

/// "Reset your password": `link` is `/password/reset?token=…` on the issuer.
pub fn password_reset(
    brand: &str,
    to: &str,
    link: &str,
    lifetime: chrono::TimeDelta,
) -> Result<Outgoing, anyhow::Error> {
    let minutes = lifetime.num_minutes();
    Ok(Outgoing {
        kind: Some(Kind::PasswordReset),
        to: to.to_owned(),
        subject: format!("Reset your {brand} password"),
        text: render(&ResetText {
            brand,
            email: to,
            link,
            minutes,
        })?,
        html: render(&ResetHtml {
            brand,
            email: to,
            link,
            minutes,
        })?,
    })
}

/// "Verify your email": `link` is `/email/verify?token=…` on the issuer.
pub fn verify_email(
    brand: &str,
    to: &str,
    link: &str,
    lifetime: chrono::TimeDelta,
) -> Result<Outgoing, anyhow::Error> {
    let hours = lifetime.num_hours();
    Ok(Outgoing {
        kind: Some(Kind::EmailVerify),
        to: to.to_owned(),
        subject: format!("Verify your email for {brand}"),
        text: render(&VerifyText {
            brand,
            email: to,
            link,
            hours,
        })?,
        html: render(&VerifyHtml {
            brand,
            email: to,
            link,
            hours,
        })?,
    })
}

#[derive(Template)]
#[template(path = "mail/email_change.txt", whitespace = "preserve")]
struct ChangeText<'a> {
    brand: &'a str,
    old: &'a str,
    email: &'a str,
    link: &'a str,
    hours: i64,
}

#[derive(Template)]
#[template(path = "mail/email_change.html", whitespace = "preserve")]
struct ChangeHtml<'a> {
    brand: &'a str,
    old: &'a str,
    email: &'a str,
    link: &'a str,
    hours: i64,
}

#[derive(Template)]
#[template(path = "mail/email_change_notice.txt", whitespace = "preserve")]
struct NoticeText<'a> {
    brand: &'a str,
    old: &'a str,
    new_masked: &'a str,
}

#[derive(Template)]
#[template(path = "mail/email_change_notice.html", whitespace = "preserve")]
struct NoticeHtml<'a> {
    brand: &'a str,
    old: &'a str,
    new_masked: &'a str,
}

/// "Confirm your new email", to the new address: `link` is `/email/change?token=…`. The
/// account's email changes only when it is opened.
pub fn email_change(
    brand: &str,
    old: &str,
    to: &str,
    link: &str,
    lifetime: chrono::TimeDelta,
) -> Result<Outgoing, anyhow::Error> {
    let hours = lifetime.num_hours();
    Ok(Outgoing {
        kind: Some(Kind::EmailChange),
        to: to.to_owned(),
        subject: format!("Confirm your new email for {brand}"),
        text: render(&ChangeText {
            brand,
            old,
            email: to,
            link,
            hours,
        })?,
        html: render(&ChangeHtml {
            brand,
            old,
            email: to,
            link,
            hours,
        })?,
    })
}

/// "Your email is changing", to the old address: no link (nothing to click that an
/// attacker could have asked for), the new address masked, and what to do if it was not
/// them.
pub fn email_change_notice(
    brand: &str,
    old: &str,
    new_masked: &str,
) -> Result<Outgoing, anyhow::Error> {
    Ok(Outgoing {
        kind: Some(Kind::EmailChangeNotice),
        to: old.to_owned(),
        subject: format!("Your {brand} email is changing"),
        text: render(&NoticeText {
            brand,
            old,
            new_masked,
        })?,
        html: render(&NoticeHtml {
            brand,
            old,
            new_masked,
        })?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_link_is_on_a_line_of_its_own_and_html_is_escaped() {
        let link = "https://id.example.com/password/reset?token=abc&x=1";
        let m =
            password_reset("Ex<ample>", "a@x.io", link, chrono::TimeDelta::minutes(30)).unwrap();
        assert!(m.text.lines().any(|l| l == link), "{}", m.text);
        assert!(m.text.contains("30 minutes"));
        assert!(m.text.contains("Ex<ample>"));
        let escaped = "https://id.example.com/password/reset?token=abc&#38;x=1";
        assert!(
            m.html
                .lines()
                .any(|l| l == escaped || l == link.replace('&', "&amp;")),
            "{}",
            m.html
        );
        assert!(!m.html.contains("Ex<ample>"));
        let v = verify_email("Latch", "a@x.io", link, chrono::TimeDelta::hours(24)).unwrap();
        assert!(v.text.lines().any(|l| l == link));
        assert!(v.text.contains("24 hours"));
    }
}
