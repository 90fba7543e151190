//! Loading: the files of one revision → a [`Snapshot`] (design §2). Pure: the root crate's `repo` reads
//! the bytes, this module interprets them.
//!
//! Every `*.yaml`, `*.yml` and `*.json` file under a space is read, recursively; dot-files and
//! dot-directories are skipped; multi-document YAML and `List` objects are expanded. Errors are
//! collected as [`Problem`]s (ripgrep-style: keep the good objects, report every bad one).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use globset::{GlobBuilder, GlobMatcher};
use serde::Deserialize;
use serde_json::Value;

use super::kubestellar::{
    CustomizerBody, EDGE_GROUP, EDGE_VERSION, EdgePlacementSpec, GITSTELLAR_GROUP, LocationSpec,
    SyncTargetSpec,
};
use super::{
    Customizer, EdgePlacement, InventorySpace, Location, Object, ObjectId, ObjectMeta, Problem,
    ResourceInfo, ResourceTable, Snapshot, SyncTarget, WorkloadSpace, validate,
};

/// The name of the optional layout file at the layout root.
pub const CONFIG_FILE: &str = "gitstellar.yaml";

/// Files larger than this are refused: a manifest this size is a mistake (a binary, a dump).
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;

/// One file of the revision, relative to the layout root.
#[derive(Clone, Debug)]
pub struct SourceFile {
    /// Path relative to the layout root, `/`-separated.
    pub path: String,
    /// Its bytes, or why they could not be read (a symlink, a submodule, an I/O error).
    pub content: Result<Vec<u8>, String>,
}

/// `gitstellar.yaml` (`gitstellar.io/v1alpha1` `RepoConfig`): which directories are spaces.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RepoConfig {
    /// `gitstellar.io/v1alpha1`.
    #[serde(default)]
    pub api_version: Option<String>,
    /// `RepoConfig`.
    #[serde(default)]
    pub kind: Option<String>,
    /// Ignored; allowed so the file looks like any Kubernetes object.
    #[serde(default)]
    pub metadata: Option<Value>,
    /// Directory globs of inventory spaces; default `["inventory"]`.
    #[serde(default = "default_inventory_spaces")]
    pub inventory_spaces: Vec<String>,
    /// Directory globs of workload description spaces; default `["wds/*"]`.
    #[serde(default = "default_workload_spaces")]
    pub workload_spaces: Vec<String>,
    /// Kind ↔ resource mappings for kinds neither built in nor defined by a CRD in a WDS.
    #[serde(default)]
    pub resource_mappings: Vec<ResourceMapping>,
}

fn default_inventory_spaces() -> Vec<String> {
    vec!["inventory".into()]
}

fn default_workload_spaces() -> Vec<String> {
    vec!["wds/*".into()]
}

impl Default for RepoConfig {
    fn default() -> Self {
        RepoConfig {
            api_version: None,
            kind: None,
            metadata: None,
            inventory_spaces: default_inventory_spaces(),
            workload_spaces: default_workload_spaces(),
            resource_mappings: Vec::new(),
        }
    }
}

/// One `resourceMappings` entry of `gitstellar.yaml`.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceMapping {
    /// API group (`""` for core).
    #[serde(default)]
    pub group: String,
    /// Kind.
    pub kind: String,
    /// Lowercase plural resource name.
    pub resource: String,
    /// Whether the kind is namespaced.
    pub namespaced: bool,
}

/// The deepest nesting of maps and lists a YAML file may have (the YAML reader's limit).
pub use crate::yaml::MAX_DEPTH;

/// Why a file could not be parsed, with the position of the fault where it is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseFailure {
    /// 1-based line, `0` when unknown.
    pub line: u32,
    /// 1-based column, `0` when unknown.
    pub column: u32,
    /// What is wrong. Never quotes the file: a broken Secret's values must not reach a problem.
    pub message: String,
}

impl ParseFailure {
    fn whole_file(message: String) -> Self {
        ParseFailure {
            line: 0,
            column: 0,
            message,
        }
    }
}

/// `line:column: message`, or the message alone when the position is unknown.
impl std::fmt::Display for ParseFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.column) {
            (0, _) => f.write_str(&self.message),
            (line, 0) => write!(f, "{line}: {}", self.message),
            (line, column) => write!(f, "{line}:{column}: {}", self.message),
        }
    }
}

/// Parses the documents of one file. YAML is a superset of JSON, but `.json` files go through
/// serde_json so that JSON's own rules (and messages) apply. Errors read `line:column: message`.
pub fn parse_documents(path: &str, bytes: &[u8]) -> Result<Vec<Value>, String> {
    parse_located(path, bytes)
        .map(|docs| docs.into_iter().map(|(_, value)| value).collect())
        .map_err(|e| e.to_string())
}

