//! The Worker's HTTP API: auth, the route table, one module per resource, and the mapping of
//! errors to problem+json.

pub mod routes;

#[cfg(target_arch = "wasm32")]
mod auth;
#[cfg(target_arch = "wasm32")]
mod deliveries;
#[cfg(target_arch = "wasm32")]
mod destinations;
#[cfg(target_arch = "wasm32")]
mod error;
#[cfg(target_arch = "wasm32")]
mod events;
#[cfg(target_arch = "wasm32")]
mod filters;
#[cfg(target_arch = "wasm32")]
mod http;
#[cfg(target_arch = "wasm32")]
mod monitoring;
#[cfg(target_arch = "wasm32")]
mod probe;
#[cfg(target_arch = "wasm32")]
pub mod publish;
#[cfg(target_arch = "wasm32")]
mod retries;
#[cfg(target_arch = "wasm32")]
mod tenants;
#[cfg(target_arch = "wasm32")]
mod topics;
#[cfg(target_arch = "wasm32")]
mod transforms;
#[cfg(target_arch = "wasm32")]
mod views;

#[cfg(target_arch = "wasm32")]
pub use dispatch::handle;

#[cfg(target_arch = "wasm32")]
mod dispatch {
    use super::error::{ApiError, ApiResult};
    use super::http::{json, Ctx};
    use super::routes::{resolve, Op, Params, Resolved};
    use super::{
        auth, deliveries, destinations, events, filters, monitoring, probe, publish, retries,
        tenants, topics, transforms,
    };
    use crate::scheduler::client::SchedulerClient;
    use worker::{Env, Request, Response};

    /// Answers one request. Never fails: every error becomes a problem+json response.
    pub async fn handle(req: Request, env: Env) -> Response {
        match route(req, env).await {
            Ok(resp) => resp,
            Err(e) => e.into_response(),
        }
    }

    async fn route(mut req: Request, env: Env) -> ApiResult<Response> {
        let path = req.path();
        let (route, params) = match resolve(req.method().as_ref(), &path) {
            Resolved::Found(route, params) => (route, params),
            Resolved::MethodNotAllowed(allowed) => return Err(ApiError::MethodNotAllowed(allowed)),
            Resolved::NotFound => return Err(ApiError::NotFound(format!("route {path}"))),
        };
        let now = crate::runtime::now();
        let socket = route.op == Op::DestinationSocket;
        let principal = auth::authorize(&req, &env, route.access, &params, socket, now)?;
        let settings = crate::runtime::settings(&env)
            .map_err(|e| ApiError::Internal(format!("settings: {e}")))?;
        let ctx = Ctx {
            principal,
            db: env
                .d1("DB")
                .map_err(|e| ApiError::Internal(format!("D1 binding DB: {e}")))?,
            now,
            settings,
            env,
        };
        let result = dispatch(route.op, &params, &mut req, &ctx).await;
        forget_routing(route.op, &params);
        result
    }

    /// A change to what publishing routes by (a tenant's destinations, the tenant, the topic
    /// catalogue) is seen by this isolate's next publish at once; other isolates see it
    /// within the routing cache's TTL.
    fn forget_routing(op: Op, p: &Params) {
        match op {
            Op::CreateTenant
            | Op::DeleteTenant
            | Op::CreateDestination
            | Op::UpdateDestination
            | Op::DeleteDestination
            | Op::EnableDestination
            | Op::DisableDestination
            | Op::RotateSigningSecret => {
                if let Ok(t) = crate::core::ids::TenantId::parse(p.get("tenant_id")) {
                    crate::intake::forget_tenant(&t);
                } else {
                    crate::intake::forget_all();
                }
            }
            Op::CreateTopic | Op::DeleteTopic => crate::intake::forget_topics(),
            _ => {}
        }
    }

