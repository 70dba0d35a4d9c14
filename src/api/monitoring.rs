//! Monitoring: `GET /metrics` (every destination's counters and state in the Prometheus
//! text format, for the platform: admin key only) and `GET …/destinations/{id}/stats`
//! (a tenant's destination's recent history, for charts).

use super::error::{ApiError, ApiResult};
use super::http::{json, query_param, Ctx};
use super::routes::Params;
use super::tenants::tenant_id;
use crate::core::ids::DestinationId;
use crate::core::metrics::{render, Histogram, CONTENT_TYPE};
use crate::core::stats::{parse_window, percentile};
use crate::core::time::to_rfc3339;
use crate::store::{destinations, monitoring as store};
use serde_json::{json, Value};
use worker::{Request, Response};

/// The window when none is asked for.
const DEFAULT_WINDOW: &str = "24h";

/// `GET /metrics`: two D1 reads' worth (the counters are kept as attempts are recorded, the
/// queue depth and circuit as each scheduler reports them), no call to any scheduler.
pub async fn metrics(ctx: &Ctx) -> ApiResult<Response> {
    let all = store::metrics(&ctx.db).await?;
    let resp = Response::ok(render(&all))?;
    resp.headers().set("content-type", CONTENT_TYPE)?;
    Ok(resp)
}

#[derive(Default, Clone)]
struct Sums {
    delivered: u64,
    failed: u64,
    retried: u64,
    latency_sum_ms: u64,
    latency: Histogram,
}

impl Sums {
    fn add(&mut self, r: &store::StatsRow) {
        self.delivered += r.delivered;
        self.failed += r.failed;
        self.retried += r.retried;
        self.latency_sum_ms += r.latency_sum_ms;
        for (a, b) in self.latency.iter_mut().zip(r.latency) {
            *a += b;
        }
    }

    fn view(&self) -> Value {
        let count: u64 = self.latency.iter().sum();
        let latency = (count > 0).then(|| {
            json!({
                "count": count,
                "mean": ((self.latency_sum_ms as f64 / count as f64) * 10.0).round() / 10.0,
                "p50": percentile(&self.latency, 0.5),
                "p90": percentile(&self.latency, 0.9),
                "p99": percentile(&self.latency, 0.99),
            })
        });
        json!({
            "delivered": self.delivered,
            "failed": self.failed,
            "retried": self.retried,
            "latency_ms": latency,
        })
    }
}

/// `GET …/destinations/{destination_id}/stats?window=1h`: delivered, failed and retried
/// attempts per interval, with latency percentiles (estimated from the histogram buckets),
/// every interval of the window present (zeros where nothing happened).
pub async fn stats(p: &Params, req: &Request, ctx: &Ctx) -> ApiResult<Response> {
    let tenant = tenant_id(p)?;
    let not_found = || ApiError::NotFound("destination".into());
    let destination = DestinationId::parse(p.get("destination_id")).map_err(|_| not_found())?;
    destinations::get(&ctx.db, &tenant, &destination)
        .await?
        .ok_or_else(not_found)?;
    let raw = query_param(req, "window").unwrap_or_else(|| DEFAULT_WINDOW.into());
    let window = parse_window(&raw).map_err(|e| ApiError::field("window", e))?;
    let (from, to) = window.range(ctx.now);
    let rows = store::stats(&ctx.db, &tenant, &destination, from, to, window.interval_ms).await?;
    let mut points = vec![Sums::default(); window.points()];
    let mut total = Sums::default();
    for r in &rows {
        if let Some(p) = points.get_mut(r.slot) {
            p.add(r);
        }
        total.add(r);
    }
    let points: Vec<Value> = points
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut v = s.view();
            v["start"] = json!(to_rfc3339(from + i as i64 * window.interval_ms));
            v
        })
        .collect();
    json(
        200,
        &json!({
            "destination_id": destination,
            "window": raw,
            "interval": window.interval_label(),
            "from": to_rfc3339(from),
            "to": to_rfc3339(to),
            "points": points,
            "total": total.view(),
        }),
    )
}