/// Parses the documents of one file, each with the 1-based line where it starts (`0` when
/// unknown). Empty (null) documents are dropped.
pub fn parse_located(path: &str, bytes: &[u8]) -> Result<Vec<(u32, Value)>, ParseFailure> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(ParseFailure::whole_file(format!(
            "file is {} bytes; the limit is {MAX_FILE_BYTES}",
            bytes.len()
        )));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let before = &bytes[..e.valid_up_to()];
        let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
        ParseFailure {
            line: u32::try_from(line).unwrap_or(0),
            column: 0,
            message: format!(
                "not UTF-8 (invalid byte at offset {}); manifests must be UTF-8 text",
                e.valid_up_to()
            ),
        }
    })?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if path.ends_with(".json") {
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let value: Value = serde_json::from_str(text).map_err(|e| json_failure(&e))?;
        let leading = text.len() - text.trim_start().len();
        let line = text[..leading].matches('\n').count() + 1;
        return Ok(vec![(u32::try_from(line).unwrap_or(0), value)]);
    }
    let docs = crate::yaml::source_documents(text).map_err(|e| match e {
        crate::yaml::YamlError::Read(e) => yaml_failure(&e),
        other => ParseFailure::whole_file(other.to_string()),
    })?;
    Ok(docs
        .into_iter()
        .filter(|d| !d.value.is_null())
        .map(|d| (u32::try_from(d.referenced.line()).unwrap_or(0), d.value))
        .collect())
}

/// serde_json's error, its position moved out of the message.
fn json_failure(e: &serde_json::Error) -> ParseFailure {
    let full = e.to_string();
    let suffix = format!(" at line {} column {}", e.line(), e.column());
    let message = full.strip_suffix(&suffix).unwrap_or(&full);
    ParseFailure {
        line: u32::try_from(e.line()).unwrap_or(0),
        column: u32::try_from(e.column()).unwrap_or(0),
        message: format!("invalid JSON: {message}"),
    }
}

/// serde-saphyr's error as one line without a source snippet (which would quote the file, a
/// Secret's values included), its position moved out of the message.
fn yaml_failure(e: &serde_saphyr::Error) -> ParseFailure {
    use serde_saphyr::{Error as E, MessageFormatter as _};
    let mut inner = e;
    while let E::AliasError { error, .. } | E::WithSnippet { error, .. } = inner {
        inner = &**error;
    }
    let message = match inner {
        E::Budget { breach, .. } => budget_message(breach),
        E::QuotingRequired { .. } => "a value must be quoted here".to_string(),
        E::NonFiniteFloat { .. } => "a number is not finite".to_string(),
        E::AliasReplayLimitExceeded { .. }
        | E::AliasExpansionLimitExceeded { .. }
        | E::AliasReplayStackDepthExceeded { .. }
        | E::AliasReplayCounterOverflow { .. } => {
            "aliases expand too far (more than 1,000,000 replayed YAML events)".to_string()
        }
        other => {
            let text = serde_saphyr::DefaultMessageFormatter.format_message(other);
            // One line: control characters (a message may hold a line break) become spaces.
            let text: String = text
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            redact(&text)
        }
    };
    let (line, column) = e
        .location()
        .map(|l| {
            (
                u32::try_from(l.line()).unwrap_or(0),
                u32::try_from(l.column()).unwrap_or(0),
            )
        })
        .unwrap_or((0, 0));
    ParseFailure {
        line,
        column,
        message: format!(
            "invalid YAML: {}",
            message.replace(", set DuplicateKeyPolicy in Options if acceptable", "")
        ),
    }
}

/// A budget breach as the limit a user can look up in the layout documentation.
fn budget_message(breach: &serde_saphyr::budget::BudgetBreach) -> String {
    use serde_saphyr::budget::BudgetBreach as B;
    match breach {
        B::Depth { .. } => format!("maps and lists nest deeper than {MAX_DEPTH} levels"),
        B::Aliases { .. } | B::Anchors { .. } => {
            "more than 50,000 aliases or anchors in one file".to_string()
        }
        B::Documents { .. } | B::Nodes { .. } | B::Events { .. } | B::ScalarBytes { .. } => {
            "the file holds more YAML than its size allows (aliases expand too far)".to_string()
        }
        _ => "aliases expand too far, or the file is too complex".to_string(),
    }
}

/// Drops the value serde quotes in `invalid type: string "…", expected …`: a message names what
/// was found by its type only, never by its content.
pub(crate) fn redact(message: &str) -> String {
    for prefix in ["invalid type: ", "invalid value: "] {
        let Some(start) = message.find(prefix) else {
            continue;
        };
        let after = &message[start + prefix.len()..];
        let Some(end) = after.rfind(", expected ") else {
            continue;
        };
        let unexpected = &after[..end];
        let kind = unexpected
            .split_once(['"', '`', '\''])
            .map_or(unexpected, |(kind, _)| kind)
            .trim_end();
        return format!("{}{prefix}{kind}{}", &message[..start], &after[end..]);
    }
    message.to_string()
}

/// Which kind of space a directory is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SpaceKind {
    Inventory,
    Workload,
}

/// The directory globs of the layout, compiled.
struct Layout {
    globs: Vec<(SpaceKind, String, GlobMatcher)>,
}

