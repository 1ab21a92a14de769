//! Cross-cutting HTTP concerns, in one pass per request: the request id (`request_id`: header,
//! log span and `/v1` error bodies), the client IP rule, the request-body deadline, the per-address
//! connection cap's answer, Prometheus metrics, and security headers.

use std::cell::Cell;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest, web};
use tracing::Instrument;

pub use crate::client_ip::ClientIp;
use crate::request_id::REQUEST_ID;

/// Whose `X-Forwarded-For` is believed, and how per-IP limits key an address. Built once at
/// start-up from the settings.
#[derive(Clone, Debug, Default)]
pub struct ProxyTrust {
    /// `LATCH_BEHIND_PROXY`: believe `X-Forwarded-For` from [`Self::trusted_proxies`].
    pub behind_proxy: bool,
    pub trusted_proxies: Vec<IpAddr>,
    /// `LATCH_IPV6_PREFIX`: per-IP limits key an IPv6 address by this prefix.
    pub v6_prefix: u8,
}

impl ProxyTrust {
    /// The peer address, unless Latch runs behind a proxy (`LATCH_BEHIND_PROXY`) and the
    /// peer is one of the trusted proxies: then the right-most `X-Forwarded-For` entry that
    /// is not itself a trusted proxy. Headers from anyone else are ignored.
    pub(crate) fn client_ip_of(&self, req: &ServiceRequest) -> Option<IpAddr> {
        let peer = req.peer_addr()?.ip();
        if !self.behind_proxy || !self.trusted_proxies.contains(&peer) {
            return Some(peer);
        }
        let xff = req
            .headers()
            .get_all("x-forwarded-for")
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(",");
        xff.rsplit(',')
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .find(|ip| !self.trusted_proxies.contains(ip))
            .or(Some(peer))
    }
}

/// What [`observe`] needs from the settings, given to the app as its own
/// `web::Data<Edge>` (built at start-up), so the middleware never reads `AppState`. Without
/// it (unit tests) no client IP is recorded, no body deadline is armed and no HSTS is sent.
#[derive(Clone, Debug)]
pub struct Edge {
    pub proxy: ProxyTrust,
    /// `LATCH_BODY_TIMEOUT`: see `BodyDeadline`.
    pub body_timeout: Duration,
    /// Send `Strict-Transport-Security` (served over TLS, or the issuer is `https`).
    pub hsts: bool,
    /// `Settings::brand`: made the request's `brand::CURRENT`, so every page this instance
    /// renders (error answers made here included) carries its brand.
    pub brand: std::sync::Arc<crate::brand::Brand>,
}

/// A cached pair of metric handles for one (method label, status) on one path.
type Handles = (&'static str, u16, metrics::Counter, metrics::Histogram);

/// Paths remembered per worker thread; past this the cache starts over.
const HANDLE_PATHS: usize = 1024;
/// Longer paths are never cached (ids in paths are short; anything longer is noise).
const HANDLE_PATH_LEN: usize = 128;
/// (method, status) pairs remembered per path.
const HANDLES_PER_PATH: usize = 16;

thread_local! {
    /// Metric handles per path, method and status, so the hot path neither re-runs route
    /// matching for the `route` label nor hashes label strings into the registry. Bounded
    /// in paths, path length and entries per path: only matched routes are cached, so
    /// made-up paths and methods cannot grow it.
    static HANDLES: std::cell::RefCell<std::collections::HashMap<String, Vec<Handles>>> = Default::default();
}

/// The `method` label: the methods of RFC 9110 §9 and PATCH (RFC 5789) as they are, every
/// extension method as `other`. Methods are client-chosen tokens (RFC 9110 §9.1); as labels
/// each new one would be a new series kept for the life of the process.
fn method_label(method: &actix_web::http::Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "PATCH" => "PATCH",
        _ => "other",
    }
}

/// The `status` label: a valid HTTP status code (100..=599), else `other`.
fn status_label(status: u16) -> std::borrow::Cow<'static, str> {
    if (100..=599).contains(&status) {
        status.to_string().into()
    } else {
        "other".into()
    }
}

/// `http_requests_total` and `http_request_duration_seconds` by method, route pattern and
/// status. Every label has a bounded set of values: the known methods or `other`, the
/// registered route patterns or `unmatched`, and the status codes.
fn record_metrics(req: &HttpRequest, method: &actix_web::http::Method, status: u16, secs: f64) {
    let method = method_label(method);
    HANDLES.with(|cell| {
        let mut map = cell.borrow_mut();
        if let Some(hit) = map
            .get(req.path())
            .and_then(|v| v.iter().find(|h| h.0 == method && h.1 == status))
        {
            hit.2.increment(1);
            hit.3.record(secs);
            return;
        }
        // Only a fully matched resource has a pattern; default services (404s) do not.
        let route = req.match_pattern().filter(|p| !p.is_empty());
        let cacheable = route.is_some() && req.path().len() <= HANDLE_PATH_LEN;
        let labels = [
            ("method", std::borrow::Cow::Borrowed(method)),
            (
                "route",
                route.map_or(std::borrow::Cow::Borrowed("unmatched"), Into::into),
            ),
            ("status", status_label(status)),
        ];
        let counter = metrics::counter!("http_requests_total", &labels);
        let histogram = metrics::histogram!("http_request_duration_seconds", &labels);
        counter.increment(1);
        histogram.record(secs);
        if !cacheable {
            return;
        }
        if map.len() >= HANDLE_PATHS && !map.contains_key(req.path()) {
            map.clear();
        }
        let entry = map.entry(req.path().to_owned()).or_default();
        if entry.len() < HANDLES_PER_PATH {
            entry.push((method, status, counter, histogram));
        }
    });
}

