//! Errors: [`WecsimError`] for the library and command, [`ApiError`] for what a request gets back
//! as a Kubernetes `Status`.

use axum::http::StatusCode;
use serde_json::{Value, json};

/// An error starting, running or configuring the simulator.
#[derive(Debug, thiserror::Error)]
pub enum WecsimError {
    /// The listener could not be bound or served.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address asked for.
        addr: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The listen address is not a loopback address.
    #[error(
        "refusing to listen on {0}: wecsim has no authentication, so it listens on loopback addresses only"
    )]
    NotLoopback(String),
    /// A cluster name is not a valid DNS-1123 label or is given twice.
    #[error("invalid cluster name {0:?}: want a unique DNS-1123 label")]
    ClusterName(String),
    /// A cluster of that name is already served.
    #[error("a simulated cluster named {0:?} already exists")]
    ClusterExists(String),
    /// No cluster of that name is served.
    #[error("no simulated cluster named {0:?}")]
    UnknownCluster(String),
    /// Reading or writing a file (kubeconfig, data dir) failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A persisted cluster file could not be parsed.
    #[error("{path}: {source}")]
    Json {
        /// The file.
        path: String,
        /// The underlying error.
        source: serde_json::Error,
    },
    /// The kubeconfig could not be rendered.
    #[error("rendering kubeconfig: {0}")]
    Yaml(String),
    /// Building a kube client failed.
    #[error("kube client: {0}")]
    Kube(#[from] kube::Error),
    /// A URL could not be parsed.
    #[error("invalid URL {0}")]
    Url(String),
    /// Creating a fresh cluster's system objects failed.
    #[error("creating the system objects of cluster {cluster}: {source}")]
    Bootstrap {
        /// The cluster.
        cluster: String,
        /// What the API said.
        source: ApiError,
    },
    /// The tokio runtime could not be started.
    #[error("starting runtime: {0}")]
    Runtime(std::io::Error),
}

/// The reason/code pair of a Kubernetes `Status` failure, as the API conventions name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// 400
    BadRequest,
    /// 403
    Forbidden,
    /// 404
    NotFound,
    /// 405
    MethodNotAllowed,
    /// 406
    NotAcceptable,
    /// 409 because the object exists
    AlreadyExists,
    /// 409 because of a resourceVersion or field-manager conflict
    Conflict,
    /// 410
    Expired,
    /// 413
    RequestEntityTooLarge,
    /// 415
    UnsupportedMediaType,
    /// 422
    Invalid,
    /// 500
    InternalError,
    /// 503
    ServiceUnavailable,
    /// 504
    Timeout,
}

impl Reason {
    fn code(self) -> StatusCode {
        match self {
            Reason::BadRequest => StatusCode::BAD_REQUEST,
            Reason::Forbidden => StatusCode::FORBIDDEN,
            Reason::NotFound => StatusCode::NOT_FOUND,
            Reason::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Reason::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Reason::AlreadyExists | Reason::Conflict => StatusCode::CONFLICT,
            Reason::Expired => StatusCode::GONE,
            Reason::RequestEntityTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Reason::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Reason::Invalid => StatusCode::UNPROCESSABLE_ENTITY,
            Reason::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
            Reason::ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Reason::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Reason::BadRequest => "BadRequest",
            Reason::Forbidden => "Forbidden",
            Reason::NotFound => "NotFound",
            Reason::MethodNotAllowed => "MethodNotAllowed",
            Reason::NotAcceptable => "NotAcceptable",
            Reason::AlreadyExists => "AlreadyExists",
            Reason::Conflict => "Conflict",
            Reason::Expired => "Expired",
            Reason::RequestEntityTooLarge => "RequestEntityTooLarge",
            Reason::UnsupportedMediaType => "UnsupportedMediaType",
            Reason::Invalid => "Invalid",
            Reason::InternalError => "InternalError",
            Reason::ServiceUnavailable => "ServiceUnavailable",
            Reason::Timeout => "Timeout",
        }
    }
}