impl Layout {
    fn new(config: &RepoConfig, problems: &mut Vec<Problem>) -> Layout {
        let mut globs = Vec::new();
        let all = config
            .inventory_spaces
            .iter()
            .map(|g| (SpaceKind::Inventory, g))
            .chain(
                config
                    .workload_spaces
                    .iter()
                    .map(|g| (SpaceKind::Workload, g)),
            );
        for (kind, pattern) in all {
            let trimmed = pattern.trim_matches('/');
            // `*` must not cross `/`: `wds/*` names the directories directly under wds/.
            match GlobBuilder::new(trimmed).literal_separator(true).build() {
                Ok(glob) => globs.push((kind, trimmed.to_string(), glob.compile_matcher())),
                Err(e) => problems.push(Problem::new(
                    "",
                    CONFIG_FILE,
                    "",
                    format!("invalid space glob {pattern:?}: {e}"),
                )),
            }
        }
        Layout { globs }
    }

    /// The space a file belongs to: its shallowest ancestor directory that a glob names.
    fn space_of(&self, path: &str) -> Option<(SpaceKind, String)> {
        let mut end = 0;
        while let Some(pos) = path[end..].find('/') {
            end += pos;
            let dir = &path[..end];
            let mut kinds = self
                .globs
                .iter()
                .filter(|(_, _, m)| m.is_match(dir))
                .map(|(k, _, _)| *k);
            if let Some(kind) = kinds.next() {
                return Some((kind, dir.to_string()));
            }
            end += 1;
        }
        None
    }

    /// Directories named by both kinds of glob.
    fn conflicts(&self, dir: &str) -> bool {
        let kinds: BTreeSet<_> = self
            .globs
            .iter()
            .filter(|(_, _, m)| m.is_match(dir))
            .map(|(k, _, _)| *k as u8)
            .collect();
        kinds.len() > 1
    }
}

/// A document of a space, before it is interpreted.
struct Document {
    space: usize,
    file: String,
    /// The 1-based line where the document starts (`0` when unknown).
    line: u32,
    value: Value,
}

/// The name of a space: its directory's last component.
fn space_name(dir: &str) -> &str {
    dir.rsplit('/').next().unwrap_or(dir)
}

/// Whether a path has a component starting with `.` (dot-files and dot-directories are skipped).
fn is_hidden(path: &str) -> bool {
    path.split('/').any(|c| c.starts_with('.'))
}

fn is_manifest(path: &str) -> bool {
    path.ends_with(".yaml") || path.ends_with(".yml") || path.ends_with(".json")
}

/// Parses every file of a revision into a snapshot. Never fails: whatever is wrong becomes a
/// [`Problem`] and the rest is loaded.
pub fn load(files: &[SourceFile]) -> Snapshot {
    let mut problems = Vec::new();
    let config = read_config(files, &mut problems);
    let layout = Layout::new(&config, &mut problems);

    // Pass 1: assign files to spaces and parse them into documents.
    let mut spaces: Vec<(SpaceKind, String)> = Vec::new();
    let mut space_index: BTreeMap<String, usize> = BTreeMap::new();
    let mut docs = Vec::new();
    let mut sorted: Vec<&SourceFile> = files.iter().collect();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    for file in sorted {
        // What the reader could not read is reported whatever its name: a linked directory or a
        // submodule would otherwise hide its manifests without a word.
        if is_hidden(&file.path) || (!is_manifest(&file.path) && file.content.is_ok()) {
            continue;
        }
        let Some((kind, dir)) = layout.space_of(&file.path) else {
            continue;
        };
        let index = match space_index.get(&dir) {
            Some(&i) => i,
            None => {
                if layout.conflicts(&dir) {
                    problems.push(Problem::new(
                        space_name(&dir),
                        "",
                        "",
                        format!("directory {dir} is named both as an inventory and a workload space; read as {}", match kind {
                            SpaceKind::Inventory => "an inventory space",
                            SpaceKind::Workload => "a workload space",
                        }),
                    ));
                }
                spaces.push((kind, dir.clone()));
                space_index.insert(dir.clone(), spaces.len() - 1);
                spaces.len() - 1
            }
        };
        let name = space_name(&dir);
        let bytes = match &file.content {
            Ok(bytes) => bytes,
            Err(why) => {
                problems.push(Problem::new(name, &file.path, "", why.clone()));
                continue;
            }
        };
        match parse_located(&file.path, bytes) {
            Ok(values) => {
                for (line, value) in values {
                    expand_lists(value, &mut |value| {
                        docs.push(Document {
                            space: index,
                            file: file.path.clone(),
                            line,
                            value,
                        })
                    });
                }
            }
            Err(why) => problems.push(
                Problem::new(name, &file.path, "", why.message).at_column(why.line, why.column),
            ),
        }
    }

    // Two spaces with one name would collide in every output path: keep the first.
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    let mut usable = vec![true; spaces.len()];
    for (i, (_, dir)) in spaces.iter().enumerate() {
        let name = space_name(dir).to_string();
        if let Some(&first) = names.get(&name) {
            usable[i] = false;
            problems.push(Problem::new(
                &name,
                "",
                "",
                format!(
                    "space directories {} and {dir} have the same name {name:?}; {dir} is ignored",
                    spaces[first].1
                ),
            ));
        } else if let Err(why) =
            validate::path_segment_name(&name).and(validate::ref_component(&name))
        {
            usable[i] = false;
            problems.push(Problem::new(
                &name,
                "",
                "",
                format!("space name {name:?} is not usable: {why}"),
            ));
        } else {
            names.insert(name, i);
        }
    }

    let (resources, kinds) = resource_table(&config, &docs, &usable, spaces.len(), &mut problems);

    let mut inventories: Vec<InventorySpace> = Vec::new();
    let mut workloads: Vec<WorkloadSpace> = Vec::new();
    let mut slot: Vec<(SpaceKind, usize)> = Vec::with_capacity(spaces.len());
    for (kind, dir) in &spaces {
        let name = space_name(dir).to_string();
        match kind {
            SpaceKind::Inventory => {
                inventories.push(InventorySpace {
                    name,
                    dir: dir.clone(),
                    ..Default::default()
                });
                slot.push((*kind, inventories.len() - 1));
            }
            SpaceKind::Workload => {
                workloads.push(WorkloadSpace {
                    name,
                    dir: dir.clone(),
                    ..Default::default()
                });
                slot.push((*kind, workloads.len() - 1));
            }
        }
    }

    // Pass 2: interpret each document in its space.
    for doc in docs {
        if !usable[doc.space] {
            continue;
        }
        let (kind, i) = slot[doc.space];
        // Every problem about a document points at the line where it starts.
        let (first, line) = (problems.len(), doc.line);
        match kind {
            SpaceKind::Inventory => read_inventory_doc(&mut inventories[i], doc, &mut problems),
            SpaceKind::Workload => {
                let space = doc.space;
                read_workload_doc(
                    &mut workloads[i],
                    doc,
                    &kinds.view(&resources, space),
                    &mut problems,
                )
            }
        }
        for problem in &mut problems[first..] {
            if problem.line.is_none() && line > 0 {
                problem.line = Some(line);
            }
        }
    }

    // Only the first space of each name (and only usable names) is kept.
    let kept = |name: &str, dir: &str| names.get(name).is_some_and(|&i| spaces[i].1 == dir);
    inventories.retain(|s| kept(&s.name, &s.dir));
    workloads.retain(|s| kept(&s.name, &s.dir));
    for inv in &mut inventories {
        finish_inventory(inv, &mut problems);
    }
    for wds in &mut workloads {
        finish_workload(wds, &mut problems);
    }
    inventories.sort_by(|a, b| a.name.cmp(&b.name));
    workloads.sort_by(|a, b| a.name.cmp(&b.name));
    problems.sort();
    problems.dedup();
    Snapshot {
        revision: None,
        inventories,
        workloads,
        resources,
        problems,
    }
}