    /// A document read from the static assets, where `scripts/build.sh` places it: the API
    /// document (`openapi.json`; unit tests keep it equal to the route table and to what the
    /// types say), 26 KB of the gzipped wasm if embedded, and the type catalogue
    /// (`src/providers/types.json`), 5 KB.
    async fn asset(env: &Env, path: &str) -> ApiResult<Response> {
        let failed = |why: String| ApiError::Internal(format!("{path} (ASSETS): {why}"));
        let resp = env
            .assets("ASSETS")
            .map_err(|e| failed(e.to_string()))?
            .fetch(format!("https://assets.internal{path}"), None)
            .await
            .map_err(|e| failed(e.to_string()))?;
        match resp.status_code() {
            200 => Ok(resp),
            status => Err(failed(format!("status {status}"))),
        }
    }

    fn static_json(body: &'static str) -> ApiResult<Response> {
        let resp = Response::ok(body)?;
        resp.headers().set("content-type", "application/json")?;
        Ok(resp)
    }

    async fn dispatch(op: Op, p: &Params, req: &mut Request, ctx: &Ctx) -> ApiResult<Response> {
        let scheduler = SchedulerClient::new(&ctx.env);
        match op {
            Op::Health => json(200, &serde_json::json!({ "status": "ok" })),
            Op::OpenApi => asset(&ctx.env, "/v1/openapi.json").await,
            Op::DestinationTypes => asset(&ctx.env, "/v1/destination-types.json").await,
            Op::ListTemplates => static_json(crate::core::template::CATALOGUE),
            Op::TestTransform => transforms::test(req, ctx).await,
            Op::GetTemplate => match crate::core::template::view(p.get("template")) {
                Some(t) => json(200, &t),
                None => Err(ApiError::NotFound("template".into())),
            },
            Op::CreateTenant => tenants::create(req, ctx).await,
            Op::ListTenants => tenants::list(req, ctx).await,
            Op::GetTenant => tenants::get(p, ctx).await,
            Op::UpdateTenant => tenants::update(p, req, ctx).await,
            Op::DeleteTenant => tenants::delete(p, ctx, &scheduler).await,
            Op::CreateDestination => destinations::create(p, req, ctx, &scheduler).await,
            Op::ListDestinations => destinations::list(p, req, ctx).await,
            Op::GetDestination => destinations::get(p, ctx).await,
            Op::UpdateDestination => destinations::update(p, req, ctx, &scheduler).await,
            Op::DeleteDestination => destinations::delete(p, ctx, &scheduler).await,
            Op::EnableDestination => destinations::set_enabled(p, ctx, &scheduler, true).await,
            Op::DisableDestination => destinations::set_enabled(p, ctx, &scheduler, false).await,
            Op::RotateSigningSecret => destinations::rotate_secret(p, ctx, &scheduler).await,
            Op::DestinationStatus => destinations::status(p, ctx, &scheduler).await,
            Op::ResetCircuit => destinations::reset_circuit(p, ctx, &scheduler).await,
            Op::ListDeliveries => deliveries::list(p, req, ctx).await,
            Op::ListAttempts => deliveries::attempts(p, ctx).await,
            Op::RetryDelivery => retries::retry_delivery(p, ctx).await,
            Op::RetryDestination => retries::retry_destination(p, req, ctx).await,
            Op::ListEvents => events::list(p, req, ctx).await,
            Op::GetEvent => events::get(p, ctx).await,
            Op::RetryEvent => retries::retry_event(p, ctx).await,
            Op::CreateTopic => topics::create(req, ctx).await,
            Op::ListTopics => topics::list(req, ctx).await,
            Op::GetTopic => topics::get(p, ctx).await,
            Op::DeleteTopic => topics::delete(p, ctx).await,
            Op::TestFilter => filters::test(req, ctx).await,
            Op::Publish => publish::publish(req, ctx).await,
            Op::PublishBatch => publish::publish_batch(req, ctx).await,
            Op::MintPortalToken => tenants::mint_portal_token(p, req, ctx).await,
            Op::DestinationSocket => destinations::socket(p, req, ctx, &scheduler).await,
            Op::TestDestination => probe::test(p, req, ctx, &scheduler).await,
            Op::Metrics => monitoring::metrics(ctx).await,
            Op::DestinationStats => monitoring::stats(p, req, ctx).await,
        }
    }
}
