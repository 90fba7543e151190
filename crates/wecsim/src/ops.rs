//! The verbs on objects: get, list, create, update, patch (JSON, merge, strategic, apply),
//! delete. Each change is checked and committed under the cluster lock, so concurrent writers
//! see resourceVersion conflicts exactly as with a real API server.

use super::controllers;
use super::error::{ApiError, Cause, Reason};
use super::fields;
use super::managed::{self, Sub};
use super::resources::ResourceDef;
use super::selectors::{FieldSelector, LabelSelector};
use super::store::{Cluster, ClusterState, EventType, now, str_at};
use super::validate::validate;
use serde_json::{Map, Value, json};
use std::sync::Arc;

/// Options common to writes.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    /// The field manager (from `fieldManager`, else the user agent).
    pub manager: String,
    /// `force=true` on apply.
    pub force: bool,
    /// `dryRun=All`: compute and return, store nothing.
    pub dry_run: bool,
}

/// Options of a list or watch.
#[derive(Debug, Clone, Default)]
pub struct ListOpts {
    /// `labelSelector`.
    pub labels: LabelSelector,
    /// `fieldSelector`.
    pub fields: FieldSelector,
    /// `limit` (0 = all).
    pub limit: usize,
    /// `continue`.
    pub cont: Option<String>,
}