fn read_config(files: &[SourceFile], problems: &mut Vec<Problem>) -> RepoConfig {
    let Some(file) = files.iter().find(|f| f.path == CONFIG_FILE) else {
        return RepoConfig::default();
    };
    let parsed = file
        .content
        .as_ref()
        .map_err(|why| ParseFailure::whole_file(why.clone()))
        .and_then(|bytes| parse_located(&file.path, bytes))
        .and_then(|docs| match docs.as_slice() {
            [] => Ok(RepoConfig::default()),
            [(line, one)] => from_value_at::<RepoConfig>(one, "").map_err(|message| ParseFailure {
                line: *line,
                column: 0,
                message,
            }),
            [_, (line, _), ..] => Err(ParseFailure {
                line: *line,
                column: 0,
                message: "holds more than one document; it must hold one RepoConfig".into(),
            }),
        });
    match parsed {
        Ok(config) => {
            let version_ok = config
                .api_version
                .as_deref()
                .is_none_or(|v| v == "gitstellar.io/v1alpha1");
            let kind_ok = config.kind.as_deref().is_none_or(|k| k == "RepoConfig");
            if !version_ok || !kind_ok {
                problems.push(Problem::new(
                    "",
                    CONFIG_FILE,
                    "",
                    "expected apiVersion gitstellar.io/v1alpha1 and kind RepoConfig",
                ));
            }
            config
        }
        Err(why) => {
            // A layout we cannot read would misplace every file: read no spaces at all.
            problems.push(
                Problem::new(
                    "",
                    CONFIG_FILE,
                    "",
                    format!("{}; no space is read", why.message),
                )
                .at_column(why.line, why.column),
            );
            RepoConfig {
                inventory_spaces: Vec::new(),
                workload_spaces: Vec::new(),
                ..RepoConfig::default()
            }
        }
    }
}

/// Calls `emit` for a value, or for each item of a `List` (`v1/List` or any `*List` with `items`).
fn expand_lists(value: Value, emit: &mut dyn FnMut(Value)) {
    let is_list = value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && value.get("items").is_some_and(Value::is_array);
    if !is_list {
        emit(value);
        return;
    }
    if let Value::Object(mut map) = value
        && let Some(Value::Array(items)) = map.remove("items")
    {
        for item in items {
            expand_lists(item, emit);
        }
    }
}

/// How kinds map to resources while loading: `resourceMappings` win, then the CRDs of the
/// object's own WDS (a WDS, like KubeStellar's, serves a custom resource only if it holds its
/// CRD), then the built-in table.
struct Kinds {
    /// (group, kind) of every `resourceMappings` entry.
    configured: BTreeSet<(String, String)>,
    /// The CRDs of each space, by space index.
    crds: Vec<BTreeMap<(String, String), ResourceInfo>>,
}

