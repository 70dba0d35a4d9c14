//! The exchange: a credential fetched before the requests, the probe, and what the attempt
//! records keep of the request and the answer (credentials masked).

use super::*;
use crate::core::classify::classify;

/// Fetches a token from `/token` when it holds none, and sends it with each request.
#[derive(Default)]
struct TokenProvider {
    token: RefCell<Option<String>>,
}

impl Provider for TokenProvider {
    fn build(&self, batch: &[QueuedDelivery], _now: Millis) -> Result<Outbound, String> {
        let mut request = EchoProvider.request(batch)?;
        let token = self.token.borrow().clone().ok_or("no token")?;
        request.headers.push(("authorization".into(), token));
        Ok(Outbound::Http(request))
    }
    fn credential_request(&self, _now: Millis) -> Option<Result<CredentialRequest, String>> {
        self.token.borrow().is_none().then(|| {
            Ok(CredentialRequest {
                request: HttpRequest {
                    method: "POST",
                    url: "https://auth.example/token".into(),
                    headers: vec![],
                    body: vec![],
                },
                assertion: None,
            })
        })
    }
    fn accept_credential(&self, result: &TransportResult, now: Millis) -> Result<(), Verdict> {
        match result {
            Ok(r) if r.status == 200 => {
                *self.token.borrow_mut() = Some(r.body.clone());
                Ok(())
            }
            other => Err(classify(other, now)),
        }
    }
}

#[test]
fn a_credential_is_fetched_once_and_its_failure_is_every_batchs() {
    let c = clock();
    let w = World::new(&c, vec![status(503), status(200), status(200)]);
    let provider = TokenProvider::default();
    let s = settings(3, 10);
    w.push(delivery(1, 1_000));
    // The token endpoint answers 503: the delivery is retried, nothing else is sent.
    let r = w.run_with(&s, &provider);
    assert_eq!(r.attempts.len(), 1);
    assert_eq!(r.attempts[0].outcome, AttemptOutcome::Retry);
    assert_eq!(r.attempts[0].status_code, Some(503));
    assert_eq!(w.transport.sent.borrow().len(), 1);
    // Next run: the token (the 200's body), then the delivery carrying it.
    w.push(delivery(2, 1_000));
    w.advance_to(2_000);
    let r = w.run_with(&s, &provider);
    let sent = w.transport.sent.borrow();
    assert_eq!(sent[1].url, "https://auth.example/token");
    assert_eq!(sent[2].header("authorization"), Some("body 200"));
    assert!(r
        .attempts
        .iter()
        .all(|a| a.outcome == AttemptOutcome::Delivered));
    drop(sent);
    // The token is kept: a later run sends no exchange.
    w.push(delivery(3, 2_000));
    w.run_with(&s, &provider);
    let sent = w.transport.sent.borrow();
    assert!(sent[3..]
        .iter()
        .all(|r| r.url == "https://receiver.example/"));
}

#[test]
fn a_refused_credential_fails_the_deliveries_at_once() {
    let c = clock();
    let w = World::new(&c, vec![status(400)]);
    let provider = TokenProvider::default();
    w.push(delivery(1, 1_000));
    let r = w.run_with(&settings(3, 10), &provider);
    assert_eq!(r.attempts[0].outcome, AttemptOutcome::Failed);
    assert_eq!(r.attempts[0].status_code, Some(400));
    assert!(w.store.queue.borrow().is_empty());
}

#[test]
fn a_probe_runs_the_credential_step_and_one_request_and_leaves_the_queue_alone() {
    let c = clock();
    let w = World::new(&c, vec![status(200), status(404)]);
    let provider = TokenProvider::default();
    let d = delivery(1, 1_000);
    let report = block_on(probe(&provider, &w.transport, &c, &d, 1_000));
    assert_eq!(
        report,
        ProbeReport {
            ok: false,
            transient: false,
            status_code: Some(404),
            error: Some("HTTP 404".into()),
            response_body: Some("body 404".into()),
            duration_ms: 10,
        }
    );
    let sent = w.transport.sent.borrow();
    assert_eq!(sent.len(), 2, "the token, then the request");
    assert_eq!(sent[1].header("authorization"), Some("body 200"));
    assert!(w.store.queue.borrow().is_empty());
    assert_eq!(w.store.breaker(), Breaker::default());
}

/// Declares `x-custom` secret and sends it with a bearer token.
struct HeaderProvider;

impl Provider for HeaderProvider {
    fn build(&self, batch: &[QueuedDelivery], _now: Millis) -> Result<Outbound, String> {
        let mut request = EchoProvider.request(batch)?;
        request.headers.extend([
            ("authorization".into(), "Bearer s3cret".into()),
            ("x-custom".into(), "hidden".into()),
            ("x-visible".into(), "shown".into()),
        ]);
        Ok(Outbound::Http(request))
    }
    fn secret_headers(&self) -> Vec<String> {
        vec!["X-Custom".into()]
    }
}

#[test]
fn attempts_record_the_request_headers_with_credentials_masked() {
    let c = clock();
    let w = World::new(&c, vec![status(200)]);
    w.push(delivery(1, 1_000));
    let r = w.run_with(&settings(3, 10), &HeaderProvider);
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    assert_eq!(
        r.attempts[0].request_headers,
        Some(pairs(&[
            ("x-attempt", "1"),
            ("authorization", "********"),
            ("x-custom", "********"),
            ("x-visible", "shown"),
        ]))
    );
    // What was sent is untouched.
    assert_eq!(
        w.transport.sent.borrow()[0].header("authorization"),
        Some("Bearer s3cret")
    );
    // No request, no headers: an unbuildable one, or a refused credential.
    let w = World::new(&c, vec![status(400)]);
    let mut d = delivery(2, 1_000);
    d.payload = "unbuildable".into();
    w.push(d);
    assert_eq!(w.run(&settings(3, 10)).attempts[0].request_headers, None);
    w.push(delivery(3, 1_000));
    let r = w.run_with(&settings(3, 10), &TokenProvider::default());
    assert_eq!(r.attempts[0].request_headers, None);
}

#[test]
fn an_answer_that_echoes_a_credential_is_recorded_with_it_masked() {
    let c = clock();
    let echo = |code: u16| -> TransportResult {
        Ok(HttpResponse {
            status: code,
            headers: vec![],
            body: r#"{"message":"invalid token","received":"Bearer s3cret","custom":"hidden"}"#
                .into(),
        })
    };
    let w = World::new(&c, vec![echo(401)]);
    w.push(delivery(1, 1_000));
    let r = w.run_with(&settings(3, 10), &HeaderProvider);
    let body = r.attempts[0].response_body.clone().unwrap();
    assert!(
        !body.contains("s3cret") && !body.contains("hidden"),
        "{body}"
    );
    assert!(body.contains(r#""received":"********""#), "{body}");
    // The test send reports the answer the same way.
    let w = World::new(&c, vec![echo(401)]);
    let report = block_on(probe(
        &HeaderProvider,
        &w.transport,
        &c,
        &delivery(2, 1_000),
        1_000,
    ));
    let body = report.response_body.unwrap();
    assert!(
        !body.contains("s3cret") && !body.contains("hidden"),
        "{body}"
    );
}
