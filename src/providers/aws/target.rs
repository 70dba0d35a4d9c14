//! Where an AWS destination sends and as whom: the region, the credentials and an optional
//! endpoint override, checked once, turned into the service's URL, and used to sign every
//! request the SQS, EventBridge and S3 providers build.

use super::credentials::AwsCredentials;
use super::sign::{sign, SigningRules};
use crate::core::destination::MASK;
use crate::core::time::Millis;
use crate::core::validate::{check_url, join_path, FieldError};
use crate::core::wire::HttpRequest;
use serde::{Deserialize, Serialize};

/// One AWS service as the providers call it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// How error texts name it, e.g. `SQS`.
    pub label: &'static str,
    /// The signing name (the credential scope), which is also the first label of the
    /// service's regional host (`sqs.eu-west-1.amazonaws.com`).
    pub name: &'static str,
    pub protocol: Protocol,
}

/// How a service takes its requests, which decides how they are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// The AWS JSON protocol: `POST /`, the operation in `x-amz-target`, a body of this
    /// content type; standard SigV4.
    Json { content_type: &'static str },
    /// S3's REST API: the payload hash travels as `x-amz-content-sha256` and the path is
    /// signed exactly as sent.
    S3Rest,
}

/// SQS over the JSON protocol (`AmazonSQS.*` operations).
pub const SQS: Service = Service {
    label: "SQS",
    name: "sqs",
    protocol: Protocol::Json {
        content_type: "application/x-amz-json-1.0",
    },
};

/// EventBridge (`AWSEvents.*` operations).
pub const EVENTBRIDGE: Service = Service {
    label: "EventBridge",
    name: "events",
    protocol: Protocol::Json {
        content_type: "application/x-amz-json-1.1",
    },
};

/// S3's REST API.
pub const S3: Service = Service {
    label: "S3",
    name: "s3",
    protocol: Protocol::S3Rest,
};

/// The AWS part of a destination config, flattened into it: the JSON fields are `region`,
/// `access_key_id`, `secret_access_key`, `session_token` and `endpoint`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "TargetFields", into = "TargetFields")]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
pub struct AwsTarget {
    pub region: String,
    pub credentials: AwsCredentials,
    /// Another origin to send to instead of the service's regional endpoint (LocalStack,
    /// moto, MinIO, a VPC endpoint).
    pub endpoint: Option<String>,
}

/// `AwsTarget` as its flat JSON fields. A plain struct (no nested `flatten`), so that the
/// configs that flatten it still refuse unknown fields; `AwsTarget`'s JSON Schema is this one's.
#[derive(Serialize, Deserialize)]
#[cfg_attr(not(target_arch = "wasm32"), derive(schemars::JsonSchema))]
struct TargetFields {
    /// The AWS region, e.g. `eu-west-1`.
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 1)))]
    region: String,
    #[cfg_attr(
        not(target_arch = "wasm32"),
        schemars(length(min = 1, max = 128), regex(pattern = "^[A-Za-z0-9_]+$"))
    )]
    access_key_id: String,
    #[cfg_attr(not(target_arch = "wasm32"), schemars(length(min = 1), extend("x-secret" = true, "writeOnly" = true)))]
    secret_access_key: String,
    /// For temporary (STS) credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(extend("x-secret" = true, "writeOnly" = true)))]
    session_token: Option<String>,
    /// Another origin to send to instead of the service's regional endpoint (LocalStack,
    /// moto, MinIO, a VPC endpoint); S3 addresses it path style.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(not(target_arch = "wasm32"), schemars(url))]
    endpoint: Option<String>,
}

impl From<TargetFields> for AwsTarget {
    fn from(f: TargetFields) -> Self {
        AwsTarget {
            region: f.region,
            credentials: AwsCredentials {
                access_key_id: f.access_key_id,
                secret_access_key: f.secret_access_key,
                session_token: f.session_token,
            },
            endpoint: f.endpoint,
        }
    }
}

impl From<AwsTarget> for TargetFields {
    fn from(t: AwsTarget) -> Self {
        TargetFields {
            region: t.region,
            access_key_id: t.credentials.access_key_id,
            secret_access_key: t.credentials.secret_access_key,
            session_token: t.credentials.session_token,
            endpoint: t.endpoint,
        }
    }
}

impl AwsTarget {
    /// Every problem with the region, the credentials and the endpoint, in that order, the
    /// fields named under `prefix` (e.g. `config.region`).
    pub fn validate(&self, prefix: &str, allow_private: bool) -> Vec<FieldError> {
        let mut errors = vec![];
        errors.extend(check_region(&join_path(prefix, "region"), &self.region));
        errors.extend(self.credentials.validate(prefix));
        if let Some(endpoint) = &self.endpoint {
            errors.extend(check_endpoint(
                &join_path(prefix, "endpoint"),
                endpoint,
                allow_private,
            ));
        }
        errors
    }