impl Kinds {
    fn view<'a>(&'a self, table: &'a ResourceTable, space: usize) -> KindLookup<'a> {
        KindLookup {
            table,
            configured: &self.configured,
            crds: &self.crds[space],
        }
    }
}

/// The kind mapping in force in one space.
struct KindLookup<'a> {
    table: &'a ResourceTable,
    configured: &'a BTreeSet<(String, String)>,
    crds: &'a BTreeMap<(String, String), ResourceInfo>,
}

impl KindLookup<'_> {
    fn get(&self, group: &str, kind: &str) -> Option<&ResourceInfo> {
        let key = (group.to_string(), kind.to_string());
        if self.configured.contains(&key) {
            return self.table.get(group, kind);
        }
        self.crds.get(&key).or_else(|| self.table.get(group, kind))
    }
}

/// The snapshot's table (built-in kinds and `resourceMappings`, which win) plus every WDS's CRDs.
fn resource_table(
    config: &RepoConfig,
    docs: &[Document],
    usable: &[bool],
    space_count: usize,
    problems: &mut Vec<Problem>,
) -> (ResourceTable, Kinds) {
    let mut table = ResourceTable::builtin();
    let mut kinds = Kinds {
        configured: BTreeSet::new(),
        crds: vec![BTreeMap::new(); space_count],
    };
    for doc in docs {
        if usable[doc.space]
            && let Some(info) = crd_resource(&doc.value)
        {
            kinds.crds[doc.space].insert((info.group.clone(), info.kind.clone()), info);
        }
    }
    for m in &config.resource_mappings {
        let valid = validate::dns_subdomain(&m.group)
            .or_else(|e| if m.group.is_empty() { Ok(()) } else { Err(e) })
            .and(validate::path_segment_name(&m.kind))
            .and(validate::path_segment_name(&m.resource));
        match valid {
            Ok(()) => {
                kinds.configured.insert((m.group.clone(), m.kind.clone()));
                table.insert(ResourceInfo {
                    group: m.group.clone(),
                    kind: m.kind.clone(),
                    resource: m.resource.clone(),
                    namespaced: m.namespaced,
                });
            }
            Err(why) => problems.push(Problem::new(
                "",
                CONFIG_FILE,
                "",
                format!("resourceMappings entry for kind {:?}: {why}", m.kind),
            )),
        }
    }
    (table, kinds)
}

/// The mapping a CustomResourceDefinition declares, if the value is a well-formed CRD.
fn crd_resource(value: &Value) -> Option<ResourceInfo> {
    let api = value.get("apiVersion")?.as_str()?;
    if !api.starts_with("apiextensions.k8s.io/")
        || value.get("kind")?.as_str()? != "CustomResourceDefinition"
    {
        return None;
    }
    let spec = value.get("spec")?;
    let names = spec.get("names")?;
    Some(ResourceInfo {
        group: spec.get("group")?.as_str()?.to_string(),
        kind: names.get("kind")?.as_str()?.to_string(),
        resource: names.get("plural")?.as_str()?.to_string(),
        namespaced: spec.get("scope").and_then(Value::as_str) != Some("Cluster"),
    })
}

/// `apiVersion`, `kind` and `metadata` of a document, checked.
struct Header {
    group: String,
    version: String,
    kind: String,
    meta: ObjectMeta,
    deleted: bool,
}

/// A best-effort name for an object whose header is broken, so problems still point at it.
fn rough_name(value: &Value) -> String {
    if !value.is_object() {
        return String::new();
    }
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .unwrap_or("?")
            .to_string()
    };
    let api = text(value.get("apiVersion"));
    let group = match super::split_api_version(&api) {
        (Some(g), _) => g.to_string(),
        (None, _) if api == "?" => "?".to_string(),
        (None, _) => "core".to_string(),
    };
    let namespace = value
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("_cluster");
    format!(
        "{group}/{}/{namespace}/{}",
        text(value.get("kind")),
        text(value.pointer("/metadata/name"))
    )
}

fn string_map(value: Option<&Value>, what: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    match value {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (k, v) in map {
                match v {
                    Value::String(s) => {
                        out.insert(k.clone(), s.clone());
                    }
                    other => {
                        return Err(format!(
                            "metadata.{what}[{k:?}] is {}, not a string; quote it (\"{}\")",
                            type_name(other),
                            other.to_string().trim_matches('"')
                        ));
                    }
                }
            }
        }
        Some(other) => {
            return Err(format!(
                "metadata.{what} is {}, not a map",
                type_name(other)
            ));
        }
    }
    Ok(out)
}

/// JSON type names as users know them.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

