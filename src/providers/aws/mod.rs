//! The AWS client that the SQS, EventBridge and S3 providers share: an `AwsTarget` (region,
//! credentials, endpoint override) checked once and turned into each service's URL, one
//! signing function (SigV4 with `aws-sigv4`, time passed in), and AWS error responses read
//! into verdicts. The providers keep only their request shapes and response readings.

mod credentials;
mod errors;
mod sign;
mod target;

pub use credentials::{check_signed_header_value, AwsCredentials, MAX_ACCESS_KEY_ID_LEN};
pub use errors::{
    entry_verdict, error_verdict, is_transient_code, response_or_verdict, AwsError, TRANSIENT_CODES,
};
pub use sign::{sha256_hex, sign, SigningRules};
pub use target::{
    check_endpoint, check_region, dns_suffix, endpoint_base, AwsTarget, Protocol, Service,
    EVENTBRIDGE, S3, SQS,
};

#[cfg(test)]
mod tests;
