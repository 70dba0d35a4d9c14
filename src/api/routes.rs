//! The route table: the one list of what the API answers. The dispatcher matches against it,
//! and a test holds `openapi.json` to it, so the two cannot drift apart.

/// What a request asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Health,
    OpenApi,
    CreateTenant,
    ListTenants,
    GetTenant,
    UpdateTenant,
    DeleteTenant,
    CreateDestination,
    ListDestinations,
    GetDestination,
    UpdateDestination,
    DeleteDestination,
    EnableDestination,
    DisableDestination,
    RotateSigningSecret,
    DestinationStatus,
    ResetCircuit,
    ListDeliveries,
    ListAttempts,
    RetryDelivery,
    RetryDestination,
    ListEvents,
    GetEvent,
    RetryEvent,
    CreateTopic,
    ListTopics,
    GetTopic,
    DeleteTopic,
    TestFilter,
    DestinationTypes,
    ListTemplates,
    GetTemplate,
    TestTransform,
    Publish,
    PublishBatch,
    MintPortalToken,
    DestinationSocket,
    TestDestination,
    Metrics,
    DestinationStats,
}

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone (the health check).
    Public,
    /// The platform's admin key only.
    Admin,
    /// The admin key, or a tenant token of the tenant named in the path.
    Tenant,
    /// The admin key or any tenant token (catalogues shared by every tenant).
    Anyone,
}

pub struct Route {
    pub method: &'static str,
    /// OpenAPI-style template: `{name}` segments are parameters.
    pub path: &'static str,
    pub op: Op,
    pub access: Access,
}

const TENANT: &str = "/v1/tenants/{tenant_id}";