fn read_header(value: &Value) -> Result<Header, String> {
    let Value::Object(map) = value else {
        return Err(format!(
            "a document is {}, not a Kubernetes object (a map)",
            type_name(value)
        ));
    };
    let api = match map.get("apiVersion") {
        Some(Value::String(s)) if !s.is_empty() => s.as_str(),
        Some(other) if !other.is_string() => {
            return Err(format!("apiVersion is {}, not a string", type_name(other)));
        }
        _ => return Err("apiVersion is missing".into()),
    };
    let kind = match map.get("kind") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(other) if !other.is_string() => {
            return Err(format!("kind is {}, not a string", type_name(other)));
        }
        _ => return Err("kind is missing".into()),
    };
    let (group, version) = match api.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api.to_string()),
    };
    if version.is_empty() || version.contains('/') || validate::path_segment_name(&version).is_err()
    {
        return Err(format!(
            "apiVersion {api:?} is not of the form group/version or version"
        ));
    }
    if !group.is_empty() {
        validate::dns_subdomain(&group)
            .map_err(|why| format!("apiVersion {api:?}: group {group:?} {why}"))?;
    }
    if !kind.chars().all(|c| c.is_ascii_alphanumeric())
        || !kind.starts_with(|c: char| c.is_ascii_alphabetic())
    {
        return Err(format!(
            "kind {kind:?} must be alphanumeric, starting with a letter"
        ));
    }
    let meta_value = match map.get("metadata") {
        Some(Value::Object(m)) => m,
        Some(other) => return Err(format!("metadata is {}, not a map", type_name(other))),
        None => return Err("metadata is missing".into()),
    };
    let name = match meta_value.get("name") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::String(_)) | None => {
            let hint = if meta_value.contains_key("generateName") {
                " (generateName cannot be used: git needs a stable name)"
            } else {
                ""
            };
            return Err(format!("metadata.name is missing{hint}"));
        }
        Some(other) => {
            return Err(format!(
                "metadata.name is {}, not a string",
                type_name(other)
            ));
        }
    };
    validate::path_segment_name(&name).map_err(|why| format!("metadata.name {name:?} {why}"))?;
    let namespace = match meta_value.get("namespace") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(format!(
                "metadata.namespace is {}, not a string",
                type_name(other)
            ));
        }
    };
    let labels = string_map(meta_value.get("labels"), "labels")?;
    for (k, v) in &labels {
        validate::label_key(k).map_err(|why| format!("label key {k:?} {why}"))?;
        validate::label_value(v)
            .map_err(|why| format!("label {k:?} has value {v:?} that {why}"))?;
    }
    let annotations = string_map(meta_value.get("annotations"), "annotations")?;
    for k in annotations.keys() {
        validate::label_key(k).map_err(|why| format!("annotation key {k:?} {why}"))?;
    }
    let uid = meta_value
        .get("uid")
        .and_then(Value::as_str)
        .map(str::to_string);
    let deleted = meta_value
        .get("deletionTimestamp")
        .is_some_and(|v| !v.is_null());
    Ok(Header {
        group,
        version,
        kind,
        meta: ObjectMeta {
            name,
            namespace,
            labels,
            annotations,
            uid,
        },
        deleted,
    })
}

/// Deserializes a value, naming the field at fault (`spec.downsync[0].resources: invalid type ...`).
fn from_value_at<T: serde::de::DeserializeOwned>(value: &Value, prefix: &str) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let at = match (prefix.is_empty(), path == ".") {
            (true, true) => String::new(),
            (true, false) => format!("{path}: "),
            (false, true) => format!("{prefix}: "),
            (false, false) => format!("{prefix}.{path}: "),
        };
        format!("{at}{}", redact(&e.into_inner().to_string()))
    })
}

/// Deserializes one section of a control object, naming the section in the error.
fn section<T: serde::de::DeserializeOwned + Default>(
    value: &Value,
    key: &str,
) -> Result<T, String> {
    match value.get(key) {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v) => from_value_at(v, key),
    }
}

fn read_inventory_doc(space: &mut InventorySpace, doc: Document, problems: &mut Vec<Problem>) {
    let header = match read_header(&doc.value) {
        Ok(h) => h,
        Err(why) => {
            problems.push(Problem::new(
                &space.name,
                &doc.file,
                rough_name(&doc.value),
                why,
            ));
            return;
        }
    };
    let object = format!(
        "{}/{}/_cluster/{}",
        header.group_or_core(),
        header.kind,
        header.meta.name
    );
    let problem = |why: String| Problem::new(&space.name, &doc.file, &object, why);
    if header.deleted {
        return;
    }
    if header.group != EDGE_GROUP {
        problems.push(problem(format!(
            "an inventory space holds only Locations and SyncTargets ({EDGE_GROUP}/{EDGE_VERSION}); this {} is ignored",
            header.kind
        )));
        return;
    }
    if header.version != EDGE_VERSION {
        problems.push(problem(unsupported_version(&header.version)));
        return;
    }
    match header.kind.as_str() {
        "Location" => match section::<LocationSpec>(&doc.value, "spec") {
            Ok(spec) => space.locations.push(Location {
                meta: header.meta,
                spec,
                file: doc.file,
                line: doc.line,
            }),
            Err(why) => problems.push(problem(why)),
        },
        "SyncTarget" => {
            // A SyncTarget's name becomes a git ref and a kubeconfig context: it must be safe as both.
            let name = &header.meta.name;
            if let Err(why) = validate::dns_subdomain(name).and(validate::ref_component(name)) {
                problems.push(problem(format!("SyncTarget name {name:?} {why}")));
                return;
            }
            match section::<SyncTargetSpec>(&doc.value, "spec") {
                Ok(spec) => space.sync_targets.push(SyncTarget {
                    meta: header.meta,
                    spec,
                    file: doc.file,
                    line: doc.line,
                }),
                Err(why) => problems.push(problem(why)),
            }
        }
        "SinglePlacementSlice" | "SyncerConfig" | "EdgeSyncConfig" => {}
        other => problems.push(problem(format!(
            "an inventory space holds only Locations and SyncTargets; this {other} is ignored"
        ))),
    }
}

