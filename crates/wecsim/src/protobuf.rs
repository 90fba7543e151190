//! The Kubernetes protobuf encoding of request bodies, which kubectl's typed clients send for
//! built-in kinds (`kubectl create deployment|job|role|service|namespace|configmap|secret ...`,
//! `kubectl run`): a body is the `k8s\0` magic and a `runtime.Unknown` envelope naming the
//! object's `apiVersion` and `kind` around its protobuf. The messages are kube-rs' `k8s-pb`
//! types; [`ToJson`] (implemented for them in `pbjson.rs`) turns one into the JSON object the
//! API server's JSON encoding of it would be, so everything after the HTTP front sees JSON.
//! Also the OpenAPI v2 document older kubectl insists on fetching as protobuf.

use super::error::{ApiError, Reason};
use super::pbjson;
use base64::Engine;
use k8s_pb::apimachinery::pkg::api::resource::Quantity;
use k8s_pb::apimachinery::pkg::apis::meta::v1::{Duration, FieldsV1, MicroTime, Time};
use k8s_pb::apimachinery::pkg::runtime::{RawExtension, Unknown};
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;
use prost::Message;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// A protobuf message as the JSON the API server would encode it to.
pub trait ToJson {
    /// The JSON value; `Null` stands for "leave the field out".
    fn to_json(&self) -> Value;
}

impl ToJson for String {
    fn to_json(&self) -> Value {
        json!(self)
    }
}

impl ToJson for bool {
    fn to_json(&self) -> Value {
        json!(self)
    }
}

impl ToJson for i32 {
    fn to_json(&self) -> Value {
        json!(self)
    }
}

impl ToJson for i64 {
    fn to_json(&self) -> Value {
        json!(self)
    }
}

impl ToJson for f64 {
    fn to_json(&self) -> Value {
        json!(self)
    }
}

/// A JSON object being filled field by field, leaving out what Go's `omitempty` would.
#[derive(Default)]
pub struct Obj(Map<String, Value>);

/// What a message field can be: optional, repeated or a map.
pub trait Field {
    /// The field's JSON, `None` when it is absent.
    fn field(&self) -> Option<Value>;
}

/// An optional field. Go's non-pointer strings travel in protobuf even when empty, where JSON's
/// `omitempty` leaves them out (and the API server's defaulting then sees them as unset, as a
/// Secret's `type: ""` that becomes `Opaque`): so an empty string counts as absent. Zero numbers
/// and `false` are kept, since a pointer's zero (`replicas: 0`, `automountServiceAccountToken:
/// false`) means something, and a non-pointer's zero is what the API server sees anyway.
impl<T: ToJson> Field for Option<T> {
    fn field(&self) -> Option<Value> {
        self.as_ref()
            .map(ToJson::to_json)
            .filter(|v| !v.is_null() && v.as_str() != Some(""))
    }
}

/// A Go non-pointer number or bool with `omitempty`, which protobuf carries even when zero:
/// left out when zero, as JSON would (so `kubectl create` does not come to own `paused` or
/// `hostNetwork` in managedFields).
pub struct OmitZero<'a, T>(pub &'a Option<T>);

impl<T: ToJson> Field for OmitZero<'_, T> {
    fn field(&self) -> Option<Value> {
        self.0
            .field()
            .filter(|v| v != &json!(0) && v != &json!(false))
    }
}

/// One of the few optional strings that are Go pointers and where `""` means something of its
/// own (a PersistentVolumeClaim's `storageClassName: ""` asks for no dynamic provisioning).
pub struct KeepEmpty<'a>(pub &'a Option<String>);

impl Field for KeepEmpty<'_> {
    fn field(&self) -> Option<Value> {
        self.0.as_ref().map(|s| json!(s))
    }
}

impl<T: ToJson> Field for Vec<T> {
    fn field(&self) -> Option<Value> {
        (!self.is_empty()).then(|| Value::Array(self.iter().map(ToJson::to_json).collect()))
    }
}

impl<T: ToJson> Field for BTreeMap<String, T> {
    fn field(&self) -> Option<Value> {
        (!self.is_empty())
            .then(|| Value::Object(self.iter().map(|(k, v)| (k.clone(), v.to_json())).collect()))
    }
}

/// A `bytes` field (optional, repeated, or map values): base64 in JSON.
pub struct Bytes<'a, T>(pub &'a T);

fn b64(bytes: &[u8]) -> Value {
    json!(base64::engine::general_purpose::STANDARD.encode(bytes))
}