/// One cause of a failure (`details.causes[]`), e.g. a conflicting field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// The cause's reason, e.g. `FieldManagerConflict` or `FieldValueRequired`.
    pub reason: String,
    /// Human-readable text.
    pub message: String,
    /// The field path, e.g. `.spec.replicas`.
    pub field: String,
}

/// A request failure, rendered as a `meta.k8s.io/v1` `Status` object.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// What kind of failure.
    pub reason: Reason,
    /// Human-readable text.
    pub message: String,
    /// `details.group`, `details.kind`, `details.name` when known (boxed: errors travel in
    /// every `Result` of the request path and should stay small).
    pub details: Option<Box<(String, String, String)>>,
    /// `details.causes`.
    pub causes: Vec<Cause>,
}

impl ApiError {
    /// A failure with a message and no details.
    pub fn new(reason: Reason, message: impl Into<String>) -> Self {
        ApiError {
            reason,
            message: message.into(),
            details: None,
            causes: Vec::new(),
        }
    }

    /// 400 Bad Request.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(Reason::BadRequest, message)
    }

    /// 404 for a named object, worded like the API server (`configmaps "x" not found`).
    pub fn not_found(group: &str, plural: &str, name: &str) -> Self {
        let qualified = qualified(group, plural);
        ApiError {
            reason: Reason::NotFound,
            message: format!("{qualified} \"{name}\" not found"),
            details: Some(Box::new((
                group.to_string(),
                plural.to_string(),
                name.to_string(),
            ))),
            causes: Vec::new(),
        }
    }

    /// 409 AlreadyExists.
    pub fn already_exists(group: &str, plural: &str, name: &str) -> Self {
        let qualified = qualified(group, plural);
        ApiError {
            reason: Reason::AlreadyExists,
            message: format!("{qualified} \"{name}\" already exists"),
            details: Some(Box::new((
                group.to_string(),
                plural.to_string(),
                name.to_string(),
            ))),
            causes: Vec::new(),
        }
    }

    /// 409 Conflict on a stale resourceVersion.
    pub fn stale(group: &str, plural: &str, name: &str) -> Self {
        let qualified = qualified(group, plural);
        ApiError {
            reason: Reason::Conflict,
            message: format!(
                "Operation cannot be fulfilled on {qualified} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
            ),
            details: Some(Box::new((
                group.to_string(),
                plural.to_string(),
                name.to_string(),
            ))),
            causes: Vec::new(),
        }
    }

    /// 422 Invalid, with one cause per bad field.
    pub fn invalid(kind: &str, group: &str, name: &str, causes: Vec<Cause>) -> Self {
        let list: Vec<String> = causes
            .iter()
            .map(|c| format!("{}: {}", c.field.trim_start_matches('.'), c.message))
            .collect();
        ApiError {
            reason: Reason::Invalid,
            message: format!("{kind} \"{name}\" is invalid: {}", list.join(", ")),
            details: Some(Box::new((
                group.to_string(),
                kind.to_string(),
                name.to_string(),
            ))),
            causes,
        }
    }

    /// The HTTP status code.
    pub fn code(&self) -> StatusCode {
        self.reason.code()
    }

    /// The `Status` object.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason.as_str(),
            "code": self.code().as_u16(),
        });
        if self.details.is_some() || !self.causes.is_empty() {
            let mut details = serde_json::Map::new();
            if let Some(d) = &self.details {
                let (group, kind, name) = &**d;
                details.insert("name".into(), json!(name));
                details.insert("group".into(), json!(group));
                details.insert("kind".into(), json!(kind));
            }
            if !self.causes.is_empty() {
                let causes: Vec<Value> = self
                    .causes
                    .iter()
                    .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                    .collect();
                details.insert("causes".into(), Value::Array(causes));
            }
            status["details"] = Value::Object(details);
        }
        status
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.message, self.reason.as_str())
    }
}

impl std::error::Error for ApiError {}

fn qualified(group: &str, plural: &str) -> String {
    if group.is_empty() {
        plural.to_string()
    } else {
        format!("{plural}.{group}")
    }
}