/// The problem with an `edge.kubestellar.io` object of another version than the one gitstellar reads.
fn unsupported_version(version: &str) -> String {
    format!(
        "{EDGE_GROUP}/{version} is not supported; gitstellar reads {EDGE_GROUP}/{EDGE_VERSION} (KubeStellar v0.8 and later)"
    )
}

impl Header {
    fn group_or_core(&self) -> &str {
        if self.group.is_empty() {
            "core"
        } else {
            &self.group
        }
    }
}

fn read_workload_doc(
    space: &mut WorkloadSpace,
    doc: Document,
    resources: &KindLookup<'_>,
    problems: &mut Vec<Problem>,
) {
    let header = match read_header(&doc.value) {
        Ok(h) => h,
        Err(why) => {
            problems.push(Problem::new(
                &space.name,
                &doc.file,
                rough_name(&doc.value),
                why,
            ));
            return;
        }
    };
    if header.deleted {
        return;
    }
    let (group_dir, kind, name) = (
        header.group_or_core().to_string(),
        header.kind.clone(),
        header.meta.name.clone(),
    );
    let display =
        |ns: Option<&str>| format!("{group_dir}/{kind}/{}/{name}", ns.unwrap_or("_cluster"));
    if header.group == EDGE_GROUP {
        let object = display(header.meta.namespace.as_deref());
        let problem = |why: String| Problem::new(&space.name, &doc.file, &object, why);
        if header.version != EDGE_VERSION {
            problems.push(problem(unsupported_version(&header.version)));
            return;
        }
        match header.kind.as_str() {
            "EdgePlacement" => match section::<EdgePlacementSpec>(&doc.value, "spec") {
                Ok(spec) => space.edge_placements.push(EdgePlacement {
                    meta: header.meta,
                    spec,
                    file: doc.file,
                    line: doc.line,
                }),
                Err(why) => problems.push(problem(why)),
            },
            "Customizer" => {
                let mut meta = header.meta;
                let namespace = meta
                    .namespace
                    .get_or_insert_with(|| "default".into())
                    .clone();
                let object = display(Some(&namespace));
                let unknown: Vec<&String> = doc
                    .value
                    .as_object()
                    .map(|m| {
                        m.keys()
                            .filter(|k| {
                                !matches!(
                                    k.as_str(),
                                    "apiVersion" | "kind" | "metadata" | "replacements" | "patches"
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                if let Some(k) = unknown.first() {
                    problems.push(Problem::new(
                        &space.name,
                        &doc.file,
                        &object,
                        format!("unknown field {k:?}: a Customizer has replacements (and gitstellar's patches) at the top level"),
                    ));
                    return;
                }
                match from_value_at::<CustomizerBody>(&doc.value, "") {
                    Ok(body) => {
                        let key = (namespace, meta.name.clone());
                        if space.customizers.contains_key(&key) {
                            problems.push(Problem::new(
                                &space.name,
                                &doc.file,
                                &object,
                                "duplicate Customizer; the first one read is used",
                            ));
                            return;
                        }
                        let customizer = Customizer {
                            meta,
                            file: doc.file,
                            line: doc.line,
                            replacements: body.replacements,
                            patches: body.patches,
                        };
                        space.customizers.insert(key, Arc::new(customizer));
                    }
                    Err(e) => {
                        problems.push(Problem::new(&space.name, &doc.file, &object, e.to_string()))
                    }
                }
            }
            "SinglePlacementSlice" | "SyncerConfig" | "EdgeSyncConfig" => {}
            "Location" | "SyncTarget" => problems.push(problem(format!(
                "a {} belongs in an inventory space, not a workload space; it is ignored",
                header.kind
            ))),
            other => problems.push(problem(format!(
                "unknown KubeStellar kind {other}; it is ignored"
            ))),
        }
        return;
    }
    if header.group == GITSTELLAR_GROUP {
        let object = display(header.meta.namespace.as_deref());
        problems.push(Problem::new(
            &space.name,
            &doc.file,
            object,
            format!(
                "{} objects belong in {CONFIG_FILE} at the layout root, not in a space; ignored",
                header.kind
            ),
        ));
        return;
    }
    let Some(info) = resources.get(&header.group, &header.kind) else {
        let object = display(header.meta.namespace.as_deref());
        problems.push(Problem::new(
            &space.name,
            &doc.file,
            object,
            format!(
                "unknown kind {} in group {:?}: add its CustomResourceDefinition to this workload space, or a resourceMappings entry to {CONFIG_FILE}",
                header.kind, header.group
            ),
        ));
        return;
    };
    let mut meta = header.meta;
    // As kubectl does: a namespaced object without a namespace goes to `default`, and a namespace
    // on a cluster-scoped object is dropped.
    if info.namespaced {
        meta.namespace.get_or_insert_with(|| "default".into());
    } else {
        meta.namespace = None;
    }
    let object = display(meta.namespace.as_deref());
    if let Some(ns) = &meta.namespace
        && let Err(why) = validate::dns_label(ns)
    {
        problems.push(Problem::new(
            &space.name,
            &doc.file,
            &object,
            format!("namespace {ns:?} {why}"),
        ));
        return;
    }
    if let Err(why) = name_rule(&header.group, &header.kind, &meta.name) {
        problems.push(Problem::new(
            &space.name,
            &doc.file,
            &object,
            format!("{} name {:?} {why}", header.kind, meta.name),
        ));
        return;
    }
    let mut value = doc.value;
    normalize_namespace(&mut value, meta.namespace.as_deref());
    let id = ObjectId {
        group: header.group,
        kind: header.kind,
        namespace: meta.namespace.clone(),
        name: meta.name.clone(),
    };
    space.objects.push(Object {
        id,
        version: header.version,
        resource: info.resource.clone(),
        file: doc.file,
        line: doc.line,
        meta,
        value: Arc::new(value),
    });
}

/// The name syntax the API server enforces for a kind: DNS labels for Namespaces, RFC 1035 labels
/// for Services, URL path segments for RBAC objects (`system:controller:x`), DNS subdomains for
/// everything else (custom resources included).
fn name_rule(group: &str, kind: &str, name: &str) -> Result<(), String> {
    match (group, kind) {
        ("", "Namespace") => validate::dns_label(name),
        ("", "Service") => validate::dns_label(name).and_then(|()| {
            if name.starts_with(|c: char| c.is_ascii_lowercase()) {
                Ok(())
            } else {
                Err("must start with a lower case letter (an RFC 1035 label)".into())
            }
        }),
        ("rbac.authorization.k8s.io", _) => Ok(()),
        _ => validate::dns_subdomain(name),
    }
}

/// Writes the effective namespace into the object, so every copy says where it lives.
fn normalize_namespace(value: &mut Value, namespace: Option<&str>) {
    if let Some(Value::Object(meta)) = value.get_mut("metadata") {
        match namespace {
            Some(ns) => {
                meta.insert("namespace".into(), Value::String(ns.into()));
            }
            None => {
                meta.remove("namespace");
            }
        }
    }
}

fn finish_inventory(space: &mut InventorySpace, problems: &mut Vec<Problem>) {
    space
        .locations
        .sort_by(|a, b| a.meta.name.cmp(&b.meta.name).then(a.file.cmp(&b.file)));
    space.locations.dedup_by(|later, first| {
        let dup = later.meta.name == first.meta.name;
        if dup {
            problems.push(
                Problem::new(
                    &space.name,
                    &later.file,
                    format!("{EDGE_GROUP}/Location/_cluster/{}", later.meta.name),
                    format!(
                        "duplicate Location (also in {}); the one in {} is used",
                        first.file, first.file
                    ),
                )
                .at(later.line),
            );
        }
        dup
    });
    space
        .sync_targets
        .sort_by(|a, b| a.meta.name.cmp(&b.meta.name).then(a.file.cmp(&b.file)));
    space.sync_targets.dedup_by(|later, first| {
        let dup = later.meta.name == first.meta.name;
        if dup {
            problems.push(
                Problem::new(
                    &space.name,
                    &later.file,
                    format!("{EDGE_GROUP}/SyncTarget/_cluster/{}", later.meta.name),
                    format!(
                        "duplicate SyncTarget (also in {}); the one in {} is used",
                        first.file, first.file
                    ),
                )
                .at(later.line),
            );
        }
        dup
    });
}

fn finish_workload(space: &mut WorkloadSpace, problems: &mut Vec<Problem>) {
    space
        .edge_placements
        .sort_by(|a, b| a.meta.name.cmp(&b.meta.name).then(a.file.cmp(&b.file)));
    space.edge_placements.dedup_by(|later, first| {
        let dup = later.meta.name == first.meta.name;
        if dup {
            problems.push(
                Problem::new(
                    &space.name,
                    &later.file,
                    format!("{EDGE_GROUP}/EdgePlacement/_cluster/{}", later.meta.name),
                    format!(
                        "duplicate EdgePlacement (also in {}); the one in {} is used",
                        first.file, first.file
                    ),
                )
                .at(later.line),
            );
        }
        dup
    });
    // A duplicated workload object is withheld entirely: delivering either copy could be wrong.
    space
        .objects
        .sort_by(|a, b| a.id.cmp(&b.id).then(a.file.cmp(&b.file)));
    let mut kept: Vec<Object> = Vec::with_capacity(space.objects.len());
    let mut objects = std::mem::take(&mut space.objects).into_iter().peekable();
    while let Some(first) = objects.next() {
        let mut copies = vec![(first.file.clone(), first.line)];
        while objects.peek().is_some_and(|next| next.id == first.id) {
            if let Some(next) = objects.next() {
                copies.push((next.file, next.line));
            }
        }
        if copies.len() == 1 {
            kept.push(first);
        } else {
            let files: Vec<&str> = copies.iter().map(|(file, _)| file.as_str()).collect();
            for (file, line) in &copies {
                problems.push(Problem::new(
                    &space.name,
                    file,
                    first.id.to_string(),
                    format!("object defined more than once (in {}); it is withheld until one definition is removed", files.join(", ")),
                ).at(*line));
            }
        }
    }
    space.objects = kept;
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;