const fn starts_with(s: &str, prefix: &str) -> bool {
    let (s, p) = (s.as_bytes(), prefix.as_bytes());
    if s.len() < p.len() {
        return false;
    }
    let mut i = 0;
    while i < p.len() {
        if s[i] != p[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// A route under a tenant is open to that tenant's tokens; any other needs the admin key.
const fn route(method: &'static str, path: &'static str, op: Op) -> Route {
    let access = if starts_with(path, TENANT) {
        Access::Tenant
    } else {
        Access::Admin
    };
    Route {
        method,
        path,
        op,
        access,
    }
}

const fn with(access: Access, r: Route) -> Route {
    Route { access, ..r }
}

pub const ROUTES: &[Route] = &[
    with(Access::Public, route("GET", "/healthz", Op::Health)),
    // The routes taken most, first: `resolve` tries the table in order.
    route("POST", "/v1/publish", Op::Publish),
    route("POST", "/v1/publish/batch", Op::PublishBatch),
    with(
        Access::Anyone,
        route("GET", "/v1/openapi.json", Op::OpenApi),
    ),
    route("POST", "/v1/tenants", Op::CreateTenant),
    route("GET", "/v1/tenants", Op::ListTenants),
    route("GET", TENANT, Op::GetTenant),
    with(Access::Admin, route("PATCH", TENANT, Op::UpdateTenant)),
    with(Access::Admin, route("DELETE", TENANT, Op::DeleteTenant)),
    with(
        Access::Admin,
        route(
            "POST",
            "/v1/tenants/{tenant_id}/portal",
            Op::MintPortalToken,
        ),
    ),
    route(
        "POST",
        "/v1/tenants/{tenant_id}/destinations",
        Op::CreateDestination,
    ),
    route(
        "GET",
        "/v1/tenants/{tenant_id}/destinations",
        Op::ListDestinations,
    ),
    route(
        "GET",
        "/v1/tenants/{tenant_id}/destinations/{destination_id}",
        Op::GetDestination,
    ),
    route(
        "PATCH",
        "/v1/tenants/{tenant_id}/destinations/{destination_id}",
        Op::UpdateDestination,
    ),
    route(
        "DELETE",
        "/v1/tenants/{tenant_id}/destinations/{destination_id}",
        Op::DeleteDestination,
    ),
    route(
        "POST",
        "/v1/tenants/{tenant_id}/destinations/{destination_id}/enable",
        Op::EnableDestination,
    ),
    route(
        "POST",
        "/v1/tenants/{tenant_id}/destinations/{destination_id}/disable",
        Op::DisableDestination,
    ),
    route(
        "POST",
        "/v1/tenants/{tenant_id}/destinations/{destination_id}/signing-secret/rotate",
        Op::RotateSigningSecret,
    ),
    route(
        "GET",
        "/v1/tenants/{tenant_id}/destinations/{destination_id}/status",
        Op::DestinationStatus,
    ),
    route(
        "GET",
        "/v1/tenants/{tenant_id}/destinations/{destination_id}/ws",
        Op::DestinationSocket,
    ),
    route(
        "POST",
        "/v1/tenants/{tenant_id}/destinations/{destination_id}/test",
        Op::TestDestination,
    ),
    route(
        "POST",
        "/v1/tenants/{tenant_id}/destinations/{destination_id}/circuit/reset",
        Op::ResetCircuit,
    ),
    route(
        "GET",
        "/v1/tenants/{tenant_id}/destinations/{destination_id}/deliveries",
        Op::ListDeliveries,
    ),
    route(
        "GET",
        "/v1/tenants/{tenant_id}/destinations/{destination_id}/deliveries/{delivery_id}/attempts",
        Op::ListAttempts,
    ),
    route(
        "POST",
        "/v1/tenants/{tenant_id}/destinations/{destination_id}/deliveries/{delivery_id}/retry",
        Op::RetryDelivery,
    ),
    route(
        "POST",
        "/v1/tenants/{tenant_id}/destinations/{destination_id}/retry",
        Op::RetryDestination,
    ),
    route("GET", "/v1/tenants/{tenant_id}/events", Op::ListEvents),
    route(
        "GET",
        "/v1/tenants/{tenant_id}/events/{event_id}",
        Op::GetEvent,
    ),
    route(
        "POST",
        "/v1/tenants/{tenant_id}/events/{event_id}/retry",
        Op::RetryEvent,
    ),
    route("POST", "/v1/topics", Op::CreateTopic),
    with(Access::Anyone, route("GET", "/v1/topics", Op::ListTopics)),
    with(
        Access::Anyone,
        route("GET", "/v1/topics/{topic}", Op::GetTopic),
    ),
    route("DELETE", "/v1/topics/{topic}", Op::DeleteTopic),
    with(
        Access::Anyone,
        route("POST", "/v1/filters/test", Op::TestFilter),
    ),
    with(
        Access::Anyone,
        route("GET", "/v1/destination-types", Op::DestinationTypes),
    ),
    with(
        Access::Anyone,
        route("GET", "/v1/templates", Op::ListTemplates),
    ),
    with(
        Access::Anyone,
        route("GET", "/v1/templates/{template}", Op::GetTemplate),
    ),
    with(
        Access::Anyone,
        route("POST", "/v1/transforms/test", Op::TestTransform),
    ),
    // Monitoring: every tenant's series, so the admin key only.
    route("GET", "/metrics", Op::Metrics),
    route(
        "GET",
        "/v1/tenants/{tenant_id}/destinations/{destination_id}/stats",
        Op::DestinationStats,
    ),
];

/// Path parameters by name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Params(Vec<(&'static str, String)>);

impl Params {
    pub fn get(&self, name: &str) -> &str {
        self.0
            .iter()
            .find(|(k, _)| *k == name)
            .map_or("", |(_, v)| v.as_str())
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    Found(&'static Route, Params),
    /// The path exists, the method does not: these are allowed.
    MethodNotAllowed(Vec<&'static str>),
    NotFound,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

impl PartialEq for Route {
    fn eq(&self, other: &Self) -> bool {
        self.method == other.method && self.path == other.path
    }
}
impl Eq for Route {}

fn match_path(template: &'static str, path: &str) -> Option<Params> {
    let mut t = template.split('/');
    let mut p = path.split('/');
    let mut params = Params::default();
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(params),
            (Some(ts), Some(ps)) => {
                if let Some(name) = ts.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    if ps.is_empty() {
                        return None;
                    }
                    params.0.push((name, decode_segment(ps)?));
                } else if ts != ps {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

/// A path parameter as the client meant it: percent-decoded once, here and nowhere else, so
/// `/v1/topics/a%3Ab` names the topic `a:b` (clients and URL libraries encode reserved
/// characters). Splitting on `/` happens before decoding, so `%2F` stays inside its segment.
/// Bytes that do not decode to UTF-8 name nothing: the route does not match (404).
fn decode_segment(segment: &str) -> Option<String> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// Finds the route for a method and path (a trailing slash is tolerated).
pub fn resolve(method: &str, path: &str) -> Resolved {
    let path = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let mut allowed = vec![];
    for r in ROUTES {
        if let Some(params) = match_path(r.path, path) {
            if r.method == method {
                return Resolved::Found(r, params);
            }
            allowed.push(r.method);
        }
    }
    if allowed.is_empty() {
        Resolved::NotFound
    } else {
        Resolved::MethodNotAllowed(allowed)
    }
}

#[cfg(test)]
mod tests;