    /// A config that flattens an `AwsTarget`, as the API shows it: the secret access key and
    /// the session token masked, the access key id left visible.
    pub fn masked_json(config: &impl Serialize) -> serde_json::Value {
        let mut v = serde_json::to_value(config).unwrap_or_default();
        for key in ["secret_access_key", "session_token"] {
            if let Some(field) = v.get_mut(key) {
                *field = serde_json::Value::String(MASK.into());
            }
        }
        v
    }

    /// The base URL of a service's requests, with a trailing slash: the endpoint override,
    /// or the service's regional endpoint.
    pub fn service_url(&self, service: &Service) -> String {
        match &self.endpoint {
            Some(e) => format!("{}/", endpoint_base(e)),
            None => format!("{}/", self.regional_origin(service.name)),
        }
    }

    /// `https://{host}.{region}.amazonaws.com` (`.com.cn` in the China regions), for a host
    /// label such as `sqs` or, for S3's virtual-hosted style, `{bucket}.s3`.
    pub fn regional_origin(&self, host: &str) -> String {
        format!(
            "https://{host}.{}.{}",
            self.region,
            dns_suffix(&self.region)
        )
    }

    /// `request`, signed for `service` with these credentials at `now`: `x-amz-date`,
    /// `authorization` and, with temporary credentials, `x-amz-security-token` added (and
    /// `x-amz-content-sha256` for S3). Every header already on it is signed, together with
    /// the URL's host.
    pub fn signed(
        &self,
        service: &Service,
        mut request: HttpRequest,
        now: Millis,
    ) -> Result<HttpRequest, String> {
        let rules = match service.protocol {
            Protocol::Json { .. } => SigningRules::Standard,
            Protocol::S3Rest => SigningRules::S3,
        };
        sign(
            &mut request,
            &self.credentials,
            &self.region,
            service.name,
            rules,
            now,
        )?;
        Ok(request)
    }

    /// One call of a JSON-protocol service, signed: `POST url` with the operation (e.g.
    /// `AmazonSQS.SendMessage`) in `x-amz-target`.
    pub fn json_call(
        &self,
        service: &Service,
        url: String,
        operation: &str,
        body: Vec<u8>,
        now: Millis,
    ) -> Result<HttpRequest, String> {
        let Protocol::Json { content_type } = service.protocol else {
            return Err(format!(
                "{} does not speak the JSON protocol",
                service.label
            ));
        };
        let request = HttpRequest {
            method: "POST",
            url,
            headers: vec![
                ("content-type".into(), content_type.into()),
                ("x-amz-target".into(), operation.into()),
            ],
            body,
        };
        self.signed(service, request, now)
    }
}

/// A region name such as `eu-west-1` or `us-gov-west-1`: it becomes part of host names and of
/// the signing scope, so only lower-case letters, digits and inner hyphens.
pub fn check_region(field: &str, region: &str) -> Option<FieldError> {
    let ok = (1..=32).contains(&region.len())
        && region.starts_with(|c: char| c.is_ascii_lowercase())
        && !region.ends_with('-')
        && region
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    (!ok).then(|| FieldError::new(field, "an AWS region such as 'eu-west-1'"))
}

/// An endpoint override (LocalStack, moto, a VPC endpoint): an http(s) origin, no path.
pub fn check_endpoint(field: &str, raw: &str, allow_private: bool) -> Option<FieldError> {
    match check_url(raw, allow_private) {
        Err(e) => Some(FieldError::new(field, e)),
        Ok(url) if url.path() != "/" || url.query().is_some() || url.fragment().is_some() => {
            Some(FieldError::new(
                field,
                "an origin only, e.g. 'http://localhost:4566', no path",
            ))
        }
        Ok(_) => None,
    }
}

/// An endpoint override as the base of request URLs (no trailing slash), in the form the
/// runtime sends it. `fetch` parses the URL and sends the host lower-cased, IPv4 shorthand
/// expanded (`127.1` is `127.0.0.1`) and a default port dropped; SigV4 signs the `host`, so
/// a URL signed as written (`http://LOCALHOST:4566`) would never match what AWS recomputes.
/// The URL is therefore built from the parsed origin, which is exactly what is sent.
pub fn endpoint_base(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(url) if url.origin().is_tuple() => url.origin().ascii_serialization(),
        // Unreachable for a validated config (an http(s) origin); kept total all the same.
        _ => raw.trim_end_matches('/').to_string(),
    }
}

/// The DNS suffix of a region's endpoints: the China regions live under `amazonaws.com.cn`.
pub fn dns_suffix(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "amazonaws.com.cn"
    } else {
        "amazonaws.com"
    }
}