impl Field for Bytes<'_, Option<Vec<u8>>> {
    fn field(&self) -> Option<Value> {
        self.0.as_deref().map(b64)
    }
}

impl Field for Bytes<'_, Vec<Vec<u8>>> {
    fn field(&self) -> Option<Value> {
        (!self.0.is_empty()).then(|| Value::Array(self.0.iter().map(|b| b64(b)).collect()))
    }
}

impl Field for Bytes<'_, BTreeMap<String, Vec<u8>>> {
    fn field(&self) -> Option<Value> {
        (!self.0.is_empty())
            .then(|| Value::Object(self.0.iter().map(|(k, v)| (k.clone(), b64(v))).collect()))
    }
}

impl Obj {
    /// Sets `key` unless the field is absent.
    pub fn put<F: Field>(&mut self, key: &str, field: &F) {
        if let Some(v) = field.field() {
            self.0.insert(key.to_string(), v);
        }
    }

    /// Merges an embedded message's fields (Go's `json:",inline"`) into this object.
    pub fn inline<T: ToJson>(&mut self, field: &Option<T>) {
        if let Some(Value::Object(m)) = field.as_ref().map(ToJson::to_json) {
            self.0.extend(m);
        }
    }
}

impl From<Obj> for Value {
    fn from(o: Obj) -> Value {
        Value::Object(o.0)
    }
}

fn timestamp(seconds: Option<i64>, nanos: Option<i32>, micros: bool) -> Value {
    // Go's zero time is sent as an empty message and encodes to JSON null.
    let (Some(seconds), nanos) = (seconds, nanos.unwrap_or(0)) else {
        return Value::Null;
    };
    let nanos = if micros { nanos - nanos % 1000 } else { 0 };
    match jiff::Timestamp::new(seconds, nanos) {
        Ok(t) if micros => json!(t.strftime("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()),
        Ok(t) => json!(t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()),
        Err(_) => Value::Null,
    }
}

impl ToJson for Time {
    fn to_json(&self) -> Value {
        timestamp(self.seconds, self.nanos, false)
    }
}

impl ToJson for MicroTime {
    fn to_json(&self) -> Value {
        timestamp(self.seconds, self.nanos, true)
    }
}

impl ToJson for Duration {
    /// Go's `time.Duration` string, e.g. `1h2m3.5s`, as `metav1.Duration` encodes it.
    fn to_json(&self) -> Value {
        let d = self.duration.unwrap_or(0);
        if d == 0 {
            return json!("0s");
        }
        let sign = if d < 0 { "-" } else { "" };
        let n = d.unsigned_abs();
        let (h, m) = (n / 3_600_000_000_000, n / 60_000_000_000 % 60);
        let (s, frac) = (n / 1_000_000_000 % 60, n % 1_000_000_000);
        let mut out = sign.to_string();
        if h > 0 {
            out += &format!("{h}h");
        }
        if h > 0 || m > 0 {
            out += &format!("{m}m");
        }
        out += &s.to_string();
        if frac > 0 {
            out += format!(".{frac:09}").trim_end_matches('0');
        }
        out.push('s');
        json!(out)
    }
}

/// Embedded JSON (`raw` bytes) as the value it holds; bytes that are not JSON are left out
/// rather than guessed at.
fn raw_json(raw: &Option<Vec<u8>>) -> Value {
    raw.as_deref()
        .and_then(|r| serde_json::from_slice(r).ok())
        .unwrap_or(Value::Null)
}

impl ToJson for FieldsV1 {
    fn to_json(&self) -> Value {
        raw_json(&self.raw)
    }
}

impl ToJson for RawExtension {
    fn to_json(&self) -> Value {
        raw_json(&self.raw)
    }
}

impl ToJson for Quantity {
    fn to_json(&self) -> Value {
        self.string.as_ref().map_or(Value::Null, |s| json!(s))
    }
}

impl ToJson for IntOrString {
    fn to_json(&self) -> Value {
        match self.r#type {
            Some(1) => json!(self.str_val.clone().unwrap_or_default()),
            _ => json!(self.int_val.unwrap_or(0)),
        }
    }
}

const MAGIC: &[u8] = b"k8s\0";

/// Decodes a protobuf request body into the JSON object it stands for.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let bad = |what: String| ApiError::bad_request(format!("invalid protobuf body: {what}"));
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("missing the k8s protobuf magic".into()))?;
    let unknown = Unknown::decode(envelope).map_err(|e| bad(e.to_string()))?;
    let tm = unknown.type_meta.unwrap_or_default();
    let (api_version, kind) = (
        tm.api_version.unwrap_or_default(),
        tm.kind.unwrap_or_default(),
    );
    let raw = unknown.raw.unwrap_or_default();
    let mut obj = match pbjson::decode(&api_version, &kind, &raw) {
        Some(Ok(obj)) => obj,
        Some(Err(e)) => return Err(bad(format!("{api_version} {kind}: {e}"))),
        None => {
            return Err(ApiError::new(
                Reason::UnsupportedMediaType,
                format!(
                    "wecsim reads protobuf bodies only for the built-in kinds it serves, not {api_version} {kind}; send JSON (kubectl apply -f or create -f)"
                ),
            ));
        }
    };
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Ok(obj)
}