/// The default policy of every HTML page. `form-action 'self'` keeps an injected form from
/// posting elsewhere (CSP3 §6.4.1); a handler that must allow more (the consent page posts
/// and redirects to the client) sets its own header, built from this one by
/// `authorize::csp`, which is kept.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; script-src 'self'; \
                   connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// RFC 6797 §6.1: one year; no `includeSubDomains`, since other hosts under the issuer's
/// domain are not ours to commit.
const HSTS: &str = "max-age=31536000";

/// A request body that must arrive whole before its deadline (`LATCH_BODY_TIMEOUT`): a body
/// trickled a byte at a time would otherwise hold its connection forever. When the deadline
/// passes, the stream ends with a `TimedOut` error and `fired` tells [`observe`] to answer 408.
/// The timer is armed only when the body is not already buffered (small form bodies usually
/// arrive with the headers), so the common case registers no timer at all.
struct BodyDeadline {
    inner: actix_web::dev::Payload,
    deadline: tokio::time::Instant,
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether the stream has already asked to be polled again once instead of arming the
    /// timer (see `poll_next`).
    yielded: bool,
    fired: Rc<Cell<bool>>,
}

impl futures_util::Stream for BodyDeadline {
    type Item = Result<web::Bytes, actix_web::error::PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.fired.get() {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut this.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        // actix polls the handler once before it feeds the body it already read with the
        // headers, so the first `Pending` is nearly always that, not a slow client: ask to be
        // polled again instead of registering a timer in tokio's wheel for every POST. A body
        // that is really late gets its timer on the next poll, so the bound holds.
        if this.timer.is_none() && !this.yielded {
            this.yielded = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        let deadline = this.deadline;
        let timer = this
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.as_mut().poll(cx).is_ready() {
            this.fired.set(true);
            return Poll::Ready(Some(Err(actix_web::error::PayloadError::Io(
                std::io::Error::new(std::io::ErrorKind::TimedOut, "request body timed out"),
            ))));
        }
        Poll::Pending
    }
}

pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, Error> {
    let brand = req
        .app_data::<web::Data<Edge>>()
        .map_or_else(crate::brand::default_brand, |e| e.brand.clone());
    crate::brand::CURRENT
        .scope(brand, observe_branded(req, next))
        .await
}

async fn observe_branded(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<actix_web::body::BoxBody>, Error> {
    let started = Instant::now();
    let id: Arc<str> = uuid::Uuid::now_v7().simple().to_string().into();
    let mut hsts = false;
    let mut body_timeout = None;
    if let Some(edge) = req.app_data::<web::Data<Edge>>() {
        hsts = edge.hsts;
        body_timeout = Some(edge.body_timeout);
        if let Some(ip) = edge.proxy.client_ip_of(&req) {
            let v6_prefix = edge.proxy.v6_prefix;
            req.extensions_mut().insert(ClientIp::new(ip, v6_prefix));
        }
    }
    // Only requests that have a body pay for the deadline (GETs carry `Payload::None`).
    let body_timed_out = match (body_timeout, req.take_payload()) {
        (_, actix_web::dev::Payload::None) => None,
        (None, payload) => {
            req.set_payload(payload);
            None
        }
        (Some(timeout), payload) => {
            let fired = Rc::new(Cell::new(false));
            req.set_payload(actix_web::dev::Payload::Stream {
                payload: Box::pin(BodyDeadline {
                    inner: payload,
                    deadline: tokio::time::Instant::now() + timeout,
                    timer: None,
                    yielded: false,
                    fired: fired.clone(),
                }),
            });
            Some(fired)
        }
    };
    let over_connection_cap = req
        .conn_data::<crate::connections::ConnectionGuard>()
        .is_some_and(|g| g.over_limit());
    let method = req.method().clone();
    let span =
        tracing::info_span!("request", request_id = %id, method = %method, path = %req.path());
    let mut res = if over_connection_cap {
        let answer = crate::errors::by_path::too_many_connections(req.request());
        req.into_response(answer)
    } else {
        // Note: the HttpRequest must not be cloned before routing (actix needs it unique).
        REQUEST_ID
            .scope(id.clone(), next.call(req))
            .instrument(span.clone())
            .await?
            .map_into_boxed_body()
    };
    let timed_out = body_timed_out.is_some_and(|f| f.get());
    if timed_out {
        // RFC 9110 §15.5.9: 408, and the connection is closed since the rest of the body may
        // still be on its way.
        let (req, _) = res.into_parts();
        let answer = crate::errors::by_path::request_timeout(&req);
        res = ServiceResponse::new(req, answer);
    }
    if over_connection_cap || timed_out {
        res.response_mut()
            .head_mut()
            .set_connection_type(actix_web::http::ConnectionType::Close);
    }
    let status = res.status();
    let elapsed = started.elapsed();
    record_metrics(
        res.request(),
        &method,
        status.as_u16(),
        elapsed.as_secs_f64(),
    );
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::warn!(
                status = status.as_u16(),
                elapsed_ms = elapsed.as_secs_f64() * 1e3,
                "request handled"
            );
        } else {
            tracing::debug!(
                status = status.as_u16(),
                elapsed_ms = elapsed.as_secs_f64() * 1e3,
                "request handled"
            );
        }
    });

    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&id) {
        h.insert(HeaderName::from_static("x-request-id"), v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    let is_html = h
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if hsts && !h.contains_key(header::STRICT_TRANSPORT_SECURITY) {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
    if is_html {
        if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
            h.insert(
                header::CONTENT_SECURITY_POLICY,
                HeaderValue::from_static(CSP),
            );
        }
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        if !h.contains_key(header::CACHE_CONTROL) {
            h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
    Ok(res)
}

#[cfg(test)]
mod tests {
    use actix_web::http::header;
    use actix_web::middleware::from_fn;
    use actix_web::test as atest;
    use actix_web::{App, HttpResponse, web};

    #[test]
    fn only_known_methods_become_labels() {
        let m = |s: &str| actix_web::http::Method::from_bytes(s.as_bytes()).unwrap();
        assert_eq!(super::method_label(&m("GET")), "GET");
        assert_eq!(super::method_label(&m("PATCH")), "PATCH");
        assert_eq!(super::method_label(&m("get")), "other");
        assert_eq!(super::method_label(&m("PROPFIND")), "other");
        assert_eq!(super::status_label(200), "200");
        assert_eq!(super::status_label(999), "other");
    }

    #[actix_web::test]
    async fn html_gets_the_default_csp_unless_the_handler_set_its_own() {
        let app = atest::init_service(
            App::new()
                .wrap(from_fn(super::observe))
                .route(
                    "/plain",
                    web::get()
                        .to(|| async { HttpResponse::Ok().content_type("text/html").finish() }),
                )
                .route(
                    "/own",
                    web::get().to(|| async {
                        HttpResponse::Ok()
                            .content_type("text/html")
                            .insert_header((
                                header::CONTENT_SECURITY_POLICY,
                                "form-action 'self' https://client.example",
                            ))
                            .finish()
                    }),
                ),
        )
        .await;
        let csp = |res: &actix_web::dev::ServiceResponse| {
            res.headers()
                .get(header::CONTENT_SECURITY_POLICY)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let plain =
            atest::call_service(&app, atest::TestRequest::get().uri("/plain").to_request()).await;
        assert!(
            csp(&plain).contains("form-action 'self';"),
            "{}",
            csp(&plain)
        );
        let own =
            atest::call_service(&app, atest::TestRequest::get().uri("/own").to_request()).await;
        assert_eq!(csp(&own), "form-action 'self' https://client.example");
        assert_eq!(own.headers().get(header::X_FRAME_OPTIONS).unwrap(), "DENY");
    }

    mod prop {
        use super::super::*;
        use actix_web::http::header::HeaderValue;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(hostile_config!())]

            /// Any `X-Forwarded-For` values never panic; the address found is the peer or an
            /// untrusted address written in the header, and from an untrusted peer always the peer.
            #[test]
            fn prop_forwarded_for_never_panics(
                values in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..60), 0..4),
                addrs in prop::collection::vec(any::<std::net::IpAddr>(), 0..4),
                trusted_peer in any::<bool>(),
            ) {
                let proxy: IpAddr = "10.0.0.1".parse().unwrap();
                let peer: IpAddr = if trusted_peer { proxy } else { "192.0.2.9".parse().unwrap() };
                let trust = ProxyTrust { behind_proxy: true, trusted_proxies: vec![proxy], v6_prefix: 64 };
                let mut req = actix_web::test::TestRequest::default()
                    .peer_addr(std::net::SocketAddr::new(peer, 1234));
                let joined = addrs.iter().map(|a| format!(" {a} ")).collect::<Vec<_>>().join(",");
                req = req.append_header(("x-forwarded-for", joined.as_str()));
                for v in &values {
                    if let Ok(v) = HeaderValue::from_bytes(v) {
                        req = req.append_header(("x-forwarded-for", v));
                    }
                }
                let req = req.to_srv_request();
                let ip = trust.client_ip_of(&req);
                prop_assert!(ip.is_some());
                let ip = ip.unwrap();
                if trusted_peer {
                    prop_assert!(ip == peer || ip != proxy);
                } else {
                    prop_assert_eq!(ip, peer);
                }
            }
        }
    }
}