/// The patch flavours, by request content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    /// `application/json-patch+json` (RFC 6902).
    Json,
    /// `application/merge-patch+json` (RFC 7386).
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/apply-patch+yaml` (server-side apply).
    Apply,
}

impl PatchType {
    /// Reads the request content type.
    pub fn from_content_type(ct: &str) -> Option<PatchType> {
        match ct.split(';').next().unwrap_or("").trim() {
            "application/json-patch+json" => Some(PatchType::Json),
            "application/merge-patch+json" => Some(PatchType::Merge),
            "application/strategic-merge-patch+json" => Some(PatchType::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+json" => {
                Some(PatchType::Apply)
            }
            _ => None,
        }
    }
}

/// What a request addresses: resource, served version, namespace.
#[derive(Debug, Clone)]
pub struct Target {
    /// The resource.
    pub def: Arc<ResourceDef>,
    /// The version in the URL.
    pub version: String,
    /// The namespace in the URL, "" for cluster scope or all namespaces.
    pub namespace: String,
}

impl Target {
    fn api_version(&self) -> String {
        self.def.api_version(&self.version)
    }

    /// Renders a stored object for this request's version.
    pub fn present(&self, obj: &Arc<Value>) -> Arc<Value> {
        let want = self.api_version();
        if obj.get("apiVersion").and_then(Value::as_str) == Some(want.as_str()) {
            return obj.clone();
        }
        let mut o = (**obj).clone();
        o["apiVersion"] = json!(want);
        Arc::new(o)
    }
}

/// GET one object.
pub fn get(cluster: &Cluster, t: &Target, name: &str) -> Result<Arc<Value>, ApiError> {
    let st = cluster.lock();
    st.get(&t.def.key(), &t.namespace, name)
        .map(|o| t.present(&o))
        .ok_or_else(|| ApiError::not_found(&t.def.group, &t.def.plural, name))
}

/// A page of a list: items, the list resourceVersion, the continue token and what remains.
#[derive(Debug)]
pub struct Page {
    /// The matching objects.
    pub items: Vec<Arc<Value>>,
    /// The store's resourceVersion when listed.
    pub rv: u64,
    /// Token for the next page, if any.
    pub cont: Option<String>,
    /// Items left after this page.
    pub remaining: usize,
}

fn encode_token(ns: &str, name: &str) -> String {
    format!("{ns}/{name}")
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn decode_token(token: &str) -> Result<(String, String), ApiError> {
    let bad = || ApiError::bad_request(format!("continue key is not valid: {token:?}"));
    if !token.len().is_multiple_of(2) {
        return Err(bad());
    }
    let bytes: Result<Vec<u8>, _> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2).unwrap_or("zz"), 16))
        .collect();
    let text = String::from_utf8(bytes.map_err(|_| bad())?).map_err(|_| bad())?;
    let (ns, name) = text.split_once('/').ok_or_else(bad)?;
    Ok((ns.to_string(), name.to_string()))
}

/// LIST with selectors and paging. Pages read the current state (no snapshot), which the
/// conventions allow clients to see as "the collection changed between pages".
pub fn list(cluster: &Cluster, t: &Target, opts: &ListOpts) -> Result<Page, ApiError> {
    let after = opts.cont.as_deref().map(decode_token).transpose()?;
    let st = cluster.lock();
    let mut items = Vec::new();
    let mut remaining = 0;
    let mut last = None;
    if let Some(map) = st.objects.get(t.def.key().as_str()) {
        let start = match &after {
            Some(k) => std::ops::Bound::Excluded(k.clone()),
            None => std::ops::Bound::Unbounded,
        };
        let range = map.range::<(String, String), _>((start, std::ops::Bound::Unbounded));
        for ((ns, name), stored) in range {
            if !t.namespace.is_empty() && ns != &t.namespace {
                continue;
            }
            let obj = &Arc::new(stored.value());
            if !opts.labels.matches(obj) || !opts.fields.matches(obj) {
                continue;
            }
            if opts.limit > 0 && items.len() >= opts.limit {
                remaining += 1;
                continue;
            }
            last = Some((ns.clone(), name.clone()));
            items.push(t.present(obj));
        }
    }
    let cont = match (remaining, last) {
        (n, Some((ns, name))) if n > 0 => Some(encode_token(&ns, &name)),
        _ => None,
    };
    Ok(Page {
        items,
        rv: st.rv,
        cont,
        remaining,
    })
}

/// Checks `apiVersion`, `kind` and the namespace of a request body against the URL, filling
/// them in when omitted.
fn check_body(t: &Target, body: &mut Value) -> Result<(), ApiError> {
    let Some(map) = body.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    };
    let want_av = t.api_version();
    match map.get("apiVersion").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("apiVersion".into(), json!(want_av));
        }
        Some(av) if av == want_av => {}
        Some(av) => {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({av}) does not match the expected API version ({want_av})"
            )));
        }
    }
    match map.get("kind").and_then(Value::as_str) {
        None | Some("") => {
            map.insert("kind".into(), json!(t.def.kind));
        }
        Some(k) if k == t.def.kind => {}
        Some(k) => {
            return Err(ApiError::bad_request(format!(
                "the kind in the data ({k}) does not match the expected kind ({})",
                t.def.kind
            )));
        }
    }
    let meta = map
        .entry("metadata")
        .or_insert_with(|| Value::Object(Map::new()));
    let Some(meta) = meta.as_object_mut() else {
        return Err(ApiError::bad_request("metadata must be an object"));
    };
    if t.def.namespaced {
        match meta.get("namespace").and_then(Value::as_str) {
            None | Some("") => {
                meta.insert("namespace".into(), json!(t.namespace));
            }
            Some(ns) if ns == t.namespace => {}
            Some(_) => {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
    } else {
        meta.shift_remove("namespace");
    }
    Ok(())
}

fn check_namespace(st: &ClusterState, t: &Target) -> Result<(), ApiError> {
    if !t.def.namespaced {
        return Ok(());
    }
    if t.namespace.is_empty() {
        return Err(ApiError::bad_request(
            "a namespace is required for this resource",
        ));
    }
    match st.get("/namespaces", "", &t.namespace) {
        None => Err(ApiError::not_found("", "namespaces", &t.namespace)),
        Some(ns) if ns.pointer("/metadata/deletionTimestamp").is_some() => Err(ApiError::new(
            Reason::Forbidden,
            format!(
                "{} \"{}\" is forbidden: unable to create new content in namespace {} because it is being terminated",
                t.def.qualified(),
                str_at(&ns, "name"),
                t.namespace
            ),
        )),
        Some(_) => Ok(()),
    }
}

fn without(obj: &Value, skip: &[&str]) -> Value {
    match obj.as_object() {
        Some(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !skip.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        None => obj.clone(),
    }
}

fn set_meta(obj: &mut Value, key: &str, v: Value) {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert(key.into(), v);
    }
}

fn meta_of(obj: &Value, key: &str) -> Option<Value> {
    obj.get("metadata").and_then(|m| m.get(key)).cloned()
}

/// Stores a change and runs what follows it (wakes watches, simulated controllers).
pub fn commit(
    cluster: &Arc<Cluster>,
    mut st: std::sync::MutexGuard<'_, ClusterState>,
    def: &Arc<ResourceDef>,
    kind: EventType,
    obj: Value,
) -> Arc<Value> {
    let stored = st.commit(&def.key(), kind, obj);
    if def.plural == "customresourcedefinitions" && def.group == "apiextensions.k8s.io" {
        refresh_crds(&mut st);
    }
    let rv = st.rv;
    drop(st);
    cluster.wake(rv);
    controllers::after_commit(cluster, def, kind, &stored);
    stored
}

/// Recomputes the CRD-defined resources from the stored CRDs.
pub fn refresh_crds(st: &mut ClusterState) {
    st.crds = st
        .objects
        .get("apiextensions.k8s.io/customresourcedefinitions")
        .map(|m| {
            m.values()
                .map(|o| o.value())
                .filter(|o| o.pointer("/metadata/deletionTimestamp").is_none())
                .filter_map(|o| ResourceDef::from_crd(&o).map(Arc::new))
                .collect()
        })
        .unwrap_or_default();
}

/// Prepares a new object (system metadata, admission) and checks it.
fn prepare_create(cluster: &Cluster, t: &Target, obj: &mut Value) -> Result<(), ApiError> {
    if str_at(obj, "name").is_empty() {
        let generate = str_at(obj, "generateName").to_string();
        if generate.is_empty() {
            return Err(ApiError::invalid(
                &t.def.kind,
                &t.def.group,
                "",
                vec![Cause {
                    reason: "FieldValueRequired".into(),
                    message: "Required value: name or generateName is required".into(),
                    field: "metadata.name".into(),
                }],
            ));
        }
        let uid = cluster.new_uid();
        let suffix: String = uid
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .rev()
            .take(5)
            .collect();
        set_meta(obj, "name", json!(format!("{generate}{suffix}")));
    }
    validate(&t.def, obj)?;
    if t.def.status_subresource
        && let Some(m) = obj.as_object_mut()
    {
        m.shift_remove("status");
    }
    for k in [
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "resourceVersion",
        "selfLink",
    ] {
        if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
            meta.shift_remove(k);
        }
    }
    set_meta(obj, "uid", json!(cluster.new_uid()));
    set_meta(obj, "creationTimestamp", json!(now()));
    set_meta(obj, "generation", json!(1));
    controllers::admit(cluster, &t.def, obj, None);
    Ok(())
}

/// POST: creates an object.
pub fn create(
    cluster: &Arc<Cluster>,
    t: &Target,
    mut body: Value,
    opts: &WriteOpts,
) -> Result<Arc<Value>, ApiError> {
    check_body(t, &mut body)?;
    if let Some(m) = body.get_mut("metadata").and_then(Value::as_object_mut) {
        m.shift_remove("managedFields");
    }
    let st = cluster.lock();
    check_namespace(&st, t)?;
    prepare_create(cluster, t, &mut body)?;
    let name = str_at(&body, "name").to_string();
    if st.get(&t.def.key(), &t.namespace, &name).is_some() {
        return Err(ApiError::already_exists(&t.def.group, &t.def.plural, &name));
    }
    managed::track_update(
        None,
        &mut body,
        &t.def,
        Sub::Main,
        &opts.manager,
        &t.api_version(),
    );
    if opts.dry_run {
        return Ok(Arc::new(body));
    }
    Ok(t.present(&commit(cluster, st, &t.def, EventType::Added, body)))
}

/// Builds the updated object from the old one and the client's version, keeping what the
/// client may not change through this endpoint.
fn merge_update(t: &Target, old: &Value, mut new: Value, sub: Sub) -> Result<Value, ApiError> {
    if sub == Sub::Status {
        let mut out = old.clone();
        match new.get_mut("status").map(Value::take) {
            Some(status) => out["status"] = status,
            None => {
                if let Some(m) = out.as_object_mut() {
                    m.shift_remove("status");
                }
            }
        }
        if let Some(rv) = meta_of(&new, "resourceVersion") {
            set_meta(&mut out, "resourceVersion", rv);
        }
        return Ok(out);
    }
    for k in [
        "uid",
        "creationTimestamp",
        "generation",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
    ] {
        match meta_of(old, k) {
            Some(v) => set_meta(&mut new, k, v),
            None => {
                if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.shift_remove(k);
                }
            }
        }
    }
    if t.def.status_subresource {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.shift_remove("status");
                }
            }
        }
    }
    validate(&t.def, &new)?;
    Ok(new)
}

/// Finishes an update under the lock: resourceVersion precondition, generation, managed fields,
/// no-op detection, finalizer-driven deletion.
#[allow(clippy::too_many_arguments)]
fn finish_update(
    cluster: &Arc<Cluster>,
    st: std::sync::MutexGuard<'_, ClusterState>,
    t: &Target,
    old: &Arc<Value>,
    mut new: Value,
    sub: Sub,
    opts: &WriteOpts,
    applied: bool,
) -> Result<Arc<Value>, ApiError> {
    let name = str_at(old, "name").to_string();
    let want_rv = str_at(&new, "resourceVersion").to_string();
    if !want_rv.is_empty() && want_rv != str_at(old, "resourceVersion") {
        return Err(ApiError::stale(&t.def.group, &t.def.plural, &name));
    }
    set_meta(
        &mut new,
        "resourceVersion",
        json!(str_at(old, "resourceVersion")),
    );
    if sub == Sub::Main {
        // Without a status subresource, status is part of what the generation counts, as for
        // custom resources on a real server.
        let skip: &[&str] = if t.def.status_subresource {
            &["metadata", "status", "apiVersion", "kind"]
        } else {
            &["metadata", "apiVersion", "kind"]
        };
        if without(old, skip) != without(&new, skip) {
            let generation = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            set_meta(&mut new, "generation", json!(generation + 1));
        }
    }
    if !applied {
        managed::track_update(
            Some(old),
            &mut new,
            &t.def,
            sub,
            &opts.manager,
            &t.api_version(),
        );
    }
    controllers::admit(cluster, &t.def, &mut new, Some(old));
    if new == **old {
        return Ok(t.present(old));
    }
    if opts.dry_run {
        return Ok(Arc::new(new));
    }
    let finalizers_done = new
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    if new.pointer("/metadata/deletionTimestamp").is_some()
        && finalizers_done
        && t.def.plural != "namespaces"
    {
        return Ok(t.present(&commit(cluster, st, &t.def, EventType::Deleted, new)));
    }
    Ok(t.present(&commit(cluster, st, &t.def, EventType::Modified, new)))
}

/// PUT: replaces an object (or its status).
pub fn update(
    cluster: &Arc<Cluster>,
    t: &Target,
    name: &str,
    mut body: Value,
    sub: Sub,
    opts: &WriteOpts,
) -> Result<Arc<Value>, ApiError> {
    check_body(t, &mut body)?;
    let body_name = str_at(&body, "name");
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let st = cluster.lock();
    let Some(old) = st.get(&t.def.key(), &t.namespace, name) else {
        return Err(ApiError::not_found(&t.def.group, &t.def.plural, name));
    };
    let new = merge_update(t, &old, body, sub)?;
    finish_update(cluster, st, t, &old, new, sub, opts, false)
}

fn parse_yaml_or_json(body: &[u8]) -> Result<Value, ApiError> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Ok(v);
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("the request body is not UTF-8"))?;
    serde_saphyr::from_str::<Value>(text)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
}

/// PATCH: JSON patch, merge patch, strategic merge patch, or server-side apply (which creates
/// the object when missing).
pub fn patch(
    cluster: &Arc<Cluster>,
    t: &Target,
    name: &str,
    kind: PatchType,
    body: &[u8],
    sub: Sub,
    opts: &WriteOpts,
) -> Result<Arc<Value>, ApiError> {
    if kind == PatchType::Apply {
        return apply(cluster, t, name, body, sub, opts);
    }
    let patch: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
    let st = cluster.lock();
    let Some(old) = st.get(&t.def.key(), &t.namespace, name) else {
        return Err(ApiError::not_found(&t.def.group, &t.def.plural, name));
    };
    let mut patched = (*old).clone();
    match kind {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch)
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            json_patch::patch(&mut patched, &ops).map_err(|e| {
                ApiError::new(
                    Reason::Invalid,
                    format!("the JSON patch could not be applied: {e}"),
                )
            })?;
        }
        PatchType::Merge => json_patch::merge(&mut patched, &patch),
        PatchType::Strategic => fields::strategic_merge(&mut patched, &patch),
        PatchType::Apply => {}
    }
    check_body(t, &mut patched)?;
    if str_at(&patched, "name") != name {
        return Err(ApiError::bad_request(
            "a patch may not change metadata.name",
        ));
    }
    let new = merge_update(t, &old, patched, sub)?;
    finish_update(cluster, st, t, &old, new, sub, opts, false)
}

fn apply(
    cluster: &Arc<Cluster>,
    t: &Target,
    name: &str,
    body: &[u8],
    sub: Sub,
    opts: &WriteOpts,
) -> Result<Arc<Value>, ApiError> {
    if opts.manager.is_empty() {
        return Err(ApiError::bad_request(
            "PATCH, application/apply-patch+yaml requires fieldManager parameter",
        ));
    }
    let mut applied = parse_yaml_or_json(body)?;
    if applied.get("apiVersion").and_then(Value::as_str).is_none()
        || applied.get("kind").and_then(Value::as_str).is_none()
    {
        return Err(ApiError::bad_request(
            "apiVersion and kind must be set in an applied configuration",
        ));
    }
    check_body(t, &mut applied)?;
    let body_name = str_at(&applied, "name");
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    let st = cluster.lock();
    match st.get(&t.def.key(), &t.namespace, name) {
        None => {
            if sub == Sub::Status {
                return Err(ApiError::not_found(&t.def.group, &t.def.plural, name));
            }
            check_namespace(&st, t)?;
            let mut obj = json!({
                "apiVersion": t.api_version(),
                "kind": t.def.kind,
                "metadata": {"name": name},
            });
            if t.def.namespaced {
                set_meta(&mut obj, "namespace", json!(t.namespace));
            }
            managed::apply(
                &mut obj,
                &applied,
                &t.def,
                sub,
                &opts.manager,
                opts.force,
                &t.api_version(),
            )?;
            prepare_create(cluster, t, &mut obj)?;
            if opts.dry_run {
                return Ok(Arc::new(obj));
            }
            Ok(t.present(&commit(cluster, st, &t.def, EventType::Added, obj)))
        }
        Some(old) => {
            let mut live = (*old).clone();
            managed::apply(
                &mut live,
                &applied,
                &t.def,
                sub,
                &opts.manager,
                opts.force,
                &t.api_version(),
            )?;
            if let Some(rv) = meta_of(&applied, "resourceVersion") {
                set_meta(&mut live, "resourceVersion", rv);
            }
            let mut new = merge_update(t, &old, live.clone(), sub)?;
            if let Some(mf) = meta_of(&live, "managedFields") {
                set_meta(&mut new, "managedFields", mf);
            } else if let Some(meta) = new.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.shift_remove("managedFields");
            }
            finish_update(cluster, st, t, &old, new, sub, opts, true)
        }
    }
}

/// `DeleteOptions` preconditions.
#[derive(Debug, Clone, Default)]
pub struct Preconditions {
    /// `preconditions.uid`.
    pub uid: Option<String>,
    /// `preconditions.resourceVersion`.
    pub resource_version: Option<String>,
}

/// DELETE: removes an object, or marks it for deletion while finalizers remain. Namespaces go
/// Terminating and the simulated namespace controller empties them first.
pub fn delete(
    cluster: &Arc<Cluster>,
    t: &Target,
    name: &str,
    pre: &Preconditions,
    opts: &WriteOpts,
) -> Result<Arc<Value>, ApiError> {
    let st = cluster.lock();
    let Some(old) = st.get(&t.def.key(), &t.namespace, name) else {
        return Err(ApiError::not_found(&t.def.group, &t.def.plural, name));
    };
    if pre.uid.as_deref().is_some_and(|u| u != str_at(&old, "uid"))
        || pre
            .resource_version
            .as_deref()
            .is_some_and(|rv| rv != str_at(&old, "resourceVersion"))
    {
        return Err(ApiError::new(
            Reason::Conflict,
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": Precondition failed",
                t.def.qualified()
            ),
        ));
    }
    if opts.dry_run {
        return Ok(t.present(&old));
    }
    let has_finalizers = old
        .pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .is_some_and(|f| !f.is_empty());
    let is_namespace = t.def.group.is_empty() && t.def.plural == "namespaces";
    if has_finalizers || is_namespace {
        if old.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(t.present(&old));
        }
        let mut marked = (*old).clone();
        set_meta(&mut marked, "deletionTimestamp", json!(now()));
        set_meta(&mut marked, "deletionGracePeriodSeconds", json!(0));
        if is_namespace {
            marked["status"] = json!({"phase": "Terminating"});
        }
        return Ok(t.present(&commit(cluster, st, &t.def, EventType::Modified, marked)));
    }
    Ok(t.present(&commit(
        cluster,
        st,
        &t.def,
        EventType::Deleted,
        (*old).clone(),
    )))
}

/// Removes an object now, whatever its finalizers (the simulated controllers' own deletions).
pub fn remove_now(cluster: &Arc<Cluster>, def: &Arc<ResourceDef>, ns: &str, name: &str) {
    let st = cluster.lock();
    if let Some(old) = st.get(&def.key(), ns, name) {
        commit(cluster, st, def, EventType::Deleted, (*old).clone());
    }
}

/// DELETE on a collection: deletes every matching object.
pub fn delete_collection(
    cluster: &Arc<Cluster>,
    t: &Target,
    list_opts: &ListOpts,
    opts: &WriteOpts,
) -> Result<Vec<Arc<Value>>, ApiError> {
    let page = list(
        cluster,
        t,
        &ListOpts {
            limit: 0,
            cont: None,
            ..list_opts.clone()
        },
    )?;
    let mut deleted = Vec::new();
    for obj in page.items {
        let scoped = Target {
            namespace: str_at(&obj, "namespace").to_string(),
            ..t.clone()
        };
        match delete(
            cluster,
            &scoped,
            str_at(&obj, "name"),
            &Preconditions::default(),
            opts,
        ) {
            Ok(o) => deleted.push(o),
            Err(e) if e.reason == Reason::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(deleted)
}