#[derive(Clone, PartialEq, Message)]
struct OpenApiInfo {
    #[prost(string, tag = "1")]
    title: String,
    #[prost(string, tag = "2")]
    version: String,
}

#[derive(Clone, PartialEq, Message)]
struct OpenApiPaths {}

/// gnostic's `openapi.v2.Document`, reduced to what an empty document needs.
#[derive(Clone, PartialEq, Message)]
struct OpenApiDocument {
    #[prost(string, tag = "1")]
    swagger: String,
    #[prost(message, optional, tag = "2")]
    info: Option<OpenApiInfo>,
    #[prost(message, optional, tag = "8")]
    paths: Option<OpenApiPaths>,
}

/// An empty OpenAPI v2 document in protobuf: kubectl before 1.27 fetches it for client-side
/// validation and skips kinds it does not describe.
pub fn openapi_v2() -> Vec<u8> {
    OpenApiDocument {
        swagger: "2.0".into(),
        info: Some(OpenApiInfo {
            title: "Kubernetes (wecsim)".into(),
            version: "v1.33.0".into(),
        }),
        paths: Some(OpenApiPaths {}),
    }
    .encode_to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_pb::api::apps::v1::{
        Deployment, DeploymentSpec, DeploymentStrategy, RollingUpdateDeployment,
    };
    use k8s_pb::api::core::v1::{
        ConfigMapVolumeSource, Container, ContainerPort, HttpGetAction, LocalObjectReference,
        PodSpec, PodTemplateSpec, Probe, ProbeHandler, ResourceRequirements, Volume, VolumeSource,
    };
    use k8s_pb::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
    use k8s_pb::apimachinery::pkg::runtime::TypeMeta;

    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let mut body = MAGIC.to_vec();
        Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(raw),
            content_encoding: None,
            content_type: None,
        }
        .encode(&mut body)
        .unwrap();
        body
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_string())
    }

    #[test]
    fn a_deployment_becomes_the_json_the_api_server_would_encode() {
        let labels = BTreeMap::from([("app".to_string(), "web".to_string())]);
        let container = Container {
            name: s("web"),
            image: s("nginx:1.27"),
            ports: vec![ContainerPort {
                container_port: Some(80),
                ..Default::default()
            }],
            resources: Some(ResourceRequirements {
                limits: BTreeMap::from([("memory".to_string(), Quantity { string: s("64Mi") })]),
                ..Default::default()
            }),
            readiness_probe: Some(Probe {
                handler: Some(ProbeHandler {
                    http_get: Some(HttpGetAction {
                        path: s("/healthz"),
                        port: Some(IntOrString {
                            r#type: Some(1),
                            int_val: None,
                            str_val: s("http"),
                        }),
                        ..Default::default()
                    }),
                    ..Default::default()
                }),
                period_seconds: Some(5),
                ..Default::default()
            }),
            ..Default::default()
        };
        let deployment = Deployment {
            metadata: Some(ObjectMeta {
                name: s("web"),
                namespace: s("demo"),
                labels: labels.clone(),
                // Go's zero time: an empty message, null in JSON, so left out.
                creation_timestamp: Some(Time::default()),
                ..Default::default()
            }),
            spec: Some(DeploymentSpec {
                replicas: Some(0),
                paused: Some(false),
                selector: Some(LabelSelector {
                    match_labels: labels.clone(),
                    ..Default::default()
                }),
                strategy: Some(DeploymentStrategy {
                    r#type: s("RollingUpdate"),
                    rolling_update: Some(RollingUpdateDeployment {
                        max_surge: Some(IntOrString {
                            r#type: Some(0),
                            int_val: Some(1),
                            str_val: None,
                        }),
                        ..Default::default()
                    }),
                }),
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels,
                        ..Default::default()
                    }),
                    spec: Some(PodSpec {
                        containers: vec![container],
                        // A non-pointer false is left out, a pointer's is kept.
                        host_ipc: Some(false),
                        automount_service_account_token: Some(false),
                        volumes: vec![Volume {
                            name: s("cfg"),
                            volume_source: Some(VolumeSource {
                                config_map: Some(ConfigMapVolumeSource {
                                    local_object_reference: Some(LocalObjectReference {
                                        name: s("settings"),
                                    }),
                                    ..Default::default()
                                }),
                                ..Default::default()
                            }),
                        }],
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            }),
            status: Some(Default::default()),
        };
        let body = envelope("apps/v1", "Deployment", deployment.encode_to_vec());
        assert_eq!(
            decode(&body).unwrap(),
            json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "demo", "labels": {"app": "web"}},
                "spec": {
                    "replicas": 0,
                    "selector": {"matchLabels": {"app": "web"}},
                    "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {
                            "containers": [{
                                "name": "web",
                                "image": "nginx:1.27",
                                "ports": [{"containerPort": 80}],
                                "resources": {"limits": {"memory": "64Mi"}},
                                "readinessProbe": {
                                    "httpGet": {"path": "/healthz", "port": "http"},
                                    "periodSeconds": 5,
                                },
                            }],
                            "automountServiceAccountToken": false,
                            "volumes": [{"name": "cfg", "configMap": {"name": "settings"}}],
                        },
                    },
                },
                "status": {},
            })
        );
    }

    #[test]
    fn secrets_bytes_become_base64_and_times_rfc3339() {
        let secret = k8s_pb::api::core::v1::Secret {
            metadata: Some(ObjectMeta {
                name: s("s"),
                creation_timestamp: Some(Time {
                    seconds: Some(1_700_000_000),
                    nanos: Some(5),
                }),
                ..Default::default()
            }),
            data: BTreeMap::from([("password".to_string(), b"hunter2".to_vec())]),
            r#type: s("Opaque"),
            ..Default::default()
        };
        let body = envelope("v1", "Secret", secret.encode_to_vec());
        assert_eq!(
            decode(&body).unwrap(),
            json!({
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {"name": "s", "creationTimestamp": "2023-11-14T22:13:20Z"},
                "data": {"password": "aHVudGVyMg=="},
                "type": "Opaque",
            })
        );
    }

    #[test]
    fn empty_strings_are_unset_except_where_they_mean_something() {
        let secret = k8s_pb::api::core::v1::Secret {
            metadata: Some(ObjectMeta {
                name: s("s"),
                generate_name: s(""),
                ..Default::default()
            }),
            r#type: s(""),
            immutable: Some(false),
            ..Default::default()
        };
        let body = envelope("v1", "Secret", secret.encode_to_vec());
        assert_eq!(
            decode(&body).unwrap(),
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "immutable": false})
        );
        let pvc = k8s_pb::api::core::v1::PersistentVolumeClaim {
            spec: Some(k8s_pb::api::core::v1::PersistentVolumeClaimSpec {
                storage_class_name: s(""),
                volume_name: s(""),
                ..Default::default()
            }),
            ..Default::default()
        };
        let body = envelope("v1", "PersistentVolumeClaim", pvc.encode_to_vec());
        assert_eq!(
            decode(&body).unwrap()["spec"],
            json!({"storageClassName": ""})
        );
    }

    #[test]
    fn every_listed_kind_decodes_an_empty_object() {
        for (api_version, kind) in pbjson::kinds() {
            let obj = decode(&envelope(api_version, kind, Vec::new())).unwrap();
            assert_eq!(obj, json!({"apiVersion": api_version, "kind": kind}));
        }
    }

    #[test]
    fn unknown_kinds_and_garbage_are_refused() {
        let err = decode(&envelope("example.com/v1", "Widget", Vec::new())).unwrap_err();
        assert_eq!(err.reason, Reason::UnsupportedMediaType);
        let err = decode(&envelope("apps/v1", "Deployment", vec![0xff, 0xff])).unwrap_err();
        assert_eq!(err.reason, Reason::BadRequest);
        assert!(
            err.message.contains("apps/v1 Deployment"),
            "{}",
            err.message
        );
        assert_eq!(decode(b"{}").unwrap_err().reason, Reason::BadRequest);
    }

    #[test]
    fn durations_read_like_go() {
        let d = |n: i64| Duration { duration: Some(n) }.to_json();
        assert_eq!(d(0), json!("0s"));
        assert_eq!(d(1_500_000_000), json!("1.5s"));
        assert_eq!(d(3_723_000_000_000), json!("1h2m3s"));
        assert_eq!(d(-60_000_000_000), json!("-1m0s"));
    }
}
